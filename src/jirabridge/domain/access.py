"""Who may do what (SPEC section 1, "Role rules"). Pure: decisions only."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    MANAGER = "manager"
    MEMBER = "member"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the service token (no workspace), or an API key of one workspace."""

    workspace_id: str | None
    role: Role | None
    user_id: str | None = None  # the host user a key is bound to
    key_id: str | None = None

    @property
    def is_service(self) -> bool:
        return self.workspace_id is None


SERVICE = Principal(workspace_id=None, role=None)


def can_manage(principal: Principal) -> bool:
    """Connect/disconnect sites and edit settings, mappings and rules."""
    return principal.role in (Role.ADMIN, Role.MANAGER)


def can_act_for(principal: Principal, user_id: str) -> bool:
    """Admin and manager keys act for any user; a member key bound to a user acts only for that user.
    An unbound member key is a host backend acting for its users, so it may act for any of them."""
    if principal.role in (Role.ADMIN, Role.MANAGER):
        return True
    return principal.role is Role.MEMBER and principal.user_id in (None, user_id)
