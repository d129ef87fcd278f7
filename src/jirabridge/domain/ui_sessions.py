"""Sessions of the pages a host embeds (issue 15): who may open one, for what, and where it may go back.

A host's backend asks for a session (`POST /api/v1/ui-sessions`) and gets a one-time link; opening the
link starts a session bound to one workspace, one host user and one role. Pure: decisions only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from jirabridge.domain.access import Principal, Role

# The link is for a browser that is about to open it: minutes are plenty, and a leaked link dies fast.
LINK_TTL = timedelta(minutes=5)
# A session lasts as long as a person plausibly keeps a settings page open.
SESSION_TTL = timedelta(hours=1)


@dataclass(frozen=True)
class Scope:
    """What a session shows: the workspace's settings, one item's ticket panel, or the person's own
    account page (their Jira identity), which any role may open."""

    item_type: str | None = None
    item_id: str | None = None
    account: bool = False

    @property
    def is_settings(self) -> bool:
        return self.item_type is None and not self.account

    @property
    def is_account(self) -> bool:
        return self.account

    def to_document(self) -> str | dict[str, str]:
        if self.account:
            return "account"
        if self.item_type is None or self.item_id is None:
            return "settings"
        return {"item_type": self.item_type, "item_id": self.item_id}

    @staticmethod
    def from_document(value: object) -> Scope:
        if value == "account" or (isinstance(value, dict) and value.get("page") == "account"):
            return ACCOUNT
        if isinstance(value, dict) and "item_type" in value:
            return Scope(str(value["item_type"]), str(value["item_id"]))
        return Scope()


SETTINGS = Scope()
ACCOUNT = Scope(account=True)


def may_grant(caller: Principal, role: Role) -> bool:
    """A session never has more rights than the key that asked for it: the service token and admin
    keys grant any role, manager keys grant manager or member, member keys grant nothing."""
    if caller.is_service or caller.role is Role.ADMIN:
        return True
    return caller.role is Role.MANAGER and role in (Role.MANAGER, Role.MEMBER)


def may_open(role: Role, scope: Scope) -> bool:
    """Settings are configuration (admin and manager); an item's panel and a person's own account page
    are open to every role."""
    return not scope.is_settings or role in (Role.ADMIN, Role.MANAGER)


# The pages an OAuth connection may send the browser back to: a page of a session, by path only (never
# another origin, a query or a fragment), so the callback cannot be turned into an open redirect.
_RETURN_PAGE = re.compile(r"/ui/s/[A-Za-z0-9_-]{10,100}(/[a-z][a-z0-9-]{0,40}){1,3}")


def return_page_allowed(path: str) -> bool:
    """`path` is a page of a session (`/ui/s/<token>/settings/sites`), and nothing else."""
    return _RETURN_PAGE.fullmatch(path) is not None


def origin(url: str) -> str | None:
    """`scheme://host[:port]` of an absolute http(s) URL, lower-cased; None for anything else."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    default = 443 if parts.scheme == "https" else 80
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port not in (None, default) else "")


def return_url_allowed(url: str, allowed_origins: tuple[str, ...]) -> bool:
    found = origin(url)
    return found is not None and found in allowed_origins
