"""A status sync whose first attempt may have reached Jira is never sent twice: a worker killed after
posting the transition, before recording it, leaves the operation to the next attempt, which reads
the issue before it moves it — it does not post a transition it remembers for the workflow
(the kill test in bench/scale.py found one issue moved twice that way)."""

from __future__ import annotations

from sqlalchemy import update

from integration.workers.test_no_echo import World, world  # noqa: F401 - the fixture
from jirabridge.storage.tables import Operation


async def test_a_retried_status_sync_reads_the_issue_before_moving_it(world: World) -> None:  # noqa: F811
    # Another ticket of the workflow moved first: the transition from To Do is remembered.
    other = await world.ticket("e-0")
    await world.host_changes("e-0", status="Acknowledged")
    await world.drain()
    assert world.jira_issue(other).status == "In Progress"

    key = await world.ticket("e-1")
    await world.host_changes("e-1", status="Acknowledged")  # queues issue.sync_status
    # Its first attempt posted the transition and the worker died before it recorded anything: Jira
    # has moved, the link still says To Do, and the operation is due again with one attempt spent.
    moves = await world.jira("GET", f"/issue/{key}/transitions")
    [to_progress] = [t for t in moves["transitions"] if t["to"]["name"] == "In Progress"]
    await world.jira("POST", f"/issue/{key}/transitions", {"transition": {"id": to_progress["id"]}})
    with world.container.uow() as uow:
        uow.session.execute(update(Operation).where(Operation.kind == "issue.sync_status").values(attempts=1))
        uow.commit()
    calls = await world.rest_calls()

    await world.drain()

    assert [(method, path) for method, path in await calls() if method == "POST"] == []
    assert world.jira_issue(key).status == "In Progress"
    assert (await world.item("e-1"))["links"][0]["jira_status"] == "In Progress"
