"""What the service needs from the outside world, as interfaces (implemented in `adapters/`).

Connecting a site and the connection test talk to Jira while the host waits for the answer, so they
are the one place outside the workers where jirabridge calls Jira — never inside a database
transaction: the service reads what it needs, commits, calls, then writes the result in a new one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from datetime import datetime

    from jirabridge.clock import Clock
    from jirabridge.config import Settings
    from jirabridge.domain.outbound import IPAddress
    from jirabridge.secrets_box import SecretBox
    from jirabridge.service.core.outbound import OutboundGuard
    from jirabridge.service.core.unit_of_work import UnitOfWork

# Codes of SPEC section 2's connection test.
CHECK_CODES = (
    "invalid_url",
    "connection_failed",
    "network_timeout",
    "unauthorized",
    "forbidden",
    "token_expired",
    "project_not_found",
    "issue_type_not_found",
    "rate_limited",
)


@dataclass(frozen=True)
class JiraAccount:
    account_id: str
    display_name: str
    email: str | None = None


SaveCredentials = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class SiteAccess:
    """How to call one Jira site as one identity. `credentials` are decrypted: never log this."""

    url: str
    auth_type: str  # "api_token" | "oauth"
    credentials: dict[str, Any] = field(repr=False)
    cloud_id: str | None = None
    # Called with new OAuth tokens after a refresh; must persist them (refresh tokens rotate).
    save_credentials: SaveCredentials | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class Check:
    check: str  # "reach" | "auth" | "project" | "issue_type"
    ok: bool
    code: str | None
    message: str


class ConnectFailed(Exception):
    """Jira could not be used with what the host gave; `code` is one of CHECK_CODES."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class OAuthGrant:
    cloud_id: str
    site_url: str
    credentials: dict[str, Any] = field(repr=False)
    account: JiraAccount


@dataclass(frozen=True)
class IssueInfo:
    """An issue as the API needs it to link: its status as Jira shows it now."""

    key: str
    id: str
    status: str | None
    status_category: str | None  # "new" | "indeterminate" | "done"
    url: str  # the browse URL


@dataclass(frozen=True)
class IssueTypeMeta:
    id: str
    name: str
    subtask: bool = False


@dataclass(frozen=True)
class StatusMeta:
    id: str
    name: str
    category: str | None  # "new" | "indeterminate" | "done"


@dataclass(frozen=True)
class ProjectMeta:
    """What settings are validated against: the project's issue types, the statuses of its
    workflows (every issue type's, once each) and the site's priorities."""

    id: str
    key: str
    name: str
    issue_types: tuple[IssueTypeMeta, ...]
    statuses: tuple[StatusMeta, ...]
    priorities: tuple[str, ...]

    def issue_type(self, name_or_id: str) -> IssueTypeMeta | None:
        """By id, or by name (case-insensitive)."""
        wanted = name_or_id.strip().lower()
        return next((t for t in self.issue_types if wanted in (t.id, t.name.lower())), None)


@dataclass(frozen=True)
class FieldMeta:
    """One field of an issue type's create screen."""

    field_id: str
    name: str
    required: bool
    schema_type: str | None  # Jira's schema type: "string", "array", "option", "user", …
    allowed_values: tuple[str, ...] | None = None  # names or values, where Jira lists them
    has_default: bool = False


@dataclass(frozen=True)
class SiteFields:
    """What transition field settings are checked against: the site's fields (id → name) and its
    resolutions."""

    fields: dict[str, str]
    resolutions: tuple[str, ...]


@dataclass(frozen=True)
class ProjectRef:
    key: str
    name: str


class JiraConnector(Protocol):
    async def verify(self, access: SiteAccess) -> JiraAccount:
        """Who these credentials are on the site (`/myself`); raises ConnectFailed."""

    def authorize_url(self, state: str) -> str:
        """Where to send a person to grant jirabridge OAuth access."""

    async def complete_oauth(self, code: str, site_url: str | None) -> OAuthGrant:
        """Exchange the callback's code and find the site; raises ConnectFailed."""

    async def test(self, access: SiteAccess, *, project: str | None, issue_type: str | None) -> list[Check]:
        """The connection test: reach, auth, then the project and issue type when given."""

    async def get_issue(self, access: SiteAccess, key: str) -> IssueInfo | None:
        """The issue and its status, or None when it does not exist (or is not visible: 404)."""

    async def project_meta(self, access: SiteAccess, project: str) -> ProjectMeta:
        """Issue types, workflow statuses and priorities; ConnectFailed("project_not_found") on 404."""

    async def create_fields(self, access: SiteAccess, project: str, issue_type_id: str) -> list[FieldMeta]:
        """The create screen of an issue type; ConnectFailed("issue_type_not_found") on 404."""

    async def site_fields(self, access: SiteAccess) -> SiteFields:
        """Every field of the site and its resolutions; raises ConnectFailed."""

    async def summaries(self, access: SiteAccess, keys: list[str]) -> dict[str, str]:
        """The summary of each issue that exists (up to 100 keys); missing ones are absent."""

    async def list_projects(self, access: SiteAccess) -> list[ProjectRef]:
        """The projects the connection can see."""

    async def assignable_users(self, access: SiteAccess, project: str, query: str) -> list[JiraAccount]:
        """Users who can be assigned issues of `project`, whose name or email starts with `query`."""


class ResolveFailed(Exception):
    """A host name has no address (its message names the host, e.g. "hook.example does not resolve")."""


class Resolver(Protocol):
    """DNS, for the outbound guard (service/core/outbound.py); tests inject a fake one."""

    def resolve(self, host: str, port: int) -> list[IPAddress]:
        """Every address of `host`, in the order to try them; ResolveFailed when there is none.
        Blocking: call it off the event loop."""


class LinkWait(Protocol):
    async def wait(self, deadline: float) -> bool:
        """Returns when the link may have settled, at `deadline` (event-loop time) at the latest:
        True when it is worth reading it again, False when it is known not to have settled."""


class LinkWatch(Protocol):
    """Wakes a request that waits for a pending link (a ticket the worker creates) to settle:
    a database notification on PostgreSQL, a growing poll on SQLite (storage/link_watch.py)."""

    def watch(self, link_id: str) -> AbstractAsyncContextManager[LinkWait]: ...

    async def aclose(self) -> None:
        """Stops listening (the service shuts down)."""


class ExpiringCache(Protocol):
    """Answers kept per key until they expire, one per process (service/sites/metadata.py has
    the one the composition root builds)."""

    def get(self, key: tuple[str, ...], now: datetime) -> object | None: ...

    def put(self, key: tuple[str, ...], value: object, now: datetime) -> None: ...

    def invalidate(self, site_id: str, project: str | None = None) -> None: ...


class Services(Protocol):
    """What service functions use from the composition root (`bootstrap.Container` is one)."""

    settings: Settings
    clock: Clock
    connector: JiraConnector
    outbound: OutboundGuard  # where the service may send requests for a tenant (service/core/outbound.py)
    link_watch: LinkWatch  # wakes a ticket request when its link settles

    @property
    def secrets(self) -> SecretBox: ...

    @property
    def metadata_cache(self) -> ExpiringCache:
        """Project metadata read from Jira (service/sites/metadata.py)."""

    def uow(self) -> UnitOfWork: ...
