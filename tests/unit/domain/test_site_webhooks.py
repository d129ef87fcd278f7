"""The admin webhook of an API-token site: which one is kept, what is created or deleted."""

from __future__ import annotations

from jirabridge.domain.site_webhooks import AdminPlan, admin_action, admin_plan

JQL = 'project in ("WEB")'


def test_none_at_our_url_is_created() -> None:
    assert admin_plan([], JQL) == AdminPlan(create=True, update=None, delete=())


def test_the_oldest_at_our_url_is_rewritten_and_the_others_deleted() -> None:
    assert admin_plan([12, 7, 30], JQL) == AdminPlan(create=False, update=7, delete=(12, 30))


def test_all_are_deleted_when_no_project_takes_jiras_changes() -> None:
    assert admin_plan([12, 7], None) == AdminPlan(create=False, update=None, delete=(7, 12))
    assert admin_plan([], None) == AdminPlan(create=False, update=None, delete=())


def test_the_action_names_the_url_the_secret_call_and_the_filter() -> None:
    action = admin_action("st_1", "https://bridge.example/webhooks/jira/abc", JQL)
    assert "https://bridge.example/webhooks/jira/abc" in action
    assert "POST /api/v1/sites/st_1/webhook-secret" in action
    assert JQL in action and "comment_updated" in action
