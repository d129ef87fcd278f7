"""Secrets at rest: Fernet (AES-128-CBC + HMAC-SHA256) from `cryptography`, with key rotation.

`JIRABRIDGE_SECRET_KEY` holds one or more Fernet keys, comma separated. The first encrypts; every key
decrypts (MultiFernet), so rotation is: put a new key first, run `jirabridge rotate-secrets` to
re-encrypt every stored secret under it, then drop the old key.

The database keeps a key check (service/core/secrets.py): a Fernet token of a fixed text per key that has
encrypted secrets since the last rotation, so a process started with the wrong key refuses to run.
"""

from __future__ import annotations

import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

_OPENED_KEPT = 256
_UNREADABLE = "a stored secret cannot be decrypted with JIRABRIDGE_SECRET_KEY"
# What a key check seals. Fixed and public on purpose: a Fernet token is authenticated (HMAC-SHA256),
# so only the key that sealed it can open it, and knowing the text tells nothing about the key.
_CHECK_TEXT = b"jirabridge secret key check v1"


class SecretKeyError(Exception):
    """The configured key is missing or cannot decrypt a stored secret."""


class SecretBox:
    def __init__(self, keys: str | None) -> None:
        parts = [k.strip() for k in (keys or "").split(",") if k.strip()]
        if not parts:
            raise SecretKeyError(
                "JIRABRIDGE_SECRET_KEY is not set (generate one: jirabridge generate-secret-key)"
            )
        try:
            fernets = [Fernet(k.encode()) for k in parts]
        except ValueError as exc:
            raise SecretKeyError(f"JIRABRIDGE_SECRET_KEY is not a valid Fernet key: {exc}") from None
        self._first = fernets[0]
        self._fernet = MultiFernet(fernets)
        self._opened: dict[str, bytes] = {}

    @staticmethod
    def generate_key() -> str:
        return Fernet.generate_key().decode()

    def seal(self, values: dict[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(values, sort_keys=True).encode()).decode()

    def open(self, token: str | None) -> dict[str, Any]:
        """The values sealed in `token` (a fresh dict each time). A worker opens the same site
        credentials for every Jira call, so the last few opened are kept, decrypted, in memory: the
        process holds them in its auth objects anyway."""
        if not token:
            return {}
        plain = self._opened.get(token)
        if plain is None:
            try:
                plain = self._fernet.decrypt(token.encode())
            except InvalidToken:
                raise SecretKeyError(_UNREADABLE) from None
            if len(self._opened) >= _OPENED_KEPT:
                self._opened.clear()
            self._opened[token] = plain
        data: dict[str, Any] = json.loads(plain)
        return data

    def rotate(self, token: str) -> str:
        """Re-encrypt under the first (newest) key."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken:
            raise SecretKeyError(_UNREADABLE) from None

    def seal_check(self) -> str:
        """A key check under the first key: what the database keeps instead of the key."""
        return self._first.encrypt(_CHECK_TEXT).decode()

    def opens_check(self, token: str, *, first_key_only: bool = False) -> bool:
        """True when one of the keys (or the first one alone) sealed this key check."""
        try:
            opened = (self._first if first_key_only else self._fernet).decrypt(token.encode())
        except InvalidToken:
            return False
        return opened == _CHECK_TEXT
