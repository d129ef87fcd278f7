"""Project settings `transition_fields`: per target Jira status, values for the fields a transition's
screen asks for (`{"Done": {"resolution": {"name": "Done"}}}`), checked against the site on `PUT`.

What can be known before a transition is made is checked: every key is a status of the project's
workflows (stored with Jira's spelling), every field id is a field of the site, every value a valid
template over the item (domain/templates.py), a comment is text, and a resolution written out (not a
template) is one of the site's. Whether a transition's screen shows a field is only known from an
issue in the status it leaves; the worker reads it then (domain/transition_fields.py): a field the
screen does not show is left out, a required one nothing fills fails that sync visibly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from jirabridge.domain import templates
from jirabridge.domain.transition_fields import COMMENT
from jirabridge.errors import FieldError
from jirabridge.service.core.ports import ProjectMeta, Services
from jirabridge.service.sites import metadata
from jirabridge.storage.tables import Site

RESOLUTION = "resolution"
MAX_LISTED = 20


async def validated(
    services: Services, site: Site, meta: ProjectMeta, value: Mapping[str, Mapping[str, Any]]
) -> tuple[dict[str, dict[str, Any]], list[FieldError]]:
    """The setting as stored (statuses and resolutions in Jira's spelling) and every problem found."""
    if not value:
        return {}, []
    problems: list[FieldError] = []
    known = await metadata.site_fields(services, site, meta.key)
    statuses = [s.name for s in meta.statuses]
    result: dict[str, dict[str, Any]] = {}
    for status, fields in value.items():
        path = f"transition_fields.{status}"
        canonical = _match(status, statuses)
        if canonical is None:
            problems.append(
                FieldError(
                    path,
                    f"{status!r} is not a status of the workflow of {meta.key}; "
                    f"its statuses are {_listed(statuses)}",
                )
            )
        elif canonical in result:
            problems.append(FieldError(path, f"names the same status as another key, {canonical!r}"))
        stored: dict[str, Any] = {}
        for field_id, template in fields.items():
            field_path = f"{path}.{field_id}"
            if field_id not in known.fields:
                problems.append(
                    FieldError(
                        field_path,
                        f"{field_id!r} is not a field of the site; give a field id "
                        "(resolution, comment, customfield_…)",
                    )
                )
                continue
            if field_id == COMMENT and not isinstance(template, str):
                problems.append(
                    FieldError(field_path, "a comment is text: a string, a template over the item")
                )
                continue
            found = templates.validate(template)
            problems.extend(FieldError(field_path, problem) for problem in found)
            if not found and field_id == RESOLUTION:
                template = _resolution(template, known.resolutions, field_path, problems)
            stored[field_id] = template
        result[canonical or status] = stored
    return result, problems


def _resolution(template: Any, resolutions: tuple[str, ...], path: str, problems: list[FieldError]) -> Any:
    """A resolution written out (`"Done"` or `{"name": "Done"}`) must be the site's; templates are
    checked when they are filled in."""
    name = template.get("name") if isinstance(template, Mapping) and set(template) == {"name"} else template
    if not isinstance(name, str) or "{" in name or "}" in name:
        return template
    canonical = _match(name, resolutions)
    if canonical is None:
        problems.append(
            FieldError(
                path, f"{name!r} is not a resolution of the site; its resolutions are {_listed(resolutions)}"
            )
        )
        return template
    return {"name": canonical} if isinstance(template, Mapping) else canonical


def _match(name: str, allowed: Iterable[str]) -> str | None:
    wanted = name.strip().casefold()
    return next((a for a in allowed if a.casefold() == wanted), None)


def _listed(names: Iterable[str]) -> str:
    shown = list(names)
    more = f", … ({len(shown) - MAX_LISTED} more)" if len(shown) > MAX_LISTED else ""
    return ", ".join(repr(n) for n in shown[:MAX_LISTED]) + more or "none"
