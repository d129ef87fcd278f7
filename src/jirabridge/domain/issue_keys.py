"""Jira issue keys in free text (SPEC section 3, "Worklogs"). Pure.

A key is a project key, `-`, and the issue's number: `WEB-184`. Jira Cloud's project-key rules: an
upper-case letter, then upper-case letters, digits or underscores, 2 to 10 characters in all. The
number has no leading zero. In text, a key must stand on its own, as Jira's own detection (smart
commits, development panels) reads it:

- not mid-word: `xWEB-184`, `éWEB-1` and `WEB-184x` are not keys; `(WEB-184)`, `[WEB-184]`,
  `#WEB-184`, `…/browse/WEB-184` and `WEB-184: fix` are;
- not after a hyphen (`hotfix-WEB-184` reads as one word), but a hyphen may follow (`WEB-184-login`,
  the branch-name habit);
- lower case is never a key (`web-184`): people write keys in upper case, and prose like `covid-19`
  or `utf-8` is not an issue.
"""

from __future__ import annotations

import re

PROJECT_KEY = r"[A-Z][A-Z0-9_]{1,9}"
ISSUE_NUMBER = r"[1-9][0-9]{0,8}"
ISSUE_KEY_PATTERN = rf"^{PROJECT_KEY}-{ISSUE_NUMBER}$"  # for request models
_EXACT = re.compile(rf"{PROJECT_KEY}-{ISSUE_NUMBER}")
# (?<![\w-]): not mid-word and not after a hyphen; (?!\w): the number ends the word. The digit class
# is ASCII only: a "key" followed by another script's digit is still mid-word (\w covers it).
_IN_TEXT = re.compile(rf"(?<![\w-])({PROJECT_KEY}-{ISSUE_NUMBER})(?!\w)", re.ASCII)
_WORD_BEFORE = re.compile(r"\w", re.UNICODE)


def is_issue_key(text: str) -> bool:
    """True when `text` is exactly a Jira issue key."""
    return _EXACT.fullmatch(text) is not None


def first_issue_key(text: str | None) -> str | None:
    """The first Jira-shaped key in `text` that stands on its own, or None."""
    if not text:
        return None
    for match in _IN_TEXT.finditer(text):
        # re.ASCII makes \w ASCII-only in the lookbehind; a letter of another script before the key
        # (`éWEB-1`) still makes it mid-word.
        start = match.start(1)
        if start > 0 and _WORD_BEFORE.match(text[start - 1]):
            continue
        end = match.end(1)
        if end < len(text) and _WORD_BEFORE.match(text[end]):
            continue
        return match.group(1)
    return None
