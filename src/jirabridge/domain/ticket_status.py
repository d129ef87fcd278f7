"""What an item's status becomes when a ticket is created for it or an existing one is linked to it
(project settings `on_create_status`, `on_link_status` and their `…_from` conditions). Pure.

- Linked to a ticket already in a *done* status, the item takes the mapped done status (the inbound
  mapping of the ticket's status, `grouping.on_link`), whatever it was.
- Linked to an open ticket, it takes `on_link_status` — only from one of the host statuses in
  `on_link_status_from` when that is set (null: from any status, as before the condition existed).
- When the ticket jirabridge created for it exists in Jira, it takes `on_create_status`, likewise only
  from `on_create_status_from` when set.
- Otherwise, or when the status would not change, it keeps its own (None).

The error tracker's table, for example: `status_map` `{"Resolved": "Done", "Ignored": "Won't Do"}`,
`on_link_status` and `on_create_status` `Reviewed`, both only from `For Review`: a For Review issue
linked to an open ticket becomes Reviewed, linked to a Done one Resolved; a Reviewed or a Resolved
issue linked to an open ticket keeps its status; creating a ticket for a For Review issue makes it
Reviewed.

Host statuses are matched case-insensitively, like the status maps.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from jirabridge.domain import grouping
from jirabridge.domain.mappings import DONE_CATEGORY, StatusMapping, same_name

ON_LINK, ON_LINK_FROM = "on_link_status", "on_link_status_from"
ON_CREATE, ON_CREATE_FROM = "on_create_status", "on_create_status_from"


@dataclass(frozen=True)
class StatusRule:
    """Move an item to `status`, only from one of `only_from` (None: from any status)."""

    status: str | None = None
    only_from: tuple[str, ...] | None = None

    def target(self, item_status: str | None) -> str | None:
        if not self.status:
            return None
        if self.only_from is not None and not any(same_name(s, item_status) for s in self.only_from):
            return None
        return None if same_name(self.status, item_status) else self.status


def _rule(settings: Mapping[str, object], status_key: str, from_key: str) -> StatusRule:
    status = settings.get(status_key)
    only_from = settings.get(from_key)
    return StatusRule(
        status=status if isinstance(status, str) else None,
        only_from=tuple(str(s) for s in only_from) if isinstance(only_from, list | tuple) else None,
    )


def on_create(settings: Mapping[str, object], item_status: str | None) -> str | None:
    """The status an item takes once the ticket created for it exists, or None to keep its own."""
    return _rule(settings, ON_CREATE, ON_CREATE_FROM).target(item_status)


def on_link(
    settings: Mapping[str, object],
    mapping: StatusMapping,
    item_status: str | None,
    ticket_status: str | None,
    ticket_category: str | None,
) -> str | None:
    """The status an item takes when linked to an existing ticket, or None to keep its own. Linking
    never moves the ticket."""
    done = grouping.on_link(ticket_status, ticket_category, item_status, mapping)
    if done is not None:
        return done
    if ticket_category is not None and ticket_category.casefold() == DONE_CATEGORY:
        return None  # a done ticket never gives the open-ticket status
    return _rule(settings, ON_LINK, ON_LINK_FROM).target(item_status)


def problems(settings: Mapping[str, object]) -> list[tuple[str, str]]:
    """(field, message) for each condition that cannot work: a `…_from` without the status it moves
    items to, an empty list, a status listed twice."""
    found: list[tuple[str, str]] = []
    for status_key, from_key in ((ON_LINK, ON_LINK_FROM), (ON_CREATE, ON_CREATE_FROM)):
        only_from = settings.get(from_key)
        if only_from is None:
            continue
        if not isinstance(only_from, list | tuple):
            found.append((from_key, "must be a list of host statuses, or null for any status"))
            continue
        if not settings.get(status_key):
            found.append((from_key, f"needs {status_key}: the status it moves items to"))
        if not only_from:
            found.append((from_key, "must name at least one host status; null applies from any status"))
        seen: list[str] = []
        for status in only_from:
            if any(same_name(status, s) for s in seen):
                found.append((from_key, f"lists {status!r} twice"))
            seen.append(str(status))
    return found
