"""`issue.assign`: assign a Jira issue to its item's host assignee (SPEC section 3, "Assignee and
comments"; queued by service/assignees.py).

Decided when it runs: the item's assignee then, the project's `assignee_sync` then (no longer
`outbound`/`two_way`: nothing is sent). The host user becomes a Jira `accountId`:

1. through their user connection on the site (its account id), else
2. by email: the host user's email, searched on the site (`/user/search`); exactly one user whose
   visible email is that address, else
3. not at all: no assignment is sent, the operation fails `user_not_mapped` and a `sync.failed`
   event names the host user. Jira hides many users' emails; a guess would assign the wrong person.

No assignee unassigns. An issue already assigned to that account gets no call. After the call (or the
skip) every link of the issue records the account as `jira_assignee` before Done, so the webhook or
poll reporting this change is recognised as jirabridge's own and changes nothing; and when it happened
(`jira_assignee_at`, `domain.inbound.own_write_at`: the clock before the call, and just after the
`updated` of the read that precedes it), so a report of the issue as an earlier write left it — queued
behind the assignment — does not undo it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from jirabridge import jira
from jirabridge.domain.inbound import newest, own_write_at
from jirabridge.domain.items import LinkState
from jirabridge.domain.operations import AssignIssue as AssignIssueOp
from jirabridge.domain.outcomes import Done, Fail, Handler, Job, Outcome
from jirabridge.service.assignees import pushes_assignee
from jirabridge.service.db import run_db
from jirabridge.service.unit_of_work import UnitOfWork
from jirabridge.workers import jira_common as common

if TYPE_CHECKING:
    from jirabridge.bootstrap import Container

log = logging.getLogger("jirabridge.worker.jira")


@dataclass(frozen=True)
class _Plan:
    links: list[common.LinkRef]
    pushes: bool
    item_exists: bool
    assignee: str | None  # the host user
    account_id: str | None  # from their user connection on the site
    email: str | None  # the host user's email, for the search


def _plan(uow: UnitOfWork, job: Job, site_id: str, key: str) -> _Plan:
    op = job.operation_as(AssignIssueOp)
    item = uow.items.get(job.workspace_id, *op.item) if op.item else None
    assignee = item.assignee if item is not None else None
    account_id = email = None
    if assignee is not None:
        account_id = uow.user_connections.account_on_site(job.workspace_id, site_id, assignee)
        user = uow.host_users.get(job.workspace_id, assignee)
        email = user.email if user is not None else None
    return _Plan(
        links=common.refs(common.issue_links(uow, job.workspace_id, site_id, key)),
        pushes=pushes_assignee(uow, job.workspace_id, site_id, key),
        item_exists=item is not None,
        assignee=assignee,
        account_id=account_id,
        email=email,
    )


async def account_by_email(client: jira.JiraClient, email: str) -> str | None:
    """The one Jira user whose visible email is `email`, else None (hidden, unknown or ambiguous)."""
    wanted = email.strip().lower()
    found = {
        user.account_id
        for user in await client.users.search(wanted)
        if (user.email_address or "").strip().lower() == wanted
    }
    return found.pop() if len(found) == 1 else None


class AssignIssue:
    def __init__(self, container: Container) -> None:
        self.container = container
        self.pool = common.pool_for(container)

    async def __call__(self, job: Job) -> Outcome:
        op = job.operation_as(AssignIssueOp)
        site_id, key = op.site_id, op.issue_key
        plan = await run_db(self.container, lambda uow: _plan(uow, job, site_id, key))
        if not plan.links:
            return Done({"skipped": "not_linked"})
        if common.all_broken(plan.links):
            return common.LINK_BROKEN
        if not plan.pushes:
            return Done({"skipped": "assignee_sync_off"})
        if not plan.item_exists:
            return Done({"skipped": "no_item"})
        if plan.assignee is not None and plan.account_id is None and not plan.email:
            return await self._unmapped(job, site_id, key, plan.assignee)  # nothing to search: no call
        try:
            async with self.pool.client(site_id, workspace_id=job.workspace_id) as client:
                account = plan.account_id
                if plan.assignee is not None and account is None:
                    assert plan.email
                    account = await account_by_email(client, plan.email)
                    if account is None:
                        return await self._unmapped(job, site_id, key, plan.assignee)
                issue = await client.issues.get(key, fields=["assignee", "updated"])
                current = issue.fields.assignee.account_id if issue.fields.assignee else None
                known_at = issue.fields.updated  # the assignee is known from then on
                if current == account:
                    log.info("jira.assign.skipped issue=%s reason=already_assigned", key)
                else:
                    before = self.container.clock.now()
                    await client.issues.assign(key, account)
                    known_at = own_write_at(before, known_at)
        except jira.NotFound:
            return await common.issue_not_found(self.container, job.workspace_id, site_id, key)
        except common.CALL_ERRORS as error:
            outcome = common.classify(error)
            if isinstance(outcome, Fail):
                await self._failed(job, site_id, key, outcome.reason, outcome.detail, plan.assignee)
                return Fail(outcome.reason, outcome.detail, announced=True)
            return outcome
        await run_db(self.container, lambda uow: self._assigned(uow, job, site_id, key, account, known_at))
        if current == account:
            return Done({"skipped": "already_assigned", "account_id": account})
        log.info("jira.assign.done issue=%s account=%s", key, account)
        return Done({"from": current, "to": account, "user": plan.assignee})

    def _assigned(
        self, uow: UnitOfWork, job: Job, site_id: str, key: str, account: str | None, at: datetime | None
    ) -> None:
        for link in common.issue_links(uow, job.workspace_id, site_id, key):
            if link.sync_state != LinkState.BROKEN:
                link.jira_assignee = account
                link.jira_assignee_at = newest((link.jira_assignee_at, at))
        uow.commit()

    async def _unmapped(self, job: Job, site_id: str, key: str, user: str) -> Fail:
        detail = (
            f"host user {user!r} has no Jira account on this site: no user connection, and no Jira "
            "user shows their email"
        )
        await self._failed(job, site_id, key, "user_not_mapped", detail, user)
        log.info("jira.assign.failed issue=%s reason=user_not_mapped", key)
        return Fail("user_not_mapped", detail, announced=True)

    async def _failed(
        self, job: Job, site_id: str, key: str, reason: str, detail: str, user: str | None
    ) -> None:
        """A `sync.failed` event on the item whose change queued the assignment."""
        now = self.container.clock.now()
        item = job.item
        assert item is not None  # service/assignees.py queues every assignment with its item

        def save(uow: UnitOfWork) -> None:
            common.record_sync_failed(uow, job, now, item, key, reason, detail, user=user, site=site_id)
            uow.commit()

        await run_db(self.container, save)


def make_assign_handler(container: Container) -> Handler:
    return AssignIssue(container)
