"""docs/getting-started.md, run as a reader would: every ```sh block of the page, in order, in an empty
directory, with `jira-emulator serve`, `jirabridge serve` and `jirabridge worker` as real processes
over loopback, and each answer checked against the block the page shows after it. The page cannot
drift from what the service does.

Fences (the words after `sh` do not show on a rendered page):
- ```sh          — run it; the next ```json or ```text block is what it must print (with none, it
                   must print nothing);
- ```sh terminal — a process the reader leaves running in its own terminal; started in the
                   background and waited for;
- ```sh wait     — a read the reader may repeat until it shows the answer (work happens in the
                   background): run until it matches, for up to 30 s;
- ```sh setup    — installing jirabridge; this test already runs inside an installation.

What the test changes, and only this: the ports (8000 and 8080 → free ones), the emulator's OAuth
app is told the moved callback address, and `JIRABRIDGE_TICKET_WAIT_S` is longer so a busy machine
still answers the ticket's 201. Expected answers match loosely: an object needs the keys shown (with
the values shown), `…` inside a string stands for anything, and a list needs the elements shown, in
order.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from markdown_it import MarkdownIt

from jira_emulator import default_seed

pytestmark = pytest.mark.e2e

PAGE = Path(__file__).resolve().parents[2] / "docs" / "getting-started.md"
BIN = Path(sys.executable).parent
SERVICE_PORT, EMULATOR_PORT = 8000, 8080


@dataclass
class Step:
    kind: str  # "" (run), "terminal", "wait" or "setup"
    script: str
    line: int
    expected: str | None = None
    expected_kind: str | None = None


def steps(page: str) -> list[Step]:
    found: list[Step] = []
    for token in MarkdownIt("commonmark").parse(page):
        if token.type != "fence":
            continue
        words = token.info.split()
        language = words[0] if words else ""
        line = (token.map or [0])[0] + 1
        if language == "sh":
            found.append(Step(words[1] if len(words) > 1 else "", token.content, line))
        elif (
            language in ("json", "text")
            and found
            and found[-1].expected is None
            and found[-1].kind != "setup"
        ):
            found[-1].expected, found[-1].expected_kind = token.content, language
    return found


def matches(expected: Any, actual: Any) -> bool:
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            k in actual and matches(v, actual[k]) for k, v in expected.items()
        )
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return False
        remaining = iter(actual)
        return all(any(matches(e, a) for a in remaining) for e in expected)
    if isinstance(expected, str) and "…" in expected:
        pattern = ".*".join(re.escape(part) for part in expected.split("…"))
        return isinstance(actual, str) and re.fullmatch(pattern, actual, re.S) is not None
    return bool(expected == actual and type(expected) is type(actual))


def documents(text: str) -> list[Any]:
    """The JSON documents of a text, one after another (`jq -c` prints one per line)."""
    decoder, found, position = json.JSONDecoder(), [], 0
    while position < len(text.strip()):
        while text[position].isspace():
            position += 1
        document, position = decoder.raw_decode(text, position)
        found.append(document)
    return found


def output_matches(kind: str | None, expected: str, output: str) -> bool:
    if kind == "json":
        try:
            actual = documents(output)
        except json.JSONDecodeError:
            return False
        wanted = documents(expected)
        return len(actual) == len(wanted) and all(matches(w, a) for w, a in zip(wanted, actual, strict=True))
    lines = iter(output.splitlines())
    return all(
        any(matches(want.strip(), got.strip()) for got in lines)
        for want in expected.splitlines()
        if want.strip()
    )


class Reader:
    """A shell session in an empty directory: variables carry from one block to the next."""

    def __init__(self, directory: Path, ports: dict[int, int]) -> None:
        self.directory, self.ports = directory, ports
        self.state = directory / ".reader-state.sh"
        self.state.write_text("")
        self.env = {
            "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
            "HOME": str(directory),
            "LANG": "C.UTF-8",
            "JIRABRIDGE_TICKET_WAIT_S": "30",
        }
        self.processes: list[tuple[subprocess.Popen[bytes], Path]] = []
        # The shell's own variables; anything else a block sets is the reader's, kept for the next one.
        own = subprocess.run(["bash", "-c", "compgen -v"], env=self.env, capture_output=True, text=True)
        self.own = " ".join([*own.stdout.split(), "v"])

    def moved(self, text: str) -> str:
        for page_port, port in self.ports.items():
            text = re.sub(rf"(127\.0\.0\.1:|--port ){page_port}\b", rf"\g<1>{port}", text)
        return text

    def _script(self, body: str) -> str:
        return (
            f"source {self.state}\nset -eo pipefail\n{self.moved(body)}\n"
            f'for v in $(compgen -v); do case " {self.own} " in *" $v "*) ;; *) declare -p "$v";; esac; done'
            f" > {self.state}\n"
        )

    def run(self, step: Step) -> str:
        done = subprocess.run(
            ["bash", "-c", self._script(step.script)],
            cwd=self.directory,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
        assert done.returncode == 0, f"line {step.line}: {step.script}\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def start(self, step: Step) -> None:
        log = self.directory / f"terminal-{len(self.processes) + 1}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                ["bash", "-c", f"source {self.state}\n{self.moved(step.script)}"],
                cwd=self.directory,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes.append((popen, log))
        if "jira-emulator serve" in step.script:
            self.wait_for(f"http://127.0.0.1:{self.ports[EMULATOR_PORT]}/_emulator/state", popen, log)
            self.tell_the_emulator_the_callback()
        if "jirabridge serve" in step.script:
            self.wait_for(f"http://127.0.0.1:{self.ports[SERVICE_PORT]}/healthz", popen, log)

    def wait_for(self, url: str, popen: subprocess.Popen[bytes], log: Path) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert popen.poll() is None, log.read_text(errors="replace")
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"{url} did not answer:\n{log.read_text(errors='replace')}")

    def tell_the_emulator_the_callback(self) -> None:
        """The emulator's OAuth app knows the page's callback address; the service moved ports."""
        seed = default_seed().model_dump(mode="json", by_alias=True)
        for app in seed["oauth_apps"]:
            app["redirect_uris"] = [self.moved(uri) for uri in app["redirect_uris"]]
        emulator = f"http://127.0.0.1:{self.ports[EMULATOR_PORT]}"
        httpx.post(f"{emulator}/_emulator/reset", json=seed, timeout=10).raise_for_status()

    def stop(self) -> None:
        for popen, _ in reversed(self.processes):
            if popen.poll() is None:
                os.killpg(popen.pid, signal.SIGTERM)
                try:
                    popen.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(popen.pid, signal.SIGKILL)
                    popen.wait()

    def files(self) -> str:
        """The answers the page's commands kept in the directory."""
        kept = sorted(self.directory.glob("*.json"))
        return "\n".join(f"--- {path.name}\n{path.read_text()[-3000:]}" for path in kept)

    def logs(self) -> str:
        return "\n".join(
            f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}" for _, log in self.processes
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def reader(tmp_path: Path) -> Iterator[Reader]:
    session = Reader(tmp_path, {SERVICE_PORT: _free_port(), EMULATOR_PORT: _free_port()})
    yield session
    session.stop()


def test_the_page_has_both_paths_and_every_step_shows_its_answer() -> None:
    page = PAGE.read_text()
    found = steps(page)
    assert [s.kind for s in found if s.kind == "terminal"] == ["terminal"] * 3
    assert '--json \'{"url": "https://globex.atlassian.net", "auth": {"type": "oauth"}' in page
    assert '"type": "api_token"' in page
    assert all(s.expected is not None for s in found if s.kind == "wait")


def test_every_command_of_the_page_gives_the_answer_it_shows(reader: Reader) -> None:
    for step in steps(PAGE.read_text()):
        if step.kind == "setup":
            continue
        if step.kind == "terminal":
            reader.start(step)
            continue
        deadline = time.monotonic() + (30 if step.kind == "wait" else 0)
        while True:
            output = reader.run(step)
            if step.expected is None:
                assert output == "", f"line {step.line} printed what the page does not show:\n{output}"
                break
            if output_matches(step.expected_kind, reader.moved(step.expected), output):
                break
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"line {step.line}: {step.script}\nprinted:\n{output}\nthe page shows:\n"
                    f"{step.expected}\n{reader.logs()}\n{reader.files()}"
                )
            time.sleep(0.5)
