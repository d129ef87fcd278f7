"""Form input to Jira field values, by the field's type on the create screen.

Browsers send every input as text; Jira wants an option as `{"value": …}`, a user as
`{"accountId": …}`, a number as a number and a multi-value field as a list.
"""

from __future__ import annotations

from typing import Any

from jirabridge.service.core.ports import FieldMeta

# Fields the create form has inputs of its own for, or that Jira fills itself.
OWN_INPUTS = frozenset(
    {"summary", "description", "priority", "labels", "assignee", "project", "issuetype", "reporter"}
)


def extra_fields(screen_fields: tuple[FieldMeta, ...]) -> list[FieldMeta]:
    """The required fields of a create screen that the form shows inputs for, beyond its own."""
    return [f for f in screen_fields if f.required and not f.has_default and f.field_id not in OWN_INPUTS]


def jira_value(meta: FieldMeta, values: list[str]) -> Any:
    """The Jira value of `meta` from its form values, or None when nothing was entered."""
    values = [v.strip() for v in values if v.strip()]
    if not values:
        return None
    kind = meta.schema_type
    if kind == "array":
        if meta.allowed_values is not None:
            return [{"value": v} for v in values]
        return [part for v in values for part in v.replace(",", " ").split()]
    first = values[0]
    if kind == "option":
        return {"value": first}
    if kind == "user":
        return {"accountId": first}
    if kind == "number":
        try:
            number = float(first)
        except ValueError:
            return first  # Jira names the field in its answer; the form shows it
        return int(number) if number.is_integer() else number
    return first


def input_kind(meta: FieldMeta) -> str:
    """Which input the template renders: select, multiselect, number, date or text."""
    if meta.allowed_values is not None:
        return "multiselect" if meta.schema_type == "array" else "select"
    return {"number": "number", "date": "date"}.get(meta.schema_type or "", "text")
