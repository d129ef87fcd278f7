"""The unit of work the service runs in (one transaction, repositories over it): defined in
storage/unit_of_work.py, where SQLAlchemy may be imported, and named here for the service."""

from __future__ import annotations

from jirabridge.storage.db import WouldWait
from jirabridge.storage.unit_of_work import ConstraintViolated, JoinedUnitOfWork, UnitOfWork

__all__ = ["ConstraintViolated", "JoinedUnitOfWork", "UnitOfWork", "WouldWait"]
