"""Items, their tickets, links and comments (SPEC section 2)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Response
from fastapi.responses import JSONResponse
from pydantic import ConfigDict, Field

from jirabridge.entrypoints.http.deps import Member, Services, Uow
from jirabridge.entrypoints.http.models import Request
from jirabridge.service.core import idempotency
from jirabridge.service.core.db import run_db
from jirabridge.service.core.unit_of_work import UnitOfWork
from jirabridge.service.sites import users
from jirabridge.service.tickets import comments, tickets
from jirabridge.service.tickets import items as items_service

router = APIRouter(prefix="/api/v1/items", tags=["items"])

ItemType = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_-]{0,99}$")]
ItemId = Annotated[str, Path(min_length=1, max_length=200)]
AttributeValue = str | int | float | bool | None
IdempotencyHeader = Annotated[str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200)]


class PutItem(Request):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "title": "SQL injection in /search",
                    "description": "Found by the nightly scan.",
                    "status": "Open",
                    "severity": "critical",
                    "attributes": {"service": "web-store", "cvss": 9.1},
                    "url": "https://host.example/findings/1",
                }
            ]
        }
    )

    title: str = Field(min_length=1, max_length=500)
    description: str | None = Field(default=None, max_length=100_000)
    status: str | None = Field(default=None, min_length=1, max_length=100)
    severity: str | None = Field(default=None, min_length=1, max_length=50)
    assignee: str | None = Field(default=None, min_length=1, max_length=200)
    attributes: dict[Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,100}$")], AttributeValue] = Field(
        default_factory=dict, max_length=100
    )
    url: str | None = Field(default=None, max_length=2000, pattern=r"^https?://")


class CreateTicket(Request):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {},
                {
                    "project": "WEB",
                    "issue_type": "Bug",
                    "summary": "SQL injection in /search",
                    "labels": ["security"],
                    "assignee": "u-alice",
                },
            ]
        }
    )

    site: str | None = Field(default=None, max_length=40)
    project: str | None = Field(default=None, pattern=r"^[A-Z][A-Z0-9_]{1,9}$")
    issue_type: str | None = Field(default=None, min_length=1, max_length=255)
    summary: str | None = Field(default=None, min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=30_000)
    priority: str | None = Field(default=None, min_length=1, max_length=100)
    labels: list[Annotated[str, Field(pattern=r"^[^\s]{1,255}$")]] = Field(
        default_factory=list, max_length=50
    )
    assignee: str | None = Field(default=None, min_length=1, max_length=200)
    fields: dict[Annotated[str, Field(pattern=r"^[a-z][A-Za-z0-9_]{0,99}$")], Any] = Field(
        default_factory=dict
    )


class LinkIssue(Request):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"issue": "WEB-12"},
                {"issue": "https://acme.atlassian.net/browse/WEB-12", "backlink": True},
            ]
        }
    )

    issue: str = Field(min_length=3, max_length=2000)
    site: str | None = Field(default=None, max_length=40)
    backlink: bool = False


class AddComment(Request):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"body": "Fixed in release 4.2", "author": "u-alice"}]}
    )

    body: str = Field(min_length=1, max_length=30_000)
    author: str | None = Field(default=None, min_length=1, max_length=200)


class EditComment(Request):
    model_config = ConfigDict(json_schema_extra={"examples": [{"body": "Fixed in release 4.2.1"}]})

    body: str = Field(min_length=1, max_length=30_000)


@router.put(
    "/{item_type}/{item_id}",
    responses={201: {"description": "created: the item is new"}},
    summary="Create or update an item",
)
async def put_item(
    item_type: ItemType, item_id: ItemId, body: PutItem, who: Member, services: Services
) -> JSONResponse:
    """An item is the host's record that tickets belong to (a finding, an error, an anomaly), named by its
    type and the host's id. 201 when new. A changed `status` moves its linked Jira issues through the
    project's `status_map` (in the background)."""
    assert who.workspace_id is not None
    workspace_id = who.workspace_id
    data = items_service.ItemInput(**body.model_dump())

    # One hop to a database thread and one transaction (a `def` route with the `Uow` dependency
    # made three hops, and reading the answer after the commit a second transaction).
    def put(uow: UnitOfWork) -> idempotency.Answer:
        done = items_service.upsert_item(uow, services.clock.now(), workspace_id, item_type, item_id, data)
        answer = items_service.item_json(uow, done.item, done.links)
        uow.commit()
        return (201 if done.created else 200), answer

    return _answer(await run_db(services, put))


@router.get("/{item_type}/{item_id}", summary="Read an item")
def get_item(item_type: ItemType, item_id: ItemId, who: Member, uow: Uow) -> dict[str, Any]:
    """The item as stored, with its links to Jira issues and each link's sync state."""
    assert who.workspace_id is not None
    return items_service.item_json(uow, items_service.read_item(uow, who.workspace_id, item_type, item_id))


@router.delete("/{item_type}/{item_id}", status_code=204, summary="Delete an item")
def delete_item(item_type: ItemType, item_id: ItemId, who: Member, uow: Uow, services: Services) -> Response:
    """The item and its links are removed from jirabridge; nothing is deleted in Jira."""
    assert who.workspace_id is not None
    items_service.delete_item(uow, services.clock.now(), who.workspace_id, item_type, item_id)
    return Response(status_code=204)


@router.post(
    "/{item_type}/{item_id}/tickets",
    status_code=201,
    responses={202: {"description": "accepted: Jira did not answer in time, the link is pending"}},
    summary="Create a Jira ticket for an item",
)
async def create_ticket(
    item_type: ItemType,
    item_id: ItemId,
    body: CreateTicket,
    who: Member,
    services: Services,
    idempotency_key: IdempotencyHeader = None,
) -> JSONResponse:
    """Create a Jira issue for the item: 201 with the key when Jira answered in time, else 202 with the
    pending link (GET the item to follow it). `Idempotency-Key` makes a retried POST answer the same."""
    assert who.workspace_id is not None
    request = tickets.TicketRequest(**body.model_dump())
    path = f"/items/{item_type}/{item_id}/tickets"
    claim = _claim(who.workspace_id, idempotency_key, path, body)
    try:
        link, site_url = await tickets.create_ticket(
            services, who.workspace_id, item_type, item_id, request, claim
        )
    except idempotency.Replay as replay:
        return _answer(replay.answer)
    return _answer(tickets.ticket_answer(link, site_url))


def _claim(workspace_id: str, key: str | None, path: str, body: Request) -> idempotency.Claim | None:
    if key is None:
        return None
    return idempotency.Claim(workspace_id, key, idempotency.request_hash("POST", path, body.model_dump()))


def _answer(answer: idempotency.Answer) -> JSONResponse:
    status, body = answer
    return JSONResponse(body, status_code=status)


@router.post("/{item_type}/{item_id}/links", status_code=201, summary="Link an existing Jira issue")
async def link_issue(
    item_type: ItemType,
    item_id: ItemId,
    body: LinkIssue,
    who: Member,
    services: Services,
    idempotency_key: IdempotencyHeader = None,
) -> JSONResponse:
    """Links the item to an issue that already exists, by key (`WEB-12`) or browse URL, after checking it
    exists. `backlink` also adds a remote link in Jira back to the item's URL. The workspace's
    `link_cardinality` decides how many items an issue may serve. `Idempotency-Key` makes a retried POST
    answer the same."""
    assert who.workspace_id is not None
    claim = _claim(who.workspace_id, idempotency_key, f"/items/{item_type}/{item_id}/links", body)
    try:
        link, site_url = await tickets.link_issue(
            services,
            who.workspace_id,
            item_type,
            item_id,
            ref=body.issue,
            site_id=body.site,
            backlink=body.backlink,
            claim=claim,
        )
    except idempotency.Replay as replay:
        return _answer(replay.answer)
    return _answer((201, items_service.link_json(link, site_url)))


@router.delete("/{item_type}/{item_id}/links/{issue_key}", status_code=204, summary="Unlink an issue")
def unlink(
    item_type: ItemType, item_id: ItemId, issue_key: str, who: Member, uow: Uow, services: Services
) -> Response:
    """Removes the link; the issue stays in Jira untouched."""
    assert who.workspace_id is not None
    items_service.unlink(uow, services.clock.now(), who.workspace_id, item_type, item_id, issue_key)
    return Response(status_code=204)


@router.post("/{item_type}/{item_id}/comments", status_code=201, summary="Add a comment to an item")
async def add_comment(
    item_type: ItemType,
    item_id: ItemId,
    body: AddComment,
    who: Member,
    services: Services,
    idempotency_key: IdempotencyHeader = None,
) -> JSONResponse:
    """The comment goes to every linked issue whose project has `comment_sync` `outbound` or `two_way`,
    posted as its author's Jira account when they connected one, else by the site's account with the
    author's name. `Idempotency-Key` makes a retried POST answer the same."""
    assert who.workspace_id is not None
    workspace_id, author = who.workspace_id, body.author or who.user_id
    if body.author is not None and body.author != who.user_id:
        # The comment is posted as its author's Jira identity when they connected one: a key bound
        # to a user writes only as that user.
        users.check_acts_for(who, body.author)

    def add(uow: UnitOfWork) -> idempotency.Answer:
        now = services.clock.now()
        comment = comments.add_host_comment(uow, now, workspace_id, item_type, item_id, body.body, author)
        return 201, comments.comment_json(comment)

    claim = _claim(workspace_id, idempotency_key, f"/items/{item_type}/{item_id}/comments", body)
    return _answer(await idempotency.once(services, claim, add))


@router.patch("/{item_type}/{item_id}/comments/{comment_id}", summary="Edit a host comment")
def edit_comment(
    item_type: ItemType,
    item_id: ItemId,
    comment_id: Annotated[str, Path(min_length=1, max_length=40)],
    body: EditComment,
    who: Member,
    uow: Uow,
    services: Services,
) -> dict[str, Any]:
    """A host comment's new body; the Jira comments it became follow (the worker edits them)."""
    comment = comments.update_host_comment(
        uow, services.clock.now(), who, item_type, item_id, comment_id, body.body
    )
    return comments.comment_json(comment)


@router.get("/{item_type}/{item_id}/comments", summary="List an item's comments")
def list_comments(item_type: ItemType, item_id: ItemId, who: Member, uow: Uow) -> dict[str, Any]:
    """Comments from both sides, oldest first: the host's (`source` `host`) and those made in Jira
    (`source` `jira`)."""
    assert who.workspace_id is not None
    found = comments.list_comments(uow, who.workspace_id, item_type, item_id)
    return {"comments": [comments.comment_json(c) for c in found]}
