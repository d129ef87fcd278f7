"""The pages inside an iframe of a host page served from another origin (http://localhost:PORT framing
http://127.0.0.1:PORT), in Chromium: the flow works in the frame; an origin the workspace does not
allow cannot frame it; a session of one workspace cannot reach another's; a used link is refused."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.sync_api import Page, expect

from support.browser import PagesStack, Workspace, accessibility_problems, screenshot

pytestmark = pytest.mark.e2e


class HostPage(BaseHTTPRequestHandler):
    """`/?src=URL`: the host's own page, framing URL as a host front end would."""

    def do_GET(self) -> None:
        src = parse_qs(urlsplit(self.path).query).get("src", [""])[0]
        body = (
            '<!doctype html><html lang="en"><head><title>Host app</title></head><body>'
            "<h1>Anomaly an-42</h1>"
            f'<iframe src="{src}" title="Jira" style="width:100%;height:700px;border:0"></iframe>'
            "</body></html>"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def host_origin() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), HostPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    # `localhost` and `127.0.0.1` are different sites to a browser: the frame is cross-site.
    yield f"http://localhost:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def allow(stack: PagesStack, workspace: Workspace, origin: str) -> None:
    settings = stack.call("GET", "/api/v1/settings", workspace)
    settings["ui"] = {"allowed_origins": [origin]}
    stack.call("PUT", "/api/v1/settings", workspace, settings)


def jira_issue(stack: PagesStack, summary: str) -> str:
    answer = httpx.post(
        f"{stack.acme}/rest/api/3/issue",
        json={"fields": {"project": {"key": "WEB"}, "issuetype": {"name": "Task"}, "summary": summary}},
        auth=("admin@acme.test", "admin-token"),
        timeout=30,
    )
    return str(answer.json()["key"])


def test_the_panel_works_in_a_cross_origin_frame_of_an_allowed_host(
    page: Page, pages_stack: PagesStack, host_origin: str
) -> None:
    workspace = pages_stack.workspace("Framed")
    allow(pages_stack, workspace, host_origin)
    pages_stack.call("PUT", "/api/v1/items/anomaly/an-42", workspace, {"title": "Null rate spike"})
    key = jira_issue(pages_stack, "Null rate spike in orders")
    link = pages_stack.link(workspace, "member", {"item_type": "anomaly", "item_id": "an-42"})

    page.goto(f"{host_origin}/?src={link}")
    frame = page.frame_locator("iframe[title=Jira]")
    expect(frame.get_by_role("heading", name="Linked tickets")).to_be_visible()
    frame.get_by_role("link", name="Add to existing").click()
    frame.get_by_label("Issue key or URL").fill(key)
    frame.get_by_role("button", name="Add link").click()
    expect(frame.get_by_role("status")).to_have_text(f"Linked {key}")
    screenshot(page, "embedded")
    links = pages_stack.call("GET", "/api/v1/items/anomaly/an-42", workspace)["links"]
    assert [lk["issue_key"] for lk in links] == [key]

    # The same link again: it opened once already.
    page.goto(f"{host_origin}/?src={link}")
    expect(
        page.frame_locator("iframe[title=Jira]").get_by_role("heading", name="Link not valid")
    ).to_be_visible()
    page.goto(link)  # the error page itself, scanned like every page
    expect(page.get_by_role("heading", name="Link not valid")).to_be_visible()
    assert accessibility_problems(page) == []


def test_a_host_the_workspace_does_not_allow_cannot_frame_the_pages(
    page: Page, pages_stack: PagesStack, host_origin: str
) -> None:
    workspace = pages_stack.workspace("Unframed")
    pages_stack.call("PUT", "/api/v1/items/anomaly/an-1", workspace, {"title": "Secret anomaly"})
    link = pages_stack.link(workspace, "member", {"item_type": "anomaly", "item_id": "an-1"})
    blocked: list[str] = []
    page.on("console", lambda message: blocked.append(message.text))

    page.goto(f"{host_origin}/?src={link}")
    page.wait_for_timeout(1000)  # give the frame time to (not) render
    frame = next(f for f in page.frames if f != page.main_frame)
    assert "Secret anomaly" not in frame.content()
    assert any("frame-ancestors" in text for text in blocked), blocked


def test_a_framed_session_cannot_reach_another_workspace(
    page: Page, pages_stack: PagesStack, host_origin: str
) -> None:
    mine, theirs = pages_stack.workspace("Mine"), pages_stack.workspace("Theirs")
    allow(pages_stack, mine, host_origin)
    pages_stack.call("PUT", "/api/v1/items/anomaly/an-1", mine, {"title": "Mine"})
    pages_stack.call("PUT", "/api/v1/items/anomaly/an-2", theirs, {"title": "Their secret"})
    link = pages_stack.link(mine, "member", {"item_type": "anomaly", "item_id": "an-1"})

    page.goto(f"{host_origin}/?src={link}")
    frame_locator = page.frame_locator("iframe[title=Jira]")
    expect(frame_locator.get_by_role("heading", name="Linked tickets")).to_be_visible()
    frame = next(f for f in page.frames if f != page.main_frame)
    other = frame.url.replace("/items/anomaly/an-1", "/items/anomaly/an-2")
    frame.goto(other)
    expect(frame_locator.get_by_role("heading", name="Not allowed")).to_be_visible()
    assert "Their secret" not in frame.content()
