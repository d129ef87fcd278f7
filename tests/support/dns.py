"""A fake DNS for the outbound guard (`build(..., resolver=...)`): no test asks the real one."""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import ip_address

from jirabridge.domain.outbound import IPAddress
from jirabridge.service.core.ports import ResolveFailed

# A globally routable address (IANA's example.com once lived there); nothing connects to it in tests.
PUBLIC = "93.184.215.14"


@dataclass
class FakeResolver:
    """Names in `answers` resolve to their addresses, any other name to `default` (a public address;
    None: it does not resolve). Change `answers` during a test to play DNS rebinding."""

    answers: dict[str, list[str]] = field(default_factory=dict)
    default: list[str] | None = field(default_factory=lambda: [PUBLIC])
    asked: list[str] = field(default_factory=list)

    def resolve(self, host: str, port: int) -> list[IPAddress]:
        name = host.lower().rstrip(".")
        self.asked.append(name)
        found = self.answers.get(name, self.default)
        if found is None:
            raise ResolveFailed(f"{name} does not resolve")
        return [ip_address(a) for a in found]
