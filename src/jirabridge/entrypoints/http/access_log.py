"""The access log without secrets: uvicorn prints each request's path with its query string, and the
OAuth callback's query holds the authorisation `code` and `state` (each enough to finish someone's
connection while it is valid). Sensitive query values are replaced by `REDACTED`; the rest of the line
is uvicorn's own, plus the request id.
"""

from __future__ import annotations

import copy
import logging
import re
from typing import Any
from urllib.parse import unquote_plus

from uvicorn.config import LOGGING_CONFIG

from jirabridge.logs import ContextFilter, JsonLogFormatter, LogFormat
from jirabridge.request_context import RequestIdFilter

REDACTED = "REDACTED"
# `code` and `state` (OAuth), and any name that says token, secret, password, signature or key.
_SENSITIVE = re.compile(
    r"^(code|state|jwt|sig)$|token|secret|passw|signature|api[_-]?key|credential|authoriz", re.IGNORECASE
)
# uvicorn's access line: '%s - "%s %s HTTP/%s" %d' % (client, method, path_with_query, version, status)
_PATH_ARG = 2
_ACCESS_ARGS = 5


def redact_query(target: str) -> str:
    """`target` (a path, maybe with a query) with the values of sensitive parameters redacted."""
    path, mark, query = target.partition("?")
    if not mark:
        return target
    pairs = []
    for pair in query.split("&"):
        name, equals, _ = pair.partition("=")
        sensitive = equals and _SENSITIVE.search(unquote_plus(name))
        pairs.append(f"{name}={REDACTED}" if sensitive else pair)
    return f"{path}?{'&'.join(pairs)}"


class RedactQueryFilter(logging.Filter):
    """On the `uvicorn.access` logger: rewrites the record's path argument before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == _ACCESS_ARGS:
            target = args[_PATH_ARG]
            if isinstance(target, str):
                record.args = (*args[:_PATH_ARG], redact_query(target), *args[_PATH_ARG + 1 :])
        return True


def uvicorn_log_config(fmt: LogFormat = "text") -> dict[str, Any]:
    """uvicorn's default logging, with the access log redacted and carrying the request id; with
    `fmt` "json", its lines are JSON objects like jirabridge's own (jirabridge/logs.py)."""
    config = copy.deepcopy(LOGGING_CONFIG)
    if fmt == "json":
        config["filters"] = {"redact_query": {"()": RedactQueryFilter}, "context": {"()": ContextFilter}}
        config["loggers"]["uvicorn.access"]["filters"] = ["redact_query"]
        for name in ("default", "access"):
            config["formatters"][name] = {"()": JsonLogFormatter}
            config["handlers"][name]["filters"] = ["context"]
        return config
    config["filters"] = {
        "redact_query": {"()": RedactQueryFilter},
        "request_id": {"()": RequestIdFilter},
    }
    config["loggers"]["uvicorn.access"]["filters"] = ["redact_query"]
    config["handlers"]["access"]["filters"] = ["request_id"]
    config["formatters"]["access"]["fmt"] = (
        '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s request_id=%(request_id)s'
    )
    return config
