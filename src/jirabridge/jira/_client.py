"""`JiraClient`: one Jira Cloud site as one caller (an API token or an OAuth grant).

    async with JiraClient("https://acme.atlassian.net", BasicTokenAuth(email, token), pacer=pacer) as jira:
        me = await jira.myself()
        created = await jira.issues.create({"project": {"key": "WEB"}, ...})
        async for issue in jira.search.issues("project = WEB AND updated >= -5m"):
            ...

Operations are grouped by resource (`issues`, `search`, `comments`, `worklogs`, `remote_links`,
`properties`, `users`, `projects`, `metadata`, `webhooks`, `admin_webhooks`). Every call raises from
one error tree (`jirabridge.jira.JiraError`), is paced by the site's `SitePacer` when one is given, and is not
retried: the error's `action` says whether the same call may succeed later, and the caller decides (the
worker records a retry on the outbox operation).
"""

from __future__ import annotations

from types import TracebackType

import httpx

from jirabridge.jira._comments import CommentsAPI
from jirabridge.jira._issues import IssuesAPI
from jirabridge.jira._links import RemoteLinksAPI
from jirabridge.jira._metadata import MetadataAPI, ProjectsAPI, UsersAPI
from jirabridge.jira._models import ServerInfo, User
from jirabridge.jira._pacing import SitePacer
from jirabridge.jira._properties import PropertiesAPI
from jirabridge.jira._search import SearchAPI
from jirabridge.jira._transport import CookielessClient, Requester
from jirabridge.jira._webhooks import AdminWebhooksAPI, WebhooksAPI
from jirabridge.jira._worklogs import WorklogsAPI

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
USER_AGENT = "jirabridge"


class JiraClient:
    """`base_url` is the site (`https://acme.atlassian.net`) for API tokens, or the gateway
    (`gateway_base_url(cloud_id)`) for OAuth. Pass `http` to share one connection pool between
    clients (it is then not closed by this client), or `transport` for tests.

    With a pacer, a call takes its turn before it asks for a connection and is checked again when its
    request is written (`SitePacer.on_the_wire`: httpx's own transport reports that moment; ASGI and
    mock transports do not, and then only the first check applies)."""

    def __init__(
        self,
        base_url: str,
        auth: httpx.Auth,
        *,
        pacer: SitePacer | None = None,
        http: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
    ) -> None:
        self._owns_http = http is None
        self.http = http or CookielessClient(
            transport=transport, timeout=timeout, headers={"User-Agent": USER_AGENT}
        )
        self._r = Requester(self.http, base_url, auth, pacer)
        self.base_url = self._r.base_url
        self.pacer = pacer
        self.issues = IssuesAPI(self._r)
        self.search = SearchAPI(self._r)
        self.comments = CommentsAPI(self._r)
        self.worklogs = WorklogsAPI(self._r)
        self.remote_links = RemoteLinksAPI(self._r)
        self.properties = PropertiesAPI(self._r)
        self.users = UsersAPI(self._r)
        self.projects = ProjectsAPI(self._r)
        self.metadata = MetadataAPI(self._r)
        self.webhooks = WebhooksAPI(self._r)
        self.admin_webhooks = AdminWebhooksAPI(self._r)

    def __repr__(self) -> str:
        return f"JiraClient({self.base_url!r})"

    async def server_info(self) -> ServerInfo:
        return await self._r.get_model(ServerInfo, "/serverInfo")

    async def myself(self) -> User:
        return await self._r.get_model(User, "/myself")

    async def aclose(self) -> None:
        if self._owns_http:
            await self.http.aclose()

    async def __aenter__(self) -> JiraClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
