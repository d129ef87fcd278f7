"""Workspace settings (SPEC section 2, `GET/PUT /api/v1/settings`): the document, its defaults and its
validation. Pure: a document in, settings or every field error out.

`PUT` replaces the whole document: a field left out takes its default (below), with one exception —
`callback.secret` is write-only, so leaving it out keeps the stored one (a `GET`, edit, `PUT` round
trip must not lose it). `callback.secret_set` is read-only and ignored on input for the same reason.

Defaults:
- `link_cardinality`: `{}`; an item type not listed is `many_to_many` (no link is ever refused).
- `worklogs`: enabled, never delete worklogs in Jira, estimate `auto`, 60 s minimum (Jira refuses less),
  no rounding.
- `host_name`: null, which means the workspace's name.
- `callback`: no URL.
- `max_projects_per_site`: 10.
- `comment_template`: `[{timestamp}] {host} {item_type} Status: {status}` (project settings override it).
- `ui.allowed_origins`: `[]` — the origins (`https://app.example.com`) that may embed the pages in a
  frame and that a page session's `return_url` may lead back to.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from jirabridge.domain.ui_sessions import origin

CARDINALITIES = ("one_to_one", "many_to_one", "many_to_many")
DEFAULT_CARDINALITY = "many_to_many"
ESTIMATE_MODES = ("auto", "leave")
ROUNDING_MINUTES = (0, 1, 5, 15)
JIRA_MIN_WORKLOG_S = 60
MAX_WORKLOG_MIN_S = 24 * 3600
MAX_PROJECTS_LIMIT = 1000
MIN_SECRET_LENGTH = 16
MAX_SECRET_LENGTH = 500
MAX_URL_LENGTH = 2000
MAX_ITEM_TYPE_LENGTH = 100
MAX_HOST_NAME_LENGTH = 100
MAX_TEMPLATE_LENGTH = 2000
MAX_UI_ORIGINS = 20
DEFAULT_COMMENT_TEMPLATE = "[{timestamp}] {host} {item_type} Status: {status}"
TEMPLATE_PLACEHOLDERS = frozenset(
    {"timestamp", "host", "item_type", "item_id", "title", "status", "previous_status", "url"}
)


@dataclass(frozen=True)
class WorklogSettings:
    enabled: bool = True
    delete_worklogs: bool = False  # delete the Jira worklog when its time entry is deleted
    estimate: str = "auto"  # Jira's adjustEstimate: "auto" reduces the remaining estimate, "leave" does not
    min_seconds: int = JIRA_MIN_WORKLOG_S
    rounding_minutes: int = 0  # round durations up to a multiple of this; 0 = exact


@dataclass(frozen=True)
class WorkspaceSettings:
    link_cardinality: Mapping[str, str] = field(default_factory=dict)
    worklogs: WorklogSettings = field(default_factory=WorklogSettings)
    host_name: str | None = None
    callback_url: str | None = None
    max_projects_per_site: int = 10
    comment_template: str = DEFAULT_COMMENT_TEMPLATE
    ui_allowed_origins: tuple[str, ...] = ()

    def cardinality(self, item_type: str) -> str:
        return self.link_cardinality.get(item_type, DEFAULT_CARDINALITY)


@dataclass(frozen=True)
class SettingsUpdate:
    """A valid `PUT`: the new settings, and a new callback secret when one was given."""

    settings: WorkspaceSettings
    new_callback_secret: str | None


@dataclass(frozen=True)
class FieldProblem:
    field: str
    message: str


class SettingsInvalid(Exception):
    def __init__(self, problems: list[FieldProblem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))
        self.problems = problems


class _Errors:
    def __init__(self) -> None:
        self.problems: list[FieldProblem] = []

    def add(self, field_name: str, message: str) -> None:
        self.problems.append(FieldProblem(field_name, message))


def _object(value: object, name: str, errors: _Errors, allowed: tuple[str, ...]) -> Mapping[str, Any] | None:
    if not isinstance(value, Mapping):
        errors.add(name, "must be an object")
        return None
    prefix = f"{name}." if name else ""
    for key in value:
        if key not in allowed:
            errors.add(f"{prefix}{key}", "unknown field")
    return value


def _bool(doc: Mapping[str, Any], key: str, default: bool, name: str, errors: _Errors) -> bool:
    value = doc.get(key, default)
    if not isinstance(value, bool):
        errors.add(name, "must be true or false")
        return default
    return value


def _int(
    doc: Mapping[str, Any], key: str, default: int, name: str, errors: _Errors, low: int, high: int
) -> int:
    value = doc.get(key, default)
    # bool is an int in Python; `true` is not a number here.
    if not isinstance(value, int) or isinstance(value, bool):
        errors.add(name, "must be an integer")
        return default
    if not low <= value <= high:
        errors.add(name, f"must be between {low} and {high}")
        return default
    return value


def _link_cardinality(value: object, errors: _Errors) -> dict[str, str]:
    if not isinstance(value, Mapping):
        errors.add("link_cardinality", "must be an object of item type to cardinality")
        return {}
    result: dict[str, str] = {}
    for item_type, cardinality in value.items():
        name = f"link_cardinality.{item_type}"
        if (
            not item_type
            or len(item_type) > MAX_ITEM_TYPE_LENGTH
            or any(c.isspace() or c == "/" for c in item_type)
        ):
            errors.add(name, f"an item type is 1 to {MAX_ITEM_TYPE_LENGTH} characters, without spaces or '/'")
        elif cardinality not in CARDINALITIES:
            errors.add(name, "must be one of " + ", ".join(CARDINALITIES))
        else:
            result[item_type] = cardinality
    return result


def _worklogs(value: object, errors: _Errors) -> WorklogSettings:
    default = WorklogSettings()
    allowed = ("enabled", "delete_worklogs", "estimate", "min_seconds", "rounding_minutes")
    doc = _object(value, "worklogs", errors, allowed)
    if doc is None:
        return default
    estimate = doc.get("estimate", default.estimate)
    if estimate not in ESTIMATE_MODES:
        errors.add("worklogs.estimate", "must be one of " + ", ".join(ESTIMATE_MODES))
        estimate = default.estimate
    rounding = doc.get("rounding_minutes", default.rounding_minutes)
    if isinstance(rounding, bool) or rounding not in ROUNDING_MINUTES:
        errors.add("worklogs.rounding_minutes", "must be one of " + ", ".join(map(str, ROUNDING_MINUTES)))
        rounding = default.rounding_minutes
    min_seconds = doc.get("min_seconds", default.min_seconds)
    if (
        isinstance(min_seconds, int)
        and not isinstance(min_seconds, bool)
        and min_seconds < JIRA_MIN_WORKLOG_S
    ):
        errors.add("worklogs.min_seconds", f"Jira refuses worklogs under {JIRA_MIN_WORKLOG_S} seconds")
        min_seconds = default.min_seconds
    else:
        min_seconds = _int(
            doc,
            "min_seconds",
            default.min_seconds,
            "worklogs.min_seconds",
            errors,
            JIRA_MIN_WORKLOG_S,
            MAX_WORKLOG_MIN_S,
        )
    return WorklogSettings(
        enabled=_bool(doc, "enabled", default.enabled, "worklogs.enabled", errors),
        delete_worklogs=_bool(
            doc, "delete_worklogs", default.delete_worklogs, "worklogs.delete_worklogs", errors
        ),
        estimate=str(estimate),
        min_seconds=min_seconds,
        rounding_minutes=int(rounding),
    )


def callback_url_problem(url: str) -> str | None:
    """Why a callback URL is refused, or None."""
    if len(url) > MAX_URL_LENGTH or any(c.isspace() for c in url):
        return f"must be a URL of at most {MAX_URL_LENGTH} characters without spaces"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 — raises ValueError on a bad port
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("http", "https"):
        return "must be an http or https URL"
    if not parts.hostname:
        return "must name a host"
    if parts.username is not None or parts.password is not None:
        # It would be shown back by GET: put credentials in `callback.secret`, never in the URL.
        return "must not carry credentials; the signature (callback.secret) authenticates deliveries"
    if parts.fragment:
        return "must not have a fragment"
    return None


def _callback(value: object, has_secret: bool, errors: _Errors) -> tuple[str | None, str | None]:
    doc = _object(value, "callback", errors, ("url", "secret", "secret_set"))
    if doc is None:
        return None, None
    url = doc.get("url")
    if url is not None:
        if not isinstance(url, str):
            errors.add("callback.url", "must be a string or null")
            url = None
        elif (problem := callback_url_problem(url)) is not None:
            errors.add("callback.url", problem)
            url = None
    secret = doc.get("secret")
    if secret is not None:
        if not isinstance(secret, str):
            errors.add("callback.secret", "must be a string")
            secret = None
        elif not MIN_SECRET_LENGTH <= len(secret) <= MAX_SECRET_LENGTH:
            errors.add("callback.secret", f"must be {MIN_SECRET_LENGTH} to {MAX_SECRET_LENGTH} characters")
            secret = None
    elif url is not None and not has_secret:
        errors.add("callback.secret", "is required with a callback URL: deliveries are signed with it")
    if "secret_set" in doc and not isinstance(doc["secret_set"], bool):
        errors.add("callback.secret_set", "must be true or false (it is read-only and ignored)")
    return url, secret


def _host_name(value: object, errors: _Errors) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_HOST_NAME_LENGTH:
        errors.add("host_name", f"must be a non-blank string of at most {MAX_HOST_NAME_LENGTH} characters")
        return None
    return value.strip()


def comment_template_problem(template: str) -> str | None:
    if len(template) > MAX_TEMPLATE_LENGTH:
        return f"must be at most {MAX_TEMPLATE_LENGTH} characters"
    try:
        names = [name for _, name, spec, conv in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        return f"is not a valid template ({exc}); write a literal brace as {{{{ or }}}}"
    unknown = sorted({n for n in names if n not in TEMPLATE_PLACEHOLDERS})
    if unknown:
        known = ", ".join("{" + p + "}" for p in sorted(TEMPLATE_PLACEHOLDERS))
        return f"unknown placeholder {{{unknown[0]}}}; the placeholders are {known}"
    return None


def _comment_template(value: object, errors: _Errors) -> str:
    if not isinstance(value, str) or not value.strip():
        errors.add("comment_template", "must be a non-blank string")
        return DEFAULT_COMMENT_TEMPLATE
    if (problem := comment_template_problem(value)) is not None:
        errors.add("comment_template", problem)
        return DEFAULT_COMMENT_TEMPLATE
    return value


def _ui(value: object, errors: _Errors) -> tuple[str, ...]:
    doc = _object(value, "ui", errors, ("allowed_origins",))
    if doc is None:
        return ()
    origins = doc.get("allowed_origins", [])
    if not isinstance(origins, list) or len(origins) > MAX_UI_ORIGINS:
        errors.add("ui.allowed_origins", f"must be a list of at most {MAX_UI_ORIGINS} origins")
        return ()
    found: list[str] = []
    for index, entry in enumerate(origins):
        normal = origin(entry) if isinstance(entry, str) and len(entry) <= MAX_URL_LENGTH else None
        parts = urlsplit(entry) if normal is not None else None
        if (
            parts is None
            or parts.path not in ("", "/")
            or parts.query
            or parts.fragment
            or parts.username is not None
        ):
            errors.add(
                f"ui.allowed_origins[{index}]",
                "must be an origin: scheme, host and optional port, like https://app.example.com",
            )
        elif normal is not None and normal not in found:
            found.append(normal)
    return tuple(found)


TOP_LEVEL = (
    "link_cardinality",
    "worklogs",
    "host_name",
    "callback",
    "max_projects_per_site",
    "comment_template",
    "ui",
)


def parse_settings(document: object, *, has_secret: bool) -> SettingsUpdate:
    """Validate a `PUT` document. `has_secret`: a callback secret is already stored.
    Raises `SettingsInvalid` naming every invalid field."""
    errors = _Errors()
    doc = _object(document, "", errors, TOP_LEVEL)
    if doc is None:
        raise SettingsInvalid([FieldProblem("body", "must be a JSON object")])
    defaults = WorkspaceSettings()
    cardinality = _link_cardinality(doc.get("link_cardinality", {}), errors)
    worklogs = _worklogs(doc.get("worklogs", {}), errors)
    host_name = _host_name(doc.get("host_name"), errors)
    url, secret = _callback(doc.get("callback", {}), has_secret, errors)
    max_projects = _int(
        doc,
        "max_projects_per_site",
        defaults.max_projects_per_site,
        "max_projects_per_site",
        errors,
        1,
        MAX_PROJECTS_LIMIT,
    )
    template = _comment_template(doc.get("comment_template", DEFAULT_COMMENT_TEMPLATE), errors)
    ui_origins = _ui(doc.get("ui", {}), errors)
    if errors.problems:
        raise SettingsInvalid(errors.problems)
    settings = WorkspaceSettings(
        link_cardinality=cardinality,
        worklogs=worklogs,
        host_name=host_name,
        callback_url=url,
        max_projects_per_site=max_projects,
        comment_template=template,
        ui_allowed_origins=ui_origins,
    )
    return SettingsUpdate(settings, secret if url is not None else None)


def to_document(settings: WorkspaceSettings) -> dict[str, Any]:
    """The stored and shown form (the callback secret is the caller's: it is never part of this)."""
    w = settings.worklogs
    return {
        "link_cardinality": dict(sorted(settings.link_cardinality.items())),
        "worklogs": {
            "enabled": w.enabled,
            "delete_worklogs": w.delete_worklogs,
            "estimate": w.estimate,
            "min_seconds": w.min_seconds,
            "rounding_minutes": w.rounding_minutes,
        },
        "host_name": settings.host_name,
        "callback": {"url": settings.callback_url},
        "max_projects_per_site": settings.max_projects_per_site,
        "comment_template": settings.comment_template,
        "ui": {"allowed_origins": list(settings.ui_allowed_origins)},
    }


def from_document(document: Mapping[str, Any]) -> WorkspaceSettings:
    """Read a stored document (written by `to_document`, or `{}` for a new workspace). Anything
    missing or no longer valid (a newer default, an older release's document) takes its default."""
    stored = {key: document[key] for key in TOP_LEVEL if key in document}
    callback = stored.get("callback")
    if isinstance(callback, Mapping):
        stored["callback"] = {"url": callback.get("url")}
    try:
        return parse_settings(stored, has_secret=True).settings
    except SettingsInvalid:
        return WorkspaceSettings()
