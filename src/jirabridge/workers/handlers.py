"""Every operation kind the worker runs, and the factory of its handler: one explicit list.

    issue.create          jira_create.make_create_handler          the issue of a pending link (never twice)
    issue.remote_link     jira_create.make_remote_link_handler     a web link from the issue to the item
    issue.sync_status     jira_status.make_sync_status_handler     the issue follows its items' status
    issue.comment         jira_comment.make_comment_handler        a comment (never twice), as its author
    issue.comment_update  jira_comment_edit.make_comment_update_handler  an edited host comment
    issue.assign          jira_assign.make_assign_handler          the issue's assignee follows the item's
    worklog.sync          jira_worklogs.make_sync_handler          a time entry as a worklog, as its user
    worklog.drift         jira_worklog_drift.make_drift_handler    worklogs edited in Jira
    inbound.poll          inbound_poll.make_poll_handler           one poll of one project
    inbound.apply         inbound_poll.make_apply_handler          a change deferred behind outbound work
    inbound.catch_up      inbound_catch_up.make_catch_up_handler   statuses missed while away
    webhooks.sync         jira_webhooks.make_sync_handler          an OAuth site's dynamic webhooks
    webhooks.admin_sync   jira_admin_webhooks.make_sync_handler    an API-token site's admin webhook
    webhooks.admin_remove jira_admin_webhooks.make_remove_handler  ... removed when the site goes
    site.projects         site_projects.make_handler               the projects a site can browse
    callback.deliver      callbacks.make_deliver_handler           an event POSTed to the host

The worker builds `builtin_registry()` at start-up (`runner.run_worker`, `bootstrap.handlers`) and
every factory then receives the container and the one Jira pool the composition root built. Nothing
is registered by importing a module: a new kind is a new line in `BUILTIN`. Each Jira handler is
safe to run again after a crash: it checks Jira (marker label, comment property, current status)
before it writes.
"""

from __future__ import annotations

from jirabridge.domain import operations as ops
from jirabridge.workers import (
    callbacks,
    inbound_catch_up,
    inbound_poll,
    jira_admin_webhooks,
    jira_assign,
    jira_comment,
    jira_comment_edit,
    jira_create,
    jira_status,
    jira_webhooks,
    jira_worklog_drift,
    jira_worklogs,
    site_projects,
)
from jirabridge.workers.registry import HandlerFactory, Registry

BUILTIN: tuple[tuple[type[ops.Operation], HandlerFactory], ...] = (
    (ops.CreateIssue, jira_create.make_create_handler),
    (ops.AddRemoteLink, jira_create.make_remote_link_handler),
    (ops.SyncStatus, jira_status.make_sync_status_handler),
    (ops.AddComment, jira_comment.make_comment_handler),
    (ops.UpdateComment, jira_comment_edit.make_comment_update_handler),
    (ops.AssignIssue, jira_assign.make_assign_handler),
    (ops.SyncWorklog, jira_worklogs.make_sync_handler),
    (ops.CheckWorklogDrift, jira_worklog_drift.make_drift_handler),
    (ops.PollProject, inbound_poll.make_poll_handler),
    (ops.ApplyInbound, inbound_poll.make_apply_handler),
    (ops.CatchUpStatuses, inbound_catch_up.make_catch_up_handler),
    (ops.SyncDynamicWebhooks, jira_webhooks.make_sync_handler),
    (ops.SyncAdminWebhooks, jira_admin_webhooks.make_sync_handler),
    (ops.RemoveAdminWebhooks, jira_admin_webhooks.make_remove_handler),
    (ops.ListSiteProjects, site_projects.make_handler),
    (ops.DeliverCallback, callbacks.make_deliver_handler),
)


def builtin_registry() -> Registry:
    """A registry of every built-in kind; a caller may register kinds of its own on it."""
    registry = Registry()
    for operation, factory in BUILTIN:
        registry.register(operation, factory)
    return registry
