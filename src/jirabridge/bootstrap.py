"""The composition root: builds everything from `Settings`. Nothing is created at import time."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from jirabridge.clock import Clock, SystemClock
from jirabridge.config import Settings
from jirabridge.secrets_box import SecretBox
from jirabridge.service.unit_of_work import UnitOfWork
from jirabridge.storage.db import make_engine, session_factory


@dataclass
class Container:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    clock: Clock = field(default_factory=SystemClock)
    _box: SecretBox | None = None

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.sessions)

    @property
    def secrets(self) -> SecretBox:
        """Built on first use, so commands that store no secret run without a key."""
        if self._box is None:
            key = self.settings.secret_key.get_secret_value() if self.settings.secret_key else None
            self._box = SecretBox(key)
        return self._box

    def close(self) -> None:
        self.engine.dispose()


def build(settings: Settings | None = None, *, clock: Clock | None = None) -> Container:
    settings = settings or Settings()
    engine = make_engine(settings.database_url)
    return Container(settings, engine, session_factory(engine), clock or SystemClock())
