"""The project settings form: the settings document as rows and texts, and back.

A browser sends every input as text, and a map as rows of two inputs (`status_host` / `status_jira`
in order, and so on), so this module turns a stored document into what the form shows, a posted
form into the document `PUT /api/v1/sites/{site}/projects/{key}` takes, and the service's field paths
(`status_map.Fixed`, `field_defaults.Bug.customfield_10051`) into the ids of the inputs they belong to.
It decides nothing about the settings themselves: the service validates the document.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import FormData

# Each map of the document: its rows' input names (left, right) in the form.
MAPS = {
    "status_map": ("status_host", "status_jira"),
    "inbound_status_map": ("inbound_jira", "inbound_host"),
    "priority_map": ("severity", "priority"),
}
TEXTS = (
    "default_issue_type",
    "status_sync",
    "assignee_sync",
    "comment_sync",
    "resolved_status",
    "on_link_status",
    "on_create_status",
    "comment_template",
)
TRANSITIONS = "transition_fields"  # rows of (Jira status, field id, value): tf_status, tf_field, tf_value
LISTS = ("on_link_status_from", "on_create_status_from")  # comma-separated host statuses
FD_PREFIX = "fd:"  # a field default's input: fd:<issue type>:<field id>


@dataclass
class Row:
    left: str = ""
    right: str = ""
    value: str = ""  # a transition field's value (its row: status, field id, value)


@dataclass
class ProjectForm:
    """What the form shows: every value as text, each map as rows."""

    texts: dict[str, str] = field(default_factory=dict)
    rows: dict[str, list[Row]] = field(default_factory=dict)
    poll_interval_s: str = "300"
    field_defaults: dict[str, dict[str, str]] = field(default_factory=dict)  # issue type → field → text

    def text(self, name: str) -> str:
        return self.texts.get(name, "")

    def field_default(self, issue_type: str, field_id: str) -> str:
        return self.field_defaults.get(issue_type, {}).get(field_id, "")


def fd_name(issue_type: str, field_id: str) -> str:
    return f"{FD_PREFIX}{issue_type}:{field_id}"


def fd_id(issue_type: str, field_id: str) -> str:
    """An HTML id for a field default's input (an issue type's name may hold spaces)."""
    return "fd-" + re.sub(r"[^A-Za-z0-9_-]", "_", issue_type) + "-" + field_id


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def from_settings(settings: Mapping[str, Any]) -> ProjectForm:
    """The form of a stored document (or of `{}` for a project without settings)."""
    form = ProjectForm()
    for name in TEXTS:
        value = settings.get(name)
        form.texts[name] = value if isinstance(value, str) else ""
    form.texts.setdefault("status_sync", "two_way")
    if not form.texts["status_sync"]:
        form.texts["status_sync"] = "two_way"
    for name in ("assignee_sync", "comment_sync"):
        form.texts[name] = form.texts[name] or "off"
    for name in LISTS:
        value = settings.get(name)
        form.texts[name] = ", ".join(value) if isinstance(value, list) else ""
    for name in MAPS:
        form.rows[name] = [Row(k, str(v)) for k, v in (settings.get(name) or {}).items()]
    form.rows[TRANSITIONS] = [
        Row(status, field_id, _as_text(value))
        for status, fields in (settings.get(TRANSITIONS) or {}).items()
        for field_id, value in fields.items()
    ]
    form.poll_interval_s = str(settings.get("poll_interval_s", 300))
    for issue_type, fields in (settings.get("field_defaults") or {}).items():
        form.field_defaults[issue_type] = {f: _as_text(v) for f, v in fields.items()}
    return form


def _texts(form: FormData, name: str) -> list[str]:
    return [v.strip() for v in form.getlist(name) if isinstance(v, str)]


def from_form(form: FormData) -> ProjectForm:
    """The form as it was posted (rows kept in order, blank rows dropped)."""
    found = ProjectForm()
    for name in (*TEXTS, *LISTS):
        value = form.get(name)
        found.texts[name] = value.strip() if isinstance(value, str) else ""
    for name, (left, right) in MAPS.items():
        pairs = zip(_texts(form, left), _texts(form, right), strict=False)
        found.rows[name] = [Row(a, b) for a, b in pairs if a or b]
    triples = zip(_texts(form, "tf_status"), _texts(form, "tf_field"), _texts(form, "tf_value"), strict=False)
    found.rows[TRANSITIONS] = [Row(a, b, c) for a, b, c in triples if a or b or c]
    poll = form.get("poll_interval_s")
    found.poll_interval_s = poll.strip() if isinstance(poll, str) else ""
    for key, value in form.multi_items():
        if key.startswith(FD_PREFIX) and isinstance(value, str):
            issue_type, _, field_id = key[len(FD_PREFIX) :].rpartition(":")
            if issue_type and field_id:
                found.field_defaults.setdefault(issue_type, {})[field_id] = value.strip()
    return found


def _template_value(text: str) -> Any:
    """A field default's text: JSON when it is a list or an object (`["a", "{severity}"]`), else the
    template string itself."""
    if text.startswith(("[", "{")) and text.endswith(("]", "}")):
        try:
            return json.loads(text)
        except ValueError:
            return text  # a template such as {severity}: the service checks it
    return text


def to_document(form: ProjectForm) -> tuple[dict[str, Any], dict[str, str]]:
    """The settings document of the form, and the form's own problems (input id → message): a row
    with only one side filled, a poll interval that is not a number."""
    problems: dict[str, str] = {}
    document: dict[str, Any] = {}
    for name in TEXTS:
        document[name] = form.text(name) or None
    for name in ("status_sync", "assignee_sync", "comment_sync"):
        if document[name] is None:
            del document[name]  # the document's default
    for name in LISTS:
        parts = [p.strip() for p in form.text(name).split(",")]
        document[name] = [p for p in parts if p] or None
    for name, rows in form.rows.items():
        if name == TRANSITIONS:
            continue
        mapped: dict[str, str] = {}
        for index, row in enumerate(rows):
            if not row.left or not row.right:
                problems[row_id(name, index)] = "fill in both sides of the row, or clear it to remove it"
                continue
            mapped[row.left] = row.right
        document[name] = mapped
    transitions: dict[str, dict[str, Any]] = {}
    for index, row in enumerate(form.rows.get(TRANSITIONS, [])):
        if not (row.left and row.right and row.value):
            problems[row_id(TRANSITIONS, index)] = (
                "fill in the status, the field and its value, or clear the row"
            )
            continue
        transitions.setdefault(row.left, {})[row.right] = _template_value(row.value)
    document[TRANSITIONS] = transitions
    try:
        if form.poll_interval_s:  # empty: the document's default
            document["poll_interval_s"] = int(form.poll_interval_s)
    except ValueError:
        problems["poll_interval_s"] = "must be a whole number of seconds"
    defaults: dict[str, dict[str, Any]] = {}
    for issue_type, fields in form.field_defaults.items():
        kept = {f: _template_value(v) for f, v in fields.items() if v}
        if kept:
            defaults[issue_type] = kept
    document["field_defaults"] = defaults
    return document, problems


def row_id(map_name: str, index: int) -> str:
    return f"{map_name}-{index}"


def _same(a: str, b: str) -> bool:
    return a.strip().lower() == b.strip().lower()


def input_errors(form: ProjectForm, errors: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The service's field errors by the id of the input each belongs to; `_` for the form as a whole
    (a path no input shows, such as a transition field, is named in the message)."""
    found: dict[str, str] = {}

    def add(key: str, message: str) -> None:
        found[key] = f"{found[key]}; {message}" if key in found else message

    for path, message in errors:
        head, _, rest = path.partition(".")
        if head == TRANSITIONS:
            rows = form.rows.get(TRANSITIONS, [])
            index = next((i for i, r in enumerate(rows) if path == f"{head}.{r.left}.{r.right}"), None)
            if index is None:
                index = next((i for i, r in enumerate(rows) if path == f"{head}.{r.left}"), None)
            if index is not None:
                add(row_id(TRANSITIONS, index), message)
                continue
        if head in MAPS and rest:
            rows = form.rows.get(head, [])
            index = next((i for i, r in enumerate(rows) if _same(r.left, rest)), None)
            if index is not None:
                add(row_id(head, index), message)
                continue
        if head == "field_defaults" and rest:
            issue_type, _, field_id = rest.rpartition(".")
            if issue_type and (issue_type in form.field_defaults):
                add(fd_id(issue_type, field_id), message)
                continue
        if path in (*TEXTS, *LISTS, "poll_interval_s"):
            add(path, message)
            continue
        add("_", f"{path}: {message}" if path else message)
    return found
