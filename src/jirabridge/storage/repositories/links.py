"""Links between the host's items and Jira issues."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import bindparam, case, func, or_, select, update

from jirabridge.domain.items import LinkState
from jirabridge.storage.core_reads import loose, matching, table
from jirabridge.storage.core_writes import forget_loaded, insert_row
from jirabridge.storage.repositories._base import Repository
from jirabridge.storage.tables import Link

KEYS_PER_QUERY = 500  # issue keys in one IN (...): well under SQLite's and PostgreSQL's parameter limits

# Built once: a statement built on every call cost more than running it (cache key, coercions).
_FOR_ITEM = (
    select(Link)
    .where(
        Link.workspace_id == bindparam("workspace_id"),
        Link.item_type == bindparam("item_type"),
        Link.item_id == bindparam("item_id"),
    )
    .order_by(Link.linked_at, Link.id)
)
_BY_ISSUE = (
    select(Link)
    .where(
        Link.workspace_id == bindparam("workspace_id"),
        Link.site_id == bindparam("site_id"),
        Link.issue_key == bindparam("issue_key"),
    )
    .order_by(Link.linked_at, Link.id)
)

_LINKS = table(Link)
_WHOLE_FOR_ITEM = (
    select(_LINKS)
    .where(*matching(_LINKS, "workspace_id", "item_type", "item_id"))
    .order_by(_LINKS.c.linked_at, _LINKS.c.id)
)
_SEEN_BY_ISSUE = (
    select(
        _LINKS.c.id,
        _LINKS.c.item_type,
        _LINKS.c.item_id,
        _LINKS.c.sync_state,
        _LINKS.c.jira_status,
        _LINKS.c.issue_type_id,
    )
    .where(*matching(_LINKS, "workspace_id", "site_id", "issue_key"))
    .order_by(_LINKS.c.linked_at, _LINKS.c.id)
)


# A created issue: the link takes it, with the status and assignee it was created with.
_ISSUE_TAKEN = (
    update(_LINKS)
    .where(_LINKS.c.id == bindparam("w_id"))
    .values(
        issue_key=bindparam("new_key"),
        issue_id=bindparam("new_issue_id"),
        issue_type_id=func.coalesce(
            bindparam("new_type_id", type_=_LINKS.c.issue_type_id.type), _LINKS.c.issue_type_id
        ),
        jira_status=bindparam("new_status"),
        jira_status_category=bindparam("new_category"),
        jira_assignee=bindparam("new_assignee"),
        sync_state=LinkState.SYNCED.value,
        last_error=None,
    )
)
# The issue's links that are not broken take the status Jira showed; `jira_status_at` becomes the newer
# of the link's and `at` (a link never goes back to an older report), and the issue type is kept when
# none was seen.
_AT = bindparam("at", type_=_LINKS.c.jira_status_at.type)
_STATUS_SEEN = (
    update(_LINKS)
    .where(
        *matching(_LINKS, "workspace_id", "site_id", "issue_key", prefix="w_"),
        _LINKS.c.sync_state != LinkState.BROKEN,
    )
    .values(
        jira_status=bindparam("status"),
        jira_status_category=bindparam("category"),
        issue_type_id=func.coalesce(
            bindparam("type_seen", type_=_LINKS.c.issue_type_id.type), _LINKS.c.issue_type_id
        ),
        jira_status_at=case(
            (or_(_LINKS.c.jira_status_at.is_(None), _LINKS.c.jira_status_at < _AT), _AT),
            else_=_LINKS.c.jira_status_at,
        ),
        sync_state=LinkState.SYNCED.value,
        last_error=None,
    )
    .returning(_LINKS.c.id)
)


class LinkSeen(NamedTuple):
    """A link of an issue as a step reads it: whose it is, its state, and what it last saw in Jira."""

    id: str
    item_type: str
    item_id: str
    sync_state: str
    jira_status: str | None
    issue_type_id: str | None


class Links(Repository[Link]):
    def get(self, link_id: str) -> Link | None:
        return self._session.get(Link, link_id)

    def insert(self, link: Link) -> Link:
        """A new link, written at once (a Core INSERT): `link` stays out of the session, as built."""
        insert_row(self._session, link)
        return link

    def loose(self, link_id: str) -> Link | None:
        """The link read as columns, a row of no session (a change to it is not written)."""
        return loose(self._session, Link, id=link_id)

    def take_issue(
        self,
        link_id: str,
        *,
        issue_key: str,
        issue_id: str,
        issue_type_id: str | None,
        status: str | None,
        category: str | None,
        assignee: str | None,
    ) -> None:
        """The link's issue was created: it is synced and shows what the issue was created with (its
        issue type kept when `issue_type_id` is None). One UPDATE."""
        values = {
            "w_id": link_id,
            "new_key": issue_key,
            "new_issue_id": issue_id,
            "new_type_id": issue_type_id,
            "new_status": status,
            "new_category": category,
            "new_assignee": assignee,
        }
        self._session.execute(_ISSUE_TAKEN, values)
        forget_loaded(self._session, Link, (link_id,))

    def for_item(self, workspace_id: str, item_type: str, item_id: str) -> list[Link]:
        """The item's links, oldest first."""
        where = {"workspace_id": workspace_id, "item_type": item_type, "item_id": item_id}
        return list(self._session.scalars(_FOR_ITEM, where))

    def loose_for_item(self, workspace_id: str, item_type: str, item_id: str) -> list[Link]:
        """`for_item`, read as columns: rows of no session, to read (a change to one is not written)."""
        where = {"workspace_id": workspace_id, "item_type": item_type, "item_id": item_id}
        return [Link(**row._mapping) for row in self._session.execute(_WHOLE_FOR_ITEM, where)]

    def by_issue(self, workspace_id: str, site_id: str, issue_key: str) -> list[Link]:
        """The links to one issue of the site (one per linked item), oldest first."""
        where = {"workspace_id": workspace_id, "site_id": site_id, "issue_key": issue_key}
        return list(self._session.scalars(_BY_ISSUE, where))

    def seen_by_issue(self, workspace_id: str, site_id: str, issue_key: str) -> list[LinkSeen]:
        """`by_issue`'s links, as a step reads them."""
        where = {"workspace_id": workspace_id, "site_id": site_id, "issue_key": issue_key}
        return [LinkSeen(*row) for row in self._session.execute(_SEEN_BY_ISSUE, where)]

    def take_status(
        self,
        workspace_id: str,
        site_id: str,
        issue_key: str,
        *,
        status: str,
        category: str | None,
        issue_type_id: str | None,
        at: datetime | None,
    ) -> None:
        """The issue's links that are not broken are synced and show `status`, seen at `at`: one
        UPDATE (a link keeps a newer `jira_status_at`, and its issue type when `issue_type_id` is None)."""
        values = {
            "w_workspace_id": workspace_id,
            "w_site_id": site_id,
            "w_issue_key": issue_key,
            "status": status,
            "category": category,
            "type_seen": issue_type_id,
            "at": at,
        }
        for link_id in self._session.scalars(_STATUS_SEEN, values):
            forget_loaded(self._session, Link, (link_id,))

    def by_issues(
        self, workspace_id: str, site_id: str, issue_keys: Collection[str]
    ) -> dict[str, list[Link]]:
        """The links to each of many issues of the site, oldest first (`by_issue` for a poll's worth of
        issues in a few queries); an issue with no link is not in it."""
        found: dict[str, list[Link]] = {}
        keys = sorted(set(issue_keys))
        for start in range(0, len(keys), KEYS_PER_QUERY):
            query = (
                select(Link)
                .where(
                    Link.workspace_id == workspace_id,
                    Link.site_id == site_id,
                    Link.issue_key.in_(keys[start : start + KEYS_PER_QUERY]),
                )
                .order_by(Link.linked_at, Link.id)
            )
            for link in self._session.scalars(query):
                assert link.issue_key is not None
                found.setdefault(link.issue_key, []).append(link)
        return found

    def issue_keys_in_project(
        self, workspace_id: str, site_id: str, project: str, *, except_state: str
    ) -> list[str]:
        """The distinct issue keys of `project` that items are linked to, links in `except_state` aside."""
        # `WEB-` up to `WEB.` ('.' follows '-'): the project's keys, through the (site, issue key) index.
        query = (
            select(Link.issue_key)
            .where(
                Link.workspace_id == workspace_id,
                Link.site_id == site_id,
                Link.issue_key > f"{project}-",
                Link.issue_key < f"{project}.",
                Link.sync_state != except_state,
            )
            .distinct()
            .order_by(Link.issue_key)
        )
        return [key for key in self._session.scalars(query) if key is not None]
