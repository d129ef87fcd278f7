"""Public identifiers: a readable prefix and 128 random bits (`ws_…`, `key_…`, `st_…`, `op_…`, `ev_…`)."""

from __future__ import annotations

import secrets


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def new_secret(prefix: str = "") -> str:
    """A 256-bit URL-safe random token, for API keys, webhook path tokens and OAuth states."""
    return prefix + secrets.token_urlsafe(32)
