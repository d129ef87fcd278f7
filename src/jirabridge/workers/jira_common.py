"""What the Jira handlers share: error classification, broken links.

Errors are classified by what the client says should happen next (`JiraError.action`):

    429                      Retry(after_s = Retry-After)             reason rate_limited
    site paused for long     Retry(after_s = the pause, not counted)  reason site_paused (no call made)
    5xx, timeouts, resets    Retry (the outbox backs off with jitter) reason jira_unavailable / jira_timeout /
                                                                             connection_failed
    409 on a transition      Retry                                    reason conflict
    400                      Fail bad_request (Jira's field errors in the detail)
    401                      Fail unauthorized (token_expired when the token or grant is dead)
    403                      Fail forbidden
    404                      the handler decides (an issue that is gone breaks its links)
    site not connected       Fail site_disconnected (no call is made)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from jirabridge import jira
from jirabridge.adapters.jira_pool import SiteUnavailable
from jirabridge.domain.items import LinkState
from jirabridge.domain.outbound import OutboundRefused
from jirabridge.domain.outcomes import Done, Fail, Outcome, Retry
from jirabridge.service.tickets.issue_links import LinkRef

if TYPE_CHECKING:
    pass

PUSHING_MODES = ("two_way", "outbound")  # project `status_sync` modes that move Jira statuses


# What a handler catches around its Jira calls and hands to `classify`.
CALL_ERRORS = (jira.JiraError, SiteUnavailable, OutboundRefused)


def describe(error: jira.JiraError) -> str:
    """Jira's own words (messages and field errors) when it gave some, else the error's summary."""
    if isinstance(error, jira.HTTPStatusError):
        parts = [*error.messages, *(f"{k}: {v}" for k, v in error.field_errors.items())]
        if parts:
            return f"Jira answered {error.status_code}: " + "; ".join(parts)
    return error.message


def classify(error: Exception) -> Outcome:
    """The outcome of a call that raised `error` (see the module docstring)."""
    if isinstance(error, SiteUnavailable):
        return Fail(error.reason, str(error))
    if isinstance(error, OutboundRefused):  # not a Jira site, or an address the operator did not allow
        return Fail("host_not_allowed", error.reason)
    if not isinstance(error, jira.JiraError):
        raise error
    detail = describe(error)
    if error.action is jira.Action.SKIP:
        return Done({"skipped": "already_gone"})
    if error.action is jira.Action.RETRY:
        if isinstance(error, jira.SitePaused):
            return Retry(
                "site_paused", detail, after_s=error.retry_after, counted=False, whole_site=error.site_wide
            )
        if isinstance(error, jira.RateLimited):
            return Retry("rate_limited", detail, after_s=error.retry_after)
        if isinstance(error, jira.Conflict):
            return Retry("conflict", detail, after_s=error.retry_after)
        if isinstance(error, jira.JiraTimeout):
            return Retry("jira_timeout", detail)
        if isinstance(error, jira.ConnectionFailed):
            return Retry("connection_failed", detail)
        return Retry("jira_unavailable", detail, after_s=error.retry_after)
    if isinstance(error, jira.BadRequest):
        return Fail("bad_request", detail)
    if isinstance(error, jira.TokenExpired):
        return Fail("token_expired", "the Jira authorisation expired or was revoked: reconnect the site")
    if isinstance(error, jira.Unauthorized | jira.OAuthError):
        return Fail("unauthorized", "Jira rejected the site's credentials (401)")
    if isinstance(error, jira.Forbidden):
        return Fail("forbidden", detail)
    if isinstance(error, jira.NotFound):
        return Fail("not_found", detail)
    if isinstance(error, jira.Conflict):
        return Fail("conflict", detail)
    if isinstance(error, jira.InvalidResponse):
        return Fail("invalid_response", detail)
    return Fail("jira_rejected", detail)


# -- links of one issue ----------------------------------------------------------------------------


LINK_BROKEN = Fail("link_broken", "the Jira issue was deleted (or is no longer visible): remove the link")
NOT_LINKED = Done({"skipped": "not_linked"})


def unless_linked(links: Sequence[LinkRef]) -> Outcome | None:
    """What a handler writing to an issue answers without a call when no item is linked to it any
    more (skipped) or every link is broken (`link_broken`: the issue is gone); None: go on."""
    if not links:
        return NOT_LINKED
    if all(link.sync_state == LinkState.BROKEN for link in links):
        return LINK_BROKEN
    return None
