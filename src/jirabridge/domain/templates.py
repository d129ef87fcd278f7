"""Templates over an item: field defaults of a project (SPEC section 3, "Creating a ticket") and the
status comment (`comment` status sync).

Field defaults are JSON values whose strings may name the item's fields:

    {"labels": ["svc-{attributes.service}", "from-host"], "customfield_10050": "{severity}"}

- Placeholders: {type}, {id}, {title}, {description}, {status}, {severity}, {assignee} (the host user
  id), {url} and {attributes.NAME}; NAME may be a dotted path into an attribute holding an object
  (`{attributes.k8s.namespace}`), an attribute literally named with dots is found first. `{{` and `}}`
  write a brace. Formats and conversions (`{severity:>5}`, `{title!r}`) are not supported.
- A string that is exactly one placeholder keeps the value's type, so a number field gets a number
  (`"{attributes.points}"` -> 5) and a list attribute a list; in longer text values are written as
  text (true/false for booleans, items joined by ", " for a list).
- A placeholder whose value is missing, null, blank or an empty list makes its string MISSING: the
  caller leaves the field out rather than writing an empty or half-filled value.
- Lists render element by element and drop MISSING elements; a list that loses all of its elements is
  MISSING. A string element that renders to a list is spliced in (`["team", "{attributes.tags}"]`).
- Objects render value by value; an object with a MISSING value is MISSING (`{"name": "{x}"}` without
  x would be a malformed option).
- Numbers and booleans are written as they are; `null` is refused by `validate`.
"""

from __future__ import annotations

import json
import string
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Final

from jirabridge.domain.items import Item
from jirabridge.domain.settings import DEFAULT_COMMENT_TEMPLATE


class Missing(Enum):
    """The type of MISSING: "leave this field out"."""

    MISSING = "MISSING"

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = Missing.MISSING

ITEM_FIELDS = ("type", "id", "title", "description", "status", "severity", "assignee", "url")
ATTRIBUTES = "attributes."
PLACEHOLDERS = ", ".join([*(f"{{{name}}}" for name in ITEM_FIELDS), "{attributes.NAME}"])
MAX_DEPTH = 8

_Part = tuple[str, str | None, str | None, str | None]


def _parse(template: str) -> list[_Part]:
    """(literal text, placeholder name, format spec, conversion) in order; ValueError when malformed."""
    return list(string.Formatter().parse(template))


# -- field defaults ------------------------------------------------------------------------------


def render(template: Any, item: Item) -> Any | Missing:
    """The template filled in from `item`, or MISSING when the field should be left out."""
    if isinstance(template, str):
        return _render_string(template, item)
    if template is None:
        return MISSING
    if isinstance(template, list):
        rendered: list[Any] = []
        for element in template:
            value = render(element, item)
            if value is MISSING:
                continue
            if isinstance(element, str) and isinstance(value, list):
                rendered.extend(value)
            else:
                rendered.append(value)
        return MISSING if template and not rendered else rendered
    if isinstance(template, Mapping):
        result = {key: render(value, item) for key, value in template.items()}
        return MISSING if any(value is MISSING for value in result.values()) else result
    return template  # a number or a boolean


def _render_string(template: str, item: Item) -> Any | Missing:
    try:
        parts = _parse(template)
    except ValueError:
        return MISSING  # refused by validate(); never write a half-understood value
    if len(parts) == 1 and parts[0][0] == "":
        _, name, spec, conversion = parts[0]
        if name is not None:  # exactly one placeholder: the value keeps its type
            value = _value(item, name)
            if isinstance(value, list | tuple):  # no empty labels or options
                value = [element for element in value if not _empty(element)]
            return MISSING if spec or conversion or _empty(value) else value
    out: list[str] = []
    for literal, name, spec, conversion in parts:
        out.append(literal)
        if name is None:
            continue
        value = _value(item, name)
        if spec or conversion or _empty(value):
            return MISSING
        out.append(_as_text(value))
    return "".join(out)


def _value(item: Item, name: str) -> Any:
    if name.startswith(ATTRIBUTES):
        return _attribute(item.attributes, name[len(ATTRIBUTES) :])
    if name in ITEM_FIELDS:
        return getattr(item, name)
    return MISSING


def _attribute(attributes: Mapping[str, Any], path: str) -> Any:
    if not path:
        return MISSING
    if path in attributes:
        return attributes[path]
    current: Any = attributes
    for part in path.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return MISSING
        current = current[part]
    return current


def _empty(value: Any) -> bool:
    if value is None or value is MISSING:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list | tuple | dict):
        return not value
    return False


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ", ".join(_as_text(v) for v in value if not _empty(v))
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return str(value)


def validate(template: Any) -> list[str]:
    """Everything wrong with a field default, each as a sentence; empty when it is valid."""
    problems: list[str] = []
    _check(template, "", 0, problems)
    return problems


def _check(template: Any, where: str, depth: int, problems: list[str]) -> None:
    def add(message: str) -> None:
        problems.append(f"{where}: {message}" if where else message)

    if depth > MAX_DEPTH:
        add(f"is nested more than {MAX_DEPTH} levels deep")
    elif isinstance(template, str):
        for message in _string_problems(template):
            add(message)
    elif template is None:
        add("must not be null; leave the field out instead")
    elif isinstance(template, list):
        for index, element in enumerate(template):
            _check(element, f"{where}[{index}]", depth + 1, problems)
    elif isinstance(template, Mapping):
        for key, value in template.items():
            if not isinstance(key, str):
                add(f"the key {key!r} must be a string")
                continue
            _check(value, f"{where}.{key}" if where else key, depth + 1, problems)
    elif not isinstance(template, bool | int | float):
        add("must be a string, number, boolean, list or object")


def _string_problems(template: str) -> list[str]:
    try:
        parts = _parse(template)
    except ValueError as exc:
        return [f"{template!r} is not a valid template ({exc}); write a literal brace as {{{{ or }}}}"]
    problems: list[str] = []
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        written = _as_written(name, spec, conversion)
        if spec or conversion:
            problems.append(f"{written}: formats and conversions are not supported; write {{{name}}}")
        elif not _known(name):
            problems.append(f"unknown placeholder {written}; the placeholders are {PLACEHOLDERS}")
    return problems


def _known(name: str) -> bool:
    if name.startswith(ATTRIBUTES):
        path = name[len(ATTRIBUTES) :]
        return bool(path) and all(path.split(".")) and not any(c in path for c in "[]")
    return name in ITEM_FIELDS


def _as_written(name: str, spec: str | None, conversion: str | None) -> str:
    return "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"


# -- status comments -----------------------------------------------------------------------------


def format_timestamp(moment: datetime) -> str:
    """`2024-01-15 10:30:00 UTC`. A naive datetime is taken to be UTC already."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def display_type(item_type: str) -> str:
    """An item type as a word in a sentence: `anomaly` -> `Anomaly`, `error_issue` -> `Error issue`.
    Only the first letter changes case, so `API_key` stays `API key`."""
    words = item_type.replace("_", " ").replace("-", " ").strip()
    return words[:1].upper() + words[1:]


def comment_text(
    template: str | None,
    *,
    timestamp: datetime,
    host: str,
    item_type: str,
    status: str,
    item: Item,
    previous_status: str | None = None,
) -> str:
    """The comment posted for a status change in `comment` mode; by default
    `[2024-01-15 10:30:00 UTC] Qualytics Anomaly Status: Acknowledged`.

    Placeholders (those `settings.TEMPLATE_PLACEHOLDERS` accepts): {timestamp}, {host}, {item_type},
    {item_id}, {title}, {status}, {previous_status}, {url}. One it does not know, or a format its value
    refuses, is written as it stands rather than failing the sync."""
    values = {
        "timestamp": format_timestamp(timestamp),
        "host": host,
        "item_type": display_type(item_type),
        "item_id": item.id,
        "title": item.title,
        "status": status,
        "previous_status": previous_status or "",
        "url": item.url or "",
    }
    template = template or DEFAULT_COMMENT_TEMPLATE
    try:
        parts = _parse(template)
    except ValueError:
        return template  # stored before it was validated: show it as written
    out: list[str] = []
    for literal, name, spec, conversion in parts:
        out.append(literal)
        if name is None:
            continue
        out.append(_fill(values, name, spec, conversion))
    return "".join(out)


def _fill(values: Mapping[str, str], name: str, spec: str | None, conversion: str | None) -> str:
    if name not in values or conversion not in (None, "s", "r", "a"):
        return _as_written(name, spec, conversion)
    value = values[name]
    shown = {"r": repr, "a": ascii}.get(conversion or "s", str)(value)
    try:
        return format(shown, spec or "")
    except ValueError:
        return _as_written(name, spec, conversion)
