"""What a transition with a screen is sent, from the project settings' `transition_fields`."""

from __future__ import annotations

from jirabridge.domain.items import Item
from jirabridge.domain.transition_fields import MissingField, ScreenField, fill

ITEM = Item(type="finding", id="f-1", title="Printer on fire", attributes={"env": "prod", "why": "Duplicate"})
RESOLUTION = ScreenField("resolution", "Resolution", True, ("set",), "resolution")
COMMENT = ScreenField("comment", "Comment", False, ("add", "edit", "remove"), "comments-page")
SEVERITY = ScreenField("customfield_10051", "Severity", True, ("set",), "option")
LABELS = ScreenField("labels", "Labels", False, ("add", "set", "remove"), "array")


def test_values_go_where_jira_takes_them() -> None:
    settings = {
        "Done": {
            "resolution": "{attributes.why}",
            "comment": "Fixed in {attributes.env}",
            "customfield_10051": "High",
            "labels": ["env-{attributes.env}"],
        }
    }
    filled = fill([RESOLUTION, COMMENT, SEVERITY, LABELS], settings, "done", ITEM)

    assert filled.fields == {
        "resolution": {"name": "Duplicate"},  # a plain name becomes the object Jira expects
        "customfield_10051": {"value": "High"},
        "labels": ["env-prod"],
    }
    body = {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Fixed in prod"}]}],
    }
    assert filled.update == {"comment": [{"add": {"body": body}}]}
    assert filled.missing == []


def test_only_fields_on_the_screen_are_sent() -> None:
    filled = fill([], {"Done": {"resolution": {"name": "Done"}}}, "Done", ITEM)
    assert (filled.fields, filled.update, filled.missing) == ({}, {}, [])


def test_a_required_field_left_empty_is_missing_with_the_setting_that_fills_it() -> None:
    filled = fill([RESOLUTION, COMMENT], {"Won't Do": {"resolution": "{attributes.nope}"}}, "won't do", ITEM)
    assert filled.missing == [
        MissingField("resolution", "Resolution", 'transition_fields["Won\'t Do"].resolution')
    ]
    unset = fill([RESOLUTION], {}, "Done", ITEM)
    assert unset.missing == [MissingField("resolution", "Resolution", 'transition_fields["Done"].resolution')]


def test_a_required_field_with_a_default_is_not_missing() -> None:
    defaulted = ScreenField("priority", "Priority", True, ("set",), "priority", has_default=True)
    assert fill([defaulted], {}, "Done", ITEM).missing == []


def test_an_unknown_screen_gets_every_configured_value() -> None:
    filled = fill(None, {"Done": {"resolution": "Done", "comment": "bye"}}, "Done", ITEM)
    assert filled.fields == {"resolution": {"name": "Done"}}
    assert list(filled.update) == ["comment"]
