"""Field-default templates over an item, and the status comment (SPEC section 3)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jirabridge.domain.items import Item
from jirabridge.domain.settings import DEFAULT_COMMENT_TEMPLATE, comment_template_problem
from jirabridge.domain.templates import MISSING, comment_text, render, validate

ITEM = Item(
    type="error",
    id="e-1",
    title="KeyError in checkout",
    status="Open",
    severity="high",
    attributes={
        "service": "web-store",
        "team": "",
        "points": 5,
        "tags": ["py", "", "checkout", None],
        "k8s": {"namespace": "shop"},
        "flaky": False,
        "region.name": "eu",
        "blank_tags": ["", " "],
    },
    url="https://host.example/errors/1",
)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("svc-{attributes.service}", "svc-web-store"),
        ("{severity}", "high"),
        ("{type}:{id} {title} [{status}]", "error:e-1 KeyError in checkout [Open]"),
        ("{url}", "https://host.example/errors/1"),
        ("no placeholders", "no placeholders"),
        ("{{literal}} {id}", "{literal} e-1"),
        ("{attributes.points}", 5),  # one placeholder keeps its type: a number field gets a number
        ("{attributes.points} points", "5 points"),
        ("{attributes.flaky}", False),
        ("flaky={attributes.flaky}", "flaky=false"),
        ("{attributes.tags}", ["py", "checkout"]),
        ("tags: {attributes.tags}", "tags: py, checkout"),
        ("{attributes.k8s.namespace}", "shop"),  # a path into an object attribute
        ("{attributes.region.name}", "eu"),  # an attribute named with a dot is found first
        (3, 3),
        (True, True),
    ],
)
def test_render(template: Any, expected: Any) -> None:
    assert render(template, ITEM) == expected


@pytest.mark.parametrize(
    "template",
    [
        "svc-{attributes.missing}",
        "{attributes.team}",  # empty
        "{attributes.blank_tags}",  # a list of nothing but blanks
        "team-{attributes.team}",
        "{description}",  # None
        "{attributes.k8s.pod}",
        "{attributes.service.name}",  # a path into a string
        {"name": "{attributes.missing}"},  # an object with a missing value
        ["{attributes.missing}"],  # a list that loses every element
        None,
        "{unknown}",  # refused by validate; never half-written
        "{severity:>5}",
        "{unbalanced",
    ],
)
def test_a_missing_or_empty_value_leaves_the_field_out(template: Any) -> None:
    assert render(template, ITEM) is MISSING


def test_lists_drop_missing_elements_and_splice_in_list_values() -> None:
    template = ["svc-{attributes.service}", "team-{attributes.team}", "{attributes.tags}", "errors"]
    assert render(template, ITEM) == ["svc-web-store", "py", "checkout", "errors"]


def test_objects_render_value_by_value() -> None:
    assert render({"name": "{attributes.service}", "id": 7}, ITEM) == {"name": "web-store", "id": 7}
    assert render([{"value": "{severity}"}], ITEM) == [{"value": "high"}]


def test_literal_empty_values_are_the_configured_value() -> None:
    assert render([], ITEM) == []
    assert render({}, ITEM) == {}


def test_a_blank_value_is_missing() -> None:
    item = Item(type="error", id="e-2", title="t", severity="  ")
    assert render("{severity}", item) is MISSING


@pytest.mark.parametrize(
    "template",
    [
        "svc-{attributes.service}",
        "{{not a placeholder}}",
        ["{type}", {"name": "{attributes.k8s.namespace}"}, 3, 2.5, False],
        "{description} {assignee} {url} {status} {severity} {title} {id}",
    ],
)
def test_valid_templates_have_no_problems(template: Any) -> None:
    assert validate(template) == []


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("svc-{service}", "unknown placeholder {service}; the placeholders are {type}, {id}"),
        ("{attributes}", "unknown placeholder {attributes}"),
        ("{attributes.}", "unknown placeholder {attributes.}"),
        ("{attributes.a..b}", "unknown placeholder {attributes.a..b}"),
        ("{attributes.tags[0]}", "unknown placeholder {attributes.tags[0]}"),
        ("{}", "unknown placeholder {}"),
        ("{severity:>5}", "{severity:>5}: formats and conversions are not supported; write {severity}"),
        ("{title!r}", "{title!r}: formats and conversions are not supported"),
        ("{oops", "is not a valid template"),
        ("a } b", "write a literal brace as {{ or }}"),
        (None, "must not be null"),
        ({"labels": ["ok", "{nope}"]}, "labels[1]: unknown placeholder {nope}"),
        ({"a": {"b": None}}, "a.b: must not be null"),
        (object(), "must be a string, number, boolean, list or object"),
    ],
)
def test_invalid_templates_say_what_is_wrong(template: Any, problem: str) -> None:
    problems = validate(template)
    assert len(problems) == 1
    assert problem in problems[0]


def test_validate_names_every_problem() -> None:
    assert len(validate(["{a}", "{b}", "{type}"])) == 2


def test_deep_nesting_is_refused_rather_than_recursing_without_end() -> None:
    template: Any = "x"
    for _ in range(50):
        template = [template]
    assert validate(template) == ["[0][0][0][0][0][0][0][0][0]: is nested more than 8 levels deep"]


# -- status comments ------------------------------------------------------------------------------

ANOMALY = Item(type="anomaly", id="an-42", title="Null rate spike", url="https://host.example/a/42")
AT = datetime(2024, 1, 15, 10, 30, tzinfo=UTC)


def test_the_default_comment_reads_as_in_the_spec() -> None:
    text = comment_text(
        DEFAULT_COMMENT_TEMPLATE,
        timestamp=AT,
        host="Qualytics",
        item_type="anomaly",
        status="Acknowledged",
        item=ANOMALY,
    )
    assert text == "[2024-01-15 10:30:00 UTC] Qualytics Anomaly Status: Acknowledged"


def test_no_template_means_the_default() -> None:
    text = comment_text(None, timestamp=AT, host="Q", item_type="anomaly", status="Active", item=ANOMALY)
    assert text == "[2024-01-15 10:30:00 UTC] Q Anomaly Status: Active"


@pytest.mark.parametrize(
    ("moment", "shown"),
    [
        (
            datetime(2024, 1, 15, 11, 30, 5, 999, tzinfo=timezone(timedelta(hours=1))),
            "2024-01-15 10:30:05 UTC",
        ),
        (datetime(2024, 1, 15, 10, 30), "2024-01-15 10:30:00 UTC"),  # naive: already UTC
    ],
)
def test_the_timestamp_is_shown_in_utc(moment: datetime, shown: str) -> None:
    text = comment_text("{timestamp}", timestamp=moment, host="Q", item_type="a", status="s", item=ANOMALY)
    assert text == shown


@pytest.mark.parametrize(
    ("item_type", "shown"),
    [("anomaly", "Anomaly"), ("security_finding", "Security finding"), ("API-key", "API key"), ("", "")],
)
def test_the_item_type_is_shown_as_a_word(item_type: str, shown: str) -> None:
    text = comment_text("{item_type}", timestamp=AT, host="Q", item_type=item_type, status="s", item=ANOMALY)
    assert text == shown


def test_every_comment_placeholder_is_filled() -> None:
    template = "{item_id} {title} {url}: {previous_status} -> {status} ({host}) {{x}}"
    text = comment_text(
        template,
        timestamp=AT,
        host="Q",
        item_type="anomaly",
        status="Resolved",
        item=ANOMALY,
        previous_status="Active",
    )
    assert text == "an-42 Null rate spike https://host.example/a/42: Active -> Resolved (Q) {x}"
    assert comment_template_problem(template) is None  # the settings accept exactly these


def test_formats_the_settings_accept_are_applied_and_others_written_as_they_stand() -> None:
    text = comment_text(
        "{status:>8}|{status:%Y}|{other}", timestamp=AT, host="Q", item_type="a", status="Open", item=ANOMALY
    )
    assert text == "    Open|{status:%Y}|{other}"


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="{}ab:!. ", max_size=20))
def test_render_and_validate_never_fail_on_any_text(template: str) -> None:
    problems = validate(template)
    rendered = render(template, ITEM)
    comment_text(template, timestamp=AT, host="Q", item_type="a", status="s", item=ANOMALY)
    if problems:
        assert rendered is MISSING  # an invalid template is never half-written
    else:
        assert rendered is MISSING or isinstance(rendered, str)
