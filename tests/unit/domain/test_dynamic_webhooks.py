"""Which dynamic webhooks an OAuth site keeps, registers, deletes and refreshes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from jirabridge.domain.dynamic_webhooks import EVENTS, Registered, jql_for, plan

NOW = datetime(2026, 11, 1, tzinfo=UTC)
WEB = 'project in ("WEB")'


def hook(ident: int, jql: str = WEB, days: float = 30, events: tuple[str, ...] = EVENTS) -> Registered:
    return Registered(ident, jql, events, NOW + timedelta(days=days))


def test_the_filter_names_the_inbound_projects_sorted_and_none_without_any() -> None:
    assert jql_for(["WEB", "dq", "WEB"]) == 'project in ("DQ", "WEB")'
    assert jql_for([]) is None


def test_nothing_registered_yet_registers_one() -> None:
    assert plan([], WEB, NOW).register_jql == WEB


def test_a_fitting_webhook_is_kept_and_refreshed_only_when_it_expires_within_ten_days() -> None:
    fresh = plan([hook(1, days=25)], WEB, NOW)
    assert (fresh.register_jql, fresh.delete, fresh.refresh) == (None, (), ())
    assert fresh.kept == hook(1, days=25)
    assert plan([hook(1, days=9)], WEB, NOW).refresh == (1,)


def test_another_project_set_or_other_events_replace_it_and_duplicates_go() -> None:
    moved = plan([hook(1, jql='project in ("DQ")')], WEB, NOW)
    assert (moved.register_jql, moved.delete) == (WEB, (1,))
    fewer_events = plan([hook(2, events=EVENTS[:2])], WEB, NOW)
    assert (fewer_events.register_jql, fewer_events.delete) == (WEB, (2,))
    twice = plan([hook(4), hook(3)], WEB, NOW)
    assert (twice.register_jql, twice.delete, twice.kept) == (None, (4,), hook(3))


def test_no_project_left_deletes_every_one() -> None:
    gone = plan([hook(1), hook(2, jql="x")], None, NOW)
    assert (gone.register_jql, gone.delete, gone.kept) == (None, (1, 2), None)
