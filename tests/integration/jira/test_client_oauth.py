"""OAuth 2.0 (3LO) against the emulator: the flow, rotation of refresh tokens, and dynamic webhooks
(only OAuth apps may register them)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from integration.jira.jira_client_support import OAUTH_APP, OAuthSession, consent, post_control, task
from jirabridge.jira import Forbidden, JiraClient, OAuthError, TokenExpired, WebhookSpec


async def test_the_flow_reaches_the_site_through_the_gateway(oauth: OAuthSession) -> None:
    jira, _ = await oauth.connect("admin@acme.test")
    async with jira:
        me = await jira.myself()
        assert me.email_address == "admin@acme.test"
        created = await jira.issues.create(task(summary="via OAuth"))
        assert (await jira.issues.get(created.key)).fields.summary == "via OAuth"
    assert "/ex/jira/" in jira.base_url


async def test_an_expired_access_token_is_refreshed_and_the_rotated_token_stored(
    oauth: OAuthSession, control: httpx.AsyncClient
) -> None:
    jira, auth = await oauth.connect()
    first = oauth.stored[-1]
    async with jira:
        await jira.myself()
        await post_control(control, "/_emulator/oauth/expire-access-tokens", {})
        await jira.myself()  # 401 → refresh → retried
    newest = oauth.stored[-1]
    assert len(oauth.stored) == 2
    assert newest.refresh_token and newest.refresh_token != first.refresh_token
    assert auth.tokens == newest
    # Rotation: the refresh token that was used never works again.
    assert first.refresh_token is not None
    stale = await oauth.http.send(OAUTH_APP.refresh_request(first.refresh_token))
    assert stale.status_code == 403


async def test_a_token_about_to_expire_is_refreshed_before_the_call(
    oauth: OAuthSession, control: httpx.AsyncClient
) -> None:
    jira, auth = await oauth.connect()
    auth.tokens = auth.tokens.model_copy(update={"expires_at": datetime.now(UTC) + timedelta(seconds=5)})
    async with jira:
        await jira.myself()
    assert len(oauth.stored) == 2


async def test_a_revoked_consent_is_token_expired(oauth: OAuthSession, control: httpx.AsyncClient) -> None:
    jira, _ = await oauth.connect()
    await post_control(
        control, "/_emulator/oauth/revoke", {"client_id": "jirabridge-dev", "account": "admin@acme.test"}
    )
    async with jira:
        with pytest.raises(TokenExpired):
            await jira.myself()


async def test_dynamic_webhooks_register_list_refresh_and_delete(oauth: OAuthSession) -> None:
    jira, _ = await oauth.connect()
    async with jira:
        results = await jira.webhooks.register(
            "https://bridge.example/webhooks/jira/site-token",
            [
                WebhookSpec(events=["jira:issue_updated", "comment_created"], jql_filter="project = WEB"),
                WebhookSpec(events=["jira:issue_created"], jql_filter="project = DQ"),
            ],
        )
        ids = [r.created_webhook_id for r in results]
        assert all(ids) and all(r.errors == [] for r in results)
        listed = await jira.webhooks.list()
        assert {w.id for w in listed} == set(ids)
        assert {w.jql_filter for w in listed} == {"project = WEB", "project = DQ"}
        expires = await jira.webhooks.refresh([i for i in ids if i is not None])
        assert expires > datetime.now(UTC) + timedelta(days=29)
        await jira.webhooks.delete([i for i in ids if i is not None])
        assert await jira.webhooks.list() == []


async def test_api_token_callers_cannot_register_dynamic_webhooks(client: JiraClient) -> None:
    with pytest.raises(Forbidden):
        await client.webhooks.register(
            "https://bridge.example/h", [WebhookSpec(["jira:issue_created"], "project = WEB")]
        )


async def test_a_bad_code_is_an_oauth_error_not_an_expiry(oauth: OAuthSession) -> None:
    code = await consent(oauth.http, "admin@acme.test")
    await OAUTH_APP.exchange_code(oauth.http, code)
    with pytest.raises(OAuthError) as caught:
        await OAUTH_APP.exchange_code(oauth.http, code)  # a code works once
    assert caught.value.error == "invalid_grant"
