"""What a webhook delivery says: the JSON body in Jira's shape, and which webhooks an event matches.

Jira renders webhook payloads with the REST v2 representations (plain strings, not ADF), whatever API
version caused the change, and with `self` links on the site's own https URL.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from jira_emulator.context import Ctx
from jira_emulator.events import EventBus, JiraEvent
from jira_emulator.render import changelog_json, comment_json, issue_json, user_ref, worklog_json
from jira_emulator.state import EmulatorState, Issue, Webhook

ISSUE_EVENTS = ("jira:issue_created", "jira:issue_updated", "jira:issue_deleted")
COMMENT_EVENTS = ("comment_created", "comment_updated", "comment_deleted")
WORKLOG_EVENTS = ("worklog_created", "worklog_updated", "worklog_deleted")
PROPERTY_EVENTS = ("issue_property_set", "issue_property_deleted")
ADMIN_EVENTS = frozenset(ISSUE_EVENTS + COMMENT_EVENTS + WORKLOG_EVENTS + PROPERTY_EVENTS)
# The events an OAuth app may register (the enum of Atlassian's WebhookDetails): no worklog events.
DYNAMIC_EVENTS = frozenset(ISSUE_EVENTS + COMMENT_EVENTS + PROPERTY_EVENTS)

# Fields of the slim issue Jira puts into comment and property events.
_SLIM_FIELDS = ("summary", "issuetype", "project", "assignee", "priority", "status")

# Evaluates a webhook's JQL filter against an issue; None when the filter cannot be evaluated.
JqlMatcher = Callable[[Webhook, Issue], bool]


def payload_ctx(state: EmulatorState, event: JiraEvent, bus: EventBus) -> Ctx:
    return Ctx(
        state=state, site=event.site, base_url=event.site.base_url, gateway=False, api_version=2, bus=bus
    )


def build_payload(ctx: Ctx, event: JiraEvent) -> dict[str, Any]:
    """The body every webhook matching `event` receives (dynamic ones add `matchedWebhookIds`)."""
    body: dict[str, Any] = {"timestamp": event.timestamp_ms, "webhookEvent": event.name}
    if event.name in ISSUE_EVENTS:
        body["issue_event_type_name"] = event.issue_event_type_name or _default_type(event.name)
        body["user"] = user_ref(ctx, event.actor.account_id)
        body["issue"] = issue_json(ctx, event.site, event.issue)
        if event.changelog is not None:
            # Jira's webhook carries the change's id and items (its author and time are the event's).
            changes = changelog_json(ctx, event.changelog)
            body["changelog"] = {"id": changes["id"], "items": changes["items"]}
    elif event.name in COMMENT_EVENTS and event.comment is not None:
        body["comment"] = comment_json(ctx, event.issue, event.comment)
        body["issue"] = _slim_issue(ctx, event)
        body["eventType"] = "primaryAction"
    elif event.name in WORKLOG_EVENTS and event.worklog is not None:
        body["worklog"] = worklog_json(ctx, event.issue, event.worklog)
    elif event.name in PROPERTY_EVENTS:
        body["property"] = {"key": event.property_key}
        if event.name == "issue_property_set" and event.property_key is not None:
            body["property"]["value"] = event.issue.properties.get(event.property_key)
        body["issue"] = _slim_issue(ctx, event)
        body["user"] = user_ref(ctx, event.actor.account_id)
    return body


def _default_type(name: str) -> str:
    return {"jira:issue_created": "issue_created", "jira:issue_deleted": "issue_deleted"}.get(
        name, "issue_generic"
    )


def _slim_issue(ctx: Ctx, event: JiraEvent) -> dict[str, Any]:
    full = issue_json(ctx, event.site, event.issue, fields=list(_SLIM_FIELDS))
    return {"id": full["id"], "self": full["self"], "key": full["key"], "fields": full["fields"]}


def matches(webhook: Webhook, event: JiraEvent, now: datetime, jql: JqlMatcher) -> bool:
    """Whether `webhook` wants `event`: subscribed, enabled, unexpired, passing its filters, and (for
    an app's webhook) about an issue the user who registered it may see."""
    if not webhook.enabled or event.name not in webhook.events:
        return False
    if webhook.kind == "dynamic":
        if event.name not in DYNAMIC_EVENTS or (webhook.expires_at is not None and webhook.expires_at <= now):
            return False
        if not _user_can_browse(webhook, event):
            return False
        if event.name == "jira:issue_updated" and webhook.field_ids_filter:
            changed = {i.field_id for i in event.changelog.items} if event.changelog else set()
            if not changed & set(webhook.field_ids_filter):
                return False
        keys = webhook.issue_property_keys_filter
        if event.name in PROPERTY_EVENTS and keys and event.property_key not in keys:
            return False
    return not webhook.jql_filter or jql(webhook, event.issue)


def _user_can_browse(webhook: Webhook, event: JiraEvent) -> bool:
    if webhook.account_id is None or webhook.account_id not in event.site.members:
        return False
    project = event.site.projects.get(event.issue.project_key)
    return project is not None and project.has_permission(webhook.account_id, "BROWSE_PROJECTS")
