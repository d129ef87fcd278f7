"""The demo's error-tracking routing session (`jirabridge demo`): two rules, errors from several services
and teams, which rule each one matched, and the tickets created automatically or by hand.

Everything goes through the HTTP API as a host would use it; what Jira shows is read from the
emulator's REST API.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

SETTLE_S = 15.0

RULES: list[dict[str, Any]] = [
    {
        "name": "web store",
        "query": "service:web-store AND team:Shopist -env:staging",
        "destination": {
            "project": "WEB",
            "issue_type": "Bug",
            "fields": {"labels": ["svc-{attributes.service}"]},
        },
        "auto_create": True,
    },
    {
        "name": "security",
        "query": "team:security severity:(critical OR high)",
        "destination": {
            "project": "SEC",
            "issue_type": "Bug",
            "fields": {"customfield_10051": {"value": "High"}},
        },
        "auto_create": False,
    },
]

ERRORS = [
    (
        "err-101",
        "TypeError: cart is undefined",
        "high",
        {"service": "web-store", "team": "Shopist", "env": "prod"},
    ),
    ("err-102", "Stale session cookie", "low", {"service": "web-store", "team": "Shopist", "env": "staging"}),
    ("err-103", "JWT signature not verified", "critical", {"service": "auth", "team": "security"}),
    ("err-104", "Timeout calling the payments API", "high", {"service": "checkout", "team": "payments"}),
    ("err-105", "NullPointerException in /cart/items", "medium", {"service": "web-store", "team": "Shopist"}),
]


async def play(api: httpx.AsyncClient, headers: dict[str, str], site_id: str, emulator: str) -> list[str]:
    """Set up the rules, push the errors, create one routed ticket by hand, and describe the outcome."""

    async def call(method: str, path: str, body: Any = None) -> Any:
        answer = await api.request(method, path, json=body, headers=headers)
        answer.raise_for_status()
        return answer.json() if answer.content else None

    rules = [rule | {"destination": rule["destination"] | {"site": site_id}} for rule in RULES]
    stored = (await call("PUT", "/api/v1/rules", {"rules": rules}))["rules"]
    names = {rule["id"]: rule["name"] for rule in stored}
    for item_id, title, severity, attributes in ERRORS:
        body = {"title": title, "severity": severity, "status": "Open", "attributes": attributes}
        await call(
            "PUT", f"/api/v1/items/error/{item_id}", body | {"url": f"https://host.example/errors/{item_id}"}
        )
    preview = await call(
        "POST",
        "/api/v1/rules/preview",
        {
            "item": {
                "type": "error",
                "title": "XSS in search",
                "severity": "high",
                "attributes": {"team": "security"},
            }
        },
    )
    # err-103 matched the security rule, which does not auto-create: a person creates its ticket, and
    # it goes where the rule says without naming a project.
    await call("POST", "/api/v1/items/error/err-103/tickets", {})
    items = await _settled(call, [item_id for item_id, *_ in ERRORS])

    lines = []
    async with httpx.AsyncClient(
        base_url=f"{emulator}/sites/acme", auth=("admin@acme.test", "admin-token")
    ) as jira:
        for item_id, _, _, attributes in ERRORS:
            item = items[item_id]
            rule = names.get(item.get("rule_id") or "", "no rule")
            env = f" {attributes['env']}" if "env" in attributes else ""
            who = f"{attributes['service']}/{attributes['team']}{env}"
            links = [lk for lk in item["links"] if lk["issue_key"]]
            if not links:
                lines.append(f"{item_id}  {who:<26} -> {rule:<10} no ticket")
                continue
            key = links[0]["issue_key"]
            issue = (await jira.get(f"/rest/api/3/issue/{key}", params={"fields": "issuetype,labels"})).json()
            how = "created by hand" if item_id == "err-103" else "auto-created"
            kind = issue["fields"]["issuetype"]["name"]
            lines.append(f"{item_id}  {who:<26} -> {rule:<10} {key} ({kind}, {how})")
    previewed = preview["rule"]["name"] if preview["rule"] else "no rule"
    target = preview["would_create"] or {}
    lines.append(
        f"preview of an inline error (team security, high) -> {previewed}: would create a "
        f"{target.get('issue_type')} in {target.get('project')}, nothing written"
    )
    return lines


async def _settled(call: Any, item_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The items once none of their tickets is still being created (or after SETTLE_S)."""
    deadline = asyncio.get_running_loop().time() + SETTLE_S
    while True:
        items = {item_id: await call("GET", f"/api/v1/items/error/{item_id}") for item_id in item_ids}
        pending = any(lk["sync_state"] == "pending" for item in items.values() for lk in item["links"])
        if not pending or asyncio.get_running_loop().time() > deadline:
            return items
        await asyncio.sleep(0.2)
