"""Rendezvous hashing (storage/leases.py `target_of`, keyed by the site's address): every worker
computes the same owner of each site, the sites spread over the workers, and a worker joining or
leaving moves only its own share."""

from __future__ import annotations

from collections import Counter

from jirabridge.storage.leases import target_of

SITES = [f"st_{n:04d}" for n in range(600)]


def owners(workers: list[str]) -> dict[str, str | None]:
    return {site: target_of(site, workers) for site in SITES}


def test_the_owner_does_not_depend_on_the_order_workers_are_listed_in() -> None:
    assert owners(["a:1:x", "b:2:y", "c:3:z"]) == owners(["c:3:z", "a:1:x", "b:2:y"])


def test_sites_spread_over_the_workers() -> None:
    counts = Counter(owners(["a:1:x", "b:2:y", "c:3:z"]).values())
    assert set(counts) == {"a:1:x", "b:2:y", "c:3:z"}
    assert min(counts.values()) > len(SITES) / 3 * 0.8


def test_a_worker_leaving_moves_only_its_sites_and_one_joining_takes_only_sites_of_its_own() -> None:
    before = owners(["a:1:x", "b:2:y", "c:3:z"])
    after_leave = owners(["a:1:x", "b:2:y"])
    after_join = owners(["a:1:x", "b:2:y", "c:3:z", "d:4:w"])

    assert {site for site in SITES if before[site] != after_leave[site]} == {
        site for site in SITES if before[site] == "c:3:z"
    }
    assert {after_join[site] for site in SITES if before[site] != after_join[site]} == {"d:4:w"}


def test_no_live_worker_no_owner() -> None:
    assert target_of("st_0001", []) is None
