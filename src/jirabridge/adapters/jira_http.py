"""What every jirabridge HTTP client to Jira shares: the OAuth app from configuration and the host
guard that refuses any request to a host that is neither an allowed Jira site nor Atlassian's OAuth
endpoints — even when a stored URL or a redirect says otherwise."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import httpx

from jirabridge import jira
from jirabridge.config import Settings
from jirabridge.domain.outbound import OutboundRefused
from jirabridge.domain.site_urls import host_allowed


class HostNotAllowed(OutboundRefused):
    """A request to a host that is not a Jira site allowed here (checked before the outbound guard)."""


def oauth_app(settings: Settings) -> jira.OAuthApp:
    secret = settings.oauth_client_secret.get_secret_value() if settings.oauth_client_secret else ""
    auth_url = settings.atlassian_auth_url.rstrip("/")
    return jira.OAuthApp(
        client_id=settings.oauth_client_id or "",
        client_secret=secret,
        redirect_uri=settings.public_url.rstrip("/") + "/oauth/callback",
        authorize_url=auth_url + "/authorize",
        token_url=auth_url + "/oauth/token",
        api_url=settings.atlassian_api_url,
    )


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def host_guard(settings: Settings) -> Callable[[httpx.Request], Awaitable[None]]:
    """An httpx request hook raising HostNotAllowed before a request leaves for a host not allowed."""
    trusted = {_origin(settings.atlassian_auth_url), _origin(settings.atlassian_api_url)}
    allowed_hosts = list(settings.allowed_jira_hosts)

    # The answer depends on the URL's site part only (what comes before `/rest/`, or the whole URL)
    # and on settings read once: remembered for the few sites a worker calls, checked on every request.
    @functools.lru_cache(maxsize=1024)
    def allowed(site_part: str) -> bool:
        return _origin(site_part) in trusted or host_allowed(site_part, allowed_hosts)

    async def guard(request: httpx.Request) -> None:
        if not allowed(str(request.url).split("/rest/", 1)[0]):
            raise HostNotAllowed(f"refusing a request to {request.url.host}: not an allowed Jira host")

    return guard
