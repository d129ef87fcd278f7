"""The OAuth 2.0 callback: finishes a site connection, or a user connection when the state names a user."""

from __future__ import annotations

from dataclasses import dataclass

from jirabridge.domain.site_urls import SiteUrlError, normalise_site_url
from jirabridge.domain.site_webhooks import WebhookStatus
from jirabridge.errors import Conflict, Invalid
from jirabridge.ids import new_secret
from jirabridge.service.core.db import run_db
from jirabridge.service.core.ports import ConnectFailed, Services
from jirabridge.service.core.unit_of_work import UnitOfWork
from jirabridge.service.sites import dynamic_webhooks, site_projects
from jirabridge.service.sites.sites import aware, ensure_new, mark_connected
from jirabridge.service.sites.users import save_connection
from jirabridge.storage.tables import OAuthState, Site


@dataclass(frozen=True)
class Completed:
    site: Site
    user_id: str | None  # the host user connected, for a user connection
    return_page: str | None  # the page the connection was started from


async def complete_oauth(container: Services, *, state: str, code: str) -> Completed:
    """Finish a site (or, with `user_id` on the state, a user) OAuth connection from the callback."""

    def take_state(uow: UnitOfWork) -> tuple[OAuthState, Site]:
        found = uow.oauth_states.get(state)
        if found is None or aware(found.expires_at) < container.clock.now():
            raise Invalid.field("state", "unknown or expired OAuth state: start the connection again")
        site = uow.sites.get(found.site_id)
        if site is None:
            raise Invalid.field("state", "the site of this OAuth state no longer exists")
        uow.oauth_states.remove(found)  # a state is good for one callback only
        uow.commit()
        return found, site

    oauth_state, site = await run_db(container, take_state)
    try:
        grant = await container.connector.complete_oauth(
            code, (site.url or None) if site.auth_type == "oauth" else None
        )
    except ConnectFailed as failed:
        raise Invalid.field("code", f"{failed.code}: {failed.message}") from None

    def save(uow: UnitOfWork) -> Site:
        current = uow.sites.get(site.id)
        assert current is not None
        if oauth_state.user_id is not None:
            sealed = container.secrets.seal({**grant.credentials, "cloud_id": grant.cloud_id})
            save_connection(container, uow, current, oauth_state.user_id, "oauth", sealed, grant.account)
        else:
            if not current.url:  # started without an address: the granted site's
                _take_address(container, uow, current, grant.site_url)
            current.cloud_id = grant.cloud_id
            current.account_id = grant.account.account_id
            current.account_email = grant.account.email
            current.credentials = container.secrets.seal(
                {**grant.credentials, "webhook_secret": new_secret()}
            )
            current.webhook_status = WebhookStatus.PENDING
            mark_connected(uow, current, current.is_default)
            dynamic_webhooks.follow_site(uow, container.clock.now(), current)
            site_projects.follow_site(uow, container.clock.now(), current)
        uow.commit()
        return current

    try:
        connected = await run_db(container, save)
    except Conflict:
        await run_db(container, lambda uow: _forget_pending(uow, site.id))
        raise
    return Completed(connected, oauth_state.user_id, oauth_state.return_page)


def _take_address(container: Services, uow: UnitOfWork, site: Site, granted_url: str) -> None:
    """A site started without an address takes the granted one, unless the workspace has it already."""
    try:
        url = normalise_site_url(granted_url, container.settings.allowed_jira_hosts)
    except SiteUrlError as exc:
        raise Invalid.field("url", exc.message) from None
    ensure_new(uow, site.workspace_id, url)
    site.url = url


def _forget_pending(uow: UnitOfWork, site_id: str) -> None:
    """The consent granted a site the workspace has already: the pending one it was for goes."""
    pending = uow.sites.get(site_id)
    if pending is not None and pending.status == "pending":
        uow.sites.remove(pending)
        uow.commit()
