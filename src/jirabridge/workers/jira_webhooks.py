"""`webhooks.sync`: an OAuth site's dynamic webhooks follow its projects with inbound sync.

One run (scheduled per site, see service/sites/dynamic_webhooks.py) lists the app's webhooks on the site,
keeps the one at this site's URL whose filter and events are right, registers it when missing
(`project in (…)` over the projects with inbound sync), deletes stale ones (another project set, or
none left), and refreshes the kept one when it would expire within 10 days. The ids and expiry are
stored on the site (its JSON shows `webhook.expires_at`). Every run starts from what Jira lists, so a
run repeated after a crash, or a webhook deleted by hand in Jira, converges to the same state.

A new webhook is registered before the stale ones are deleted: Jira sends one delivery per URL for all
of an app's matching webhooks, so the overlap duplicates nothing and leaves no gap. When the app's
per-user limit refuses the registration, the stale ones go first and it is tried again.

A step (`workers/steps.py`): `service/webhook_sync.dynamic_loader` reads the site's URL and filter in
the claim's transaction (`DynamicWebhookPlan`), this handler brings Jira in line and touches no
storage, and `service/webhook_sync.apply_dynamic` stores what it left (`DynamicWebhooksSynced`) on
the site with the operation.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from jirabridge import jira
from jirabridge.domain import dynamic_webhooks as domain
from jirabridge.domain.outcomes import Done, DynamicWebhooksSynced, Fail, Job, Outcome
from jirabridge.service.sites import webhook_sync
from jirabridge.service.sites.webhook_sync import DynamicWebhookPlan
from jirabridge.workers import jira_common as common
from jirabridge.workers.steps import Step

if TYPE_CHECKING:
    from jirabridge.adapters.jira_pool import JiraPool
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
    def __init__(self, container: Container, pool: JiraPool) -> None:
        self.container = container
        self.pool = pool

    async def __call__(self, job: Job, plan: DynamicWebhookPlan | None) -> Outcome:
        if plan is None:
            return Done({"skipped": "not_a_connected_oauth_site"})
        site_id, url, jql = plan.site_id, plan.url, plan.jql
        now = self.container.clock.now()
        try:
            async with self.pool.client(site_id, workspace_id=job.workspace_id) as client:
                mine = _registered(await client.webhooks.list(), url)
                sync = domain.plan(mine, jql, now)
                deleted: list[int] = []
                if sync.register_jql is not None:
                    spec = jira.WebhookSpec(events=domain.EVENTS, jql_filter=sync.register_jql)
                    [result] = await client.webhooks.register(url, [spec])
                    if result.created_webhook_id is None and sync.delete:
                        await client.webhooks.delete(sync.delete)  # make room under the app's limit
                        deleted = list(sync.delete)
                        [result] = await client.webhooks.register(url, [spec])
                    if result.created_webhook_id is None:
                        return Fail(
                            "webhook_rejected", "Jira refused the webhook: " + "; ".join(result.errors)
                        )
                stale = [i for i in sync.delete if i not in deleted]
                if stale:
                    await client.webhooks.delete(stale)
                    deleted += stale
                if sync.refresh:
                    await client.webhooks.refresh(sync.refresh)
                kept = _registered(await client.webhooks.list(), url) if jql is not None else []
        except common.CALL_ERRORS as error:
            return common.classify(error)
        ids = [w.id for w in kept if w.jql == jql]
        expires = min((w.expires_at for w in kept if w.jql == jql and w.expires_at), default=None)
        log.info(
            "webhooks.sync.done site=%s registered=%s deleted=%s refreshed=%s",
            site_id,
            sync.register_jql is not None,
            len(deleted),
            bool(sync.refresh),
        )
        return Done(
            {
                "jql": jql,
                "webhook_ids": ids,
                "deleted": deleted,
                "refreshed": list(sync.refresh),
                "expires_at": expires.isoformat() if expires else None,
            },
            value=DynamicWebhooksSynced(tuple(ids), expires),
        )


def make_sync_handler(container: Container, pool: JiraPool) -> Step[DynamicWebhookPlan | None]:
    return Step(
        load=webhook_sync.dynamic_loader(container.settings.public_url),
        run=SyncWebhooks(container, pool),
        apply=webhook_sync.apply_dynamic,
    )
