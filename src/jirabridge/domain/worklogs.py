"""Worklogs from time entries (SPEC section 3, "Worklogs"): eligibility, rounding, what an edit does to
the worklog, and what counts as a person's edit in Jira (drift). Pure: facts in, decisions out.

States (SPEC's list, exactly):

    running                    the timer is still running
    no_issue_key               no explicit key and none in the description
    issue_not_found            the key does not exist on the site (or the user cannot see it)
    too_short                  shorter than `min_seconds` after rounding
    waiting_for_user_mapping   the entry's user has no Jira connection on the site
    pending                    waiting for the worker (or for worklog sync to be switched on)
    synced                     the worklog in Jira is what the entry says
    failed                     Jira refused, for a reason a person must fix (shown as the reason)
    deleted                    the entry was deleted (and, per `delete_worklogs`, its worklog)
    drifted                    the worklog was edited or deleted by hand in Jira: reported, never
                               overwritten

The first four and `waiting_for_user_mapping` come from `eligibility`; `issue_not_found`, `synced`,
`failed` and `drifted` from what Jira answered.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from jirabridge.domain.settings import JIRA_MIN_WORKLOG_S, WorklogSettings


class State(StrEnum):
    RUNNING = "running"
    NO_ISSUE_KEY = "no_issue_key"
    ISSUE_NOT_FOUND = "issue_not_found"
    TOO_SHORT = "too_short"
    WAITING_FOR_USER_MAPPING = "waiting_for_user_mapping"
    PENDING = "pending"
    SYNCED = "synced"
    FAILED = "failed"
    DELETED = "deleted"
    DRIFTED = "drifted"


WAITING_REASON = "the user has no Jira connection on the site; the entry syncs as soon as they connect"


@dataclass(frozen=True)
class Verdict:
    """Whether an entry should be a worklog now: `seconds` (rounded) is set exactly when it should."""

    state: State
    reason: str | None
    seconds: int | None = None

    @property
    def eligible(self) -> bool:
        return self.seconds is not None


def rounded_seconds(seconds: int, rounding_minutes: int) -> int:
    """Round up to a multiple of `rounding_minutes` (0: exact). 1 s with 15-minute rounding is 15 min:
    a time tracker's rounding bills started blocks."""
    if rounding_minutes <= 0 or seconds <= 0:
        return max(seconds, 0)
    block = rounding_minutes * 60
    return math.ceil(seconds / block) * block


def _minutes(seconds: int) -> str:
    return f"{seconds // 60} min {seconds % 60} s" if seconds % 60 else f"{seconds // 60} min"


def eligibility(
    *,
    running: bool,
    duration_s: int | None,
    issue_key: str | None,
    user_connected: bool,
    settings: WorklogSettings,
) -> Verdict:
    """Why an entry is not (yet) a worklog, or that it should be one, in the order a person fixes
    things: stop the timer, name the issue, log enough time, connect to Jira."""
    if running:
        return Verdict(State.RUNNING, "the timer is still running; the worklog is written when it stops")
    if issue_key is None:
        return Verdict(
            State.NO_ISSUE_KEY, "no issue key: give one, or put it in the description (e.g. WEB-184)"
        )
    seconds = rounded_seconds(duration_s or 0, settings.rounding_minutes)
    minimum = max(settings.min_seconds, JIRA_MIN_WORKLOG_S)
    if seconds < minimum:
        rounded = f" after rounding to {settings.rounding_minutes} min" if settings.rounding_minutes else ""
        return Verdict(
            State.TOO_SHORT,
            f"{_minutes(seconds)}{rounded} is under the minimum of {_minutes(minimum)} "
            "(worklogs.min_seconds)",
        )
    if not settings.enabled:
        return Verdict(
            State.PENDING, "worklog sync is switched off in the workspace settings (worklogs.enabled)"
        )
    if not user_connected:
        return Verdict(State.WAITING_FOR_USER_MAPPING, WAITING_REASON)
    return Verdict(State.PENDING, None, seconds)


# -- the worklog an entry wants, and what jirabridge wrote ------------------------------------------


def jira_started(moment: datetime) -> datetime:
    """A start as Jira keeps it: UTC, whole milliseconds."""
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def jira_seconds(seconds: int) -> int:
    """Jira keeps whole minutes: 90 s is logged as 60 s."""
    return seconds // 60 * 60


def _comment_text(comment: str | None) -> str:
    return " ".join((comment or "").split())


@dataclass(frozen=True)
class Values:
    """A worklog's content: what jirabridge wrote, what an entry wants, or what Jira shows."""

    seconds: int
    started: datetime
    comment: str

    def as_jira_keeps_it(self) -> Values:
        return Values(jira_seconds(self.seconds), jira_started(self.started), _comment_text(self.comment))

    def to_json(self) -> dict[str, Any]:
        return {
            "seconds": self.seconds,
            "started": jira_started(self.started).isoformat(),
            "comment": self.comment,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Values | None:
        if not data:
            return None
        try:
            return cls(
                int(data["seconds"]), datetime.fromisoformat(str(data["started"])), str(data["comment"])
            )
        except (KeyError, TypeError, ValueError):
            return None


@dataclass(frozen=True)
class Wanted:
    issue_key: str
    values: Values


class Step(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    MOVE = "move"  # delete on the old issue, then create on the new one
    DELETE = "delete"
    NOTHING = "nothing"


def next_step(
    *, worklog_issue: str | None, written: Values | None, wanted: Wanted | None, delete_worklog: bool
) -> Step:
    """What to do in Jira for an entry whose worklog is on `worklog_issue` (None: there is none).

    `wanted` is None when the entry should not be a worklog now (deleted, or no longer eligible).
    An entry that is no longer eligible keeps its worklog (`delete_worklog` False): a timer started
    again, a key taken out of the description or a duration cut too short are edits in progress, and
    only deleting the entry (with `delete_worklogs` on) removes time logged in Jira.
    """
    if worklog_issue is None:
        return Step.CREATE if wanted is not None else Step.NOTHING
    if wanted is None:
        return Step.DELETE if delete_worklog else Step.NOTHING
    if wanted.issue_key != worklog_issue:
        return Step.MOVE
    if written is not None and written.as_jira_keeps_it() == wanted.values.as_jira_keeps_it():
        return Step.NOTHING
    return Step.UPDATE


def drift(written: Values, seen: Values | None) -> dict[str, Any] | None:
    """What a person changed in Jira since jirabridge wrote `written` (None: nothing). `seen` is the
    worklog as Jira shows it now, None when it is gone. Compared as Jira keeps values (whole
    minutes, milliseconds, whitespace-insensitive text), so jirabridge's own writes never count."""
    if seen is None:
        return {"deleted": True}
    ours, theirs = written.as_jira_keeps_it(), seen.as_jira_keeps_it()
    changes: dict[str, Any] = {}
    if ours.seconds != theirs.seconds:
        changes["seconds"] = {"written": ours.seconds, "jira": theirs.seconds}
    if ours.started != theirs.started:
        changes["started"] = {"written": ours.started.isoformat(), "jira": theirs.started.isoformat()}
    if ours.comment != theirs.comment:
        changes["comment"] = {"written": written.comment, "jira": seen.comment}
    return changes or None


def describe_drift(changes: dict[str, Any]) -> str:
    """A reason a person reads: what was changed by hand."""
    if changes.get("deleted"):
        return "the worklog was deleted by hand in Jira; jirabridge leaves it so"
    named = {"seconds": "time spent", "started": "start", "comment": "comment"}
    what = ", ".join(named[k] for k in ("seconds", "started", "comment") if k in changes)
    return f"the worklog was edited by hand in Jira ({what}); jirabridge does not overwrite it"
