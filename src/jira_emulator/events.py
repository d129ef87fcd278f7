"""An in-process bus for what happened in Jira. Every mutation publishes one `JiraEvent`; the search
index and webhook delivery subscribe to it, so neither has to be remembered at each call site."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from jira_emulator.state import Account, ChangeHistory, Comment, Issue, Site, Worklog


@dataclass
class JiraEvent:
    site: Site
    # Jira's webhookEvent name: "jira:issue_created", "jira:issue_updated", "jira:issue_deleted",
    # "comment_created", "comment_updated", "comment_deleted", "worklog_created", "worklog_updated",
    # "worklog_deleted", "issue_property_set", "issue_property_deleted".
    name: str
    issue: Issue
    actor: Account
    issue_event_type_name: str | None = None  # e.g. "issue_generic", "issue_assigned", "issue_commented"
    changelog: ChangeHistory | None = None
    comment: Comment | None = None
    worklog: Worklog | None = None
    property_key: str | None = None
    timestamp_ms: int = 0


Listener = Callable[[JiraEvent], None]


@dataclass
class EventBus:
    listeners: list[Listener] = field(default_factory=list)

    def subscribe(self, listener: Listener) -> None:
        self.listeners.append(listener)

    def publish(self, event: JiraEvent) -> None:
        for listener in self.listeners:
            listener(event)
