"""Check a real emulator response against Atlassian's OpenAPI description of Jira Cloud (REST v3).

`OpenApiChecker.check(response)` finds the operation (path template + method) for the request, the
documented response for the status, and validates the JSON body with OpenAPI 3.0 semantics
(`nullable`, `readOnly`/`writeOnly`, `additionalProperties: false` enforced as written). A failure
raises `ContractViolation` naming the path, the JSON location, what the spec expects and what came.

Where the spec is silent, the checker says what it assumes instead of letting anything through:
- a 4xx/5xx documented without a body schema must still be Jira's `ErrorCollection`;
- a 204 must have an empty body; a status the operation does not document is a violation;
- an issue's `fields` object is free-form in the spec, so the system fields are checked against the
  component schemas Jira uses for them (`FIELD_SCHEMAS`);
- `date-time` accepts Jira's own `2024-01-15T10:30:00.000+0000` as well as RFC 3339, since every
  Jira timestamp has that shape.

The spec describes v3. A v2 path is checked against the v3 operation: use it only where the two
shapes coincide (no rich-text fields).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from jsonschema import FormatChecker
from jsonschema.exceptions import ValidationError
from openapi_schema_validator import OAS30ReadValidator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

# Atlassian's text, so not in the repository: JIRA_OPENAPI_JSON names a downloaded copy; without it, the
# copy a development machine may keep next to the checkout (`../shared/jira/`) is used if present.
SPEC_PATH = Path(
    os.environ.get("JIRA_OPENAPI_JSON")
    or Path(__file__).resolve().parents[2].parent / "shared" / "jira" / "jira-platform-openapi.json"
)
SPEC_URI = "urn:atlassian:jira-platform-openapi"
_REST_PATH = re.compile(r"/rest/api/[23](/.*)$")
_JIRA_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:?\d{2})$")

# The component schemas of system fields in an issue's `fields` (the spec types `fields` as a free
# map). Each entry: field id -> (schema, may be null).
FIELD_SCHEMAS: dict[str, tuple[dict[str, Any], bool]] = {
    "summary": ({"type": "string"}, False),
    "labels": ({"type": "array", "items": {"type": "string"}}, False),
    "status": ({"$ref": "#/components/schemas/StatusDetails"}, False),
    "statusCategory": ({"$ref": "#/components/schemas/StatusCategory"}, False),
    "issuetype": ({"$ref": "#/components/schemas/IssueTypeDetails"}, False),
    "project": ({"$ref": "#/components/schemas/ProjectDetails"}, False),
    "priority": ({"$ref": "#/components/schemas/Priority"}, True),
    "assignee": ({"$ref": "#/components/schemas/UserDetails"}, True),
    "reporter": ({"$ref": "#/components/schemas/UserDetails"}, True),
    "creator": ({"$ref": "#/components/schemas/UserDetails"}, True),
    "resolution": ({"$ref": "#/components/schemas/Resolution"}, True),
    "timetracking": ({"$ref": "#/components/schemas/TimeTrackingDetails"}, False),
    "comment": ({"$ref": "#/components/schemas/PageOfComments"}, False),
    "worklog": ({"$ref": "#/components/schemas/PageOfWorklogs"}, False),
    "created": ({"type": "string", "format": "date-time"}, False),
    "updated": ({"type": "string", "format": "date-time"}, False),
    "resolutiondate": ({"type": "string", "format": "date-time"}, True),
    "statuscategorychangedate": ({"type": "string", "format": "date-time"}, True),
    "timeoriginalestimate": ({"type": "integer"}, True),
    "timeestimate": ({"type": "integer"}, True),
    "timespent": ({"type": "integer"}, True),
}


@dataclass(frozen=True)
class SpecGap:
    """A place where the spec's schema contradicts Atlassian's own example for an operation (and what
    Jira Cloud sends). The checker replaces the schema node at `pointer` with `schema`; a test proves
    each gap by validating the example before and after, so this list cannot become a way around
    the spec."""

    evidence: tuple[str, str, str]  # (path template, method, status) whose example shows the gap
    pointer: str  # JSON pointer into the spec
    schema: dict[str, Any]


def _response_pointer(template: str, method: str, status: str) -> str:
    escaped = template.replace("~", "~0").replace("/", "~1")
    return f"/paths/{escaped}/{method}/responses/{status}/content/application~1json/schema"


_REMOTE_LINKS = "/rest/api/3/issue/{issueIdOrKey}/remotelink"
KNOWN_SPEC_GAPS: tuple[SpecGap, ...] = (
    # The schema omits `defaultLocale`, which the example (and Jira) includes.
    SpecGap(
        ("/rest/api/3/serverInfo", "get", "200"),
        "/components/schemas/ServerInformation/properties/defaultLocale",
        {"type": "object", "properties": {"locale": {"type": "string"}}},
    ),
    # Changelog items carry `from`/`to` null for fields without ids (summary, labels...).
    SpecGap(
        ("/rest/api/3/issue/{issueIdOrKey}/changelog", "get", "200"),
        "/components/schemas/ChangeDetails/properties/from",
        {"type": "string", "nullable": True, "readOnly": True},
    ),
    SpecGap(
        ("/rest/api/3/issue/{issueIdOrKey}/changelog", "get", "200"),
        "/components/schemas/ChangeDetails/properties/to",
        {"type": "string", "nullable": True, "readOnly": True},
    ),
    # Bulk fetch answers `expand` beside the issues, as the search used to.
    SpecGap(
        ("/rest/api/3/issue/bulkfetch", "post", "200"),
        "/components/schemas/BulkIssueResults/properties/expand",
        {"type": "string", "readOnly": True},
    ),
    # Without `globalId` the answer is a list of links; with it, one link.
    SpecGap(
        (_REMOTE_LINKS, "get", "200"),
        _response_pointer(_REMOTE_LINKS, "get", "200"),
        {
            "anyOf": [
                {"$ref": "#/components/schemas/RemoteIssueLink"},
                {"type": "array", "items": {"$ref": "#/components/schemas/RemoteIssueLink"}},
            ]
        },
    ),
)


def _patch(spec: dict[str, Any], pointer: str, schema: dict[str, Any]) -> None:
    *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in pointer.lstrip("/").split("/")]
    node = spec
    for part in parents:
        node = node[part]
    node[last] = schema


# Response schemas that carry issues, and where the issues are.
_ISSUE_CARRIERS = {"IssueBean": None, "SearchAndReconcileResults": "issues", "BulkIssueResults": "issues"}


class ContractViolation(AssertionError):
    """The emulator answered something Atlassian's description of Jira Cloud does not allow."""


class ResponseLike(Protocol):
    """What the checker needs of an `httpx.Response` or a `requests.Response`."""

    @property
    def status_code(self) -> int: ...

    @property
    def content(self) -> bytes: ...


def _jira_date_time(value: object) -> bool:
    return not isinstance(value, str) or _JIRA_DATE_TIME.match(value) is not None


_FORMATS = FormatChecker(formats=())
_FORMATS.checks("date-time")(_jira_date_time)


@dataclass
class Operation:
    template: str
    method: str
    responses: dict[str, Any]


@dataclass
class OpenApiChecker:
    spec: dict[str, Any]
    registry: Registry[Any] = field(init=False)
    gaps: tuple[SpecGap, ...] = KNOWN_SPEC_GAPS
    _templates: list[tuple[re.Pattern[str], int, str]] = field(init=False)

    def __post_init__(self) -> None:
        for gap in self.gaps:
            _patch(self.spec, gap.pointer, gap.schema)
        resource: Resource[Any] = Resource.from_contents(self.spec, default_specification=DRAFT4)
        self.registry = Registry().with_resource(SPEC_URI, resource)
        templates = []
        for template in self.spec["paths"]:
            pattern = re.escape(template)
            pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", pattern)
            # Prefer the template with the most literal text (`/issue/createmeta/...` over `/issue/{id}`).
            literal = len(re.sub(r"\{[^}]+\}", "", template))
            templates.append((re.compile(f"^{pattern}$"), literal, template))
        templates.sort(key=lambda t: -t[1])
        self._templates = templates

    # ---- finding the operation -------------------------------------------------------------------

    def template_for(self, path: str) -> str:
        """The spec's path template for a concrete URL path (site prefixes and v2 are mapped to v3)."""
        found = _REST_PATH.search(path)
        if found is None:
            raise ContractViolation(f"{path} is not a Jira REST path")
        v3_path = "/rest/api/3" + found.group(1)
        for pattern, _, template in self._templates:
            if pattern.match(v3_path):
                return template
        raise ContractViolation(f"{v3_path} matches no path of Atlassian's OpenAPI description")

    def operation(self, template: str, method: str) -> Operation:
        item = self.spec["paths"].get(template)
        op = item.get(method.lower()) if item else None
        if op is None:
            raise ContractViolation(f"{method.upper()} {template} is not in Atlassian's OpenAPI description")
        return Operation(template, method.upper(), op.get("responses", {}))

    def example(self, template: str, method: str, status: str) -> Any:
        """Atlassian's example body for a response (the spec stores examples as JSON text)."""
        documented = self.operation(template, method).responses[status]
        text = documented["content"]["application/json"]["example"]
        return json.loads(text) if isinstance(text, str) else text

    # ---- validation ------------------------------------------------------------------------------

    def schema_errors(self, schema: dict[str, Any], body: Any, where: str = "$") -> list[str]:
        """Every way `body` breaks `schema` (refs resolve inside the spec), as readable lines."""
        # Resolve from the spec document's URI so an inline schema's `#/components/...` refs work.
        validator = OAS30ReadValidator(
            schema,
            registry=self.registry,
            format_checker=_FORMATS,
            _resolver=self.registry.resolver(SPEC_URI),
        )
        return [_describe(error, where) for error in validator.iter_errors(body)]

    def errors(self, template: str, method: str, status: int, body: bytes) -> list[str]:
        op = self.operation(template, method)
        documented = op.responses.get(str(status)) or op.responses.get(f"{str(status)[0]}XX")
        if documented is None:
            known = ", ".join(sorted(op.responses))
            return [f"status {status} is not documented (documented: {known})"]
        media = documented.get("content", {}).get("application/json")
        if status == 204:
            return [f"a 204 must have no body, got {body[:200]!r}"] if body.strip() else []
        if media is None and status < 400:
            return []  # documented without a body: nothing to hold it to
        schema = media.get("schema") if media else {"$ref": "#/components/schemas/ErrorCollection"}
        if not schema:
            return []  # documented as `{}`: any body, even none
        try:
            parsed = json.loads(body)
        except ValueError:
            return [f"the body is not JSON: {body[:200]!r}"]
        problems = self.schema_errors(schema, parsed)
        carrier = schema.get("$ref", "").rsplit("/", 1)[-1]
        if carrier in _ISSUE_CARRIERS and isinstance(parsed, dict):
            key = _ISSUE_CARRIERS[carrier]
            issues = [parsed] if key is None else parsed.get(key) or []
            for i, issue in enumerate(issues):
                prefix = "$" if key is None else f"$.{key}[{i}]"
                problems.extend(self.field_errors(issue, prefix))
        return problems

    def field_errors(self, issue: Any, prefix: str = "$") -> list[str]:
        fields = issue.get("fields") if isinstance(issue, dict) else None
        if not isinstance(fields, dict):
            return []
        problems: list[str] = []
        for name, value in fields.items():
            known = FIELD_SCHEMAS.get(name)
            if known is None or (value is None and known[1]):
                continue
            problems.extend(self.schema_errors(known[0], value, f"{prefix}.fields.{name}"))
        return problems

    def check(self, response: ResponseLike, *, method: str | None = None, path: str | None = None) -> Any:
        """Validate a real response; method and path default to those of its request. Returns the
        parsed body so a test can go on asserting values."""
        request = getattr(response, "request", None)
        method = method or str(getattr(request, "method", ""))
        url = str(getattr(request, "url", "")) if path is None else path
        url_path = re.sub(r"^[a-z]+://[^/]+", "", url).split("?", 1)[0]
        template = self.template_for(url_path) if "{" not in url_path else url_path
        problems = self.errors(template, method, response.status_code, response.content)
        if problems:
            lines = "\n  ".join(problems)
            raise ContractViolation(f"{method.upper()} {template} → {response.status_code}:\n  {lines}")
        return json.loads(response.content) if response.content.strip() else None


def _describe(error: ValidationError, where: str) -> str:
    location = where + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    if error.validator == "additionalProperties":
        return f"{location}: {error.message}"  # the message names the unexpected properties
    expected = f"{error.validator}={_short(error.validator_value)}"
    return f"{location}: {error.message} (expected {expected}, got {_short(error.instance)})"


def _short(value: Any, limit: int = 120) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@lru_cache(maxsize=2)
def load_checker(path: Path, *, patched: bool = True) -> OpenApiChecker:
    """The checker for the spec at `path`; `patched=False` leaves out the known gaps (to prove them)."""
    return OpenApiChecker(json.loads(path.read_text()), KNOWN_SPEC_GAPS if patched else ())
