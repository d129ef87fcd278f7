"""Site connections (SPEC sections 1 and 2): connect by API token or OAuth, read, edit, test, disconnect.

Calls to Jira happen between transactions (see service/core/ports.py): each function reads and commits in
`_db(...)` steps run on a worker thread, and awaits the connector in between.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from jirabridge.domain.operations import RemoveAdminWebhooks
from jirabridge.domain.site_urls import SiteUrlError, normalise_site_url
from jirabridge.domain.site_webhooks import WebhookStatus
from jirabridge.domain.ui_sessions import return_page_allowed
from jirabridge.errors import Conflict, Invalid, NotFound
from jirabridge.ids import new_id, new_secret
from jirabridge.service.core.db import run_db
from jirabridge.service.core.outbound import refuse_soon
from jirabridge.service.core.ports import Check, ConnectFailed, Services, SiteAccess
from jirabridge.service.core.unit_of_work import UnitOfWork
from jirabridge.service.inbound import polling
from jirabridge.service.sites import dynamic_webhooks, site_projects
from jirabridge.service.sites.credentials import credentials_saver
from jirabridge.storage.events import record_event
from jirabridge.storage.tables import OAuthState, Site

OAUTH_STATE_TTL = timedelta(minutes=15)


def get_site(uow: UnitOfWork, workspace_id: str, site_id: str) -> Site:
    """A site of the workspace that is not disconnected, or NotFound."""
    site = uow.sites.get(site_id)
    if site is None or site.workspace_id != workspace_id or site.status == "disconnected":
        raise NotFound(f"site {site_id} does not exist")
    return site


def connected_site(uow: UnitOfWork, workspace_id: str, site_id: str | None) -> Site:
    """The named site, or the workspace's default; Invalid unless it is connected."""
    if site_id is not None:
        site = get_site(uow, workspace_id, site_id)
    else:
        default = uow.sites.default(workspace_id)
        if default is None:
            raise Invalid.field("site", "no default site is connected; name one")
        site = default
    if site.status != "connected":
        raise Invalid.field("site", f"site {site.id} is not connected")
    return site


def _normalise(container: Services, url: str) -> str:
    try:
        return normalise_site_url(url, container.settings.allowed_jira_hosts)
    except SiteUrlError as exc:
        raise Invalid.field("url", exc.message) from None


def ensure_new(uow: UnitOfWork, workspace_id: str, url: str) -> None:
    taken = uow.sites.by_url(workspace_id, url)
    if taken:
        raise Conflict(f"{url} is already connected as {taken}; disconnect it first to connect it again")


def _new_site(
    container: Services, workspace_id: str, url: str, auth_type: str, default_project: str | None
) -> Site:
    return Site(
        id=new_id("st"),
        workspace_id=workspace_id,
        url=url,
        auth_type=auth_type,
        status="pending",
        default_project=default_project,
        webhook_token=new_secret(),
        created_at=container.clock.now(),
    )


def mark_connected(uow: UnitOfWork, site: Site, make_default: bool) -> None:
    """Mark connected; the first site of a workspace (or one asked to be) becomes the default."""
    site.status = "connected"
    if make_default or uow.sites.other_default(site) is None:
        uow.sites.make_default(site)


async def connect_api_token(
    container: Services,
    workspace_id: str,
    *,
    url: str,
    email: str,
    api_token: str,
    default_project: str | None,
    make_default: bool,
) -> Site:
    base = _normalise(container, url)
    await refuse_soon(container.outbound, "url", base)
    await run_db(container, lambda uow: ensure_new(uow, workspace_id, base))
    access = SiteAccess(base, "api_token", {"email": email, "api_token": api_token})
    try:
        account = await container.connector.verify(access)
    except ConnectFailed as failed:
        field = "url" if failed.code in ("invalid_url", "connection_failed", "network_timeout") else "auth"
        raise Invalid.field(field, f"{failed.code}: {failed.message}") from None

    def save(uow: UnitOfWork) -> Site:
        ensure_new(uow, workspace_id, base)
        site = _new_site(container, workspace_id, base, "api_token", default_project)
        site.account_email = account.email or email
        site.account_id = account.account_id
        site.credentials = container.secrets.seal(
            {"email": email, "api_token": api_token, "webhook_secret": new_secret()}
        )
        site.webhook_status = WebhookStatus.PENDING
        uow.sites.add(site)
        mark_connected(uow, site, make_default)
        uow.flush()
        dynamic_webhooks.follow_site(uow, container.clock.now(), site)
        site_projects.follow_site(uow, container.clock.now(), site)
        uow.commit()
        return site

    return await run_db(container, save)


async def start_oauth(
    container: Services,
    workspace_id: str,
    *,
    url: str | None,
    default_project: str | None,
    make_default: bool,
    return_page: str | None = None,
) -> tuple[Site, str]:
    """A pending site and the URL to send the person to; `complete_oauth` finishes on the callback,
    and sends the browser back to `return_page` (a page of the session that started it) when given."""
    if not container.settings.oauth_client_id:
        raise Invalid.field("auth.type", "OAuth is not configured (JIRABRIDGE_OAUTH_CLIENT_ID and _SECRET)")
    check_return_page(return_page)
    # Without an address, the site the consent grants is connected; its address is known then.
    base = _normalise(container, url) if url else ""
    # No outbound check: an OAuth site is called through Atlassian's gateway, never at this URL.
    state = new_secret()

    def save(uow: UnitOfWork) -> Site:
        if base:
            ensure_new(uow, workspace_id, base)
        site = _new_site(container, workspace_id, base, "oauth", default_project)
        site.is_default = make_default  # remembered until the callback connects it
        uow.sites.add(site)
        uow.flush()
        uow.oauth_states.add(
            OAuthState(
                state=state,
                workspace_id=workspace_id,
                site_id=site.id,
                expires_at=container.clock.now() + OAUTH_STATE_TTL,
                return_page=return_page,
            )
        )
        uow.commit()
        return site

    site = await run_db(container, save)
    return site, container.connector.authorize_url(state)


def check_return_page(return_page: str | None) -> None:
    if return_page is not None and not return_page_allowed(return_page):
        raise Invalid.field("return_page", "must be a page of this service's own pages (/ui/s/…)")


def aware(moment: datetime) -> datetime:
    """SQLite returns naive datetimes for timezone-aware columns; they are stored in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def list_sites(uow: UnitOfWork, workspace_id: str) -> list[Site]:
    return uow.sites.listed(workspace_id)


def update_site(uow: UnitOfWork, workspace_id: str, site_id: str, changes: dict[str, Any]) -> Site:
    site = get_site(uow, workspace_id, site_id)
    if "default_project" in changes:
        site.default_project = changes["default_project"]
    if changes.get("default") is True:
        if site.status != "connected":
            raise Invalid.field("default", "only a connected site can be the default")
        uow.sites.make_default(site)
    elif changes.get("default") is False and site.is_default:
        raise Invalid.field("default", "make another site the default instead")
    uow.commit()
    return site


def disconnect_site(container: Services, uow: UnitOfWork, workspace_id: str, site_id: str) -> None:
    """Stop the site's sync and delete its secrets (and its users'); links and history stay."""
    site = get_site(uow, workspace_id, site_id)
    now = container.clock.now()
    site.status = "disconnected"
    site.disconnected_at = now
    was_default = site.is_default
    site.is_default = False
    uow.sites.forget_users(site, now)
    if was_default:
        successor = uow.sites.oldest_connected(workspace_id)
        if successor is not None:
            successor.is_default = True
    polling.forget_site(uow, site.id)
    site_projects.forget_site(uow, site.id)
    # An admin webhook jirabridge registered is deleted by the worker, which then deletes the
    # credentials it needed; otherwise they go now. Dynamic webhooks stay in Jira until they expire;
    # their deliveries answer 404, as the site no longer receives any.
    if not dynamic_webhooks.forget_site(uow, now, site):
        site.credentials = None
    from jirabridge.service.worklogs import time_entries  # it imports this module

    time_entries.site_disconnected(uow, now, workspace_id, site.id)
    # Work still queued for the site would only fail against a dead connection: end it visibly.
    uow.operations.fail_pending_for_site(
        site.id,
        keep_kind=RemoveAdminWebhooks.KIND,
        reason="site_disconnected",
        detail="the site was disconnected",
        now=now,
    )
    record_event(
        uow.session,
        workspace_id=workspace_id,
        type="site.disconnected",
        source="host",
        at=now,
        data={"site": site.id, "url": site.url},
    )
    uow.commit()


def site_access(container: Services, site: Site) -> SiteAccess:
    """Decrypted access for calls; OAuth refreshes are written back at once (tokens rotate)."""
    credentials = container.secrets.open(site.credentials)
    credentials.pop("webhook_secret", None)

    site_id = site.id
    save = credentials_saver(container, lambda uow: uow.sites.get(site_id))
    return SiteAccess(site.url, site.auth_type, credentials, cloud_id=site.cloud_id, save_credentials=save)


@dataclass(frozen=True)
class WebhookState:
    """Where the site's webhook stands, as the site's JSON and the connection test show it."""

    status: str | None  # WebhookStatus; None for a site not connected yet
    reason: str | None
    action: str | None  # the step a person must take, when one must


def webhook_state(site: Site) -> WebhookState:
    if site.status != "connected" or site.webhook_status is None:
        return WebhookState(None, None, None)
    problem = site.webhook_problem or {}
    return WebhookState(site.webhook_status, problem.get("reason"), problem.get("action"))


def webhook_check(site: Site) -> Check:
    state = webhook_state(site)
    if state.status == WebhookStatus.NOT_REGISTERED:
        return Check("webhook", False, "webhook_not_registered", f"{state.reason}. {state.action}")
    if state.status == WebhookStatus.PENDING:
        return Check("webhook", True, None, "the webhook is being registered by the worker")
    if state.status == WebhookStatus.NOT_NEEDED:
        return Check("webhook", True, None, "no project takes Jira's changes, so no webhook is needed yet")
    return Check("webhook", True, None, "the webhook is registered in Jira")


async def connection_test(
    container: Services, workspace_id: str, site_id: str, *, project: str | None, issue_type: str | None
) -> list[Check]:
    site = await run_db(container, lambda uow: get_site(uow, workspace_id, site_id))
    if site.status != "connected":
        return [Check("auth", False, "unauthorized", "the OAuth connection was not completed")]
    checks = await container.connector.test(
        site_access(container, site), project=project or site.default_project, issue_type=issue_type
    )
    # The webhook check reads what the worker learned from Jira; after a failed check it says nothing.
    return [*checks, webhook_check(site)] if all(c.ok for c in checks) else checks
