"""Key rotation for secrets at rest: re-encrypt every stored secret under the newest key.

Put the new Fernet key first in JIRABRIDGE_SECRET_KEY (keeping the old one after it), run
`jirabridge rotate-secrets`, then remove the old key. Runs in one transaction: all or nothing.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm.attributes import flag_modified

from jirabridge.secrets_box import SecretBox
from jirabridge.service.unit_of_work import UnitOfWork
from jirabridge.storage.tables import Site, UserConnection, Workspace


def rotate_secrets(uow: UnitOfWork, box: SecretBox) -> int:
    """Returns how many stored secrets were re-encrypted."""
    count = 0
    holders: list[Site | UserConnection] = [
        *uow.session.scalars(select(Site).where(Site.credentials.is_not(None))),
        *uow.session.scalars(select(UserConnection).where(UserConnection.credentials.is_not(None))),
    ]
    for row in holders:
        assert row.credentials is not None
        row.credentials = box.rotate(row.credentials)
        count += 1
    for workspace in uow.session.scalars(select(Workspace)):
        callback = (workspace.settings or {}).get("callback")
        if isinstance(callback, dict) and isinstance(callback.get("secret_sealed"), str):
            callback["secret_sealed"] = box.rotate(callback["secret_sealed"])
            flag_modified(workspace, "settings")
            count += 1
    uow.commit()
    return count
