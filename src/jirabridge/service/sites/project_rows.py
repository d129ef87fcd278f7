"""A project's stored settings, as the services that act on issues read them (one query, no
validation: the document was validated when it was saved, see service/sites/projects.py)."""

from __future__ import annotations

from typing import Any

from jirabridge.service.core.unit_of_work import UnitOfWork


def project_settings(uow: UnitOfWork, workspace_id: str, site_id: str, project: str) -> dict[str, Any]:
    return dict(uow.projects.settings(workspace_id, site_id, project) or {})


def project_of(issue_key: str) -> str:
    """The project key of an issue key (`WEB-184` → `WEB`)."""
    return issue_key.rsplit("-", 1)[0]
