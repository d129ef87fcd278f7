"""Worklog eligibility, rounding, what an edit does, and what counts as drift (SPEC section 3)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jirabridge.domain.settings import ROUNDING_MINUTES, WorklogSettings
from jirabridge.domain.worklogs import (
    State,
    Step,
    Values,
    Wanted,
    describe_drift,
    drift,
    eligibility,
    next_step,
    rounded_seconds,
)

START = datetime(2024, 1, 15, 9, tzinfo=UTC)
DEFAULTS = WorklogSettings()


def verdict(
    *,
    running: bool = False,
    duration_s: int | None = 1800,
    issue_key: str | None = "WEB-1",
    user_connected: bool = True,
    settings: WorklogSettings = DEFAULTS,
) -> tuple[State, str | None, int | None]:
    found = eligibility(
        running=running,
        duration_s=duration_s,
        issue_key=issue_key,
        user_connected=user_connected,
        settings=settings,
    )
    return found.state, found.reason, found.seconds


# -- eligibility ---------------------------------------------------------------------------------------


def test_a_stopped_entry_with_a_key_and_a_connected_user_should_be_a_worklog() -> None:
    assert verdict() == (State.PENDING, None, 1800)


@pytest.mark.parametrize(
    ("facts", "state"),
    [
        ({"running": True, "duration_s": None}, State.RUNNING),
        ({"issue_key": None}, State.NO_ISSUE_KEY),
        ({"duration_s": 59}, State.TOO_SHORT),
        ({"duration_s": None}, State.TOO_SHORT),
        ({"user_connected": False}, State.WAITING_FOR_USER_MAPPING),
        ({"settings": WorklogSettings(enabled=False)}, State.PENDING),
    ],
)
def test_every_other_state_says_why(facts: dict[str, object], state: State) -> None:
    found_state, reason, seconds = verdict(**facts)  # type: ignore[arg-type]
    assert (found_state, seconds) == (state, None)
    assert reason


def test_reasons_come_in_the_order_a_person_fixes_them() -> None:
    everything_wrong = {"running": True, "issue_key": None, "duration_s": 1, "user_connected": False}
    assert verdict(**everything_wrong)[0] is State.RUNNING  # type: ignore[arg-type]
    assert verdict(**everything_wrong | {"running": False})[0] is State.NO_ISSUE_KEY  # type: ignore[arg-type]
    assert verdict(duration_s=1, user_connected=False)[0] is State.TOO_SHORT
    assert "connect" in (verdict(user_connected=False)[1] or "")


@pytest.mark.parametrize(
    ("seconds", "rounding", "minimum", "expected"),
    [
        (61, 0, 60, 61),
        (59, 0, 60, None),
        (59, 1, 60, 60),  # rounding comes first: 59 s is 1 min
        (1, 5, 60, 300),
        (301, 5, 60, 600),
        (900, 15, 60, 900),
        (100, 0, 120, None),
        (100, 5, 600, None),  # 5 min after rounding, under a 10-minute minimum
    ],
)
def test_rounding_is_applied_before_the_minimum(
    seconds: int, rounding: int, minimum: int, expected: int | None
) -> None:
    settings = WorklogSettings(rounding_minutes=rounding, min_seconds=minimum)
    state, reason, logged = verdict(duration_s=seconds, settings=settings)
    assert logged == expected
    if expected is None:
        assert state is State.TOO_SHORT and reason is not None and "minimum" in reason


@given(st.integers(min_value=0, max_value=10**7), st.sampled_from(ROUNDING_MINUTES))
def test_rounding_never_shortens_and_lands_on_a_block(seconds: int, rounding: int) -> None:
    rounded = rounded_seconds(seconds, rounding)
    assert rounded >= seconds
    if rounding:
        assert rounded % (rounding * 60) == 0 and rounded - seconds < rounding * 60
    else:
        assert rounded == seconds


@given(
    st.integers(min_value=0, max_value=10**6),
    st.sampled_from(ROUNDING_MINUTES),
    st.integers(min_value=60, max_value=86400),
)
def test_an_eligible_entry_logs_at_least_the_minimum_and_never_less_than_it_lasted(
    seconds: int, rounding: int, minimum: int
) -> None:
    state, _, logged = verdict(
        duration_s=seconds, settings=WorklogSettings(rounding_minutes=rounding, min_seconds=minimum)
    )
    if logged is not None:
        assert state is State.PENDING and logged >= minimum and logged >= seconds
    else:
        assert state is State.TOO_SHORT and rounded_seconds(seconds, rounding) < minimum


# -- what an edit does ------------------------------------------------------------------------------

VALUES = Values(1800, START, "Fix login WEB-1")


def wanted(key: str = "WEB-1", values: Values = VALUES) -> Wanted:
    return Wanted(key, values)


@pytest.mark.parametrize(
    ("worklog_issue", "written", "want", "delete_worklog", "step"),
    [
        (None, None, wanted(), False, Step.CREATE),
        (None, None, None, True, Step.NOTHING),
        ("WEB-1", VALUES, wanted(), False, Step.NOTHING),
        ("WEB-1", VALUES, wanted(values=Values(2700, START, "Fix login WEB-1")), False, Step.UPDATE),
        ("WEB-1", VALUES, wanted(values=Values(1800, START, "Fix login WEB-1, tests")), False, Step.UPDATE),
        (
            "WEB-1",
            VALUES,
            wanted(values=Values(1800, START + timedelta(hours=1), VALUES.comment)),
            False,
            Step.UPDATE,
        ),
        ("WEB-1", None, wanted(), False, Step.UPDATE),  # nothing known to compare with: write
        ("WEB-1", VALUES, wanted("WEB-2"), False, Step.MOVE),
        ("WEB-1", VALUES, None, True, Step.DELETE),
        ("WEB-1", VALUES, None, False, Step.NOTHING),  # no longer eligible: the worklog stays
    ],
)
def test_what_an_edit_does_to_the_worklog(
    worklog_issue: str | None, written: Values | None, want: Wanted | None, delete_worklog: bool, step: Step
) -> None:
    assert (
        next_step(worklog_issue=worklog_issue, written=written, wanted=want, delete_worklog=delete_worklog)
        is step
    )


def test_differences_jira_does_not_keep_are_no_edit() -> None:
    same_in_jira = Values(
        1830,
        START.astimezone(timezone(timedelta(hours=2))) + timedelta(microseconds=400),
        "Fix  login\nWEB-1",
    )
    assert (
        next_step(
            worklog_issue="WEB-1", written=VALUES, wanted=wanted(values=same_in_jira), delete_worklog=False
        )
        is Step.NOTHING
    )


# -- drift ---------------------------------------------------------------------------------------------


def test_what_jira_keeps_of_our_own_write_is_not_drift() -> None:
    seen = Values(1800 // 60 * 60, START, "Fix login WEB-1")
    assert drift(Values(1830, START, "Fix login WEB-1"), seen) is None


def test_a_persons_edit_is_reported_field_by_field() -> None:
    seen = Values(7200, START + timedelta(minutes=30), "Fixed it")
    changes = drift(VALUES, seen)
    assert changes == {
        "seconds": {"written": 1800, "jira": 7200},
        "started": {"written": START.isoformat(), "jira": (START + timedelta(minutes=30)).isoformat()},
        "comment": {"written": "Fix login WEB-1", "jira": "Fixed it"},
    }
    assert "time spent, start, comment" in describe_drift(changes)


def test_a_deleted_worklog_is_drift() -> None:
    changes = drift(VALUES, None)
    assert changes == {"deleted": True}
    assert "deleted by hand" in describe_drift(changes)


times = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))
values = st.builds(Values, st.integers(min_value=60, max_value=10**6), times, st.text(max_size=50))


@given(values)
def test_a_worklog_as_written_never_drifts(written: Values) -> None:
    assert drift(written, written) is None
    assert drift(written, written.as_jira_keeps_it()) is None


@given(values, values)
def test_drift_is_exactly_a_difference_jira_keeps(written: Values, seen: Values) -> None:
    changes = drift(written, seen)
    assert (changes is None) == (written.as_jira_keeps_it() == seen.as_jira_keeps_it())


@given(values)
def test_values_survive_being_stored(written: Values) -> None:
    stored = Values.from_json(written.to_json())
    assert stored is not None and stored.as_jira_keeps_it() == written.as_jira_keeps_it()
