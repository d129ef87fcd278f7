"""Every link in the project's documents leads somewhere a reader of a lone clone can follow: a file of
the repository (and, with `#anchor`, one of its headings) or a public web page. Nothing points outside
the repository's tree, and no document sends the reader to notes that are not part of it."""

from __future__ import annotations

import re
from collections import Counter
from functools import cache
from itertools import pairwise
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

ROOT = Path(__file__).resolve().parents[3]
TOP = ("README.md", "CONTRIBUTING.md", "CHANGELOG.md", "bench/README.md")
DOCUMENTS = sorted([*(ROOT / name for name in TOP), *(ROOT / "docs").glob("*.md")])
PUBLIC = ("http", "https", "mailto")
# Notes kept next to a development checkout, not in the repository: a reader of a clone has none.
OUTSIDE_NOTES = re.compile(r"\.\./shared|\bSPEC(\.md)?\b|\bDESIGN\.md\b|LIBRARY-NOTES")


def _tokens(text: str) -> list[Token]:
    def walk(tokens: list[Token]) -> list[Token]:
        found = []
        for token in tokens:
            found.append(token)
            found += walk(token.children or [])
        return found

    return walk(MarkdownIt("commonmark").enable("table").parse(text))


def links(document: Path) -> list[str]:
    return [
        str(t.attrs["href"] if t.type == "link_open" else t.attrs["src"])
        for t in _tokens(document.read_text())
        if t.type in ("link_open", "image")
    ]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces become hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@cache
def anchors(document: Path) -> frozenset[str]:
    tokens = _tokens(document.read_text())
    seen: Counter[str] = Counter()
    found = set()
    for opening, inline in pairwise(tokens):
        if opening.type == "heading_open":
            text = "".join(c.content for c in inline.children or [] if c.type in ("text", "code_inline"))
            base = slug(text)
            found.add(base if not seen[base] else f"{base}-{seen[base]}")
            seen[base] += 1
    return frozenset(found)


def problem(document: Path, target: str) -> str | None:
    """Why `target`, linked from `document`, cannot be followed from a clone (None: it can)."""
    parts = urlsplit(target)
    if parts.scheme:
        return None if parts.scheme in PUBLIC else f"scheme {parts.scheme!r} is not a public web link"
    path = (document.parent / unquote(parts.path)).resolve() if parts.path else document
    if not path.is_relative_to(ROOT):
        return "points outside the repository"
    if not path.exists():
        return "no such file in the repository"
    if parts.fragment:
        if path.suffix != ".md":
            return "an anchor into a file that is not Markdown"
        if unquote(parts.fragment) not in anchors(path):
            return f"no heading #{parts.fragment} in {path.relative_to(ROOT)}"
    return None


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_can_be_followed_from_a_clone(document: Path) -> None:
    broken = [(target, why) for target in links(document) if (why := problem(document, target))]
    assert broken == []


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_document_sends_the_reader_to_notes_outside_the_repository(document: Path) -> None:
    lines = document.read_text().splitlines()
    assert [line for line in lines if OUTSIDE_NOTES.search(line)] == []


def test_the_checker_refuses_what_a_clone_cannot_follow(tmp_path: Path) -> None:
    here = ROOT / "docs" / "emulator.md"
    assert problem(ROOT / "README.md", "../shared/DESIGN.md") == "points outside the repository"
    assert problem(here, "../../shared/SPEC.md") == "points outside the repository"
    assert problem(here, "/etc/passwd") == "points outside the repository"
    assert problem(here, "missing.md") == "no such file in the repository"
    assert problem(here, "#no-such-heading") == "no heading #no-such-heading in docs/emulator.md"
    assert problem(here, "file:///etc/passwd") == "scheme 'file' is not a public web link"
    assert problem(here, "#how-fidelity-is-checked") is None
    assert problem(here, "https://developer.atlassian.com/cloud/jira/platform/") is None
    assert problem(ROOT / "README.md", "docs/emulator.md#the-control-api") is None
    assert links_of("see [a](x.md), `[not](y.md)` and <https://example.com>", tmp_path) == [
        "x.md",
        "https://example.com",
    ]


def links_of(text: str, tmp_path: Path) -> list[str]:
    page = tmp_path / "page.md"
    page.write_text(text)
    return links(page)
