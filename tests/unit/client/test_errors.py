"""An error answer of the service becomes the exception of its status, carrying the problem's fields."""

from __future__ import annotations

import httpx
import pytest

from jirabridge import client as jb
from support.client_script import ITEM, Script, ok, problem


def test_a_422_is_a_validation_error_naming_each_field(client: jb.Client, script: Script) -> None:
    errors = [{"field": "title", "message": "String should have at least 1 character"}]
    script.then(
        problem(422, type="https://jirabridge.dev/problems/validation", errors=errors, request_id="r-1")
    )
    with pytest.raises(jb.ValidationError) as raised:
        client.put_item("error", "e-1", title="x")
    error = raised.value
    assert (error.status, error.type, error.title, error.detail) == (
        422,
        "https://jirabridge.dev/problems/validation",
        "T",
        "D",
    )
    assert error.errors == errors
    assert error.request_id == "r-1"
    assert isinstance(error, jb.APIError) and isinstance(error, jb.JirabridgeError)


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, jb.BadRequest),
        (401, jb.Unauthorized),
        (403, jb.Forbidden),
        (404, jb.NotFound),
        (409, jb.Conflict),
        (413, jb.BadRequest),
        (429, jb.RateLimited),
        (500, jb.ServerError),
        (503, jb.ServerError),
    ],
)
def test_each_status_has_its_class(client: jb.Client, script: Script, status: int, kind: type) -> None:
    # A POST without Idempotency-Key: sent once, so even a 429 or 503 comes straight back.
    script.then(problem(status))
    with pytest.raises(kind) as raised:
        client.connect_site("https://acme.atlassian.net", jb.OAuthAuth())
    assert raised.value.status == status
    assert len(script.requests) == 1


def test_an_error_without_a_problem_body_still_says_what_happened(client: jb.Client, script: Script) -> None:
    script.then(httpx.Response(502, text="<html>Bad gateway</html>", headers={"X-Request-ID": "r-9"}))
    with pytest.raises(jb.ServerError) as raised:
        client.revoke_api_key("ws_1", "k_1")  # a DELETE: retried, then the last answer raised
    assert raised.value.title == "Bad Gateway"
    assert raised.value.request_id == "r-9"
    assert raised.value.errors == []


def test_no_answer_is_a_transport_error(client: jb.Client, script: Script) -> None:
    script.then(httpx.ConnectError("refused"))
    with pytest.raises(jb.TransportError) as raised:
        client.connect_site("https://acme.atlassian.net", jb.OAuthAuth())
    assert isinstance(raised.value.__cause__, httpx.ConnectError)
    assert raised.value.retryable


def test_a_success_is_parsed_into_its_model(client: jb.Client, script: Script) -> None:
    script.then(ok(ITEM | {"links": [{"issue_key": "WEB-1", "site": "st_1", "sync_state": "synced"}]}))
    item = client.get_item("error", "e-1")
    assert item.title == "Boom" and item.links[0].issue_key == "WEB-1"


def test_a_field_the_client_does_not_know_yet_is_kept(client: jb.Client, script: Script) -> None:
    script.then(ok(ITEM | {"priority_hint": "p1"}))
    assert client.get_item("error", "e-1").model_extra == {"priority_hint": "p1"}


async def test_the_async_client_raises_the_same(async_client: jb.AsyncClient, script: Script) -> None:
    script.then(problem(403, detail="a member key may not"))
    async with async_client:
        with pytest.raises(jb.Forbidden) as raised:
            await async_client.put_rules([])
    assert raised.value.detail == "a member key may not"


def test_a_success_that_is_not_the_documented_body_is_an_invalid_response(
    client: jb.Client, script: Script
) -> None:
    script.then(httpx.Response(200, text="<html>login</html>"), ok({"unexpected": True}))
    for _ in range(2):
        with pytest.raises(jb.InvalidResponse) as raised:
            client.get_item("error", "e-1")
        assert raised.value.response.status_code == 200
