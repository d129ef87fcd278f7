"""Jira webhook payloads → the inbound change values of `domain/inbound.py`.

Jira renders webhook bodies with the REST v2 representations whatever API version caused the change:
texts are plain strings (an ADF document is still accepted, as text), times look like
`2024-01-15T10:30:00.000+0000`, users are `{accountId, displayName, emailAddress?}`.

    jira:issue_created / jira:issue_updated  → IssueSnapshot (status, assignee when the payload's fields
                                               carry `assignee`, the acting `user`, `fields.updated`)
    jira:issue_deleted                       → IssueDeleted
    comment_created / comment_updated        → CommentChanged
    anything else                            → None (answered 200 and ignored)

A payload of a known event that lacks what the change needs raises `MalformedPayload`: it was
signed by Jira (verification runs first), so it is a shape we do not understand, not an attack.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from jirabridge import jira
from jirabridge.domain import inbound as domain

ISSUE_EVENTS = ("jira:issue_created", "jira:issue_updated")
DELETE_EVENT = "jira:issue_deleted"
COMMENT_EVENTS = ("comment_created", "comment_updated")
# The events a webhook for jirabridge subscribes to (dynamic registration, the admin set-up docs).
HANDLED_EVENTS = (*ISSUE_EVENTS, DELETE_EVENT, *COMMENT_EVENTS)


class MalformedPayload(ValueError):
    """A delivery of a handled event without the parts the change needs."""


def event_name(payload: Mapping[str, Any]) -> str | None:
    name = payload.get("webhookEvent")
    return name if isinstance(name, str) else None


def parse(payload: Mapping[str, Any]) -> domain.Change | None:
    """The change a delivery reports, or None for an event jirabridge does not use."""
    name = event_name(payload)
    if name in ISSUE_EVENTS:
        return _snapshot(payload)
    if name == DELETE_EVENT:
        issue = _issue(payload)
        return domain.IssueDeleted(key=_key(issue), id=_optional_str(issue.get("id")))
    if name in COMMENT_EVENTS:
        issue = _issue(payload)
        raw = payload.get("comment")
        if not isinstance(raw, Mapping):
            raise MalformedPayload(f"{name} without a comment object")
        return domain.CommentChanged(
            issue_key=_key(issue), issue_id=_optional_str(issue.get("id")), comment=_comment(raw)
        )
    return None


def _snapshot(payload: Mapping[str, Any]) -> domain.IssueSnapshot:
    issue = _issue(payload)
    fields = issue.get("fields")
    if not isinstance(fields, Mapping):
        raise MalformedPayload("issue without fields")
    updated = fields.get("updated")
    if updated is not None:
        moment = _time(updated, "issue.fields.updated")
    elif isinstance(payload.get("timestamp"), int):  # a webhook filtered to a few fields
        moment = datetime.fromtimestamp(payload["timestamp"] / 1000, UTC)
    else:
        raise MalformedPayload("issue without fields.updated or a timestamp")
    status = fields.get("status")
    name = category = None
    if isinstance(status, Mapping):
        name = _optional_str(status.get("name"))
        found = status.get("statusCategory")
        category = _optional_str(found.get("key")) if isinstance(found, Mapping) else None
    return domain.IssueSnapshot(
        key=_key(issue),
        id=_optional_str(issue.get("id")),
        updated=moment,
        status=name,
        status_category=category,
        has_assignee="assignee" in fields,
        assignee=_user(fields.get("assignee")),
        actor=_user(payload.get("user")),
    )


def _comment(raw: Mapping[str, Any]) -> domain.CommentSnapshot:
    ident = _optional_str(raw.get("id"))
    if not ident:
        raise MalformedPayload("comment without an id")
    body = raw.get("body")
    text = body if isinstance(body, str) else jira.adf.to_text(body) if isinstance(body, dict) else ""
    created = _time(raw.get("created"), "comment.created")
    updated = _time(raw.get("updated"), "comment.updated") if raw.get("updated") else created
    return domain.CommentSnapshot(
        id=ident, body=text, author=_user(raw.get("author")), created=created, updated=updated
    )


def _issue(payload: Mapping[str, Any]) -> Mapping[str, Any]:
    issue = payload.get("issue")
    if not isinstance(issue, Mapping):
        raise MalformedPayload(f"{event_name(payload)} without an issue object")
    return issue


def _key(issue: Mapping[str, Any]) -> str:
    key = issue.get("key")
    if not isinstance(key, str) or not key:
        raise MalformedPayload("issue without a key")
    return key


def _user(raw: object) -> domain.JiraUser | None:
    if not isinstance(raw, Mapping):
        return None
    account_id = raw.get("accountId")
    if not isinstance(account_id, str) or not account_id:
        return None
    return domain.JiraUser(
        account_id, _optional_str(raw.get("displayName")) or None, _optional_str(raw.get("emailAddress"))
    )


def _optional_str(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str | int):
        return str(value)
    return None


def _time(value: object, where: str) -> datetime:
    if not isinstance(value, str):
        raise MalformedPayload(f"{where} is missing")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise MalformedPayload(f"{where} is not a time: {value[:40]!r}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
