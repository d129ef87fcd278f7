"""Where a ticket goes, as a form picks it: a site, one of its projects, an issue type, and the required
fields of that type's create screen — all read from Jira (service/sites/jira_lookups.py). The item's panel
and the rule form choose the site and project each their own way, then share the rest."""

from __future__ import annotations

from dataclasses import dataclass, field

from jirabridge.entrypoints.pages import forms
from jirabridge.entrypoints.pages.page import Page
from jirabridge.errors import JirabridgeError
from jirabridge.service.core.ports import FieldMeta, ProjectMeta, ProjectRef
from jirabridge.service.sites import jira_lookups
from jirabridge.service.sites.metadata import CreateScreen
from jirabridge.storage.tables import Site


@dataclass
class Destination:
    """What the form offers for the chosen site, project and issue type; `problem` says why the form
    cannot offer more (no site, no visible project, Jira unavailable)."""

    sites: list[Site] = field(default_factory=list)
    site: str | None = None
    project: str | None = None
    issue_type: str | None = None
    projects: list[ProjectRef] = field(default_factory=list)
    meta: ProjectMeta | None = None
    screen: CreateScreen | None = None
    extra: list[FieldMeta] = field(default_factory=list)
    problem: str | None = None


async def read_projects(page: Page, choices: Destination) -> None:
    """The projects of `choices.site` that its connection sees."""
    assert choices.site is not None
    choices.projects = await jira_lookups.projects(page.container, page.session.workspace_id, choices.site)


async def read_project(page: Page, choices: Destination, wanted_type: str | None) -> None:
    """For the chosen site and project: the project's metadata, the issue type (`wanted_type`, else the
    first that is not a sub-task) and the required fields of its create screen that the form shows.
    A Jira error becomes `choices.problem`."""
    assert choices.site is not None
    workspace_id = page.session.workspace_id
    if choices.project is None:
        choices.problem = "The site's connection cannot see any project."
        return
    try:
        choices.meta = await jira_lookups.project(page.container, workspace_id, choices.site, choices.project)
        found = choices.meta.issue_type(wanted_type) if wanted_type else None
        if found is None or found.subtask:
            found = next((t for t in choices.meta.issue_types if not t.subtask), None)
        choices.issue_type = found.name if found else None
        if choices.issue_type is not None:
            choices.screen = await jira_lookups.create_screen(
                page.container, workspace_id, choices.site, choices.project, choices.issue_type
            )
            choices.extra = forms.extra_fields(choices.screen.fields)
    except JirabridgeError as exc:
        choices.problem = exc.detail
