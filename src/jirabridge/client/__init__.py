"""A typed client of jirabridge's HTTP API for host applications, sync and async, over httpx.

Self-contained: it imports nothing else of jirabridge (only httpx, pydantic and stamina), so a host
needs none of the service's dependencies at run time. The public surface is below; everything in a
`_module` is private. Usage and reference: docs/client.md.

    with Client("https://jirabridge.internal", api_key) as jb:
        jb.put_item("error", "e-1", title="TypeError in checkout", severity="high")
        link = jb.create_ticket("error", "e-1", project="WEB")

Every error is one of:

    JirabridgeError                 everything the client raises
    ├── APIError                    the service answered an error: `.status`, `.type`, `.title`,
    │   │                           `.detail`, `.errors` ([{field, message}]), `.request_id`,
    │   │                           `.retry_after`, `.response`  (the problem+json fields)
    │   ├── BadRequest              400 (and other 4xx without a class of their own)
    │   ├── Unauthorized            401: no key or an unknown one
    │   ├── Forbidden               403: the key's role may not
    │   ├── NotFound                404
    │   ├── Conflict                409: the state forbids it
    │   ├── ValidationError         422: `.errors` names each field; nothing was written
    │   ├── RateLimited             429
    │   └── ServerError             5xx
    ├── TransportError              no answer (connection, timeout); `.retryable`
    ├── InvalidResponse             a success whose body is not what the service documents
    └── InvalidCallback             `verify_callback` refused a delivery

Retries (`Retries`): only for calls safe to repeat — GET, PUT, DELETE, and the POSTs sent with an
`Idempotency-Key` (create_ticket, link_issue, add_comment; one key per call) — after a connection
error or timeout, 429 (honouring `Retry-After`), 502, 503 or 504; bounded, with backoff and jitter.
"""

from jirabridge.client._callbacks import verify_callback
from jirabridge.client._client import AsyncClient, Client
from jirabridge.client._errors import (
    APIError,
    BadRequest,
    Conflict,
    Forbidden,
    InvalidCallback,
    InvalidResponse,
    JirabridgeError,
    NotFound,
    RateLimited,
    ServerError,
    TransportError,
    Unauthorized,
    ValidationError,
)
from jirabridge.client._models import (
    ApiKey,
    ApiTokenAuth,
    Comment,
    Destination,
    Event,
    EventPage,
    Item,
    ItemRef,
    ItemScope,
    Link,
    OAuthAuth,
    Rule,
    RulePreview,
    Site,
    TimeEntry,
    UiSession,
    User,
    UserConnection,
    UserOverview,
    Worklog,
    Workspace,
)
from jirabridge.client._retry import Retries

__all__ = [
    "APIError",
    "ApiKey",
    "ApiTokenAuth",
    "AsyncClient",
    "BadRequest",
    "Client",
    "Comment",
    "Conflict",
    "Destination",
    "Event",
    "EventPage",
    "Forbidden",
    "InvalidCallback",
    "InvalidResponse",
    "Item",
    "ItemRef",
    "ItemScope",
    "JirabridgeError",
    "Link",
    "NotFound",
    "OAuthAuth",
    "RateLimited",
    "Retries",
    "Rule",
    "RulePreview",
    "ServerError",
    "Site",
    "TimeEntry",
    "TransportError",
    "UiSession",
    "Unauthorized",
    "User",
    "UserConnection",
    "UserOverview",
    "ValidationError",
    "Worklog",
    "Workspace",
    "verify_callback",
]
