"""Transitions per workflow, remembered by the status sync so that moving an issue costs one Jira call
instead of two (read the transitions, then post one).

Which transitions an issue offers depends on its workflow — fixed by its project and issue type — and
on the status it is in. `issue.sync_status` reads the issue with its transitions the first time it meets
a (site, project, issue type, status) and remembers them for `TTL`. Later, for a link whose Jira status
and issue type are known, it posts the remembered transition at once. A transition id is only used in
the workflow it was read from, so it can only take the issue to the status it names; when Jira refuses
it (the issue was moved in Jira meanwhile), the sync reads the issue and decides as usual. Each
transition's screen fields are remembered with it, so the fields it needs are sent on the first call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from jirabridge import jira
from jirabridge.domain.transition_fields import ScreenField

TTL = timedelta(minutes=5)
MAX_ENTRIES = 2000  # a bound, not a tuning knob

_Key = tuple[str, str, str, str]  # site id, project key, issue type id, status (casefolded)


@dataclass(frozen=True)
class KnownTransition:
    id: str
    to: str
    category: str | None
    screen: tuple[ScreenField, ...] | None = None  # None: Jira did not describe the screen


def screen_of(transition: jira.Transition) -> tuple[ScreenField, ...] | None:
    """The screen fields of a transition read with `expand=transitions.fields`."""
    if transition.fields is None:  # not expanded: still, a transition without a screen takes no fields
        return None if transition.has_screen else ()
    return tuple(
        ScreenField(
            field_id=field_id,
            name=str(meta.get("name") or field_id),
            required=bool(meta.get("required")),
            operations=tuple(str(op) for op in meta.get("operations") or ("set",)),
            schema_type=(meta.get("schema") or {}).get("type"),
            has_default=bool(meta.get("hasDefaultValue")),
        )
        for field_id, meta in transition.fields.items()
    )


class TransitionCache:
    def __init__(self, ttl: timedelta = TTL) -> None:
        self.ttl = ttl
        self._entries: dict[_Key, tuple[datetime, tuple[KnownTransition, ...]]] = {}

    @staticmethod
    def _key(site_id: str, project: str, issue_type_id: str, status: str) -> _Key:
        return (site_id, project.upper(), issue_type_id, status.casefold())

    def remember(
        self,
        site_id: str,
        project: str,
        issue_type_id: str,
        status: str,
        transitions: Sequence[jira.Transition],
        now: datetime,
    ) -> None:
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        known = tuple(
            KnownTransition(
                t.id, t.to.name, t.to.status_category.key if t.to.status_category else None, screen_of(t)
            )
            for t in transitions
        )
        self._entries[self._key(site_id, project, issue_type_id, status)] = (now + self.ttl, known)

    def find(
        self, site_id: str, project: str, issue_type_id: str, status: str, target: str, now: datetime
    ) -> KnownTransition | None:
        """The remembered transition from `status` to `target`, if one is known and fresh."""
        entry = self._entries.get(self._key(site_id, project, issue_type_id, status))
        if entry is None or entry[0] <= now:
            return None
        wanted = target.casefold()
        return next((t for t in entry[1] if t.to.casefold() == wanted), None)
