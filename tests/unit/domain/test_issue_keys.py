"""Issue-key detection in time entry descriptions (SPEC section 3, "Worklogs")."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jirabridge.domain.issue_keys import first_issue_key, is_issue_key


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("Fix login WEB-184", "WEB-184"),
        ("WEB-184: fix login", "WEB-184"),
        ("(WEB-184)", "WEB-184"),
        ("[WEB-184] fix", "WEB-184"),
        ("#WEB-184", "WEB-184"),
        ("see https://acme.atlassian.net/browse/WEB-184.", "WEB-184"),
        ("branch WEB-184-fix-login", "WEB-184"),
        ("A1_B2-7 then WEB-1", "A1_B2-7"),
        ("first DQ-12 then WEB-184", "DQ-12"),
        ("web-184 is lower case, WEB-9 is not", "WEB-9"),
        ("ABCDEFGHIJ-1", "ABCDEFGHIJ-1"),
    ],
)
def test_the_first_key_standing_on_its_own_is_found(text: str, key: str) -> None:
    assert first_issue_key(text) == key


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "Fix the login page",
        "web-184",
        "Web-184",
        "xWEB-184",
        "éWEB-184",
        "WEB-184x",
        "WEB-184é",
        "WEB-0184",
        "WEB-0",
        "W-1",  # a project key has at least two characters
        "ABCDEFGHIJK-1",  # and at most ten
        "1WEB-1",
        "_WEB-1",
        "hotfix-WEB-184",  # after a hyphen: one word, as Jira reads it
        "utf-8 and covid-19",
        "WEB-1234567890",  # no issue number has ten digits
    ],
)
def test_text_without_a_key_has_none(text: str | None) -> None:
    assert first_issue_key(text) is None


@pytest.mark.parametrize("key", ["WEB-1", "DQ-12", "A_1-99", "ABCDEFGHIJ-123456789"])
def test_keys_are_keys(key: str) -> None:
    assert is_issue_key(key)


@pytest.mark.parametrize("text", ["web-1", "WEB-01", "WEB 1", "WEB-1 ", "W-1", "WEB-", "-1", "WEB_1"])
def test_other_text_is_not_a_key(text: str) -> None:
    assert not is_issue_key(text)


project_keys = st.from_regex(r"\A[A-Z][A-Z0-9_]{1,9}\Z")
numbers = st.integers(min_value=1, max_value=999_999_999)
keys = st.builds(lambda project, number: f"{project}-{number}", project_keys, numbers)
separators = st.sampled_from([" ", "(", "[", ": ", "\n", "/", "#", ", "])
words = st.text(alphabet=st.characters(codec="utf-8"), max_size=30)


@given(keys, separators, words)
def test_a_key_after_a_separator_is_found(key: str, separator: str, tail: str) -> None:
    assert first_issue_key(f"Worked on{separator}{key} {tail}") == key


@given(keys)
def test_every_found_key_is_a_key_and_round_trips(key: str) -> None:
    assert is_issue_key(key) and first_issue_key(key) == key


@given(words)
def test_whatever_is_found_is_a_key_standing_in_the_text(text: str) -> None:
    found = first_issue_key(text)
    if found is not None:
        assert is_issue_key(found)
        assert re.search(rf"(?<![\w-]){re.escape(found)}(?!\w)", text)


@given(keys, st.sampled_from(["x", "é", "7", "_", "Ω"]))
def test_a_key_glued_to_a_word_before_it_is_never_found(key: str, glue: str) -> None:
    assert first_issue_key(f"{glue}{key}") != key


@given(keys, st.sampled_from(["x", "é", "_", "Ω", "٣"]))
def test_a_key_glued_to_a_word_after_it_is_never_found(key: str, glue: str) -> None:
    assert first_issue_key(f"{key}{glue}") is None


@given(keys)
def test_lower_case_is_never_a_key(key: str) -> None:
    assert first_issue_key(key.lower()) is None
