"""The system's DNS (`getaddrinfo`), as the outbound guard's `Resolver`."""

from __future__ import annotations

import socket
from ipaddress import ip_address

from jirabridge.domain.outbound import IPAddress
from jirabridge.service.core.ports import ResolveFailed


class SystemResolver:
    def resolve(self, host: str, port: int) -> list[IPAddress]:
        try:
            found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise ResolveFailed(f"{host} does not resolve ({exc})") from None
        addresses: list[IPAddress] = []
        for *_, sockaddr in found:
            ip = ip_address(str(sockaddr[0]).split("%", 1)[0])
            if ip not in addresses:
                addresses.append(ip)
        if not addresses:
            raise ResolveFailed(f"{host} does not resolve")
        return addresses
