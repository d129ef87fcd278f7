"""Atlassian Document Format: a small builder for what jirabridge writes (paragraphs of text, links,
inline code, code blocks, line breaks) and ADF → plain text for what it reads.

    doc(paragraph("See ", link("the finding", "https://host/x"), " and ", code("pip install")),
        code_block("Traceback ...", language="python"))
    from_text("first paragraph\\n\\nsecond, with https://host/y linked")
"""

from __future__ import annotations

import re
from typing import Any

Node = dict[str, Any]

_URL = re.compile(r"https?://[^\s<>\"')\]]+")
_BLOCK_SEPARATOR = {"paragraph", "heading", "codeBlock", "blockquote", "rule", "panel"}


def doc(*blocks: Node) -> Node:
    return {"type": "doc", "version": 1, "content": list(blocks)}


def paragraph(*parts: Node | str) -> Node:
    content = [text(p) if isinstance(p, str) else p for p in parts if p != ""]
    return {"type": "paragraph", "content": content}


def text(value: str, *marks: Node) -> Node:
    node: Node = {"type": "text", "text": value}
    if marks:
        node["marks"] = list(marks)
    return node


def link(label: str, href: str) -> Node:
    return text(label, {"type": "link", "attrs": {"href": href}})


def code(value: str) -> Node:
    return text(value, {"type": "code"})


def strong(value: str) -> Node:
    return text(value, {"type": "strong"})


def hard_break() -> Node:
    return {"type": "hardBreak"}


def code_block(value: str, language: str | None = None) -> Node:
    node: Node = {"type": "codeBlock", "content": [text(value)] if value else []}
    if language:
        node["attrs"] = {"language": language}
    return node


def linkify(line: str) -> list[Node]:
    """A line of text as text nodes, with its URLs as links."""
    nodes: list[Node] = []
    position = 0
    for match in _URL.finditer(line):
        if match.start() > position:
            nodes.append(text(line[position : match.start()]))
        nodes.append(link(match.group(0), match.group(0)))
        position = match.end()
    if position < len(line):
        nodes.append(text(line[position:]))
    return nodes


def from_text(value: str) -> Node:
    """Plain text as a document: blank lines separate paragraphs, single newlines become hard breaks,
    URLs become links, and ``` fences become code blocks. Empty text gives an empty document."""
    blocks: list[Node] = []
    chunks = re.split(r"^```(\w*)[ \t]*\n(.*?)^```[ \t]*$", value.replace("\r\n", "\n"), flags=re.S | re.M)
    # re.split with two groups yields: text, language, code, text, language, code, ..., text
    for index in range(0, len(chunks), 3):
        for para in re.split(r"\n[ \t]*\n", chunks[index]):
            lines = para.strip("\n").split("\n")
            if not any(line.strip() for line in lines):
                continue
            parts: list[Node] = []
            for number, line in enumerate(lines):
                if number:
                    parts.append(hard_break())
                parts.extend(linkify(line))
            blocks.append({"type": "paragraph", "content": parts})
        if index + 2 < len(chunks):
            blocks.append(code_block(chunks[index + 2].rstrip("\n"), chunks[index + 1] or None))
    return doc(*blocks)


def to_text(node: Node | str | None) -> str:
    """The readable text of a document: blocks separated by blank lines, hard breaks as newlines,
    mentions and emoji by their text, links as their label (with the URL when it differs)."""
    if node is None:
        return ""
    if isinstance(node, str):  # a v2 body or a webhook payload field: already text
        return node
    return _render(node).strip("\n")


def _render(node: Node) -> str:
    kind = node.get("type")
    if kind == "text":
        value = str(node.get("text", ""))
        for mark in node.get("marks") or []:
            href = (mark.get("attrs") or {}).get("href") if mark.get("type") == "link" else None
            if href and href != value:
                value = f"{value} ({href})"
        return value
    if kind == "hardBreak":
        return "\n"
    if kind in ("mention", "emoji", "status", "date"):
        attrs = node.get("attrs") or {}
        return str(attrs.get("text") or attrs.get("shortName") or attrs.get("timestamp") or "")
    if kind == "inlineCard":
        return str((node.get("attrs") or {}).get("url", ""))
    children = node.get("content") or []
    if kind == "listItem":
        return "".join(_render(c) for c in children).strip("\n")
    if kind in ("bulletList", "orderedList"):
        marker = "- " if kind == "bulletList" else "{n}. "
        items = [marker.format(n=n) + _render(c) for n, c in enumerate(children, 1)]
        return "\n".join(items) + "\n\n"
    inner = "".join(_render(c) for c in children)
    if kind in _BLOCK_SEPARATOR:
        return inner.strip("\n") + "\n\n"
    return inner
