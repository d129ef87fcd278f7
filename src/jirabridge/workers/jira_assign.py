"""`issue.assign`: assign a Jira issue to its item's host assignee (SPEC section 3, "Assignee and
comments"; queued by service/tickets/assignees.py).

Decided when it runs: the item's assignee then, the project's `assignee_sync` then (no longer
`outbound`/`two_way`: nothing is sent). The host user becomes a Jira `accountId`:

1. through their user connection on the site (its account id), else
2. by email: the host user's email, searched on the site (`/user/search`); exactly one user whose
   visible email is that address, else
3. not at all: no assignment is sent, the operation fails `user_not_mapped` and a `sync.failed`
   event names the host user. Jira hides many users' emails; a guess would assign the wrong person.

No assignee unassigns. An issue already assigned to that account gets no call.

A step (`workers/steps.py`): `service/tickets/assign_sync.py` loads the links, the item's assignee and how
that user maps (`AssignPlan`) in the claim's transaction, this handler decides with Jira and touches
no storage, and `service/assign_sync.apply` records its outcome. After the call (or the skip) the
handler returns the account (`IssueAssigneeSeen`), and every link of the issue records it as
`jira_assignee` in the transaction that completes the operation, so the webhook or poll reporting
this change is recognised as jirabridge's own and changes nothing; and when it happened
(`jira_assignee_at`, `domain.inbound.own_write_at`: the clock before the call, and just after the
`updated` of the read that precedes it), so a report of the issue as an earlier write left it —
queued behind the assignment — does not undo it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from jirabridge import jira
from jirabridge.domain.inbound import own_write_at
from jirabridge.domain.outcomes import Done, Fail, IssueAssigneeSeen, Job, Outcome
from jirabridge.service.tickets import assign_sync
from jirabridge.service.tickets.assign_sync import AssignPlan
from jirabridge.service.tickets.issue_links import issue_not_found
from jirabridge.workers import jira_common as common
from jirabridge.workers.steps import Step

if TYPE_CHECKING:
    from jirabridge.adapters.jira_pool import JiraPool
    from jirabridge.bootstrap import Container

log = logging.getLogger("jirabridge.worker.jira")


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
    def __init__(self, container: Container, pool: JiraPool) -> None:
        self.container = container
        self.pool = pool

    async def __call__(self, job: Job, plan: AssignPlan) -> Outcome:
        site_id, key = plan.site_id, plan.issue_key
        if (unlinked := common.unless_linked(plan.links)) is not None:
            return unlinked
        if not plan.pushes:
            return Done({"skipped": "assignee_sync_off"})
        if not plan.item_exists:
            return Done({"skipped": "no_item"})
        if plan.assignee is not None and plan.account_id is None and not plan.email:
            return _unmapped(site_id, key, plan.assignee)  # nothing to search: no call
        try:
            async with self.pool.client(site_id, workspace_id=job.workspace_id) as client:
                account = plan.account_id
                if plan.assignee is not None and account is None:
                    assert plan.email
                    account = await account_by_email(client, plan.email)
                    if account is None:
                        return _unmapped(site_id, key, plan.assignee)
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
            return issue_not_found(key)
        except common.CALL_ERRORS as error:
            outcome = common.classify(error)
            if isinstance(outcome, Fail):
                return _failed(site_id, outcome.reason, outcome.detail, plan.assignee)
            return outcome
        seen = IssueAssigneeSeen(account, known_at)
        if current == account:
            return Done({"skipped": "already_assigned", "account_id": account}, value=seen)
        log.info("jira.assign.done issue=%s account=%s", key, account)
        return Done({"from": current, "to": account, "user": plan.assignee}, value=seen)


def _unmapped(site_id: str, key: str, user: str) -> Fail:
    detail = (
        f"host user {user!r} has no Jira account on this site: no user connection, and no Jira "
        "user shows their email"
    )
    log.info("jira.assign.failed issue=%s reason=user_not_mapped", key)
    return _failed(site_id, "user_not_mapped", detail, user)


def _failed(site_id: str, reason: str, detail: str, user: str | None) -> Fail:
    """Applied, a `sync.failed` event on the item whose change queued the assignment, naming the host
    user and the site (`service.tickets.assign_sync.apply`)."""
    return Fail(reason, detail, announced=True, data={"user": user, "site": site_id})


def make_assign_handler(container: Container, pool: JiraPool) -> Step[AssignPlan]:
    return Step(load=assign_sync.load, run=AssignIssue(container, pool), apply=assign_sync.apply)
