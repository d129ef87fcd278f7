"""The id of the HTTP request being served, for logs.

The HTTP layer (entrypoints/http/request_ids.py) sets it for the duration of each request, from the
caller's `X-Request-ID` when sane or a new one, and answers it in the same header and in every problem
body. It lives in a context variable so that anything logging during the request (routes, the
service, sync code in the thread pool, which copies the context) carries it without passing it
along: `RequestIdFilter` puts it on each log record as `request_id`, for a formatter or a structured
logging processor to print.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar

request_id: ContextVar[str | None] = ContextVar("jirabridge_request_id", default=None)


def current_request_id() -> str | None:
    return request_id.get()


class RequestIdFilter(logging.Filter):
    """Adds `record.request_id` (the current request's id, or "-" outside a request); drops nothing.
    Install it on handlers: a logger's filters see only records logged on that very logger."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id.get() or "-"
        return True
