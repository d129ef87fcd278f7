"""Where a workspace's routing rules live: one JSON document per workspace (table `rule_sets`).

Why one document and not a row per rule: the rules are only ever used as a whole — the API reads and
replaces the ordered list in one piece (`GET/PUT /api/v1/rules`), and a new item is matched against
the list in order. One row makes a save atomic on SQLite and PostgreSQL alike (two concurrent saves:
the last one wins whole; rows would need a lock and a delete-and-insert that can interleave), keeps
the order without renumbering positions, and stores exactly what the API shows. Lists are small
(`MAX_RULES`), so finding a rule by id is a scan of a list already read.

Each stored rule also keeps a snapshot of the create screen of its destination, read from Jira when
the rules were saved (`screen`, never shown by the API). Auto-create and preview build the ticket's
fields from it without calling Jira — the create itself runs in the worker, and a later change of
the screen in Jira surfaces as that create's failure until the rules are saved again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from jirabridge.service.core.ports import FieldMeta
from jirabridge.service.core.unit_of_work import UnitOfWork
from jirabridge.service.sites.metadata import CreateScreen
from jirabridge.storage.tables import RuleSet

MAX_RULES = 200


@dataclass(frozen=True)
class Destination:
    site: str
    project: str
    issue_type: str
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredRule:
    id: str
    name: str
    enabled: bool
    query: str
    destination: Destination
    auto_create: bool
    screen: CreateScreen | None = None

    def view(self) -> dict[str, Any]:
        """The rule as the API shows it."""
        return {
            "id": self.id,
            "name": self.name,
            "enabled": self.enabled,
            "query": self.query,
            "destination": {
                "site": self.destination.site,
                "project": self.destination.project,
                "issue_type": self.destination.issue_type,
                "fields": dict(self.destination.fields),
            },
            "auto_create": self.auto_create,
        }


def load(uow: UnitOfWork, workspace_id: str) -> list[StoredRule]:
    return [_from_json(rule) for rule in uow.rule_sets.rules(workspace_id)]


def updated_at(uow: UnitOfWork, workspace_id: str) -> datetime | None:
    row = uow.rule_sets.get(workspace_id)
    return row.updated_at if row else None


def find(uow: UnitOfWork, workspace_id: str, rule_id: str) -> StoredRule | None:
    return next((rule for rule in load(uow, workspace_id) if rule.id == rule_id), None)


def save(uow: UnitOfWork, workspace_id: str, rules: list[StoredRule], now: datetime) -> None:
    """Replace the workspace's rules; the caller commits. The workspace row is locked first
    (PostgreSQL), so two first saves cannot both insert."""
    uow.workspaces.hold(workspace_id)
    row = uow.rule_sets.get(workspace_id)
    if row is None:
        row = uow.rule_sets.add(RuleSet(workspace_id=workspace_id, rules=[], updated_at=now))
    row.rules = [_to_json(rule) for rule in rules]
    row.updated_at = now


def _to_json(rule: StoredRule) -> dict[str, Any]:
    stored = rule.view()
    if rule.screen is not None:
        stored["screen"] = {
            "project": rule.screen.project,
            "issue_type_id": rule.screen.issue_type_id,
            "issue_type_name": rule.screen.issue_type_name,
            "fields": [
                {
                    "id": f.field_id,
                    "name": f.name,
                    "required": f.required,
                    "schema_type": f.schema_type,
                    "has_default": f.has_default,
                }
                for f in rule.screen.fields
            ],
        }
    return stored


def _from_json(stored: dict[str, Any]) -> StoredRule:
    destination = stored.get("destination") or {}
    screen = stored.get("screen")
    return StoredRule(
        id=str(stored["id"]),
        name=str(stored.get("name") or ""),
        enabled=bool(stored.get("enabled", True)),
        query=str(stored.get("query") or ""),
        destination=Destination(
            site=str(destination.get("site") or ""),
            project=str(destination.get("project") or ""),
            issue_type=str(destination.get("issue_type") or ""),
            fields=dict(destination.get("fields") or {}),
        ),
        auto_create=bool(stored.get("auto_create", False)),
        screen=_screen(screen) if isinstance(screen, dict) else None,
    )


def _screen(stored: dict[str, Any]) -> CreateScreen:
    return CreateScreen(
        project=str(stored.get("project") or ""),
        issue_type_id=str(stored.get("issue_type_id") or ""),
        issue_type_name=str(stored.get("issue_type_name") or ""),
        fields=tuple(
            FieldMeta(
                field_id=str(f["id"]),
                name=str(f.get("name") or f["id"]),
                required=bool(f.get("required")),
                schema_type=f.get("schema_type"),
                has_default=bool(f.get("has_default")),
            )
            for f in stored.get("fields") or []
        ),
    )
