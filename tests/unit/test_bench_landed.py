"""The bench's count of what landed in Jira: a change lost or made twice shows, whatever Jira answered."""

from __future__ import annotations

from typing import Any

from bench._landed import count_landed, describe
from bench._workload import Change


def issue(key: str, summary: str, status: str = "To Do", **lists: Any) -> dict[str, Any]:
    return {
        "key": key,
        "summary": summary,
        "status": status,
        "remote_links": lists.get("remote_links", []),
        "comments": lists.get("comments", []),
        "worklogs": lists.get("worklogs", []),
        "changelog": lists.get("changelog", []),
    }


def moved(*targets: str) -> list[dict[str, Any]]:
    return [{"items": [{"field": "status", "from": "To Do", "to": t}]} for t in targets]


def test_each_change_is_found_once_missing_or_duplicated() -> None:
    link = {"id": 1}
    state = {
        "sites": {
            "bench": {
                "issues": [
                    issue("BEN-1", "base 1", "In Progress", changelog=moved("In Progress")),
                    issue("BEN-2", "base 2", "Done", changelog=moved("Done", "Done")),
                    issue("BEN-3", "base 3", comments=[{"body": "bench comment c000005"}]),
                    issue("BEN-4", "base 4", worklogs=[{"comment": "bench worklog w000007"}] * 2),
                    issue("BEN-5", "bench new-1", remote_links=[link]),
                    issue("BEN-6", "bench new-2", remote_links=[link]),
                    issue("BEN-7", "bench new-2", remote_links=[link]),
                    issue("BEN-8", "bench new-3"),
                ]
            }
        }
    }
    base = {"bench": [("a", "BEN-1"), ("b", "BEN-2"), ("c", "BEN-3"), ("d", "BEN-4")]}
    changes = [
        Change("create", "new-1", "bench", 1, "bench new-1"),  # once
        Change("create", "new-2", "bench", 2, "bench new-2"),  # two issues
        Change("create", "new-3", "bench", 3, "bench new-3"),  # an issue without its remote link
        Change("create", "new-4", "bench", 4, "bench new-4"),  # no issue
        Change("status", "a", "bench", 5, "Acknowledged"),  # once
        Change("status", "b", "bench", 6, "Fixed"),  # moved twice
        Change("status", "c", "bench", 7, "Fixed"),  # never moved
        Change("comment", "c", "bench", 8, "bench comment c000005"),  # once
        Change("comment", "c", "bench", 9, "bench comment c000009"),  # missing
        Change("worklog", "d", "bench", 10, "BEN-4|bench worklog w000007"),  # twice
        Change("comment", "new-1", "bench", 11, "bench comment c000011"),  # on a new issue: missing
    ]

    landed = count_landed(state, base, changes)

    assert {kind: dict(counts) for kind, counts in landed.by_kind.items()} == {
        "create": {"once": 1, "duplicated": 1, "missing": 2},
        "status": {"once": 1, "duplicated": 1, "missing": 1},
        "comment": {"once": 1, "missing": 2},
        "worklog": {"duplicated": 1},
    }
    assert (landed.total("once"), landed.total("missing"), landed.total("duplicated")) == (3, 5, 3)
    assert describe(landed).startswith(
        "landed in Jira (the emulator's state): exactly once 3, missing 5, duplicated 3"
    )
