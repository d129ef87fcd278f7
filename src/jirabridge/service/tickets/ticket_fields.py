"""The Jira fields of a new ticket (SPEC section 3, "Creating a ticket"), shared by tickets created by
hand (service/tickets/tickets.py), by a rule's auto-create (service/rules/routing.py) and by the rules
preview.

Precedence, lowest first: the project's field defaults (`*`, then the issue type's), the matching
rule's `fields`, then the request's own `fields`; summary, description, priority, labels and
assignee come from the request (falling back to the item; the priority to a `priority` the fields
set, then to the project's severity mapping). Field
defaults and rule fields are templates over the item (domain/templates.py). The result is checked
against the create screen: a required field still missing raises Invalid naming `fields.<id>`.

No I/O: the caller reads the create screen (from Jira, or the snapshot a rule keeps) and the project
settings first.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jirabridge.domain import mappings, templates
from jirabridge.domain.descriptions import ticket_description
from jirabridge.domain.items import Item
from jirabridge.errors import FieldError, Invalid
from jirabridge.service.sites.metadata import CreateScreen

MARKER_PREFIX = "jb-"
# Fields Jira fills itself when they are left out.
FILLED_BY_JIRA = ("reporter",)


@dataclass(frozen=True)
class TicketRequest:
    site: str | None = None
    project: str | None = None
    issue_type: str | None = None
    summary: str | None = None
    description: str | None = None
    priority: str | None = None
    labels: list[str] = field(default_factory=list)
    assignee: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)


def new_marker() -> str:
    """The label that lets the worker find an issue it may already have created (workers/jira_create)."""
    return MARKER_PREFIX + secrets.token_hex(6)


def build_fields(
    item: Item,
    *,
    project: str,
    settings: Mapping[str, Any],
    screen: CreateScreen,
    request: TicketRequest,
    rule_fields: Mapping[str, Any] | None = None,
    assignee_account: str | None = None,
) -> dict[str, Any]:
    """The fields of the create call, or Invalid naming each required field that is missing."""
    fields: dict[str, Any] = {}
    defaults = settings.get("field_defaults") or {}
    layers = [defaults.get("*") or {}, defaults.get(screen.issue_type_name) or {}, rule_fields or {}]
    for layer in layers:
        for field_id, template in layer.items():
            value = templates.render(template, item)
            if value is not templates.MISSING:
                fields[field_id] = value
    fields.update(request.fields)
    fields["project"] = {"key": project}
    fields["issuetype"] = {"id": screen.issue_type_id}
    fields["summary"] = (request.summary or item.title)[:255]
    fields["description"] = ticket_description(request.description, item)
    # The request's priority, else one the request's or the rule's fields set, else the project's
    # severity mapping.
    set_as_field = "priority" in fields and "priority" in {*request.fields, *(rule_fields or {})}
    priority = request.priority
    if not priority and not set_as_field:
        priority = mappings.priority_for(settings.get("priority_map") or {}, item.severity, None)
    if priority and screen.has("priority"):
        fields["priority"] = {"name": priority}
    labels = [*request.labels, *(fields.get("labels") or [])]
    fields["labels"] = list(dict.fromkeys(labels))
    if assignee_account:
        fields["assignee"] = {"accountId": assignee_account}
    missing = [f for f in screen.required if f.field_id not in fields and f.field_id not in FILLED_BY_JIRA]
    if missing:
        raise Invalid(
            "required Jira fields are missing: " + ", ".join(f"{f.name} ({f.field_id})" for f in missing),
            errors=[missing_field(f.field_id, f.name, project, screen.issue_type_name) for f in missing],
        )
    if not screen.has("description"):
        fields.pop("description")
    return fields


def missing_field(field_id: str, name: str, project: str, issue_type: str) -> FieldError:
    return FieldError(f"fields.{field_id}", f"{name} is required by Jira for {issue_type} in {project}")
