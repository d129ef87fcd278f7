"""A unit of work: one database transaction that commits only when asked, and rolls back otherwise.

The service reads and changes rows through the repositories it offers (`uow.links`, `uow.items`, …,
see storage/repositories/), adds outbox operations and events in the same transaction, and calls
`uow.commit()` once; an exception (or leaving without commit) rolls everything back, so invalid input
writes nothing and a change is never committed without the Jira work it implies.

`uow.session` remains for the storage modules that take a session (the outbox, events, schedules,
callback endpoints); the service hands it to them and never queries it itself.
"""

from __future__ import annotations

from types import TracebackType

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from jirabridge.storage.core_writes import ConstraintViolated
from jirabridge.storage.db import NO_WAIT, READ_ONLY
from jirabridge.storage.repositories.comments import ItemComments, JiraCommentRefs
from jirabridge.storage.repositories.idempotency import IdempotencyKeys
from jirabridge.storage.repositories.items import Items
from jirabridge.storage.repositories.links import Links
from jirabridge.storage.repositories.operations import Operations
from jirabridge.storage.repositories.projects import Projects
from jirabridge.storage.repositories.rule_sets import RuleSets
from jirabridge.storage.repositories.secrets import SealedSecrets
from jirabridge.storage.repositories.sites import OAuthStates, Sites
from jirabridge.storage.repositories.time_entries import TimeEntries
from jirabridge.storage.repositories.ui_sessions import UiSessions
from jirabridge.storage.repositories.users import HostUsers, UserConnections
from jirabridge.storage.repositories.webhooks import WebhookDeliveries
from jirabridge.storage.repositories.workspaces import ApiKeys, Workspaces

__all__ = ["ConstraintViolated", "JoinedUnitOfWork", "UnitOfWork"]


class UnitOfWork:
    def __init__(
        self, sessions: sessionmaker[Session], *, read_only: bool = False, no_wait: bool = False
    ) -> None:
        self._sessions = sessions
        self._session: Session | None = None
        self.read_only = read_only  # a transaction that never writes (on SQLite: no write lock)
        # On SQLite: begin at `with`, and raise `WouldWait` there rather than wait for the write lock.
        self.no_wait = no_wait

    @property
    def session(self) -> Session:
        if self._session is None:
            raise RuntimeError("UnitOfWork used outside `with`")
        return self._session

    def __enter__(self) -> UnitOfWork:
        self._session = self._sessions()
        if self.read_only or self.no_wait:
            try:
                self._session.connection(execution_options={READ_ONLY: self.read_only, NO_WAIT: self.no_wait})
            except BaseException:
                self._session.close()
                self._session = None
                raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._session is not None
        # close() rolls back whatever was not committed, and (unlike rollback()) leaves the loaded
        # objects readable, detached, for the caller to render.
        self._session.close()
        self._session = None

    def commit(self) -> None:
        if self.read_only:
            raise RuntimeError("a read-only unit of work cannot commit")
        try:
            self.session.commit()
        except IntegrityError as exc:
            raise ConstraintViolated(str(exc.orig)) from exc

    def flush(self) -> None:
        """Write what was added or changed so far, without committing: the rows' defaults are filled
        and later reads in this transaction see them."""
        self.session.flush()

    # The repositories: each a few attributes over the session, made when asked for.

    @property
    def workspaces(self) -> Workspaces:
        return Workspaces(self.session)

    @property
    def api_keys(self) -> ApiKeys:
        return ApiKeys(self.session)

    @property
    def host_users(self) -> HostUsers:
        return HostUsers(self.session)

    @property
    def user_connections(self) -> UserConnections:
        return UserConnections(self.session)

    @property
    def sites(self) -> Sites:
        return Sites(self.session)

    @property
    def oauth_states(self) -> OAuthStates:
        return OAuthStates(self.session)

    @property
    def projects(self) -> Projects:
        return Projects(self.session)

    @property
    def idempotency_keys(self) -> IdempotencyKeys:
        return IdempotencyKeys(self.session)

    @property
    def ui_sessions(self) -> UiSessions:
        return UiSessions(self.session)

    @property
    def rule_sets(self) -> RuleSets:
        return RuleSets(self.session)

    @property
    def items(self) -> Items:
        return Items(self.session)

    @property
    def operations(self) -> Operations:
        return Operations(self.session)

    @property
    def secrets(self) -> SealedSecrets:
        return SealedSecrets(self.session)

    @property
    def links(self) -> Links:
        return Links(self.session)

    @property
    def item_comments(self) -> ItemComments:
        return ItemComments(self.session)

    @property
    def jira_comment_refs(self) -> JiraCommentRefs:
        return JiraCommentRefs(self.session)

    @property
    def webhook_deliveries(self) -> WebhookDeliveries:
        return WebhookDeliveries(self.session)

    @property
    def time_entries(self) -> TimeEntries:
        return TimeEntries(self.session)


# A joined unit of work opens no session of its own. One, not one per unit of work: a sessionmaker
# makes a class of its own, and the worker joins one to every job it claims and records.
_NO_SESSIONS: sessionmaker[Session] = sessionmaker()


class JoinedUnitOfWork(UnitOfWork):
    """A unit of work inside a transaction that someone else opened and commits: the outbox's claim
    (a step reads what its job needs) or the recording of an outcome (a step applies it). `commit`
    only flushes, so what it wrote commits, or rolls back, with the operation's own row."""

    def __init__(self, session: Session) -> None:
        super().__init__(_NO_SESSIONS, read_only=False)
        self._session = session

    def __enter__(self) -> UnitOfWork:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    def commit(self) -> None:
        self.session.flush()
