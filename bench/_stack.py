"""The stack every benchmark runs on: the Jira emulator, the service and N workers as separate processes
over loopback, on a fresh SQLite file (or a PostgreSQL URL), seeded through the HTTP API.

    with Stack(StackOptions(latency_ms=250, rate_limit=50)) as stack:
        stack.start_emulator(bench_seed(["bench"], issues=100))
        stack.start_service()
        tenant = stack.seed_tenant(["bench"])
        worker = stack.start_worker()
        ...
        stack.wait_drained()

Worker CPU seconds and peak memory are read from /proc (Linux): `utime + stime` of
/proc/PID/stat and `VmHWM` of /proc/PID/status, read just before a worker is stopped. The Jira calls a
worker made are its own Prometheus counter `jirabridge_worker_jira_calls_total{status=...}`, scraped from
`--metrics-port`; the outbox depth is the service's `/metrics`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from jirabridge.workers.runner import DEFAULT_CONCURRENCY

BIN = Path(sys.executable).parent
BOT_EMAIL, BOT_TOKEN = "bot@bench.test", "bot-token"
PROJECT = "BEN"
# Every status is reachable from every other (global transitions), so a burst of status changes that
# the worker collapses into one move never asks for a transition the workflow lacks.
STATUS_MAP = {"Open": "To Do", "Acknowledged": "In Progress", "Fixed": "Done"}
HOST_STATUSES = tuple(STATUS_MAP)
SERVICE_TOKEN = "bench-service-token"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def site_names(count: int) -> list[str]:
    return ["bench"] if count == 1 else [f"bench{n:02d}" for n in range(count)]


def bench_seed(sites: Sequence[str], issues: int = 0, *, index_lag_s: float = 0.0) -> dict[str, Any]:
    """An emulator world: the bot user, and per site one project `BEN` with a global workflow and
    `issues` issues already there (BEN-1 … BEN-n, in status To Do)."""
    workflow = {
        "statuses": [
            {"name": "To Do", "category": "new"},
            {"name": "In Progress", "category": "indeterminate"},
            {"name": "Done", "category": "done"},
        ],
        "initial": "To Do",
        "transitions": [
            {"name": "Reopen", "to": "To Do", "from": []},
            {"name": "Start", "to": "In Progress", "from": []},
            {"name": "Finish", "to": "Done", "from": []},
        ],
    }
    return {
        "users": [
            {"email": BOT_EMAIL, "display_name": "Bench Bot", "api_tokens": [{"token": BOT_TOKEN}]},
        ],
        "sites": [
            {
                "name": name,
                "index_lag_s": index_lag_s,
                "projects": [
                    {
                        "key": PROJECT,
                        "name": "Benchmarks",
                        "issue_types": [
                            {"name": "Task", "optional_fields": ["description", "priority", "labels"]}
                        ],
                        "workflow": workflow,
                    }
                ],
                "issues": [{"project": PROJECT, "summary": f"base {n}"} for n in range(1, issues + 1)],
            }
            for name in sites
        ],
    }


# -- processes ------------------------------------------------------------------------------------


@dataclass
class ProcStats:
    cpu_s: float
    peak_rss_mb: float


def proc_stats(pid: int) -> ProcStats:
    """CPU seconds (user + system) and peak resident memory of a live process, from /proc."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    fields = raw.rpartition(")")[2].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime (fields 14 and 15 of stat(5))
    peak_kb = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            peak_kb = int(line.split()[1])
    return ProcStats(cpu, peak_kb / 1024)


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    port: int | None = None  # the metrics port of a worker
    last: ProcStats | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stats(self) -> ProcStats:
        if self.alive():
            self.last = proc_stats(self.pid)
        assert self.last is not None, f"{self.name} ended before it was measured"
        return self.last

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout_s: float = 30) -> None:
        """Read its figures one last time, then signal it and wait for it to end."""
        if not self.alive():
            return
        self.stats()
        self.popen.send_signal(sig)
        try:
            self.popen.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()


@dataclass
class StackOptions:
    latency_ms: int = 250
    rate_limit: int = 50  # the emulator's per-site limit, requests per second
    # The per-site limit the workers are told (JIRABRIDGE_JIRA_RATE_PER_SITE), default the emulator's:
    # their pacer keeps any second under it with a margin for jitter (jira/_pacing.py).
    pacer_rate: float | None = None
    connections: int = 32  # JIRABRIDGE_JIRA_MAX_CONNECTIONS of the workers (the product's default)
    concurrency: int = DEFAULT_CONCURRENCY  # as `jirabridge worker`
    database_url: str | None = None  # default: a SQLite file in `directory`
    directory: Path | None = None  # default: a temporary directory, removed at the end
    lease_s: float | None = 60.0  # the workers' --lease-s; None: the worker's own default
    poll_s: float = 0.2
    jira_timeout_s: float = 10.0
    create_verify_grace_s: float = 30.0
    worker_log_level: str = "info"
    extra_env: dict[str, str] = field(default_factory=dict)
    keep: bool = False  # keep the temporary directory (logs, database) for a look afterwards
    profile: bool = False  # run workers under cProfile (worker-N.prof in the run's directory)
    emulator_nice: int | None = None  # the emulator's scheduling priority (None: as the others)

    def pacing(self) -> float:
        return self.pacer_rate if self.pacer_rate is not None else float(self.rate_limit)


@dataclass
class Tenant:
    workspace_id: str
    key: str
    sites: dict[str, str]  # emulator site name -> jirabridge site id

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


class Stack:
    def __init__(self, options: StackOptions) -> None:
        self.options = options
        self._own_dir = options.directory is None
        self.directory = options.directory or Path(tempfile.mkdtemp(prefix="jirabridge-bench-"))
        self.directory.mkdir(parents=True, exist_ok=True)
        self.database_url = options.database_url or f"sqlite:///{self.directory / 'bench.db'}"
        self.emulator_port = free_port()
        self.service_port = free_port()
        self.emulator_url = f"http://127.0.0.1:{self.emulator_port}"
        self.service_url = f"http://127.0.0.1:{self.service_port}"
        self.processes: list[Proc] = []
        self._engine: Any = None  # for `outstanding`, made on first use
        self.workers: list[Proc] = []
        self.env = {
            **os.environ,
            "JIRABRIDGE_DATABASE_URL": self.database_url,
            "JIRABRIDGE_SECRET_KEY": _fernet_key(),
            "JIRABRIDGE_SERVICE_TOKEN": SERVICE_TOKEN,
            "JIRABRIDGE_PUBLIC_URL": self.service_url,
            "JIRABRIDGE_ALLOWED_JIRA_HOSTS": f"127.0.0.1:{self.emulator_port}",
            "JIRABRIDGE_JIRA_RATE_PER_SITE": str(options.pacing()),
            "JIRABRIDGE_JIRA_MAX_CONNECTIONS": str(options.connections),
            "JIRABRIDGE_TICKET_WAIT_S": "0",  # the host does not wait for keys: the work queues up
            "JIRABRIDGE_JIRA_TIMEOUT_S": str(options.jira_timeout_s),
            "JIRABRIDGE_CREATE_VERIFY_GRACE_S": str(options.create_verify_grace_s),
            **options.extra_env,
        }

    # -- life cycle --------------------------------------------------------------------------------

    def __enter__(self) -> Stack:
        # SIGTERM (a `timeout` around the run) unwinds like Ctrl-C, so the child processes are stopped.
        self._previous_sigterm: Any = None
        if threading.current_thread() is threading.main_thread():
            self._previous_sigterm = signal.signal(signal.SIGTERM, _exit_on_sigterm)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._previous_sigterm is not None:
            signal.signal(signal.SIGTERM, self._previous_sigterm)
        self.close()

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
        for proc in reversed(self.processes):
            if proc.alive():
                proc.popen.kill()
                proc.popen.wait()
        if self._own_dir and not self.options.keep:
            shutil.rmtree(self.directory, ignore_errors=True)

    def _spawn(self, name: str, args: Sequence[str], port: int | None = None) -> Proc:
        log = self.directory / f"{name}.log"
        with log.open("ab") as out:
            popen = subprocess.Popen(list(args), env=self.env, stdout=out, stderr=subprocess.STDOUT)
        proc = Proc(name, popen, log, port)
        self.processes.append(proc)
        return proc

    def _wait_http(self, proc: Proc, url: str, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not proc.alive():
                raise RuntimeError(f"{proc.name} exited:\n{proc.log.read_text(errors='replace')[-3000:]}")
            try:
                if httpx.get(url, timeout=2).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{proc.name} did not answer {url} within {timeout_s:g} s")

    def start_emulator(self, seed: dict[str, Any]) -> Proc:
        seed_file = self.directory / "seed.json"
        seed_file.write_text(json.dumps(seed))
        proc = self._spawn(
            "emulator",
            [
                str(BIN / "jira-emulator"),
                "serve",
                "--port",
                str(self.emulator_port),
                "--seed",
                str(seed_file),
                "--latency-ms",
                str(self.options.latency_ms),
                "--rate-limit",
                str(self.options.rate_limit),
                "--log-level",
                "warning",
            ],
        )
        if self.options.emulator_nice is not None:
            # The emulator stands for Jira's servers, which our processes do not starve. Starved on a
            # loaded machine, it stamped calls' arrival late and unevenly (pauses of 0.3 s, then a
            # burst), counting in one second calls our pacer had sent over more than one.
            with contextlib.suppress(PermissionError):
                os.setpriority(os.PRIO_PROCESS, proc.pid, self.options.emulator_nice)
        self._wait_http(proc, f"{self.emulator_url}/_emulator/faults")
        return proc

    def migrate(self) -> None:
        done = subprocess.run(
            [str(BIN / "jirabridge"), "migrate"], env=self.env, capture_output=True, timeout=120, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"jirabridge migrate failed: {done.stderr.decode(errors='replace')}")

    def start_service(self) -> Proc:
        self.migrate()
        proc = self._spawn(
            "service",
            [
                str(BIN / "jirabridge"),
                "serve",
                "--port",
                str(self.service_port),
                "--log-level",
                "warning",
            ],
        )
        self._wait_http(proc, f"{self.service_url}/healthz")
        return proc

    def start_worker(self, *extra: str, wait: bool = True) -> Proc:
        port = free_port()
        o = self.options
        name = f"worker-{len(self.workers)}"
        command = [str(BIN / "jirabridge")]
        if o.profile:
            profile = self.directory / f"{name}.prof"
            command = [
                sys.executable,
                "-m",
                "cProfile",
                "-o",
                str(profile),
                "-m",
                "jirabridge.entrypoints.cli",
            ]
        proc = self._spawn(
            name,
            [
                *command,
                "worker",
                "--concurrency",
                str(o.concurrency),
                "--metrics-port",
                str(port),
                *(("--lease-s", str(o.lease_s)) if o.lease_s is not None else ()),
                "--poll-s",
                str(o.poll_s),
                "--log-level",
                o.worker_log_level,
                *extra,
            ],
            port,
        )
        self.workers.append(proc)
        if wait:
            self._wait_http(proc, f"http://127.0.0.1:{port}/metrics")
        return proc

    # -- the host's side: seeding through the API ----------------------------------------------------

    def api(self, timeout_s: float = 60) -> httpx.Client:
        return httpx.Client(base_url=self.service_url, timeout=timeout_s)

    def seed_tenant(self, sites: Sequence[str], project_settings: dict[str, Any] | None = None) -> Tenant:
        """A workspace with an admin key; each emulator site connected with the bot's API token and
        project BEN configured: default issue type Task, statuses pushed, comments sent."""
        document = project_settings or {
            "default_issue_type": "Task",
            "status_map": STATUS_MAP,
            "comment_sync": "outbound",
        }
        with self.api() as api:
            service = {"Authorization": f"Bearer {SERVICE_TOKEN}"}
            workspace = _ok(api.post("/api/v1/workspaces", json={"name": "bench"}, headers=service))
            key = _ok(
                api.post(
                    f"/api/v1/workspaces/{workspace['id']}/api-keys",
                    json={"role": "admin", "name": "bench"},
                    headers=service,
                )
            )["key"]
            tenant = Tenant(workspace["id"], key, {})
            for name in sites:
                site = _ok(
                    api.post(
                        "/api/v1/sites",
                        json={
                            "url": f"{self.emulator_url}/sites/{name}",
                            "auth": {"type": "api_token", "email": BOT_EMAIL, "api_token": BOT_TOKEN},
                            "default_project": PROJECT,
                        },
                        headers=tenant.headers,
                    )
                )
                tenant.sites[name] = site["id"]
                _ok(
                    api.put(
                        f"/api/v1/sites/{site['id']}/projects/{PROJECT}",
                        json=document,
                        headers=tenant.headers,
                    )
                )
        return tenant

    def emulator_state(self) -> dict[str, Any]:
        answer = httpx.get(f"{self.emulator_url}/_emulator/state", timeout=120)
        answer.raise_for_status()
        state: dict[str, Any] = answer.json()
        return state

    @contextmanager
    def setting_up(self) -> Iterator[None]:
        """The emulator without latency or rate limits while the bench sets the world up (the service
        reads each site and project from Jira as it is connected: with 100 sites at 250 ms a call that
        alone took minutes); both come back, with fresh counters, before anything is measured."""
        self.emulator("POST", "/_emulator/faults", {"latency_ms": 0})
        self.emulator("POST", "/_emulator/rate-limits", {"default": {}})
        try:
            yield
        finally:
            self.emulator("POST", "/_emulator/faults", {"latency_ms": self.options.latency_ms})
            self.emulator(
                "POST", "/_emulator/rate-limits", {"default": {"requests_per_s": self.options.rate_limit}}
            )

    def emulator(self, method: str, path: str, body: Any = None) -> Any:
        answer = httpx.request(method, f"{self.emulator_url}{path}", json=body, timeout=60)
        answer.raise_for_status()
        return answer.json()

    # -- watching the work ---------------------------------------------------------------------------

    def _depth(self, *, periodic: bool) -> dict[str, int]:
        """The outbox by status (outbox.queue_depth): the changes' work, or the periodic rounds."""
        from sqlalchemy.orm import Session

        from jirabridge.storage import outbox
        from jirabridge.storage.db import READ_ONLY

        with self._db().connect().execution_options(**{READ_ONLY: True}) as connection:
            return outbox.queue_depth(Session(bind=connection), periodic=periodic)

    def failed(self) -> tuple[int, int]:
        """Operations that failed for good: (the changes' work, periodic ones)."""
        return self._depth(periodic=False)["failed"], self._depth(periodic=True)["failed"]

    def _db(self) -> Any:
        if self._engine is None:
            from jirabridge.storage.db import make_engine

            self._engine = make_engine(self.database_url)
        return self._engine

    def outstanding(self, *, include_periodic: bool = False) -> int:
        """Operations pending or running. Without `include_periodic`, the periodic ones (pollers,
        drift checks: see storage/schedules.py) are left out — they keep coming back, and under faults
        one may be retrying for minutes — so this is the work the host's changes implied."""
        kinds = (False, True) if include_periodic else (False,)
        return sum(d["pending"] + d["running"] for d in (self._depth(periodic=p) for p in kinds))

    def wait_drained(
        self,
        timeout_s: float = 3600,
        every_s: float = 0.25,
        on_poll: Callable[[], None] | None = None,
        *,
        include_periodic: bool = True,
    ) -> float:
        """Until no operation is pending or running (with `include_periodic=False`: none the host's
        changes implied); returns the monotonic time it happened."""
        deadline = time.monotonic() + timeout_s
        while True:
            left = self.outstanding(include_periodic=include_periodic)
            if left == 0:
                return time.monotonic()
            if time.monotonic() > deadline:
                raise TimeoutError(f"the outbox did not drain within {timeout_s:g} s: {left} left")
            if on_poll is not None:
                on_poll()
            time.sleep(every_s)

    def jira_calls(self, workers: Iterable[Proc] | None = None) -> dict[str, float]:
        """Answers from Jira to the workers' calls by HTTP status (live workers only)."""
        totals: dict[str, float] = {}
        for proc in workers if workers is not None else self.workers:
            if proc.port is None or not proc.alive():
                continue
            text = httpx.get(f"http://127.0.0.1:{proc.port}/metrics", timeout=30).text
            for name, labels, value in parse_metrics(text):
                if name == "jirabridge_worker_jira_calls_total":
                    totals[labels["status"]] = totals.get(labels["status"], 0.0) + value
        return totals


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def parse_metrics(text: str) -> list[tuple[str, dict[str, str], float]]:
    """Prometheus' text format, just enough of it: `name{a="b",c="d"} value`."""
    samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        name, _, rest = head.partition("{")
        labels: dict[str, str] = {}
        for pair in rest.rstrip("}").split(","):
            if "=" in pair:
                k, _, v = pair.partition("=")
                labels[k.strip()] = v.strip().strip('"')
        samples.append((name, labels, float(value)))
    return samples


def _ok(answer: httpx.Response) -> Any:
    if answer.status_code >= 400:
        raise RuntimeError(
            f"{answer.request.method} {answer.request.url.path}: {answer.status_code} {answer.text}"
        )
    return answer.json() if answer.content else None


def _fernet_key() -> str:
    from jirabridge.secrets_box import SecretBox

    return SecretBox.generate_key()


# -- direct inserts (setup that is not measured) ----------------------------------------------------


def insert_linked_items(
    database_url: str,
    workspace_id: str,
    site_id: str,
    issues: Sequence[tuple[str, str | None]],
    *,
    item_type: str = "finding",
    status: str | None = "Open",
    jira_status: str | None = "To Do",
    prefix: str = "base",
    issue_type_id: str | None = None,
    chunk: int = 10_000,
) -> list[str]:
    """Items `{prefix}-{n}` linked to the given (issue key, issue id) pairs, written straight into the
    database in bulk: a benchmark's starting state, as if the host had linked them long ago."""
    from sqlalchemy import insert

    from jirabridge.storage.db import make_engine
    from jirabridge.storage.tables import Item, Link

    now = datetime.now(UTC)
    ids: list[str] = []
    engine = make_engine(database_url)
    try:
        for start in range(0, len(issues), chunk):
            items, links = [], []
            for n, (key, issue_id) in enumerate(issues[start : start + chunk], start=start + 1):
                item_id = f"{prefix}-{n}"
                ids.append(item_id)
                items.append(
                    {
                        "workspace_id": workspace_id,
                        "type": item_type,
                        "id": item_id,
                        "title": f"{prefix} {n}",
                        "status": status,
                        "attributes": {},
                        "created_at": now,
                        "updated_at": now,
                    }
                )
                links.append(
                    {
                        "id": f"lk_{prefix}{n}",
                        "workspace_id": workspace_id,
                        "item_type": item_type,
                        "item_id": item_id,
                        "site_id": site_id,
                        "issue_key": key,
                        "issue_id": issue_id,
                        "issue_type_id": issue_type_id,
                        "jira_status": jira_status,
                        "jira_status_category": "new" if jira_status == "To Do" else None,
                        "sync_state": "synced",
                        "created_by_jirabridge": False,
                        "linked_at": now,
                    }
                )
            with engine.begin() as connection:
                connection.execute(insert(Item.__table__), items)
                connection.execute(insert(Link.__table__), links)
    finally:
        engine.dispose()
    return ids


def task_type_id(stack: Stack, site: str) -> str:
    """The id of project BEN's issue type Task on a site (links made by jirabridge store it)."""
    answer = httpx.get(
        f"{stack.emulator_url}/sites/{site}/rest/api/3/issue/createmeta/{PROJECT}/issuetypes",
        auth=(BOT_EMAIL, BOT_TOKEN),
        timeout=30,
    )
    answer.raise_for_status()
    body = answer.json()
    types = body.get("issueTypes") or body.get("values") or []
    return str(next(t["id"] for t in types if t["name"] == "Task"))


def seeded_issues(state: dict[str, Any], site: str) -> list[tuple[str, str | None]]:
    """(key, id) of a site's issues in the emulator, in key order."""
    issues = state["sites"][site]["issues"]
    pairs = [(str(i["key"]), str(i["id"])) for i in issues]
    return sorted(pairs, key=lambda pair: int(pair[0].rsplit("-", 1)[1]))


def _cpu_ticks() -> tuple[int, int] | None:
    """The machine's CPU time so far, all of it and the part other guests of the host took from this
    one (`steal`), in ticks (/proc/stat); None where there is no /proc/stat."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    ticks = [int(value) for value in fields]
    return sum(ticks[:8]), ticks[7] if len(ticks) > 7 else 0


_TICKS_AT_START = _cpu_ticks()


def _steal_since_start() -> str:
    """ ", steal N % since the bench started": on a virtual machine, CPU time other guests took, which
    makes every CPU figure of the run less steady (empty when too little time has passed to tell)."""
    now = _cpu_ticks()
    if now is None or _TICKS_AT_START is None or now[0] - _TICKS_AT_START[0] < 200:
        return ""
    share = (now[1] - _TICKS_AT_START[1]) / (now[0] - _TICKS_AT_START[0])
    return f", steal {share:.0%} since the bench started"


def machine() -> str:
    """A line about where a run happened, for the report."""
    cores = os.cpu_count() or 0
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    return (
        f"{cores} cores ({model or 'unknown CPU'}), Python {sys.version.split()[0]}, load {load:.2f} at start"
        + _steal_since_start()
    )
