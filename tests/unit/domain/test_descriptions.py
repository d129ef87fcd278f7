"""The ADF description of a created ticket and ADF comment bodies (SPEC section 3)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from jirabridge.domain.descriptions import text_to_adf, ticket_description
from jirabridge.domain.items import Item

Node = dict[str, Any]

ANOMALY = Item(
    type="anomaly",
    id="an-42",
    title="Null rate spike",
    description="From the host.",
    status="Active",
    severity="high",
    attributes={"team": "data", "service": "billing", "env": None, "tags": ["a", "b"]},
    url="https://host.example/anomalies/42",
)


def _nodes(node: Node) -> Iterator[Node]:
    yield node
    for child in node.get("content", []):
        yield from _nodes(child)


def _plain(node: Node) -> str:
    """Text as a reader sees it: hard breaks as newlines, blocks on their own lines."""
    kind = node["type"]
    if kind == "text":
        return str(node["text"])
    if kind == "hardBreak":
        return "\n"
    if kind == "rule":
        return "---"
    inner = "".join(_plain(child) for child in node.get("content", []))
    return inner + "\n\n" if kind == "paragraph" else inner


def _links(node: Node) -> list[tuple[str, str]]:
    return [
        (n["text"], mark["attrs"]["href"])
        for n in _nodes(node)
        for mark in n.get("marks", [])
        if mark["type"] == "link"
    ]


def test_the_description_is_the_request_text_then_the_items_context() -> None:
    adf = ticket_description("Spike at 10:00.\n\nSee https://dash.example/x.", ANOMALY)
    assert adf["type"] == "doc" and adf["version"] == 1
    assert [block["type"] for block in adf["content"]] == ["paragraph", "paragraph", "rule", "paragraph"]
    assert _plain(adf).split("\n") == [
        "Spike at 10:00.",
        "",
        "See https://dash.example/x.",
        "",
        "---Type: anomaly",
        "ID: an-42",
        "Severity: high",
        "Status: Active",
        "service: billing",  # attributes sorted by name; empty ones left out
        "tags: a, b",
        "team: data",
        "Link: https://host.example/anomalies/42",
        "",
        "",
    ]


def test_urls_become_links_and_labels_are_bold() -> None:
    adf = ticket_description("See https://dash.example/x.", ANOMALY)
    assert _links(adf) == [
        ("https://dash.example/x", "https://dash.example/x"),  # without the full stop
        ("https://host.example/anomalies/42", "https://host.example/anomalies/42"),
    ]
    context = adf["content"][-1]["content"]
    assert context[0] == {"type": "text", "text": "Type: ", "marks": [{"type": "strong"}]}


def test_without_request_text_the_items_description_is_used() -> None:
    adf = ticket_description(None, ANOMALY)
    assert _plain(adf).startswith("From the host.\n\n---Type: anomaly")
    assert ticket_description("   ", ANOMALY) == adf


def test_an_item_with_nothing_but_its_name_gives_just_its_context() -> None:
    adf = ticket_description(None, Item(type="error", id="e-1", title="t", url="javascript:alert(1)"))
    assert [block["type"] for block in adf["content"]] == ["paragraph"]
    assert _plain(adf) == "Type: error\nID: e-1\nLink: javascript:alert(1)\n\n"
    assert _links(adf) == []  # only web URLs become links


def test_multi_line_values_stay_on_their_line() -> None:
    item = Item(type="error", id="e-1", title="t", attributes={"trace": "line 1\nline  2"})
    assert "trace: line 1 line 2" in _plain(ticket_description(None, item))


def test_comment_text_as_adf() -> None:
    adf = text_to_adf("[2024-01-15 10:30:00 UTC] Qualytics Anomaly Status: Acknowledged")
    assert adf == {
        "type": "doc",
        "version": 1,
        "content": [
            {
                "type": "paragraph",
                "content": [
                    {
                        "type": "text",
                        "text": "[2024-01-15 10:30:00 UTC] Qualytics Anomaly Status: Acknowledged",
                    }
                ],
            }
        ],
    }


def test_text_to_adf_keeps_line_breaks_and_paragraphs() -> None:
    adf = text_to_adf("one\r\ntwo\n \nthree (https://x.example/a)")
    assert _plain(adf) == "one\ntwo\n\nthree (https://x.example/a)\n\n"
    assert _links(adf) == [("https://x.example/a", "https://x.example/a")]


def test_empty_text_is_an_empty_document() -> None:
    assert text_to_adf("\n \n") == {"type": "doc", "version": 1, "content": []}


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(["a", " ", "\n", "\t", "\r", ".", ")", "(", "https://", "x.y/", "é"])).map(
        "".join
    )
)
def test_text_to_adf_loses_and_adds_nothing(value: str) -> None:
    adf = text_to_adf(value)
    texts = [n["text"] for n in _nodes(adf) if n["type"] == "text"]
    assert all(texts)  # ADF refuses empty text nodes
    assert all(p.get("content") for p in adf["content"])  # and we write no empty paragraphs
    assert re.sub(r"\s", "", "".join(texts)) == re.sub(r"\s", "", value)
    for label, href in _links(adf):
        assert label == href and re.fullmatch(r"https?://\S+", href) and not href.endswith(".")
