"""The routing rules API (SPEC section 3, "Rules"): read and replace the ordered list, and preview.

Saving checks every rule before anything is written, and reports every problem at once, each named
by the rule's position in the list (`rules[2].query`, `rules[0].destination.project`):

- the query parses (the error carries its position in the query);
- the destination site is a connected site of the workspace (none given: the default site);
- the project exists on the site (none given: the site's default project);
- the issue type is a standard type of the project (none given: the project settings' default);
- each of the rule's `fields` is on that issue type's create screen, is not one jirabridge fills
  from the item (project, issue type, summary, description) and is a valid template over the item;
- every required field of the create screen is filled by the rule's fields, the project's field
  defaults, or jirabridge itself.

Jira is asked afresh (the metadata cache is dropped for the projects named), so saving the rules again
after changing a project in Jira picks the change up. A rule keeps its id across saves when the client
sends it back; a rule without one is new and gets one.

Preview answers which rule an item would match now and the ticket it would create, from stored data
only: no transaction is committed and no Jira call is made.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jirabridge.domain import rules as domain_rules
from jirabridge.domain import templates
from jirabridge.domain.items import Item as DomainItem
from jirabridge.errors import FieldError, Invalid
from jirabridge.ids import new_id
from jirabridge.service.core.db import run_db
from jirabridge.service.core.ports import Services
from jirabridge.service.core.unit_of_work import UnitOfWork
from jirabridge.service.rules import routing, rule_sets
from jirabridge.service.rules.rule_sets import Destination, StoredRule
from jirabridge.service.sites import metadata
from jirabridge.service.sites.metadata import CreateScreen
from jirabridge.service.sites.sites import list_sites
from jirabridge.service.tickets.ticket_fields import FILLED_BY_JIRA
from jirabridge.storage.tables import Site

# Fields jirabridge fills from the item on every ticket: a rule may not set them.
SET_FROM_ITEM = ("project", "issuetype", "summary", "description")
# Fields every create call carries, so a required one is always covered.
ALWAYS_SENT = (*SET_FROM_ITEM, "labels", *FILLED_BY_JIRA)
# Shown in `would_create` under their own names rather than in `fields`.
SHOWN_APART = (*SET_FROM_ITEM, "priority", "labels")
MAX_LISTED = 20


@dataclass(frozen=True)
class RuleInput:
    """A rule as the client sent it; destination parts left out take their defaults."""

    name: str
    query: str
    id: str | None = None
    enabled: bool = True
    site: str | None = None
    project: str | None = None
    issue_type: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    auto_create: bool = False


# -- read ------------------------------------------------------------------------------------------


def get_rules(uow: UnitOfWork, workspace_id: str) -> dict[str, Any]:
    return _document(rule_sets.load(uow, workspace_id))


def _document(rules: list[StoredRule]) -> dict[str, Any]:
    return {"rules": [rule.view() for rule in rules]}


# -- replace ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Known:
    rule_ids: set[str]
    sites: dict[str, Site]
    default_site: Site | None
    project_settings: dict[tuple[str, str], dict[str, Any]]


class _Problems:
    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def add(self, path: str, message: str, position: int | None = None) -> None:
        self.errors.append(FieldError(path, message, position))

    def raise_any(self) -> None:
        if self.errors:
            summary = "; ".join(f"{e.field}: {e.message}" for e in self.errors[:MAX_LISTED])
            raise Invalid(summary, errors=list(self.errors))


async def put_rules(services: Services, workspace_id: str, rules: list[RuleInput]) -> dict[str, Any]:
    """Validate the whole list against the sites and store it; Invalid names every problem and
    nothing is written then. Answers the stored document."""
    known = await run_db(services, lambda uow: _read_known(uow, workspace_id))
    problems = _Problems()
    _check_ids(rules, known, problems)
    refreshed: set[tuple[str, str]] = set()
    stored: list[StoredRule] = []
    for index, rule in enumerate(rules):
        checked = await _checked_rule(services, f"rules[{index}]", rule, known, problems, refreshed)
        if checked is not None:
            stored.append(checked)
    problems.raise_any()

    def save(uow: UnitOfWork) -> dict[str, Any]:
        rule_sets.save(uow, workspace_id, stored, services.clock.now())
        uow.commit()
        return _document(stored)

    return await run_db(services, save)


def _read_known(uow: UnitOfWork, workspace_id: str) -> _Known:
    sites = {site.id: site for site in list_sites(uow, workspace_id)}
    default = next((s for s in sites.values() if s.is_default and s.status == "connected"), None)
    rows = uow.projects.of_workspace(workspace_id)
    return _Known(
        rule_ids={rule.id for rule in rule_sets.load(uow, workspace_id)},
        sites=sites,
        default_site=default,
        project_settings={(row.site_id, row.project_key): dict(row.settings) for row in rows},
    )


def _check_ids(rules: list[RuleInput], known: _Known, problems: _Problems) -> None:
    seen: set[str] = set()
    for index, rule in enumerate(rules):
        if rule.id is None:
            continue
        if rule.id in seen:
            problems.add(f"rules[{index}].id", f"{rule.id} appears twice in the list")
        elif rule.id not in known.rule_ids:
            problems.add(
                f"rules[{index}].id",
                f"{rule.id} is not a rule of this workspace; leave id out for a new rule",
            )
        seen.add(rule.id)


async def _checked_rule(
    services: Services,
    path: str,
    rule: RuleInput,
    known: _Known,
    problems: _Problems,
    refreshed: set[tuple[str, str]],
) -> StoredRule | None:
    error = query_problem(rule.query)
    if error is not None:
        problems.add(f"{path}.query", error.message, error.position)
    where = f"{path}.destination"
    site = _site(rule, known, where, problems)
    if site is None:
        return None
    project = rule.project or site.default_project
    if not project:
        problems.add(f"{where}.project", f"no project given and site {site.id} has no default project")
        return None
    if (site.id, project.upper()) not in refreshed:
        # Fresh metadata: a host that has just changed the project in Jira saves again to use it.
        metadata.invalidate(services, site.id, project)
        refreshed.add((site.id, project.upper()))
    try:
        meta = await metadata.project_meta(services, site, project)
    except Invalid as invalid:
        _relocate(invalid, where, problems)
        return None
    settings = known.project_settings.get((site.id, meta.key), {})
    type_name = rule.issue_type or settings.get("default_issue_type")
    if not type_name:
        problems.add(
            f"{where}.issue_type",
            f"no issue type given and project {meta.key} has no default issue type in its settings",
        )
        return None
    issue_type = meta.issue_type(type_name)
    if issue_type is None or issue_type.subtask:
        standard = [t.name for t in meta.issue_types if not t.subtask]
        what = "a sub-task type" if issue_type else "not an issue type of " + meta.key
        problems.add(f"{where}.issue_type", f"{type_name!r} is {what}; use one of {_listed(standard)}")
        return None
    try:
        screen = await metadata.create_fields(services, site, meta.key, issue_type.id)
    except Invalid as invalid:
        _relocate(invalid, where, problems)
        return None
    _check_fields(f"{where}.fields", rule.fields, screen, problems)
    _check_required(f"{where}.fields", rule.fields, settings, screen, problems)
    return StoredRule(
        id=rule.id or new_id("r"),
        name=rule.name,
        enabled=rule.enabled,
        query=rule.query,
        destination=Destination(site.id, meta.key, screen.issue_type_name, dict(rule.fields)),
        auto_create=rule.auto_create,
        screen=screen,
    )


def query_problem(query: str) -> FieldError | None:
    """What is wrong with a rule's query, with its position, as a save would say it; None when valid.
    The pages check the query with it as the person types."""
    error = domain_rules.check(query)
    if error is None:
        return None
    return FieldError("query", f"{error.reason} at position {error.position}", error.position)


def _site(rule: RuleInput, known: _Known, where: str, problems: _Problems) -> Site | None:
    if rule.site is None:
        if known.default_site is None:
            problems.add(f"{where}.site", "no site given and the workspace has no connected default site")
        return known.default_site
    site = known.sites.get(rule.site)
    if site is None:
        problems.add(f"{where}.site", f"{rule.site} is not a site of this workspace")
        return None
    if site.status != "connected":
        problems.add(f"{where}.site", f"site {site.id} is not connected (status {site.status})")
        return None
    return site


def _relocate(invalid: Invalid, where: str, problems: _Problems) -> None:
    """Metadata errors name `project` or `issue_type`: name them inside the rule's destination."""
    for error in invalid.errors or [FieldError("project", invalid.detail)]:
        problems.add(f"{where}.{error.field}", error.message)


def _check_fields(path: str, fields: Mapping[str, Any], screen: CreateScreen, problems: _Problems) -> None:
    for field_id, template in fields.items():
        where = f"{path}.{field_id}"
        if field_id in SET_FROM_ITEM:
            problems.add(where, f"{field_id} is filled from the item; a rule cannot set it")
            continue
        if not screen.has(field_id):
            offered = [f"{f.field_id} ({f.name})" for f in screen.fields if f.field_id not in SET_FROM_ITEM]
            problems.add(
                where,
                f"{field_id!r} is not on the create screen of {screen.issue_type_name} in "
                f"{screen.project}; its fields are {_listed(offered)}",
            )
            continue
        for problem in templates.validate(template):
            problems.add(where, problem)


def _check_required(
    path: str,
    fields: Mapping[str, Any],
    settings: Mapping[str, Any],
    screen: CreateScreen,
    problems: _Problems,
) -> None:
    defaults = settings.get("field_defaults") or {}
    covered = {
        *fields,
        *(defaults.get("*") or {}),
        *(defaults.get(screen.issue_type_name) or {}),
        *ALWAYS_SENT,
    }
    if settings.get("priority_map"):
        covered.add("priority")
    for required in screen.required:
        if required.field_id not in covered:
            problems.add(
                f"{path}.{required.field_id}",
                f"{required.name} is required by Jira for {screen.issue_type_name} in {screen.project}: "
                "set it in the rule's fields or as a field default of the project",
            )


def _listed(names: list[str]) -> str:
    more = f", … ({len(names) - MAX_LISTED} more)" if len(names) > MAX_LISTED else ""
    return (", ".join(repr(n) for n in names[:MAX_LISTED]) + more) or "none"


# -- preview ---------------------------------------------------------------------------------------


def preview(uow: UnitOfWork, workspace_id: str, item: DomainItem) -> dict[str, Any]:
    """Which rule `item` would match now and the ticket it would create. Reads only."""
    rules = rule_sets.load(uow, workspace_id)
    rule = domain_rules.first_match(rules, item)
    if rule is None:
        return {"rule": None, "auto_create": False, "would_create": None, "problems": []}
    answer: dict[str, Any] = {
        "rule": {"id": rule.id, "name": rule.name, "position": rules.index(rule)},
        "auto_create": rule.auto_create,
        "would_create": None,
        "problems": [],
    }
    destination = rule.destination
    site = uow.sites.get(destination.site)
    if site is None or site.workspace_id != workspace_id or site.status != "connected":
        answer["problems"].append(
            {"field": "destination.site", "message": f"site {destination.site} is not connected"}
        )
        return answer
    if rule.screen is None:
        answer["problems"].append({"field": "destination", "message": "save the rules again to check them"})
        return answer
    try:
        fields = routing.issue_fields(uow, workspace_id, destination, rule.screen, item)
    except Invalid as invalid:
        answer["problems"] += [{"field": e.field, "message": e.message} for e in invalid.errors]
        return answer
    priority = fields.get("priority")
    answer["would_create"] = {
        "site": destination.site,
        "project": destination.project,
        "issue_type": rule.screen.issue_type_name,
        "summary": fields["summary"],
        "priority": priority.get("name") if isinstance(priority, dict) else None,
        "labels": fields["labels"],
        "fields": {key: value for key, value in fields.items() if key not in SHOWN_APART},
    }
    return answer
