"""What landed in Jira: each change the host pushed, looked for in the emulator's state afterwards.

The workers' counters say what Jira accepted; this says what is there (`GET /_emulator/state`), so a
change lost or made twice shows even when every call was answered 2xx. Per change:
- create: the issues on its site with its summary, and their remote links: exactly one issue with
  exactly one remote link is "once"; no issue or no link is "missing"; more of either, "duplicated";
- status: the item's issue ends in the Jira status its last host status maps to (else "missing"), and
  its changelog holds no more status moves than status changes were pushed for it (else "duplicated");
- comment, worklog: the entries on the item's issue whose text holds the change's unique token
  (`c000123`, `w000123`): one is "once", none "missing", more "duplicated".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench._stack import STATUS_MAP
from bench._workload import Change

OUTCOMES = ("once", "missing", "duplicated")


@dataclass
class Landed:
    by_kind: dict[str, Counter[str]] = field(default_factory=dict)  # kind -> outcome -> changes
    examples: list[str] = field(default_factory=list)  # a few of the changes not found once

    def add(self, change: Change, outcome: str, why: str = "") -> None:
        self.by_kind.setdefault(change.kind, Counter())[outcome] += 1
        if outcome != "once" and len(self.examples) < 5:
            self.examples.append(f"{change.kind} {change.item} on {change.site}: {outcome} ({why})")

    def total(self, outcome: str) -> int:
        return sum(counts[outcome] for counts in self.by_kind.values())

    def as_json(self) -> dict[str, Any]:
        return {
            **{outcome: self.total(outcome) for outcome in OUTCOMES},
            "by_kind": {kind: {o: c[o] for o in OUTCOMES} for kind, c in sorted(self.by_kind.items())},
            "examples": self.examples,
        }


def count_landed(
    state: Mapping[str, Any], base: Mapping[str, Sequence[tuple[str, str]]], changes: Sequence[Change]
) -> Landed:
    """`state`: the emulator's; `base`: site -> [(item, issue key)] linked before the run; `changes`:
    what the host pushed (and the API accepted), in the order it pushed them."""
    landed = Landed()
    issues = {site: {i["key"]: i for i in state["sites"][site]["issues"]} for site in base}
    by_summary: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for site, site_issues in issues.items():
        for issue in site_issues.values():
            by_summary.setdefault(site, {}).setdefault(issue["summary"], []).append(issue)
    issue_of = {(site, item): key for site, pairs in base.items() for item, key in pairs}

    for change in changes:
        if change.kind != "create":
            continue
        found = by_summary.get(change.site, {}).get(change.value or "", [])
        if found:
            issue_of[(change.site, change.item)] = found[0]["key"]
        links = len(found[0]["remote_links"]) if found else 0
        if len(found) > 1 or links > 1:
            landed.add(change, "duplicated", f"{len(found)} issues, {links} remote links")
        elif not found or links == 0:
            landed.add(change, "missing", f"{len(found)} issues, {links} remote links")
        else:
            landed.add(change, "once")

    statuses: dict[tuple[str, str], list[Change]] = {}
    for change in changes:
        if change.kind == "status":
            statuses.setdefault((change.site, change.item), []).append(change)
    for (site, item), moves in statuses.items():
        issue = issues[site].get(issue_of.get((site, item), ""))
        expected = STATUS_MAP[moves[-1].value or "Open"]
        made = (
            sum(1 for h in issue["changelog"] for it in h["items"] if it["field"] == "status") if issue else 0
        )
        for change in moves:
            if issue is None or issue["status"] != expected:
                landed.add(change, "missing", f"status {issue and issue['status']!r}, expected {expected!r}")
            elif made > len(moves):
                landed.add(change, "duplicated", f"{made} status moves for {len(moves)} changes")
            else:
                landed.add(change, "once")

    entries = {"comment": ("comments", "body"), "worklog": ("worklogs", "comment")}
    for change in changes:
        if change.kind not in entries:
            continue
        listed, text = entries[change.kind]
        issue = issues[change.site].get(issue_of.get((change.site, change.item), ""))
        token = (change.value or "").rpartition(" ")[2]
        seen = sum(1 for e in (issue or {}).get(listed, []) if token in (e.get(text) or ""))
        outcome = "once" if seen == 1 else "missing" if seen == 0 else "duplicated"
        landed.add(change, outcome, f"{seen} {listed} with {token}")
    return landed


def describe(landed: Landed) -> str:
    per_kind = ", ".join(
        f"{kind} {c['once']}/{c['missing']}/{c['duplicated']}" for kind, c in sorted(landed.by_kind.items())
    )
    line = (
        f"landed in Jira (the emulator's state): exactly once {landed.total('once')}, "
        f"missing {landed.total('missing')}, duplicated {landed.total('duplicated')} "
        f"(by kind, once/missing/duplicated: {per_kind})"
    )
    return line + "".join(f"\n  e.g. {example}" for example in landed.examples)
