"""The secret key: checking that the configured keys can read what the database holds, and rotation.

Every process that reads or writes secrets checks its `JIRABRIDGE_SECRET_KEY` against the database's
key check before it runs (`jirabridge migrate`, `serve`, `worker`), and `/readyz` does the same. The key
check is a Fernet token of a fixed text, one per key that has encrypted secrets since the last
rotation, never the key. Fernet rather than an HMAC of a derived key because the check then goes
through exactly the code that opens secrets (MultiFernet, every configured key): "the check opens"
means "the secrets open", with no second derivation to keep in step, and rotation treats the check
like any other secret. One token per key that has encrypted matters: with `NEW,OLD` configured, new
secrets are sealed under NEW while old ones stay under OLD until `rotate-secrets`, so dropping either
key too early must be refused, and only a check for each of them can tell.

Rotation: put the new Fernet key first in JIRABRIDGE_SECRET_KEY (keeping the old one after it), run
`jirabridge rotate-secrets`, then remove the old key. It runs in one transaction: all or nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jirabridge.secrets_box import SecretBox, SecretKeyError
from jirabridge.service.core.unit_of_work import UnitOfWork

KEY_MISMATCH = (
    "JIRABRIDGE_SECRET_KEY cannot decrypt the secrets stored in this database: set it to the key(s) "
    "they were encrypted with (to change keys, put the new key first, keep the old one after it, and "
    "run `jirabridge rotate-secrets` before removing the old one)"
)
NO_KEY = (
    "JIRABRIDGE_SECRET_KEY is not set, but this database holds secrets encrypted with a key: set it to "
    "that key"
)


@dataclass(frozen=True)
class RotationReport:
    """How many stored secrets `rotate_secrets` re-encrypted, by where they live."""

    sites: int  # API tokens, OAuth tokens and webhook secrets of sites (one sealed value per site)
    user_connections: int  # users' own API tokens and OAuth tokens
    callback_secrets: int  # workspaces' callback signing secrets

    @property
    def total(self) -> int:
        return self.sites + self.user_connections + self.callback_secrets


def _box(keys: str | None) -> SecretBox | None:
    return SecretBox(keys) if keys and keys.strip() else None


def _sealed_values(uow: UnitOfWork) -> Iterator[str]:
    """Every secret sealed in the database (the same places rotation re-encrypts)."""
    yield from uow.secrets.site_credentials()
    for settings in uow.secrets.workspace_settings():
        sealed = _callback_sealed(settings)
        if sealed is not None:
            yield sealed


def _callback_sealed(settings: dict[str, Any] | None) -> str | None:
    callback = (settings or {}).get("callback")
    if isinstance(callback, dict) and isinstance(callback.get("secret_sealed"), str):
        return str(callback["secret_sealed"])
    return None


def key_problem(uow: UnitOfWork, keys: str | None) -> str | None:
    """Why the configured keys cannot read this database's secrets, or None when they can. Reads only.

    Without a key check (a database from before checks existed, or migrated without a key) the stored
    secrets themselves are tried."""
    try:
        box = _box(keys)
    except SecretKeyError as exc:
        return str(exc)
    checks = uow.secrets.key_checks()
    if checks:
        if box is None:
            return NO_KEY
        return None if all(box.opens_check(token) for token in checks) else KEY_MISMATCH
    for sealed in _sealed_values(uow):
        if box is None:
            return NO_KEY
        try:
            box.open(sealed)
        except SecretKeyError:
            return KEY_MISMATCH
    return None


def ensure_key_check(uow: UnitOfWork, keys: str | None, now: datetime) -> None:
    """Refuse (SecretKeyError) keys that cannot read the stored secrets; otherwise record that the
    first key may now encrypt, so that removing it before a rotation is refused later."""
    problem = key_problem(uow, keys)
    if problem is not None:
        raise SecretKeyError(problem)
    box = _box(keys)
    if box is None:
        return  # nothing can be encrypted without a key, so there is nothing to check yet
    tokens = uow.secrets.key_checks()
    if not any(box.opens_check(token, first_key_only=True) for token in tokens):
        uow.secrets.add_key_check(box.seal_check(), now)
        uow.commit()


def rotate_secrets(uow: UnitOfWork, box: SecretBox, now: datetime) -> RotationReport:
    """Re-encrypt every stored secret under the first key and make it the only key the key check
    accepts, so the others can be removed."""
    sites = users = callbacks = 0
    for site in uow.sites.with_credentials():
        assert site.credentials is not None
        site.credentials = box.rotate(site.credentials)
        sites += 1
    for connection in uow.secrets.connections_with_credentials():
        assert connection.credentials is not None
        connection.credentials = box.rotate(connection.credentials)
        users += 1
    for workspace in uow.workspaces.every():
        sealed = _callback_sealed(workspace.settings)
        if sealed is not None:
            workspace.settings["callback"]["secret_sealed"] = box.rotate(sealed)
            uow.workspaces.settings_changed(workspace)
            callbacks += 1
    uow.secrets.replace_key_checks(box.seal_check(), now)
    uow.commit()
    return RotationReport(sites=sites, user_connections=users, callback_secrets=callbacks)
