"""Secrets at rest: Fernet (AES-128-CBC + HMAC-SHA256) from `cryptography`, with key rotation.

`JIRABRIDGE_SECRET_KEY` holds one or more Fernet keys, comma separated. The first encrypts; every key
decrypts (MultiFernet), so rotation is: put a new key first, run `jirabridge rotate-secrets` to
re-encrypt every stored secret under it, then drop the old key.
"""

from __future__ import annotations

import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


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
            self._fernet = MultiFernet([Fernet(k.encode()) for k in parts])
        except ValueError as exc:
            raise SecretKeyError(f"JIRABRIDGE_SECRET_KEY is not a valid Fernet key: {exc}") from None

    @staticmethod
    def generate_key() -> str:
        return Fernet.generate_key().decode()

    def seal(self, values: dict[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(values, sort_keys=True).encode()).decode()

    def open(self, token: str | None) -> dict[str, Any]:
        if not token:
            return {}
        try:
            data: dict[str, Any] = json.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken:
            raise SecretKeyError("a stored secret cannot be decrypted with JIRABRIDGE_SECRET_KEY") from None
        return data

    def rotate(self, token: str) -> str:
        """Re-encrypt under the first (newest) key."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken:
            raise SecretKeyError("a stored secret cannot be decrypted with JIRABRIDGE_SECRET_KEY") from None
