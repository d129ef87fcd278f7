"""Syncing spends as few Jira calls as it can (each counts against the site's rate limit): a new issue's
status is read once per workflow, and a status change uses the transition already known for the
issue's workflow and status. Through the HTTP API with a running worker, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from jirabridge.bootstrap import Container
from jirabridge.workers.runner import Worker
from support.host import ACME, Host, connect_host

STATUS_MAP = {"Open": "To Do", "Acknowledged": "In Progress", "Fixed": "Done"}


@pytest.fixture
async def host(api: httpx.AsyncClient, worker: Worker, emulator: FastAPI, container: Container) -> Calls:
    host = await connect_host(api, emulator, container, Calls)
    await host.call(
        "PUT",
        f"/api/v1/sites/{host.site_id}/projects/WEB",
        {"default_issue_type": "Task", "status_map": STATUS_MAP},
    )
    return host


class Calls(Host):
    async def call(
        self, method: str, path: str, body: Any = None, role: str = "admin", key: str | None = None
    ) -> httpx.Response:
        answer = await super().call(method, path, body, role, key)
        assert answer.status_code < 300, answer.text
        return answer

    async def count_calls(self) -> None:
        """From now on the emulator logs every REST call (a latency rule of 0 ms records its hits)."""
        await self.control("DELETE", "/faults")
        await self.control("POST", "/faults", {"rules": [{"kind": "latency", "path": "^/rest/"}]})

    async def calls(self) -> list[tuple[str, str]]:
        hits = (await self.control("GET", "/faults"))["hits"]
        return [(h["method"], h["path"]) for h in hits]

    async def ticket(self, item_id: str, status: str = "Open") -> str:
        item = {"title": f"finding {item_id}", "status": status, "url": f"https://host.example/{item_id}"}
        await self.call("PUT", f"/api/v1/items/finding/{item_id}", item)
        answer = await self.call("POST", f"/api/v1/items/finding/{item_id}/tickets", {})
        await self.settle()
        key: str = answer.json()["issue_key"]
        return key

    async def set_status(self, item_id: str, status: str) -> None:
        await self.call(
            "PUT", f"/api/v1/items/finding/{item_id}", {"title": f"finding {item_id}", "status": status}
        )
        await self.settle()

    async def link(self, item_id: str) -> dict[str, Any]:
        links: list[dict[str, Any]] = (await self.call("GET", f"/api/v1/items/finding/{item_id}")).json()[
            "links"
        ]
        return links[0]


async def test_a_new_ticket_in_the_status_the_item_maps_to_costs_a_create_and_a_remote_link(
    host: Calls,
) -> None:
    await host.ticket("f-1")  # the first create of the workflow reads the new issue's status
    await host.count_calls()

    key = await host.ticket("f-2")

    assert await host.calls() == [
        ("POST", "/rest/api/3/issue"),
        ("POST", f"/rest/api/3/issue/{key}/remotelink"),
    ]
    link = await host.link("f-2")
    assert link["jira_status"] == "To Do" and link["sync_state"] == "synced"
    assert host.jira.issue_by_ref(key).status == "To Do"  # type: ignore[union-attr]


async def test_a_status_change_in_a_workflow_seen_before_is_one_call(host: Calls) -> None:
    await host.ticket("f-1")
    await host.set_status("f-1", "Acknowledged")  # reads the issue: learns what To Do allows
    key = await host.ticket("f-2")
    await host.count_calls()

    await host.set_status("f-2", "Acknowledged")

    assert await host.calls() == [("POST", f"/rest/api/3/issue/{key}/transitions")]
    assert host.jira.issue_by_ref(key).status == "In Progress"  # type: ignore[union-attr]
    assert (await host.link("f-2"))["jira_status"] == "In Progress"


async def test_an_issue_moved_in_jira_meanwhile_still_ends_where_the_items_status_maps(host: Calls) -> None:
    await host.ticket("f-1")
    await host.set_status("f-1", "Acknowledged")
    await host.set_status("f-1", "Open")  # learns what In Progress allows
    key = await host.ticket("f-2")
    await host.set_status("f-2", "Acknowledged")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=host.emulator),
        base_url=ACME,
        auth=("admin@acme.test", "admin-token"),
    ) as jira:
        transitions = (await jira.get(f"/rest/api/3/issue/{key}/transitions")).json()["transitions"]
        done = next(t["id"] for t in transitions if t["to"]["name"] == "Done")
        moved = await jira.post(f"/rest/api/3/issue/{key}/transitions", json={"transition": {"id": done}})
        assert moved.status_code == 204  # someone closed it in Jira; the link still says In Progress
    await host.count_calls()

    await host.set_status("f-2", "Open")

    transitions_path = f"/rest/api/3/issue/{key}/transitions"
    # The known transition is refused (400), the issue is read, and the one Done allows is sent.
    assert await host.calls() == [
        ("POST", transitions_path),
        ("GET", f"/rest/api/3/issue/{key}"),
        ("POST", transitions_path),
    ]

    assert host.jira.issue_by_ref(key).status == "To Do"  # type: ignore[union-attr]
    link = await host.link("f-2")
    assert link["jira_status"] == "To Do" and link["sync_state"] == "synced"
