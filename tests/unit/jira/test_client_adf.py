"""ADF: what jirabridge writes (paragraphs, links, code) and reading any document back as text."""

from __future__ import annotations

from jirabridge.jira import adf


def test_the_builder_makes_paragraphs_links_and_code() -> None:
    document = adf.doc(
        adf.paragraph(
            "See ", adf.link("the finding", "https://host.example/f/1"), " or run ", adf.code("make")
        ),
        adf.code_block("Traceback (most recent call last):", language="python"),
    )
    assert document == {
        "type": "doc",
        "version": 1,
        "content": [
            {
                "type": "paragraph",
                "content": [
                    {"type": "text", "text": "See "},
                    {
                        "type": "text",
                        "text": "the finding",
                        "marks": [{"type": "link", "attrs": {"href": "https://host.example/f/1"}}],
                    },
                    {"type": "text", "text": " or run "},
                    {"type": "text", "text": "make", "marks": [{"type": "code"}]},
                ],
            },
            {
                "type": "codeBlock",
                "attrs": {"language": "python"},
                "content": [{"type": "text", "text": "Traceback (most recent call last):"}],
            },
        ],
    }


def test_plain_text_becomes_paragraphs_with_breaks_and_links() -> None:
    document = adf.from_text("Status: Fixed\nby https://host.example/a/1\n\nSecond paragraph")
    first, second = document["content"]
    assert [n["type"] for n in first["content"]] == ["text", "hardBreak", "text", "text"]
    assert first["content"][3]["marks"][0]["attrs"]["href"] == "https://host.example/a/1"
    assert second == {"type": "paragraph", "content": [{"type": "text", "text": "Second paragraph"}]}


def test_fenced_code_becomes_a_code_block() -> None:
    document = adf.from_text("Before\n```sql\nselect 1;\n```\nAfter")
    kinds = [b["type"] for b in document["content"]]
    assert kinds == ["paragraph", "codeBlock", "paragraph"]
    assert document["content"][1]["attrs"] == {"language": "sql"}


def test_empty_text_is_an_empty_document() -> None:
    assert adf.from_text("") == {"type": "doc", "version": 1, "content": []}
    assert adf.from_text("\n\n  \n") == {"type": "doc", "version": 1, "content": []}


def test_text_round_trips() -> None:
    text = "Line one\nline two\n\nSecond paragraph"
    assert adf.to_text(adf.from_text(text)) == text


def test_links_keep_their_url_when_the_label_differs() -> None:
    document = adf.doc(adf.paragraph(adf.link("ticket", "https://x.example/1"), " and https://y.example"))
    assert adf.to_text(document) == "ticket (https://x.example/1) and https://y.example"


def test_reading_lists_mentions_and_strings() -> None:
    document = {
        "type": "doc",
        "version": 1,
        "content": [
            {
                "type": "paragraph",
                "content": [
                    {"type": "mention", "attrs": {"id": "1", "text": "@Ada"}},
                    {"type": "text", "text": " look"},
                ],
            },
            {
                "type": "bulletList",
                "content": [
                    {"type": "listItem", "content": [{"type": "paragraph", "content": [adf.text("a")]}]},
                    {"type": "listItem", "content": [{"type": "paragraph", "content": [adf.text("b")]}]},
                ],
            },
        ],
    }
    assert adf.to_text(document) == "@Ada look\n\n- a\n- b"
    assert adf.to_text("v2 bodies are already text") == "v2 bodies are already text"
    assert adf.to_text(None) == ""
