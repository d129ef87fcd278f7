"""`JiraPool`: Jira clients for the worker, one connected site at a time, sharing what should be shared.

    async with pool.client(site_id) as jira:      # a `jirabridge.jira.JiraClient`
        await jira.issues.get("WEB-1")

- One `SitePacer` per Jira site (by URL, so two workspaces connecting one site share its budget) at
  `settings.jira_rate_per_site` requests per second: every job calling that site waits its turn, and
  is checked again when its request is written on a connection.
- One httpx client (connection pool, `settings.jira_max_connections` connections) per Jira site
  address, kept while any job of any site uses one and closed when the worker's last one is done, so
  an idle worker holds no sockets. A pool per site, not one for all: httpcore's pool looks at each of
  its connections (a socket poll for an idle one) several times per request and per answer, and one
  pool holding every site's connections made that a third of a 20-site worker's CPU; a site's own
  pool holds only the few its pacing keeps busy, and one site's calls never wait for a connection
  another site holds. The bytes go over aiohttp's connection pool under httpx's API
  (`JIRABRIDGE_JIRA_HTTP`, adapters/aiohttp_network.py): 11–19 % less CPU per change than httpx's
  own network layer. Every request first passes a guard: nothing
  leaves for a host that is neither an allowed Jira site nor the configured Atlassian endpoints, even
  if a stored URL or a redirect says so (redirects are not followed); and every connection passes the
  outbound guard (adapters/outbound_http.py): no internal address unless the operator allows it.
- A site's row is read once per claim, not once per call: the worker's claim hands each claimed
  operation's site to `prime` in the claim's own transaction, and `client()` uses what it read (its
  credentials decrypted once, and again only when the stored ones change). A site not primed in the
  last `SITE_FRESH_S` seconds is read in a transaction of its own, as is every site after an OAuth
  refresh of its tokens. A site disconnected or re-connected is seen at the next claim of its
  operations. OAuth token refreshes are stored at once (refresh tokens rotate). The OAuth auth object
  of a site is shared by its concurrent jobs, so one refresh serves them all instead of each spending
  the same refresh token.
- A site that is not connected (disconnected, or never finished connecting) raises `SiteUnavailable`
  before any call is made.
- A site this worker has just been given by another (`handed_over`, at the site-lease heartbeat that
  took it) waits one pacing window before its first call: the previous owner's last calls are still
  in Jira's window, and the two together must not exceed the site's limit (`SitePacer.handed_over`).
- `client_as_user(site_id, user_id)` is a client authenticated as a host user's own Jira identity
  (their user connection), for what Jira attributes to its caller: worklogs, comments. It shares the
  site's pacer (one budget per site, whoever calls) and the connection pool; its OAuth refreshes are
  stored on the user connection. A user without a connection raises `UserNotConnected`. The claim
  reads the connection (or that there is none) of the user a step acts as (`prime_user`), as it reads
  the site, so that call opens no transaction either; one not primed in the last `SITE_FRESH_S`
  seconds is read in a transaction of its own, every time.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import httpx

from jirabridge import jira, telemetry
from jirabridge.adapters.jira_http import host_guard, oauth_app
from jirabridge.adapters.outbound_http import GuardedTransport
from jirabridge.domain.site_urls import site_address
from jirabridge.service.core.db import read_db
from jirabridge.service.core.ports import Services, SiteAccess
from jirabridge.service.core.unit_of_work import UnitOfWork
from jirabridge.service.sites.sites import site_access
from jirabridge.service.sites.user_access import find_connection, user_access
from jirabridge.storage.repositories.sites import SiteForCalls
from jirabridge.storage.tables import Site, UserConnection

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

STATUS_CACHE_TTL = timedelta(minutes=5)
# How long a site read by a claim (`prime`) serves `client()` without reading it again: long enough
# for the claimed operations to run, short enough that a handler of a site not claimed lately reads it.
SITE_FRESH_S = 30.0
_SEEN_TOKENS_KEPT = 8
_PRIMED_USERS = "jirabridge.primed_users"  # the (site, user) pairs a transaction has read (`prime_user`)
_PRIMED_SITES = "jirabridge.primed_sites"  # the sites a transaction has read (`prime`)


class SiteUnavailable(Exception):
    """The site cannot be called: `reason` is `site_disconnected`."""

    def __init__(self, site_id: str, reason: str = "site_disconnected") -> None:
        super().__init__(f"site {site_id} is not connected")
        self.site_id = site_id
        self.reason = reason


class UserNotConnected(SiteUnavailable):
    """The site is connected, but the host user has no Jira connection on it: `reason` is
    `user_not_connected`. (A `SiteUnavailable`, so `jira_common.classify` handles it too.)"""

    def __init__(self, site_id: str, user_id: str) -> None:
        super().__init__(site_id, "user_not_connected")
        self.args = (f"user {user_id} has no Jira connection on site {site_id}",)
        self.user_id = user_id


@dataclass
class _OAuthEntry:
    auth: jira.OAuthAuth
    # Refresh tokens this auth has held: stored credentials carrying one of them are not newer.
    seen: list[str] = field(default_factory=list)

    def remember(self, refresh_token: str | None) -> None:
        if refresh_token and refresh_token not in self.seen:
            self.seen.append(refresh_token)
            del self.seen[:-_SEEN_TOKENS_KEPT]


@dataclass(frozen=True)
class _UserRead:
    """A user's connected connection on a site as a claim read it (a copy), or None: they have none."""

    connection: UserConnection | None
    read_at: float  # time.monotonic()


@dataclass(frozen=True)
class _SiteRead:
    """A site's row as a claim (or a call) read it. A copy, never the session's own row: this outlives
    the session, whose rows expire when it commits."""

    site: Site  # a transient copy: the columns `site_access` and the checks need, nothing lazy
    values: tuple[object, ...]  # those columns as read, to tell whether the copy is still right
    read_at: float  # time.monotonic()


class JiraPool:
    def __init__(
        self,
        services: Services,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        self.services = services
        self.settings = services.settings
        self.transport = transport
        self.tracer_provider = tracer_provider
        self.oauth_app = oauth_app(self.settings)
        self._guard = host_guard(self.settings)
        self._pacers: dict[str, jira.SitePacer] = {}
        self._oauth: dict[str, _OAuthEntry] = {}
        self._done_statuses: dict[str, tuple[datetime, frozenset[str]]] = {}
        self._sites: dict[str, _SiteRead] = {}
        self._access: dict[str, tuple[str | None, SiteAccess]] = {}  # site -> (sealed, decrypted)
        self._user_reads: dict[tuple[str, str], _UserRead] = {}  # (site, user) -> as the claim read it
        # connection -> (what it was decrypted from, decrypted)
        self._user_access: dict[str, tuple[tuple[object, ...], SiteAccess]] = {}
        self._http: dict[str, httpx.AsyncClient] = {}  # site address -> its client
        self._users = 0  # jobs holding a client, of any site
        self._handed_over: dict[str, float] = {}  # site id -> time.monotonic() it became this worker's
        # Called with the status of every Jira answer (the worker counts them in its metrics).
        self.on_status: list[Callable[[int], None]] = []

    # -- shared pieces -----------------------------------------------------------------------------

    def pacer(self, site_url: str) -> jira.SitePacer:
        key = site_address(site_url)  # the key the site leases group connections by
        pacer = self._pacers.get(key)
        if pacer is None:
            pacer = self._pacers[key] = jira.SitePacer(
                self.settings.jira_rate_per_site, max_wait_s=self.settings.jira_max_pause_wait_s
            )
        return pacer

    def handed_over(self, site_ids: Collection[str]) -> None:
        """These sites have just become this worker's (site leases): until now another worker may have
        been calling them. Their pacers count that when they are next used (`_site_pacer`)."""
        now = time.monotonic()
        for site_id in site_ids:
            self._handed_over[site_id] = now

    def _site_pacer(self, site: Site) -> jira.SitePacer:
        pacer = self.pacer(site.url)
        if (at := self._handed_over.pop(site.id, None)) is not None:
            pacer.handed_over(at)
        return pacer

    async def _count(self, response: httpx.Response) -> None:
        for hook in self.on_status:
            hook(response.status_code)

    def _acquire_http(self, site: Site) -> httpx.AsyncClient:
        key = site_address(site.url)
        http = self._http.get(key)
        if http is None:
            limits = httpx.Limits(
                max_connections=self.settings.jira_max_connections,
                max_keepalive_connections=self.settings.jira_max_connections,
            )
            http = self._http[key] = jira.CookielessClient(  # Jira's cookies are never used
                transport=GuardedTransport(
                    self.services.outbound,
                    self.transport,
                    limits=limits,
                    over_aiohttp=self.settings.jira_http == "aiohttp",
                ),
                timeout=httpx.Timeout(self.settings.jira_timeout_s),
                event_hooks={"request": [self._guard], "response": [self._count]},
                follow_redirects=False,
                headers={"User-Agent": "jirabridge"},
            )
            telemetry.instrument_http(http, self.tracer_provider)
        self._users += 1
        return http

    async def _release_http(self) -> None:
        self._users -= 1
        if self._users == 0 and self._http:
            clients, self._http = list(self._http.values()), {}
            for http in clients:
                await http.aclose()

    # -- clients -----------------------------------------------------------------------------------

    def prime(self, uow: UnitOfWork, site_id: str) -> None:
        """Read the site's row in the caller's transaction (the worker's claim), so that `client()` for
        the claimed operation opens none. Cheap to call for every job: a transaction reads a site once."""
        primed: set[str] = uow.session.info.setdefault(_PRIMED_SITES, set())
        if site_id not in primed:
            primed.add(site_id)
            self._remember(site_id, uow.sites.access(site_id))

    def _remember(self, site_id: str, row: SiteForCalls | None) -> _SiteRead | None:
        if row is None:
            self._sites.pop(site_id, None)
            return None
        now = time.monotonic()
        known = self._sites.get(site_id)
        values = (row.workspace_id, row.url, row.auth_type, row.cloud_id, row.status, row.credentials)
        if known is not None and known.values == values:
            read = _SiteRead(known.site, values, now)  # as it was: no new copy
        else:
            copy = Site(
                id=row.id,
                workspace_id=row.workspace_id,
                url=row.url,
                auth_type=row.auth_type,
                cloud_id=row.cloud_id,
                status=row.status,
                credentials=row.credentials,
            )
            read = _SiteRead(copy, values, now)
        self._sites[site_id] = read
        return read

    def prime_user(self, uow: UnitOfWork, site_id: str, user_id: str) -> None:
        """Read the user's connection on the site (or that they have none) in the caller's transaction
        (the claim of an operation that calls Jira as them), so that `client_as_user()` opens none."""
        primed: set[tuple[str, str]] = uow.session.info.setdefault(_PRIMED_USERS, set())
        if (site_id, user_id) in primed:  # read in this transaction already (another job of the claim)
            return
        primed.add((site_id, user_id))
        self.prime(uow, site_id)
        site = self._sites.get(site_id)
        if site is None:
            self._user_reads.pop((site_id, user_id), None)
            return
        connection = find_connection(uow, site.site.workspace_id, site_id, user_id)
        self._user_reads[(site_id, user_id)] = _UserRead(connection, time.monotonic())

    def forget(self, site_id: str) -> None:
        """The next `client()` reads the site again (its tokens were just refreshed and stored); for
        `user:<connection id>`, the next `client_as_user()` reads that connection again."""
        self._sites.pop(site_id, None)
        if site_id.startswith("user:"):
            connection_id = site_id.removeprefix("user:")
            for key, read in list(self._user_reads.items()):
                if read.connection is not None and read.connection.id == connection_id:
                    del self._user_reads[key]

    async def _load_site(self, site_id: str, workspace_id: str | None, *, disconnected: bool = False) -> Site:
        read = self._sites.get(site_id)
        if read is None or time.monotonic() - read.read_at > SITE_FRESH_S:

            def load(uow: UnitOfWork) -> _SiteRead | None:
                return self._remember(site_id, uow.sites.access(site_id))

            read = await read_db(self.services, load)
        site = read.site if read is not None else None
        if (
            site is None
            or (workspace_id is not None and site.workspace_id != workspace_id)
            or (site.status != "connected" and not disconnected)
            or site.credentials is None
        ):
            raise SiteUnavailable(site_id)
        return site

    def _auth(self, site: Site) -> tuple[str, httpx.Auth]:
        cached = self._access.get(site.id)
        if cached is not None and cached[0] == site.credentials:
            access = cached[1]
        else:  # decrypted once per stored value, not once per call
            access = site_access(self.services, site)
            self._access[site.id] = (site.credentials, access)
        return self._access_auth(site.id, access)

    def _access_auth(self, cache_key: str, access: SiteAccess) -> tuple[str, httpx.Auth]:
        """The base URL and auth for one identity; OAuth auths are shared per `cache_key`."""
        if access.auth_type == "api_token":
            creds = access.credentials
            return access.url, jira.BasicTokenAuth(creds["email"], creds["api_token"])
        base = jira.gateway_base_url(access.cloud_id or "", self.settings.atlassian_api_url)
        tokens = jira.OAuthTokens.model_validate(access.credentials)
        entry = self._oauth.get(cache_key)
        if entry is not None and tokens.refresh_token in entry.seen:
            return base, entry.auth  # ours is as new as the stored tokens, or newer
        save = access.save_credentials

        async def on_refresh(new: jira.OAuthTokens) -> None:
            fresh.remember(new.refresh_token)
            if save is not None:
                await save(new.model_dump(mode="json"))
            self.forget(cache_key)  # what was read holds the old tokens

        fresh = _OAuthEntry(jira.OAuthAuth(self.oauth_app, tokens, on_refresh))
        fresh.remember(tokens.refresh_token)
        self._oauth[cache_key] = fresh
        return base, fresh.auth

    @contextlib.asynccontextmanager
    async def client(
        self, site_id: str, *, workspace_id: str | None = None, disconnected: bool = False
    ) -> AsyncIterator[jira.JiraClient]:
        """A client for a connected site (of `workspace_id`, when given); `SiteUnavailable` otherwise.
        `disconnected`: also for a site being disconnected whose credentials are still kept (to
        delete the admin webhook jirabridge registered)."""
        site = await self._load_site(site_id, workspace_id, disconnected=disconnected)
        base, auth = self._auth(site)
        http = self._acquire_http(site)
        try:
            yield jira.JiraClient(base, auth, pacer=self._site_pacer(site), http=http)
        finally:
            await self._release_http()

    @contextlib.asynccontextmanager
    async def client_as_user(
        self, site_id: str, user_id: str, *, workspace_id: str | None = None
    ) -> AsyncIterator[jira.JiraClient]:
        """A client calling the site as host user `user_id` (their own Jira identity), so what it
        writes is authored by them. `SiteUnavailable` when the site is not connected,
        `UserNotConnected` when the user has no connection on it."""
        site = await self._load_site(site_id, workspace_id)
        read = self._user_reads.get((site_id, user_id))
        if read is not None and time.monotonic() - read.read_at <= SITE_FRESH_S:
            connection = read.connection
        else:

            def load(uow: UnitOfWork) -> UserConnection | None:
                return find_connection(uow, site.workspace_id, site.id, user_id)

            connection = await read_db(self.services, load)
        if connection is None:
            raise UserNotConnected(site_id, user_id)
        base, auth = self._access_auth(f"user:{connection.id}", self._user_access_of(site, connection))
        http = self._acquire_http(site)
        try:
            yield jira.JiraClient(base, auth, pacer=self._site_pacer(site), http=http)
        finally:
            await self._release_http()

    def _user_access_of(self, site: Site, connection: UserConnection) -> SiteAccess:
        """The connection's decrypted access: decrypted once per stored value, not once per call."""
        source = (connection.credentials, connection.auth_type, site.url, site.cloud_id)
        cached = self._user_access.get(connection.id)
        if cached is not None and cached[0] == source:
            return cached[1]
        access = user_access(self.services, site, connection)
        self._user_access[connection.id] = (source, access)
        return access

    async def done_statuses(self, site_id: str, client: jira.JiraClient, now: datetime) -> frozenset[str]:
        """Names of the site's statuses in the done category (status names are site-wide in Jira),
        cached for a few minutes: grouped tickets need them on every sync."""
        cached = self._done_statuses.get(site_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        statuses = await client.metadata.statuses()
        names = frozenset(
            s.name for s in statuses if s.status_category is not None and s.status_category.key == "done"
        )
        self._done_statuses[site_id] = (now + STATUS_CACHE_TTL, names)
        return names
