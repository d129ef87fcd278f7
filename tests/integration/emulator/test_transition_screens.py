"""Transitions with a screen, as Jira Cloud has them: the fields each one shows (`expand=transitions.fields`),
a required one missing answers 400 naming it, the values given land on the issue. HELP in the default
seed: Done requires a resolution (a comment may be added), Won't do a resolution and a comment, Review
the Environment custom field."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

RESOLUTIONS = ["Done", "Won't Do", "Duplicate", "Cannot Reproduce"]


def adf(text: str) -> dict[str, Any]:
    return {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}],
    }


async def _help_issue(jira: httpx.AsyncClient, *, started: bool = True) -> str:
    fields = {"project": {"key": "HELP"}, "issuetype": {"name": "Task"}, "summary": "Printer on fire"}
    created = await jira.post("/rest/api/3/issue", json={"fields": fields})
    assert created.status_code == 201, created.text
    key: str = created.json()["key"]
    if started:
        moved = await _transition(jira, key, "In Progress")
        assert moved.status_code == 204, moved.text
    return key


async def _listed(jira: httpx.AsyncClient, key: str) -> dict[str, dict[str, Any]]:
    answer = await jira.get(f"/rest/api/3/issue/{key}/transitions", params={"expand": "transitions.fields"})
    assert answer.status_code == 200, answer.text
    return {t["to"]["name"]: t for t in answer.json()["transitions"]}


async def _transition(jira: httpx.AsyncClient, key: str, to: str, **body: Any) -> httpx.Response:
    listed = (await jira.get(f"/rest/api/3/issue/{key}/transitions")).json()["transitions"]
    chosen = next(t for t in listed if t["to"]["name"] == to)
    return await jira.post(
        f"/rest/api/3/issue/{key}/transitions", json={"transition": {"id": chosen["id"]}, **body}
    )


async def _issue(jira: httpx.AsyncClient, key: str) -> dict[str, Any]:
    fields: dict[str, Any] = (await jira.get(f"/rest/api/3/issue/{key}")).json()["fields"]
    return fields


async def test_transition_fields_describe_each_screen(jira: httpx.AsyncClient) -> None:
    listed = await _listed(jira, await _help_issue(jira))

    done = listed["Done"]
    assert done["hasScreen"] is True
    assert set(done["fields"]) == {"resolution", "comment"}
    resolution = done["fields"]["resolution"]
    assert resolution["required"] is True
    assert resolution["schema"] == {"type": "resolution", "system": "resolution"}
    assert (resolution["name"], resolution["key"], resolution["operations"]) == (
        "Resolution",
        "resolution",
        ["set"],
    )
    assert [v["name"] for v in resolution["allowedValues"]] == RESOLUTIONS
    comment = done["fields"]["comment"]
    assert comment["required"] is False and "add" in comment["operations"]
    review = listed["In Review"]["fields"]["customfield_10050"]
    assert review["required"] is True and review["name"] == "Environment"
    assert review["schema"]["custom"].endswith(":textfield")
    assert listed["Won't Do"]["fields"]["comment"]["required"] is True
    assert listed["To Do"]["hasScreen"] is False and listed["To Do"]["fields"] == {}


async def test_without_the_expand_no_fields_are_listed(jira: httpx.AsyncClient) -> None:
    key = await _help_issue(jira)
    listed = (await jira.get(f"/rest/api/3/issue/{key}/transitions")).json()["transitions"]
    assert all("fields" not in t for t in listed)
    done = next(t for t in listed if t["to"]["name"] == "Done")
    assert done["hasScreen"] is True


async def test_a_missing_required_field_answers_400_naming_it_and_changes_nothing(
    jira: httpx.AsyncClient,
) -> None:
    key = await _help_issue(jira)

    refused = await _transition(jira, key, "Done")

    assert refused.status_code == 400
    assert refused.json() == {"errorMessages": [], "errors": {"resolution": "Resolution is required."}}
    issue = await _issue(jira, key)
    assert issue["status"]["name"] == "In Progress" and issue["resolution"] is None

    both = await _transition(jira, key, "Won't Do")
    assert both.json()["errors"] == {
        "resolution": "Resolution is required.",
        "comment": "Comment is required.",
    }
    review = await _transition(jira, key, "In Review")
    assert review.json()["errors"] == {"customfield_10050": "Environment is required."}


async def test_the_fields_given_are_applied_and_the_comment_added(jira: httpx.AsyncClient) -> None:
    key = await _help_issue(jira)

    moved = await _transition(
        jira,
        key,
        "Won't Do",
        fields={"resolution": {"name": "Duplicate"}},
        update={"comment": [{"add": {"body": adf("Same as HELP-0")}}]},
    )

    assert moved.status_code == 204, moved.text
    issue = await _issue(jira, key)
    assert issue["status"]["name"] == "Won't Do"
    assert issue["resolution"]["name"] == "Duplicate" and issue["resolutiondate"] is not None
    comments = (await jira.get(f"/rest/api/3/issue/{key}/comment")).json()["comments"]
    assert [c["body"] for c in comments] == [adf("Same as HELP-0")]
    assert comments[0]["author"]["emailAddress"] == "admin@acme.test"


async def test_a_resolution_by_id_and_a_custom_field(jira: httpx.AsyncClient) -> None:
    key = await _help_issue(jira)
    both = await _transition(
        jira,
        key,
        "In Review",
        fields={"customfield_10050": "production"},
        update={"customfield_10050": [{"set": "staging"}]},
    )
    assert both.status_code == 400 and "both" in both.json()["errors"]["customfield_10050"]
    by_update = await _transition(
        jira, key, "In Review", update={"customfield_10050": [{"set": "production"}]}
    )
    assert by_update.status_code == 204, by_update.text
    assert (await _issue(jira, key))["customfield_10050"] == "production"

    cannot = "10003"  # Cannot Reproduce, as listed in the transition's allowedValues
    assert (await _transition(jira, key, "Done", fields={"resolution": {"id": cannot}})).status_code == 204
    assert (await _issue(jira, key))["resolution"]["name"] == "Cannot Reproduce"


async def test_bad_values_and_fields_off_the_screen_are_refused(jira: httpx.AsyncClient) -> None:
    key = await _help_issue(jira)

    unknown = await _transition(jira, key, "Done", fields={"resolution": {"name": "Fixed"}})
    assert unknown.status_code == 400
    assert "Fixed" in unknown.json()["errors"]["resolution"]
    off_screen = await _transition(
        jira, key, "Done", fields={"resolution": {"name": "Done"}, "labels": ["x"]}
    )
    assert off_screen.json()["errors"] == {
        "labels": "Field 'labels' cannot be set. It is not on the appropriate screen, or unknown."
    }
    no_screen = await _transition(jira, key, "To Do", update={"comment": [{"add": {"body": adf("stop")}}]})
    assert no_screen.status_code == 400 and "comment" in no_screen.json()["errors"]
    assert (await _issue(jira, key))["status"]["name"] == "In Progress"


async def test_a_transition_without_a_screen_still_resolves_a_done_status(jira: httpx.AsyncClient) -> None:
    created = await jira.post(
        "/rest/api/3/issue",
        json={"fields": {"project": {"key": "WEB"}, "issuetype": {"name": "Task"}, "summary": "No screen"}},
    )
    key = created.json()["key"]
    refused = await _transition(jira, key, "Won't Do", fields={"resolution": {"name": "Duplicate"}})
    assert refused.status_code == 400 and "resolution" in refused.json()["errors"]
    assert (await _transition(jira, key, "Won't Do")).status_code == 204
    assert (await _issue(jira, key))["resolution"]["name"] == "Won't Do"


async def test_a_seed_gives_screens_and_resolutions(jira: httpx.AsyncClient, emulator: FastAPI) -> None:
    seed = {
        "users": [
            {"email": "eve@example.test", "display_name": "Eve", "api_tokens": [{"token": "eve-token"}]}
        ],
        "sites": [
            {
                "name": "initech",
                "resolutions": ["Fixed", "Rejected"],
                "custom_fields": [{"id": "customfield_10070", "name": "Root cause", "type": "string"}],
                "projects": [
                    {
                        "key": "TPS",
                        "name": "TPS",
                        "workflow": {
                            "statuses": [
                                {"name": "Open", "category": "new"},
                                {"name": "Closed", "category": "done"},
                            ],
                            "initial": "Open",
                            "transitions": [
                                {
                                    "name": "Close",
                                    "to": "Closed",
                                    "from": ["Open"],
                                    "required_fields": ["resolution"],
                                    "optional_fields": ["customfield_10070", "comment"],
                                }
                            ],
                        },
                    }
                ],
                "issues": [{"project": "TPS", "summary": "Cover sheet"}],
            }
        ],
    }
    assert (await jira.post("/_emulator/reset", json=seed)).status_code == 200
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=emulator),
        base_url="https://initech.atlassian.net",
        auth=("eve@example.test", "eve-token"),
    ) as eve:
        close = (await _listed(eve, "TPS-1"))["Closed"]
        assert {k: v["required"] for k, v in close["fields"].items()} == {
            "resolution": True,
            "customfield_10070": False,
            "comment": False,
        }
        assert [v["name"] for v in close["fields"]["resolution"]["allowedValues"]] == ["Fixed", "Rejected"]
        assert (await eve.get("/rest/api/3/resolution")).json()[1]["name"] == "Rejected"
        closed = await _transition(eve, "TPS-1", "Closed", fields={"resolution": {"name": "Rejected"}})
        assert closed.status_code == 204, closed.text
        assert (await _issue(eve, "TPS-1"))["resolution"]["name"] == "Rejected"


async def test_a_seed_naming_an_unknown_screen_field_is_400(jira: httpx.AsyncClient) -> None:
    workflow = {
        "statuses": [{"name": "Open", "category": "new"}],
        "initial": "Open",
        "transitions": [{"name": "Again", "to": "Open", "required_fields": ["customfield_99999"]}],
    }
    seed = {"sites": [{"name": "s", "projects": [{"key": "A", "name": "A", "workflow": workflow}]}]}
    answer = await jira.post("/_emulator/reset", json=seed)
    assert answer.status_code == 400
    assert "customfield_99999" in answer.json()["errorMessages"][0]
