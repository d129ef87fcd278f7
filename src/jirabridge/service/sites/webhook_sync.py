"""Keeping a site's webhook in step, the service's side: what each handler needs, and what its
outcome means (the schedules that run them are service/sites/dynamic_webhooks.py's).

Three steps (workers/steps.py). Each `load` reads in the claim's transaction; its handler talks to
Jira without touching storage; its `apply` writes the outcome on the site in the transaction that
completes the operation, and only while the site is still as the handler found it:

- `webhooks.sync` (workers/jira_webhooks.py): `dynamic_loader` gives an OAuth site's webhook URL
  and the filter its projects call for (`DynamicWebhookPlan`); `apply_dynamic` records the webhooks
  Jira lists afterwards and their soonest expiry (`DynamicWebhooksSynced`).
- `webhooks.admin_sync` (workers/jira_admin_webhooks.py): `admin_loader` gives an API-token site's
  URL, filter and webhook secret (`AdminWebhookPlan`); `apply_admin` records where its admin webhook
  stands (`AdminWebhookSeen`): registered with its id, not needed, or not registered with the step a
  person must take.
- `webhooks.admin_remove`: `removal_loader` gives the disconnected site's webhook URL, to name in a
  failure; `apply_removal` deletes the credentials the disconnect kept for the removal once it ran
  (`AdminWebhooksRemoved`) or was given up (`WEBHOOK_NOT_REMOVED`).

The loaders are made per service (its public URL, its secret box), by the handlers' factories.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from jirabridge.domain import dynamic_webhooks as domain
from jirabridge.domain.operations import RemoveAdminWebhooks, SyncAdminWebhooks, SyncDynamicWebhooks
from jirabridge.domain.outcomes import (
    AdminWebhookSeen,
    AdminWebhooksRemoved,
    Done,
    DynamicWebhooksSynced,
    Fail,
    Job,
    Outcome,
)
from jirabridge.domain.site_webhooks import WebhookStatus
from jirabridge.secrets_box import SecretBox
from jirabridge.service.core.unit_of_work import UnitOfWork
from jirabridge.service.inbound.webhooks import SECRET_KEY, webhook_url
from jirabridge.service.sites.dynamic_webhooks import inbound_projects

WEBHOOK_NOT_REMOVED = "webhook_not_removed"


# -- webhooks.sync: an OAuth site's dynamic webhooks -----------------------------------------------


@dataclass(frozen=True)
class DynamicWebhookPlan:
    site_id: str
    url: str  # where Jira delivers this site's webhooks: only the webhooks at it are ours
    jql: str | None  # the filter the site's projects call for; None: no webhook is needed


def dynamic_loader(public_url: str) -> Callable[[UnitOfWork, Job], DynamicWebhookPlan | None]:
    """The `load` of `webhooks.sync` for the service at `public_url`: None when the site is not a
    connected OAuth site of the job's workspace (nothing to do)."""

    def load(uow: UnitOfWork, job: Job) -> DynamicWebhookPlan | None:
        site_id = job.operation_as(SyncDynamicWebhooks).site_id
        site = uow.sites.get(site_id)
        if site is None or site.workspace_id != job.workspace_id:
            return None
        if site.auth_type != "oauth" or site.status != "connected":
            return None
        jql = domain.jql_for(inbound_projects(uow, job.workspace_id, site_id))
        return DynamicWebhookPlan(site_id, webhook_url(public_url, site.webhook_token), jql)

    return load


def apply_dynamic(uow: UnitOfWork, job: Job, outcome: Outcome, now: datetime) -> None:
    match outcome:
        case Done(value=DynamicWebhooksSynced(webhook_ids=ids, expires_at=expires)):
            site = uow.sites.get(job.operation_as(SyncDynamicWebhooks).site_id)
            if site is None or site.status != "connected":
                return  # disconnected meanwhile
            site.webhook_ids = list(ids) or None
            site.webhook_expires_at = expires
            site.webhook_status = (WebhookStatus.REGISTERED if ids else WebhookStatus.NOT_NEEDED).value
            site.webhook_problem = None
        case _:
            pass


# -- webhooks.admin_sync: an API-token site's admin webhook -----------------------------------------


@dataclass(frozen=True)
class AdminWebhookPlan:
    site_id: str
    url: str
    jql: str | None  # None: no project takes Jira's changes
    secret: str = field(repr=False)  # what Jira signs the deliveries with
    registered: bool  # the site holds the id of an admin webhook jirabridge registered


def admin_loader(public_url: str, box: SecretBox) -> Callable[[UnitOfWork, Job], AdminWebhookPlan | None]:
    """The `load` of `webhooks.admin_sync`: None when the site is not a connected API-token site of
    the job's workspace with credentials (nothing to do)."""

    def load(uow: UnitOfWork, job: Job) -> AdminWebhookPlan | None:
        site_id = job.operation_as(SyncAdminWebhooks).site_id
        site = uow.sites.get(site_id)
        if site is None or site.workspace_id != job.workspace_id:
            return None
        if site.auth_type != "api_token" or site.status != "connected" or site.credentials is None:
            return None
        return AdminWebhookPlan(
            site_id=site_id,
            url=webhook_url(public_url, site.webhook_token),
            jql=domain.jql_for(inbound_projects(uow, job.workspace_id, site_id)),
            secret=str(box.open(site.credentials)[SECRET_KEY]),
            registered=bool(site.webhook_ids),
        )

    return load


def apply_admin(uow: UnitOfWork, job: Job, outcome: Outcome, now: datetime) -> None:
    match outcome:
        case Done(value=AdminWebhookSeen() as seen):
            site = uow.sites.get(job.operation_as(SyncAdminWebhooks).site_id)
            if site is None or site.status != "connected":
                return  # disconnected meanwhile
            by_hand = site.webhook_status == WebhookStatus.REGISTERED and not site.webhook_ids
            if seen.status is WebhookStatus.NOT_REGISTERED:
                if by_hand:
                    return  # set up by hand in Jira (its deliveries verify): this account cannot see it
                site.webhook_status = seen.status.value
                site.webhook_problem = {"reason": seen.reason or "", "action": seen.action or ""}
                return
            site.webhook_status, site.webhook_problem = seen.status.value, None
            site.webhook_ids = list(seen.webhook_ids) or None
        case _:
            pass


# -- webhooks.admin_remove: the admin webhook of a disconnected site ------------------------------


def removal_loader(public_url: str) -> Callable[[UnitOfWork, Job], str | None]:
    """The `load` of `webhooks.admin_remove`: the webhook URL of the disconnected site whose
    credentials the disconnect kept for the removal; None when there is nothing to remove with."""

    def load(uow: UnitOfWork, job: Job) -> str | None:
        site = uow.sites.get(job.operation_as(RemoveAdminWebhooks).site_id)
        if site is None or site.status != "disconnected" or site.credentials is None:
            return None
        return webhook_url(public_url, site.webhook_token)

    return load


def apply_removal(uow: UnitOfWork, job: Job, outcome: Outcome, now: datetime) -> None:
    """The disconnect kept the site's credentials for the removal only: they go once it has run, or
    has been given up (its failure names the webhook to delete by hand)."""
    ran = isinstance(outcome, Done) and isinstance(outcome.value, AdminWebhooksRemoved)
    given_up = isinstance(outcome, Fail) and outcome.reason == WEBHOOK_NOT_REMOVED
    if not (ran or given_up):
        return
    site = uow.sites.get(job.operation_as(RemoveAdminWebhooks).site_id)
    if site is not None and site.status == "disconnected":
        site.credentials = None
        site.webhook_ids = None
