"""Shared steps of every change to an issue: stamp `updated`, record the changelog with its author,
and publish the event (which feeds the search index and webhooks)."""

from __future__ import annotations

from typing import Any

from jira_emulator.context import Ctx
from jira_emulator.events import JiraEvent
from jira_emulator.state import Account, ChangeHistory, ChangeItem, Comment, Issue, Worklog


def publish(
    ctx: Ctx,
    name: str,
    issue: Issue,
    actor: Account,
    *,
    event_type: str | None = None,
    changelog: ChangeHistory | None = None,
    comment: Comment | None = None,
    worklog: Worklog | None = None,
    property_key: str | None = None,
) -> None:
    event = JiraEvent(
        site=ctx.site,
        name=name,
        issue=issue,
        actor=actor,
        issue_event_type_name=event_type,
        changelog=changelog,
        comment=comment,
        worklog=worklog,
        property_key=property_key,
        timestamp_ms=int(ctx.state.now().timestamp() * 1000),
    )
    ctx.bus.publish(event)


def record_change(
    ctx: Ctx,
    issue: Issue,
    actor: Account,
    items: list[ChangeItem],
    *,
    event_type: str = "issue_generic",
    publish_event: bool = True,
) -> ChangeHistory | None:
    """Stamp the issue, append a changelog entry when something changed, and publish
    `jira:issue_updated`. Returns the history entry (None when nothing changed)."""
    if not items:
        return None
    now = ctx.state.now()
    issue.updated = now
    history = ChangeHistory(id=ctx.site.next_id(), author=actor.account_id, created=now, items=items)
    issue.changelog.append(history)
    if publish_event:
        publish(ctx, "jira:issue_updated", issue, actor, event_type=event_type, changelog=history)
    return history


def touch(ctx: Ctx, issue: Issue) -> None:
    """A change with no changelog entry of its own (a comment, a worklog) still moves `updated`."""
    issue.updated = ctx.state.now()


def add_comment(
    ctx: Ctx,
    issue: Issue,
    author: Account,
    body: dict[str, Any],
    *,
    visibility: dict[str, Any] | None = None,
    properties: dict[str, Any] | None = None,
) -> Comment:
    """A new comment by `author` (through the comment API or a transition's `update.comment`)."""
    now = ctx.state.now()
    comment = Comment(
        id=ctx.site.next_id(),
        author=author.account_id,
        body=body,
        created=now,
        updated=now,
        update_author=author.account_id,
        visibility=visibility,
        properties=dict(properties or {}),
    )
    issue.comments.append(comment)
    touch(ctx, issue)
    publish(ctx, "comment_created", issue, author, event_type="issue_commented", comment=comment)
    return comment
