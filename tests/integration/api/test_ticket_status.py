"""An error tracker's state table, end to end through the HTTP API with a running worker and the
emulator: what an issue's status becomes when a ticket is created for it or an existing ticket is
linked to it (`on_create_status`, `on_link_status` and their `…_from` conditions).

    host issue state         linked ticket                     result
    For Review               open (To Do / In Progress)        Reviewed
    For Review / Reviewed    Done                              Resolved
    Reviewed                 open                              stays Reviewed
    Resolved                 open / Done                       stays Resolved
    For Review               a ticket created for it           Reviewed
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from jirabridge.bootstrap import Container
from jirabridge.workers.runner import Worker
from support.host import ACME, Host, connect_host

ERROR_TRACKER = {
    "default_issue_type": "Bug",
    "status_map": {"Resolved": "Done", "Ignored": "Won't Do"},
    "on_link_status": "Reviewed",
    "on_link_status_from": ["For Review"],
    "on_create_status": "Reviewed",
    "on_create_status_from": ["For Review"],
}


class Tracker(Host):
    async def issue(self, item_id: str, status: str) -> None:
        answer = await self.call(
            "PUT", f"/api/v1/items/error/{item_id}", {"title": item_id, "status": status}
        )
        assert answer.status_code in (200, 201), answer.text

    async def status(self, item_id: str) -> str:
        return str((await self.call("GET", f"/api/v1/items/error/{item_id}")).json()["status"])

    async def ticket(self, item_id: str) -> str:
        answer = await self.call("POST", f"/api/v1/items/error/{item_id}/tickets", {})
        assert answer.status_code in (201, 202), answer.text
        await self.settle()
        link = (await self.call("GET", f"/api/v1/items/error/{item_id}")).json()["links"][0]
        return str(link["issue_key"])

    async def ticket_in(self, jira_status: str) -> str:
        """A ticket in `jira_status`, created for another item and moved by a Jira user."""
        seed = f"seed-{len(self.jira.issues)}"
        await self.issue(seed, "Open")
        key = await self.ticket(seed)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.emulator),
            base_url=ACME,
            auth=("admin@acme.test", "admin-token"),
        ) as jira:
            for step in {"To Do": [], "In Progress": ["In Progress"]}.get(
                jira_status, ["In Progress", "Done"]
            ):
                moves = (await jira.get(f"/rest/api/3/issue/{key}/transitions")).json()["transitions"]
                chosen = next(t for t in moves if t["to"]["name"] == step)
                answer = await jira.post(
                    f"/rest/api/3/issue/{key}/transitions", json={"transition": {"id": chosen["id"]}}
                )
                assert answer.status_code == 204, answer.text
        assert self.jira.issue_by_ref(key).status == jira_status  # type: ignore[union-attr]
        return key

    async def link(self, item_id: str, key: str) -> None:
        answer = await self.call("POST", f"/api/v1/items/error/{item_id}/links", {"issue": key})
        assert answer.status_code == 201, answer.text
        await self.settle()

    async def moves(self, item_id: str) -> list[tuple[str, str, str]]:
        return [
            (e["data"]["from"], e["data"]["to"], e["data"]["reason"])
            for e in await self.events("item.status_changed")
            if e["item"]["id"] == item_id
        ]


@pytest.fixture
async def host(api: httpx.AsyncClient, worker: Worker, emulator: FastAPI, container: Container) -> Tracker:
    made = await connect_host(api, emulator, container, Tracker)
    await made.project(**ERROR_TRACKER)
    return made


@pytest.mark.parametrize("jira_status", ["To Do", "In Progress"])
async def test_a_for_review_issue_linked_to_an_open_ticket_becomes_reviewed(
    host: Tracker, jira_status: str
) -> None:
    key = await host.ticket_in(jira_status)
    await host.issue("e-1", "For Review")
    await host.link("e-1", key)
    assert await host.status("e-1") == "Reviewed"
    assert await host.moves("e-1") == [("For Review", "Reviewed", "linked")]
    assert host.jira.issue_by_ref(key).status == jira_status  # type: ignore[union-attr]  # never moved


@pytest.mark.parametrize("before", ["For Review", "Reviewed"])
async def test_an_issue_linked_to_a_done_ticket_becomes_resolved(host: Tracker, before: str) -> None:
    key = await host.ticket_in("Done")
    await host.issue("e-1", before)
    await host.link("e-1", key)
    assert await host.status("e-1") == "Resolved"
    assert await host.moves("e-1") == [(before, "Resolved", "linked")]


async def test_a_reviewed_issue_linked_to_an_open_ticket_stays_reviewed(host: Tracker) -> None:
    key = await host.ticket_in("To Do")
    await host.issue("e-1", "Reviewed")
    await host.link("e-1", key)
    assert await host.status("e-1") == "Reviewed"
    assert await host.moves("e-1") == []


@pytest.mark.parametrize("jira_status", ["To Do", "Done"])
async def test_a_resolved_issue_stays_resolved_whatever_the_ticket(host: Tracker, jira_status: str) -> None:
    key = await host.ticket_in(jira_status)
    await host.issue("e-1", "Resolved")
    await host.link("e-1", key)
    assert await host.status("e-1") == "Resolved"
    assert await host.moves("e-1") == []
    assert host.jira.issue_by_ref(key).status == jira_status  # type: ignore[union-attr]


async def test_creating_a_ticket_for_a_for_review_issue_makes_it_reviewed(host: Tracker) -> None:
    await host.issue("e-1", "For Review")
    key = await host.ticket("e-1")
    assert await host.status("e-1") == "Reviewed"
    [move] = [e for e in await host.events("item.status_changed") if e["item"]["id"] == "e-1"]
    assert (move["data"]["to"], move["data"]["reason"], move["issue_key"]) == ("Reviewed", "created", key)
    assert host.jira.issue_by_ref(key).status == "To Do"  # type: ignore[union-attr]
    # From a status the setting does not apply from, creating changes nothing.
    await host.issue("e-2", "Resolved")
    await host.ticket("e-2")
    assert await host.status("e-2") == "Resolved"
    assert await host.moves("e-2") == []


async def test_without_conditions_the_settings_apply_from_any_status(host: Tracker) -> None:
    # Settings saved before the conditions existed keep working: on_link_status from any status.
    await host.project(default_issue_type="Bug", on_link_status="Reviewed", on_create_status="Triaged")
    key = await host.ticket_in("To Do")
    await host.issue("e-1", "Resolved")
    await host.link("e-1", key)
    assert await host.status("e-1") == "Reviewed"
    await host.issue("e-2", "Anything")
    await host.ticket("e-2")
    assert await host.status("e-2") == "Triaged"


async def test_the_created_ticket_follows_the_status_the_item_took(host: Tracker) -> None:
    await host.project(**ERROR_TRACKER | {"status_map": {"Reviewed": "In Progress", "Resolved": "Done"}})
    await host.issue("e-1", "for review")  # any capitals
    key = await host.ticket("e-1")
    assert await host.status("e-1") == "Reviewed"
    assert host.jira.issue_by_ref(key).status == "In Progress"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"on_link_status": None}, "on_link_status_from", "needs on_link_status"),
        ({"on_create_status": None}, "on_create_status_from", "needs on_create_status"),
        ({"on_link_status_from": []}, "on_link_status_from", "at least one host status"),
        ({"on_create_status_from": ["For Review", "for review"]}, "on_create_status_from", "twice"),
        ({"on_link_status_from": "For Review"}, "on_link_status_from", ""),
        ({"on_create_status_from": [""]}, "on_create_status_from.0", ""),
    ],
)
async def test_conditions_that_cannot_work_are_refused_and_nothing_is_written(
    host: Tracker, change: dict[str, Any], field: str, message: str
) -> None:
    url = f"/api/v1/sites/{host.site_id}/projects/WEB"
    before = (await host.call("GET", url)).json()
    answer = await host.call("PUT", url, ERROR_TRACKER | change)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    [error] = answer.json()["errors"]
    assert error["field"] == field and message in error["message"]
    assert (await host.call("GET", url)).json() == before
