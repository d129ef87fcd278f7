"""Link cardinality per item type (SPEC section 1, "Link"): may this item be linked to this issue?

- `one_to_one`: an item has at most one ticket and a ticket at most one item.
- `many_to_one`: an item has at most one ticket; a ticket may group many items.
- `many_to_many`: any item with any ticket.

In every mode the same pair is never linked twice. The mode is that of the item being linked, and
only items of its type count against a ticket's limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

PENDING_PREFIX = "pending:"  # how callers name a link whose ticket is still being created


class Cardinality(StrEnum):
    ONE_TO_ONE = "one_to_one"
    MANY_TO_ONE = "many_to_one"
    MANY_TO_MANY = "many_to_many"


@dataclass(frozen=True)
class Violation:
    code: str  # "already_linked", "item_has_ticket" or "ticket_has_item"
    reason: str  # for a person: what is in the way and why


def check_link(
    card: Cardinality,
    item_links: Sequence[str],
    issue_links: Sequence[tuple[str, str]],
    issue_key: str,
    item_ref: tuple[str, str],
) -> Violation | None:
    """Whether linking item `item_ref` (type, id) to `issue_key` is allowed, given the issue keys the
    item is already linked to (`item_links`; a ticket being created may be named `pending:<id>`) and the
    items the issue is already linked to (`issue_links`). Issue keys compare case-insensitively."""
    item = f"{item_ref[0]}/{item_ref[1]}"
    key = issue_key.upper()
    if key in (k.upper() for k in item_links) or tuple(item_ref) in (tuple(ref) for ref in issue_links):
        return Violation("already_linked", f"item {item} is already linked to {issue_key}")
    if card is Cardinality.MANY_TO_MANY:
        return None
    others = [k for k in item_links if k.upper() != key]
    if others:
        return Violation(
            "item_has_ticket",
            f"item {item} is already linked to {_ticket(others[0])}, and in {card.value} mode "
            f"an item of type {item_ref[0]!r} has at most one ticket; unlink it first",
        )
    if card is Cardinality.ONE_TO_ONE:
        # The setting is per item type: an anomaly on the same ticket does not count against it.
        grouped = [ref for ref in issue_links if ref[0] == item_ref[0] and tuple(ref) != tuple(item_ref)]
        if grouped:
            other = f"{grouped[0][0]}/{grouped[0][1]}"
            return Violation(
                "ticket_has_item",
                f"{issue_key} is already linked to item {other}, and in one_to_one mode a ticket "
                f"has at most one item of type {item_ref[0]!r}",
            )
    return None


def _ticket(key: str) -> str:
    return "a ticket that is still being created" if key.startswith(PENDING_PREFIX) else key
