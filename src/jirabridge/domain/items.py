"""An item: a host record that tickets are created for and linked to (SPEC section 1, "Item")."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Item:
    type: str  # e.g. "anomaly", "vulnerability", "error"
    id: str  # the host's id, unique per type within a workspace
    title: str
    description: str | None = None
    status: str | None = None  # the host's status name, as the host spells it
    severity: str | None = None
    assignee: str | None = None  # a host user id, not a Jira account
    attributes: dict[str, Any] = field(default_factory=dict)  # free fields: service, team, env, ...
    url: str | None = None  # a deep link back into the host
