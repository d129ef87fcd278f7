"""A workspace's rules, stored together as one document."""

from __future__ import annotations

from jirabridge.storage.repositories._base import Repository
from jirabridge.storage.tables import RuleSet


class RuleSets(Repository[RuleSet]):
    def get(self, workspace_id: str) -> RuleSet | None:
        return self._session.get(RuleSet, workspace_id)
