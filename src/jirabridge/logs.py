"""Logs: one JSON object a line in production, plain text in development, never a secret.

Every log call in jirabridge is an event name with `key=value` fields
(`log.info("outbox.job.done op=%s kind=%s", ...)`). The JSON formatter turns that into

    {"time": "2026-12-05T08:40:01.123+00:00", "level": "info", "logger": "jirabridge.worker",
     "event": "outbox.job.done", "message": "outbox.job.done op=op_… kind=issue.create attempt=1",
     "op": "op_…", "kind": "issue.create", "attempt": "1",
     "workspace": "ws_…", "site": "st_…", "item": "error/e-1", "operation": "op_…",
     "request_id": "…", "trace_id": "…"}

The context fields come from where the work is: the HTTP layer binds the request id (request_context.py)
and, once the caller is known, the workspace, site and item of the route; the worker binds the
workspace, site, item and operation id of the operation it runs (`bound`). `trace_id` is the current
OpenTelemetry trace, when tracing is on (telemetry.py).

Secrets: any field, or `key=value` in the message, whose name says token, secret, password, signature,
credential, authorization or key is replaced by `[redacted]` (the values are never logged on purpose;
this is the net under that rule).

`JIRABRIDGE_LOG_FORMAT=json|text` chooses; `serve` and `worker` default to json, the demo to text.
"""

from __future__ import annotations

import functools
import logging
import logging.config
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Literal

from pythonjsonlogger.json import JsonFormatter

from jirabridge.request_context import request_id

LogFormat = Literal["json", "text"]
FORMAT_ENV = "JIRABRIDGE_LOG_FORMAT"
REDACTED = "[redacted]"
CONTEXT_FIELDS = ("workspace", "site", "item", "issue", "operation", "kind")

SENSITIVE = re.compile(
    r"token|secret|passw|signature|credential|authoriz|api[_-]?key|^key$|^jwt$|cookie", re.IGNORECASE
)
_EVENT = re.compile(r"[a-z][a-z0-9_]*(\.[a-z0-9_]+)+")
_PAIR = re.compile(r"(?<![\w.])([A-Za-z_][A-Za-z0-9_]*)=(\"[^\"]*\"|'[^']*'|[^\s&\"']+)")

# A dict per scope (a request, an operation), shared with the threads the scope hands work to: sync
# routes and dependencies run in a thread pool with a copy of the context, and the copy points to the
# same dict, so what a dependency binds is seen by the route and by everything it logs.
_fields: ContextVar[dict[str, str] | None] = ContextVar("jirabridge_log_fields", default=None)


@contextmanager
def bound(**fields: str | None) -> Iterator[None]:
    """A new log scope: these fields (None ones left out) on every record logged inside it."""
    token = _fields.set({**(_fields.get() or {}), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _fields.reset(token)


def bind(**fields: str | None) -> None:
    """Add fields to the current scope (a request's, once the caller is known); no-op outside one."""
    current = _fields.get()
    if current is not None:
        current.update({k: v for k, v in fields.items() if v is not None})


def context_fields() -> dict[str, str]:
    return dict(_fields.get() or {})


def _trace_id() -> str | None:
    from opentelemetry import trace  # the API only: a no-op span unless tracing is on

    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


@functools.lru_cache(maxsize=4096)
def _sensitive(name: str) -> bool:
    """Whether a field of this name is redacted. Remembered: the same few dozen names come on every
    record, and the search for each of them was a good part of a log line's cost."""
    return SENSITIVE.search(name) is not None


def redact_message(message: str) -> str:
    return _PAIR.sub(lambda m: f"{m[1]}={REDACTED}" if _sensitive(m[1]) else m[0], message)


class ContextFilter(logging.Filter):
    """Puts the request id, trace id and bound fields on each record; install it on handlers."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id.get()
        if getattr(record, "trace_id", None) is None:
            record.trace_id = _trace_id()
        for key, value in context_fields().items():
            if getattr(record, key, None) is None:
                setattr(record, key, value)
        return True


class JsonLogFormatter(JsonFormatter):
    """One JSON object a line: time, level, logger, event, message, the message's `key=value` fields,
    the context fields; secrets redacted."""

    def __init__(self) -> None:
        super().__init__(
            "%(levelname)s %(name)s %(message)s",
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp="time",
        )

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        super().add_fields(log_data, record, message_dict)
        log_data["level"] = record.levelname.lower()
        template = record.msg if isinstance(record.msg, str) else ""
        first = template.split(" ", 1)[0]
        ours = _EVENT.fullmatch(first) is not None  # "event key=value ...", as jirabridge logs
        log_data["event"] = first if ours else record.name
        message = redact_message(record.getMessage())
        log_data["message"] = message
        for key, value in _PAIR.findall(message) if ours else ():
            log_data.setdefault(key, value.strip("\"'"))
        for key in list(log_data):
            if key not in ("message", "event") and _sensitive(key):
                log_data[key] = REDACTED


class TextFormatter(logging.Formatter):
    """Development: the classic line, secrets redacted, with the context fields that are set."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = redact_message(super().format(record))
        extra = [
            f"{k}={getattr(record, k)}" for k in (*CONTEXT_FIELDS, "request_id") if getattr(record, k, None)
        ]
        return " ".join([line, *extra])


def log_format(default: LogFormat) -> LogFormat:
    chosen = os.environ.get(FORMAT_ENV, "").strip().lower()
    if chosen in ("json", "text"):
        return chosen  # type: ignore[return-value]
    return default


def handler_config(fmt: LogFormat) -> dict[str, Any]:
    """`logging.config.dictConfig` pieces for a stderr handler in `fmt` (uvicorn's loggers use it too)."""
    return {
        "filters": {"context": {"()": ContextFilter}},
        "formatters": {"jirabridge": {"()": JsonLogFormatter if fmt == "json" else TextFormatter}},
        "handlers": {
            "jirabridge": {
                "class": "logging.StreamHandler",
                "formatter": "jirabridge",
                "filters": ["context"],
                "stream": "ext://sys.stderr",
            }
        },
    }


def configure(level: str, fmt: LogFormat) -> None:
    """The root logger writes through one handler in `fmt`."""
    config = handler_config(fmt)
    config.update(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "root": {"level": level.upper(), "handlers": ["jirabridge"]},
            # httpx writes a line at INFO for every request (a worker's every Jira call) with the
            # full URL: the same call our own `jira.call` line reports at DEBUG, so it waits for DEBUG
            # too instead of costing a formatted line per call at INFO.
            "loggers": {
                name: {"level": "DEBUG" if level.upper() == "DEBUG" else "WARNING"}
                for name in ("httpx", "httpcore")
            },
        }
    )
    logging.config.dictConfig(config)
