"""Jira's search index is eventually consistent: a change reaches JQL `site.index_lag_s` seconds after
it happened, and search results show the issue as it was indexed (stale fields included).

The index listens to the event bus and keeps, per issue, snapshots with the moment each becomes
visible (`Site.search_snapshots`, so a reset drops it). A search sees the newest visible snapshot of
each issue: a new issue is missing until the lag passes, an edited one matches (and shows) its old
state, a deleted one stays findable. `reconcileIssues` swaps in the live issue for the ids it names,
which is Jira's documented read-your-writes escape hatch.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI

from jira_emulator.events import JiraEvent
from jira_emulator.state import Issue, Site

_ALWAYS = datetime.min.replace(tzinfo=UTC)


def install(app: FastAPI) -> None:
    """Subscribe the index to the app's event bus (the state is read per event: a reset replaces it)."""

    def on_event(event: JiraEvent) -> None:
        record(event.site, event, app.state.emulator.now())

    app.state.bus.subscribe(on_event)


def snapshot(issue: Issue) -> Issue:
    """A copy that later changes to the issue do not reach: the fields JQL reads are copied, lists of
    comments, worklogs and history are copied as lists (their items are not edited in place by JQL)."""
    return dataclasses.replace(
        issue,
        labels=list(issue.labels),
        custom=copy.deepcopy(issue.custom),
        description=copy.deepcopy(issue.description),
        comments=list(issue.comments),
        worklogs=list(issue.worklogs),
        remote_links=list(issue.remote_links),
        properties=copy.deepcopy(issue.properties),
        changelog=list(issue.changelog),
    )


def index_now(site: Site) -> None:
    """Index every issue of the site as visible at once (the seed's issues)."""
    for issue_id, issue in site.issues.items():
        site.search_snapshots[issue_id] = [(_ALWAYS, snapshot(issue))]


def record(site: Site, event: JiraEvent, now: datetime) -> None:
    issue = event.issue
    entries = site.search_snapshots.setdefault(issue.id, [])
    if not entries and event.name != "jira:issue_created":
        # An issue that never reached the index (made without an event): its state before this
        # change is unknown, so this one is visible at once.
        entries.append((_ALWAYS, snapshot(issue)))
        return
    visible_at = now + timedelta(seconds=site.index_lag_s)
    deleted = event.name == "jira:issue_deleted"
    entries.append((visible_at, None if deleted else snapshot(issue)))
    _prune(site, issue.id, now)


def _prune(site: Site, issue_id: str, now: datetime) -> None:
    """Keep the newest visible snapshot and the pending ones; forget an issue deleted for good."""
    entries = site.search_snapshots[issue_id]
    visible = [i for i, (at, _) in enumerate(entries) if at <= now]
    if visible:
        del entries[: visible[-1]]
    if len(entries) == 1 and entries[0][1] is None and entries[0][0] <= now:
        del site.search_snapshots[issue_id]


def searchable(site: Site, now: datetime, reconcile: Iterable[str] = ()) -> list[Issue]:
    """The issues JQL sees at `now`: the newest visible snapshot of each, the live issue for the ids in
    `reconcile` (absent if it was deleted), and live issues the index never saw."""
    wanted = set(reconcile)
    found: list[Issue] = []
    for issue_id, entries in site.search_snapshots.items():
        if issue_id in wanted:
            continue
        current = _visible(entries, now)
        if current is not None:
            found.append(current)
    found.extend(
        issue
        for issue_id, issue in site.issues.items()
        if issue_id in wanted or issue_id not in site.search_snapshots
    )
    return found


def _visible(entries: list[tuple[datetime, Issue | None]], now: datetime) -> Issue | None:
    # The last change (in the order they happened) that has reached the index; entries may be out
    # of order in time when the lag was shortened in between.
    current: Issue | None = None
    for at, issue in entries:
        if at <= now:
            current = issue
    return current
