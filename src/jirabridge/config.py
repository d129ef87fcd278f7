"""Configuration from the environment (`JIRABRIDGE_*`), documented in docs/configuration.md."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from jirabridge.domain.outbound import OutboundPolicy


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="JIRABRIDGE_", extra="ignore")

    database_url: str = "sqlite:///jirabridge.db"
    # PostgreSQL: where a serve process LISTENs for settled tickets (storage/link_watch.py). Unset: the
    # database URL. Behind a transaction-pooling PgBouncer a LISTEN does not hear the notifications
    # (each transaction may get another server connection): give a direct URL to PostgreSQL here, or
    # `none` to re-read the link at a growing interval instead.
    database_listen_url: SecretStr | None = None
    # Fernet keys, comma separated: the first encrypts, all decrypt (rotation: put the new key first,
    # then run `jirabridge rotate-secrets`). Generate one with `jirabridge generate-secret-key`.
    secret_key: SecretStr | None = None
    service_token: SecretStr | None = None
    public_url: str = "http://127.0.0.1:8000"
    # Extra Jira hosts allowed as sites besides https://*.atlassian.net (e.g. the emulator on loopback:
    # "127.0.0.1:8080"). Entries are host or host:port; http is allowed only for these.
    allowed_jira_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Destinations the service may call on a tenant's behalf although they are not public addresses,
    # or over plain http (domain/outbound.py): `host`, `host:port` or CIDR entries, comma separated.
    # Every host of `allowed_jira_hosts` and of the Atlassian URLs below is allowed too.
    allowed_outbound: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Where OAuth goes; tests and the demo point these at the emulator.
    atlassian_auth_url: str = "https://auth.atlassian.com"
    atlassian_api_url: str = "https://api.atlassian.com"
    oauth_client_id: str | None = None
    oauth_client_secret: SecretStr | None = None
    jira_timeout_s: float = 10.0
    # How long a serve process trusts an API key it verified without reading it again (0: every
    # request reads it). A key revoked through another serve process stops working here within this.
    api_key_cache_s: float = Field(default=10.0, ge=0)
    # How long `POST …/tickets` waits for the worker to create the issue before answering 202.
    ticket_wait_s: float = 5.0
    # The most requests per second Jira sees from a worker for one site, shared by all its jobs: the
    # site's limit or a share of it (Jira Cloud allows bursts of about 100/s per tenant and endpoint;
    # staying well under it leaves room for others). The pacer keeps a margin (jira/_pacing.py).
    jira_rate_per_site: float = Field(default=20.0, gt=0)
    # Connections a worker keeps to each Jira site (a pool per site): enough for its calls in flight (a
    # site paced at 50/s answering in 250 ms keeps about 13 busy). httpcore checks every pooled connection on
    # each request, so a pool far larger than needed costs CPU (docs/performance.md).
    jira_max_connections: int = Field(default=32, gt=0)
    # What carries the worker's Jira calls: aiohttp's connection pool under httpx's API (11–19 %
    # less worker CPU per change: adapters/aiohttp_network.py), or httpx's own (httpcore).
    jira_http: Literal["aiohttp", "httpcore"] = "aiohttp"
    # A job whose site is paused longer than this (a quota 429, a 503 with Retry-After, the hourly points
    # quota spent) goes back to the queue until the pause ends instead of holding one of the worker's
    # slots: a site out of quota for an hour must not starve the others.
    jira_max_pause_wait_s: float = Field(default=5.0, ge=0)
    # A create whose answer was lost is looked for (by its marker label) before it is sent again; Jira's
    # search index lags, so for this many seconds after the last try "not found" means "wait", not
    # "create again".
    create_verify_grace_s: float = Field(default=30.0, ge=0)
    # Operations that finished successfully are deleted by the workers after this many days (failed
    # ones stay, for the failures API).
    keep_done_operations_days: float = Field(default=7.0, gt=0)
    # How often each site's worklog change feeds are read for worklogs edited or deleted by hand.
    worklog_drift_interval_s: float = Field(default=300.0, gt=0)

    @field_validator("allowed_jira_hosts", "allowed_outbound", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip().lower() for part in value.split(",") if part.strip()]
        return value

    @field_validator("allowed_outbound")
    @classmethod
    def _allow_list(cls, value: list[str]) -> list[str]:
        OutboundPolicy.from_entries(value)  # a bad entry stops the start, naming it
        return value

    def listen_url(self) -> str | None:
        """Where to LISTEN (`database_listen_url`, secret); None: the database URL."""
        listen = self.database_listen_url
        return listen.get_secret_value() if listen is not None else None
