"""Fields for transitions with a screen (SPEC section 3, "Status, outbound": "transitions that need
fields are supported through the mapping").

Real workflows put a screen on some transitions: Done asks for a resolution, giving up for a comment,
a review for a custom field. Jira lists a transition's screen fields when asked
(`expand=transitions.fields`) and refuses the transition with 400 while a required one is missing.
Project settings give the values per target Jira status:

    "transition_fields": {"Done": {"resolution": {"name": "Done"}},
                          "Won't Do": {"resolution": "{attributes.resolution}",
                                       "comment": "Closed by {type} {id}"}}

Values are templates over the item, as field defaults are (domain/templates.py). What `fill` decides:

- only fields the transition's screen shows are sent (Jira refuses any other), so one setting serves
  every transition to that status, with or without a screen;
- a field Jira sets (operations include `set`) goes in `fields`; the comment, and any field Jira only
  adds to, goes in `update` as `[{"add": …}]` (a comment's text becomes its body in ADF);
- a plain string for a resolution or priority is `{"name": …}`, for a select list `{"value": …}`;
- a required field (without a default) that nothing fills, or whose template names something the item
  lacks, is `missing`: the caller sends nothing and says which setting would fill it;
- a screen not known (Jira did not describe it): every configured value is sent as given.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from jirabridge.domain import mappings, templates
from jirabridge.domain.descriptions import text_to_adf
from jirabridge.domain.items import Item

COMMENT = "comment"
_BY_NAME = ("resolution", "priority", "version", "component")
_BY_VALUE = ("option",)


@dataclass(frozen=True)
class ScreenField:
    """One field of a transition screen, as Jira describes it."""

    field_id: str
    name: str
    required: bool
    operations: tuple[str, ...] = ("set",)
    schema_type: str | None = None
    has_default: bool = False


@dataclass(frozen=True)
class MissingField:
    field_id: str
    name: str
    setting: str  # the settings path that would fill it: transition_fields["Done"].resolution


@dataclass(frozen=True)
class Filled:
    fields: dict[str, Any] = field(default_factory=dict)
    update: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    missing: list[MissingField] = field(default_factory=list)


def configured(transition_fields: Mapping[str, Any], target: str) -> tuple[str, Mapping[str, Any]]:
    """The settings key for `target` (matched case-insensitively; `target` itself when none is) and
    the fields it gives."""
    for key, values in transition_fields.items():
        if mappings.same_name(key, target):
            return key, values if isinstance(values, Mapping) else {}
    return target, {}


def setting_path(status_key: str, field_id: str) -> str:
    """How a host names the setting: `transition_fields["Won't Do"].resolution`."""
    return f"transition_fields[{json.dumps(status_key, ensure_ascii=False)}].{field_id}"


def fill(
    screen: Sequence[ScreenField] | None,
    transition_fields: Mapping[str, Any],
    target: str,
    item: Item,
) -> Filled:
    """What to send with a transition to `target` whose screen is `screen` (None: not known)."""
    status_key, values = configured(transition_fields, target)
    rendered = {fid: templates.render(template, item) for fid, template in values.items()}
    given = {fid: value for fid, value in rendered.items() if value is not templates.MISSING}
    filled = Filled()
    if screen is None:
        for field_id, value in given.items():
            _put(filled, field_id, value, None)
        return filled
    for screen_field in screen:
        value = given.get(screen_field.field_id, templates.MISSING)
        if value is not templates.MISSING:
            _put(filled, screen_field.field_id, value, screen_field)
        elif screen_field.required and not screen_field.has_default:
            path = setting_path(status_key, screen_field.field_id)
            filled.missing.append(MissingField(screen_field.field_id, screen_field.name, path))
    return filled


def missing_detail(missing: Sequence[MissingField], issue_key: str, current: str | None, target: str) -> str:
    needs = ", ".join(f"{m.name} ({m.field_id})" for m in missing)
    settings = ", ".join(m.setting for m in missing)
    return (
        f"Jira requires {needs} to move {issue_key} from '{current}' to '{target}'; "
        f"set {settings} in the project settings"
    )


def _put(filled: Filled, field_id: str, value: Any, screen_field: ScreenField | None) -> None:
    operations = screen_field.operations if screen_field else ()
    if field_id == COMMENT or (screen_field is not None and "set" not in operations and "add" in operations):
        if field_id == COMMENT and isinstance(value, str):
            value = {"body": text_to_adf(value)}
        filled.update[field_id] = [{"add": value}]
        return
    schema_type = screen_field.schema_type if screen_field else None
    if isinstance(value, str) and (schema_type in _BY_NAME or field_id in _BY_NAME):
        value = {"name": value}
    elif isinstance(value, str) and schema_type in _BY_VALUE:
        value = {"value": value}
    filled.fields[field_id] = value
