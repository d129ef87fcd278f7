"""Routing rules: `GET/PUT /api/v1/rules` (the whole ordered list) and `POST /api/v1/rules/preview`.

Any key reads the rules and previews; admin and manager keys replace them. Every problem of a `PUT`
is named by the rule's position, the same way whether the shape is wrong (`rules[1].enabled`) or
Jira disagrees (`rules[1].destination.issue_type`), so the body is validated here rather than by
FastAPI (whose paths would read `rules.1.enabled`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body
from pydantic import ConfigDict, Field, ValidationError

from jirabridge.domain.items import Item as DomainItem
from jirabridge.entrypoints.http.deps import Manager, Member, Services, Uow
from jirabridge.entrypoints.http.items import AttributeValue
from jirabridge.entrypoints.http.models import Request, inline_schema
from jirabridge.errors import FieldError, Invalid
from jirabridge.service.rules import rules
from jirabridge.service.rules.rule_sets import MAX_RULES
from jirabridge.service.tickets import items as items_service

router = APIRouter(prefix="/api/v1/rules", tags=["rules"])

FieldId = Annotated[str, Field(pattern=r"^[a-z][A-Za-z0-9_]{0,99}$")]
AttributeName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,100}$")]


class DestinationDocument(Request):
    site: str | None = Field(default=None, max_length=40, description="A site id; null: the default site.")
    project: str | None = Field(
        default=None, pattern=r"^[A-Z][A-Z0-9_]{1,9}$", description="Null: the site's default project."
    )
    issue_type: str | None = Field(
        default=None, min_length=1, max_length=255, description="Null: the project settings' default."
    )
    fields: dict[FieldId, Any] = Field(
        default_factory=dict,
        max_length=100,
        description="Jira field id → value, a template over the item (`svc-{attributes.service}`).",
    )


class RuleDocument(Request):
    id: str | None = Field(
        default=None, pattern=r"^r_[0-9a-f]{24}$", description="Send it back to keep it; null: a new rule."
    )
    name: str = Field(min_length=1, max_length=200)
    enabled: bool = True
    query: str = Field(max_length=10_000, description="See docs/rules.md, e.g. `service:web-store -team:x`.")
    destination: DestinationDocument = Field(default_factory=DestinationDocument)
    auto_create: bool = False


class RulesDocument(Request):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "rules": [
                        {
                            "name": "Web store errors",
                            "query": "service:web-store AND severity:(high OR critical)",
                            "destination": {
                                "project": "WEB",
                                "issue_type": "Bug",
                                "fields": {"labels": ["svc-{attributes.service}"]},
                            },
                            "auto_create": True,
                        }
                    ]
                }
            ]
        }
    )

    rules: list[RuleDocument] = Field(max_length=MAX_RULES)


class PreviewItem(Request):
    """`{type, id}` alone names a stored item; anything more is an item given inline."""

    type: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,99}$")
    id: str | None = Field(default=None, min_length=1, max_length=200)
    title: str | None = Field(default=None, min_length=1, max_length=500)
    description: str | None = Field(default=None, max_length=100_000)
    status: str | None = Field(default=None, min_length=1, max_length=100)
    severity: str | None = Field(default=None, min_length=1, max_length=50)
    assignee: str | None = Field(default=None, min_length=1, max_length=200)
    attributes: dict[AttributeName, AttributeValue] = Field(default_factory=dict, max_length=100)
    url: str | None = Field(default=None, max_length=2000, pattern=r"^https?://")


class PreviewRequest(Request):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"item": {"type": "error", "id": "e-1"}},
                {
                    "item": {
                        "type": "error",
                        "title": "TypeError in checkout",
                        "severity": "high",
                        "attributes": {"service": "web-store"},
                    }
                },
            ]
        }
    )

    item: PreviewItem


def _path(location: tuple[int | str, ...]) -> str:
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "body"


def _parsed(body: Any) -> RulesDocument:
    try:
        return RulesDocument.model_validate(body)
    except ValidationError as error:
        errors = [FieldError(_path(tuple(e["loc"])), e["msg"]) for e in error.errors()]
        raise Invalid("; ".join(f"{e.field}: {e.message}" for e in errors), errors=errors) from None


_PUT_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": inline_schema(RulesDocument.model_json_schema())}},
    }
}


@router.get("", summary="Read the routing rules")
def get_rules(who: Member, uow: Uow) -> dict[str, Any]:
    """The workspace's ordered rules; the first that matches a new item decides where its ticket goes."""
    assert who.workspace_id is not None
    return rules.get_rules(uow, who.workspace_id)


@router.put("", openapi_extra=_PUT_BODY, summary="Replace the routing rules")
async def put_rules(
    who: Manager, services: Services, body: Any = Body(default=None, include_in_schema=False)
) -> dict[str, Any]:
    """Replace the ordered list; every query and destination is checked against the site first."""
    assert who.workspace_id is not None
    document = _parsed(body)
    wanted = [
        rules.RuleInput(
            id=rule.id,
            name=rule.name,
            enabled=rule.enabled,
            query=rule.query,
            site=rule.destination.site,
            project=rule.destination.project,
            issue_type=rule.destination.issue_type,
            fields=dict(rule.destination.fields),
            auto_create=rule.auto_create,
        )
        for rule in document.rules
    ]
    return await rules.put_rules(services, who.workspace_id, wanted)


@router.post("/preview", summary="Preview routing for an item")
def preview(body: PreviewRequest, who: Member, uow: Uow) -> dict[str, Any]:
    """Which rule the item would match and the ticket it would create; nothing is written or sent."""
    assert who.workspace_id is not None
    given = body.item
    if given.model_fields_set <= {"type", "id"}:
        if given.id is None:
            raise Invalid.field("item.id", "name a stored item by type and id, or give the item inline")
        stored = items_service.find_item(uow, who.workspace_id, given.type, given.id)
        item = items_service.as_domain(stored)
    else:
        if given.title is None:
            raise Invalid.field(
                "item.title", "an inline item needs a title (send only type and id for a stored one)"
            )
        item = DomainItem(
            type=given.type,
            id=given.id or "preview",
            title=given.title,
            description=given.description,
            status=given.status,
            severity=given.severity,
            assignee=given.assignee,
            attributes=dict(given.attributes),
            url=given.url,
        )
    return rules.preview(uow, who.workspace_id, item)
