"""The pure decisions of catching up on Jira's statuses when status sync is switched on."""

from __future__ import annotations

import pytest

from jirabridge.domain.inbound import catch_up_status, status_inbound_switched_on
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
