"""Atlassian Document Format: what REST v3 takes and returns for rich text; v2 uses plain strings."""

from __future__ import annotations

from typing import Any

ADF = dict[str, Any]


def text_to_adf(text: str) -> ADF:
    """Plain text to ADF: blank-line separated paragraphs, single newlines as hard breaks."""
    paragraphs = []
    for block in text.split("\n\n"):
        content: list[dict[str, Any]] = []
        for i, line in enumerate(block.split("\n")):
            if i:
                content.append({"type": "hardBreak"})
            if line:
                content.append({"type": "text", "text": line})
        paragraphs.append({"type": "paragraph", "content": content})
    return {"type": "doc", "version": 1, "content": paragraphs}


def adf_to_text(doc: ADF | None) -> str:
    """ADF to plain text, the way Jira renders a v3 body for the v2 API (close enough for wiki text)."""
    if not doc:
        return ""
    blocks = [_inline_text(node) for node in doc.get("content", [])]
    return "\n\n".join(blocks)


def _inline_text(node: dict[str, Any]) -> str:
    kind = node.get("type")
    if kind == "text":
        return str(node.get("text", ""))
    if kind == "hardBreak":
        return "\n"
    if kind in ("mention", "emoji"):
        return str(node.get("attrs", {}).get("text", ""))
    if kind == "inlineCard":
        return str(node.get("attrs", {}).get("url", ""))
    children = node.get("content", [])
    sep = "\n" if kind in ("bulletList", "orderedList", "codeBlock") else ""
    return sep.join(_inline_text(c) for c in children)


def is_valid_adf(value: Any) -> bool:
    """The checks Jira applies before accepting a rich-text field: a `doc` node, version 1, with a
    list of block nodes each of which has a type."""
    if not isinstance(value, dict) or value.get("type") != "doc" or value.get("version") != 1:
        return False
    content = value.get("content")
    if not isinstance(content, list):
        return False
    return all(_valid_node(n) for n in content)


def _valid_node(node: Any) -> bool:
    if not isinstance(node, dict) or not isinstance(node.get("type"), str):
        return False
    if node["type"] == "text" and not isinstance(node.get("text"), str):
        return False
    children = node.get("content", [])
    return isinstance(children, list) and all(_valid_node(c) for c in children)


def rich_text_in(value: Any, api_version: int) -> ADF | None:
    """Accept a rich-text value from a request: ADF on v3, a string on v2. Raises ValueError."""
    if value is None:
        return None
    if api_version == 2:
        if not isinstance(value, str):
            raise ValueError("Operation value must be a string")
        return text_to_adf(value) if value else None
    if not is_valid_adf(value):
        raise ValueError("Operation value must be an Atlassian Document (see the Atlassian Document Format)")
    return dict(value)


def rich_text_out(doc: ADF | None, api_version: int) -> Any:
    if api_version == 2:
        return adf_to_text(doc) if doc else None
    return doc
