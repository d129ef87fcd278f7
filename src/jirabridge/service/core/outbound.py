"""The one guard for every request the service makes on a tenant's behalf (the rules are in
domain/outbound.py; docs/configuration.md#outbound-requests says them for operators).

    guard = outbound_guard(settings, resolver)
    guard.check_url("https://hook.example/x")   # when a URL is saved: OutboundRefused, or nothing
    guard.destination("hook.example", 443)      # when connecting: the addresses to connect to

A URL is checked when it is saved (`refuse(...)` turns a refusal into a 422 naming the field), and
again each time a connection is opened (adapters/outbound_http.py) against the addresses DNS gives at
that moment; the connection then goes to one of the addresses just checked, never to a fresh look-up,
so a name that resolved to a public address when saved and resolves to 127.0.0.1 later (DNS
rebinding) is refused. Redirects are never followed.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urlsplit

from jirabridge.config import Settings
from jirabridge.domain.outbound import IPAddress, OutboundPolicy, OutboundRefused, literal_address
from jirabridge.errors import Invalid
from jirabridge.service.core.ports import ResolveFailed, Resolver

DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class OutboundGuard:
    policy: OutboundPolicy
    resolver: Resolver

    def destination(self, host: str, port: int) -> list[IPAddress] | None:
        """The addresses to connect to for `host:port`, each one allowed; None when the operator
        allows the host by name (it is connected to as named). OutboundRefused when an address is
        refused (any of them: a name must not mix public and internal addresses); ResolveFailed when
        the name has no address."""
        if self.policy.allows_name(host, port):
            return None
        addresses = self.addresses(host, port)
        for ip in addresses:
            reason = self.policy.address_refusal(host, ip)
            if reason is not None:
                raise OutboundRefused(reason)
        return addresses

    def addresses(self, host: str, port: int) -> list[IPAddress]:
        literal = literal_address(host)
        return [literal] if literal is not None else self.resolver.resolve(host, port)

    def needs_lookup(self, host: str, port: int) -> bool:
        """Whether `destination` asks DNS (callers in an event loop then run it on a thread)."""
        return not self.policy.allows_name(host, port) and literal_address(host) is None

    async def destination_soon(self, host: str, port: int) -> list[IPAddress] | None:
        """`destination` from an event loop: on a thread when it asks DNS, at once when it does not."""
        if self.needs_lookup(host, port):
            return await asyncio.to_thread(self.destination, host, port)
        return self.destination(host, port)

    def scheme_refusal(
        self, scheme: str, host: str, port: int, addresses: list[IPAddress] | None
    ) -> str | None:
        return self.policy.scheme_refusal(scheme, host, port, addresses or [])

    def check_url(self, url: str) -> None:
        """OutboundRefused saying why the service must not call `url`, or nothing."""
        try:
            parts = urlsplit(url)
            host, scheme = parts.hostname, parts.scheme.lower()
            port = parts.port or DEFAULT_PORTS.get(scheme, 0)
        except ValueError:
            raise OutboundRefused("is not a valid URL") from None
        if not host:
            raise OutboundRefused("must name a host")
        if scheme not in DEFAULT_PORTS:
            raise OutboundRefused("must be an https URL")
        try:
            addresses = self.destination(host, port)
        except ResolveFailed as exc:
            raise OutboundRefused(str(exc)) from None
        reason = self.scheme_refusal(scheme, host, port, addresses)
        if reason is not None:
            raise OutboundRefused(reason)


def outbound_guard(settings: Settings, resolver: Resolver) -> OutboundGuard:
    """The operator's allow-list: `allowed_outbound`, the Jira hosts allowed as sites (the emulator),
    and the Atlassian endpoints the operator configured (tests and the demo point them at it)."""
    configured = [settings.atlassian_auth_url, settings.atlassian_api_url]
    endpoints = [urlsplit(url).netloc.lower() for url in configured if urlsplit(url).netloc]
    entries = [*settings.allowed_outbound, *settings.allowed_jira_hosts, *endpoints]
    return OutboundGuard(OutboundPolicy.from_entries(entries), resolver)


def refuse(guard: OutboundGuard, field: str, url: str) -> None:
    """Invalid (422) naming `field` when the service must not call `url`. Looks the name up in DNS:
    call it off the event loop."""
    try:
        guard.check_url(url)
    except OutboundRefused as exc:
        raise Invalid.field(field, exc.reason) from None


async def refuse_soon(guard: OutboundGuard, field: str, url: str) -> None:
    """`refuse` from the event loop (the look-up runs on a worker thread)."""
    await asyncio.to_thread(refuse, guard, field, url)
