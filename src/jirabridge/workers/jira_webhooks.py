"""`webhooks.sync`: an OAuth site's dynamic webhooks follow its projects with inbound sync.

One run (scheduled per site, see service/dynamic_webhooks.py) lists the app's webhooks on the site,
keeps the one at this site's URL whose filter and events are right, registers it when missing
(`project in (…)` over the projects with inbound sync), deletes stale ones (another project set, or
none left), and refreshes the kept one when it would expire within 10 days. The ids and expiry are
stored on the site (its JSON shows `webhook.expires_at`). Every run starts from what Jira lists, so a
run repeated after a crash, or a webhook deleted by hand in Jira, converges to the same state.

A new webhook is registered before the stale ones are deleted: Jira sends one delivery per URL for all
of an app's matching webhooks, so the overlap duplicates nothing and leaves no gap. When the app's
per-user limit refuses the registration, the stale ones go first and it is tried again.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from jirabridge import jira
from jirabridge.domain import dynamic_webhooks as domain
from jirabridge.domain.operations import SyncDynamicWebhooks
from jirabridge.domain.outcomes import Done, Fail, Handler, Job, Outcome
from jirabridge.domain.site_webhooks import WebhookStatus
from jirabridge.service import dynamic_webhooks
from jirabridge.service.db import run_db
from jirabridge.service.unit_of_work import UnitOfWork
from jirabridge.service.webhooks import webhook_url
from jirabridge.storage.tables import Site
from jirabridge.workers import jira_common as common
from jirabridge.workers import registry

if TYPE_CHECKING:
    from jirabridge.bootstrap import Container

log = logging.getLogger("jirabridge.worker.webhooks")


def _registered(hooks: list[jira.Webhook], url: str) -> list[domain.Registered]:
    """The webhooks at `url`: another workspace connected to the same site with the same Jira user
    lists its own too, at its own URL, and they are not ours to touch."""
    return [
        domain.Registered(
            id=w.id,
            jql=w.jql_filter or "",
            events=tuple(w.events),
            expires_at=datetime.fromtimestamp(w.expiration_date / 1000, UTC) if w.expiration_date else None,
        )
        for w in hooks
        if w.url == url
    ]


class SyncWebhooks:
    def __init__(self, container: Container) -> None:
        self.container = container
        self.pool = common.pool_for(container)

    async def __call__(self, job: Job) -> Outcome:
        site_id = job.operation_as(SyncDynamicWebhooks).site_id

        def read(uow: UnitOfWork) -> tuple[str, str | None] | None:
            site = uow.session.get(Site, site_id)
            if site is None or site.workspace_id != job.workspace_id:
                return None
            if site.auth_type != "oauth" or site.status != "connected":
                return None
            url = webhook_url(self.container.settings.public_url, site.webhook_token)
            return url, domain.jql_for(dynamic_webhooks.inbound_projects(uow, job.workspace_id, site_id))

        found = await run_db(self.container, read)
        if found is None:
            return Done({"skipped": "not_a_connected_oauth_site"})
        url, jql = found
        now = self.container.clock.now()
        try:
            async with self.pool.client(site_id, workspace_id=job.workspace_id) as client:
                mine = _registered(await client.webhooks.list(), url)
                plan = domain.plan(mine, jql, now)
                deleted: list[int] = []
                if plan.register_jql is not None:
                    spec = jira.WebhookSpec(events=domain.EVENTS, jql_filter=plan.register_jql)
                    [result] = await client.webhooks.register(url, [spec])
                    if result.created_webhook_id is None and plan.delete:
                        await client.webhooks.delete(plan.delete)  # make room under the app's limit
                        deleted = list(plan.delete)
                        [result] = await client.webhooks.register(url, [spec])
                    if result.created_webhook_id is None:
                        return Fail(
                            "webhook_rejected", "Jira refused the webhook: " + "; ".join(result.errors)
                        )
                stale = [i for i in plan.delete if i not in deleted]
                if stale:
                    await client.webhooks.delete(stale)
                    deleted += stale
                if plan.refresh:
                    await client.webhooks.refresh(plan.refresh)
                kept = _registered(await client.webhooks.list(), url) if jql is not None else []
        except common.CALL_ERRORS as error:
            return common.classify(error)
        ids = [w.id for w in kept if w.jql == jql]
        expires = min((w.expires_at for w in kept if w.jql == jql and w.expires_at), default=None)

        def save(uow: UnitOfWork) -> None:
            site = uow.session.get(Site, site_id)
            if site is None or site.status != "connected":
                return  # disconnected meanwhile
            site.webhook_ids = ids or None
            site.webhook_expires_at = expires
            site.webhook_status = (WebhookStatus.REGISTERED if ids else WebhookStatus.NOT_NEEDED).value
            site.webhook_problem = None
            uow.commit()

        await run_db(self.container, save)
        log.info(
            "webhooks.sync.done site=%s registered=%s deleted=%s refreshed=%s",
            site_id,
            plan.register_jql is not None,
            len(deleted),
            bool(plan.refresh),
        )
        return Done(
            {
                "jql": jql,
                "webhook_ids": ids,
                "deleted": deleted,
                "refreshed": list(plan.refresh),
                "expires_at": expires.isoformat() if expires else None,
            }
        )


def make_sync_handler(container: Container) -> Handler:
    return SyncWebhooks(container)


registry.register(SyncDynamicWebhooks, make_sync_handler)
