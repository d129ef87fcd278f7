"""Webhooks. Dynamic ones (OAuth apps): register, list, delete, and refresh before the 30-day expiry.
Admin ones (`/rest/webhooks/1.0`, a site administrator with an API token): list, create, update,
delete; Jira answers 403 to an account that is not a Jira administrator."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import Field

from jirabridge.jira._models import AdminWebhook, JiraModel, Webhook, WebhookRegistration
from jirabridge.jira._resource import Resource
from jirabridge.jira._transport import parse, parse_list

ADMIN_ROOT = "/rest/webhooks/1.0"


@dataclass(frozen=True)
class WebhookSpec:
    events: Sequence[str]
    jql_filter: str
    field_ids_filter: Sequence[str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"events": list(self.events), "jqlFilter": self.jql_filter, **self.extra}
        if self.field_ids_filter is not None:
            body["fieldIdsFilter"] = list(self.field_ids_filter)
        return body


@dataclass(frozen=True)
class AdminWebhookSpec:
    """An admin webhook as jirabridge asks for it: signed with `secret` (Jira sends
    `X-Hub-Signature`), issue events filtered by `jql_filter` (empty: every issue)."""

    name: str
    url: str
    events: Sequence[str]
    jql_filter: str
    secret: str | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.name,
            "url": self.url,
            "events": list(self.events),
            "filters": {"issue-related-events-section": self.jql_filter},
            "excludeBody": False,
            "enabled": True,
        }
        if self.secret is not None:
            body["secret"] = self.secret
        return body


class _Registered(JiraModel):
    webhook_registration_result: list[WebhookRegistration] = Field(default_factory=list)


class _Page(JiraModel):
    values: list[Webhook] = Field(default_factory=list)
    is_last: bool = True
    total: int | None = None


class _Expiry(JiraModel):
    expiration_date: int


class WebhooksAPI(Resource):
    async def register(self, url: str, webhooks: Sequence[WebhookSpec]) -> list[WebhookRegistration]:
        """One result per spec, in order: the new id, or Jira's reasons for refusing it."""
        body = {"url": url, "webhooks": [w.to_json() for w in webhooks]}
        return parse(
            _Registered, await self._r.request("POST", "/webhook", json=body)
        ).webhook_registration_result

    async def list(self, *, page_size: int = 100) -> list[Webhook]:
        found: list[Webhook] = []
        while True:
            page = await self._r.get_model(
                _Page, "/webhook", params={"startAt": len(found), "maxResults": page_size}
            )
            found.extend(page.values)
            if page.is_last or not page.values:
                return found

    async def delete(self, ids: Sequence[int]) -> None:
        await self._r.request("DELETE", "/webhook", json={"webhookIds": [int(i) for i in ids]})

    async def refresh(self, ids: Sequence[int]) -> datetime:
        """Extend the webhooks' life; answers the new expiry."""
        response = await self._r.request(
            "PUT", "/webhook/refresh", json={"webhookIds": [int(i) for i in ids]}
        )
        return datetime.fromtimestamp(parse(_Expiry, response).expiration_date / 1000, UTC)


class AdminWebhooksAPI(Resource):
    """`/rest/webhooks/1.0/webhook`: the webhooks of Jira's admin page (Settings → System → WebHooks)."""

    async def list(self) -> list[AdminWebhook]:
        return parse_list(AdminWebhook, await self._r.request("GET", "/webhook", root=ADMIN_ROOT))

    async def create(self, spec: AdminWebhookSpec) -> AdminWebhook:
        response = await self._r.request("POST", "/webhook", json=spec.to_json(), root=ADMIN_ROOT)
        return parse(AdminWebhook, response)

    async def update(self, webhook_id: int, spec: AdminWebhookSpec) -> AdminWebhook:
        response = await self._r.request(
            "PUT", "/webhook/{id}", path={"id": webhook_id}, json=spec.to_json(), root=ADMIN_ROOT
        )
        return parse(AdminWebhook, response)

    async def delete(self, webhook_id: int) -> None:
        await self._r.request("DELETE", "/webhook/{id}", path={"id": webhook_id}, root=ADMIN_ROOT)
