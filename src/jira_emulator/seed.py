"""The seed document (`POST /_emulator/reset`) and the default seed `jira-emulator serve` starts with.

The seed is validated with pydantic so a typo in a test's seed fails loudly instead of producing a
quietly different Jira.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from jira_emulator import search_index
from jira_emulator import state as st


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ApiTokenSeed(_Model):
    token: str
    expires_at: datetime | None = None
    revoked: bool = False


class UserSeed(_Model):
    email: str
    display_name: str
    account_id: str | None = None
    api_tokens: list[ApiTokenSeed] = Field(default_factory=list)
    sites: list[str] | None = None  # None: member of every site
    email_visible: bool = True
    active: bool = True
    time_zone: str = "UTC"


class StatusSeed(_Model):
    name: str
    category: Literal["new", "indeterminate", "done"]
    editable: bool = True  # False: Jira's jira.issue.editable=false (a closed issue)


class TransitionSeed(_Model):
    name: str
    to: str
    from_: list[str] = Field(default_factory=list, alias="from")
    # The transition screen: fields it requires ("resolution", "comment", a custom field) and fields it
    # offers without requiring them. Neither: the transition has no screen.
    required_fields: list[str] = Field(default_factory=list)
    optional_fields: list[str] = Field(default_factory=list)


class WorkflowSeed(_Model):
    statuses: list[StatusSeed]
    initial: str
    transitions: list[TransitionSeed]


class IssueTypeSeed(_Model):
    name: str
    subtask: bool = False
    required_fields: list[str] = Field(default_factory=list)
    optional_fields: list[str] = Field(default_factory=list)


class CustomFieldSeed(_Model):
    id: str
    name: str
    type: Literal["string", "number", "option", "array", "date", "user"] = "string"
    items: str | None = None
    allowed_values: list[str] | None = None


class ProjectSeed(_Model):
    key: str
    name: str
    lead: str | None = None  # email; default: the site's first member
    issue_types: list[IssueTypeSeed] | None = None
    workflow: WorkflowSeed | None = None
    # email (or "*") -> permission keys; a user not listed gets the "*" entry.
    permissions: dict[str, list[str]] | None = None


class IssueSeed(_Model):
    project: str
    summary: str
    issue_type: str = "Task"
    status: str | None = None
    reporter: str | None = None  # email
    assignee: str | None = None  # email
    labels: list[str] = Field(default_factory=list)
    description: str | None = None
    priority: str | None = None


class SiteSeed(_Model):
    name: str
    cloud_id: str | None = None
    index_lag_s: float = 0.0
    priorities: list[str] = Field(default_factory=lambda: ["Highest", "High", "Medium", "Low", "Lowest"])
    default_priority: str = "Medium"
    resolutions: list[str] = Field(default_factory=lambda: list(st.DEFAULT_RESOLUTIONS))
    custom_fields: list[CustomFieldSeed] = Field(default_factory=list)
    projects: list[ProjectSeed] = Field(default_factory=list)
    issues: list[IssueSeed] = Field(default_factory=list)
    admins: list[str] = Field(default_factory=list)  # emails of site admins (they manage admin webhooks)


class OAuthAppSeed(_Model):
    client_id: str
    client_secret: str
    name: str = "OAuth app"
    redirect_uris: list[str] = Field(default_factory=list)


class Seed(_Model):
    users: list[UserSeed] = Field(default_factory=list)
    sites: list[SiteSeed] = Field(default_factory=list)
    oauth_apps: list[OAuthAppSeed] = Field(default_factory=list)
    access_token_ttl_s: int = 3600


DEFAULT_WORKFLOW = WorkflowSeed(
    statuses=[
        StatusSeed(name="To Do", category="new"),
        StatusSeed(name="In Progress", category="indeterminate"),
        StatusSeed(name="In Review", category="indeterminate"),
        StatusSeed(name="Done", category="done"),
        StatusSeed(name="Won't Do", category="done"),
    ],
    initial="To Do",
    transitions=[
        TransitionSeed.model_validate({"name": "Start progress", "to": "In Progress", "from": ["To Do"]}),
        TransitionSeed.model_validate({"name": "Stop progress", "to": "To Do", "from": ["In Progress"]}),
        TransitionSeed.model_validate({"name": "Review", "to": "In Review", "from": ["In Progress"]}),
        TransitionSeed.model_validate({"name": "Done", "to": "Done", "from": ["In Progress", "In Review"]}),
        TransitionSeed.model_validate(
            {"name": "Won't do", "to": "Won't Do", "from": ["To Do", "In Progress", "In Review"]}
        ),
        TransitionSeed.model_validate({"name": "Reopen", "to": "To Do", "from": ["Done", "Won't Do"]}),
    ],
)

# The default workflow with screens on some transitions, as real Jira workflows have: done needs a
# resolution, giving up also a comment, review the environment (HELP in the default seed).
SCREENS_WORKFLOW = WorkflowSeed(
    statuses=DEFAULT_WORKFLOW.statuses,
    initial="To Do",
    transitions=[
        TransitionSeed.model_validate({"name": "Start progress", "to": "In Progress", "from": ["To Do"]}),
        TransitionSeed.model_validate({"name": "Stop progress", "to": "To Do", "from": ["In Progress"]}),
        TransitionSeed.model_validate(
            {
                "name": "Review",
                "to": "In Review",
                "from": ["In Progress"],
                "required_fields": ["customfield_10050"],
            }
        ),
        TransitionSeed.model_validate(
            {
                "name": "Done",
                "to": "Done",
                "from": ["In Progress", "In Review"],
                "required_fields": ["resolution"],
                "optional_fields": ["comment"],
            }
        ),
        TransitionSeed.model_validate(
            {
                "name": "Won't do",
                "to": "Won't Do",
                "from": ["To Do", "In Progress", "In Review"],
                "required_fields": ["resolution", "comment"],
            }
        ),
        TransitionSeed.model_validate({"name": "Reopen", "to": "To Do", "from": ["Done", "Won't Do"]}),
    ],
)

_DEFAULT_SCREEN = ["description", "priority", "labels", "assignee", "timetracking"]
DEFAULT_ISSUE_TYPES = [
    IssueTypeSeed(name="Task", optional_fields=_DEFAULT_SCREEN),
    IssueTypeSeed(name="Bug", optional_fields=_DEFAULT_SCREEN),
    IssueTypeSeed(name="Story", optional_fields=_DEFAULT_SCREEN),
]

_SYSTEM_FIELDS: list[st.FieldDef] = [
    st.FieldDef("summary", "Summary", "string"),
    st.FieldDef("description", "Description", "string"),
    st.FieldDef("issuetype", "Issue Type", "issuetype"),
    st.FieldDef("project", "Project", "project"),
    st.FieldDef("status", "Status", "status", orderable=False),
    st.FieldDef("priority", "Priority", "priority"),
    st.FieldDef("labels", "Labels", "array", items="string"),
    st.FieldDef("assignee", "Assignee", "user"),
    st.FieldDef("reporter", "Reporter", "user"),
    st.FieldDef("creator", "Creator", "user", orderable=False),
    st.FieldDef("created", "Created", "datetime", orderable=False),
    st.FieldDef("updated", "Updated", "datetime", orderable=False),
    st.FieldDef("resolution", "Resolution", "resolution"),
    st.FieldDef("resolutiondate", "Resolved", "datetime", orderable=False),
    st.FieldDef("statuscategorychangedate", "Status Category Changed", "datetime", orderable=False),
    st.FieldDef("timetracking", "Time tracking", "timetracking", navigable=False),
    st.FieldDef("timeoriginalestimate", "Original estimate", "number", orderable=False),
    st.FieldDef("timeestimate", "Remaining Estimate", "number", orderable=False),
    st.FieldDef("timespent", "Time Spent", "number", orderable=False),
    st.FieldDef("comment", "Comment", "comments-page", searchable=True, navigable=False),
    st.FieldDef("worklog", "Log Work", "array", items="worklog", navigable=False),
]

_CUSTOM_TYPES = {
    "string": ("string", None, "com.atlassian.jira.plugin.system.customfieldtypes:textfield"),
    "number": ("number", None, "com.atlassian.jira.plugin.system.customfieldtypes:float"),
    "option": ("option", None, "com.atlassian.jira.plugin.system.customfieldtypes:select"),
    "array": ("array", "string", "com.atlassian.jira.plugin.system.customfieldtypes:labels"),
    "date": ("date", None, "com.atlassian.jira.plugin.system.customfieldtypes:datepicker"),
    "user": ("user", None, "com.atlassian.jira.plugin.system.customfieldtypes:userpicker"),
}


def _stable_id(*parts: str) -> str:
    """A deterministic id so a reset with the same seed gives the same ids."""
    return str(10000 + int(hashlib.sha256("/".join(parts).encode()).hexdigest()[:6], 16) % 89999)


def build_state(seed: Seed) -> st.EmulatorState:
    state = st.EmulatorState(access_token_ttl_s=seed.access_token_ttl_s)
    by_email: dict[str, str] = {}
    for u in seed.users:
        account_id = u.account_id or f"712020:{uuid.uuid5(uuid.NAMESPACE_URL, 'user:' + u.email.lower())}"
        state.accounts[account_id] = st.Account(
            account_id=account_id,
            email=u.email,
            display_name=u.display_name,
            active=u.active,
            time_zone=u.time_zone,
            email_visible=u.email_visible,
            api_tokens=[st.ApiToken(t.token, t.expires_at, t.revoked) for t in u.api_tokens],
        )
        by_email[u.email.lower()] = account_id
    for app in seed.oauth_apps:
        state.oauth_apps[app.client_id] = st.OAuthApp(
            app.client_id, app.client_secret, app.name, list(app.redirect_uris)
        )
    for s in seed.sites:
        members = {by_email[u.email.lower()] for u in seed.users if u.sites is None or s.name in u.sites}
        state.sites[s.name] = _build_site(s, members, by_email, state)
    return state


def _build_site(s: SiteSeed, members: set[str], by_email: dict[str, str], state: st.EmulatorState) -> st.Site:
    fields = {f.id: f for f in _SYSTEM_FIELDS}
    for cf in s.custom_fields:
        schema_type, items, custom_type = _CUSTOM_TYPES[cf.type]
        fields[cf.id] = st.FieldDef(
            cf.id,
            cf.name,
            schema_type,
            custom=True,
            items=cf.items or items,
            custom_type=custom_type,
            allowed_values=cf.allowed_values,
        )
    priorities = [st.Priority(str(i + 1), name) for i, name in enumerate(s.priorities)]
    site = st.Site(
        name=s.name,
        cloud_id=s.cloud_id or str(uuid.uuid5(uuid.NAMESPACE_URL, "site:" + s.name)),
        members=members,
        projects={},
        priorities=priorities,
        statuses={},
        fields=fields,
        index_lag_s=s.index_lag_s,
        resolutions=list(s.resolutions),
    )
    site.admins = {by_email[email.lower()] for email in s.admins}
    default = site.priority_by_ref(s.default_priority)
    site.default_priority = default.id if default else None
    first_member = sorted(members)[0] if members else ""
    for p in s.projects:
        workflow_seed = p.workflow or DEFAULT_WORKFLOW
        for status in workflow_seed.statuses:
            if status.name not in site.statuses:
                site.statuses[status.name] = st.StatusDef(
                    _stable_id(s.name, "status", status.name), status.name, status.category, status.editable
                )
        transitions = [
            st.TransitionDef(
                id=str(11 + 10 * i),
                name=t.name,
                to=t.to,
                from_statuses=list(t.from_),
                required_fields=list(t.required_fields),
                optional_fields=list(t.optional_fields),
            )
            for i, t in enumerate(workflow_seed.transitions)
        ]
        for t in transitions:
            unknown = [f for f in t.screen if f not in fields]
            if unknown:
                raise ValueError(
                    f"transition {t.name!r} of {p.key} names unknown fields: {', '.join(unknown)}"
                )
        issue_types = [
            st.IssueTypeDef(
                # Company-managed projects share one id per issue type across the site.
                id=_stable_id(s.name, "issuetype", it.name),
                name=it.name,
                subtask=it.subtask,
                hierarchy_level=-1 if it.subtask else 0,
                required_fields=list(it.required_fields),
                optional_fields=list(it.optional_fields),
            )
            for it in (p.issue_types or DEFAULT_ISSUE_TYPES)
        ]
        permissions: dict[str, set[str]] = {"*": set(st.PERMISSIONS)}
        if p.permissions is not None:
            permissions = {
                (who if who == "*" else by_email[who.lower()]): set(keys)
                for who, keys in p.permissions.items()
            }
        site.projects[p.key] = st.Project(
            id=_stable_id(s.name, "project", p.key),
            key=p.key,
            name=p.name,
            lead=by_email[p.lead.lower()] if p.lead else first_member,
            issue_types=issue_types,
            workflow=st.Workflow(f"{p.key} workflow", workflow_seed.initial, transitions),
            permissions=permissions,
        )
    for issue in s.issues:
        _seed_issue(site, issue, by_email, state)
    search_index.index_now(site)  # seeded issues are searchable at once, edits to them lag
    return site


def _seed_issue(site: st.Site, seed: IssueSeed, by_email: dict[str, str], state: st.EmulatorState) -> None:
    project = site.projects[seed.project]
    issue_type = project.issue_type(seed.issue_type)
    if issue_type is None:
        raise ValueError(f"project {seed.project} has no issue type {seed.issue_type}")
    now = state.now()
    reporter = by_email[seed.reporter.lower()] if seed.reporter else project.lead
    priority = site.priority_by_ref(seed.priority) if seed.priority else None
    issue_id = site.next_id()
    key = f"{project.key}-{project.next_number}"
    project.next_number += 1
    site.issues[issue_id] = st.Issue(
        id=issue_id,
        key=key,
        project_key=project.key,
        issue_type_id=issue_type.id,
        summary=seed.summary,
        status=seed.status or project.workflow.initial_status,
        reporter=reporter,
        creator=reporter,
        created=now,
        updated=now,
        description=_plain_adf(seed.description) if seed.description else None,
        priority=(priority.id if priority else site.default_priority),
        labels=list(seed.labels),
        assignee=by_email[seed.assignee.lower()] if seed.assignee else None,
        status_category_changed=now,
    )
    site.keys[key] = issue_id


def _plain_adf(text: str) -> dict[str, Any]:
    return {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}],
    }


def default_seed() -> Seed:
    """Two sites, four people and the projects the four jirabridge profiles use. Documented in
    docs/emulator.md; tests rely on its names, so change it only with that page."""
    return Seed.model_validate(
        {
            "users": [
                {
                    "email": "admin@acme.test",
                    "display_name": "Ada Admin",
                    "api_tokens": [{"token": "admin-token"}],
                },
                {
                    "email": "bot@acme.test",
                    "display_name": "Jirabridge Bot",
                    "api_tokens": [{"token": "bot-token"}],
                },
                {
                    "email": "alice@acme.test",
                    "display_name": "Alice Analyst",
                    "api_tokens": [{"token": "alice-token"}],
                    "sites": ["acme"],
                },
                {
                    "email": "bob@acme.test",
                    "display_name": "Bob Builder",
                    "api_tokens": [{"token": "bob-token"}],
                    "email_visible": False,
                    "sites": ["acme"],
                },
            ],
            "oauth_apps": [
                {
                    "client_id": "jirabridge-dev",
                    "client_secret": "jirabridge-dev-secret-for-local-tests-only",
                    "name": "jirabridge (development)",
                    "redirect_uris": [
                        "http://127.0.0.1:8000/oauth/callback",
                        "http://localhost:8000/oauth/callback",
                    ],
                }
            ],
            "sites": [
                {
                    "name": "acme",
                    "admins": ["admin@acme.test"],
                    "custom_fields": [
                        {"id": "customfield_10050", "name": "Environment", "type": "string"},
                        {
                            "id": "customfield_10051",
                            "name": "Severity",
                            "type": "option",
                            "allowed_values": ["Critical", "High", "Medium", "Low"],
                        },
                        {"id": "customfield_10052", "name": "Data source", "type": "string"},
                    ],
                    "projects": [
                        {"key": "WEB", "name": "Web Store", "lead": "admin@acme.test"},
                        {
                            "key": "SEC",
                            "name": "Security",
                            "lead": "admin@acme.test",
                            "issue_types": [
                                {
                                    "name": "Bug",
                                    "required_fields": ["customfield_10051"],
                                    "optional_fields": ["description", "priority", "labels", "assignee"],
                                },
                                {"name": "Task", "optional_fields": ["description", "priority", "labels"]},
                            ],
                        },
                        {
                            "key": "DQ",
                            "name": "Data Quality",
                            "lead": "alice@acme.test",
                            "issue_types": [
                                {
                                    "name": "Task",
                                    "optional_fields": [
                                        "description",
                                        "priority",
                                        "labels",
                                        "assignee",
                                        "customfield_10052",
                                    ],
                                },
                                {
                                    "name": "Bug",
                                    "required_fields": ["customfield_10052"],
                                    "optional_fields": ["description", "priority", "labels", "assignee"],
                                },
                            ],
                        },
                        {
                            "key": "LOCK",
                            "name": "Locked",
                            "lead": "admin@acme.test",
                            "permissions": {
                                "admin@acme.test": sorted(st.PERMISSIONS),
                                "*": ["BROWSE_PROJECTS"],
                            },
                        },
                        {
                            "key": "HELP",
                            "name": "Help Desk",
                            "lead": "admin@acme.test",
                            "workflow": SCREENS_WORKFLOW.model_dump(by_alias=True),
                        },
                    ],
                },
                {
                    "name": "globex",
                    "admins": ["admin@acme.test"],
                    "projects": [{"key": "OPS", "name": "Operations", "lead": "admin@acme.test"}],
                },
            ],
        }
    )
