"""The outbound guard's rules: which destinations a tenant's URL may reach, and the operator's
allow-list. DNS is a fake resolver passed in."""

from __future__ import annotations

import pytest

from jirabridge.config import Settings
from jirabridge.domain.outbound import OutboundPolicy, OutboundRefused
from jirabridge.service.core.outbound import OutboundGuard, outbound_guard
from support.dns import PUBLIC, FakeResolver


def guard(*allowed: str, resolver: FakeResolver | None = None) -> OutboundGuard:
    return OutboundGuard(OutboundPolicy.from_entries(allowed), resolver or FakeResolver())


def refusal(url: str, g: OutboundGuard | None = None) -> str:
    with pytest.raises(OutboundRefused) as refused:
        (g or guard()).check_url(url)
    return refused.value.reason


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("https://127.0.0.1/", "127.0.0.1 is a loopback address"),
        ("https://127.8.9.10/", "a loopback address"),
        ("https://[::1]/", "::1 is a loopback address"),
        ("https://169.254.169.254/latest/meta-data", "169.254.169.254 is a link-local address"),
        ("https://10.1.2.3/", "a private address"),
        ("https://172.16.0.1/", "a private address"),
        ("https://172.31.255.254/", "a private address"),
        ("https://192.168.1.1/", "a private address"),
        ("https://[fc00::1]/", "a unique-local address"),
        ("https://[fd12:3456::1]/", "a unique-local address"),
        ("https://[fe80::1]/", "a link-local address"),
        ("https://[fec0::1]/", "a site-local address"),
        ("https://224.0.0.1/", "a multicast address"),
        ("https://239.255.255.250/", "a multicast address"),
        ("https://[ff02::1]/", "a multicast address"),
        ("https://0.0.0.0/", "the unspecified address"),
        ("https://[::]/", "the unspecified address"),
        ("https://240.0.0.1/", "a reserved address"),
        ("https://255.255.255.255/", "a reserved address"),
        ("https://100.64.0.1/", "not a public address"),
        ("https://[::ffff:127.0.0.1]/", "an IPv4-mapped address of 127.0.0.1, a loopback address"),
        ("https://[::ffff:169.254.169.254]/", "IPv4-mapped address of 169.254.169.254, a link-local"),
        ("https://[::127.0.0.1]/", "an IPv4-compatible address of 127.0.0.1, a loopback address"),
        ("https://[2002:7f00:1::]/", "a 6to4 address of 127.0.0.1, a loopback address"),
        ("https://[2002:a00:1::]/", "a 6to4 address of 10.0.0.1, a private address"),
        ("https://[64:ff9b::7f00:1]/", "a NAT64 address of 127.0.0.1, a loopback address"),
        ("https://[64:ff9b:1::1]/", "a local-use NAT64 address"),
        ("https://[2001::80ff:fffe]/", "a Teredo address of 127.0.0.1, a loopback address"),
        ("http://2130706433/", "2130706433 is 127.0.0.1, a loopback address"),
        ("http://0177.0.0.1/", "0177.0.0.1 is 127.0.0.1, a loopback address"),
        ("http://0x7f.0.0.1/", "0x7f.0.0.1 is 127.0.0.1, a loopback address"),
        ("http://127.1/", "127.1 is 127.0.0.1, a loopback address"),
        ("http://0xa9fea9fe/", "0xa9fea9fe is 169.254.169.254, a link-local address"),
    ],
)
def test_internal_addresses_are_refused_naming_the_address_and_the_setting(url: str, says: str) -> None:
    reason = refusal(url)
    assert says in reason
    assert reason.endswith("allow it with JIRABRIDGE_ALLOWED_OUTBOUND")


def test_a_name_resolving_to_loopback_is_refused() -> None:
    resolver = FakeResolver({"hook.example": ["127.0.0.1"]})
    assert refusal("https://hook.example/events", guard(resolver=resolver)) == (
        "hook.example resolves to 127.0.0.1, a loopback address; allow it with JIRABRIDGE_ALLOWED_OUTBOUND"
    )
    assert refusal("https://localhost./", guard(resolver=FakeResolver({"localhost": ["::1"]}))).startswith(
        "localhost. resolves to ::1, a loopback address"
    )


def test_one_internal_address_among_public_ones_is_enough_to_refuse() -> None:
    resolver = FakeResolver({"mixed.example": [PUBLIC, "10.0.0.7"]})
    assert "resolves to 10.0.0.7, a private address" in refusal(
        "https://mixed.example/", guard(resolver=resolver)
    )


def test_public_destinations_pass_and_give_the_addresses_to_connect_to() -> None:
    g = guard(resolver=FakeResolver({"hook.example": [PUBLIC, "2606:4700::1111"]}))
    g.check_url("https://hook.example/events")
    g.check_url("https://8.8.8.8/")
    g.check_url("https://[::ffff:8.8.8.8]/")  # the public IPv4 address it carries
    g.check_url("https://[64:ff9b::808:808]/")  # what DNS64 answers on an IPv6-only network
    assert [str(a) for a in g.destination("hook.example", 443) or []] == [PUBLIC, "2606:4700::1111"]


def test_a_name_that_does_not_resolve_is_refused() -> None:
    assert refusal("https://nowhere.example/", guard(resolver=FakeResolver(default=None))) == (
        "nowhere.example does not resolve"
    )


def test_only_https_unless_the_operator_allows_http() -> None:
    assert refusal("http://hook.example/").startswith("must use https")
    assert refusal("ftp://hook.example/") == "must be an https URL"
    guard("hook.example").check_url("http://hook.example/")
    guard("hook.example:8080").check_url("http://hook.example:8080/")
    assert refusal("http://hook.example:9090/", guard("hook.example:8080")).startswith("must use https")
    # A network allows http to the names whose every address lies in it.
    resolver = FakeResolver({"hook.internal": ["10.20.0.5"]})
    guard("10.20.0.0/16", resolver=resolver).check_url("http://hook.internal/")


def test_the_allow_list_lets_the_emulator_through_and_nothing_else() -> None:
    g = guard("127.0.0.1:8080")
    g.check_url("http://127.0.0.1:8080/sites/acme")
    assert "a loopback address" in refusal("http://127.0.0.1:8081/", g)
    assert "a loopback address" in refusal("https://127.0.0.2:8080/", g)
    # A bare address is a host entry and a one-address network: a name resolving to it passes too.
    resolver = FakeResolver({"emulator.local": ["127.0.0.1"]})
    guard("127.0.0.1", resolver=resolver).check_url("http://emulator.local:8080/")
    # A network entry.
    resolver = FakeResolver({"jira.corp": ["10.1.2.3"], "db.corp": ["10.9.9.9"]})
    corp = guard("10.1.0.0/16", resolver=resolver)
    corp.check_url("https://jira.corp/")
    assert "db.corp resolves to 10.9.9.9, a private address" in refusal("https://db.corp/", corp)
    # A name allowed by name is called as named: DNS is not asked at all.
    named = guard("jira.internal", resolver=FakeResolver(default=None))
    named.check_url("https://jira.internal/")
    assert named.destination("jira.internal", 443) is None


def test_settings_unify_the_allow_lists() -> None:
    settings = Settings(
        allowed_jira_hosts=["127.0.0.1:8080"],
        allowed_outbound=["hooks.corp", "10.0.0.0/8"],
        atlassian_auth_url="http://127.0.0.1:9000",
    )
    g = outbound_guard(settings, FakeResolver(default=None))
    for url in ("http://127.0.0.1:8080/", "http://hooks.corp/", "http://10.1.1.1/", "http://127.0.0.1:9000/"):
        g.check_url(url)
    assert "a loopback address" in refusal("http://127.0.0.1:22/", g)


@pytest.mark.parametrize("entry", ["10.0.0.0/33", "host:0", "host:http", "[::1]:99999", "::1/200"])
def test_a_bad_allow_list_entry_stops_the_start_naming_it(entry: str) -> None:
    with pytest.raises(ValueError, match="allowed_outbound"):
        Settings(allowed_outbound=[entry])
