"""The worker's Jira handlers for tickets: every Jira write of the tickets feature happens here.

    issue.create        jira_create.CreateIssue     the issue of a pending link (never twice)
    issue.remote_link   jira_create.AddRemoteLink   a web link from the issue back to the item
    issue.sync_status   jira_status.SyncStatus      move the issue to its items' mapped status
    issue.comment       jira_comment.AddComment     a comment (never twice), as its author where possible
    issue.comment_update jira_comment_edit.UpdateComment  an edited host comment: the same Jira comment
    issue.assign        jira_assign.AssignIssue     the issue's assignee follows the item's

All share one `JiraPool` per container (adapters/jira_pool.py): per-site pacing, one connection pool,
an allowed-hosts guard. Errors are classified in jira_common.py. Each handler is safe to run again
after a crash: it checks Jira (marker label, comment property, current status) before it writes.
"""

from __future__ import annotations

from jirabridge.domain.operations import (
    AddComment,
    AddRemoteLink,
    AssignIssue,
    CreateIssue,
    SyncStatus,
    UpdateComment,
)
from jirabridge.workers import registry
from jirabridge.workers.jira_assign import make_assign_handler
from jirabridge.workers.jira_comment import make_comment_handler
from jirabridge.workers.jira_comment_edit import make_comment_update_handler
from jirabridge.workers.jira_create import make_create_handler, make_remote_link_handler
from jirabridge.workers.jira_status import make_sync_status_handler

registry.register(CreateIssue, make_create_handler)
registry.register(AddRemoteLink, make_remote_link_handler)
registry.register(SyncStatus, make_sync_status_handler)
registry.register(AddComment, make_comment_handler)
registry.register(UpdateComment, make_comment_update_handler)
registry.register(AssignIssue, make_assign_handler)
