"""Jira text in Atlassian Document Format (ADF) as plain dicts: the description of a created ticket
(SPEC section 3, "Creating a ticket") and comment bodies.

The description is the request's text (else the item's own description) followed, below a rule, by
the item's context: its type and id, severity, status, attributes (sorted by name) and a link to it:

    Null rate spiked on orders.
    ───
    **Type:** anomaly  **ID:** an-42 ... (one per line)
    **Link:** https://host.example/anomalies/42

Text becomes paragraphs at blank lines, single newlines become line breaks and http(s) URLs become
links (without trailing punctuation, so "see https://x.example/a." links `https://x.example/a`).
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

from jirabridge.domain.items import Item

Node = dict[str, Any]

_URL = re.compile(r"https?://[^\s<>\"'`()\[\]{}]+")
_TRAILING_PUNCTUATION = ".,;:!?*_~"
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")


# -- the few ADF nodes we write ----------------------------------------------------------------


def doc(*blocks: Node) -> Node:
    return {"type": "doc", "version": 1, "content": list(blocks)}


def paragraph(*parts: Node | str) -> Node:
    # ADF refuses empty text nodes, so empty strings are dropped.
    return {"type": "paragraph", "content": [text(p) if isinstance(p, str) else p for p in parts if p != ""]}


def text(value: str, *marks: Node) -> Node:
    node: Node = {"type": "text", "text": value}
    if marks:
        node["marks"] = list(marks)
    return node


def link(label: str, href: str) -> Node:
    return text(label, {"type": "link", "attrs": {"href": href}})


def strong(value: str) -> Node:
    return text(value, {"type": "strong"})


def hard_break() -> Node:
    return {"type": "hardBreak"}


def rule() -> Node:
    return {"type": "rule"}


# -- text -----------------------------------------------------------------------------------------


def linkify(line: str) -> list[Node]:
    """A line as text nodes, its URLs as links."""
    nodes: list[Node] = []
    position = 0
    for match in _URL.finditer(line):
        url = match.group(0).rstrip(_TRAILING_PUNCTUATION)
        if len(url) <= len("https://"):
            continue
        if match.start() > position:
            nodes.append(text(line[position : match.start()]))
        nodes.append(link(url, url))
        position = match.start() + len(url)
    if position < len(line):
        nodes.append(text(line[position:]))
    return nodes


def paragraphs(value: str) -> list[Node]:
    """Plain text as paragraphs: blank lines separate them, newlines inside one are line breaks."""
    blocks: list[Node] = []
    normalised = value.replace("\r\n", "\n").replace("\r", "\n")
    for chunk in _PARAGRAPH_BREAK.split(normalised):
        lines = chunk.strip("\n").split("\n")
        if not any(line.strip() for line in lines):
            continue
        parts: list[Node] = []
        for number, line in enumerate(lines):
            if number:
                parts.append(hard_break())
            parts.extend(linkify(line))
        blocks.append(paragraph(*parts))
    return blocks


def text_to_adf(value: str) -> Node:
    """A plain-text comment (or any text) as an ADF document; empty text gives an empty document."""
    return doc(*paragraphs(value))


# -- ticket descriptions --------------------------------------------------------------------------


def ticket_description(request_text: str | None, item: Item) -> Node:
    """The description of a ticket created for `item`: the request's text, else the item's
    description, then the item's context."""
    body = request_text if request_text is not None and request_text.strip() else item.description
    blocks = paragraphs(body or "")
    if blocks:
        blocks.append(rule())
    blocks.append(item_context(item))
    return doc(*blocks)


def item_context(item: Item) -> Node:
    """One paragraph, a line per known fact about the item; empty values are left out."""
    facts: list[tuple[str, Any]] = [
        ("Type", item.type),
        ("ID", item.id),
        ("Severity", item.severity),
        ("Status", item.status),
        *((name, item.attributes[name]) for name in sorted(item.attributes)),
    ]
    lines: list[list[Node]] = []
    for label, value in facts:
        shown = _one_line(value)
        if shown:
            lines.append([strong(f"{label}: "), *linkify(shown)])
    url = _one_line(item.url)
    if url:
        lines.append([strong("Link: "), link(url, url) if _is_web_url(url) else text(url)])
    parts: list[Node] = []
    for number, line in enumerate(lines):
        if number:
            parts.append(hard_break())
        parts.extend(line)
    return paragraph(*parts)


def _one_line(value: Any) -> str:
    """A value on one line; "" for nothing to show."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ", ".join(shown for v in value if (shown := _one_line(v)))
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str) if value else ""
    return " ".join(str(value).split())  # one line: newlines and runs of spaces become one space


def _is_web_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)
