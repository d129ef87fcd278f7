"""Which connected site a Jira issue key belongs to (pure decisions).

A workspace may connect several Jira sites, and project keys are per site. A time entry that names no
site goes where its key's project is: the one connected site whose projects include it, else the
default site (which is also the answer when several have it and the default is one of them). What a
site's projects are is known from Jira (the worker lists them, workers/site_projects.py) and from the
host's own project settings; a site is chosen by key only for projects known to be on it, and said
to lack a project only when Jira's list of its projects is known.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class SiteProjects:
    site_id: str
    url: str
    has: frozenset[str]  # projects known to be on the site
    listed: bool  # `has` is Jira's whole list, so what it lacks is not on the site


@dataclass(frozen=True)
class Choice:
    site_id: str | None  # None only with `problem`
    problem: str | None = None


def project_of(issue_key: str) -> str:
    return issue_key.rsplit("-", 1)[0]


def choose_site(issue_key: str | None, default_site: str | None, sites: Sequence[SiteProjects]) -> Choice:
    if issue_key is None:
        return Choice(default_site)
    project = project_of(issue_key)
    having = [s.site_id for s in sites if project in s.has]
    if len(having) == 1:
        return Choice(having[0])
    if default_site is not None and default_site in having:
        return Choice(default_site)
    if having:
        return Choice(
            None,
            f"{issue_key}: project {project} is on several connected sites ({', '.join(having)}) and none "
            "is the default; name one in the entry's `site`",
        )
    return Choice(default_site)


def not_on_site(issue_key: str, site: SiteProjects, others: Sequence[SiteProjects]) -> str | None:
    """Why an entry with `issue_key` cannot sync on `site`, when its projects are known and lack the
    key's project; None when it may (or when nobody knows yet)."""
    project = project_of(issue_key)
    if not site.listed or project in site.has:
        return None
    having = [s for s in others if s.site_id != site.site_id and project in s.has]
    where = (
        "project " + project + " is on " + ", ".join(f"{s.site_id} ({s.url})" for s in having)
        if having
        else "no connected site has project " + project
    )
    return (
        f"project_not_on_site: {issue_key} was tried on site {site.site_id} ({site.url}), which has no "
        f"project {project}; {where}. Push the entry with `site` naming the site to log it on"
    )
