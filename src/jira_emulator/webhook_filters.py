"""JQL filters of webhooks: what registration accepts and how a delivery decides on an issue.

Admin webhooks take any JQL the search takes. Dynamic webhooks (OAuth apps) take only the subset
Atlassian documents for them: the fields issueKey, project, issuetype, status, assignee, reporter
(and issue.property and the epic-label custom field, neither of which the emulator has) with the
operators =, !=, IN and NOT IN. Others are refused per webhook in `webhookRegistrationResult`.
"""

from __future__ import annotations

from jira_emulator.jql import JqlError, JqlQuery, compile_jql
from jira_emulator.jql_ast import clauses
from jira_emulator.jql_fields import canonical_name
from jira_emulator.state import EmulatorState, Issue, Site

DYNAMIC_FIELDS = frozenset({"issuekey", "project", "issuetype", "status", "assignee", "reporter"})
DYNAMIC_OPERATORS = frozenset({"=", "!=", "IN", "NOT IN"})


def _compile(state: EmulatorState, site: Site, text: str) -> JqlQuery:
    query = compile_jql(text, site=site)
    query.validate(site, accounts=state.accounts)
    return query


def admin_jql_error(state: EmulatorState, site: Site, text: str | None) -> str | None:
    """Jira's message for a filter it would refuse, or None."""
    if not text:
        return None
    try:
        _compile(state, site, text)
    except JqlError as exc:
        return exc.message
    return None


def dynamic_jql_errors(state: EmulatorState, site: Site, text: str) -> list[str]:
    if not text.strip():
        return []
    try:
        query = compile_jql(text, site=site)
    except JqlError as exc:
        return [exc.message]
    errors: list[str] = []
    for clause in clauses(query.where):
        if canonical_name(clause.field) not in DYNAMIC_FIELDS:
            errors.append(f"The clause {clause.field} is unsupported")
        elif clause.operator not in DYNAMIC_OPERATORS:
            errors.append(f"The operator {clause.operator} is unsupported")
    if query.order_by:
        errors.append("The ORDER BY clause is unsupported")
    if not errors:
        try:
            query.validate(site, accounts=state.accounts)
        except JqlError as exc:
            errors.append(exc.message)
    return list(dict.fromkeys(errors))


class FilterCache:
    """Compiled filters by text; a filter that no longer compiles (a project was removed) matches
    nothing, as registration would have refused it."""

    def __init__(self) -> None:
        self._compiled: dict[str, JqlQuery | None] = {}

    def matches(
        self, state: EmulatorState, site: Site, text: str, issue: Issue, current_user: str | None
    ) -> bool:
        if text not in self._compiled:
            try:
                self._compiled[text] = compile_jql(text)
            except JqlError:
                self._compiled[text] = None
        query = self._compiled[text]
        if query is None:
            return False
        try:
            return query.matches(
                site, issue, now=state.now(), current_user=current_user, accounts=state.accounts
            )
        except JqlError:
            return False
