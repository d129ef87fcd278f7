"""The routing rules' query language (SPEC section 3, "Rules"): what a query matches, the errors a
person writing one sees, and the laws the operators obey (hypothesis)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from jirabridge.domain.items import Item
from jirabridge.domain.rules import QueryError, check, first_match, matches, parse

ERROR = Item(
    type="error",
    id="e-1",
    title="Gateway timeout in web-store checkout (TimeoutError)",
    description="upstream closed the connection",
    status="Open",
    severity="High",
    assignee="u-7",
    attributes={
        "service": "web-store",
        "Team": "Shopist",
        "env": "prod-eu",
        "retries": 3,
        "flaky": True,
        "owner": None,
        "path": "/api/v1/cart",
    },
)


def hit(query: str, item: Item = ERROR) -> bool:
    return matches(parse(query), item)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # the examples of the issue and the SPEC
        ("service:web-store AND team:Shopist", True),
        ("service:web-store team:Shopist", True),
        ("service:web-store -team:Shopist", False),
        ("service:web-store NOT team:Acme", True),
        ("severity:(critical OR high)", True),
        ("severity:(critical OR low)", False),
        ("service:web-store OR team:nobody", True),
        ("(service:api OR service:web-store) env:prod*", True),
        # values are compared whole and case-insensitively; field names are case-insensitive
        ("service:WEB-STORE", True),
        ("SERVICE:web-store", True),
        ("TEAM:shopist", True),
        ("service:web", False),
        ("service:web*", True),
        ("service:*store", True),
        ("service:w*-s*e", True),
        ("env:prod", False),
        ("retries:3", True),
        ("flaky:true", True),
        ('path:"/api/v1/cart"', True),
        ("path:\\/api\\/v1\\/cart", True),
        ("type:error", True),
        ("id:e-1", True),
        ("status:open", True),
        ("assignee:u-7", True),
        ("attributes.team:shopist", True),
        # text fields match words; a phrase matches consecutive words
        ("title:timeout", True),
        ("title:TIMEOUT", True),
        ("title:timeouts", False),
        ("title:time", False),
        ("title:time*", True),
        ("title:*error", True),
        ('title:"gateway timeout"', True),
        ('title:"timeout gateway"', False),
        ("title:web-store", True),
        ('title:"web store checkout"', True),
        ("description:connection", True),
        ("timeout", True),
        ("checkout timeout", True),
        ('"gateway timeout"', True),
        ("cart", False),
        # `field:*` is "has the field"; a missing field never matches a positive term
        ("service:*", True),
        ("region:*", False),
        ("-region:*", True),
        ("region:eu", False),
        ("-region:eu", True),
        ("owner:*", False),
        ("NOT owner:x", True),
        ("*", True),
        # AND binds tighter than OR, also when implicit
        ("service:api team:shopist OR env:prod-eu", True),
        ("service:api team:shopist OR env:dev", False),
        ("env:dev OR service:web-store team:shopist", True),
    ],
)
def test_what_a_query_matches(query: str, expected: bool) -> None:
    assert hit(query) is expected


def test_quoted_and_escaped_stars_are_plain_characters() -> None:
    item = Item(type="error", id="1", title="x", attributes={"glob": "a*b"})
    assert hit('glob:"a*b"', item) and hit("glob:a\\*b", item)
    assert not hit('glob:"a*"', item) and hit("glob:a*", item)
    assert not hit("glob:a\\*", item)


def test_numbers_and_lists_compare_as_text() -> None:
    item = Item(type="error", id="1", title="x", attributes={"ratio": 1.5, "tags": ["py", "web"]})
    assert hit("ratio:1.5", item) and hit("tags:web", item) and not hit("tags:go", item)


@pytest.mark.parametrize(
    ("query", "position", "words"),
    [
        ("service:web-store && team:x", 18, "AND instead of &&"),
        ("a || b", 2, "OR instead of ||"),
        ("!team:x", 0, "NOT or -"),
        ("service:x and team:y", 10, "capitals"),
        ("service:(team:x)", 9, "inside the value"),
        ("severity:(high OR", 17, "ends too early"),
        ("service:web)", 11, "unexpected ')'"),
        ('title:"open', 6, "unclosed quote"),
        ("count:[1 TO 5]", 6, "ranges"),
        ("title:/time.*/", 6, "regular expressions"),
        ("title:timeout~", 6, "fuzzy"),
        ("service:web^2", 8, "boosts"),
        ("+service:web", 0, "+ is not supported"),
        ('title:"--"', 6, "no letters or digits"),
        ("", 0, "empty"),
        ("   ", 0, "empty"),
    ],
)
def test_a_bad_query_says_what_is_wrong_and_where(query: str, position: int, words: str) -> None:
    error = check(query)
    assert error is not None
    assert words in error.reason and error.position == position
    with pytest.raises(QueryError):
        parse(query)


def test_deep_nesting_is_refused_not_a_crash() -> None:
    error = check("(" * 300 + "a" + ")" * 300)
    assert error is not None and "deeper" in error.reason


@dataclass(frozen=True)
class Rule:
    name: str
    query: str
    enabled: bool = True


def test_the_first_enabled_matching_rule_wins() -> None:
    rules = [
        Rule("off", "service:web-store", enabled=False),
        Rule("api", "service:api"),
        Rule("web", "service:web-store"),
        Rule("shop", "team:shopist"),
    ]
    assert first_match(rules, ERROR) == rules[2]
    assert first_match([rules[3], rules[2]], ERROR) == rules[3]
    assert first_match(rules[:2], ERROR) is None
    assert first_match([Rule("broken", "a &&"), rules[3]], ERROR) == rules[3]


# -- laws (hypothesis) -----------------------------------------------------------------------------

FIELDS = ("service", "team", "env", "severity", "status")
VALUES = ("web-store", "shopist", "api", "prod", "high", "open")


@st.composite
def items(draw: st.DrawFn) -> Item:
    attributes: dict[str, Any] = {}
    for name in ("service", "team", "env"):
        if draw(st.booleans()):
            key = draw(st.sampled_from([name, name.upper(), name.capitalize()]))
            attributes[key] = draw(st.sampled_from(VALUES))
    severity = draw(st.none() | st.sampled_from(VALUES))
    status = draw(st.none() | st.sampled_from(VALUES))
    return Item(type="error", id="e", title="t", severity=severity, status=status, attributes=attributes)


def reference_value(item: Item, name: str) -> str | None:
    if name in ("severity", "status"):
        value = getattr(item, name)
        return value.casefold() if value else None
    found = [v for k, v in item.attributes.items() if k.casefold() == name]
    return str(found[0]).casefold() if found else None


# A tiny query AST, rendered as text and evaluated independently of the implementation.
Ast = tuple[Any, ...]


def atoms() -> st.SearchStrategy[Ast]:
    exact = st.tuples(st.just("is"), st.sampled_from(FIELDS), st.sampled_from(VALUES))
    prefix = st.tuples(st.just("prefix"), st.sampled_from(FIELDS), st.sampled_from(["web", "sho", "p", "h"]))
    present = st.tuples(st.just("present"), st.sampled_from(FIELDS))
    return exact | prefix | present


def asts() -> st.SearchStrategy[Ast]:
    return st.recursive(
        atoms(),
        lambda inner: (
            st.tuples(st.sampled_from(["and", "implicit", "or"]), inner, inner)
            | st.tuples(st.sampled_from(["minus", "not"]), inner)
        ),
        max_leaves=8,
    )


def render(ast: Ast, casing: str = "lower") -> str:
    kind = ast[0]
    if kind in ("is", "prefix", "present"):
        name = ast[1].upper() if casing == "upper" else ast[1]
        value = {"is": lambda: ast[2], "prefix": lambda: ast[2] + "*", "present": lambda: "*"}[kind]()
        return f"{name}:{value}"
    if kind in ("minus", "not"):
        inner = render(ast[1], casing)
        return f"-({inner})" if kind == "minus" else f"NOT ({inner})"
    operator = {"and": " AND ", "implicit": " ", "or": " OR "}[kind]
    return f"({render(ast[1], casing)}){operator}({render(ast[2], casing)})"


def evaluate(ast: Ast, item: Item) -> bool:
    kind = ast[0]
    if kind in ("is", "prefix", "present"):
        value = reference_value(item, ast[1])
        if value is None:
            return False
        return kind == "present" or (value == ast[2] if kind == "is" else value.startswith(ast[2]))
    if kind in ("minus", "not"):
        return not evaluate(ast[1], item)
    left, right = evaluate(ast[1], item), evaluate(ast[2], item)
    return left or right if kind == "or" else left and right


@settings(max_examples=300, deadline=None)
@given(asts(), items())
def test_queries_mean_what_the_operators_say(ast: Ast, item: Item) -> None:
    assert hit(render(ast), item) is evaluate(ast, item)


@settings(max_examples=200, deadline=None)
@given(asts(), asts(), items())
def test_and_matches_exactly_when_both_match(a: Ast, b: Ast, item: Item) -> None:
    both = hit(render(a), item) and hit(render(b), item)
    assert hit(f"({render(a)}) AND ({render(b)})", item) is both
    assert hit(f"({render(a)}) ({render(b)})", item) is both


@settings(max_examples=200, deadline=None)
@given(asts(), asts(), items())
def test_or_matches_exactly_when_either_matches(a: Ast, b: Ast, item: Item) -> None:
    either = hit(render(a), item) or hit(render(b), item)
    assert hit(f"({render(a)}) OR ({render(b)})", item) is either


@settings(max_examples=200, deadline=None)
@given(asts(), items())
def test_minus_and_not_are_the_complement(ast: Ast, item: Item) -> None:
    positive = hit(render(ast), item)
    assert hit(f"-({render(ast)})", item) is not positive
    assert hit(f"NOT ({render(ast)})", item) is not positive


@settings(max_examples=200, deadline=None)
@given(atoms(), atoms(), atoms(), items())
def test_and_binds_tighter_than_or_written_or_implicit(a: Ast, b: Ast, c: Ast, item: Item) -> None:
    expected = (evaluate(a, item) and evaluate(b, item)) or evaluate(c, item)
    x, y, z = render(a), render(b), render(c)
    assert hit(f"{x} {y} OR {z}", item) is expected
    assert hit(f"{x} AND {y} OR {z}", item) is expected
    assert hit(f"{z} OR {x} {y}", item) is expected


@settings(max_examples=200, deadline=None)
@given(asts(), items())
def test_field_names_are_case_insensitive(ast: Ast, item: Item) -> None:
    assert hit(render(ast, "upper"), item) is hit(render(ast), item)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(FIELDS[:3]), st.sampled_from([*VALUES, "*", "web*"]), items())
def test_a_missing_attribute_never_matches_a_positive_term(name: str, value: str, item: Item) -> None:
    assume(reference_value(item, name) is None)
    assert not hit(f"{name}:{value}", item)
    assert hit(f"-{name}:{value}", item)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(asts(), st.booleans()), max_size=6), items())
def test_order_decides_between_matching_rules(drawn: list[tuple[Ast, bool]], item: Item) -> None:
    rules = [Rule(f"r{i}", render(ast), enabled) for i, (ast, enabled) in enumerate(drawn)]
    expected = next(
        (r for r, (ast, _) in zip(rules, drawn, strict=True) if r.enabled and evaluate(ast, item)), None
    )
    assert first_match(rules, item) == expected
    matching = [r for r in rules if r.enabled and hit(r.query, item)]
    if len(matching) >= 2:
        reordered = [matching[1], *[r for r in rules if r is not matching[1]]]
        assert first_match(reordered, item) == matching[1]


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from(list('ab: ()"*-!&|\\~^[]{}/+ANDORT')), max_size=30))
def test_any_text_parses_or_names_a_position_inside_it(text: str) -> None:
    error = check(text)
    if error is None:
        matches(parse(text), ERROR)  # a query that parses can be evaluated
    else:
        assert 0 <= error.position <= len(text)
