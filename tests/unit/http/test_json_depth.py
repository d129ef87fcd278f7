"""The JSON depth scan of request bodies (entrypoints/http/limits.py): however a body is cut into
pieces on the wire, the scan measures the depth the parser would find, strings and escapes included."""

from __future__ import annotations

import itertools
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from jirabridge.entrypoints.http.limits import JsonDepth

# Text full of what could fool a scan: brackets, quotes and backslashes inside strings.
TRICKY = st.text(alphabet=st.sampled_from('[]{}"\\ab\n\u00e9\U0001f600'), max_size=8)
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | TRICKY,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TRICKY, inner, max_size=3),
    max_leaves=30,
)


def depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    return 0


def scan(body: bytes, cuts: list[int], limit: int) -> bool:
    scanner = JsonDepth(limit)
    bounds = [0, *sorted(set(cuts)), len(body)]
    return all([scanner.feed(body[start:end]) for start, end in itertools.pairwise(bounds)])


@given(VALUES, st.lists(st.integers(min_value=0, max_value=400), max_size=6), st.booleans())
def test_the_scan_agrees_with_the_parser_wherever_the_body_is_cut(
    value: Any, cuts: list[int], ascii_only: bool
) -> None:
    body = json.dumps(value, ensure_ascii=ascii_only).encode()
    actual = depth(json.loads(body))
    assert scan(body, cuts, actual)  # deep as it is: accepted
    if actual > 0:
        assert not scan(body, cuts, actual - 1)  # one level less allowed: refused


def test_every_cut_through_escapes_and_brackets_in_strings() -> None:
    body = json.dumps({"a\\": ['"[[{', "\\\\", {"]": '\\"}'}], "b": [[[]]]}).encode()
    assert depth(json.loads(body)) == 4
    for cut in range(len(body) + 1):
        assert scan(body, [cut], 4) and not scan(body, [cut], 3)
    assert scan(body, list(range(len(body))), 4) and not scan(body, list(range(len(body))), 3)  # bytewise


def test_deep_nesting_is_refused_as_soon_as_it_crosses_the_limit() -> None:
    scanner = JsonDepth(64)
    assert scanner.feed(b"[" * 64)
    assert not scanner.feed(b"[")
