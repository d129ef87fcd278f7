"""An item: a host record that tickets are created for and linked to (SPEC section 1, "Item")."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class LinkState(StrEnum):
    """A link's `sync_state`: what jirabridge knows of its issue."""

    PENDING = "pending"  # its issue is being created
    SYNCED = "synced"  # the issue exists and the last change reached it
    FAILED = "failed"  # the create or the last change failed (`last_error` says why)
    BROKEN = "broken"  # the issue was deleted in Jira (or is no longer visible)


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
