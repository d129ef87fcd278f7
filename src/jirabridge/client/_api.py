"""Every operation of the service's public API, as a builder of its `Call`: the arguments, the docs and
the answer's type of each client method. `Client` and `AsyncClient` take these as their methods
(`_client.py`), so both have exactly these signatures.

Optional arguments left as None are not sent: the service's default applies (for a `PUT`, which
replaces, that is the same as null).

Written by hand, not generated from the OpenAPI description: most answers there have no schema (the
routes answer plain JSON), so a generator (openapi-python-client, datamodel-codegen) would type the
requests only, name methods after operation ids (`put_item_api_v1_items__item_type___item_id__put`)
and add a generated tree with its own runtime (attrs). The drift a generator would prevent is caught by
tests/unit/client/test_openapi_agreement.py instead: every operation here against the description, and
every operation there against this list.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from jirabridge.client import _models as m
from jirabridge.client._operations import Call, as_json, as_list, as_model, as_none, call, given

Auth = m.ApiTokenAuth | m.OAuthAuth

# -- workspaces and API keys (the service token) ---------------------------------------------------


def create_workspace(name: str) -> Call[m.Workspace]:
    """A new, empty workspace. Needs the service token."""
    return call("create_workspace", as_model(m.Workspace), json=given(name=name))


def list_api_keys(workspace_id: str) -> Call[list[m.ApiKey]]:
    """The workspace's API keys, revoked ones included, without the keys. Needs the service token."""
    return call("list_api_keys", as_list("api_keys", m.ApiKey), path={"workspace_id": workspace_id})


def create_api_key(workspace_id: str, *, role: m.Role, name: str, user: str | None = None) -> Call[m.ApiKey]:
    """A new key with `role`, optionally bound to one host user; `.key` is in this answer only.
    Needs the service token."""
    return call(
        "create_api_key",
        as_model(m.ApiKey),
        path={"workspace_id": workspace_id},
        json=given(role=role, name=name, user=user),
    )


def revoke_api_key(workspace_id: str, key_id: str) -> Call[None]:
    """The key stops working at once. Needs the service token."""
    return call("revoke_api_key", as_none, path={"workspace_id": workspace_id, "key_id": key_id})


# -- sites -----------------------------------------------------------------------------------------


def list_sites() -> Call[list[m.Site]]:
    """The workspace's sites that are not disconnected, oldest first."""
    return call("list_sites", as_list("sites", m.Site))


def connect_site(
    url: str | None, auth: Auth, *, default_project: str | None = None, default: bool | None = None
) -> Call[m.Site]:
    """Connect a Jira site: with `ApiTokenAuth` it is `connected` at once; with `OAuthAuth` it is
    `pending` and `.authorize_url` is where a Jira administrator gives consent (`url` may then be None:
    the site the administrator grants is connected)."""
    return call(
        "connect_site",
        as_model(m.Site),
        json=given(url=url, auth=auth, default_project=default_project, default=default),
    )


def get_site(site_id: str) -> Call[m.Site]:
    """One site: its URL, connection, status, default project and webhook."""
    return call("get_site", as_model(m.Site), path={"site_id": site_id})


def edit_site(
    site_id: str, *, default_project: str | None = None, default: bool | None = None
) -> Call[m.Site]:
    """Change the default project or make the site the default; None leaves a field unchanged."""
    return call(
        "edit_site",
        as_model(m.Site),
        path={"site_id": site_id},
        json=given(default_project=default_project, default=default),
    )


def disconnect_site(site_id: str) -> Call[None]:
    """Stop the site's sync and delete its credentials; links, items and history stay."""
    return call("disconnect_site", as_none, path={"site_id": site_id})


def check_site(
    site_id: str, *, project: str | None = None, issue_type: str | None = None
) -> Call[dict[str, Any]]:
    """The connection test: `{"ok": bool, "checks": [{"check", "ok", "code", "message"}]}`."""
    return call(
        "check_site", as_json, path={"site_id": site_id}, json=given(project=project, issue_type=issue_type)
    )


def new_webhook_secret(site_id: str) -> Call[dict[str, Any]]:
    """A new secret for the site's admin webhook (shown once, with the URL to paste into Jira)."""
    return call("new_webhook_secret", as_json, path={"site_id": site_id})


# -- project settings ------------------------------------------------------------------------------


def list_project_settings(site_id: str) -> Call[list[dict[str, Any]]]:
    """The settings of every project of the site that has some."""
    return call("list_project_settings", lambda r: list(r.json()["projects"]), path={"site_id": site_id})


def get_project_settings(site_id: str, key: str) -> Call[dict[str, Any]]:
    """The project's settings document, in the shape `put_project_settings` takes."""
    return call("get_project_settings", as_json, path={"site_id": site_id, "key": key})


def put_project_settings(site_id: str, key: str, settings: Mapping[str, Any]) -> Call[dict[str, Any]]:
    """Replace the project's settings document (docs/tickets.md); a field left out takes its default."""
    return call("put_project_settings", as_json, path={"site_id": site_id, "key": key}, json=dict(settings))


def delete_project_settings(site_id: str, key: str) -> Call[None]:
    """The project goes back to no settings."""
    return call("delete_project_settings", as_none, path={"site_id": site_id, "key": key})


# -- Jira lookups ----------------------------------------------------------------------------------


def jira_projects(site_id: str) -> Call[list[dict[str, Any]]]:
    """The Jira projects the site's connection can see: `[{"key", "name"}]`."""
    return call("jira_projects", lambda r: list(r.json()["projects"]), path={"site_id": site_id})


def jira_project(site_id: str, project: str) -> Call[dict[str, Any]]:
    """A project's issue types, statuses and the site's priorities."""
    return call("jira_project", as_json, path={"site_id": site_id, "project": project})


def jira_create_fields(site_id: str, project: str, issue_type: str) -> Call[dict[str, Any]]:
    """Every field of the issue type's create screen (required, type, allowed values)."""
    return call(
        "jira_create_fields",
        as_json,
        path={"site_id": site_id, "project": project, "issue_type": issue_type},
    )


def jira_assignable_users(site_id: str, project: str, query: str | None = None) -> Call[dict[str, Any]]:
    """Jira users assignable in `project` whose name or email starts with `query`."""
    return call(
        "jira_assignable_users",
        as_json,
        path={"site_id": site_id},
        params={"project": project, "query": query},
    )


# -- host users ------------------------------------------------------------------------------------


def upsert_user(user_id: str, *, email: str | None = None, name: str | None = None) -> Call[m.User]:
    """Create or update a person of the host application, by the host's id."""
    return call(
        "upsert_user", as_model(m.User), path={"user_id": user_id}, json=given(email=email, name=name)
    )


def list_users() -> Call[list[m.UserOverview]]:
    """Every host user the workspace knows, their Jira connections and waiting entries (admin, manager)."""
    return call("list_users", as_list("users", m.UserOverview))


def get_user_connections(user_id: str) -> Call[list[m.UserConnection]]:
    """The user's connection to each site (never a credential)."""
    return call("get_user_connections", as_list("connections", m.UserConnection), path={"user_id": user_id})


def connect_user(user_id: str, auth: Auth, *, site: str | None = None) -> Call[m.UserConnection]:
    """Let jirabridge act as this person in Jira; with `OAuthAuth`, `.authorize_url` is for their consent."""
    return call(
        "connect_user",
        as_model(m.UserConnection),
        path={"user_id": user_id},
        json=given(site=site, auth=auth),
    )


def disconnect_user(user_id: str, *, site: str | None = None) -> Call[None]:
    """Forget the user's Jira identity on `site`, or on every site."""
    return call("disconnect_user", as_none, path={"user_id": user_id}, params={"site": site})


# -- items, tickets, links, comments ---------------------------------------------------------------


def get_item(item_type: str, item_id: str) -> Call[m.Item]:
    """The item with its links to Jira issues and each link's sync state."""
    return call("get_item", as_model(m.Item), path={"item_type": item_type, "item_id": item_id})


def put_item(
    item_type: str,
    item_id: str,
    *,
    title: str,
    description: str | None = None,
    status: str | None = None,
    severity: str | None = None,
    assignee: str | None = None,
    attributes: Mapping[str, m.AttributeValue] | None = None,
    url: str | None = None,
) -> Call[m.Item]:
    """Create or update the host's record; a changed `status` moves its linked issues (in the background)."""
    return call(
        "put_item",
        as_model(m.Item),
        path={"item_type": item_type, "item_id": item_id},
        json=given(
            title=title,
            description=description,
            status=status,
            severity=severity,
            assignee=assignee,
            attributes=dict(attributes) if attributes is not None else None,
            url=url,
        ),
    )


def delete_item(item_type: str, item_id: str) -> Call[None]:
    """Remove the item and its links from jirabridge; nothing is deleted in Jira."""
    return call("delete_item", as_none, path={"item_type": item_type, "item_id": item_id})


def create_ticket(
    item_type: str,
    item_id: str,
    *,
    site: str | None = None,
    project: str | None = None,
    issue_type: str | None = None,
    summary: str | None = None,
    description: str | None = None,
    priority: str | None = None,
    labels: Sequence[str] | None = None,
    assignee: str | None = None,
    fields: Mapping[str, Any] | None = None,
    idempotency_key: str | None = None,
) -> Call[m.Link]:
    """Create a Jira issue for the item. The link answered is `synced` with its key when Jira answered
    in time, else `pending` (follow it with `get_item`). Sent with an `Idempotency-Key` (generated
    unless given), so a retry never creates a second issue."""
    return call(
        "create_ticket",
        as_model(m.Link),
        path={"item_type": item_type, "item_id": item_id},
        json=given(
            site=site,
            project=project,
            issue_type=issue_type,
            summary=summary,
            description=description,
            priority=priority,
            labels=list(labels) if labels is not None else None,
            assignee=assignee,
            fields=dict(fields) if fields is not None else None,
        ),
        idempotency_key=idempotency_key,
    )


def link_issue(
    item_type: str,
    item_id: str,
    issue: str,
    *,
    site: str | None = None,
    backlink: bool | None = None,
    idempotency_key: str | None = None,
) -> Call[m.Link]:
    """Link an existing issue by key (`WEB-12`) or browse URL; `backlink` adds a remote link in Jira."""
    return call(
        "link_issue",
        as_model(m.Link),
        path={"item_type": item_type, "item_id": item_id},
        json=given(issue=issue, site=site, backlink=backlink),
        idempotency_key=idempotency_key,
    )


def unlink_issue(item_type: str, item_id: str, issue_key: str) -> Call[None]:
    """Remove the link; the issue stays in Jira untouched."""
    return call(
        "unlink_issue",
        as_none,
        path={"item_type": item_type, "item_id": item_id, "issue_key": issue_key},
    )


def list_comments(item_type: str, item_id: str) -> Call[list[m.Comment]]:
    """Comments from both sides, oldest first (`source` `host` or `jira`)."""
    return call(
        "list_comments",
        as_list("comments", m.Comment),
        path={"item_type": item_type, "item_id": item_id},
    )


def add_comment(
    item_type: str,
    item_id: str,
    body: str,
    *,
    author: str | None = None,
    idempotency_key: str | None = None,
) -> Call[m.Comment]:
    """A host comment; it goes to the linked issues whose project syncs comments outbound."""
    return call(
        "add_comment",
        as_model(m.Comment),
        path={"item_type": item_type, "item_id": item_id},
        json=given(body=body, author=author),
        idempotency_key=idempotency_key,
    )


def edit_comment(item_type: str, item_id: str, comment_id: str, body: str) -> Call[m.Comment]:
    """A host comment's new body; the Jira comments it became follow."""
    return call(
        "edit_comment",
        as_model(m.Comment),
        path={"item_type": item_type, "item_id": item_id, "comment_id": comment_id},
        json=given(body=body),
    )


# -- events, settings, sync ------------------------------------------------------------------------


def events(after: str | None = None, *, limit: int | None = None) -> Call[m.EventPage]:
    """One page of the event feed, oldest first; ask again with `after=page.next`."""
    return call("events", as_model(m.EventPage), params={"after": after, "limit": limit})


def get_settings() -> Call[dict[str, Any]]:
    """The workspace's settings (the callback secret is never returned: `callback.secret_set`)."""
    return call("get_settings", as_json)


def put_settings(settings: Mapping[str, Any]) -> Call[dict[str, Any]]:
    """Replace the workspace's settings (docs/settings.md); `callback.secret` left out is kept."""
    return call("put_settings", as_json, json=dict(settings))


def list_failures(after: str | None = None, *, limit: int | None = None) -> Call[dict[str, Any]]:
    """Operations that failed for good: `{"failures": [...], "next": cursor or None}`."""
    return call("list_failures", as_json, params={"after": after, "limit": limit})


def retry_failure(op_id: str) -> Call[dict[str, Any]]:
    """Put a failed operation back in the queue."""
    return call("retry_failure", as_json, path={"op_id": op_id})


def reconcile(*, site: str | None = None, project: str | None = None) -> Call[dict[str, Any]]:
    """Poll Jira now (every project with inbound sync, or the one named)."""
    return call("reconcile", as_json, json=given(site=site, project=project))


# -- time entries ----------------------------------------------------------------------------------


def get_time_entry(entry_id: str) -> Call[m.TimeEntry]:
    """The entry with its worklog's state."""
    return call("get_time_entry", as_model(m.TimeEntry), path={"entry_id": entry_id})


def put_time_entry(
    entry_id: str,
    *,
    user: str,
    started_at: datetime,
    duration_s: int | None = None,
    ended_at: datetime | None = None,
    running: bool | None = None,
    description: str | None = None,
    issue_key: str | None = None,
    project: str | None = None,
    task: str | None = None,
    site: str | None = None,
    resync: bool | None = None,
) -> Call[m.TimeEntry]:
    """Create or replace an entry (`started_at` with a time zone); its worklog follows in the background."""
    return call(
        "put_time_entry",
        as_model(m.TimeEntry),
        path={"entry_id": entry_id},
        json=given(
            user=user,
            started_at=started_at,
            duration_s=duration_s,
            ended_at=ended_at,
            running=running,
            description=description,
            issue_key=issue_key,
            project=project,
            task=task,
            site=site,
            resync=resync,
        ),
    )


def delete_time_entry(entry_id: str) -> Call[None]:
    """Delete an entry (its worklog too when `worklogs.delete_worklogs` is on)."""
    return call("delete_time_entry", as_none, path={"entry_id": entry_id})


# -- rules -----------------------------------------------------------------------------------------


def get_rules() -> Call[dict[str, Any]]:
    """The workspace's ordered routing rules: `{"rules": [...]}`."""
    return call("get_rules", as_json)


def put_rules(rules: Sequence[m.Rule]) -> Call[dict[str, Any]]:
    """Replace the ordered rules; every query and destination is checked against the site first."""
    return call("put_rules", as_json, json={"rules": list(rules)})


def preview_rules(
    item_type: str,
    item_id: str | None = None,
    *,
    title: str | None = None,
    description: str | None = None,
    status: str | None = None,
    severity: str | None = None,
    assignee: str | None = None,
    attributes: Mapping[str, m.AttributeValue] | None = None,
    url: str | None = None,
) -> Call[m.RulePreview]:
    """Which rule an item would match and the ticket it would create; nothing is written. Type and id
    alone name a stored item; with a `title` (and more) the item is given inline."""
    item = given(
        type=item_type,
        id=item_id,
        title=title,
        description=description,
        status=status,
        severity=severity,
        assignee=assignee,
        attributes=dict(attributes) if attributes is not None else None,
        url=url,
    )
    return call("preview_rules", as_model(m.RulePreview), json={"item": m.PreviewItem.model_validate(item)})


# -- pages -----------------------------------------------------------------------------------------


def create_ui_session(
    user_id: str,
    role: m.Role,
    scope: Literal["settings"] | m.ItemScope,
    *,
    return_url: str | None = None,
    workspace: str | None = None,
) -> Call[m.UiSession]:
    """A one-time URL (five minutes) opening the settings pages or an item's ticket panel as `user_id`.
    `workspace` only with the service token."""
    return call(
        "create_ui_session",
        as_model(m.UiSession),
        json=given(user_id=user_id, role=role, scope=scope, return_url=return_url, workspace=workspace),
    )
