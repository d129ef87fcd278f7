"""Status and priority mappings of a project (SPEC section 3)."""

from __future__ import annotations

import pytest

from jirabridge.domain.mappings import (
    StatusMapping,
    inbound_status,
    is_done,
    outbound_status,
    priority_for,
)

MAPPING = StatusMapping(
    outbound={"Open": "To Do", "In Progress": "In Progress", "Fixed": "Done", "For Review": "To Do"},
    inbound={"Won't Do": "Ignored"},
    resolved_status="Resolved",
)
DONE = {"Done", "Won't Do"}


@pytest.mark.parametrize(
    ("host_status", "expected"),
    [
        ("Open", "To Do"),
        ("fixed", "Done"),  # any capitals; Jira is sent its own spelling
        ("IN PROGRESS", "In Progress"),
        ("Acknowledged", None),  # unmapped: nothing to do
        (None, None),
    ],
)
def test_outbound_status(host_status: str | None, expected: str | None) -> None:
    assert outbound_status(MAPPING, host_status) == expected


def test_an_exact_match_wins_over_one_in_other_capitals() -> None:
    mapping = StatusMapping(outbound={"open": "Backlog", "Open": "To Do"})
    assert outbound_status(mapping, "Open") == "To Do"
    assert outbound_status(mapping, "OPEN") == "Backlog"  # the first of the case-insensitive matches


@pytest.mark.parametrize(
    ("jira_status", "category", "expected"),
    [
        ("Won't Do", "done", "Ignored"),  # the explicit inbound map
        ("won't do", "done", "Ignored"),
        ("Done", "done", "Fixed"),  # the inverse of the outbound map
        ("in progress", "indeterminate", "In Progress"),
        ("To Do", "new", "Open"),  # Open and For Review both map to To Do: the first in the map wins
        ("Closed", "done", "Resolved"),  # nothing maps it: the done category gives the resolved status
        ("Closed", "DONE", "Resolved"),
        ("Blocked", "indeterminate", None),  # nothing maps it: leave the item alone
        ("Blocked", None, None),
        (None, "done", "Resolved"),
    ],
)
def test_inbound_status(jira_status: str | None, category: str | None, expected: str | None) -> None:
    assert inbound_status(MAPPING, jira_status, category) == expected


def test_the_explicit_inbound_map_wins_over_the_inverse() -> None:
    mapping = StatusMapping(outbound={"Open": "To Do", "Fixed": "Done"}, inbound={"Done": "Verified"})
    assert inbound_status(mapping, "Done", "done") == "Verified"


def test_the_done_category_without_a_resolved_status_changes_nothing() -> None:
    assert inbound_status(StatusMapping(outbound={}), "Closed", "done") is None


@pytest.mark.parametrize(
    ("severity", "requested", "expected"),
    [
        ("critical", "Low", "Low"),  # the request's priority wins
        ("critical", None, "Highest"),
        ("CRITICAL", None, "Highest"),  # severity any capitals
        ("Low", "  ", "Low"),  # a blank request is no request
        ("medium", None, None),  # not in the map: Jira's default
        (None, None, None),
    ],
)
def test_priority_for(severity: str | None, requested: str | None, expected: str | None) -> None:
    assert priority_for({"critical": "Highest", "low": "Low"}, severity, requested) == expected


@pytest.mark.parametrize(
    ("host_status", "done"),
    [("Fixed", True), ("fixed", True), ("Open", False), ("Acknowledged", False), (None, False)],
)
def test_a_host_status_is_done_when_it_maps_to_a_done_jira_status(
    host_status: str | None, done: bool
) -> None:
    assert is_done(MAPPING, host_status, DONE) is done


def test_done_statuses_compare_in_any_capitals() -> None:
    assert is_done(MAPPING, "Fixed", {"DONE"})
