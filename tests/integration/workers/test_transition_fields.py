"""Transitions whose screen needs fields, through the HTTP API with a running worker against the
emulator's HELP project (default seed: Done requires a resolution, Won't do a resolution and a
comment), on SQLite and PostgreSQL. The project settings' `transition_fields` fill them; a required one
nothing fills fails visibly and Jira is left alone."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from jirabridge.bootstrap import Container
from jirabridge.workers.runner import Worker
from support.host import ACME, Host, connect_host

STATUS_MAP = {"Open": "To Do", "Acknowledged": "In Progress", "Fixed": "Done", "Ignored": "Won't Do"}


class Desk(Host):
    async def ok(self, method: str, path: str, body: Any = None) -> httpx.Response:
        answer = await self.call(method, path, body)
        assert answer.status_code < 300, answer.text
        return answer

    async def configure(self, transition_fields: dict[str, Any]) -> None:
        document = {
            "default_issue_type": "Task",
            "status_map": STATUS_MAP,
            "transition_fields": transition_fields,
        }
        await self.ok("PUT", f"/api/v1/sites/{self.site_id}/projects/HELP", document)

    async def ticket(self, item_id: str, **attributes: Any) -> str:
        item = {"title": f"printer {item_id}", "status": "Open", "attributes": attributes}
        await self.ok("PUT", f"/api/v1/items/finding/{item_id}", item)
        answer = await self.ok("POST", f"/api/v1/items/finding/{item_id}/tickets", {"project": "HELP"})
        await self.settle()
        key: str = answer.json()["issue_key"]
        return key

    async def set_status(self, item_id: str, status: str, **attributes: Any) -> None:
        item = {"title": f"printer {item_id}", "status": status, "attributes": attributes}
        await self.ok("PUT", f"/api/v1/items/finding/{item_id}", item)
        await self.settle()

    async def link(self, item_id: str) -> dict[str, Any]:
        link: dict[str, Any] = (await self.ok("GET", f"/api/v1/items/finding/{item_id}")).json()["links"][0]
        return link

    def issue(self, key: str) -> Any:
        issue = self.jira.issue_by_ref(key)
        assert issue is not None
        return issue

    async def count_calls(self) -> None:
        await self.control("DELETE", "/faults")
        await self.control("POST", "/faults", {"rules": [{"kind": "latency", "path": "^/rest/"}]})

    async def calls(self) -> list[tuple[str, str]]:
        return [(h["method"], h["path"]) for h in (await self.control("GET", "/faults"))["hits"]]


@pytest.fixture
async def desk(api: httpx.AsyncClient, worker: Worker, emulator: FastAPI, container: Container) -> Desk:
    return await connect_host(api, emulator, container, Desk, project="HELP")


async def test_a_move_to_done_carries_the_resolution_of_the_settings(desk: Desk) -> None:
    await desk.configure({"Done": {"resolution": {"name": "Done"}}})
    key = await desk.ticket("f-1")
    await desk.set_status("f-1", "Acknowledged")

    await desk.set_status("f-1", "Fixed")

    assert desk.issue(key).status == "Done"
    assert desk.issue(key).resolution == "Done"
    link = await desk.link("f-1")
    assert link["jira_status"] == "Done" and link["sync_state"] == "synced"


async def test_with_the_screen_known_a_move_that_needs_fields_is_still_one_call(desk: Desk) -> None:
    await desk.configure({"Done": {"resolution": {"name": "Done"}}})
    await desk.ticket("f-1")
    await desk.set_status("f-1", "Acknowledged")
    await desk.set_status(
        "f-1", "Fixed"
    )  # reads the issue once: learns In Progress's transitions and screens
    key = await desk.ticket("f-2")
    await desk.set_status("f-2", "Acknowledged")
    await desk.count_calls()

    await desk.set_status("f-2", "Fixed")

    assert await desk.calls() == [("POST", f"/rest/api/3/issue/{key}/transitions")]
    assert (desk.issue(key).status, desk.issue(key).resolution) == ("Done", "Done")


async def test_values_are_templates_over_the_item_and_the_comment_is_added(desk: Desk) -> None:
    await desk.configure(
        {
            "won't do": {  # matched case-insensitively, stored with Jira's spelling
                "resolution": "{attributes.resolution}",
                "comment": "Closed from {type} {id}: {title}",
            }
        }
    )
    stored = (await desk.ok("GET", f"/api/v1/sites/{desk.site_id}/projects/HELP")).json()
    assert list(stored["transition_fields"]) == ["Won't Do"]
    key = await desk.ticket("f-1", resolution="Duplicate")

    await desk.set_status("f-1", "Ignored", resolution="Duplicate")

    issue = desk.issue(key)
    assert (issue.status, issue.resolution) == ("Won't Do", "Duplicate")
    [comment] = (
        desk.jira_state_comments(key) if hasattr(desk, "jira_state_comments") else _comments(desk, key)
    )
    assert comment == "Closed from finding f-1: printer f-1"


def _comments(desk: Desk, key: str) -> list[str]:
    texts = []
    for comment in desk.issue(key).comments:
        paragraphs = comment.body["content"]
        texts.append("".join(part["text"] for p in paragraphs for part in p.get("content", [])))
    return texts


async def test_a_required_field_nothing_fills_fails_visibly_and_nothing_is_sent(desk: Desk) -> None:
    await desk.configure({"Won't Do": {"resolution": "{attributes.resolution}"}})
    key = await desk.ticket("f-1")
    await desk.set_status("f-1", "Acknowledged")
    await desk.count_calls()

    await desk.set_status("f-1", "Fixed")

    assert ("POST", f"/rest/api/3/issue/{key}/transitions") not in await desk.calls()
    assert desk.issue(key).status == "In Progress"
    [failure] = (await desk.ok("GET", "/api/v1/sync/failures")).json()["failures"]
    assert failure["reason"] == "transition_field_required"
    assert "Resolution (resolution)" in failure["detail"]
    assert 'transition_fields["Done"].resolution' in failure["detail"]
    [event] = await desk.events("sync.failed")
    assert event["issue_key"] == key and event["data"]["reason"] == "transition_field_required"
    assert event["data"]["fields"] == [
        {"field": "resolution", "name": "Resolution", "setting": 'transition_fields["Done"].resolution'}
    ]
    link = await desk.link("f-1")
    assert link["sync_state"] == "failed" and "transition_field_required" in link["last_error"]

    # Someone closes it in Jira, giving the resolution: the link follows and shows no failure.
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=desk.emulator),
        base_url=ACME,
        auth=("alice@acme.test", "alice-token"),
    ) as alice:
        done = next(
            t
            for t in (await alice.get(f"/rest/api/3/issue/{key}/transitions")).json()["transitions"]
            if t["to"]["name"] == "Done"
        )
        closed = await alice.post(
            f"/rest/api/3/issue/{key}/transitions",
            json={"transition": {"id": done["id"]}, "fields": {"resolution": {"name": "Done"}}},
        )
        assert closed.status_code == 204, closed.text
    await desk.ok("POST", "/api/v1/sync/reconcile", {})
    await desk.settle()
    link = await desk.link("f-1")
    assert (link["jira_status"], link["sync_state"], link["last_error"]) == ("Done", "synced", None)


async def test_a_template_naming_what_the_item_lacks_leaves_the_field_missing(desk: Desk) -> None:
    await desk.configure({"Won't Do": {"resolution": "{attributes.resolution}", "comment": "Dropped"}})
    key = await desk.ticket("f-1")  # no attribute `resolution`

    await desk.set_status("f-1", "Ignored")

    assert desk.issue(key).status == "To Do"
    [failure] = (await desk.ok("GET", "/api/v1/sync/failures")).json()["failures"]
    assert failure["reason"] == "transition_field_required"
    assert 'transition_fields["Won\'t Do"].resolution' in failure["detail"]
    assert "comment" not in failure["detail"]
