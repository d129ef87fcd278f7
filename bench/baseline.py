"""The baseline: the same changes done by a straightforward script with the PyPI `jira` client, one call
after another, as someone without jirabridge would write it (create_issue + add_remote_link,
transition_issue, add_comment, add_worklog).

Used by bench/outbound.py on the same emulator in the same run; the sample may be smaller than the
benchmark's and its rate extrapolated (the output says so).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench._stack import BOT_EMAIL, BOT_TOKEN, PROJECT, STATUS_MAP
from bench._workload import Change

TRANSITION_TO = {"To Do": "Reopen", "In Progress": "Start", "Done": "Finish"}


@dataclass
class BaselineResult:
    changes: int
    seconds: float
    calls: int
    statuses: dict[int, int]

    @property
    def rate(self) -> float:
        return self.changes / self.seconds if self.seconds else 0.0


def run_baseline(site_url: str, changes: Sequence[Change], issue_of: dict[str, str]) -> BaselineResult:
    """Apply `changes` with the `jira` client; `issue_of` maps a base item to its issue key."""
    from jira import JIRA

    client = JIRA(server=site_url, basic_auth=(BOT_EMAIL, BOT_TOKEN), max_retries=3)
    statuses: dict[int, int] = {}

    def count(response: Any, *args: Any, **kwargs: Any) -> None:
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    client._session.hooks["response"].append(count)
    # add_remote_link first lists the server's application links (GET /rest/applinks/latest/
    # listApplicationlinks, not a REST v3 resource) to name a link to another Jira's issue; a link to
    # a URL, as here, never uses them. The emulator does not answer it (404: not cached, so asked on
    # every create), and what Jira Cloud answers a bot there is not documented: the baseline says
    # "no application links" up front and makes no call the emulator cannot answer.
    client._applicationlinks = []
    started = time.monotonic()
    for change in changes:
        if change.kind == "create":
            issue = client.create_issue(
                project=PROJECT,
                issuetype={"name": "Task"},
                summary=change.value or change.item,
                description=f"finding {change.item}",
            )
            client.add_remote_link(
                issue.key,
                {"url": f"https://host.example/finding/{change.item}", "title": f"finding {change.item}"},
                globalId=f"baseline:{change.item}",
            )
        elif change.kind == "status":
            target = STATUS_MAP[change.value or "Open"]
            client.transition_issue(issue_of[change.item], TRANSITION_TO[target])
        elif change.kind == "comment":
            client.add_comment(issue_of[change.item], change.value or "")
        elif change.kind == "worklog":
            _, _, text = (change.value or "").partition("|")
            client.add_worklog(issue_of[change.item], timeSpentSeconds="600", comment=text)
    seconds = time.monotonic() - started
    client.close()
    return BaselineResult(len(changes), seconds, sum(statuses.values()), statuses)
