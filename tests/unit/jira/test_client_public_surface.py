"""The public surface of `jirabridge.jira` is a promise: changing it must be a deliberate edit here."""

from __future__ import annotations

import jirabridge.jira

EXPECTED = {
    # client and auth
    "JiraClient",
    "CookielessClient",
    "BasicTokenAuth",
    "OAuthAuth",
    "OAuthApp",
    "OAuthTokens",
    "AccessibleResource",
    "gateway_base_url",
    "ATLASSIAN_API_URL",
    "ATLASSIAN_AUTHORIZE_URL",
    "ATLASSIAN_TOKEN_URL",
    # policies
    "SitePacer",
    "Action",
    # errors
    "JiraError",
    "TransportError",
    "JiraTimeout",
    "ConnectionFailed",
    "HTTPStatusError",
    "RateLimited",
    "SitePaused",
    "ServerError",
    "Conflict",
    "BadRequest",
    "Unauthorized",
    "TokenExpired",
    "Forbidden",
    "NotFound",
    "OAuthError",
    "InvalidResponse",
    "maybe_applied",
    # models
    "User",
    "ServerInfo",
    "Project",
    "IssueType",
    "Priority",
    "Resolution",
    "Status",
    "StatusCategory",
    "FieldDefinition",
    "CreateMetaField",
    "Issue",
    "IssueFields",
    "CreatedIssue",
    "BULK_CREATE_MAX",
    "BulkCreateRefusal",
    "BulkCreateResult",
    "BulkFetchResult",
    "SearchPage",
    "Transition",
    "ChangeHistory",
    "ChangeItem",
    "Comment",
    "Property",
    "RemoteLink",
    "RemoteLinkRef",
    "Worklog",
    "WorklogChange",
    "WorklogChanges",
    "AdminWebhook",
    "AdminWebhookSpec",
    "Webhook",
    "WebhookRegistration",
    "WebhookSpec",
    # helpers
    "adf",
    "jira_datetime",
}


def test_public_surface_is_pinned() -> None:
    assert set(jirabridge.jira.__all__) == EXPECTED
    assert len(jirabridge.jira.__all__) == len(EXPECTED)  # no duplicates


def test_every_public_name_exists_and_errors_share_one_root() -> None:
    for name in jirabridge.jira.__all__:
        assert hasattr(jirabridge.jira, name), name
    errors = [getattr(jirabridge.jira, n) for n in EXPECTED if n.endswith(("Error", "Failed"))]
    assert all(issubclass(e, jirabridge.jira.JiraError) for e in errors)


def test_adf_builder_is_reachable_from_the_surface() -> None:
    assert jirabridge.jira.adf.to_text(jirabridge.jira.adf.from_text("hi")) == "hi"
