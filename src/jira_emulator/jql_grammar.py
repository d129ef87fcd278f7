"""The JQL grammar (lark, LALR with the contextual lexer) and the translation of lark's parse errors
into Jira's messages.

The contextual lexer matters: it only tries the terminals the parser can accept at each point, so
`status = and` lexes `and` as a plain word (which `jql.py` then rejects as a reserved word, as Jira
does) while `a = b and c = d` lexes it as the keyword.
"""

from __future__ import annotations

from lark import Lark, Token
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

GRAMMAR = r"""
start: or_expr? order_by?

?or_expr: and_expr (_OR and_expr)*
?and_expr: not_expr (_AND not_expr)*
?not_expr: _NOT not_expr        -> negation
         | BANG not_expr        -> negation
         | atom
?atom: "(" or_expr ")"
     | clause

clause: field OP value          -> compare
      | field _IS EMPTY         -> is_empty
      | field _IS _NOT EMPTY    -> is_not_empty
      | field _IN list          -> in_list
      | field _NOT _IN list     -> not_in_list

field: WORD | STRING | CF
value: STRING | WORD | function
function: WORD "(" (arg ("," arg)*)? ")"
?arg: STRING | WORD
list: "(" value ("," value)* ")"
    | function

order_by: _ORDER _BY sort_key ("," sort_key)*
sort_key: field DIRECTION?

_AND.2: /and\b/i | /&&?/
_OR.2: /or\b/i | /\|\|?/
_NOT.2: /not\b/i
_IS.2: /is\b/i
_IN.2: /in\b/i
EMPTY.2: /empty\b/i | /null\b/i
_ORDER.2: /order\b/i
_BY.2: /by\b/i
DIRECTION.2: /asc\b/i | /desc\b/i
OP: "!=" | "!~" | ">=" | "<=" | "=" | ">" | "<" | "~"
BANG: "!"
CF.3: /cf\[\d+\]/i
STRING: /"(?:[^"\\]|\\.)*"/ | /'(?:[^'\\]|\\.)*'/
WORD: /[^\s"'(),=!<>~&|\[\]{}*\/%^$#@+;?\\]+/

%import common.WS
%ignore WS
"""

PARSER = Lark(GRAMMAR, parser="lalr", lexer="contextual", propagate_positions=True)

_PREFIX = "Error in the JQL Query: "
_OPERATORS = "'=', '!=', '<', '>', '<=', '>=', '~', '!~', 'IN', 'NOT IN', 'IS' and 'IS NOT'"
_FIELD_TERMINALS = {"WORD", "STRING", "CF"}


def describe_parse_error(text: str, error: UnexpectedInput) -> str:
    """Jira's wording for a syntax error, with its `(line L, character C)` suffix."""
    if isinstance(error, UnexpectedCharacters):
        return _bad_character(text, error)
    if isinstance(error, UnexpectedToken):
        return _unexpected_token(error)
    return _PREFIX + "The query is not valid JQL."


def _bad_character(text: str, error: UnexpectedCharacters) -> str:
    where = f" (line {error.line}, character {error.column})"
    pos = error.pos_in_stream or 0
    char = text[pos] if pos < len(text) else ""
    if char and char in "\"'":
        rest = text[pos + 1 :]
        return _PREFIX + f"The quoted string '{rest}' has not been completed.{where}"
    code = f"\\u{ord(char):04x}" if char else ""
    return (
        _PREFIX + f"The character '{char}' is a reserved JQL character. You must enclose it in a string "
        f"or use the escape '{code}' instead.{where}"
    )


def _unexpected_token(error: UnexpectedToken) -> str:
    token: Token = error.token
    at_end = token.type == "$END"
    got = "the end of the query" if at_end else f"'{token.value}'"
    where = "" if at_end else f" (line {token.line}, character {token.column})"
    expected = set(error.expected)
    if not at_end and str(token.value).lower() in ("was", "changed") and "OP" in expected:
        return f"The operator '{token.value.upper()}' is not supported by the Jira emulator (history search)."
    if expected & {"_AND", "_OR"}:
        message = f"Expecting either 'OR' or 'AND' but got {got}."
    elif "OP" in expected or "_IS" in expected:
        message = f"Expecting operator but got {got}. The valid operators are {_OPERATORS}."
    elif "EMPTY" in expected:
        message = f"Expecting 'EMPTY', 'NULL' or 'NOT' but got {got}."
    elif "_BY" in expected:
        message = f"Expecting 'BY' but got {got}."
    elif expected == {"LPAR"}:
        message = f"Expecting '(' but got {got}."
    elif "LPAR" in expected and "STRING" not in expected and "WORD" in expected:
        message = f"Expecting either a list or a function but got {got}."
    elif "STRING" in expected and "CF" not in expected:
        message = f"Expecting either a value, list or function but got {got}."
    elif expected & _FIELD_TERMINALS:
        message = f"Expecting a field name but got {got}."
    elif "RPAR" in expected:
        message = f"Expecting ')' but got {got}."
    else:
        message = f"Unexpected {got}."
    return _PREFIX + message + where
