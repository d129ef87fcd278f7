"""The real stack for the pages: `jira-emulator serve`, `jirabridge serve` and `jirabridge worker` as
processes over loopback (bench/_stack.py), and Debian's Chromium driven by Playwright.

Chromium is /usr/bin/chromium (`./scripts/test` installs Debian's `chromium`); Playwright's own browser
download is not used. Without Chromium the browser tests fail, unless JIRABRIDGE_TEST_SKIP_BROWSER=1
says to skip them on purpose.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe
from bench._stack import SERVICE_TOKEN, Stack, StackOptions
from playwright.sync_api import Browser, Page, sync_playwright

from jira_emulator import default_seed

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "images"
# The stack listens on free ports, others each run; a screenshot shows the addresses
# docs/getting-started.md uses instead (the emulator on 8080, the service on 8000), so regenerating
# the images changes only what changed on the pages. Filled by `pages_stack`: real address -> shown.
SHOWN_ADDRESSES: dict[str, str] = {}
# Swap the addresses in the text and form fields of the page and its frames for the screenshot, and
# back afterwards (a test may go on using the page).
_SWAP_ADDRESSES = """(swaps) => {
  const swap = (text) => swaps.reduce((t, [from, to]) => t.split(from).join(to), text);
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (node.nodeValue !== swap(node.nodeValue)) node.nodeValue = swap(node.nodeValue);
  }
  for (const field of document.querySelectorAll("input, textarea")) {
    if (field.value !== swap(field.value)) field.value = swap(field.value);
  }
}"""
BOT = {"type": "api_token", "email": "bot@acme.test", "api_token": "bot-token"}


@dataclass
class Workspace:
    id: str
    admin_key: str
    site_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_key}"}


class PagesStack:
    """The processes, and the host's side of them over HTTP."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.api = stack.api(timeout_s=30)

    @property
    def acme(self) -> str:
        return f"{self.stack.emulator_url}/sites/acme"

    def call(self, method: str, path: str, workspace: Workspace, body: Any = None) -> Any:
        answer = self.api.request(method, path, json=body, headers=workspace.headers)
        assert answer.status_code < 300, answer.text
        return answer.json() if answer.content else None

    def workspace(self, name: str, *, connect: bool = True) -> Workspace:
        service = {"Authorization": f"Bearer {SERVICE_TOKEN}"}
        created = self.api.post("/api/v1/workspaces", json={"name": name}, headers=service).json()
        key = self.api.post(
            f"/api/v1/workspaces/{created['id']}/api-keys",
            json={"role": "admin", "name": "host"},
            headers=service,
        ).json()["key"]
        workspace = Workspace(created["id"], key, "")
        if connect:
            site = self.call(
                "POST", "/api/v1/sites", workspace, {"url": self.acme, "auth": BOT, "default_project": "WEB"}
            )
            workspace.site_id = site["id"]
        return workspace

    def link(self, workspace: Workspace, role: str, scope: Any, **extra: Any) -> str:
        body = {"user_id": "u-1", "role": role, "scope": scope} | extra
        return str(self.call("POST", "/api/v1/ui-sessions", workspace, body)["url"])

    def jira_issue(self, key: str) -> dict[str, Any]:
        """An issue as the emulator's state holds it."""
        state = self.stack.emulator_state()
        site = state["sites"]["acme"]
        return next(i for i in site["issues"] if i["key"] == key)

    def until(self, probe: Callable[[], Any], what: str, timeout_s: float = 20) -> Any:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            value = probe()
            if value:
                return value
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def pages_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PagesStack]:
    options = StackOptions(
        latency_ms=0, rate_limit=1000, poll_s=0.1, directory=tmp_path_factory.mktemp("stack")
    )
    with Stack(options) as stack:
        seed = default_seed().model_dump(mode="json", by_alias=True)
        seed["oauth_apps"][0]["redirect_uris"].append(f"{stack.service_url}/oauth/callback")
        client = seed["oauth_apps"][0]
        stack.env.update(
            {
                "JIRABRIDGE_ATLASSIAN_AUTH_URL": stack.emulator_url,
                "JIRABRIDGE_ATLASSIAN_API_URL": stack.emulator_url,
                "JIRABRIDGE_OAUTH_CLIENT_ID": client["client_id"],
                "JIRABRIDGE_OAUTH_CLIENT_SECRET": client["client_secret"],
                "JIRABRIDGE_TICKET_WAIT_S": "5",
            }
        )
        stack.start_emulator(seed)
        stack.start_service()
        stack.start_worker()
        found = PagesStack(stack)
        SHOWN_ADDRESSES.clear()
        SHOWN_ADDRESSES[urlsplit(stack.emulator_url).netloc] = "127.0.0.1:8080"
        SHOWN_ADDRESSES[urlsplit(stack.service_url).netloc] = "127.0.0.1:8000"
        yield found
        found.api.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium per test module. Not per session: Playwright's sync API keeps an event loop
    running in this thread while it is open, and the async tests of other modules need theirs."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("JIRABRIDGE_TEST_SKIP_BROWSER") == "1":
            pytest.skip("JIRABRIDGE_TEST_SKIP_BROWSER=1: browser tests skipped on purpose")
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (./scripts/test does)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    opened = context.new_page()
    yield opened
    context.close()


def accessibility_problems(page: Page) -> list[str]:
    """axe-core's serious and critical violations on the page, as readable lines."""
    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v.get("impact") in ("serious", "critical")
    ]


@contextmanager
def shown_addresses(page: Page) -> Iterator[None]:
    """The page (and its frames) shows the stack's addresses as `SHOWN_ADDRESSES` says while inside."""
    swaps = list(SHOWN_ADDRESSES.items())
    for frame in page.frames:
        frame.evaluate(_SWAP_ADDRESSES, swaps)
    try:
        yield
    finally:
        back = [(shown, real) for real, shown in swaps]
        for frame in page.frames:
            frame.evaluate(_SWAP_ADDRESSES, back)


def screenshot(page: Page, name: str) -> None:
    """Each test's view of its page, for docs/ui.md: written to docs/images when
    JIRABRIDGE_UPDATE_SCREENSHOTS=1, else next to the test run's other output."""
    target = SCREENSHOTS if os.environ.get("JIRABRIDGE_UPDATE_SCREENSHOTS") == "1" else ROOT / ".tmp"
    target.mkdir(parents=True, exist_ok=True)
    with shown_addresses(page):
        page.screenshot(path=str(target / f"ui-{name}.png"), full_page=True)


def emulator_json(stack: PagesStack, method: str, path: str, body: Any = None) -> Any:
    answer = httpx.request(method, f"{stack.stack.emulator_url}{path}", json=body, timeout=30)
    assert answer.is_success, answer.text
    return answer.json() if answer.content else None


__all__ = [
    "accessibility_problems",
    "browser",
    "emulator_json",
    "page",
    "pages_stack",
    "screenshot",
    "shown_addresses",
    "shutil",
]
