"""`webhooks.admin_sync` and `webhooks.admin_remove`: an API-token site's admin webhook.

One sync run (scheduled per site, see service/sites/dynamic_webhooks.py) lists the site's admin webhooks
(`GET /rest/webhooks/1.0/webhook`), keeps the one at this site's URL and rewrites it with the current
filter, events and secret, registers it when missing, and deletes duplicates (or it, when no project
takes Jira's changes any more). Every run starts from what Jira lists, so a webhook deleted by hand in
Jira comes back on the next run. When Jira answers 403 (the account is not a Jira administrator) the
site's webhook is `not_registered`, with the step a person must take; that is a state the site shows,
the connection test checks and `/readyz` and `/metrics` report, not a failed operation.

The removal runs after a disconnect, with the credentials the disconnect kept for it, and deletes them
whatever happens: Jira unreachable after a few attempts leaves a failure naming the webhook to delete.

Both are steps (`workers/steps.py`): `service/sites/webhook_sync.py` reads the site's URL, filter and
secret in the claim's transaction (`AdminWebhookPlan`; for the removal, the URL), these handlers talk
to Jira and touch no storage, and its `apply_admin` records where the webhook stands
(`AdminWebhookSeen`) — or `apply_removal` deletes the kept credentials — with the operation.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING

from jirabridge import jira
from jirabridge.domain import dynamic_webhooks as dynamic
from jirabridge.domain import site_webhooks as domain
from jirabridge.domain.operations import RemoveAdminWebhooks
from jirabridge.domain.outcomes import AdminWebhookSeen, AdminWebhooksRemoved, Done, Fail, Job, Outcome, Retry
from jirabridge.domain.site_webhooks import WebhookStatus
from jirabridge.service.core.unit_of_work import UnitOfWork
from jirabridge.service.sites import webhook_sync
from jirabridge.service.sites.webhook_sync import WEBHOOK_NOT_REMOVED, AdminWebhookPlan
from jirabridge.workers import jira_common as common
from jirabridge.workers.steps import Step

if TYPE_CHECKING:
    from jirabridge.adapters.jira_pool import JiraPool
    from jirabridge.bootstrap import Container

log = logging.getLogger("jirabridge.worker.webhooks")

REMOVE_ATTEMPTS = 3


class SyncAdminWebhook:
    def __init__(self, pool: JiraPool) -> None:
        self.pool = pool

    async def __call__(self, job: Job, plan: AdminWebhookPlan | None) -> Outcome:
        if plan is None:
            return Done({"skipped": "not_a_connected_api_token_site"})
        site_id, url, jql = plan.site_id, plan.url, plan.jql
        if jql is None and not plan.registered:
            # Nothing to keep and nothing of ours to delete: no call (an account that is not a Jira
            # administrator would only be refused).
            not_needed = AdminWebhookSeen(WebhookStatus.NOT_NEEDED)
            return Done({"status": WebhookStatus.NOT_NEEDED.value}, value=not_needed)
        spec = jira.AdminWebhookSpec(
            name=f"jirabridge {site_id}",
            url=url,
            events=dynamic.EVENTS,
            jql_filter=jql or "",
            secret=plan.secret,
        )
        ids: list[int] = []
        try:
            async with self.pool.client(site_id, workspace_id=job.workspace_id) as client:
                ours = [w.id for w in await client.admin_webhooks.list() if w.url == url]
                admin = domain.admin_plan(ours, jql)
                if admin.create:
                    ids = [(await client.admin_webhooks.create(spec)).id]
                elif admin.update is not None:
                    ids = [(await client.admin_webhooks.update(admin.update, spec)).id]
                for stale in admin.delete:
                    await _delete(client, stale)
        except jira.Forbidden as error:
            refused = AdminWebhookSeen(
                WebhookStatus.NOT_REGISTERED,
                reason=domain.not_registered_reason(common.describe(error)),
                action=domain.admin_action(site_id, url, jql),
            )
            log.warning("webhooks.admin.not_registered site=%s reason=forbidden", site_id)
            return Done({"status": WebhookStatus.NOT_REGISTERED.value, "reason": "forbidden"}, value=refused)
        except common.CALL_ERRORS as error:
            return common.classify(error)
        status = WebhookStatus.REGISTERED if ids else WebhookStatus.NOT_NEEDED
        log.info("webhooks.admin.synced site=%s status=%s webhook_ids=%s", site_id, status.value, ids)
        return Done(
            {"status": status.value, "webhook_ids": ids, "jql": jql},
            value=AdminWebhookSeen(status, tuple(ids)),
        )


async def _delete(client: jira.JiraClient, webhook_id: int) -> None:
    with contextlib.suppress(jira.NotFound):  # deleted by hand meanwhile: what we wanted
        await client.admin_webhooks.delete(webhook_id)


class RemoveAdminWebhook:
    def __init__(self, pool: JiraPool) -> None:
        self.pool = pool

    async def __call__(self, job: Job, url: str | None) -> Outcome:
        op = job.operation_as(RemoveAdminWebhooks)
        site_id, ids = op.site_id, list(op.webhook_ids)
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
                # Applied, the credentials go too (`service.sites.webhook_sync.apply_removal`).
                return Fail(
                    WEBHOOK_NOT_REMOVED,
                    f"{outcome.detail}; the site's credentials are deleted: delete the webhook at {url} "
                    "in Jira (Settings → System → WebHooks) by hand",
                )
        log.info("webhooks.admin.removed site=%s webhook_ids=%s", site_id, ids)
        return Done({"deleted": ids}, value=AdminWebhooksRemoved(tuple(ids)))


def make_sync_handler(container: Container, pool: JiraPool) -> Step[AdminWebhookPlan | None]:
    public_url = container.settings.public_url

    def load(uow: UnitOfWork, job: Job) -> AdminWebhookPlan | None:
        # The secret box is opened by a job that needs it, not when the worker starts: a worker
        # starts without JIRABRIDGE_SECRET_KEY (and says so) until stored secrets need it.
        return webhook_sync.admin_loader(public_url, container.secrets)(uow, job)

    return Step(
        load=load,
        run=SyncAdminWebhook(pool),
        apply=webhook_sync.apply_admin,
    )


def make_remove_handler(container: Container, pool: JiraPool) -> Step[str | None]:
    return Step(
        load=webhook_sync.removal_loader(container.settings.public_url),
        run=RemoveAdminWebhook(pool),
        apply=webhook_sync.apply_removal,
    )
