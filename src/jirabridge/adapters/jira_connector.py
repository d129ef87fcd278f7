"""`JiraConnector` on top of `jirabridge.jira`: verify credentials, OAuth 3LO, the connection test.

Every request first passes the host guard of adapters/jira_http.py: no request ever leaves for a
host that is not an allowed Jira site or Atlassian's OAuth endpoints; and every connection passes
the outbound guard (adapters/outbound_http.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx

from jirabridge import jira
from jirabridge.adapters.jira_http import host_guard, oauth_app
from jirabridge.adapters.outbound_http import GuardedTransport
from jirabridge.config import Settings
from jirabridge.domain.outbound import OutboundRefused
from jirabridge.service.core.outbound import OutboundGuard
from jirabridge.service.core.ports import (
    Check,
    ConnectFailed,
    FieldMeta,
    IssueInfo,
    IssueTypeMeta,
    JiraAccount,
    OAuthGrant,
    ProjectMeta,
    ProjectRef,
    SiteAccess,
    SiteFields,
    StatusMeta,
)

T = TypeVar("T")


class HttpJiraConnector:
    def __init__(
        self,
        settings: Settings,
        outbound: OutboundGuard,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.outbound = outbound
        self.transport = transport
        self.oauth_app = oauth_app(settings)
        self._guard = host_guard(settings)

    # -- plumbing ---------------------------------------------------------------------------------

    def _http(self) -> httpx.AsyncClient:
        return jira.CookielessClient(  # Jira's cookies are never used
            transport=GuardedTransport(self.outbound, self.transport),
            timeout=httpx.Timeout(self.settings.jira_timeout_s),
            event_hooks={"request": [self._guard]},
            follow_redirects=False,
        )

    def _client(self, http: httpx.AsyncClient, access: SiteAccess) -> jira.JiraClient:
        if access.auth_type == "api_token":
            auth: httpx.Auth = jira.BasicTokenAuth(
                access.credentials["email"], access.credentials["api_token"]
            )
            return jira.JiraClient(access.url, auth, http=http)
        tokens = jira.OAuthTokens.model_validate(access.credentials)
        save = access.save_credentials

        async def on_refresh(new: jira.OAuthTokens) -> None:
            if save is not None:
                await save(new.model_dump(mode="json"))

        oauth = jira.OAuthAuth(self.oauth_app, tokens, on_refresh)
        base = jira.gateway_base_url(access.cloud_id or "", self.settings.atlassian_api_url)
        return jira.JiraClient(base, oauth, http=http)

    # -- JiraConnector ----------------------------------------------------------------------------

    async def verify(self, access: SiteAccess) -> JiraAccount:
        async with self._http() as http:
            client = self._client(http, access)
            me = await _classified(client.myself)
            return JiraAccount(me.account_id, me.display_name, me.email_address)

    def authorize_url(self, state: str) -> str:
        return self.oauth_app.authorization_url(state)

    async def complete_oauth(self, code: str, site_url: str | None) -> OAuthGrant:
        async with self._http() as http:
            tokens = await _classified(lambda: self.oauth_app.exchange_code(http, code))
            resources = await _classified(
                lambda: self.oauth_app.accessible_resources(http, tokens.access_token)
            )
            wanted = site_url.rstrip("/").lower() if site_url else None
            resource = next((r for r in resources if wanted in (None, r.url.rstrip("/").lower())), None)
            if resource is None:
                raise ConnectFailed("forbidden", f"the grant does not include the site {site_url}")
            credentials = tokens.model_dump(mode="json")
            access = SiteAccess(resource.url, "oauth", credentials, cloud_id=resource.id)
            client = self._client(http, access)
            me = await _classified(client.myself)
            account = JiraAccount(me.account_id, me.display_name, me.email_address)
            return OAuthGrant(resource.id, resource.url, credentials, account)

    async def test(self, access: SiteAccess, *, project: str | None, issue_type: str | None) -> list[Check]:
        checks: list[Check] = []
        async with self._http() as http:
            client = self._client(http, access)
            steps: list[tuple[str, Callable[[], Awaitable[str]]]] = [
                ("reach", lambda: self._reach(client)),
                ("auth", lambda: self._auth(client)),
            ]
            if project:
                steps.append(("project", lambda: self._project(client, project)))
                if issue_type:
                    steps.append(("issue_type", lambda: self._issue_type(client, project, issue_type)))
            for name, step in steps:
                try:
                    checks.append(Check(name, True, None, await step()))
                except ConnectFailed as failed:
                    checks.append(Check(name, False, failed.code, failed.message))
                    break  # later checks cannot say anything useful
        return checks

    async def _reach(self, client: jira.JiraClient) -> str:
        info = await _classified(client.server_info, not_found="invalid_url")
        if info.deployment_type and info.deployment_type != "Cloud":
            raise ConnectFailed("invalid_url", f"this is Jira {info.deployment_type}, not Jira Cloud")
        return f"Jira Cloud answers at {client.base_url}"

    async def _auth(self, client: jira.JiraClient) -> str:
        me = await _classified(client.myself)
        return f"signed in as {me.display_name}"

    async def _project(self, client: jira.JiraClient, key: str) -> str:
        found = await _classified(lambda: client.projects.get(key), not_found="project_not_found")
        return f"project {found.key} ({found.name}) is visible"

    async def _issue_type(self, client: jira.JiraClient, project: str, name: str) -> str:
        types = await _classified(lambda: client.metadata.create_issue_types(project))
        if not types:
            # Jira's create metadata lists only the types the caller may create, and a project (seen
            # by the check before) always has some: none at all means the account may not create
            # issues there, not that the type is missing.
            raise ConnectFailed(
                "forbidden",
                f"the account cannot create issues in {project}: it lacks the Create issues permission "
                f"(CREATE_ISSUES); grant it to the account in {project}'s permission scheme",
            )
        if not any(name.lower() in (t.name.lower(), t.id) for t in types):
            offered = ", ".join(t.name for t in types) or "none"
            raise ConnectFailed(
                "issue_type_not_found",
                f"issue type {name!r} cannot be created in {project} (offered: {offered})",
            )
        return f"issues of type {name} can be created in {project}"

    # -- reads the API makes while the host waits (never inside a transaction) ------------------

    async def get_issue(self, access: SiteAccess, key: str) -> IssueInfo | None:
        async with self._http() as http:
            client = self._client(http, access)

            async def fetch() -> jira.Issue | None:
                try:
                    return await client.issues.get(key, fields=["status"])
                except jira.NotFound:
                    return None

            issue = await _classified(fetch)
        if issue is None:
            return None
        status = issue.fields.status
        category = status.status_category.key if status and status.status_category else None
        return IssueInfo(
            key=issue.key,
            id=issue.id,
            status=status.name if status else None,
            status_category=category,
            url=f"{access.url.rstrip('/')}/browse/{issue.key}",
        )

    async def project_meta(self, access: SiteAccess, project: str) -> ProjectMeta:
        async with self._http() as http:
            client = self._client(http, access)
            found = await _classified(lambda: client.projects.get(project), not_found="project_not_found")
            per_type = await _classified(
                lambda: client.projects.statuses(found.key), not_found="project_not_found"
            )
            priorities = await _classified(client.metadata.priorities)
        statuses: dict[str, StatusMeta] = {}
        for issue_type in per_type:
            for status in issue_type.statuses:
                category = status.status_category.key if status.status_category else None
                statuses.setdefault(status.name, StatusMeta(status.id, status.name, category))
        return ProjectMeta(
            id=found.id,
            key=found.key,
            name=found.name,
            issue_types=tuple(IssueTypeMeta(t.id, t.name, t.subtask) for t in found.issue_types or []),
            statuses=tuple(statuses.values()),
            priorities=tuple(p.name for p in priorities),
        )

    async def create_fields(self, access: SiteAccess, project: str, issue_type_id: str) -> list[FieldMeta]:
        async with self._http() as http:
            client = self._client(http, access)
            fields = await _classified(
                lambda: client.metadata.create_fields(project, issue_type_id),
                not_found="issue_type_not_found",
            )
        return [
            FieldMeta(
                field_id=f.field_id,
                name=f.name,
                required=f.required,
                schema_type=f.schema_.type if f.schema_ else None,
                allowed_values=_allowed(f.allowed_values),
                has_default=f.has_default_value,
            )
            for f in fields
        ]

    async def site_fields(self, access: SiteAccess) -> SiteFields:
        async with self._http() as http:
            client = self._client(http, access)
            fields = await _classified(client.metadata.fields)
            resolutions = await _classified(client.metadata.resolutions)
        return SiteFields({f.id: f.name for f in fields}, tuple(r.name for r in resolutions))

    async def summaries(self, access: SiteAccess, keys: list[str]) -> dict[str, str]:
        async with self._http() as http:
            client = self._client(http, access)
            found = await _classified(lambda: client.issues.bulk_fetch(keys[:100], fields=["summary"]))
        return {issue.key: issue.fields.summary or "" for issue in found.issues}

    async def list_projects(self, access: SiteAccess) -> list[ProjectRef]:
        async with self._http() as http:
            client = self._client(http, access)
            found = await _classified(client.projects.list)
        return [ProjectRef(p.key, p.name) for p in found]

    async def assignable_users(self, access: SiteAccess, project: str, query: str) -> list[JiraAccount]:
        async with self._http() as http:
            client = self._client(http, access)
            found = await _classified(
                lambda: client.users.assignable(project=project, query=query or None),
                not_found="project_not_found",
            )
        return [JiraAccount(u.account_id, u.display_name or u.account_id) for u in found]


def _allowed(values: list[dict[str, Any]] | None) -> tuple[str, ...] | None:
    """Jira lists options as `{value}` and priorities, versions, … as `{name}`."""
    if values is None:
        return None
    names = (v.get("name", v.get("value")) for v in values)
    return tuple(n for n in names if isinstance(n, str))


async def _classified(call: Callable[[], Awaitable[T]], *, not_found: str = "invalid_url") -> T:
    """Run one Jira call, turning the client's errors into the connection-test codes."""
    try:
        return await call()
    except OutboundRefused as exc:
        raise ConnectFailed("invalid_url", exc.reason) from None
    except jira.TokenExpired:
        raise ConnectFailed(
            "token_expired", "the Jira authorisation has expired or was revoked: reconnect"
        ) from None
    except jira.Unauthorized:
        raise ConnectFailed("unauthorized", "Jira rejected the credentials (401)") from None
    except jira.Forbidden:
        raise ConnectFailed("forbidden", "Jira refused access to this resource (403)") from None
    except jira.NotFound:
        raise ConnectFailed(not_found, "Jira answered 404: not found") from None
    except jira.RateLimited as exc:
        wait = f"; retry after {exc.retry_after:.0f} s" if exc.retry_after else ""
        raise ConnectFailed("rate_limited", f"Jira is rate limiting these calls{wait}") from None
    except jira.JiraTimeout:
        raise ConnectFailed("network_timeout", "Jira did not answer in time") from None
    except jira.ConnectionFailed as exc:
        raise ConnectFailed("connection_failed", f"could not connect: {exc.message}") from None
    except jira.OAuthError as exc:
        raise ConnectFailed("unauthorized", f"the OAuth grant was refused: {exc.message}") from None
    except jira.ServerError as exc:
        if exc.status_code == 504:  # a gateway gave up waiting for Jira
            raise ConnectFailed("network_timeout", "Jira did not answer in time (504)") from None
        raise ConnectFailed("connection_failed", f"Jira is unavailable ({exc.status_code})") from None
    except (jira.InvalidResponse, jira.HTTPStatusError) as exc:
        raise ConnectFailed("invalid_url", f"no Jira Cloud site answers here: {exc.message}") from None
