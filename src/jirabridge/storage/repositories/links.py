"""Links between the host's items and Jira issues."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import bindparam, select

from jirabridge.storage.core_reads import matching, table
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
_REFS_BY_ISSUE = (
    select(_LINKS.c.id, _LINKS.c.item_type, _LINKS.c.item_id, _LINKS.c.sync_state)
    .where(*matching(_LINKS, "workspace_id", "site_id", "issue_key"))
    .order_by(_LINKS.c.linked_at, _LINKS.c.id)
)


class Links(Repository[Link]):
    def get(self, link_id: str) -> Link | None:
        return self._session.get(Link, link_id)

    def for_item(self, workspace_id: str, item_type: str, item_id: str) -> list[Link]:
        """The item's links, oldest first."""
        where = {"workspace_id": workspace_id, "item_type": item_type, "item_id": item_id}
        return list(self._session.scalars(_FOR_ITEM, where))

    def by_issue(self, workspace_id: str, site_id: str, issue_key: str) -> list[Link]:
        """The links to one issue of the site (one per linked item), oldest first."""
        where = {"workspace_id": workspace_id, "site_id": site_id, "issue_key": issue_key}
        return list(self._session.scalars(_BY_ISSUE, where))

    def refs_by_issue(
        self, workspace_id: str, site_id: str, issue_key: str
    ) -> list[tuple[str, str, str, str]]:
        """`by_issue`'s links as (id, item type, item id, sync state)."""
        where = {"workspace_id": workspace_id, "site_id": site_id, "issue_key": issue_key}
        return [tuple(row) for row in self._session.execute(_REFS_BY_ISSUE, where)]

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
