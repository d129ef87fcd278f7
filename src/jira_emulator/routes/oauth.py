"""OAuth 2.0 (3LO) as Atlassian runs it, on the emulator's one host.

- `GET /authorize` stands for `auth.atlassian.com/authorize`. The emulator has no login: the account
  consents through `login_hint=<email>` (or `emulator_account=<email or accountId>`); without one it
  answers a page listing the accounts as links. `emulator_consent=deny` plays a user who declines.
- `POST /oauth/token` stands for `auth.atlassian.com/oauth/token` (JSON or form body, client
  credentials in the body as Atlassian documents): `authorization_code` and `refresh_token` grants.
  Refresh tokens rotate: the one used is dead afterwards.
- `GET /oauth/token/accessible-resources` stands for the same path on `api.atlassian.com`.
- `/_emulator/oauth/...` control routes revoke a consent or expire access tokens on demand.

Error bodies and statuses follow what Atlassian's authorization server (Auth0-based) answers.
"""

from __future__ import annotations

import html
import json
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict

from jira_emulator.errors import JiraError
from jira_emulator.state import (
    AccessToken,
    Account,
    AuthorizationCode,
    EmulatorState,
    OAuthApp,
    RefreshToken,
    expires_in,
    new_token,
)

router = APIRouter()

AUDIENCE = "api.atlassian.com"
CODE_TTL_S = 600  # RFC 6749 §4.1.2: a code lives ten minutes at most
REFRESH_INACTIVITY = timedelta(days=90)
REFRESH_ABSOLUTE = timedelta(days=365)
OFFLINE = "offline_access"
# accessible-resources lists product scopes; these only shape the grant itself.
_NON_PRODUCT_SCOPES = frozenset({OFFLINE, "openid", "profile", "email", "read:me", "read:account"})
_AVATAR = "https://site-admin-avatar-cdn.prod.public.atl-paas.net/avatars/240/rocket.png"


def _state(request: Request) -> EmulatorState:
    state: EmulatorState = request.app.state.emulator
    return state


# --- /authorize -------------------------------------------------------------------------------------


@router.get("/authorize", response_model=None)
async def authorize(request: Request) -> Response:
    state = _state(request)
    params = dict(request.query_params)
    app = state.oauth_apps.get(params.get("client_id", ""))
    if app is None:
        # Never redirect for an unknown client: the redirect_uri cannot be trusted.
        return _error_page("invalid_request", f"Unknown client: {params.get('client_id', '')}")
    redirect_uri = params.get("redirect_uri", "")
    if redirect_uri not in app.redirect_uris:
        return _error_page(
            "invalid_request",
            "The redirect_uri does not match the callback URL registered for this app.",
        )
    client_state = params.get("state")
    problem = _request_problem(params)
    if problem is not None:
        return _redirect(redirect_uri, client_state, error=problem[0], error_description=problem[1])
    scopes = params["scope"].split()
    account = _consenting_account(state, params.get("emulator_account") or params.get("login_hint", ""))
    if account is None:
        return _chooser_page(state, app, scopes, params)
    if params.get("emulator_consent") == "deny":
        return _redirect(
            redirect_uri,
            client_state,
            error="access_denied",
            error_description="User did not authorize the request",
        )
    code = AuthorizationCode(
        code=new_token(),
        client_id=app.client_id,
        account_id=account.account_id,
        redirect_uri=redirect_uri,
        scopes=scopes,
        expires_at=expires_in(state, CODE_TTL_S),
    )
    state.auth_codes[code.code] = code
    return _redirect(redirect_uri, client_state, code=code.code)


def _request_problem(params: dict[str, str]) -> tuple[str, str] | None:
    """What is wrong with a request from a known client to its own callback; it learns by redirect."""
    if params.get("response_type") != "code":
        return "unsupported_response_type", f"Unsupported response type: {params.get('response_type', '')}"
    if params.get("audience") != AUDIENCE:
        return "access_denied", f"Service not found: {params.get('audience', '')}"
    if not params.get("scope", "").split():
        return "invalid_scope", "The scope parameter is required."
    return None


def _consenting_account(state: EmulatorState, who: str) -> Account | None:
    account = state.accounts.get(who) or (state.account_by_email(who) if who else None)
    return account if account is not None and account.active else None


def _redirect(redirect_uri: str, client_state: str | None, **values: str) -> RedirectResponse:
    if client_state is not None:
        values["state"] = client_state
    separator = "&" if "?" in redirect_uri else "?"
    return RedirectResponse(redirect_uri + separator + urlencode(values), status_code=302)


def _error_page(error: str, description: str) -> HTMLResponse:
    body = (
        "<!doctype html><html><head><title>Something went wrong</title></head><body>"
        f"<h1>Something went wrong</h1><p><code>{html.escape(error)}</code>: {html.escape(description)}</p>"
        "</body></html>"
    )
    return HTMLResponse(body, status_code=400)


def _chooser_page(
    state: EmulatorState, app: OAuthApp, scopes: list[str], params: dict[str, str]
) -> HTMLResponse:
    """The stand-in for Atlassian's login and consent screens: one link per active account."""
    base = {k: v for k, v in params.items() if k not in ("login_hint", "emulator_account")}
    items = "".join(
        f'<li><a href="authorize?{html.escape(urlencode({**base, "login_hint": a.email}))}">'
        f"{html.escape(a.display_name)} ({html.escape(a.email)})</a></li>"
        for a in state.accounts.values()
        if a.active
    )
    body = (
        "<!doctype html><html><head><title>Authorize app</title></head><body>"
        f"<h1>{html.escape(app.name)} is requesting access to your Atlassian account</h1>"
        f"<p>Scopes: {html.escape(' '.join(scopes))}</p>"
        f"<p>Choose the account that consents:</p><ul>{items}</ul></body></html>"
    )
    return HTMLResponse(body)


# --- /oauth/token -----------------------------------------------------------------------------------


class OAuthError(Exception):
    """An error in the authorization server's shape: `{"error", "error_description"}`."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(status, error, description)
        self.status, self.error, self.description = status, error, description

    def response(self) -> JSONResponse:
        return JSONResponse(
            {"error": self.error, "error_description": self.description},
            status_code=self.status,
            headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
        )


def _unauthorized_client() -> OAuthError:
    return OAuthError(401, "access_denied", "Unauthorized")


def _invalid_code() -> OAuthError:
    return OAuthError(403, "invalid_grant", "Invalid authorization code")


def _invalid_refresh() -> OAuthError:
    # What auth.atlassian.com answers for a rotated, revoked or unknown refresh token.
    return OAuthError(403, "unauthorized_client", "refresh_token is invalid")


@router.post("/oauth/token", response_model=None)
async def token(request: Request) -> JSONResponse:
    raw = await request.body()
    state = _state(request)  # no await below: the exchange is atomic on the event loop
    try:
        form = _parse_body(raw, request.headers.get("content-type", ""))
        grant = _require(form, "grant_type")
        app = _authenticate_client(state, form)
        if grant == "authorization_code":
            return _exchange_code(state, app, form)
        if grant == "refresh_token":
            return _refresh(state, app, form)
        raise OAuthError(403, "unsupported_grant_type", f"Unsupported grant type: {grant}")
    except OAuthError as exc:
        return exc.response()


def _parse_body(raw: bytes, content_type: str) -> dict[str, str]:
    if content_type.split(";")[0].strip().lower() == "application/json":
        try:
            data = json.loads(raw or b"{}")
        except (ValueError, UnicodeDecodeError):
            raise OAuthError(400, "invalid_request", "The request body is not valid JSON.") from None
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise OAuthError(400, "invalid_request", "The request body must be an object of strings.")
        return {str(k): v for k, v in data.items()}
    try:
        return dict(parse_qsl(raw.decode(), keep_blank_values=True))
    except UnicodeDecodeError:
        raise OAuthError(400, "invalid_request", "The request body is not valid.") from None


def _require(form: dict[str, str], name: str) -> str:
    value = form.get(name, "")
    if not value:
        raise OAuthError(400, "invalid_request", f"Missing required parameter: {name}")
    return value


def _authenticate_client(state: EmulatorState, form: dict[str, str]) -> OAuthApp:
    app = state.oauth_apps.get(form.get("client_id", ""))
    if app is None or form.get("client_secret") != app.client_secret:
        raise _unauthorized_client()
    return app


def _exchange_code(state: EmulatorState, app: OAuthApp, form: dict[str, str]) -> JSONResponse:
    code = state.auth_codes.get(_require(form, "code"))
    redirect_uri = _require(form, "redirect_uri")
    if (
        code is None
        or code.used
        or code.expires_at <= state.now()
        or code.client_id != app.client_id
        or code.redirect_uri != redirect_uri
    ):
        raise _invalid_code()
    code.used = True
    absolute = state.now() + REFRESH_ABSOLUTE
    return _issue(state, app.client_id, code.account_id, code.scopes, absolute)


def _refresh(state: EmulatorState, app: OAuthApp, form: dict[str, str]) -> JSONResponse:
    old = state.refresh_tokens.get(_require(form, "refresh_token"))
    now = state.now()
    if (
        old is None
        or old.used
        or old.revoked
        or old.client_id != app.client_id
        or (old.expires_at is not None and old.expires_at <= now)
        or (old.absolute_expires_at is not None and old.absolute_expires_at <= now)
    ):
        raise _invalid_refresh()
    account = state.accounts.get(old.account_id)
    if account is None or not account.active:
        raise _invalid_refresh()
    old.used = True  # rotation: the token just presented never works again
    return _issue(state, app.client_id, old.account_id, old.scopes, old.absolute_expires_at)


def _issue(
    state: EmulatorState, client_id: str, account_id: str, scopes: list[str], absolute: datetime | None
) -> JSONResponse:
    access = AccessToken(
        token=new_token("emu-at-"),
        client_id=client_id,
        account_id=account_id,
        scopes=list(scopes),
        expires_at=expires_in(state, state.access_token_ttl_s),
    )
    state.access_tokens[access.token] = access
    body: dict[str, object] = {
        "access_token": access.token,
        "expires_in": state.access_token_ttl_s,
        "token_type": "Bearer",
        "scope": " ".join(scopes),
    }
    if OFFLINE in scopes:
        refresh = RefreshToken(
            token=new_token("emu-rt-"),
            client_id=client_id,
            account_id=account_id,
            scopes=list(scopes),
            expires_at=state.now() + REFRESH_INACTIVITY,
            absolute_expires_at=absolute,
        )
        state.refresh_tokens[refresh.token] = refresh
        body["refresh_token"] = refresh.token
    return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


# --- accessible-resources ---------------------------------------------------------------------------


@router.get("/oauth/token/accessible-resources")
async def accessible_resources(request: Request) -> list[dict[str, object]]:
    state = _state(request)
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    access = state.access_tokens.get(credentials.strip()) if scheme.lower() == "bearer" else None
    account = state.accounts.get(access.account_id) if access is not None else None
    if (
        access is None
        or access.revoked
        or access.expires_at <= state.now()
        or account is None
        or not account.active
    ):
        raise JiraError(
            401,
            headers={"WWW-Authenticate": f'Bearer realm="{AUDIENCE}"'},
            raw_body={"code": 401, "message": "Unauthorized"},
        )
    # Like Atlassian, every site the account can reach is listed, not only the one picked at consent.
    scopes = [s for s in access.scopes if s not in _NON_PRODUCT_SCOPES]
    return [
        {"id": site.cloud_id, "url": site.base_url, "name": site.name, "scopes": scopes, "avatarUrl": _AVATAR}
        for site in state.sites.values()
        if account.account_id in site.members
    ]


# --- control routes ---------------------------------------------------------------------------------


class RevokeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    client_id: str
    account: str  # email or accountId


class ExpireRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    client_id: str | None = None
    account: str | None = None


def _find_account(state: EmulatorState, who: str) -> Account:
    account = state.accounts.get(who) or state.account_by_email(who)
    if account is None:
        raise JiraError(404, f"No account {who}.")
    return account


@router.post("/_emulator/oauth/revoke")
async def revoke_consent(request: Request, body: RevokeRequest) -> dict[str, int]:
    """The user removes the app from their connected apps: every token of that pair dies at once."""
    state = _state(request)
    if body.client_id not in state.oauth_apps:
        raise JiraError(404, f"No OAuth app {body.client_id}.")
    account_id = _find_account(state, body.account).account_id
    counts = {"revoked_access_tokens": 0, "revoked_refresh_tokens": 0}
    for grants, key in (
        (state.access_tokens, "revoked_access_tokens"),
        (state.refresh_tokens, "revoked_refresh_tokens"),
    ):
        for t in grants.values():
            if t.client_id == body.client_id and t.account_id == account_id and not t.revoked:
                t.revoked = True
                counts[key] += 1
    for code in state.auth_codes.values():
        if code.client_id == body.client_id and code.account_id == account_id:
            code.used = True
    return counts


@router.post("/_emulator/oauth/expire-access-tokens")
async def expire_access_tokens(request: Request, body: ExpireRequest | None = None) -> dict[str, int]:
    """Make live access tokens expire now (optionally only one app's or one account's); refresh
    tokens stay valid, so a client must refresh."""
    state = _state(request)
    wanted = body or ExpireRequest()
    account_id = _find_account(state, wanted.account).account_id if wanted.account else None
    now = state.now()
    expired = 0
    for t in state.access_tokens.values():
        if t.expires_at <= now or (wanted.client_id and t.client_id != wanted.client_id):
            continue
        if account_id and t.account_id != account_id:
            continue
        t.expires_at = now
        expired += 1
    return {"expired_access_tokens": expired}
