"""A workspace's rules, stored together as one document."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import select

from jirabridge.storage.core_reads import matching, table
from jirabridge.storage.repositories._base import Repository
from jirabridge.storage.tables import RuleSet

_TABLE = table(RuleSet)
_RULES = select(_TABLE.c.rules).where(*matching(_TABLE, "workspace_id"))


class RuleSets(Repository[RuleSet]):
    def get(self, workspace_id: str) -> RuleSet | None:
        return self._session.get(RuleSet, workspace_id)

    def rules(self, workspace_id: str) -> list[Any]:
        """The stored rules document (empty: none saved)."""
        return cast("list[Any]", self._session.execute(_RULES, {"workspace_id": workspace_id}).scalar() or [])
