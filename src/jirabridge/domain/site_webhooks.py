"""Where a site's webhook stands, and the admin webhook of an API-token site (pure decisions).

An API-token site's account may be a Jira administrator: then the worker registers the admin webhook
itself (`POST /rest/webhooks/1.0/webhook`, signed with the site's webhook secret, filtered to the
projects with inbound sync) and keeps it in step. Otherwise Jira answers 403 and the site says so,
with the step a Jira administrator must take (`admin_action`), instead of inbound sync silently
waiting for deliveries that never come.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from jirabridge.domain.dynamic_webhooks import EVENTS


class WebhookStatus(StrEnum):
    PENDING = "pending"  # the worker has not registered it yet
    REGISTERED = "registered"
    NOT_REGISTERED = "not_registered"  # Jira refused (not an administrator): a person must act
    NOT_NEEDED = "not_needed"  # no project takes Jira's changes, so no webhook is kept


@dataclass(frozen=True)
class AdminPlan:
    create: bool  # register a new one
    update: int | None  # bring this one up to date (filter, events, secret)
    delete: tuple[int, ...]  # duplicates at our URL, or all of them when none is needed


def admin_plan(ours: Sequence[int], jql: str | None) -> AdminPlan:
    """`ours`: the ids of the admin webhooks at the site's URL, as Jira lists them. One is kept (the
    oldest) and always rewritten: Jira never shows a webhook's secret, so only writing it makes sure
    the one Jira signs with is the site's current one."""
    ordered = sorted(ours)
    if jql is None:
        return AdminPlan(False, None, tuple(ordered))
    if not ordered:
        return AdminPlan(True, None, ())
    return AdminPlan(False, ordered[0], tuple(ordered[1:]))


def admin_action(site_id: str, url: str, jql: str | None) -> str:
    """What a Jira administrator does when the site's account may not register the webhook."""
    return (
        "A Jira administrator creates the webhook in Jira: Settings → System → WebHooks → Create a "
        f"WebHook, with URL {url}, the secret from POST /api/v1/sites/{site_id}/webhook-secret "
        f"(shown once), the events {', '.join(EVENTS)}"
        + (f", and the JQL filter {jql}" if jql else "")
        + ". Or connect the site with a Jira administrator's API token, and jirabridge registers it."
    )


def not_registered_reason(jira_said: str) -> str:
    return f"the site's Jira account may not manage webhooks ({jira_said})"
