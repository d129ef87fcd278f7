"""`issue.comment`: add a comment to a Jira issue, exactly once.

The comment carries a comment property `jirabridge` = `{"marker": <marker>}` (the host comment's id,
or the operation's own). Any attempt after the first lists the issue's comments with their properties
first and adopts the one with the marker, so an answer lost after Jira applied it never makes a
second comment. (Comments are read directly, not through the search index: no lag to allow for.)

When the marker is a host comment (`item_comments`), the Jira comment id is stored on it per link,
so a later edit updates the same Jira comment.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from jirabridge import jira
from jirabridge.domain.outcomes import Done, Handler, Job, Outcome
from jirabridge.service.db import run_db
from jirabridge.service.unit_of_work import UnitOfWork
from jirabridge.storage.tables import ItemComment
from jirabridge.workers import jira_common as common

if TYPE_CHECKING:
    from jirabridge.bootstrap import Container

log = logging.getLogger("jirabridge.worker.jira")

PROPERTY_KEY = "jirabridge"


def carries(comment: jira.Comment, marker: str) -> bool:
    for prop in comment.properties or []:
        if prop.key == PROPERTY_KEY and isinstance(prop.value, dict) and prop.value.get("marker") == marker:
            return True
    return False


class AddComment:
    def __init__(self, container: Container) -> None:
        self.container = container
        self.pool = common.pool_for(container)

    async def __call__(self, job: Job) -> Outcome:
        p = job.payload
        site_id, key = str(p.get("site_id") or job.site_id), str(p["issue_key"])
        marker = str(p.get("marker") or job.id)
        body: Any = p["body"]
        links = await common.links_of(self.container, job.workspace_id, site_id, key)
        if not links:
            return Done({"skipped": "not_linked"})
        if common.all_broken(links):
            return common.LINK_BROKEN
        try:
            async with self.pool.client(site_id, workspace_id=job.workspace_id) as client:
                found = None
                if job.attempts > 1:
                    found = next((c for c in await client.comments.list(key) if carries(c, marker)), None)
                if found is not None:
                    log.info("jira.comment.adopted op=%s issue=%s comment=%s", job.id, key, found.id)
                else:
                    found = await client.comments.add(
                        key, body, properties={PROPERTY_KEY: {"marker": marker}}
                    )
        except jira.NotFound:
            return await common.issue_not_found(self.container, job.workspace_id, site_id, key)
        except common.CALL_ERRORS as error:
            return common.classify(error)
        comment_id = found.id
        await run_db(self.container, lambda uow: _remember(uow, job, site_id, key, marker, comment_id))
        return Done({"comment_id": comment_id})


def _remember(uow: UnitOfWork, job: Job, site_id: str, key: str, marker: str, comment_id: str) -> None:
    """Store the Jira comment id on the host comment (per link of its item to this issue)."""
    comment = uow.session.get(ItemComment, marker)
    if comment is None or comment.workspace_id != job.workspace_id:
        return
    ids = dict(comment.jira_comments or {})
    for link in common.issue_links(uow, job.workspace_id, site_id, key):
        if (link.item_type, link.item_id) == (comment.item_type, comment.item_id):
            ids[link.id] = comment_id
    comment.jira_comments = ids
    uow.commit()


def make_comment_handler(container: Container) -> Handler:
    return AddComment(container)
