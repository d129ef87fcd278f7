"""Grouped tickets (`many_to_one`, SPEC section 3): the ticket is done exactly when its items are.

The table of issue 4, with the status map Open→To Do, In Progress→In Progress, Resolved→Done,
For Review→To Do.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jirabridge.domain.grouping import on_link, ticket_target
from jirabridge.domain.mappings import StatusMapping, is_done, outbound_status

MAPPING = StatusMapping(
    outbound={"Open": "To Do", "In Progress": "In Progress", "Resolved": "Done", "For Review": "To Do"}
)
DONE = {"Done"}


# -- the table ------------------------------------------------------------------------------------


@pytest.mark.parametrize("ticket_status", ["Done", None])
def test_ticket_done_all_items_resolved_one_item_to_for_review_moves_the_ticket_to_to_do(
    ticket_status: str | None,
) -> None:
    after = ["Resolved", "For Review", "Resolved"]
    assert ticket_target(after, 1, MAPPING, DONE, ticket_status=ticket_status) == "To Do"
    # the other items stay Resolved: nothing is decided for them, and a Jira change jirabridge made
    # never comes back as an inbound change


@pytest.mark.parametrize("ticket_status", ["To Do", None])
def test_ticket_to_do_all_items_for_review_one_item_to_resolved_leaves_the_ticket(
    ticket_status: str | None,
) -> None:
    after = ["For Review", "Resolved", "For Review"]
    assert ticket_target(after, 1, MAPPING, DONE, ticket_status=ticket_status) is None


def test_linking_an_item_for_review_to_a_done_ticket_resolves_the_item_and_leaves_the_ticket() -> None:
    assert on_link("Done", "done", "For Review", MAPPING) == "Resolved"
    every_item = ["Resolved", "Resolved", "Resolved"]
    assert ticket_target(every_item, None, MAPPING, DONE, ticket_status="Done") in (None, "Done")


def test_linking_a_resolved_item_to_an_open_ticket_keeps_both() -> None:
    assert on_link("To Do", "new", "Resolved", MAPPING) is None
    items = ["For Review", "Open", "Resolved"]
    assert ticket_target(items, None, MAPPING, DONE, ticket_status="To Do") is None


# -- the rules around it --------------------------------------------------------------------------


def test_the_last_item_to_finish_moves_the_ticket_to_its_done_status() -> None:
    mapping = StatusMapping(outbound={**MAPPING.outbound, "Ignored": "Won't Do"})
    done = {"Done", "Won't Do"}
    assert ticket_target(["Ignored", "Resolved"], 1, mapping, done) == "Done"
    assert ticket_target(["Ignored", "Resolved"], 0, mapping, done) == "Won't Do"


def test_a_done_ticket_stays_in_its_done_status_while_every_item_is_done() -> None:
    mapping = StatusMapping(outbound={**MAPPING.outbound, "Ignored": "Won't Do"})
    done = {"Done", "Won't Do"}
    assert ticket_target(["Ignored", "Resolved"], 0, mapping, done, ticket_status="Done") is None


def test_a_recompute_picks_the_done_status_most_items_map_to() -> None:
    mapping = StatusMapping(outbound={**MAPPING.outbound, "Ignored": "Won't Do"})
    done = {"Done", "Won't Do"}
    assert ticket_target(["Ignored", "Resolved", "Ignored"], None, mapping, done) == "Won't Do"
    # a tie goes to the earliest in the status map, whatever the order of the items
    assert ticket_target(["Ignored", "Resolved"], None, mapping, done) == "Done"
    assert ticket_target(["Resolved", "Ignored"], None, mapping, done) == "Done"


def test_with_several_items_open_one_moving_between_open_statuses_does_not_move_the_ticket() -> None:
    assert ticket_target(["In Progress", "Open"], 0, MAPPING, DONE, ticket_status="To Do") is None


def test_the_only_open_item_is_followed() -> None:
    assert (
        ticket_target(["Resolved", "In Progress"], 1, MAPPING, DONE, ticket_status="To Do") == "In Progress"
    )


def test_a_ticket_found_done_with_open_items_leaves_done_even_when_changes_were_coalesced() -> None:
    # Two items reopened before the worker ran: the sync for the first sees both open.
    after = ["For Review", "In Progress", "Resolved"]
    assert ticket_target(after, 0, MAPPING, DONE, ticket_status="Done") == "To Do"
    assert ticket_target(after, None, MAPPING, DONE, ticket_status="done") in ("To Do", "In Progress")


def test_an_item_finishing_while_the_ticket_was_closed_by_hand_reopens_it() -> None:
    assert ticket_target(["Open", "Resolved"], 1, MAPPING, DONE, ticket_status="Done") == "To Do"


def test_unmapped_statuses_count_as_open_and_give_no_target() -> None:
    assert ticket_target(["Resolved", "Acknowledged"], 1, MAPPING, DONE) is None
    assert ticket_target(["Resolved", "Acknowledged"], 0, MAPPING, DONE) is None
    assert ticket_target(["Acknowledged", None], None, MAPPING, DONE, ticket_status="Done") is None


def test_a_ticket_without_items_is_left_alone() -> None:
    assert ticket_target([], None, MAPPING, DONE, ticket_status="Done") is None


@pytest.mark.parametrize(
    ("ticket", "category", "item", "expected"),
    [
        ("Done", "done", "Open", "Resolved"),
        ("Done", "done", "Resolved", None),  # already there
        ("Closed", "done", "Open", None),  # nothing maps Closed and there is no resolved status
        ("In Progress", "indeterminate", "Open", None),
        (None, None, "Open", None),  # the ticket's status is unknown
    ],
)
def test_on_link(ticket: str | None, category: str | None, item: str | None, expected: str | None) -> None:
    assert on_link(ticket, category, item, MAPPING) == expected


def test_on_link_uses_the_resolved_status_for_an_unmapped_done_status() -> None:
    mapping = StatusMapping(outbound=MAPPING.outbound, resolved_status="Resolved")
    assert on_link("Closed", "done", "Open", mapping) == "Resolved"


def test_on_link_keeps_an_item_that_is_already_done_another_way_when_asked_to() -> None:
    mapping = StatusMapping(outbound={**MAPPING.outbound, "Ignored": "Won't Do"})
    done = {"Done", "Won't Do"}
    assert on_link("Done", "done", "Ignored", mapping, done_jira_statuses=done) is None
    assert on_link("Done", "done", "Open", mapping, done_jira_statuses=done) == "Resolved"


# -- properties over any mapping ------------------------------------------------------------------

HOST = ["Open", "open", "In Progress", "Resolved", "Ignored", "For Review", "Unmapped"]
JIRA = ["To Do", "In Progress", "Done", "DONE", "Won't Do"]

mappings = st.builds(StatusMapping, outbound=st.dictionaries(st.sampled_from(HOST), st.sampled_from(JIRA)))
done_sets = st.sets(st.sampled_from(JIRA))
statuses = st.lists(st.sampled_from([*HOST, None]), min_size=1, max_size=6)


@st.composite
def groups(draw: st.DrawFn) -> tuple[list[str | None], int | None]:
    items = draw(statuses)
    changed = draw(st.one_of(st.none(), st.integers(0, len(items) - 1)))
    return items, changed


def _is_done_status(jira: str | None, done: set[str]) -> bool:
    return jira is not None and jira.casefold() in {d.casefold() for d in done}


@settings(max_examples=400, deadline=None)
@given(
    group=groups(),
    mapping=mappings,
    done=done_sets,
    ticket=st.one_of(st.none(), st.sampled_from(JIRA)),
)
def test_the_ticket_is_moved_to_done_iff_every_item_is_done(
    group: tuple[list[str | None], int | None],
    mapping: StatusMapping,
    done: set[str],
    ticket: str | None,
) -> None:
    items, changed = group
    target = ticket_target(items, changed, mapping, done, ticket_status=ticket)
    every_item_done = all(is_done(mapping, s, done) for s in items)
    if every_item_done and _is_done_status(ticket, done):
        assert target is None  # it is done already: it stays where it is
    else:
        assert _is_done_status(target, done) == every_item_done
    if target is not None:
        assert target in mapping.outbound.values()  # always a configured Jira status


@settings(max_examples=300, deadline=None)
@given(
    items=statuses,
    mapping=mappings,
    done=done_sets,
    ticket=st.one_of(st.none(), st.sampled_from(JIRA)),
    data=st.data(),
)
def test_the_order_of_the_items_does_not_matter(
    items: list[str | None],
    mapping: StatusMapping,
    done: set[str],
    ticket: str | None,
    data: st.DataObject,
) -> None:
    shuffled = data.draw(st.permutations(items))
    assert ticket_target(items, None, mapping, done, ticket_status=ticket) == ticket_target(
        shuffled, None, mapping, done, ticket_status=ticket
    )
    changed = data.draw(st.integers(0, len(items) - 1))
    moved = [*items[:changed], *items[changed + 1 :], items[changed]]  # the changed item last
    first = ticket_target(items, changed, mapping, done, ticket_status=ticket)
    last = ticket_target(moved, len(moved) - 1, mapping, done, ticket_status=ticket)
    assert first == last


@settings(max_examples=200, deadline=None)
@given(status=st.sampled_from([*HOST, None]), mapping=mappings, done=done_sets)
def test_a_ticket_of_one_item_follows_it(status: str | None, mapping: StatusMapping, done: set[str]) -> None:
    assert ticket_target([status], 0, mapping, done) == outbound_status(mapping, status)


@settings(max_examples=300, deadline=None)
@given(group=groups(), mapping=mappings, done=done_sets, ticket=st.sampled_from(JIRA))
def test_a_done_ticket_with_a_mapped_open_item_always_leaves_done(
    group: tuple[list[str | None], int | None], mapping: StatusMapping, done: set[str], ticket: str
) -> None:
    items, changed = group
    open_mapped = [s for s in items if not is_done(mapping, s, done) and outbound_status(mapping, s)]
    if _is_done_status(ticket, done) and open_mapped:
        target = ticket_target(items, changed, mapping, done, ticket_status=ticket)
        assert target is not None and not _is_done_status(target, done)
