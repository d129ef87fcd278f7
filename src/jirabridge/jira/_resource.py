"""What every group of Jira's endpoints (`JiraClient.issues`, `.comments`, ...) shares."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jirabridge.jira._transport import Requester


class Resource:
    """One group of Jira's endpoints; `JiraClient` gives every group the same `Requester`."""

    def __init__(self, requester: Requester) -> None:
        self._r = requester


def property_list(properties: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Entity properties as the body of a create or an add carries them, set with the entity."""
    return [{"key": k, "value": v} for k, v in properties.items()]
