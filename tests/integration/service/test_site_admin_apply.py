"""What the outcomes of a site's own operations mean to the site, applied with no Jira at all: the
handlers' outcomes are made up here, as `service/site_projects.apply` and `service/webhook_sync`'s
applies receive them (SQLite and PostgreSQL); and what `service/webhook_sync`'s loaders hand the
handlers."""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any

import httpx
import pytest

from jirabridge.bootstrap import Container
from jirabridge.domain.operations import (
    ListSiteProjects,
    Operation,
    RemoveAdminWebhooks,
    SyncAdminWebhooks,
    SyncDynamicWebhooks,
)
from jirabridge.domain.outcomes import (
    AdminWebhookSeen,
    AdminWebhooksRemoved,
    Done,
    DynamicWebhooksSynced,
    Fail,
    Job,
    Outcome,
    Retry,
    SiteProjectsListed,
)
from jirabridge.domain.site_webhooks import WebhookStatus
from jirabridge.service.inbound.webhooks import SECRET_KEY
from jirabridge.service.sites import site_projects, webhook_sync
from support.rows import SITE, T0, a_site, store
from support.service import make_tenant

TOKEN = "t" * 40
PUBLIC = "https://bridge.example"
URL = f"{PUBLIC}/webhooks/jira/{TOKEN}"
SECRET = "whsec-0123456789abcdef"


class World:
    def __init__(self, container: Container, workspace_id: str) -> None:
        self.container, self.workspace_id = container, workspace_id

    def job(self, op: Operation, workspace_id: str | None = None) -> Job:
        return Job("op_1", workspace_id or self.workspace_id, SITE, op.kind(), op, 1, None)

    def site(self, **changes: Any) -> None:
        """The site, changed."""
        with self.container.uow() as uow:
            site = uow.sites.get(SITE)
            assert site is not None
            for name, value in changes.items():
                setattr(site, name, value)
            uow.commit()

    def seen(self) -> dict[str, Any]:
        with self.container.uow() as uow:
            site = uow.sites.get(SITE)
            assert site is not None
            expires = site.webhook_expires_at
            listed = site.projects_listed_at
            return {
                "status": site.status,
                "project_keys": site.project_keys,
                "projects_listed_at": listed.replace(tzinfo=UTC) if listed else None,
                "webhook_ids": site.webhook_ids,
                "webhook_expires_at": expires.replace(tzinfo=UTC) if expires else None,
                "webhook_status": site.webhook_status,
                "webhook_problem": site.webhook_problem,
                "has_credentials": site.credentials is not None,
            }

    def apply(self, op: Operation, outcome: Outcome) -> dict[str, Any]:
        """Apply the outcome as the operation's step does, and the site as it is afterwards."""
        applies = {
            ListSiteProjects: site_projects.apply,
            SyncDynamicWebhooks: webhook_sync.apply_dynamic,
            SyncAdminWebhooks: webhook_sync.apply_admin,
            RemoveAdminWebhooks: webhook_sync.apply_removal,
        }
        with self.container.uow() as uow:
            applies[type(op)](uow, self.job(op), outcome, T0)
            uow.commit()
        return self.seen()

    def load(self, op: Operation, workspace_id: str | None = None) -> object:
        loaders = {
            SyncDynamicWebhooks: webhook_sync.dynamic_loader(PUBLIC),
            SyncAdminWebhooks: webhook_sync.admin_loader(PUBLIC, self.container.secrets),
            RemoveAdminWebhooks: webhook_sync.removal_loader(PUBLIC),
        }
        with self.container.uow() as uow:
            return loaders[type(op)](uow, self.job(op, workspace_id))


@pytest.fixture
async def world(api: httpx.AsyncClient, container: Container) -> World:
    """A connected API-token site with its webhook secret, that has not listed its projects yet."""
    tenant = await make_tenant(api)
    sealed = container.secrets.seal({SECRET_KEY: SECRET, "api_token": "tok"})
    site = a_site(
        tenant.workspace_id,
        webhook_token=TOKEN,
        credentials=sealed,
        webhook_status=WebhookStatus.PENDING.value,
    )
    store(container, site)
    return World(container, tenant.workspace_id)


def test_a_listing_is_recorded_on_the_site_with_when(world: World) -> None:
    seen = world.apply(
        ListSiteProjects(SITE), Done({"projects": 2}, value=SiteProjectsListed(("OPS", "WEB")))
    )

    assert (seen["project_keys"], seen["projects_listed_at"]) == (["OPS", "WEB"], T0)


@pytest.mark.parametrize("outcome", [Retry("jira_unavailable"), Fail("jira_forbidden"), Done({"x": 1})])
def test_an_attempt_that_listed_nothing_leaves_the_site_alone(world: World, outcome: Outcome) -> None:
    seen = world.apply(ListSiteProjects(SITE), outcome)

    assert (seen["project_keys"], seen["projects_listed_at"]) == (None, None)


def test_a_listing_of_a_site_disconnected_meanwhile_is_not_recorded(world: World) -> None:
    world.site(status="disconnected")

    seen = world.apply(ListSiteProjects(SITE), Done({"projects": 1}, value=SiteProjectsListed(("OPS",))))

    assert seen["project_keys"] is None


# -- webhooks.sync (OAuth sites) -------------------------------------------------------------------


def test_the_dynamic_webhooks_left_are_recorded_with_their_expiry(world: World) -> None:
    world.site(auth_type="oauth", webhook_problem={"reason": "old", "action": "old"})
    expires = T0 + timedelta(days=30)

    seen = world.apply(SyncDynamicWebhooks(SITE), Done({}, value=DynamicWebhooksSynced((7, 9), expires)))

    assert (seen["webhook_ids"], seen["webhook_expires_at"]) == ([7, 9], expires)
    assert (seen["webhook_status"], seen["webhook_problem"]) == ("registered", None)


def test_no_dynamic_webhook_left_is_not_needed(world: World) -> None:
    world.site(auth_type="oauth", webhook_ids=[7], webhook_expires_at=T0)

    seen = world.apply(SyncDynamicWebhooks(SITE), Done({}, value=DynamicWebhooksSynced((), None)))

    assert (seen["webhook_ids"], seen["webhook_expires_at"], seen["webhook_status"]) == (
        None,
        None,
        "not_needed",
    )


def test_a_refused_or_retried_dynamic_sync_keeps_what_the_site_knew(world: World) -> None:
    world.site(auth_type="oauth", webhook_ids=[7], webhook_status="registered")

    for outcome in (Fail("webhook_rejected", "no"), Retry("jira_unavailable")):
        seen = world.apply(SyncDynamicWebhooks(SITE), outcome)
        assert (seen["webhook_ids"], seen["webhook_status"]) == ([7], "registered")


def test_a_dynamic_sync_of_a_site_disconnected_meanwhile_is_not_recorded(world: World) -> None:
    world.site(auth_type="oauth", status="disconnected")

    seen = world.apply(SyncDynamicWebhooks(SITE), Done({}, value=DynamicWebhooksSynced((7,), None)))

    assert (seen["webhook_ids"], seen["webhook_status"]) == (None, "pending")


def test_the_dynamic_load_gives_the_sites_url_and_filter_and_nothing_for_other_sites(world: World) -> None:
    world.site(auth_type="oauth")

    plan = world.load(SyncDynamicWebhooks(SITE))

    # No project takes Jira's changes: no filter, so no webhook is needed.
    assert plan == webhook_sync.DynamicWebhookPlan(SITE, URL, None)
    assert world.load(SyncDynamicWebhooks(SITE), workspace_id="ws_other") is None
    world.site(auth_type="api_token")
    assert world.load(SyncDynamicWebhooks(SITE)) is None


# -- webhooks.admin_sync (API-token sites) ---------------------------------------------------------


def test_a_registered_admin_webhook_is_recorded_and_the_problem_goes(world: World) -> None:
    world.site(webhook_status="not_registered", webhook_problem={"reason": "r", "action": "a"})

    seen = world.apply(
        SyncAdminWebhooks(SITE), Done({}, value=AdminWebhookSeen(WebhookStatus.REGISTERED, (41,)))
    )

    assert (seen["webhook_status"], seen["webhook_ids"], seen["webhook_problem"]) == (
        "registered",
        [41],
        None,
    )


def test_an_admin_webhook_jira_refuses_says_why_and_what_to_do_and_keeps_the_ids(world: World) -> None:
    world.site(webhook_status="registered", webhook_ids=[41])
    refused = AdminWebhookSeen(WebhookStatus.NOT_REGISTERED, reason="forbidden", action="ask an admin")

    seen = world.apply(SyncAdminWebhooks(SITE), Done({}, value=refused))

    assert seen["webhook_status"] == "not_registered"
    assert seen["webhook_problem"] == {"reason": "forbidden", "action": "ask an admin"}
    assert seen["webhook_ids"] == [41]


def test_a_webhook_set_up_by_hand_is_not_turned_into_not_registered(world: World) -> None:
    world.site(webhook_status="registered", webhook_ids=None)  # its deliveries verified
    refused = AdminWebhookSeen(WebhookStatus.NOT_REGISTERED, reason="forbidden", action="ask an admin")

    seen = world.apply(SyncAdminWebhooks(SITE), Done({}, value=refused))

    assert (seen["webhook_status"], seen["webhook_problem"]) == ("registered", None)


def test_an_admin_webhook_no_longer_needed_forgets_its_ids(world: World) -> None:
    world.site(webhook_status="registered", webhook_ids=[41])

    seen = world.apply(SyncAdminWebhooks(SITE), Done({}, value=AdminWebhookSeen(WebhookStatus.NOT_NEEDED)))

    assert (seen["webhook_status"], seen["webhook_ids"]) == ("not_needed", None)


def test_an_admin_sync_of_a_site_disconnected_meanwhile_or_retried_changes_nothing(world: World) -> None:
    assert world.apply(SyncAdminWebhooks(SITE), Retry("jira_unavailable"))["webhook_status"] == "pending"
    world.site(status="disconnected")

    seen = world.apply(
        SyncAdminWebhooks(SITE), Done({}, value=AdminWebhookSeen(WebhookStatus.REGISTERED, (41,)))
    )

    assert (seen["webhook_status"], seen["webhook_ids"]) == ("pending", None)


def test_the_admin_load_gives_the_url_filter_secret_and_whether_one_is_registered(world: World) -> None:
    world.site(webhook_ids=[41])

    plan = world.load(SyncAdminWebhooks(SITE))

    assert plan == webhook_sync.AdminWebhookPlan(SITE, URL, None, SECRET, registered=True)
    assert SECRET not in repr(plan)  # a context may be logged; the secret never is
    assert world.load(SyncAdminWebhooks(SITE), workspace_id="ws_other") is None
    world.site(auth_type="oauth")
    assert world.load(SyncAdminWebhooks(SITE)) is None


# -- webhooks.admin_remove (after a disconnect) ----------------------------------------------------


@pytest.mark.parametrize(
    "outcome",
    [
        Done({"deleted": [41]}, value=AdminWebhooksRemoved((41,))),
        Fail(webhook_sync.WEBHOOK_NOT_REMOVED, "delete it by hand"),
    ],
)
def test_a_removal_that_ran_or_was_given_up_deletes_the_kept_credentials(
    world: World, outcome: Outcome
) -> None:
    world.site(status="disconnected", webhook_ids=[41])

    seen = world.apply(RemoveAdminWebhooks(SITE, (41,)), outcome)

    assert (seen["has_credentials"], seen["webhook_ids"]) == (False, None)


@pytest.mark.parametrize("outcome", [Retry("jira_unavailable"), Done({"skipped": "nothing_to_remove"})])
def test_a_removal_to_be_retried_keeps_the_credentials(world: World, outcome: Outcome) -> None:
    world.site(status="disconnected", webhook_ids=[41])

    seen = world.apply(RemoveAdminWebhooks(SITE, (41,)), outcome)

    assert (seen["has_credentials"], seen["webhook_ids"]) == (True, [41])


def test_the_removal_load_names_the_url_only_for_a_disconnected_site_with_credentials(world: World) -> None:
    assert world.load(RemoveAdminWebhooks(SITE, (41,))) is None  # still connected
    world.site(status="disconnected")
    assert world.load(RemoveAdminWebhooks(SITE, (41,))) == URL
    world.site(credentials=None)
    assert world.load(RemoveAdminWebhooks(SITE, (41,))) is None
