"""The emulator's JQL: each operator and field, precedence, minute-precise dates, ORDER BY, and the
errors Jira answers (with positions)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jira_emulator.jql import JqlError, compile_jql
from jira_emulator.seed import Seed, build_state, default_seed
from jira_emulator.state import EmulatorState, Issue, Site

NOW = datetime(2024, 1, 15, 12, 0, 30, tzinfo=UTC)


def _state() -> EmulatorState:
    seed = default_seed().model_dump(by_alias=True)
    seed["sites"][0]["issues"] = [
        {"project": "WEB", "summary": "Checkout fails on Safari", "labels": ["svc-web", "errors"]},
        {"project": "WEB", "summary": "Add dark mode", "issue_type": "Story", "priority": "High"},
        {"project": "WEB", "summary": "Payment failing", "status": "Done", "assignee": "bob@acme.test"},
        {
            "project": "DQ",
            "summary": "Stale rows in orders",
            "assignee": "alice@acme.test",
            "priority": "Low",
        },
    ]
    return build_state(Seed.model_validate(seed))


STATE = _state()
SITE: Site = STATE.sites["acme"]
ALICE = STATE.account_by_email("alice@acme.test").account_id  # type: ignore[union-attr]
BOB = STATE.account_by_email("bob@acme.test").account_id  # type: ignore[union-attr]
WEB1, WEB2, WEB3, DQ1 = (SITE.issue_by_ref(k) for k in ("WEB-1", "WEB-2", "WEB-3", "DQ-1"))
ISSUES: list[Issue] = [i for i in (WEB1, WEB2, WEB3, DQ1) if i is not None]
ISSUES[0].updated = datetime(2024, 1, 15, 10, 30, 59, 999000, tzinfo=UTC)
ISSUES[1].updated = datetime(2024, 1, 15, 10, 31, 0, tzinfo=UTC)
ISSUES[2].updated = datetime(2024, 1, 14, 9, 0, tzinfo=UTC)
ISSUES[3].updated = datetime(2024, 1, 15, 11, 58, 0, tzinfo=UTC)
ISSUES[2].resolution = "Done"
ISSUES[0].custom["customfield_10050"] = "production eu-west"
ISSUES[3].custom["customfield_10051"] = "Critical"


def keys(jql: str, current_user: str | None = None) -> list[str]:
    query = compile_jql(jql, site=SITE)
    query.validate(SITE, accounts=STATE.accounts)
    matches = query.matcher(SITE, now=NOW, current_user=current_user, accounts=STATE.accounts)
    return sorted(i.key for i in ISSUES if matches(i))


@pytest.mark.parametrize(
    ("jql", "expected"),
    [
        ("project = WEB", ["WEB-1", "WEB-2", "WEB-3"]),
        ('project = "Data Quality"', ["DQ-1"]),
        ("project != WEB", ["DQ-1"]),
        ("project in (WEB, DQ) AND project not in (DQ)", ["WEB-1", "WEB-2", "WEB-3"]),
        ("key = WEB-2", ["WEB-2"]),
        ("issuekey in (web-1, DQ-1)", ["DQ-1", "WEB-1"]),
        ("key > WEB-1", ["WEB-2", "WEB-3"]),
        ("key <= WEB-2", ["WEB-1", "WEB-2"]),
        ('status = "to do"', ["DQ-1", "WEB-1", "WEB-2"]),
        ("status != Done", ["DQ-1", "WEB-1", "WEB-2"]),
        ('statusCategory = "Done"', ["WEB-3"]),
        ("statuscategory = new", ["DQ-1", "WEB-1", "WEB-2"]),
        ("labels = ERRORS", ["WEB-1"]),
        ("labels in (svc-web, other)", ["WEB-1"]),
        ("labels is EMPTY", ["DQ-1", "WEB-2", "WEB-3"]),
        ("labels is not empty", ["WEB-1"]),
        ("labels != errors", []),  # != never matches an empty field
        ("type = Story", ["WEB-2"]),
        ("issuetype != Story AND project = WEB", ["WEB-1", "WEB-3"]),
        ("priority = High", ["WEB-2"]),
        ("priority > Medium", ["WEB-2"]),
        ("priority <= Low", ["DQ-1"]),
        ("priority >= Medium AND project = WEB", ["WEB-1", "WEB-2", "WEB-3"]),
        ("resolution = Unresolved", ["DQ-1", "WEB-1", "WEB-2"]),
        ("resolution is not empty", ["WEB-3"]),
        ("assignee is EMPTY", ["WEB-1", "WEB-2"]),
        ("assignee = 'alice@acme.test'", ["DQ-1"]),
        ('assignee = "Bob Builder"', ["WEB-3"]),
        ("assignee != 'alice@acme.test'", ["WEB-3"]),
        ("summary ~ checkout", ["WEB-1"]),
        ("summary ~ fail", ["WEB-1", "WEB-3"]),  # stemmed: fails, failing
        ('summary ~ "pay*"', ["WEB-3"]),
        ('summary ~ "\\"dark mode\\""', ["WEB-2"]),
        ('summary ~ "\\"mode dark\\""', []),
        ("summary !~ fail", ["DQ-1", "WEB-2"]),
        ("text ~ production", ["WEB-1"]),
        ("cf[10050] ~ production", ["WEB-1"]),
        ('Environment ~ "eu"', ["WEB-1"]),
        ("cf[10050] is empty", ["DQ-1", "WEB-2", "WEB-3"]),
        ("Severity = critical", ["DQ-1"]),
        ("cf[10051] in (High, Critical)", ["DQ-1"]),
    ],
)
def test_each_field_and_operator_selects_what_jira_would(jql: str, expected: list[str]) -> None:
    assert keys(jql) == expected


def test_current_user_is_the_caller() -> None:
    assert keys("assignee = currentUser()", current_user=ALICE) == ["DQ-1"]
    assert keys("assignee in (currentUser(), 'bob@acme.test')", current_user=ALICE) == ["DQ-1", "WEB-3"]
    assert keys("assignee = currentUser()", current_user=None) == []


@pytest.mark.parametrize(
    ("jql", "expected"),
    [
        # Minute precision: 10:30:59.999 is in the minute 10:30.
        ('updated >= "2024/01/15 10:30"', ["DQ-1", "WEB-1", "WEB-2"]),
        ('updated > "2024/01/15 10:30"', ["DQ-1", "WEB-2"]),
        ('updated = "2024-01-15 10:30"', ["WEB-1"]),
        ('updated < "2024/01/15 10:31"', ["WEB-1", "WEB-3"]),
        ('updated <= "2024/01/15 10:30"', ["WEB-1", "WEB-3"]),
        ('updated < "2024/01/15"', ["WEB-3"]),
        ("updated >= 2024-01-15", ["DQ-1", "WEB-1", "WEB-2"]),
        # Relative to NOW (12:00:30, so -5m is the minute 11:55).
        ("updated >= -5m", ["DQ-1"]),
        ("updated > -2h", ["DQ-1", "WEB-1", "WEB-2"]),
        ("updated < -1d", ["WEB-3"]),
        ("updated >= -1w", ["DQ-1", "WEB-1", "WEB-2", "WEB-3"]),
        ('updated >= "-1d 2h"', ["DQ-1", "WEB-1", "WEB-2"]),
        ("updated <= now()", ["DQ-1", "WEB-1", "WEB-2", "WEB-3"]),
        ("updated >= startOfDay()", ["DQ-1", "WEB-1", "WEB-2"]),
    ],
)
def test_dates_compare_at_minute_precision_in_utc(jql: str, expected: list[str]) -> None:
    assert keys(jql) == expected


@pytest.mark.parametrize(
    ("jql", "expected"),
    [
        # AND binds tighter than OR; NOT tighter than both.
        ("project = DQ OR project = WEB AND labels = errors", ["DQ-1", "WEB-1"]),
        ("(project = DQ OR project = WEB) AND labels = errors", ["WEB-1"]),
        ("NOT project = WEB AND priority = Low", ["DQ-1"]),
        ("NOT (project = WEB AND priority = Medium)", ["DQ-1", "WEB-2"]),
        ("!(project = WEB) || key = WEB-2", ["DQ-1", "WEB-2"]),
        ("project = WEB && labels = errors", ["WEB-1"]),
        ("PROJECT = web aNd NoT StAtUs iN (Done) oRdEr bY KEY", ["WEB-1", "WEB-2"]),
    ],
)
def test_precedence_and_case_insensitive_keywords(jql: str, expected: list[str]) -> None:
    assert keys(jql) == expected


def _order(jql: str) -> list[str]:
    query = compile_jql(jql, site=SITE)
    return [i.key for i in query.sort(SITE, list(ISSUES), accounts=STATE.accounts)]


def test_order_by_several_fields_and_directions() -> None:
    assert _order("project in (WEB, DQ) ORDER BY updated DESC") == ["DQ-1", "WEB-2", "WEB-1", "WEB-3"]
    assert _order("project in (WEB, DQ) ORDER BY priority DESC, key DESC") == [
        "WEB-2",
        "WEB-3",
        "WEB-1",
        "DQ-1",
    ]
    assert _order("project in (WEB, DQ) order by project asc, updated") == ["DQ-1", "WEB-3", "WEB-1", "WEB-2"]
    # Unassigned issues sort after the assigned ones ascending; names, not accountIds, decide.
    assert _order("project in (WEB, DQ) ORDER BY assignee, key") == ["DQ-1", "WEB-3", "WEB-1", "WEB-2"]


def test_without_order_by_the_newest_issue_comes_first() -> None:
    issues = list(ISSUES)
    for n, issue in enumerate(issues):
        issue.created = NOW - timedelta(minutes=n)
    assert [i.key for i in compile_jql("project = WEB").sort(SITE, issues)] == [
        "WEB-1",
        "WEB-2",
        "WEB-3",
        "DQ-1",
    ]


@pytest.mark.parametrize(
    ("jql", "message"),
    [
        (
            "project = WEB foo",
            "Error in the JQL Query: Expecting either 'OR' or 'AND' but got 'foo'. (line 1, character 15)",
        ),
        (
            "status foo",
            "Error in the JQL Query: Expecting operator but got 'foo'. The valid operators are '=', '!=', "
            "'<', '>', '<=', '>=', '~', '!~', 'IN', 'NOT IN', 'IS' and 'IS NOT'. (line 1, character 8)",
        ),
        (
            "status = ",
            "Error in the JQL Query: Expecting either a value, list or function but got the end of the "
            "query.",
        ),
        ("(project = WEB", "Error in the JQL Query: Expecting ')' but got the end of the query."),
        (
            "project = WEB ORDER updated",
            "Error in the JQL Query: Expecting 'BY' but got 'updated'. (line 1, character 21)",
        ),
        (
            'summary ~ "abc',
            "Error in the JQL Query: The quoted string 'abc' has not been completed. (line 1, character 11)",
        ),
        (
            "labels = a*",
            "Error in the JQL Query: The character '*' is a reserved JQL character. You must enclose it in a "
            "string or use the escape '\\u002a' instead. (line 1, character 11)",
        ),
        (
            "status = and",
            "Error in the JQL Query: 'and' is a reserved JQL word. You must surround it in quotation marks "
            "to use it in a query. (line 1, character 10)",
        ),
        ("nosuchfield = 1", "Field 'nosuchfield' does not exist or you do not have permission to view it."),
        ("summary = checkout", "The operator '=' is not supported by the 'summary' field."),
        ("status ~ Done", "The operator '~' is not supported by the 'status' field."),
        (
            'updated > "2024/13/45"',
            "Date value '2024/13/45' for field 'updated' is invalid. Valid formats include: "
            "'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period format e.g. "
            "'-5d', '4w 2d'.",
        ),
        ("assignee in membersOf(devs)", "Unable to find JQL function 'membersOf(devs)'."),
        (
            "status = currentUser()",
            "A value provided by the function 'currentUser' is invalid for the field 'status'.",
        ),
        ("status was Done", "The operator 'WAS' is not supported by the Jira emulator (history search)."),
        ("project = WEB ORDER BY text", "Field 'text' does not support sorting."),
    ],
)
def test_invalid_queries_raise_jira_messages(jql: str, message: str) -> None:
    with pytest.raises(JqlError) as caught:
        compile_jql(jql, site=SITE)
    assert caught.value.message == message


@pytest.mark.parametrize(
    ("jql", "message"),
    [
        ("project = NOPE", "The value 'NOPE' does not exist for the field 'project'."),
        ("status in (Done, Shipped)", "The value 'Shipped' does not exist for the field 'status'."),
        ("key = WEB-99", "An issue with key 'WEB-99' does not exist for field 'key'."),
        (
            "assignee = 'nobody@acme.test'",
            "The value 'nobody@acme.test' does not exist for the field 'assignee'.",
        ),
        ("Severity = Apocalyptic", "The option 'Apocalyptic' for field 'Severity' does not exist."),
    ],
)
def test_validate_refuses_values_that_do_not_exist(jql: str, message: str) -> None:
    query = compile_jql(jql, site=SITE)
    with pytest.raises(JqlError) as caught:
        query.validate(SITE, accounts=STATE.accounts)
    assert caught.value.message == message


def test_a_project_the_caller_cannot_browse_does_not_exist_for_them() -> None:
    query = compile_jql("project = LOCK")
    query.validate(SITE)
    with pytest.raises(JqlError, match=r"The value 'LOCK' does not exist for the field 'project'\."):
        query.validate(SITE, can_browse=lambda p: p.key != "LOCK")


def test_custom_field_names_are_checked_once_a_site_is_known() -> None:
    query = compile_jql("Nonsense ~ x")  # might be a custom field: no site, no verdict yet
    with pytest.raises(JqlError, match="Field 'Nonsense' does not exist"):
        query.validate(SITE)
    assert not query.matches(SITE, ISSUES[0], now=NOW, current_user=None)


def test_fields_and_operators_used_for_webhook_filters() -> None:
    query = compile_jql(
        "project = WEB AND issuetype in (Bug, Task) AND cf[10050] IS NOT EMPTY AND key != WEB-1"
    )
    assert query.fields_used == {"project", "issuetype", "cf[10050]", "issuekey"}
    assert query.operators_used == {"=", "IN", "IS NOT", "!="}
    assert compile_jql("type = Bug ORDER BY updated").fields_used == {"issuetype", "updated"}
    assert not compile_jql("ORDER BY key").bounded
    assert compile_jql("key = WEB-1").bounded


# --- properties ----------------------------------------------------------------------------------

ATOMS = [
    "project = WEB",
    "labels = errors",
    "assignee is EMPTY",
    "priority > Medium",
    "status = Done",
    'updated >= "2024/01/15 10:31"',
    "summary ~ fail",
    "key in (WEB-1, DQ-1)",
]
_expressions: Any = st.recursive(
    st.sampled_from(ATOMS),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["AND", "OR"]), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        inner.map(lambda e: f"NOT ({e})"),
    ),
    max_leaves=6,
)


def _matches(jql: str, issue: Issue) -> bool:
    return compile_jql(jql).matches(SITE, issue, now=NOW, current_user=None, accounts=STATE.accounts)


@settings(max_examples=60, deadline=None)
@given(a=_expressions, b=_expressions, issue=st.sampled_from(ISSUES))
def test_and_or_not_are_boolean_algebra(a: str, b: str, issue: Issue) -> None:
    assert _matches(f"({a}) AND ({b})", issue) == (_matches(a, issue) and _matches(b, issue))
    assert _matches(f"({a}) OR ({b})", issue) == (_matches(a, issue) or _matches(b, issue))
    assert _matches(f"NOT ({a})", issue) == (not _matches(a, issue))


@settings(max_examples=60, deadline=None)
@given(
    a=st.sampled_from(ATOMS),
    b=st.sampled_from(ATOMS),
    c=st.sampled_from(ATOMS),
    issue=st.sampled_from(ISSUES),
)
def test_and_binds_tighter_than_or(a: str, b: str, c: str, issue: Issue) -> None:
    assert _matches(f"{a} OR {b} AND {c}", issue) == _matches(f"{a} OR ({b} AND {c})", issue)


_JQL_ALPHABET = st.sampled_from(
    [
        "project",
        "status",
        "key",
        "=",
        "!=",
        "~",
        "in",
        "not",
        "is",
        "empty",
        "(",
        ")",
        ",",
        '"',
        "'",
        "*",
        "\\",
        "and",
        "or",
        "order",
        "by",
        "desc",
        "WEB",
        "-1d",
        "cf[10050]",
        "now()",
        "&",
        "|",
        "!",
        " ",
        "é",
        "2024/01/15",
    ]
)


@settings(max_examples=300, deadline=None)
@given(words=st.lists(_JQL_ALPHABET, max_size=12))
def test_any_text_either_compiles_and_evaluates_or_raises_jql_error(words: list[str]) -> None:
    text = " ".join(words)
    try:
        query = compile_jql(text, site=SITE)
        query.validate(SITE, accounts=STATE.accounts)
    except JqlError as error:
        message = error.message  # a 400 with a message, never a crash (a 500)
        assert message, text
        return
    hits = [i for i in ISSUES if query.matches(SITE, i, now=NOW, current_user=ALICE, accounts=STATE.accounts)]
    assert sorted(i.key for i in query.sort(SITE, hits)) == sorted(i.key for i in hits)
