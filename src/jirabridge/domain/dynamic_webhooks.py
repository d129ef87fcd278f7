"""Dynamic webhooks of an OAuth site: what to register, replace, delete or refresh (pure decisions).

An OAuth app may register webhooks on a site (`POST /rest/api/3/webhook`) for issue and comment events,
filtered by a restricted JQL, and they expire 30 days later unless refreshed. jirabridge keeps exactly
one per site, at the site's webhook URL, for the events inbound sync uses, filtered to the projects
with inbound sync (`project in (…)`); the worker (workers/jira_webhooks.py) compares what Jira lists
with that and acts on the difference.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

EVENTS = (
    "jira:issue_created",
    "jira:issue_updated",
    "jira:issue_deleted",
    "comment_created",
    "comment_updated",
)
# Refreshed when it would expire within this; the worker looks twice a day.
REFRESH_WITHIN = timedelta(days=10)


@dataclass(frozen=True)
class Registered:
    """A dynamic webhook of the site's URL as Jira lists it."""

    id: int
    jql: str
    events: tuple[str, ...]
    expires_at: datetime | None


@dataclass(frozen=True)
class Plan:
    register_jql: str | None  # register one webhook with this filter
    delete: tuple[int, ...]  # stale ones (another project set, other events, duplicates)
    refresh: tuple[int, ...]  # the kept one, when it expires soon
    kept: Registered | None


def jql_for(projects: Iterable[str]) -> str | None:
    """The filter for the projects with inbound sync; None when there is none (no webhook then)."""
    keys = sorted({p.upper() for p in projects})
    if not keys:
        return None
    return "project in (" + ", ".join(f'"{k}"' for k in keys) + ")"


def plan(registered: Sequence[Registered], jql: str | None, now: datetime) -> Plan:
    if jql is None:
        return Plan(None, tuple(w.id for w in registered), (), None)
    fitting = [w for w in registered if w.jql == jql and set(w.events) == set(EVENTS)]
    kept = min(fitting, key=lambda w: w.id) if fitting else None
    stale = tuple(w.id for w in registered if kept is None or w.id != kept.id)
    if kept is None:
        return Plan(jql, stale, (), None)
    expiring = kept.expires_at is not None and kept.expires_at - now < REFRESH_WITHIN
    return Plan(None, stale, (kept.id,) if expiring else (), kept)
