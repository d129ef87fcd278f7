"""What the client sends: the documented paths, only the fields given, strict bodies, the key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from jirabridge import client as jb
from support.client_script import ITEM, Script, ok

ENTRY = {
    "id": "t-1",
    "user": "u-alice",
    "started_at": "2024-01-15T09:00:00Z",
    "worklog": {"state": "pending"},
}


def test_the_key_is_sent_as_a_bearer_token(client: jb.Client, script: Script) -> None:
    script.then(ok(ITEM))
    client.get_item("error", "e-1")
    request = script.requests[0]
    assert request.headers["Authorization"] == "Bearer jb_key"
    assert request.headers["User-Agent"].startswith("jirabridge-client/")


def test_an_id_is_one_path_segment_whatever_it_holds(client: jb.Client, script: Script) -> None:
    script.then(ok(ITEM))
    client.get_item("error", "a/b?c")
    assert script.requests[0].url.raw_path == b"/api/v1/items/error/a%2Fb%3Fc"


def test_only_the_fields_given_are_sent(client: jb.Client, script: Script) -> None:
    script.then(ok(ITEM))
    client.put_item("error", "e-1", title="Boom", attributes={"service": "web", "n": None})
    client.preview_rules("error", "e-1")  # type and id alone: the stored item
    client.preview_rules("error", title="Inline", severity="high")
    assert script.bodies() == [
        {"title": "Boom", "attributes": {"service": "web", "n": None}},
        {"item": {"type": "error", "id": "e-1"}},
        {"item": {"type": "error", "title": "Inline", "severity": "high"}},
    ]


def test_auth_and_scope_are_sent_in_the_services_shape(client: jb.Client, script: Script) -> None:
    site = {
        "id": "st_1",
        "url": "https://acme.atlassian.net",
        "auth_type": "api_token",
        "status": "connected",
    }
    session = {"url": "https://j/ui/x", "expires_at": "2026-01-01T00:00:00Z"}
    script.then(ok(site, 201), ok(session, 201))
    client.connect_site("https://acme.atlassian.net", jb.ApiTokenAuth(email="bot@acme.test", api_token="t"))
    client.create_ui_session("u-1", "member", jb.ItemScope(item_type="error", item_id="e-1"))
    client.create_ui_session("u-1", "admin", "settings")
    assert script.bodies() == [
        {
            "url": "https://acme.atlassian.net",
            "auth": {"type": "api_token", "email": "bot@acme.test", "api_token": "t"},
        },
        {"user_id": "u-1", "role": "member", "scope": {"item_type": "error", "item_id": "e-1"}},
        {"user_id": "u-1", "role": "admin", "scope": "settings"},
    ]


def test_times_are_sent_as_rfc_3339_with_their_offset(client: jb.Client, script: Script) -> None:
    script.then(ok(ENTRY, 201))
    paris = timezone(timedelta(hours=1))
    entry = client.put_time_entry(
        "t-1", user="u-alice", started_at=datetime(2024, 1, 15, 10, tzinfo=paris), duration_s=60
    )
    assert script.bodies()[0]["started_at"] == "2024-01-15T10:00:00+01:00"
    assert entry.started_at == datetime(2024, 1, 15, 9, tzinfo=UTC)
    assert entry.worklog.state == "pending"


def test_a_bad_body_fails_in_the_host_before_any_request(client: jb.Client, script: Script) -> None:
    with pytest.raises(ValidationError):
        client.put_time_entry("t-1", user="u", started_at=datetime(2024, 1, 15, 10))  # no time zone
    with pytest.raises(ValidationError):
        jb.Rule(name="r", query="x", destinaton=jb.Destination(project="WEB"))  # type: ignore[call-arg]
    assert script.requests == []


def test_rules_are_sent_as_the_ordered_list(client: jb.Client, script: Script) -> None:
    script.then(ok({"rules": []}))
    client.put_rules([jb.Rule(name="Web", query="service:web", destination=jb.Destination(project="WEB"))])
    assert script.bodies() == [
        {"rules": [{"name": "Web", "query": "service:web", "destination": {"project": "WEB"}}]}
    ]
    assert script.requests[0].method == "PUT"


def test_query_parameters_are_sent_only_when_given(client: jb.Client, script: Script) -> None:
    script.then(ok(status=204))
    client.disconnect_user("u-1")
    client.disconnect_user("u-1", site="st_1")
    assert [str(r.url.query, "ascii") for r in script.requests] == ["", "site=st_1"]
