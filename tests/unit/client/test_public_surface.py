"""The public surface of `jirabridge.client` is a promise: changing it must be a deliberate edit here.
And it stands alone: a host imports it without the service's own modules or dependencies."""

from __future__ import annotations

import subprocess
import sys

import jirabridge.client

EXPECTED = {
    # clients and policy
    "Client",
    "AsyncClient",
    "Retries",
    "verify_callback",
    # errors
    "JirabridgeError",
    "APIError",
    "BadRequest",
    "Unauthorized",
    "Forbidden",
    "NotFound",
    "Conflict",
    "ValidationError",
    "RateLimited",
    "ServerError",
    "TransportError",
    "InvalidResponse",
    "InvalidCallback",
    # what is sent
    "ApiTokenAuth",
    "OAuthAuth",
    "Rule",
    "Destination",
    "ItemScope",
    # what is answered
    "Workspace",
    "ApiKey",
    "Site",
    "User",
    "UserConnection",
    "UserOverview",
    "Item",
    "ItemRef",
    "Link",
    "Comment",
    "Event",
    "EventPage",
    "TimeEntry",
    "Worklog",
    "RulePreview",
    "UiSession",
}


def test_public_surface_is_pinned() -> None:
    assert set(jirabridge.client.__all__) == EXPECTED
    assert len(jirabridge.client.__all__) == len(EXPECTED)
    for name in EXPECTED:
        assert hasattr(jirabridge.client, name), name


def test_every_error_is_a_jirabridge_error_and_api_errors_share_one_class() -> None:
    client = jirabridge.client
    errors = [getattr(client, n) for n in EXPECTED if n.endswith(("Error", "Callback", "Response"))]
    errors += [client.BadRequest, client.Unauthorized, client.Forbidden, client.NotFound, client.Conflict]
    errors += [client.RateLimited]
    assert all(issubclass(e, client.JirabridgeError) for e in errors)
    http = [client.BadRequest, client.Unauthorized, client.Forbidden, client.NotFound, client.Conflict]
    assert all(issubclass(e, client.APIError) for e in [*http, client.ValidationError, client.RateLimited])


def test_importing_the_client_loads_nothing_of_the_service() -> None:
    probe = (
        "import sys, jirabridge.client\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in "
        "('fastapi', 'starlette', 'sqlalchemy', 'alembic', 'typer', 'jinja2', 'jira_emulator',"
        " 'cryptography')"
        " or (m.startswith('jirabridge.') and not m.startswith('jirabridge.client'))]\n"
        "print(loaded)\n"
    )
    answer = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert answer.stdout.strip() == "[]"
