"""Status and priority mappings of a project (SPEC section 3, "Status, outbound/inbound").

Names are matched case-insensitively (`fixed` finds the `Fixed` entry, `done` finds `Done`), because
hosts and Jira admins do not agree on capitals; what is returned is always the configured spelling,
so Jira is sent the name its workflow uses and the host gets back the status it configured. An exact
match wins over a case-insensitive one; among case-insensitive matches the first in the map's order
wins.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

DONE_CATEGORY = "done"  # the key of Jira's done status category (the others: "new", "indeterminate")


@dataclass(frozen=True)
class StatusMapping:
    outbound: dict[str, str]  # host status -> Jira status name
    inbound: dict[str, str] = field(default_factory=dict)  # Jira status name -> host status
    resolved_status: str | None = None  # host status for Jira's done category when nothing else maps


def lookup(mapping: Mapping[str, str], name: str | None) -> str | None:
    """`mapping[name]`, matching the key case-insensitively; None when nothing matches."""
    if name is None:
        return None
    if name in mapping:
        return mapping[name]
    folded = name.casefold()
    return next((value for key, value in mapping.items() if key.casefold() == folded), None)


def same_name(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and a.casefold() == b.casefold()


def outbound_status(mapping: StatusMapping, host_status: str | None) -> str | None:
    """The Jira status a host status maps to; None when it is unmapped (nothing to do)."""
    return lookup(mapping.outbound, host_status)


def inbound_status(mapping: StatusMapping, jira_status: str | None, jira_category: str | None) -> str | None:
    """The host status for a Jira status: the explicit inbound map, else the inverse of the outbound
    map, else by status category (done -> `resolved_status`), else None (leave the item alone).

    When several host statuses map to the same Jira status (`Open` and `For Review` both to `To Do`),
    the inverse is ambiguous: the first of them in the outbound map's order wins (`Open`). Configure
    `inbound` to choose another."""
    explicit = lookup(mapping.inbound, jira_status)
    if explicit is not None:
        return explicit
    if jira_status is not None:
        exact = [host for host, jira in mapping.outbound.items() if jira == jira_status]
        folded = [host for host, jira in mapping.outbound.items() if same_name(jira, jira_status)]
        if exact or folded:
            return (exact or folded)[0]
    if jira_category is not None and jira_category.casefold() == DONE_CATEGORY:
        return mapping.resolved_status
    return None


def priority_for(priority_map: Mapping[str, str], severity: str | None, requested: str | None) -> str | None:
    """The priority of a new ticket: the request's, else the severity's in the project's map (severity
    matched case-insensitively), else None (Jira's default)."""
    if requested is not None and requested.strip():
        return requested
    return lookup(priority_map, severity)


def folded(names: Iterable[str]) -> set[str]:
    return {name.casefold() for name in names}


def is_done(mapping: StatusMapping, host_status: str | None, done_jira_statuses: Collection[str]) -> bool:
    """A host status is done when it maps (outbound) to a Jira status in the done category.
    `done_jira_statuses`: the names of the project's statuses in that category, any capitals."""
    target = outbound_status(mapping, host_status)
    return target is not None and target.casefold() in folded(done_jira_statuses)
