"""JQL for the emulator: the subset jirabridge and its users need, with Jira's error messages.

    query = compile_jql('project = WEB AND updated >= "2024/01/15 10:30" ORDER BY updated')
    query.validate(site)                                   # values that must exist (projects, keys...)
    hits = [i for i in issues if query.matches(site, i, now=now, current_user=me)]
    page = query.sort(site, hits)

Parsing is lark (grammar in `jql_grammar.py`); the tree is in `jql_ast.py`, fields in `jql_fields.py`,
values in `jql_values.py`, evaluation and sorting in `jql_eval.py`. Every refusal is a `JqlError`
whose message is what Jira answers in `errorMessages` with a 400.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from lark import Token, Tree
from lark.exceptions import UnexpectedInput

from jira_emulator import jql_fields as jf
from jira_emulator.jql_ast import BoolOp, Clause, JqlError, Node, Not, SortKey, Value, clauses
from jira_emulator.jql_dates import DATE_FUNCTIONS, invalid_date_message, is_valid_date
from jira_emulator.jql_eval import Predicate, build_predicate, sort_issues
from jira_emulator.jql_grammar import PARSER, describe_parse_error
from jira_emulator.jql_values import Env, literal_atoms
from jira_emulator.state import Account, Issue, Project, Site

__all__ = ["JqlError", "JqlQuery", "compile_jql"]

_RESERVED = frozenset({"and", "or", "not", "in", "is", "order", "by", "asc", "desc", "was", "changed"})
_FUNCTIONS = DATE_FUNCTIONS | {"currentuser"}
_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|.)")


@dataclass(frozen=True)
class JqlQuery:
    text: str
    where: Node | None
    order_by: tuple[SortKey, ...] = ()

    @property
    def bounded(self) -> bool:
        """Jira's /search/jql refuses a query with no restriction (`ORDER BY key` alone)."""
        return self.where is not None

    @property
    def fields_used(self) -> set[str]:
        names = [c.field for c in clauses(self.where)] + [k.field for k in self.order_by]
        return {jf.canonical_name(n) for n in names}

    @property
    def operators_used(self) -> set[str]:
        return {c.operator for c in clauses(self.where)}

    def validate(
        self,
        site: Site,
        *,
        accounts: Mapping[str, Account] | None = None,
        can_browse: Callable[[Project], bool] | None = None,
    ) -> None:
        """What Jira checks against the site: fields exist, operators fit them, and named projects,
        statuses, issue types, priorities, users, options and issue keys exist (for the caller)."""
        _check_fields(self, site)
        for clause in clauses(self.where):
            if clause.operator in ("=", "!=", "IN", "NOT IN"):
                _check_values(clause, site, accounts, can_browse)

    def matcher(
        self,
        site: Site,
        *,
        now: datetime,
        current_user: str | None,
        accounts: Mapping[str, Account] | None = None,
    ) -> Predicate:
        """A predicate for many issues (binds fields and literals once)."""
        return build_predicate(self.where, Env(site, now, current_user, accounts))

    def matches(
        self,
        site: Site,
        issue: Issue,
        *,
        now: datetime,
        current_user: str | None,
        accounts: Mapping[str, Account] | None = None,
    ) -> bool:
        return self.matcher(site, now=now, current_user=current_user, accounts=accounts)(issue)

    def sort(
        self, site: Site, issues: list[Issue], *, accounts: Mapping[str, Account] | None = None
    ) -> list[Issue]:
        """ORDER BY, or Jira's default (newest first) without one."""
        return sort_issues(self.order_by, issues, Env(site, datetime.now(UTC), None, accounts))


def compile_jql(text: str, *, site: Site | None = None) -> JqlQuery:
    """Parse and check a query. Without `site`, names that are not system fields (custom field names)
    are only checked later, by `validate`."""
    try:
        tree = PARSER.parse(text)
    except UnexpectedInput as error:
        raise JqlError(describe_parse_error(text, error)) from None
    where: Node | None = None
    order: tuple[SortKey, ...] = ()
    for child in tree.children:
        if isinstance(child, Tree) and child.data == "order_by":
            order = tuple(_sort_key(k) for k in child.children if isinstance(k, Tree))
        elif isinstance(child, Tree):
            where = _node(child)
    query = JqlQuery(text, where, order)
    _check_fields(query, site)
    return query


def _node(tree: Tree[Token]) -> Node:
    kind = str(tree.data)
    kids = [k for k in tree.children if isinstance(k, Tree)]
    if kind in ("or_expr", "and_expr"):
        return BoolOp("OR" if kind == "or_expr" else "AND", tuple(_node(k) for k in kids))
    if kind == "negation":
        return Not(_node(kids[0]))
    field_tree, rest = kids[0], kids[1:]
    name_token = _first_token(field_tree)
    field = _unquote(name_token)
    where = {"line": name_token.line or 1, "column": name_token.column or 1}
    if kind == "compare":
        op = next(t for t in tree.children if isinstance(t, Token) and t.type == "OP")
        return Clause(field, str(op), (_value(rest[0]),), **where)
    if kind in ("is_empty", "is_not_empty"):
        return Clause(field, "IS" if kind == "is_empty" else "IS NOT", (Value("EMPTY", "empty"),), **where)
    values = tuple(_value(v) if v.data == "value" else _function(v) for v in _list_items(rest[0]))
    return Clause(field, "IN" if kind == "in_list" else "NOT IN", values, **where)


def _list_items(tree: Tree[Token]) -> list[Tree[Token]]:
    return [k for k in tree.children if isinstance(k, Tree)]


def _first_token(tree: Tree[Token]) -> Token:
    return next(t for t in tree.scan_values(lambda v: isinstance(v, Token)))


def _value(tree: Tree[Token]) -> Value:
    child = tree.children[0]
    if isinstance(child, Tree):
        return _function(child)
    line, column = child.line or 1, child.column or 1
    if child.type == "WORD":
        lowered = str(child).lower()
        if lowered in ("empty", "null"):
            return Value("EMPTY", "empty", line=line, column=column)
        if lowered in _RESERVED:
            raise JqlError(
                f"Error in the JQL Query: '{child}' is a reserved JQL word. You must surround it in "
                f"quotation marks to use it in a query. (line {line}, character {column})"
            )
    return Value(_unquote(child), line=line, column=column)


def _function(tree: Tree[Token]) -> Value:
    name, *args = [t for t in tree.children if isinstance(t, Token)]
    if str(name).lower() not in _FUNCTIONS:
        raise JqlError(f"Unable to find JQL function '{name}({', '.join(map(str, args))})'.")
    if args:
        raise JqlError(f"Function '{name}' expected '0' arguments but got '{len(args)}'.")
    return Value(str(name), "function", line=name.line or 1, column=name.column or 1)


def _unquote(token: Token) -> str:
    text = str(token)
    if token.type != "STRING":
        return text
    return _ESCAPE.sub(
        lambda m: chr(int(m.group(1)[1:], 16)) if len(m.group(1)) == 5 else m.group(1), text[1:-1]
    )


def _sort_key(tree: Tree[Token]) -> SortKey:
    field_tree = next(k for k in tree.children if isinstance(k, Tree))
    direction = next((t for t in tree.children if isinstance(t, Token) and t.type == "DIRECTION"), None)
    return SortKey(_unquote(_first_token(field_tree)), direction is not None and direction.lower() == "desc")


def _check_fields(query: JqlQuery, site: Site | None) -> None:
    for clause in clauses(query.where):
        spec = jf.resolve_field(clause.field, site)
        if spec is None:
            if site is not None:
                raise JqlError(jf.unknown_field_message(clause.field))
            continue
        if clause.operator not in spec.operators:
            raise JqlError(jf.unsupported_operator_message(clause.operator, clause.field))
        _check_clause_values(clause, spec)
    for key in query.order_by:
        spec = jf.resolve_field(key.field, site)
        if spec is None and site is not None:
            raise JqlError(jf.unknown_field_message(key.field))
        if spec is not None and not spec.sortable:
            raise JqlError(f"Field '{key.field}' does not support sorting.")


def _check_clause_values(clause: Clause, spec: jf.FieldSpec) -> None:
    for value in clause.values:
        if value.kind == "function":
            fits = value.text.lower() == "currentuser" if spec.kind == "user" else spec.kind == "date"
            if not fits or (spec.kind == "date" and value.text.lower() not in DATE_FUNCTIONS):
                raise JqlError(
                    f"A value provided by the function '{value.text}' is invalid for the field "
                    f"'{clause.field}'."
                )
        elif value.kind == "literal" and spec.kind == "date" and not is_valid_date(value.text):
            raise JqlError(invalid_date_message(value.text, clause.field))
        elif value.kind == "empty" and clause.operator in ("~", "!~", ">", ">=", "<", "<="):
            raise JqlError(jf.unsupported_operator_message(clause.operator, clause.field) + " (with EMPTY)")


def _check_values(
    clause: Clause,
    site: Site,
    accounts: Mapping[str, Account] | None,
    can_browse: Callable[[Project], bool] | None,
) -> None:
    spec = jf.resolve_field(clause.field, site)
    if spec is None:
        return
    env = Env(site, datetime.now(UTC), None, accounts)
    for value in clause.values:
        if value.kind != "literal":
            continue
        text = value.text
        if spec.kind == "key":
            if site.issue_by_ref(text) is None:
                if text.isdigit():
                    raise JqlError(f"A value with ID '{text}' does not exist for the field '{clause.field}'.")
                raise JqlError(f"An issue with key '{text}' does not exist for field '{clause.field}'.")
        elif spec.kind == "project":
            keys = literal_atoms(spec, text, env)
            visible = [k for k in keys if can_browse is None or can_browse(site.projects[str(k)])]
            if not visible:
                raise JqlError(f"The value '{text}' does not exist for the field '{clause.field}'.")
        elif spec.kind == "option":
            definition = site.fields[spec.attribute]
            if text.lower() not in {v.lower() for v in definition.allowed_values or []}:
                raise JqlError(f"The option '{text}' for field '{definition.name}' does not exist.")
        elif _checks_existence(spec, accounts) and not _exists(spec, text, env):
            raise JqlError(f"The value '{text}' does not exist for the field '{clause.field}'.")


def _checks_existence(spec: jf.FieldSpec, accounts: Mapping[str, Account] | None) -> bool:
    named = spec.kind in ("status", "category", "priority", "issuetype")
    return named or (spec.kind == "user" and accounts is not None)


def _exists(spec: jf.FieldSpec, text: str, env: Env) -> bool:
    if spec.kind == "issuetype":
        names = {it.name.lower() for p in env.site.projects.values() for it in p.issue_types}
        ids = {it.id for p in env.site.projects.values() for it in p.issue_types}
        return text.lower() in names or text in ids
    return bool(literal_atoms(spec, text, env))
