"""Settings › Rules: the ordered routing rules, a form to add or edit one, and a preview.

Every change saves the whole list through the same service as `PUT /api/v1/rules` (so it is checked
against Jira the same way), the preview is `POST /api/v1/rules/preview`'s, and the query is checked
as the person types by the same parser.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from jirabridge.domain.items import Item as DomainItem
from jirabridge.entrypoints.pages import forms
from jirabridge.entrypoints.pages.destination import Destination, read_project, read_projects
from jirabridge.entrypoints.pages.page import ManagerPage, Notice, Page, PageError, error_text
from jirabridge.errors import FieldError, JirabridgeError
from jirabridge.service.core.db import read_db
from jirabridge.service.rules import rules
from jirabridge.service.sites import sites
from jirabridge.storage.tables import Site

router = APIRouter(prefix="/ui/s/{token}/settings/rules", include_in_schema=False)

RuleId = Annotated[str, Path(pattern=r"^r_[0-9a-f]{24}$")]
Choice = Annotated[str | None, Query(max_length=255)]
ACTIONS = ("up", "down", "enable", "disable", "delete")


def _back(page: Page, notice: str) -> RedirectResponse:
    return RedirectResponse(f"{page.base}/settings/rules?{urlencode({'notice': notice})}", status_code=303)


def _inputs(documents: list[dict[str, Any]]) -> list[rules.RuleInput]:
    """The stored rules as a save takes them back (ids kept)."""
    return [
        rules.RuleInput(
            id=d["id"],
            name=d["name"],
            enabled=d["enabled"],
            query=d["query"],
            site=d["destination"]["site"],
            project=d["destination"]["project"],
            issue_type=d["destination"]["issue_type"],
            fields=dict(d["destination"]["fields"]),
            auto_create=d["auto_create"],
        )
        for d in documents
    ]


async def _stored(page: Page) -> list[dict[str, Any]]:
    workspace_id = page.session.workspace_id
    document = await read_db(page.container, lambda uow: rules.get_rules(uow, workspace_id))
    found: list[dict[str, Any]] = document["rules"]
    return found


async def _sites(page: Page) -> list[Site]:
    workspace_id = page.session.workspace_id
    found = await read_db(page.container, lambda uow: sites.list_sites(uow, workspace_id))
    return [s for s in found if s.status == "connected"]


def _list_errors(exc: JirabridgeError, wanted: list[rules.RuleInput]) -> list[str]:
    """A refused save of the list, as sentences naming the rule (`Rule 'security' (…): …`); by name,
    since the positions are those of the list as it would have been."""
    if not exc.errors:
        return [exc.detail]
    return [_named(e, wanted) for e in exc.errors]


def _named(error: FieldError, wanted: list[rules.RuleInput]) -> str:
    where = error.field
    if where.startswith("rules["):
        index, _, rest = where[len("rules[") :].partition("]")
        if index.isdigit() and int(index) < len(wanted):
            return f"Rule {wanted[int(index)].name!r} ({rest.lstrip('.')}): {error.message}"
    return f"{where}: {error.message}"


async def _list_page(page: Page, status: int = 200, **context: Any) -> HTMLResponse:
    stored = await _stored(page)
    urls = {s.id: s.url for s in await _sites(page)}
    return page.render(
        "settings_rules.html",
        status=status,
        section="rules",
        rules=stored,
        site_urls=urls,
        list_errors=context.pop("list_errors", []),
        sample=context.pop("sample", {}),
        preview=context.pop("preview", None),
        preview_errors=context.pop("preview_errors", {}),
        **context,
    )


@router.get("")
async def rules_page(page: ManagerPage, notice: Notice = None) -> HTMLResponse:
    return await _list_page(page, notice=notice)


# -- the live query check ------------------------------------------------------------------------------


@router.get("/check-query")
async def check_query(
    page: ManagerPage, query: Annotated[str, Query(max_length=10_000)] = ""
) -> HTMLResponse:
    """The query's problem with a caret under its position, or that it is valid (htmx, as one types)."""
    return page.render("settings_rule_query.html", check=_query_check(query))


@dataclass(frozen=True)
class QueryCheck:
    query: str
    message: str | None = None
    position: int | None = None

    @property
    def caret(self) -> str:
        return " " * (self.position or 0) + "^"


def _query_check(query: str) -> QueryCheck | None:
    if not query.strip():
        return None
    problem = rules.query_problem(query)
    if problem is None:
        return QueryCheck(query)
    return QueryCheck(query, problem.message, problem.position)


# -- add and edit -------------------------------------------------------------------------------------


async def _destination(
    page: Page, site: str | None, project: str | None, issue_type: str | None
) -> Destination:
    choices = Destination(await _sites(page))
    default = next((s for s in choices.sites if s.is_default), choices.sites[0] if choices.sites else None)
    chosen = next((s for s in choices.sites if s.id == site), default)
    if chosen is None:
        choices.problem = "No Jira site is connected yet: connect one under Sites first."
        return choices
    choices.site = chosen.id
    try:
        await read_projects(page, choices)
    except JirabridgeError as exc:
        choices.problem = exc.detail
        return choices
    keys = [p.key for p in choices.projects]
    # A project the site no longer shows falls back to the site's default, then the first it shows.
    choices.project = project if project in keys else (chosen.default_project or (keys[0] if keys else None))
    await read_project(page, choices, issue_type)
    return choices


def _shown_value(value: Any) -> str:
    """A stored field value as the text of its input (the reverse of forms.jira_value)."""
    if isinstance(value, dict):
        return str(value.get("value") or value.get("accountId") or value.get("name") or "")
    if isinstance(value, list):
        return " ".join(_shown_value(v) for v in value)
    return "" if value is None else str(value)


def _entered_from(rule: dict[str, Any]) -> dict[str, Any]:
    entered: dict[str, Any] = {
        "name": rule["name"],
        "query": rule["query"],
        "auto_create": rule["auto_create"],
        "enabled": rule["enabled"],
    }
    for field_id, value in rule["destination"]["fields"].items():
        entered[f"field.{field_id}"] = _shown_value(value)
    return entered


async def _form_page(
    page: Page,
    rule: dict[str, Any] | None,
    choices: Destination,
    *,
    entered: dict[str, Any],
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    here = f"{page.base}/settings/rules/" + (f"{rule['id']}/edit" if rule else "new")
    return page.render(
        "settings_rule_form.html",
        status=status,
        section="rules",
        rule=rule,
        here=here,
        choices=choices,
        entered=entered,
        errors=errors or {},
        check=_query_check(str(entered.get("query") or "")),
        input_kind=forms.input_kind,
    )


def _find(stored: list[dict[str, Any]], rule_id: str) -> dict[str, Any]:
    found = next((r for r in stored if r["id"] == rule_id), None)
    if found is None:
        raise PageError(404, "Not found", "This rule no longer exists; someone may have deleted it.")
    return found


@router.get("/new")
async def new_rule(
    page: ManagerPage, site: Choice = None, project: Choice = None, issue_type: Choice = None
) -> HTMLResponse:
    choices = await _destination(page, site, project, issue_type)
    return await _form_page(page, None, choices, entered={"enabled": True})


@router.get("/{rule_id}/edit")
async def edit_rule(
    page: ManagerPage, rule_id: RuleId, site: Choice = None, project: Choice = None, issue_type: Choice = None
) -> HTMLResponse:
    rule = _find(await _stored(page), rule_id)
    dest = rule["destination"]
    choices = await _destination(
        page, site or dest["site"], project or dest["project"], issue_type or dest["issue_type"]
    )
    return await _form_page(page, rule, choices, entered=_entered_from(rule))


@router.post("/new")
async def save_new(page: ManagerPage) -> Response:
    return await _save(page, None)


@router.post("/{rule_id}/edit")
async def save_edit(page: ManagerPage, rule_id: RuleId) -> Response:
    return await _save(page, rule_id)


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


async def _save(page: Page, rule_id: str | None) -> Response:
    form = await page.request.form()
    stored = await _stored(page)
    before = _find(stored, rule_id) if rule_id else None
    choices = await _destination(
        page, _text(form, "site") or None, _text(form, "project") or None, _text(form, "issue_type") or None
    )
    entered: dict[str, Any] = {k: str(v) for k, v in form.items() if k != "csrf"}
    entered["auto_create"] = form.get("auto_create") == "on"
    entered["enabled"] = form.get("enabled") == "on"
    if choices.problem or choices.screen is None:
        problem = choices.problem or "Choose a project and an issue type."
        return await _form_page(page, before, choices, entered=entered, errors={"_": problem}, status=422)
    # Fields the form has no input for (set through the API) are kept as they were.
    fields: dict[str, Any] = dict(before["destination"]["fields"]) if before else {}
    for meta in choices.extra:
        values = [str(v) for v in form.getlist(f"field.{meta.field_id}")]
        value = forms.jira_value(meta, values)
        if value is None:
            fields.pop(meta.field_id, None)
        else:
            fields[meta.field_id] = value
    rule = rules.RuleInput(
        id=rule_id,
        name=_text(form, "name"),
        enabled=entered["enabled"],
        query=_text(form, "query"),
        site=choices.site,
        project=choices.project,
        issue_type=choices.issue_type,
        fields=fields,
        auto_create=entered["auto_create"],
    )
    wanted = _inputs(stored)
    index = len(wanted)
    if rule_id is None:
        wanted.append(rule)
    else:
        index = next(i for i, r in enumerate(wanted) if r.id == rule_id)
        wanted[index] = rule
    errors = _form_errors(rule)
    if not errors:
        try:
            await rules.put_rules(page.container, page.session.workspace_id, wanted)
        except JirabridgeError as exc:
            errors = _own_errors(exc, index, wanted)
    if errors:
        return await _form_page(page, before, choices, entered=entered, errors=errors, status=422)
    return _back(page, f"Rule {rule.name!r} saved")


def _form_errors(rule: rules.RuleInput) -> dict[str, str]:
    """What the API's body validation would refuse, named by the form's inputs."""
    errors: dict[str, str] = {}
    if not rule.name:
        errors["name"] = "Give the rule a name."
    elif len(rule.name) > 200:
        errors["name"] = "At most 200 characters."
    if not rule.query:
        errors["query"] = "Write a query; * matches every item."
    return errors


def _own_errors(exc: JirabridgeError, index: int, wanted: list[rules.RuleInput]) -> dict[str, str]:
    """The save's problems with this rule, by the form's inputs; another rule's problem (its
    destination changed in Jira since) is named for the whole form."""
    prefix = f"rules[{index}]."
    errors: dict[str, str] = {}
    for key, message in error_text(exc).items():
        if key.startswith(prefix):
            name = key[len(prefix) :].removeprefix("destination.")
            errors["field." + name.removeprefix("fields.") if name.startswith("fields.") else name] = message
        else:
            errors.setdefault("_", "")
            errors["_"] = (errors["_"] + " " + _named(FieldError(key, message), wanted)).strip()
    return errors


# -- preview ------------------------------------------------------------------------------------------


@router.post("/preview")
async def preview(page: ManagerPage) -> HTMLResponse:
    """Which rule a sample item matches and what it would create (the API's preview; nothing is
    written)."""
    form = await page.request.form()
    sample = {k: str(v) for k, v in form.items() if k != "csrf"}
    errors: dict[str, str] = {}
    attributes: dict[str, str] = {}
    for number, line in enumerate(sample.get("attributes", "").splitlines(), start=1):
        if not line.strip():
            continue
        name, equals, value = line.partition("=")
        if not equals or not name.strip():
            errors["attributes"] = f"Line {number}: write one attribute a line as name=value."
            break
        attributes[name.strip()] = value.strip()
    item_type = sample.get("type", "").strip()
    if not item_type:
        errors["type"] = "Give the item's type, e.g. error."
    if errors:
        return await _list_page(page, status=422, sample=sample, preview_errors=errors)
    item = DomainItem(
        type=item_type,
        id="preview",
        title=sample.get("title", "").strip() or "Sample item",
        description=None,
        status=sample.get("status", "").strip() or None,
        severity=sample.get("severity", "").strip() or None,
        assignee=None,
        attributes=dict(attributes),
        url=None,
    )
    workspace_id = page.session.workspace_id
    answer = await read_db(page.container, lambda uow: rules.preview(uow, workspace_id, item))
    return await _list_page(page, sample=sample, preview=answer)


# Last: its path would otherwise take `/{rule_id}/edit` too.
@router.post("/{rule_id}/{action}")
async def change(page: ManagerPage, rule_id: RuleId, action: Annotated[str, Path(max_length=10)]) -> Response:
    """Move a rule up or down, enable, disable or delete it: the whole list is saved again."""
    if action not in ACTIONS:
        raise PageError(404, "Not found", "There is no such action on a rule.")
    wanted = _inputs(await _stored(page))
    index = next((i for i, r in enumerate(wanted) if r.id == rule_id), None)
    if index is None:
        raise PageError(404, "Not found", "This rule no longer exists; someone may have deleted it.")
    rule = wanted[index]
    if action == "up" and index > 0:
        wanted[index - 1], wanted[index] = wanted[index], wanted[index - 1]
    elif action == "down" and index < len(wanted) - 1:
        wanted[index + 1], wanted[index] = wanted[index], wanted[index + 1]
    elif action in ("enable", "disable"):
        wanted[index] = replace(rule, enabled=action == "enable")
    elif action == "delete":
        del wanted[index]
    try:
        await rules.put_rules(page.container, page.session.workspace_id, wanted)
    except JirabridgeError as exc:
        return await _list_page(page, status=exc.status, list_errors=_list_errors(exc, wanted))
    done = {
        "up": "moved up",
        "down": "moved down",
        "enable": "enabled",
        "disable": "disabled",
        "delete": "deleted",
    }[action]
    return _back(page, f"Rule {rule.name!r} {done}")
