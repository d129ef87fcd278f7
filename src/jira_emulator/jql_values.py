"""What an issue holds for a JQL field, and what a JQL literal means for it.

Both sides become comparable atoms: project keys, issue ids, lower-cased names, accountIds, priority
ranks, datetimes truncated to the minute. Jira semantics kept here:
- `!=` and `NOT IN` never match an issue whose field is empty (`assignee != bob` skips unassigned);
- labels, statuses, names compare case-insensitively;
- `priority > Medium` means a higher priority (Jira orders priorities, not their names).
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jira_emulator.adf import adf_to_text
from jira_emulator.jql_dates import parse_absolute, resolve_date, resolve_date_function, to_minute
from jira_emulator.jql_fields import FieldSpec
from jira_emulator.state import STATUS_CATEGORIES, Account, Issue, Site

_KEY = re.compile(r"^([A-Za-z][A-Za-z0-9_]*)-(\d+)$")


@dataclass
class Env:
    site: Site
    now: datetime
    current_user: str | None
    accounts: Mapping[str, Account] | None = None


def issue_values(spec: FieldSpec, issue: Issue, env: Env) -> list[Hashable]:
    """The atoms an issue holds for a field; an empty list is JQL's EMPTY."""
    kind, attr = spec.kind, spec.attribute
    if kind == "project":
        return [issue.project_key]
    if kind == "key":  # by id and by key, so a deleted issue still in the index is found by its key
        return [issue.id, issue.key.upper()]
    if kind == "status":
        return [issue.status.lower()]
    if kind == "category":
        status = env.site.statuses.get(issue.status)
        return [status.category] if status else []
    if kind == "issuetype":
        return [issue_type_name(issue, env.site).lower()]
    if kind == "priority":
        return [issue.priority] if issue.priority else []
    if kind == "resolution":
        return [issue.resolution.lower()] if issue.resolution else []
    if kind == "user":
        value = issue.custom.get(attr) if attr.startswith("customfield_") else getattr(issue, attr)
        return [value] if value else []
    if kind == "labels":
        raw = issue.labels if attr == "labels" else (issue.custom.get(attr) or [])
        return [str(label).lower() for label in raw]
    if kind == "date":
        moment = date_attribute(issue, attr)
        return [to_minute(moment)] if moment else []
    if kind == "number":
        value = issue.custom.get(attr)
        return [float(value)] if isinstance(value, int | float) else []
    if kind == "option":
        value = issue.custom.get(attr)
        return [str(value).lower()] if value is not None else []
    text = issue_text(spec, issue, env.site)
    return [text] if text else []


def date_attribute(issue: Issue, attr: str) -> datetime | None:
    if attr.startswith("customfield_"):
        value = issue.custom.get(attr)
        return parse_absolute(str(value)) if value else None
    moment: datetime | None = getattr(issue, attr)
    return moment


def issue_type_name(issue: Issue, site: Site) -> str:
    project = site.projects.get(issue.project_key)
    found = project.issue_type(issue.issue_type_id) if project else None
    return found.name if found else ""


def issue_text(spec: FieldSpec, issue: Issue, site: Site) -> str:
    attr = spec.attribute
    if attr == "summary":
        return issue.summary
    if attr == "description":
        return adf_to_text(issue.description)
    if attr == "comment":
        return "\n".join(adf_to_text(c.body) for c in issue.comments)
    if attr == "text":  # Jira's `text` searches every text field of the issue
        parts = [issue.summary, adf_to_text(issue.description)]
        parts += [adf_to_text(c.body) for c in issue.comments]
        parts += [str(v) for k, v in issue.custom.items() if _is_text_custom(site, k) and v]
        return "\n".join(p for p in parts if p)
    value = issue.custom.get(attr)
    return str(value) if value else ""


def _is_text_custom(site: Site, field_id: str) -> bool:
    definition = site.fields.get(field_id)
    return definition is not None and definition.schema_type == "string"


def literal_atoms(spec: FieldSpec, text: str, env: Env) -> set[Hashable]:
    """What a literal can mean for a field (an unknown value means nothing, so it matches nothing)."""
    kind, site = spec.kind, env.site
    lowered = text.lower()
    if kind == "project":
        return {
            p.key for p in site.projects.values() if text.upper() == p.key or lowered == p.name.lower()
        } | {p.key for p in site.projects.values() if text == p.id}
    if kind == "key":
        found = site.issue_by_ref(text)
        return {found.id} if found else {text, text.upper()}
    if kind == "status":
        return {s.name.lower() for s in site.statuses.values() if lowered == s.name.lower() or text == s.id}
    if kind == "category":
        return {
            k for k, (ident, name, _) in STATUS_CATEGORIES.items() if lowered in (k, name.lower(), str(ident))
        }
    if kind == "issuetype":
        names = {it.name.lower() for p in site.projects.values() for it in p.issue_types if text == it.id}
        return names | {lowered}
    if kind == "priority":
        return {p.id for p in site.priorities if lowered == p.name.lower() or text == p.id}
    if kind == "user":
        return user_atoms(text, env)
    if kind == "date":
        moment = resolve_date(text, env.now)
        return {moment} if moment else set()
    if kind == "number":
        try:
            return {float(text)}
        except ValueError:
            return set()
    return {lowered}


def user_atoms(text: str, env: Env) -> set[Hashable]:
    """A user literal: an accountId, or (when the accounts are known) an email or display name."""
    if env.accounts is None:
        return {text}
    lowered = text.lower()
    return {
        a.account_id
        for a in env.accounts.values()
        if text == a.account_id or lowered in (a.email.lower(), a.display_name.lower())
    }


def function_atoms(spec: FieldSpec, name: str, env: Env) -> set[Hashable]:
    lowered = name.lower()
    if lowered == "currentuser":
        return {env.current_user} if env.current_user else set()
    return {resolve_date_function(lowered, env.now)}


def order_atom(spec: FieldSpec, atom: Hashable, env: Env) -> Any:
    """The value `<`/`>` compare: priorities by rank, keys by (project, number), the rest as they are."""
    if spec.kind == "priority":
        ids = [p.id for p in env.site.priorities]
        return len(ids) - ids.index(str(atom)) if atom in ids else None
    if spec.kind == "key":
        issue = env.site.issues.get(str(atom))
        return key_tuple(issue.key) if issue else None
    return atom


def key_tuple(key: str) -> tuple[str, int] | None:
    match = _KEY.match(key)
    return (match.group(1).upper(), int(match.group(2))) if match else None


def literal_order_atoms(spec: FieldSpec, text: str, env: Env) -> list[Any]:
    """Order values for a `<`/`>` literal; an issue key need not exist (`key > WEB-5`)."""
    if spec.kind == "key":
        as_key = key_tuple(text)
        if as_key is not None:
            return [as_key]
    return [order_atom(spec, atom, env) for atom in literal_atoms(spec, text, env)]
