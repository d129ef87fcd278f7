"""The cache of verified API keys (service/workspaces/workspaces.py KeyCache): what a serve process trusts
without reading the key again, and when it stops trusting it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from jirabridge.domain.access import Principal, Role
from jirabridge.service.workspaces.workspaces import KeyCache

NOW = datetime(2026, 1, 1, tzinfo=UTC)
MEMBER = Principal(workspace_id="ws_1", role=Role.MEMBER, key_id="key_1")


def test_a_verified_key_is_trusted_until_its_time_is_up() -> None:
    cache = KeyCache(timedelta(seconds=10))
    cache.put("jb_secret", MEMBER, NOW, cache.generation)
    assert cache.get("jb_secret", NOW + timedelta(seconds=9)) == MEMBER
    assert cache.get("jb_secret", NOW + timedelta(seconds=10)) is None
    assert cache.get("jb_other", NOW) is None


def test_a_revoked_key_is_forgotten_and_a_lookup_that_began_before_is_not_cached() -> None:
    cache = KeyCache(timedelta(seconds=10))
    cache.put("jb_secret", MEMBER, NOW, cache.generation)
    began = cache.generation  # a request started reading the key, and saw it valid
    cache.forget("key_1")
    assert cache.get("jb_secret", NOW) is None
    cache.put("jb_secret", MEMBER, NOW, began)  # what it read is from before the revocation
    assert cache.get("jb_secret", NOW) is None


def test_with_no_cache_time_nothing_is_kept() -> None:
    cache = KeyCache(timedelta(0))
    cache.put("jb_secret", MEMBER, NOW, cache.generation)
    assert cache.get("jb_secret", NOW) is None
