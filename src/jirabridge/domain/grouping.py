"""Grouped tickets: one Jira issue for many items (`many_to_one`, SPEC section 3).

The ticket is done exactly when its items are: it moves to a mapped done status only when every
linked item maps to a done status, and when an item leaves done the ticket leaves with it, to that
item's mapped status; the other items keep theirs. While the ticket is open and several items are
open, an item moving between open statuses does not move the ticket (no one item speaks for the
group); when it is the only open item, the ticket follows it.

An item whose status is unmapped counts as open (it does not map to done), and never gives the
ticket a target of its own.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence

from jirabridge.domain.mappings import (
    DONE_CATEGORY,
    StatusMapping,
    folded,
    inbound_status,
    is_done,
    outbound_status,
)


def ticket_target(
    item_statuses: Sequence[str | None],
    changed: int | None,
    mapping: StatusMapping,
    done_jira_statuses: Collection[str],
    *,
    ticket_status: str | None = None,
) -> str | None:
    """The Jira status the ticket should move to after the item at index `changed` changed (None:
    recompute from the statuses alone, e.g. after a link or an unlink), or None: don't move it.

    `ticket_status`, the ticket's current Jira status, is optional but worth passing: with it, a ticket
    found in a done status while an item is open is always taken out of done, even when the changes
    that opened items were coalesced into one sync or the ticket was closed by hand. Without it, the
    ticket leaves done only through the change of the last open item (`changed`); and a ticket already
    in a done status stays in it when every item is done (an item going from `Resolved` to `Ignored`
    does not move it from Done to Won't Do). Without it, the answer may be the status the ticket is
    already in; the caller skips the transition then.
    """
    if not item_statuses:
        return None
    done = [is_done(mapping, status, done_jira_statuses) for status in item_statuses]
    ticket_done = ticket_status is not None and ticket_status.casefold() in folded(done_jira_statuses)
    if all(done):
        if ticket_done:
            return None  # already done: an item moving from one done status to another is no reason to move
        if changed is not None:
            return outbound_status(mapping, item_statuses[changed])
        return _most_common([outbound_status(mapping, s) for s in item_statuses], mapping)
    open_items = [index for index, item_done in enumerate(done) if not item_done]
    if changed is not None and not done[changed] and (ticket_done or open_items == [changed]):
        target = outbound_status(mapping, item_statuses[changed])
        if target is not None:
            return target
    if ticket_done:
        return _most_common([outbound_status(mapping, item_statuses[i]) for i in open_items], mapping)
    return None


def _most_common(targets: Sequence[str | None], mapping: StatusMapping) -> str | None:
    """The Jira status most items map to; ties go to the earliest in the outbound map, so the answer
    never depends on the order of the items."""
    counts = Counter(t for t in targets if t is not None)
    if not counts:
        return None
    rank = {jira: position for position, jira in reversed(list(enumerate(mapping.outbound.values())))}
    return min(counts, key=lambda jira: (-counts[jira], rank.get(jira, len(rank)), jira))


def on_link(
    ticket_jira_status: str | None,
    ticket_category: str | None,
    item_status: str | None,
    mapping: StatusMapping,
    *,
    done_jira_statuses: Collection[str] | None = None,
) -> str | None:
    """The host status a newly linked item should take, or None to keep its own. Linking never moves
    the ticket.

    Linked to a ticket already in a done status, the item takes the mapped done status (the inbound
    mapping of the ticket's status); linked to an open ticket it keeps its own. With
    `done_jira_statuses`, an item that is already done in another way (`Ignored` next to `Resolved`)
    keeps its own status too."""
    if ticket_category is None or ticket_category.casefold() != DONE_CATEGORY:
        return None
    if done_jira_statuses is not None and is_done(mapping, item_status, done_jira_statuses):
        return None
    target = inbound_status(mapping, ticket_jira_status, ticket_category)
    return None if target == item_status else target
