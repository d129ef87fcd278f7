"""The access log's redaction, through uvicorn's own access formatter as `jirabridge serve` sets it up."""

from __future__ import annotations

import io
import logging
import logging.config
import uuid

import pytest

from jirabridge.entrypoints.http.access_log import redact_query, uvicorn_log_config
from jirabridge.request_context import request_id


@pytest.mark.parametrize(
    ("target", "shown"),
    [
        ("/oauth/callback?code=c0de&state=st4te", "/oauth/callback?code=REDACTED&state=REDACTED"),
        ("/x?access_token=a&refresh_token=b&client_secret=c", None),
        ("/x?api_key=a&apiKey=b&password=c&jwt=d&X-Signature=e", None),
        ("/api/v1/events?after=12&limit=50", "/api/v1/events?after=12&limit=50"),
        ("/api/v1/items?code_review=1&state_of_art=2", "/api/v1/items?code_review=1&state_of_art=2"),
        ("/healthz", "/healthz"),
        ("/x?state", "/x?state"),  # no value to hide
    ],
)
def test_sensitive_query_values_are_redacted(target: str, shown: str | None) -> None:
    redacted = redact_query(target)
    if shown is not None:
        assert redacted == shown
    else:
        values = [pair.split("=", 1)[1] for pair in redacted.split("?", 1)[1].split("&")]
        assert set(values) == {"REDACTED"}


def test_uvicorns_access_line_shows_the_path_without_the_code_and_with_the_request_id() -> None:
    config = uvicorn_log_config()
    name = f"test.access.{uuid.uuid4().hex}"  # uvicorn's setup on a logger of this test's own
    stream = io.StringIO()
    config["handlers"]["access"]["stream"] = stream
    config["handlers"]["access"]["formatter"] = "access"
    config["loggers"] = {name: {**config["loggers"]["uvicorn.access"], "handlers": ["access"]}}
    config["formatters"]["access"]["use_colors"] = False
    config["formatters"]["default"]["use_colors"] = False
    logging.config.dictConfig(config)
    token = request_id.set("req-123")
    try:
        # Exactly how uvicorn's protocols log a request.
        logging.getLogger(name).info(
            '%s - "%s %s HTTP/%s" %d',
            "127.0.0.1:5000",
            "GET",
            "/oauth/callback?code=c0de-XYZ&state=st4te-XYZ",
            "1.1",
            200,
        )
    finally:
        request_id.reset(token)
    assert stream.getvalue().strip() == (
        'INFO:     127.0.0.1:5000 - "GET /oauth/callback?code=REDACTED&state=REDACTED HTTP/1.1" 200 OK '
        "request_id=req-123"
    )
