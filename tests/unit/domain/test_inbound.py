"""The pure decisions of catching up on Jira's statuses and assignees when their sync is switched on,
and of when jirabridge's own write happened."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jirabridge.domain.inbound import (
    assignee_inbound_switched_on,
    catch_up_parts,
    catch_up_status,
    is_stale,
    own_write_at,
    status_inbound_switched_on,
)
from jirabridge.domain.mappings import StatusMapping

MAPPING = StatusMapping(
    outbound={"Open": "To Do", "New": "To Do", "Acknowledged": "In Progress"}, resolved_status="Resolved"
)


@pytest.mark.parametrize(
    ("before", "after", "switched"),
    [
        ({"status_sync": "outbound"}, {"status_sync": "two_way"}, True),
        ({"status_sync": "off"}, {"status_sync": "inbound"}, True),
        ({"status_sync": "comment"}, {"status_sync": "two_way"}, True),
        ({"status_sync": "two_way"}, {"status_sync": "inbound"}, False),  # it was on already
        ({"status_sync": "inbound"}, {"status_sync": "outbound"}, False),
        ({}, {"status_sync": "two_way"}, False),  # no status_sync stored: two_way, on already
        (None, {"status_sync": "two_way"}, False),  # new settings: a project without any took Jira's changes
    ],
)
def test_status_sync_is_switched_on_only_from_a_mode_that_took_no_jira_status(
    before: dict[str, str] | None, after: dict[str, str], switched: bool
) -> None:
    assert status_inbound_switched_on(before, after) is switched


def test_an_item_behind_its_issue_takes_the_mapped_status() -> None:
    assert catch_up_status(MAPPING, "Open", "In Progress", "indeterminate") == "Acknowledged"
    assert catch_up_status(MAPPING, "Acknowledged", "Done", "done") == "Resolved"


def test_an_item_in_step_with_its_issue_is_left_alone() -> None:
    assert catch_up_status(MAPPING, "Acknowledged", "In Progress", "indeterminate") is None
    # `New` maps out to To Do as `Open` does: it is in step, not moved to the inverse's first choice.
    assert catch_up_status(MAPPING, "New", "To Do", "new") is None
    assert catch_up_status(MAPPING, "new", "to do", "new") is None


def test_a_jira_status_nothing_maps_leaves_the_item_alone() -> None:
    assert catch_up_status(MAPPING, "Open", "Blocked", "indeterminate") is None


@pytest.mark.parametrize(
    ("before", "after", "switched"),
    [
        ({"assignee_sync": "outbound"}, {"assignee_sync": "two_way"}, True),
        ({}, {"assignee_sync": "inbound"}, True),  # no assignee_sync stored: off
        ({"assignee_sync": "two_way"}, {"assignee_sync": "inbound"}, False),  # it was on already
        ({"assignee_sync": "inbound"}, {"assignee_sync": "off"}, False),
        (None, {"assignee_sync": "two_way"}, False),  # new settings: nothing to catch up on
    ],
)
def test_assignee_sync_is_switched_on_only_from_a_mode_that_took_no_jira_assignee(
    before: dict[str, str] | None, after: dict[str, str], switched: bool
) -> None:
    assert assignee_inbound_switched_on(before, after) is switched


def test_a_catch_up_reads_the_parts_switched_on() -> None:
    off = {"status_sync": "outbound", "assignee_sync": "off"}
    assert catch_up_parts(off, {"status_sync": "two_way"}) == ["status"]
    assert catch_up_parts(off, off | {"assignee_sync": "inbound"}) == ["assignee"]
    assert catch_up_parts(off, {"status_sync": "inbound", "assignee_sync": "two_way"}) == [
        "status",
        "assignee",
    ]
    assert catch_up_parts(off, off) == []


T = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def test_a_report_of_an_earlier_write_is_older_than_jirabridges_own_write() -> None:
    # The handler read the issue (updated T) and then wrote: a report of the issue at T is older.
    assert is_stale(own_write_at(T - timedelta(seconds=5), read=T), T)
    # No read (a remembered transition): the handler's clock before the call is the bound.
    assert is_stale(own_write_at(T), T - timedelta(milliseconds=1))
    # A change Jira made after the write is not.
    assert not is_stale(own_write_at(T - timedelta(seconds=5), read=T), T + timedelta(milliseconds=1))
