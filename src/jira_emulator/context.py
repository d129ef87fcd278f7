"""Which site a request is for, and who is calling.

Site selection, in this order (documented in docs/emulator.md):
1. `/ex/jira/{cloudId}/...` — the OAuth gateway path of `api.atlassian.com`; needs a Bearer token.
2. `/sites/{name}/...` — a path prefix, handy over loopback (`http://127.0.0.1:8080/sites/acme`).
3. The Host header `{name}.atlassian.net` (or any host whose first label is a site name, such as
   `acme.localhost`).
4. Otherwise the first site of the seed.

The middleware strips the prefix so routes see `/rest/api/3/...`, and records the base URL the client
used so `self` links point back to where the client can reach them.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from fastapi import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from jira_emulator.errors import JiraError
from jira_emulator.events import EventBus
from jira_emulator.state import Account, EmulatorState, Project, Site

_UNAUTHENTICATED = "You are not authenticated. Authentication required to perform this operation."
# Jira Cloud marks rejected credentials (wrong, expired or revoked API token) with this header.
_BASIC_FAILED = {
    "WWW-Authenticate": 'Basic realm="protected-area"',
    "X-Seraph-LoginReason": "AUTHENTICATED_FAILED",
}


@dataclass
class Ctx:
    state: EmulatorState
    site: Site
    base_url: str  # scheme://host[/prefix], no trailing slash
    gateway: bool  # reached through /ex/jira/{cloudId}
    api_version: int  # 2 or 3 (3 for non-REST paths)
    bus: EventBus

    def url(self, path: str) -> str:
        return self.base_url + path

    def rest(self, path: str) -> str:
        return f"{self.base_url}/rest/api/{self.api_version}{path}"


class SiteRouting:
    """Pure ASGI middleware: resolves the site and rewrites the path before routing."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state: EmulatorState = scope["app"].state.emulator
        path: str = scope["path"]
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        host = headers.get("host", "localhost")
        scheme = scope.get("scheme", "http")
        root = f"{scheme}://{host}"
        site: Site | None = None
        prefix = ""
        gateway = False
        parts = path.split("/", 4)  # ["", "ex", "jira", cloudId, rest]
        if path.startswith("/ex/jira/") and len(parts) >= 4:
            site = state.site_by_cloud_id(parts[3])
            prefix = f"/ex/jira/{parts[3]}"
            gateway = True
            if site is None:
                await _send_json(send, 404, b'{"code":404,"message":"Not Found"}')
                return
        elif path.startswith("/sites/") and len(parts) >= 3:
            site = state.sites.get(parts[2])
            prefix = f"/sites/{parts[2]}"
            if site is None:
                await _send_json(send, 404, b'{"errorMessages":["No such site."],"errors":{}}')
                return
        else:
            label = host.split(":")[0].split(".")[0]
            site = state.sites.get(label) or next(iter(state.sites.values()), None)
        if prefix:
            scope = dict(scope)
            scope["path"] = path[len(prefix) :] or "/"
            scope["raw_path"] = scope["path"].encode()
        scope.setdefault("state", {})
        scope["state"]["site"] = site
        scope["state"]["base_url"] = root + prefix
        scope["state"]["gateway"] = gateway
        await self.app(scope, receive, send)


async def _send_json(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def get_ctx(request: Request) -> Ctx:
    site: Site | None = request.scope["state"].get("site")
    if site is None:
        raise JiraError(404, "This emulator has no sites; reset it with a seed.")
    path = request.url.path
    # Jira Cloud's /rest/api/latest is an alias of version 2.
    version = 2 if path.startswith(("/rest/api/2/", "/rest/api/latest/")) else 3
    return Ctx(
        state=request.app.state.emulator,
        site=site,
        base_url=request.scope["state"]["base_url"],
        gateway=request.scope["state"]["gateway"],
        api_version=version,
        bus=request.app.state.bus,
    )


def caller(request: Request) -> tuple[Ctx, Account]:
    """The usual start of a REST route: the site context and the authenticated account."""
    ctx = get_ctx(request)
    return ctx, authenticate(request, ctx)


def authenticate(request: Request, ctx: Ctx) -> Account:
    """The calling account, or Jira's 401. Basic auth (email + API token) on the site's own URL,
    Bearer (OAuth 2.0 access token) through the gateway path."""
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    state = ctx.state
    now = state.now()
    if ctx.gateway:
        if scheme.lower() != "bearer":
            raise _gateway_401()
        token = state.access_tokens.get(credentials.strip())
        if token is None or token.revoked or token.expires_at <= now:
            raise _gateway_401()
        account = state.accounts.get(token.account_id)
        if account is None or not account.active:
            raise _gateway_401()
    else:
        if scheme.lower() != "basic":
            raise JiraError(
                401, _UNAUTHENTICATED, headers={"WWW-Authenticate": 'Basic realm="protected-area"'}
            )
        try:
            email, _, secret = base64.b64decode(credentials.strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise JiraError(401, _UNAUTHENTICATED, headers=_BASIC_FAILED) from None
        found = state.account_by_email(email)
        valid = found is not None and any(
            t.token == secret and not t.revoked and (t.expires_at is None or t.expires_at > now)
            for t in found.api_tokens
        )
        if found is None or not valid or not found.active:
            raise JiraError(401, _UNAUTHENTICATED, headers=_BASIC_FAILED)
        account = found
    if account.account_id not in ctx.site.members:
        raise JiraError(403, "You do not have access to this site.")
    return account


def _gateway_401() -> JiraError:
    return JiraError(
        401,
        headers={"WWW-Authenticate": 'Bearer realm="api.atlassian.com"'},
        raw_body={"code": 401, "message": "Unauthorized"},
    )


def require(project: Project, account: Account, permission: str, message: str | None = None) -> None:
    """Jira answers 403 for a known project the caller may see but not change, 404 when the caller
    cannot even browse it (it does not reveal the project exists)."""
    if not project.has_permission(account.account_id, "BROWSE_PROJECTS"):
        raise JiraError(404, f"No project could be found with key '{project.key}'.")
    if not project.has_permission(account.account_id, permission):
        raise JiraError(
            403, message or f"You do not have the permission {permission} in project {project.key}."
        )
