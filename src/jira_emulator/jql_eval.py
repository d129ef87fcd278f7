"""Turns a JQL tree into a predicate over issues, and ORDER BY into a sort."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Hashable
from typing import Any

from jira_emulator.jql_ast import Clause, Node, Not, SortKey
from jira_emulator.jql_fields import FieldSpec, resolve_field
from jira_emulator.jql_values import (
    Env,
    date_attribute,
    function_atoms,
    issue_text,
    issue_type_name,
    issue_values,
    key_tuple,
    literal_atoms,
    literal_order_atoms,
    order_atom,
)
from jira_emulator.state import Issue

Predicate = Callable[[Issue], bool]
_WORD = re.compile(r"[\w*?]+", re.UNICODE)


def build_predicate(node: Node | None, env: Env) -> Predicate:
    if node is None:
        return lambda issue: True
    if isinstance(node, Clause):
        return _clause_predicate(node, env)
    if isinstance(node, Not):
        inner = build_predicate(node.part, env)
        return lambda issue: not inner(issue)
    parts = [build_predicate(p, env) for p in node.parts]
    if node.op == "AND":
        return lambda issue: all(p(issue) for p in parts)
    return lambda issue: any(p(issue) for p in parts)


def _clause_predicate(clause: Clause, env: Env) -> Predicate:
    spec = resolve_field(clause.field, env.site)
    op = clause.operator
    if spec is None or op not in spec.operators:
        return lambda issue: False  # `validate` reports these; an unvalidated filter just matches nothing
    if op in ("IS", "IS NOT"):
        want_empty = op == "IS"
        return lambda issue: (not issue_values(spec, issue, env)) == want_empty
    if op in ("~", "!~"):
        return _text_predicate(spec, clause, env)
    if op in (">", ">=", "<", "<="):
        return _order_predicate(spec, clause, env)
    atoms: set[Hashable] = set()
    wants_empty = False
    for value in clause.values:
        if value.kind == "empty" or (spec.kind == "resolution" and value.text.lower() == "unresolved"):
            wants_empty = True
        elif value.kind == "function":
            atoms |= function_atoms(spec, value.text, env)
        else:
            atoms |= literal_atoms(spec, value.text, env)
    if op in ("=", "IN"):

        def positive(issue: Issue) -> bool:
            held = issue_values(spec, issue, env)
            return (not held and wants_empty) or any(v in atoms for v in held)

        return positive

    def negative(issue: Issue) -> bool:  # != and NOT IN: an empty field never matches
        held = issue_values(spec, issue, env)
        return bool(held) and not any(v in atoms for v in held)

    return negative


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
}


def _order_predicate(spec: FieldSpec, clause: Clause, env: Env) -> Predicate:
    value = clause.values[0]
    if value.kind == "function":
        bounds = [order_atom(spec, a, env) for a in function_atoms(spec, value.text, env)]
    else:
        bounds = literal_order_atoms(spec, value.text, env)
    bounds = [b for b in bounds if b is not None]
    compare = _COMPARE[clause.operator]

    def held(issue: Issue) -> list[Any]:
        if spec.kind == "key":
            return [key_tuple(issue.key)]
        return [order_atom(spec, v, env) for v in issue_values(spec, issue, env)]

    def comparable(a: Any, b: Any) -> bool:
        if a is None or type(a) is not type(b):
            return False
        return not isinstance(a, tuple) or a[0] == b[0]  # keys compare within one project only

    return lambda issue: any(comparable(h, b) and compare(h, b) for h in held(issue) for b in bounds)


def _text_predicate(spec: FieldSpec, clause: Clause, env: Env) -> Predicate:
    query = clause.values[0].text
    negate = clause.operator == "!~"

    def predicate(issue: Issue) -> bool:
        text = issue_text(spec, issue, env.site)
        if not text:
            return False  # like `!=`, `!~` skips issues where the field is empty
        return text_matches(text, query) != negate

    return predicate


def _stem(word: str) -> str:
    """A crude English stemmer, enough that `fail` finds `failing` and `failed` as Jira's does."""
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def text_matches(text: str, query: str) -> bool:
    """Jira's `~`: every word of the query occurs in the text (stemmed, case-insensitive); `*` and `?`
    are wildcards; a query in double quotes is a phrase that must occur as such."""
    words = [w.lower() for w in _WORD.findall(text)]
    query = query.strip()
    if len(query) >= 2 and query[0] == query[-1] == '"':
        phrase = [_stem(w.lower()) for w in _WORD.findall(query[1:-1])]
        sequence = [_stem(w) for w in words]
        size = len(phrase)
        return size > 0 and any(sequence[i : i + size] == phrase for i in range(len(sequence) - size + 1))
    terms = [t.lower() for t in _WORD.findall(query)]
    if not terms:
        return False
    stems = {_stem(w) for w in words}
    for term in terms:
        if "*" in term or "?" in term:
            if not any(fnmatch.fnmatchcase(w, term) for w in words):
                return False
        elif _stem(term) not in stems:
            return False
    return True


def sort_value(spec: FieldSpec, issue: Issue, env: Env) -> Any:
    """The value ORDER BY sorts on (None sorts after every value in ascending order, as in Jira)."""
    kind = spec.kind
    if kind == "key":
        return key_tuple(issue.key)
    if kind == "date":
        return date_attribute(issue, spec.attribute)  # precise, not truncated to the minute
    if kind == "user":
        values = issue_values(spec, issue, env)
        if not values:
            return None
        account = env.accounts.get(str(values[0])) if env.accounts else None
        return (account.display_name.lower() if account else str(values[0])).lower()
    if kind == "issuetype":
        return issue_type_name(issue, env.site).lower()
    if kind == "text":
        return issue_text(spec, issue, env.site).lower() or None
    values = issue_values(spec, issue, env)
    if not values:
        return None
    if kind == "priority":
        return order_atom(spec, values[0], env)
    if kind == "labels":
        return " ".join(sorted(str(v) for v in values))
    return values[0]


def sort_issues(order: tuple[SortKey, ...], issues: list[Issue], env: Env) -> list[Issue]:
    """Stable sorts from the last key to the first; ties end in issue id order (newest first when
    there is no ORDER BY at all, Jira's `created DESC`)."""
    if not order:
        return sorted(issues, key=lambda i: (i.created, int(i.id) if i.id.isdigit() else 0), reverse=True)
    result = sorted(issues, key=lambda i: int(i.id) if i.id.isdigit() else 0)
    for key in reversed(order):
        spec = resolve_field(key.field, env.site)
        if spec is None:
            continue
        decorated = [(sort_value(spec, issue, env), issue) for issue in result]
        present = sorted(
            (d for d in decorated if d[0] is not None), key=lambda d: d[0], reverse=key.descending
        )
        missing = [d for d in decorated if d[0] is None]
        ordered = missing + present if key.descending else present + missing
        result = [issue for _, issue in ordered]
    return result
