"""Creating a Jira issue for an item, and linking an existing one (SPEC section 3).

Both read Jira (create metadata, the issue to link) before opening a transaction; neither writes to
Jira here: a create is an `issue.create` operation the worker runs, and this module then waits a
moment for it so a host usually gets the key in the answer (201) and otherwise 202 with the pending
link to follow.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from jirabridge.domain import ticket_status
from jirabridge.domain.cardinality import Cardinality, check_link
from jirabridge.domain.inbound import project_sync
from jirabridge.domain.items import LinkState
from jirabridge.domain.operations import AddRemoteLink, remote_link_global_id
from jirabridge.errors import Conflict, Invalid, NotFound
from jirabridge.ids import new_id
from jirabridge.service.core import idempotency
from jirabridge.service.core.db import read_db
from jirabridge.service.core.idempotency import Answer, Claim
from jirabridge.service.core.ports import IssueInfo, Services
from jirabridge.service.core.unit_of_work import UnitOfWork
from jirabridge.service.rules import routing
from jirabridge.service.rules.rule_sets import Destination
from jirabridge.service.sites import metadata
from jirabridge.service.sites.project_rows import project_of, project_settings
from jirabridge.service.sites.sites import connected_site, list_sites, site_access
from jirabridge.service.tickets import items as items_service
from jirabridge.service.tickets.ticket_fields import TicketRequest as TicketRequest
from jirabridge.service.tickets.ticket_fields import build_fields
from jirabridge.service.tickets.ticket_queue import queue_create
from jirabridge.service.workspaces import settings as workspace_settings
from jirabridge.storage import outbox
from jirabridge.storage.events import record_event
from jirabridge.storage.tables import Item, Link, Site

ISSUE_KEY = re.compile(r"^[A-Z][A-Z0-9_]{0,9}-[1-9][0-9]*$")


@dataclass(frozen=True)
class Context:
    item: Item
    site: Site
    existing: list[Link]
    cardinality: Cardinality
    settings: dict[str, Any]
    project: str
    destination: Destination | None = None  # of the rule the item matched, when it applies


def _cardinality(uow: UnitOfWork, workspace_id: str, item_type: str) -> Cardinality:
    configured = workspace_settings.load(uow, workspace_id).link_cardinality.get(item_type, "many_to_many")
    return Cardinality(configured)


def _context(
    uow: UnitOfWork,
    workspace_id: str,
    item_type: str,
    item_id: str,
    site_id: str | None,
    project: str | None,
    *,
    use_rule: bool = False,
) -> Context:
    item = items_service.read_item(uow, workspace_id, item_type, item_id)  # only read here
    destination = _rule_destination(uow, item, site_id, project) if use_rule else None
    site = connected_site(uow, workspace_id, site_id or (destination.site if destination else None))
    chosen = project or (destination.project if destination else None) or site.default_project
    if not chosen:
        raise Invalid.field("project", "no project given and the site has no default project")
    return Context(
        item=item,
        site=site,
        existing=uow.links.loose_for_item(workspace_id, item_type, item_id),
        cardinality=_cardinality(uow, workspace_id, item_type),
        settings=project_settings(uow, workspace_id, site.id, chosen),
        project=chosen,
        destination=destination,
    )


def _rule_destination(
    uow: UnitOfWork, item: Item, site_id: str | None, project: str | None
) -> Destination | None:
    """The destination of the rule the item matched, unless the request names another site or
    project, or the rule's site is no longer connected."""
    destination = routing.destination_for(uow, item.workspace_id, item.rule_id)
    if destination is None or site_id not in (None, destination.site):
        return None
    if project not in (None, destination.project):
        return None
    site = uow.sites.get(destination.site)
    return destination if site is not None and site.status == "connected" else None


def _check_cardinality(uow: UnitOfWork, ctx: Context, issue_key: str | None) -> None:
    others: list[tuple[str, str]] = []
    if issue_key is not None:
        others = [
            (lk.item_type, lk.item_id)
            for lk in items_service.issue_links(uow, ctx.item.workspace_id, ctx.site.id, issue_key)
        ]
    violation = check_link(
        ctx.cardinality,
        [lk.issue_key or f"pending:{lk.id}" for lk in ctx.existing],
        others,
        issue_key or "(new issue)",
        (ctx.item.type, ctx.item.id),
    )
    if violation is not None:
        raise Conflict(violation.reason)


# -- create --------------------------------------------------------------------------------------


def ticket_answer(link: Link, site_url: str) -> Answer:
    """What `POST …/tickets` answers: 201 with the issue once it exists, else 202 with the pending link."""
    return (201 if link.sync_state == LinkState.SYNCED else 202), items_service.link_json(link, site_url)


async def create_ticket(
    services: Services,
    workspace_id: str,
    item_type: str,
    item_id: str,
    request: TicketRequest,
    claim: Claim | None = None,
) -> tuple[Link, str]:
    """Queue the item's new issue and wait a moment for it. With `claim` (the request's
    Idempotency-Key), raises Replay with the answer of an earlier request with that key, and stores
    this one's `ticket_answer` with the link (in progress while it waits for the worker)."""

    waits = services.settings.ticket_wait_s > 0

    def issue_type_of(ctx: Context) -> str:
        rule_issue_type = ctx.destination.issue_type if ctx.destination else None
        name = request.issue_type or rule_issue_type or ctx.settings.get("default_issue_type")
        if not name:
            raise Invalid.field(
                "issue_type", f"no issue type given and project {ctx.project} has no default issue type"
            )
        return str(name)

    def queue(uow: UnitOfWork, ctx: Context, screen: metadata.CreateScreen) -> Link:
        fields = _fields(uow, ctx, request, screen)
        now = services.clock.now()
        link = queue_create(uow, now, ctx.item, ctx.site.id, fields)
        if claim is not None:
            claim.record(uow, now, None if waits else ticket_answer(link, ctx.site.url))
        uow.commit()
        return link

    def at_once(uow: UnitOfWork) -> tuple[Context, Link | None]:
        """Usually the project's create screen is cached: then one transaction reads and queues.
        Otherwise it only reads (and rolls back), and Jira is asked outside any transaction."""
        if claim is not None:
            claim.check(uow)
        ctx = _read_for_create(uow, workspace_id, item_type, item_id, request)
        screen = metadata.cached_create_fields(services, ctx.site, ctx.project, issue_type_of(ctx))
        return ctx, (queue(uow, ctx, screen) if screen is not None else None)

    ctx, queued = await idempotency.committed(services, claim, at_once)
    if queued is not None:
        return await _waited(services, claim, queued, ctx.site.url)
    screen = await metadata.create_fields(services, ctx.site, ctx.project, issue_type_of(ctx))

    def save(uow: UnitOfWork) -> Link:
        return queue(uow, _read_for_create(uow, workspace_id, item_type, item_id, request), screen)

    link = await idempotency.committed(services, claim, save)
    return await _waited(services, claim, link, ctx.site.url)


async def _waited(services: Services, claim: Claim | None, link: Link, site_url: str) -> tuple[Link, str]:
    """The link after the wait for the worker; the answer stored for `claim` once the wait ends."""
    if services.settings.ticket_wait_s <= 0 or claim is None:
        return await _wait_for(services, link), site_url
    try:
        link = await _wait_for(services, link)
    finally:
        # Also when the wait ends early (the client went away): the link exists, so a retry must
        # not create another one.
        await idempotency.finish(services, claim, ticket_answer(link, site_url))
    return link, site_url


def _read_for_create(
    uow: UnitOfWork, workspace_id: str, item_type: str, item_id: str, request: TicketRequest
) -> Context:
    ctx = _context(uow, workspace_id, item_type, item_id, request.site, request.project, use_rule=True)
    _check_cardinality(uow, ctx, None)
    return ctx


def _fields(
    uow: UnitOfWork, ctx: Context, request: TicketRequest, screen: metadata.CreateScreen
) -> dict[str, Any]:
    """The Jira fields of the new issue, or Invalid naming each required field that is missing."""
    account = _account_id(uow, ctx, request.assignee) if request.assignee else None
    rule = ctx.destination
    # The rule's fields were checked against its own issue type's screen: not against another's.
    same_type = rule is not None and rule.issue_type.lower() == screen.issue_type_name.lower()
    return build_fields(
        items_service.as_domain(ctx.item),
        project=ctx.project,
        settings=ctx.settings,
        screen=screen,
        request=request,
        rule_fields=rule.fields if rule is not None and same_type else None,
        assignee_account=account,
    )


def _account_id(uow: UnitOfWork, ctx: Context, assignee: str) -> str:
    """A host user with a Jira connection on the site, else a literal Jira accountId."""
    connection = uow.user_connections.on_site(ctx.item.workspace_id, ctx.site.id, assignee)
    if connection is not None and connection.account_id:
        return connection.account_id
    if ":" in assignee or len(assignee) >= 24:  # the shape of Jira accountIds
        return assignee
    raise Invalid.field("assignee", f"host user {assignee!r} has no Jira connection on this site")


async def _wait_for(services: Services, link: Link) -> Link:
    """Give the worker a moment, so the answer usually carries the issue key. The link is read again
    only when the watch says it may have settled (on PostgreSQL, the worker's commit notifies us), so
    a wait costs about nothing while Jira is slow."""
    if services.settings.ticket_wait_s <= 0:
        return link
    loop = asyncio.get_running_loop()
    deadline = loop.time() + services.settings.ticket_wait_s
    current = link
    async with services.link_watch.watch(link.id) as settled:
        while current.sync_state == LinkState.PENDING and loop.time() < deadline:
            if not await settled.wait(deadline):
                break
            current = await read_db(services, partial(_reread, current))
    return current


def _reread(link: Link, uow: UnitOfWork) -> Link:
    return uow.links.get(link.id) or link  # removed meanwhile: as it was


# -- link an existing issue ---------------------------------------------------------------------


def parse_issue_ref(ref: str, sites: list[Site]) -> tuple[str, Site | None]:
    """`WEB-184`, or a browse URL `https://acme.atlassian.net/browse/WEB-184` (which names its site)."""
    text = ref.strip()
    if ISSUE_KEY.match(text.upper()):
        return text.upper(), None
    parts = urlsplit(text)
    match = re.search(r"/browse/([A-Za-z][A-Za-z0-9_]*-[0-9]+)/?$", parts.path)
    if not parts.scheme or not match:
        raise Invalid.field("issue", "must be an issue key like WEB-184 or a browse URL")
    base = text[: text.index("/browse/")].rstrip("/").lower()
    site = next((s for s in sites if s.url.lower() == base), None)
    if site is None:
        raise Invalid.field("issue", f"{base} is not a connected site of this workspace")
    return match.group(1).upper(), site


async def link_issue(
    services: Services,
    workspace_id: str,
    item_type: str,
    item_id: str,
    *,
    ref: str,
    site_id: str | None,
    backlink: bool,
    claim: Claim | None = None,
) -> tuple[Link, str]:
    """Link an existing issue. With `claim` (the request's Idempotency-Key), raises Replay with the
    answer of an earlier request with that key, and stores this one's (201) with the link."""

    def check(uow: UnitOfWork) -> tuple[Context, str]:
        if claim is not None:
            claim.check(uow)
        return read(uow)

    def read(uow: UnitOfWork) -> tuple[Context, str]:
        key, named_site = parse_issue_ref(ref, list_sites(uow, workspace_id))
        ctx = _context(
            uow,
            workspace_id,
            item_type,
            item_id,
            site_id or (named_site.id if named_site else None),
            project_of(key),
        )
        if any(lk.issue_key == key and lk.site_id == ctx.site.id for lk in ctx.existing):
            raise Conflict(f"{item_type}/{item_id} is already linked to {key}")
        _check_cardinality(uow, ctx, key)
        return ctx, key

    ctx, key = await read_db(services, check)
    info = await services.connector.get_issue(site_access(services, ctx.site), key)
    if info is None:
        raise NotFound(f"issue {key} does not exist on {ctx.site.url} (or the connection may not see it)")

    def save(uow: UnitOfWork) -> Link:
        fresh, _ = read(uow)
        now = services.clock.now()
        link = Link(
            id=new_id("lk"),
            workspace_id=workspace_id,
            item_type=item_type,
            item_id=item_id,
            site_id=fresh.site.id,
            issue_key=info.key,
            issue_id=info.id,
            jira_status=info.status,
            jira_status_category=info.status_category,
            sync_state=LinkState.SYNCED,
            created_by_jirabridge=False,
            linked_at=now,
        )
        uow.links.add(link)
        record_event(
            uow.session,
            workspace_id=workspace_id,
            type="link.created",
            source="host",
            at=now,
            item=(item_type, item_id),
            issue_key=info.key,
            data={"site": fresh.site.id, "issue_url": f"{fresh.site.url}/browse/{info.key}"},
        )
        _status_on_link(uow, now, fresh, info)
        if backlink and fresh.item.url:
            backlink_op = AddRemoteLink(
                fresh.site.id,
                info.key,
                global_id=remote_link_global_id(workspace_id, item_type, item_id),
                url=fresh.item.url,
                title=f"{item_type} {item_id}: {fresh.item.title}"[:255],
                item=(item_type, item_id),
            )
            outbox.enqueue(uow.session, backlink_op, workspace_id=workspace_id, now=now)
        if claim is not None:
            claim.record(uow, now, (201, items_service.link_json(link, fresh.site.url)))
        uow.commit()
        return link

    return await idempotency.committed(services, claim, save), ctx.site.url


def _status_on_link(uow: UnitOfWork, now: datetime, ctx: Context, info: IssueInfo) -> None:
    """A ticket already done gives the new item the mapped done status (grouped tickets); otherwise
    the project's `on_link_status`, if any, from the statuses it applies from (domain/ticket_status.py).
    Linking never moves the ticket."""
    mapping = project_sync(ctx.settings).mapping
    new_status = ticket_status.on_link(
        ctx.settings, mapping, ctx.item.status, info.status, info.status_category
    )
    if new_status and new_status != ctx.item.status:
        item = uow.items.get(ctx.item.workspace_id, ctx.item.type, ctx.item.id)
        assert item is not None
        items_service.take_status(uow, now, item, new_status, issue_key=info.key, reason="linked")


def create_defaults(
    uow: UnitOfWork, workspace_id: str, item_type: str, item_id: str
) -> tuple[str | None, str | None, str | None]:
    """Where a ticket created with no site, project or issue type would go — the matching rule's
    destination, else the default site's default project and its default issue type — as (site id,
    project, issue type); None where there is none (a form then asks)."""
    try:
        ctx = _context(uow, workspace_id, item_type, item_id, None, None, use_rule=True)
    except Invalid:
        sites = [s for s in list_sites(uow, workspace_id) if s.status == "connected"]
        chosen = next((s for s in sites if s.is_default), sites[0] if sites else None)
        return (chosen.id if chosen else None), None, None
    rule_type = ctx.destination.issue_type if ctx.destination else None
    return ctx.site.id, ctx.project, rule_type or ctx.settings.get("default_issue_type")
