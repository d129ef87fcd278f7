"""Building requests and reading answers, shared by `Client` and `AsyncClient`.

Each public method of the clients is one `Operation` of `OPERATIONS` (its HTTP method, its path
template as the service's OpenAPI description writes it, and its request model): a builder here turns
the method's arguments into a `Call`, which the sync or async client sends and then `parse`s. So the two
clients differ only in how they wait, and a test can hold every operation against the OpenAPI
description of the service.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from jirabridge.client import _models as m

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

# Repeating these is safe: the same request twice leaves the same state as once.
IDEMPOTENT_METHODS = frozenset({"GET", "PUT", "DELETE"})


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    body: type[BaseModel] | None = None  # the request model; None: no body, or a free JSON document
    takes_idempotency_key: bool = False  # a POST the service makes safe to resend with `Idempotency-Key`
    query: tuple[str, ...] = ()  # the query parameters it takes


@dataclass(frozen=True)
class Call(Generic[T]):
    operation: Operation
    path: str
    parse: Callable[[httpx.Response], T]
    params: Mapping[str, str | int] = field(default_factory=dict)
    json: Any = None
    idempotency_key: str | None = None

    @property
    def retryable(self) -> bool:
        """Whether a lost or refused attempt may be sent again without risk of doing it twice."""
        return self.operation.method in IDEMPOTENT_METHODS or self.idempotency_key is not None

    def build(self, client: httpx.Client | httpx.AsyncClient) -> httpx.Request:
        headers = {"Idempotency-Key": self.idempotency_key} if self.idempotency_key else None
        return client.build_request(
            self.operation.method,
            self.path,
            params={k: v for k, v in self.params.items()} or None,
            json=self.json,
            headers=headers,
        )


OPERATIONS: dict[str, Operation] = {
    # workspaces and API keys: the service token
    "create_workspace": Operation("POST", "/api/v1/workspaces", m.CreateWorkspace),
    "list_api_keys": Operation("GET", "/api/v1/workspaces/{workspace_id}/api-keys"),
    "create_api_key": Operation("POST", "/api/v1/workspaces/{workspace_id}/api-keys", m.CreateApiKey),
    "revoke_api_key": Operation("DELETE", "/api/v1/workspaces/{workspace_id}/api-keys/{key_id}"),
    # sites
    "list_sites": Operation("GET", "/api/v1/sites"),
    "connect_site": Operation("POST", "/api/v1/sites", m.ConnectSite),
    "get_site": Operation("GET", "/api/v1/sites/{site_id}"),
    "edit_site": Operation("PATCH", "/api/v1/sites/{site_id}", m.EditSite),
    "disconnect_site": Operation("DELETE", "/api/v1/sites/{site_id}"),
    "check_site": Operation("POST", "/api/v1/sites/{site_id}/test", m.ConnectionTest),
    "new_webhook_secret": Operation("POST", "/api/v1/sites/{site_id}/webhook-secret"),
    # project settings
    "list_project_settings": Operation("GET", "/api/v1/sites/{site_id}/projects"),
    "get_project_settings": Operation("GET", "/api/v1/sites/{site_id}/projects/{key}"),
    "put_project_settings": Operation("PUT", "/api/v1/sites/{site_id}/projects/{key}"),
    "delete_project_settings": Operation("DELETE", "/api/v1/sites/{site_id}/projects/{key}"),
    # Jira lookups
    "jira_projects": Operation("GET", "/api/v1/sites/{site_id}/jira/projects"),
    "jira_project": Operation("GET", "/api/v1/sites/{site_id}/jira/projects/{project}"),
    "jira_create_fields": Operation(
        "GET", "/api/v1/sites/{site_id}/jira/projects/{project}/issue-types/{issue_type}/fields"
    ),
    "jira_assignable_users": Operation(
        "GET", "/api/v1/sites/{site_id}/jira/users", query=("project", "query")
    ),
    # host users
    "list_users": Operation("GET", "/api/v1/users"),
    "upsert_user": Operation("PUT", "/api/v1/users/{user_id}", m.UpsertUser),
    "get_user_connections": Operation("GET", "/api/v1/users/{user_id}/jira"),
    "connect_user": Operation("POST", "/api/v1/users/{user_id}/jira", m.ConnectUser),
    "disconnect_user": Operation("DELETE", "/api/v1/users/{user_id}/jira", query=("site",)),
    # items, tickets, links, comments
    "get_item": Operation("GET", "/api/v1/items/{item_type}/{item_id}"),
    "put_item": Operation("PUT", "/api/v1/items/{item_type}/{item_id}", m.PutItem),
    "delete_item": Operation("DELETE", "/api/v1/items/{item_type}/{item_id}"),
    "create_ticket": Operation(
        "POST", "/api/v1/items/{item_type}/{item_id}/tickets", m.CreateTicket, takes_idempotency_key=True
    ),
    "link_issue": Operation(
        "POST", "/api/v1/items/{item_type}/{item_id}/links", m.LinkIssue, takes_idempotency_key=True
    ),
    "unlink_issue": Operation("DELETE", "/api/v1/items/{item_type}/{item_id}/links/{issue_key}"),
    "list_comments": Operation("GET", "/api/v1/items/{item_type}/{item_id}/comments"),
    "add_comment": Operation(
        "POST", "/api/v1/items/{item_type}/{item_id}/comments", m.AddComment, takes_idempotency_key=True
    ),
    "edit_comment": Operation(
        "PATCH", "/api/v1/items/{item_type}/{item_id}/comments/{comment_id}", m.EditComment
    ),
    # events, settings, sync
    "events": Operation("GET", "/api/v1/events", query=("after", "limit")),
    "get_settings": Operation("GET", "/api/v1/settings"),
    "put_settings": Operation("PUT", "/api/v1/settings"),
    "list_failures": Operation("GET", "/api/v1/sync/failures", query=("after", "limit")),
    "retry_failure": Operation("POST", "/api/v1/sync/failures/{op_id}/retry"),
    "reconcile": Operation("POST", "/api/v1/sync/reconcile", m.Reconcile),
    # time entries
    "get_time_entry": Operation("GET", "/api/v1/time-entries/{entry_id}"),
    "put_time_entry": Operation("PUT", "/api/v1/time-entries/{entry_id}", m.PutTimeEntry),
    "delete_time_entry": Operation("DELETE", "/api/v1/time-entries/{entry_id}"),
    # rules
    "get_rules": Operation("GET", "/api/v1/rules"),
    "put_rules": Operation("PUT", "/api/v1/rules", m.PutRules),
    "preview_rules": Operation("POST", "/api/v1/rules/preview", m.PreviewRules),
    # pages
    "create_ui_session": Operation("POST", "/api/v1/ui-sessions", m.CreateUiSession),
}


# -- answers ---------------------------------------------------------------------------------------


def as_json(response: httpx.Response) -> dict[str, Any]:
    parsed = response.json()
    return parsed if isinstance(parsed, dict) else {"value": parsed}


def as_none(response: httpx.Response) -> None:
    return None


def as_model(model: type[M]) -> Callable[[httpx.Response], M]:
    def parse(response: httpx.Response) -> M:
        return model.model_validate(response.json())

    return parse


def as_list(key: str, model: type[M]) -> Callable[[httpx.Response], list[M]]:
    def parse(response: httpx.Response) -> list[M]:
        return [model.model_validate(entry) for entry in response.json()[key]]

    return parse


# -- requests --------------------------------------------------------------------------------------


def given(**values: Any) -> dict[str, Any]:
    """The arguments the caller gave (None means "not given": the service's default applies)."""
    return {name: value for name, value in values.items() if value is not None}


def body(model: type[BaseModel], values: Mapping[str, Any]) -> dict[str, Any]:
    """`values` checked by the request model, as JSON without the fields left out."""
    dumped: dict[str, Any] = model.model_validate(dict(values)).model_dump(mode="json", exclude_unset=True)
    return dumped


def call(
    name: str,
    parse: Callable[[httpx.Response], T],
    *,
    path: Mapping[str, str] | None = None,
    params: Mapping[str, str | int | None] | None = None,
    json: Any = None,
    idempotency_key: str | None = None,
) -> Call[T]:
    operation = OPERATIONS[name]
    assert set(params or {}) <= set(operation.query), f"{name} takes no such query parameter"
    # Path parameters are the host's own ids: quoted whole, so `a/b` cannot reach another route.
    quoted = {k: quote(v, safe="") for k, v in (path or {}).items()}
    if operation.body is not None and json is not None:
        json = body(operation.body, json)
    key = None
    if operation.takes_idempotency_key:
        # One key per logical call, reused by every retry of it: the service answers a resent POST
        # with the first answer instead of creating a second ticket, link or comment.
        key = idempotency_key or f"jbc-{uuid.uuid4().hex}"
    return Call(
        operation,
        operation.template.format(**quoted),
        parse,
        params={k: v for k, v in (params or {}).items() if v is not None},
        json=json,
        idempotency_key=key,
    )
