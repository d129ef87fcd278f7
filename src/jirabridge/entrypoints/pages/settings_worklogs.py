"""Settings › Worklogs: the workspace's worklog settings (admins and managers).

Saving reads the whole settings document, changes its `worklogs` part and writes it back through the
same service as `PUT /api/v1/settings`, so every other setting stays as it is: the callback secret is
never part of the document and is kept by the service.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from jirabridge.domain.settings import to_document
from jirabridge.entrypoints.pages.page import ManagerPage, Notice, Page, error_text
from jirabridge.errors import Invalid
from jirabridge.service.core.db import read_db, run_db
from jirabridge.service.workspaces import settings as workspace_settings

router = APIRouter(prefix="/ui/s/{token}/settings/worklogs", include_in_schema=False)

ESTIMATES = {
    "auto": "Reduce the remaining estimate by the time logged",
    "leave": "Leave the remaining estimate as it is",
}
ROUNDING = {0: "No rounding", 1: "Up to the next minute", 5: "Up to 5 minutes", 15: "Up to 15 minutes"}


def _render(page: Page, worklogs: dict[str, Any], status: int = 200, **context: Any) -> HTMLResponse:
    return page.render(
        "settings_worklogs.html",
        status=status,
        section="worklogs",
        worklogs=worklogs,
        estimates=ESTIMATES,
        rounding=ROUNDING,
        errors=context.pop("errors", {}),
        **context,
    )


@router.get("")
async def worklogs_page(page: ManagerPage, notice: Notice = None) -> HTMLResponse:
    workspace_id = page.session.workspace_id
    shown = await read_db(page.container, lambda uow: workspace_settings.get_settings(uow, workspace_id))
    return _render(page, shown["worklogs"], notice=notice)


def _number(text: str) -> int | str:
    """A whole number as a number; anything else as it was typed (the settings name the problem)."""
    try:
        return int(text)
    except ValueError:
        return text


@router.post("")
async def save_worklogs(page: ManagerPage) -> Response:
    workspace_id = page.session.workspace_id
    form = await page.request.form()
    worklogs = {
        "enabled": form.get("enabled") == "on",
        "delete_worklogs": form.get("delete_worklogs") == "on",
        "estimate": str(form.get("estimate") or ""),
        "min_seconds": _number(str(form.get("min_seconds") or "").strip()),
        "rounding_minutes": _number(str(form.get("rounding_minutes") or "")),
    }
    services = page.container

    def save(uow: Any) -> None:
        # The stored document (a null host name stays null), without the secret: the service keeps it.
        document = to_document(workspace_settings.load(uow, workspace_id))
        document["worklogs"] = worklogs
        workspace_settings.put_settings(
            uow,
            lambda: services.secrets,
            workspace_id,
            document,
            outbound=services.outbound,
            now=services.clock.now(),
        )

    try:
        await run_db(services, save)
    except Invalid as exc:
        errors = {k.removeprefix("worklogs."): v for k, v in error_text(exc).items()}
        return _render(page, worklogs, status=exc.status, errors=errors)
    query = urlencode({"notice": "Saved the worklog settings"})
    return RedirectResponse(f"{page.base}/settings/worklogs?{query}", status_code=303)
