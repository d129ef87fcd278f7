"""The routing rules' query language (SPEC section 3, "Rules"): parse a query once, match items with it.

    service:web-store AND team:Shopist        both terms
    service:web-store team:Shopist            the same: terms side by side are ANDed
    severity:(critical OR high)               a field applied to a group
    service:web-store -team:Shopist           `-x` and `NOT x` match exactly when x does not
    title:"connection reset" env:prod*        a phrase; `*` matches any run of characters
    timeout                                   a term without a field searches the title

Syntax is Lucene's, parsed by luqum; what luqum accepts beyond the list below is refused with the
position of the offending part (ranges, regexes, fuzzy `~`, boosts `^`, `+`, and the C-style `&&`,
`||`, `!` that luqum would read as words). AND binds tighter than OR, and an implicit AND is an AND:
`a b OR c` is `(a AND b) OR c`, as in Sentry's and Datadog's search. Operators are upper case; a bare
lower-case `and`, `or` or `not` is refused rather than searched for (quote it to search the word).

Fields. `type`, `id`, `status`, `severity` and `assignee` are the item's own fields; `title` and
`description` are text; any other name is an attribute (`attributes.NAME` names one explicitly, for an
attribute called like an item field). Field names are case-insensitive, for attributes too.

Values. Matching is case-insensitive. A field that holds a value (type, status, severity, attributes…)
matches when the whole value matches: `service:web` does not match `web-store`, `service:web*` does.
Text fields match words, as a search box does: `title:timeout` matches "Gateway timeout in checkout"
but not "timeouts"; `title:timeout*` matches both; a quoted or hyphenated value is a phrase of
consecutive words (`title:"gateway timeout"`, `title:web-store`). A word is a run of letters, digits
and underscores. `field:*` matches any item that has the field. Inside quotes `*` is a plain
character; outside, `\\*` is one too.

Missing fields. A field the item does not have (or holds null) never matches a positive term, so
`team:x` is false for an item without a team and `-team:x` is true for it: `-x` is always the
complement of `x`.

Everything here is pure; `parse` caches its answers, so a workspace's rules are parsed once per
process and each new item only walks the trees.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final, Protocol, TypeVar

from luqum import tree
from luqum.exceptions import IllegalCharacterError, ParseError
from luqum.thread import parse as luqum_parse

from jirabridge.domain.items import Item

VALUE_FIELDS: Final = ("type", "id", "status", "severity", "assignee")
TEXT_FIELDS: Final = ("title", "description")
DEFAULT_FIELD: Final = "title"
ATTRIBUTES: Final = "attributes."
MAX_QUERY_LENGTH: Final = 2000
MAX_DEPTH: Final = 50  # nesting of groups and operators; deeper is refused, never a RecursionError

# luqum.thread gives each thread its own lexer, but the PLY parser object is shared: one parse at a time.
_PARSING = threading.Lock()
_WORD = re.compile(r"\w+")
_POSITION = re.compile(r"position (\d+)")
_UNSUPPORTED: Final[Mapping[type[Any], str]] = {
    tree.Range: "ranges ([a TO b]) are not supported",
    tree.From: "comparisons (>x) are not supported",
    tree.To: "comparisons (<x) are not supported",
    tree.Regex: "regular expressions (/…/) are not supported",
    tree.Fuzzy: "fuzzy terms (~) are not supported",
    tree.Proximity: "proximity searches (~) are not supported",
    tree.Boost: "boosts (^) are not supported",
    tree.Plus: "+ is not supported: terms are required unless negated with - or NOT",
}


class QueryError(ValueError):
    """A query that cannot be used; `position` is the 0-based offset of the problem in the query."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} (at position {position})")
        self.reason = message
        self.position = position


class _Wildcard(Enum):
    STAR = "*"


STAR: Final = _Wildcard.STAR
Part = str | _Wildcard  # a value: literal text (already case-folded) and wildcards


# -- the parsed query ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Term:
    """`field:value`; `field` is case-folded, `parts` the value's literal text and wildcards."""

    field: str
    parts: tuple[Part, ...]
    _pattern: re.Pattern[str] = dataclasses.field(compare=False, repr=False)
    _words: tuple[re.Pattern[str], ...] = dataclasses.field(compare=False, repr=False)


@dataclass(frozen=True)
class Everything:
    """A bare `*`: every item."""


@dataclass(frozen=True)
class And:
    operands: tuple[Query, ...]


@dataclass(frozen=True)
class Or:
    operands: tuple[Query, ...]


@dataclass(frozen=True)
class Not:
    operand: Query


Query = Term | Everything | And | Or | Not


# -- parsing ---------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def parse(text: str) -> Query:
    """The query, or QueryError with the position of the first problem."""
    if len(text) > MAX_QUERY_LENGTH:
        raise QueryError(f"the query is longer than {MAX_QUERY_LENGTH} characters", MAX_QUERY_LENGTH)
    if not text.strip():
        raise QueryError("the query is empty; use * to match every item", 0)
    if text.strip() == "*":
        return Everything()
    try:
        with _PARSING:
            parsed = luqum_parse(text)
    except IllegalCharacterError as error:
        position = _position(str(error), len(text))
        unclosed = text[position : position + 1] == '"'
        raise QueryError("unclosed quote" if unclosed else "unexpected character", position) from None
    except ParseError as error:
        position = _position(str(error), len(text))
        if position >= len(text):
            message = "the query ends too early (an unclosed parenthesis, or an operator without a term)"
        else:
            message = f"unexpected {_token_at(text, position)!r}"
        raise QueryError(message, position) from None
    except RecursionError:
        raise QueryError(f"the query nests deeper than {MAX_DEPTH} levels", 0) from None
    return _convert(parsed, None, 0)


def check(text: str) -> QueryError | None:
    """The problem of a query, or None when it is valid."""
    try:
        parse(text)
    except QueryError as error:
        return error
    return None


def _position(message: str, end: int) -> int:
    found = _POSITION.search(message)
    return min(int(found.group(1)), end) if found else end


def _token_at(text: str, position: int) -> str:
    rest = text[position:]
    found = re.match(r"[^\s()]+|\S", rest)
    return found.group(0) if found else rest[:1]


def _convert(node: tree.Item, field_name: str | None, depth: int) -> Query:
    if depth > MAX_DEPTH:
        raise QueryError(f"the query nests deeper than {MAX_DEPTH} levels", _pos(node))
    deeper = depth + 1
    for kind, what in _UNSUPPORTED.items():
        if isinstance(node, kind):
            raise QueryError(what, _pos(node))
    if isinstance(node, tree.SearchField):
        if field_name is not None:
            raise QueryError(f"field {node.name!r} inside the value of field {field_name!r}", _pos(node))
        return _convert(node.expr, _field_name(node), deeper)
    if isinstance(node, tree.BaseGroup):
        return _convert(node.expr, field_name, deeper)
    if isinstance(node, tree.AndOperation):
        return And(tuple(_convert(o, field_name, deeper) for o in node.operands))
    if isinstance(node, tree.OrOperation):
        return Or(tuple(_convert(o, field_name, deeper) for o in node.operands))
    if isinstance(node, tree.UnknownOperation):
        return _implicit_and(node, field_name, deeper)
    if isinstance(node, tree.Not | tree.Prohibit):
        return Not(_convert(node.a, field_name, deeper))
    if isinstance(node, tree.Phrase):
        return _term(field_name, _phrase_parts(node), node)
    if isinstance(node, tree.Word):
        _refuse_c_style(node, field_name)
        return _term(field_name, _word_parts(node.value), node)
    raise QueryError(f"{str(node).strip()!r} is not supported", _pos(node))


def _pos(node: tree.Item) -> int:
    return int(node.pos or 0)


def _field_name(node: tree.SearchField) -> str:
    name = str(node.name)
    if name.startswith("!"):
        raise QueryError("write NOT or - instead of !", _pos(node))
    if name.startswith("\\") or not re.fullmatch(r"[A-Za-z0-9_.@-]+", name):
        raise QueryError(f"{name!r} is not a field name", _pos(node))
    return name.casefold()


def _implicit_and(node: tree.UnknownOperation, field_name: str | None, depth: int) -> Query:
    """Terms side by side are ANDed, and AND binds tighter than OR.

    luqum gives implicit operations the lowest precedence: `a b OR c d` arrives as
    Unknown(a, Or(b, c), d). Reading the operands as a sequence with OR separators and grouping the
    runs between them gives `(a AND b) OR (c AND d)`. An OR written in parentheses arrives wrapped in
    a Group and is not split."""
    runs: list[list[tree.Item]] = [[]]
    for operand in node.operands:
        if isinstance(operand, tree.OrOperation):
            for index, alternative in enumerate(operand.operands):
                if index:
                    runs.append([])
                runs[-1].append(alternative)
        else:
            runs[-1].append(operand)
    alternatives = [_all([_convert(n, field_name, depth) for n in run]) for run in runs]
    return alternatives[0] if len(alternatives) == 1 else Or(tuple(alternatives))


def _all(queries: list[Query]) -> Query:
    return queries[0] if len(queries) == 1 else And(tuple(queries))


def _refuse_c_style(node: tree.Word, field_name: str | None) -> None:
    value = str(node.value)
    if value in ("&&", "||"):
        raise QueryError(f"write {'AND' if value == '&&' else 'OR'} instead of {value}", _pos(node))
    if value.startswith("!") and field_name is None:
        raise QueryError("write NOT or - instead of !", _pos(node))
    if field_name is None and value.lower() in ("and", "or", "not"):
        raise QueryError(
            f"operators are written in capitals ({value.upper()}); quote {value!r} to search the word",
            _pos(node),
        )


def _word_parts(raw: str) -> tuple[Part, ...]:
    """A word's value: `\\x` is a literal x, `*` a wildcard; literal text is case-folded."""
    parts: list[Part] = []
    literal: list[str] = []
    index = 0
    while index < len(raw):
        char = raw[index]
        if char == "\\" and index + 1 < len(raw):
            literal.append(raw[index + 1])
            index += 2
            continue
        if char == "*":
            if literal:
                parts.append("".join(literal).casefold())
                literal = []
            if not parts or parts[-1] is not STAR:
                parts.append(STAR)
        else:
            literal.append(char)
        index += 1
    if literal:
        parts.append("".join(literal).casefold())
    return tuple(parts)


def _phrase_parts(node: tree.Phrase) -> tuple[Part, ...]:
    inner = str(node.value)[1:-1]
    text = re.sub(r"\\(.)", r"\1", inner)
    if not text:
        raise QueryError("an empty quoted value matches nothing", _pos(node))
    return (text.casefold(),)


def _term(field_name: str | None, parts: tuple[Part, ...], node: tree.Item) -> Term:
    name = field_name if field_name is not None else DEFAULT_FIELD
    words = _word_patterns(parts)
    if name in TEXT_FIELDS and not words:
        raise QueryError(f"{name} is searched by words, and this value has no letters or digits", _pos(node))
    return Term(name, parts, _value_pattern(parts), words)


def _value_pattern(parts: Sequence[Part]) -> re.Pattern[str]:
    body = "".join(".*" if part is STAR else re.escape(part) for part in parts)
    return re.compile(f"^{body}$", re.DOTALL)


def _word_patterns(parts: Sequence[Part]) -> tuple[re.Pattern[str], ...]:
    """The value as a phrase of word patterns: literal text splits at non-word characters; a
    wildcard stays inside the word it touches."""
    tokens: list[list[Part]] = [[]]
    for part in parts:
        if part is STAR:
            tokens[-1].append(STAR)
            continue
        for char in part:
            if _WORD.fullmatch(char):
                if tokens[-1] and isinstance(tokens[-1][-1], str):
                    tokens[-1][-1] += char
                else:
                    tokens[-1].append(char)
            elif tokens[-1]:
                tokens.append([])
    patterns = []
    for token in tokens:
        if token:
            body = "".join(r"\w*" if piece is STAR else re.escape(piece) for piece in token)
            patterns.append(re.compile(f"^{body}$"))
    return tuple(patterns)


# -- matching --------------------------------------------------------------------------------------


def matches(query: Query, item: Item) -> bool:
    """Whether `item` matches `query` (see the module docstring for the semantics)."""
    if isinstance(query, Term):
        return _term_matches(query, item)
    if isinstance(query, And):
        return all(matches(q, item) for q in query.operands)
    if isinstance(query, Or):
        return any(matches(q, item) for q in query.operands)
    if isinstance(query, Not):
        return not matches(query.operand, item)
    return True  # Everything


def _term_matches(term: Term, item: Item) -> bool:
    if term.field in TEXT_FIELDS:
        text = getattr(item, term.field)
        return isinstance(text, str) and _phrase_in(term._words, _WORD.findall(text.casefold()))
    values = _values(term.field, item)
    return any(term._pattern.match(value) for value in values)


def _phrase_in(phrase: Sequence[re.Pattern[str]], words: Sequence[str]) -> bool:
    width = len(phrase)
    return any(
        all(pattern.match(words[start + offset]) for offset, pattern in enumerate(phrase))
        for start in range(len(words) - width + 1)
    )


def _values(name: str, item: Item) -> list[str]:
    """The item's values for a field name, as case-folded text; empty when the item lacks it."""
    if name in VALUE_FIELDS:
        return _as_texts(getattr(item, name))
    key = name[len(ATTRIBUTES) :] if name.startswith(ATTRIBUTES) else name
    found: list[str] = []
    for attribute, value in item.attributes.items():
        if attribute.casefold() == key:
            found += _as_texts(value)
    return found


def _as_texts(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, str | int | float):
        return [str(value).casefold()]
    if isinstance(value, list | tuple):
        return [text for element in value for text in _as_texts(element)]
    return []  # objects have no value to compare with


# -- rules -----------------------------------------------------------------------------------------


class Routable(Protocol):
    """What `first_match` needs of a rule."""

    @property
    def enabled(self) -> bool: ...

    @property
    def query(self) -> str: ...


R = TypeVar("R", bound=Routable)


def first_match(rules: Iterable[R], item: Item) -> R | None:
    """The first enabled rule whose query matches `item`: order decides between rules that match.
    A rule whose query no longer parses (it was valid when saved) never matches."""
    for rule in rules:
        if not rule.enabled:
            continue
        try:
            query = parse(rule.query)
        except QueryError:
            continue
        if matches(query, item):
            return rule
    return None
