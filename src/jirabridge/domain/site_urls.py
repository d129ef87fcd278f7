"""Which Jira site URLs may be connected (SPEC section 4, "Secrets"; no request to a host not allowed).

Jira Cloud sites live on `https://NAME.atlassian.net` (and the older `NAME.jira.com`). Anything else —
the emulator on loopback, a proxy — must be listed in `JIRABRIDGE_ALLOWED_JIRA_HOSTS` as `host` or
`host:port`; only those may use plain http or carry a path prefix (the emulator's `/sites/NAME`).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

ATLASSIAN_SUFFIXES = (".atlassian.net", ".jira.com")


@dataclass(frozen=True)
class SiteUrlError(Exception):
    message: str


def normalise_site_url(url: str, allowed_hosts: list[str]) -> str:
    """The site's base URL without a trailing slash, or SiteUrlError saying why it is refused."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise SiteUrlError("is not a valid URL") from None
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        raise SiteUrlError("must be an absolute http(s) URL such as https://acme.atlassian.net")
    if parts.username or parts.password:
        raise SiteUrlError("must not contain credentials")
    if parts.query or parts.fragment:
        raise SiteUrlError("must not have a query or fragment")
    netloc = f"{host}:{port}" if port else host
    allowed = host in allowed_hosts or netloc in allowed_hosts
    if not allowed:
        if not host.endswith(ATLASSIAN_SUFFIXES) or host.startswith("."):
            raise SiteUrlError(
                f"host {host} is not a Jira Cloud site (*.atlassian.net); "
                "other hosts must be listed in JIRABRIDGE_ALLOWED_JIRA_HOSTS"
            )
        if parts.scheme != "https":
            raise SiteUrlError("must use https")
        if port not in (None, 443):
            raise SiteUrlError("must not name a port")
        if parts.path.strip("/"):
            raise SiteUrlError("must be the site's address without a path, e.g. https://acme.atlassian.net")
        return f"https://{host}"
    path = parts.path.rstrip("/")
    return f"{parts.scheme}://{netloc}{path}"


def site_address(url: str) -> str:
    """The Jira site a connected site's URL addresses, as one key: two connections of one Jira site
    (two workspaces, or one connected again) have the same. A worker paces each address as one site
    (adapters/jira_pool.py) and the site leases give all the connections of an address to one worker
    (storage/leases.py), so both group by this. Stored URLs are already normalised
    (`normalise_site_url`); this also folds a trailing slash and the case of the path."""
    return url.rstrip("/").lower()


def host_allowed(url: str, allowed_hosts: list[str]) -> bool:
    """True when a request to `url` is allowed (used again right before any request is sent)."""
    try:
        normalise_site_url(url.split("/rest/", 1)[0], allowed_hosts)
    except SiteUrlError:
        return False
    return True
