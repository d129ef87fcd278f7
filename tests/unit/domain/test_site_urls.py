"""Which site URLs may be connected."""

from __future__ import annotations

import pytest

from jirabridge.domain.site_urls import SiteUrlError, host_allowed, normalise_site_url, site_address

ALLOWED = ["127.0.0.1:8080", "jira.internal"]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://acme.atlassian.net", "https://acme.atlassian.net"),
        ("https://Acme.Atlassian.NET/", "https://acme.atlassian.net"),
        ("https://legacy.jira.com", "https://legacy.jira.com"),
        ("http://127.0.0.1:8080/sites/acme/", "http://127.0.0.1:8080/sites/acme"),
        ("https://jira.internal", "https://jira.internal"),
    ],
)
def test_accepted_urls_are_normalised(url: str, expected: str) -> None:
    assert normalise_site_url(url, ALLOWED) == expected


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("acme.atlassian.net", "absolute"),
        ("ftp://acme.atlassian.net", "absolute"),
        ("http://acme.atlassian.net", "https"),
        ("https://acme.atlassian.net:8443", "port"),
        ("https://acme.atlassian.net/jira", "without a path"),
        ("https://evil.example.com", "JIRABRIDGE_ALLOWED_JIRA_HOSTS"),
        ("https://atlassian.net.evil.example", "JIRABRIDGE_ALLOWED_JIRA_HOSTS"),
        ("https://user:pw@acme.atlassian.net", "credentials"),
        ("https://acme.atlassian.net/?x=1", "query"),
        ("http://127.0.0.1:9999", "JIRABRIDGE_ALLOWED_JIRA_HOSTS"),
        ("http://[::1", "valid URL"),
    ],
)
def test_refused_urls_say_why(url: str, reason: str) -> None:
    with pytest.raises(SiteUrlError) as refused:
        normalise_site_url(url, ALLOWED)
    assert reason in refused.value.message


def test_request_urls_are_checked_against_the_same_rules() -> None:
    assert host_allowed("http://127.0.0.1:8080/sites/acme/rest/api/3/myself", ALLOWED)
    assert not host_allowed("http://169.254.169.254/latest/meta-data", ALLOWED)


def test_a_sites_address_folds_case_and_a_trailing_slash() -> None:
    # The key the workers' pacers and the site leases group connections by.
    assert site_address("https://acme.atlassian.net") == site_address("https://ACME.atlassian.net/")
    assert site_address("http://127.0.0.1:8080/sites/Acme") == site_address(
        "http://127.0.0.1:8080/sites/acme/"
    )
    assert site_address("https://acme.atlassian.net") != site_address("https://beta.atlassian.net")
