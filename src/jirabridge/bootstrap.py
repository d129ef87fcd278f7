"""The composition root: builds everything from `Settings`. Nothing is created at import time."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

import httpx

from jirabridge import telemetry
from jirabridge.clock import Clock, SystemClock
from jirabridge.config import Settings
from jirabridge.secrets_box import SecretBox
from jirabridge.service.core.outbound import OutboundGuard, outbound_guard
from jirabridge.service.core.ports import JiraConnector, LinkWatch, Resolver
from jirabridge.service.core.unit_of_work import UnitOfWork
from jirabridge.service.sites.metadata import MetadataCache
from jirabridge.service.workspaces.workspaces import KeyCache
from jirabridge.storage.db import Engine, Sessions, make_engine, session_factory
from jirabridge.storage.link_watch import PollingLinkWatch, link_watch_for

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

    from jirabridge.adapters.jira_pool import JiraPool
    from jirabridge.domain.outcomes import Handler
    from jirabridge.workers.registry import Registry


@dataclass
class Container:
    settings: Settings
    engine: Engine
    sessions: Sessions
    connector: JiraConnector
    # Where the service may send requests on a tenant's behalf (service/core/outbound.py).
    outbound: OutboundGuard
    clock: Clock = field(default_factory=SystemClock)
    _box: SecretBox | None = None
    metadata_cache: MetadataCache = field(default_factory=MetadataCache)
    # Replaces the network for every Jira call when set (tests: the emulator in-process).
    jira_transport: httpx.AsyncBaseTransport | None = None
    # Tracing (jirabridge/telemetry.py); None: off.
    tracer_provider: TracerProvider | None = None
    # Wakes a ticket request when the worker has created its issue (LISTEN on PostgreSQL).
    link_watch: LinkWatch = field(default_factory=PollingLinkWatch)
    # API keys this process verified recently (service/workspaces/workspaces.py); `build` sets its lifetime.
    key_cache: KeyCache = field(default_factory=lambda: KeyCache(timedelta(0)))
    _pool: JiraPool | None = None

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.sessions)

    @property
    def secrets(self) -> SecretBox:
        """Built on first use, so commands that store no secret run without a key."""
        if self._box is None:
            key = self.settings.secret_key.get_secret_value() if self.settings.secret_key else None
            self._box = SecretBox(key)
        return self._box

    @property
    def jira_pool(self) -> JiraPool:
        """The workers' one Jira pool (per-site pacing, one connection pool, cached site access), built
        on first use: a process that runs no handler never builds it."""
        if self._pool is None:
            from jirabridge.adapters.jira_pool import JiraPool

            self._pool = JiraPool(self, transport=self.jira_transport, tracer_provider=self.tracer_provider)
        return self._pool

    def close(self) -> None:
        self.engine.dispose()
        if self.tracer_provider is not None:
            self.tracer_provider.shutdown()  # sends the spans still batched


def build(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    jira_transport: httpx.AsyncBaseTransport | None = None,
    resolver: Resolver | None = None,
    tracer_provider: TracerProvider | None = None,
    service_name: str | None = None,
) -> Container:
    """`jira_transport` replaces the network for every Jira call (tests: the emulator in-process);
    `resolver` replaces DNS for the outbound guard (tests: a fake one); `tracer_provider` turns
    tracing on, else, for a `service_name` (serve, worker), the environment decides (telemetry.py)."""
    from jirabridge.adapters.jira_connector import HttpJiraConnector
    from jirabridge.adapters.resolver import SystemResolver

    settings = settings or Settings()
    engine = make_engine(settings.database_url)
    if tracer_provider is None and service_name is not None:
        tracer_provider = telemetry.provider_from_env(service_name)
        # SQL statements too; not with a given provider: SQLAlchemy's instrumentor is one per process
        # and wraps `create_engine` for good (tests build many containers).
        telemetry.instrument_engine(engine, tracer_provider)
    outbound = outbound_guard(settings, resolver or SystemResolver())
    connector = HttpJiraConnector(settings, outbound, transport=jira_transport)
    return Container(
        settings,
        engine,
        session_factory(engine),
        connector,
        outbound,
        clock or SystemClock(),
        jira_transport=jira_transport,
        tracer_provider=tracer_provider,
        link_watch=link_watch_for(settings.database_url, settings.listen_url()),
        key_cache=KeyCache(timedelta(seconds=settings.api_key_cache_s)),
    )


def handlers(container: Container, registry: Registry | None = None) -> dict[str, Handler]:
    """Every handler of `registry` (default: the built-in kinds, `workers.handlers.BUILTIN`), built
    with the container and its one Jira pool: what a worker runs."""
    from jirabridge.workers.handlers import builtin_registry

    return (registry or builtin_registry()).build(container, container.jira_pool)
