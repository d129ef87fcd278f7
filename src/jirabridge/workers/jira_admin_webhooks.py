"""`webhooks.admin_sync` and `webhooks.admin_remove`: an API-token site's admin webhook.

One sync run (scheduled per site, see service/dynamic_webhooks.py) lists the site's admin webhooks
(`GET /rest/webhooks/1.0/webhook`), keeps the one at this site's URL and rewrites it with the current
filter, events and secret, registers it when missing, and deletes duplicates (or it, when no project
takes Jira's changes any more). Every run starts from what Jira lists, so a webhook deleted by hand in
Jira comes back on the next run. When Jira answers 403 (the account is not a Jira administrator) the
site's webhook is `not_registered`, with the step a person must take; that is a state the site shows,
the connection test checks and `/readyz` and `/metrics` report, not a failed operation.

The removal runs after a disconnect, with the credentials the disconnect kept for it, and deletes them
whatever happens: Jira unreachable after a few attempts leaves a failure naming the webhook to delete.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING

from jirabridge import jira
from jirabridge.domain import dynamic_webhooks as dynamic
from jirabridge.domain import site_webhooks as domain
from jirabridge.domain.operations import RemoveAdminWebhooks, SyncAdminWebhooks
from jirabridge.domain.outcomes import Done, Fail, Handler, Job, Outcome, Retry
from jirabridge.domain.site_webhooks import WebhookStatus
from jirabridge.service import dynamic_webhooks
from jirabridge.service.db import run_db
from jirabridge.service.unit_of_work import UnitOfWork
from jirabridge.service.webhooks import SECRET_KEY, webhook_url
from jirabridge.storage.tables import Site
from jirabridge.workers import jira_common as common
from jirabridge.workers import registry

if TYPE_CHECKING:
    from jirabridge.bootstrap import Container

log = logging.getLogger("jirabridge.worker.webhooks")

REMOVE_ATTEMPTS = 3


class SyncAdminWebhook:
    def __init__(self, container: Container) -> None:
        self.container = container
        self.pool = common.pool_for(container)

    async def __call__(self, job: Job) -> Outcome:
        site_id = job.operation_as(SyncAdminWebhooks).site_id

        def read(uow: UnitOfWork) -> tuple[str, str | None, str, bool] | None:
            site = uow.session.get(Site, site_id)
            if site is None or site.workspace_id != job.workspace_id:
                return None
            if site.auth_type != "api_token" or site.status != "connected" or site.credentials is None:
                return None
            url = webhook_url(self.container.settings.public_url, site.webhook_token)
            secret = str(self.container.secrets.open(site.credentials)[SECRET_KEY])
            jql = dynamic.jql_for(dynamic_webhooks.inbound_projects(uow, job.workspace_id, site_id))
            return url, jql, secret, bool(site.webhook_ids)

        found = await run_db(self.container, read)
        if found is None:
            return Done({"skipped": "not_a_connected_api_token_site"})
        url, jql, secret, registered = found
        if jql is None and not registered:
            # Nothing to keep and nothing of ours to delete: no call (an account that is not a Jira
            # administrator would only be refused).
            await self._save(site_id, WebhookStatus.NOT_NEEDED, None, None)
            return Done({"status": WebhookStatus.NOT_NEEDED.value})
        spec = jira.AdminWebhookSpec(
            name=f"jirabridge {site_id}", url=url, events=dynamic.EVENTS, jql_filter=jql or "", secret=secret
        )
        ids: list[int] = []
        try:
            async with self.pool.client(site_id, workspace_id=job.workspace_id) as client:
                ours = [w.id for w in await client.admin_webhooks.list() if w.url == url]
                plan = domain.admin_plan(ours, jql)
                if plan.create:
                    ids = [(await client.admin_webhooks.create(spec)).id]
                elif plan.update is not None:
                    ids = [(await client.admin_webhooks.update(plan.update, spec)).id]
                for stale in plan.delete:
                    await _delete(client, stale)
        except jira.Forbidden as error:
            problem = {
                "reason": domain.not_registered_reason(common.describe(error)),
                "action": domain.admin_action(site_id, url, jql),
            }
            await self._save(site_id, WebhookStatus.NOT_REGISTERED, problem, None)
            log.warning("webhooks.admin.not_registered site=%s reason=forbidden", site_id)
            return Done({"status": WebhookStatus.NOT_REGISTERED.value, "reason": "forbidden"})
        except common.CALL_ERRORS as error:
            return common.classify(error)
        status = WebhookStatus.REGISTERED if ids else WebhookStatus.NOT_NEEDED
        await self._save(site_id, status, None, ids or None)
        log.info("webhooks.admin.synced site=%s status=%s webhook_ids=%s", site_id, status.value, ids)
        return Done({"status": status.value, "webhook_ids": ids, "jql": jql})

    async def _save(
        self, site_id: str, status: WebhookStatus, problem: dict[str, str] | None, ids: list[int] | None
    ) -> None:
        def save(uow: UnitOfWork) -> None:
            site = uow.session.get(Site, site_id)
            if site is None or site.status != "connected":
                return  # disconnected meanwhile
            by_hand = site.webhook_status == WebhookStatus.REGISTERED and not site.webhook_ids
            if status is WebhookStatus.NOT_REGISTERED and by_hand:
                return  # set up by hand in Jira (its deliveries verify): this account cannot see it
            site.webhook_status, site.webhook_problem = status.value, problem
            if status is not WebhookStatus.NOT_REGISTERED:
                site.webhook_ids = ids
            uow.commit()

        await run_db(self.container, save)


async def _delete(client: jira.JiraClient, webhook_id: int) -> None:
    with contextlib.suppress(jira.NotFound):  # deleted by hand meanwhile: what we wanted
        await client.admin_webhooks.delete(webhook_id)


class RemoveAdminWebhook:
    def __init__(self, container: Container) -> None:
        self.container = container
        self.pool = common.pool_for(container)

    async def __call__(self, job: Job) -> Outcome:
        op = job.operation_as(RemoveAdminWebhooks)
        site_id, ids = op.site_id, list(op.webhook_ids)
        url = await run_db(self.container, lambda uow: self._url(uow, site_id))
        if url is None:
            return Done({"skipped": "nothing_to_remove"})
        try:
            async with self.pool.client(site_id, workspace_id=job.workspace_id, disconnected=True) as client:
                for webhook_id in ids:
                    await _delete(client, webhook_id)
        except common.CALL_ERRORS as error:
            outcome = common.classify(error)
            if isinstance(outcome, Retry) and job.attempts < REMOVE_ATTEMPTS:
                return outcome
            if not isinstance(outcome, Done):
                await run_db(self.container, lambda uow: self._forget(uow, site_id))
                return Fail(
                    "webhook_not_removed",
                    f"{outcome.detail}; the site's credentials are deleted: delete the webhook at {url} "
                    "in Jira (Settings → System → WebHooks) by hand",
                )
        await run_db(self.container, lambda uow: self._forget(uow, site_id))
        log.info("webhooks.admin.removed site=%s webhook_ids=%s", site_id, ids)
        return Done({"deleted": ids})

    def _url(self, uow: UnitOfWork, site_id: str) -> str | None:
        site = uow.session.get(Site, site_id)
        if site is None or site.status != "disconnected" or site.credentials is None:
            return None
        return webhook_url(self.container.settings.public_url, site.webhook_token)

    @staticmethod
    def _forget(uow: UnitOfWork, site_id: str) -> None:
        """The disconnect kept the site's credentials for this removal only."""
        site = uow.session.get(Site, site_id)
        if site is not None and site.status == "disconnected":
            site.credentials = None
            site.webhook_ids = None
            uow.commit()


def make_sync_handler(container: Container) -> Handler:
    return SyncAdminWebhook(container)


def make_remove_handler(container: Container) -> Handler:
    return RemoveAdminWebhook(container)


registry.register(SyncAdminWebhooks, make_sync_handler)
registry.register(RemoveAdminWebhooks, make_remove_handler)
