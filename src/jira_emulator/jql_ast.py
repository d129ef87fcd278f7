"""The JQL syntax tree (what `jql_grammar.PARSER` produces, after `jql.py` transforms it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


class JqlError(ValueError):
    """A query Jira would refuse with 400; `message` is Jira's wording."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Value:
    text: str  # unquoted and unescaped; a function's name for kind "function"
    kind: Literal["literal", "empty", "function"] = "literal"
    line: int = 1
    column: int = 1


@dataclass(frozen=True)
class Clause:
    field: str  # as written, quotes removed
    operator: str  # "=", "!=", ">", ">=", "<", "<=", "~", "!~", "IN", "NOT IN", "IS", "IS NOT"
    values: tuple[Value, ...]
    line: int = 1
    column: int = 1


@dataclass(frozen=True)
class BoolOp:
    op: Literal["AND", "OR"]
    parts: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    part: Node


Node = Clause | BoolOp | Not


@dataclass(frozen=True)
class SortKey:
    field: str
    descending: bool = False


def clauses(node: Node | None) -> list[Clause]:
    """Every clause of a tree, left to right."""
    if node is None:
        return []
    if isinstance(node, Clause):
        return [node]
    if isinstance(node, Not):
        return clauses(node.part)
    return [c for part in node.parts for c in clauses(part)]
