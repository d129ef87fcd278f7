"""Which JQL fields exist, what kind of values they hold and which operators they accept.

A field resolves to a `FieldSpec`; its `kind` decides how `jql_eval` reads the issue and interprets
literals. System fields resolve without a site; custom fields (`cf[10050]` or their name) need one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from jira_emulator.state import FieldDef, Site

EQUALITY = frozenset({"=", "!=", "IN", "NOT IN", "IS", "IS NOT"})
ORDERING = frozenset({">", ">=", "<", "<="})
TEXT = frozenset({"~", "!~", "IS", "IS NOT"})

# kind -> operators Jira accepts for fields of that kind
OPERATORS: dict[str, frozenset[str]] = {
    "project": EQUALITY,
    "key": EQUALITY | ORDERING,
    "status": EQUALITY,
    "category": EQUALITY,
    "labels": EQUALITY,
    "user": EQUALITY,
    "issuetype": EQUALITY,
    "priority": EQUALITY | ORDERING,
    "resolution": EQUALITY,
    "text": TEXT,
    "fulltext": frozenset({"~", "!~"}),
    "date": EQUALITY | ORDERING,
    "number": EQUALITY | ORDERING,
    "option": EQUALITY,
}


@dataclass(frozen=True)
class FieldSpec:
    canonical: str  # reported in fields_used: "issuekey", "status", "cf[10050]" ...
    kind: str
    attribute: str = ""  # which issue attribute (dates, users, text) or custom field id
    sortable: bool = True

    @property
    def operators(self) -> frozenset[str]:
        return OPERATORS[self.kind]


def _spec(canonical: str, kind: str, attribute: str = "", sortable: bool = True) -> FieldSpec:
    return FieldSpec(canonical, kind, attribute or canonical, sortable)


_KEY = _spec("issuekey", "key")
SYSTEM_FIELDS: dict[str, FieldSpec] = {
    "project": _spec("project", "project"),
    "key": _KEY,
    "issuekey": _KEY,
    "id": _KEY,
    "status": _spec("status", "status"),
    "statuscategory": _spec("statuscategory", "category"),
    "labels": _spec("labels", "labels"),
    "assignee": _spec("assignee", "user"),
    "reporter": _spec("reporter", "user"),
    "creator": _spec("creator", "user"),
    "issuetype": _spec("issuetype", "issuetype"),
    "type": _spec("issuetype", "issuetype"),
    "priority": _spec("priority", "priority"),
    "resolution": _spec("resolution", "resolution"),
    "summary": _spec("summary", "text"),
    "description": _spec("description", "text", sortable=False),
    "comment": _spec("comment", "text", sortable=False),
    "text": _spec("text", "fulltext", sortable=False),
    "created": _spec("created", "date"),
    "createddate": _spec("created", "date"),
    "updated": _spec("updated", "date"),
    "updateddate": _spec("updated", "date"),
    "resolved": _spec("resolved", "date", "resolution_date"),
    "resolutiondate": _spec("resolved", "date", "resolution_date"),
    "statuscategorychangeddate": _spec("statuscategorychangeddate", "date", "status_category_changed"),
}

_CF = re.compile(r"^cf\[(\d+)\]$", re.IGNORECASE)
_CUSTOM_KINDS = {"string": "text", "number": "number", "option": "option", "array": "labels", "date": "date"}


def is_custom_reference(name: str) -> bool:
    return _CF.match(name) is not None


def resolve_field(name: str, site: Site | None) -> FieldSpec | None:
    """The field a clause names, or None when it does not exist (or the site is needed to know)."""
    system = SYSTEM_FIELDS.get(name.lower())
    if system is not None:
        return system
    if site is None:
        return None
    definition = _custom_definition(name, site)
    if definition is None:
        return None
    number = definition.id.removeprefix("customfield_")
    kind = "user" if definition.schema_type == "user" else _CUSTOM_KINDS.get(definition.schema_type, "text")
    return FieldSpec(f"cf[{number}]", kind, definition.id, definition.orderable)


def _custom_definition(name: str, site: Site) -> FieldDef | None:
    match = _CF.match(name)
    if match is not None:
        found = site.fields.get(f"customfield_{match.group(1)}")
        return found if found is not None and found.custom else None
    wanted = name.lower()
    return next((f for f in site.fields.values() if f.custom and f.name.lower() == wanted), None)


def canonical_name(name: str) -> str:
    """How `fields_used` reports a field without a site: system fields by their canonical id,
    `cf[NNNNN]` as it is, anything else (a custom field's name) lower-cased."""
    system = SYSTEM_FIELDS.get(name.lower())
    if system is not None:
        return system.canonical
    return name.lower()


def unknown_field_message(name: str) -> str:
    return f"Field '{name}' does not exist or you do not have permission to view it."


def unsupported_operator_message(operator: str, name: str) -> str:
    return f"The operator '{operator}' is not supported by the '{name}' field."
