"""Where the service may send a request on a tenant's behalf: the rules against server-side request
forgery, as pure decisions (the DNS look-up and the connection are service/core/outbound.py and
adapters/outbound_http.py).

A tenant gives the service URLs that it then calls: the callback URL (the worker POSTs signed events
there) and a Jira site's base URL (API-token connections). Without rules a tenant could make the
service call what only it can reach: itself on loopback, the cloud's metadata service on
169.254.169.254, a database on a private network. So a destination is refused when an address it
resolves to is any of

    unspecified (0.0.0.0, ::)         loopback (127/8, ::1)           link-local (169.254/16, fe80::/10)
    multicast (224/4, ff00::/8)       unique-local (fc00::/7)         site-local (fec0::/10)
    reserved (240/4, 255.255.255.255, …)   private (10/8, 172.16/12, 192.168/16, 192.0.2/24, …)
    any other address that is not globally reachable (100.64/10, 198.18/15, …)

and an IPv6 address that carries an IPv4 address — IPv4-mapped (`::ffff:127.0.0.1`), IPv4-compatible
(`::127.0.0.1`), 6to4 (`2002::/16`), NAT64 (`64:ff9b::/96`, `64:ff9b:1::/48`) or Teredo — is judged by the
IPv4 address it carries. A host written as a number in another form than four decimal parts
(`2130706433`, `0177.0.0.1`, `0x7f.1`) is read the way the C library's `inet_aton` reads it — as the
connection would — and so is refused when that address is.

Plain `http` is refused too: only `https`, unless the operator allows the destination.

The operator's allow-list (`JIRABRIDGE_ALLOWED_OUTBOUND`, plus every host of
`JIRABRIDGE_ALLOWED_JIRA_HOSTS` and of the configured Atlassian endpoints) holds

    host          e.g. `jira.internal`: that name, any port, any address it resolves to, http allowed
    host:port     e.g. `127.0.0.1:8080`: only that port
    CIDR          e.g. `10.20.0.0/16`, `127.0.0.1/32`: any name whose addresses all fall in it, http allowed

A bare IP address (`127.0.0.1`) is both a host entry and a one-address network.

Written on the standard library's `ipaddress`: its `is_global` alone lets through multicast, site-local
and the IPv4-carrying IPv6 forms on Python 3.11, and the SSRF libraries on PyPI either cannot be
overridden by an operator's allow-list, resolve names through a public DNS service, or wrap only GET.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network

ALLOW_SETTING = "JIRABRIDGE_ALLOWED_OUTBOUND"

_UNIQUE_LOCAL = IPv6Network("fc00::/7")
_NAT64 = IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = IPv6Network("64:ff9b:1::/48")
_IPV4_COMPATIBLE = IPv6Network("::/96")
# inet_aton's forms: 1 to 4 parts, each decimal, octal (leading 0) or hexadecimal (0x).
_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}\.?$", re.IGNORECASE)


class OutboundRefused(Exception):
    """The service must not send this request; `reason` says why in words for the person who chose
    the URL (e.g. "hook.example resolves to 127.0.0.1, a loopback address; allow it with …")."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _inet_aton(host: str) -> IPv4Address | None:
    """The IPv4 address a numeric host means to the C resolver, or None when it is not one."""
    if not _NUMERIC_HOST.match(host):
        return None
    parts = []
    for part in host.rstrip(".").split("."):
        if part[:2].lower() == "0x":
            parts.append(int(part[2:] or "0", 16))
        elif len(part) > 1 and part.startswith("0"):
            if not set(part) <= set("01234567"):
                return None
            parts.append(int(part, 8))
        else:
            parts.append(int(part))
    *front, last = parts
    if any(p > 255 for p in front) or last >= 256 ** (4 - len(front)):
        return None
    value = last
    for i, p in enumerate(front):
        value += p << (8 * (3 - i))
    return IPv4Address(value)


def literal_address(host: str) -> IPAddress | None:
    """The address a URL's host names without DNS (`[::1]`, `127.0.0.1`, `2130706433`), else None."""
    bare = host.strip("[]")
    try:
        return ip_address(bare.split("%", 1)[0])
    except ValueError:
        return _inet_aton(bare)


def _carried_ipv4(ip: IPv6Address) -> tuple[str, IPv4Address] | None:
    if ip.ipv4_mapped is not None:
        return "an IPv4-mapped address", ip.ipv4_mapped
    if ip.sixtofour is not None:
        return "a 6to4 address", ip.sixtofour
    if ip.teredo is not None:
        return "a Teredo address", ip.teredo[1]
    if ip in _NAT64:
        return "a NAT64 address", IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _IPV4_COMPATIBLE and int(ip) > 1:  # not :: nor ::1
        return "an IPv4-compatible address", IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_kind(ip: IPAddress) -> str | None:
    """What makes `ip` no place for a tenant's request ("a loopback address", …), or None when it is
    a public address."""
    if isinstance(ip, IPv6Address):
        carried = _carried_ipv4(ip)
        if carried is not None:
            form, v4 = carried
            inner = address_kind(v4)
            return f"{form} of {v4}, {inner}" if inner else None
        if ip in _NAT64_LOCAL:
            return "a local-use NAT64 address"
    checks: list[tuple[bool, str]] = [
        (ip.is_unspecified, "the unspecified address"),
        (ip.is_loopback, "a loopback address"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_multicast, "a multicast address"),
        (isinstance(ip, IPv6Address) and ip in _UNIQUE_LOCAL, "a unique-local address"),
        (isinstance(ip, IPv6Address) and ip.is_site_local, "a site-local address"),
        (ip.is_reserved, "a reserved address"),
        (ip.is_private, "a private address"),
        (not ip.is_global, "not a public address"),
    ]
    return next((kind for refused, kind in checks if refused), None)


@dataclass(frozen=True)
class OutboundPolicy:
    """The operator's allowances: host names (`host` or `host:port`, lower case) and networks."""

    names: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = field(default_factory=tuple)

    @classmethod
    def from_entries(cls, entries: Iterable[str]) -> OutboundPolicy:
        """Reads allow-list entries; ValueError naming a bad one."""
        names: set[str] = set()
        networks: list[IPNetwork] = []
        for raw in entries:
            entry = raw.strip().lower()
            if not entry:
                continue
            if "/" in entry:
                try:
                    networks.append(ip_network(entry, strict=False))
                except ValueError:
                    raise ValueError(f"{raw!r} is not a network such as 10.0.0.0/8") from None
                continue
            host, port = _split_host_port(entry)
            if not host or port == 0:
                raise ValueError(f"{raw!r} is not a host, host:port or CIDR network")
            names.add(_name(host, port))
            literal = literal_address(host)
            if literal is not None and port is None:
                networks.append(ip_network(literal))
        return cls(frozenset(names), tuple(networks))

    def allows_name(self, host: str, port: int) -> bool:
        """The operator listed this host (any port) or this host and port: it is called as named."""
        bare = host.lower().strip("[]").rstrip(".")
        return bare in self.names or _name(bare, port) in self.names

    def allows_address(self, ip: IPAddress) -> bool:
        return any(ip in network for network in self.networks if network.version == ip.version)

    def address_refusal(self, host: str, ip: IPAddress) -> str | None:
        """Why connecting to `ip` (which `host` resolved to) is refused, or None."""
        if self.allows_address(ip):
            return None
        kind = address_kind(ip)
        if kind is None:
            return None
        if literal_address(host) is None:
            said = f"{host} resolves to {ip}, {kind}"
        else:
            said = f"{host} is {kind}" if _standard_literal(host) else f"{host} is {ip}, {kind}"
        return f"{said}; allow it with {ALLOW_SETTING}"

    def scheme_refusal(self, scheme: str, host: str, port: int, addresses: Sequence[IPAddress]) -> str | None:
        """Why this scheme is refused for the destination, or None. `addresses` are those checked
        (empty when the host is allowed by name)."""
        if scheme == "https":
            return None
        if scheme != "http":
            return "must be an https URL"
        if self.allows_name(host, port) or (addresses and all(self.allows_address(a) for a in addresses)):
            return None
        return f"must use https (plain http only to hosts allowed with {ALLOW_SETTING})"


def _standard_literal(host: str) -> bool:
    try:
        ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    return True


def _name(host: str, port: int | None) -> str:
    if port is None:
        return host
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _split_host_port(entry: str) -> tuple[str, int | None]:
    """`host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 address; port 0 when it is not a valid
    port."""
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        port = rest.removeprefix(":") if rest else None
    elif entry.count(":") == 1:
        host, port = entry.split(":")
    else:
        host, port = entry, None
    if port is None:
        return host, None
    return host, int(port) if port.isdigit() and 0 < int(port) < 65536 else 0
