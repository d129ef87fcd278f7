"""Comments on items, and which Jira comment each one is (the refs that keep them apart)."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import bindparam, delete, select

from jirabridge.storage.core_reads import table
from jirabridge.storage.core_writes import dialect_of, forget_loaded, insert_row, upsert
from jirabridge.storage.repositories._base import Repository
from jirabridge.storage.tables import ItemComment, JiraCommentRef

_COMMENTS = table(ItemComment)
_REFS = table(JiraCommentRef)
_REF_KEY = ("site_id", "jira_comment_id")
_TEXT = select(_COMMENTS.c.workspace_id, _COMMENTS.c.source, _COMMENTS.c.author, _COMMENTS.c.body).where(
    _COMMENTS.c.id == bindparam("comment_id")
)


class CommentText(NamedTuple):
    workspace_id: str
    source: str
    author: str | None
    body: str


class ItemComments(Repository[ItemComment]):
    def get(self, comment_id: str) -> ItemComment | None:
        return self._session.get(ItemComment, comment_id)

    def insert(self, comment: ItemComment) -> ItemComment:
        """A new comment, written at once (a Core INSERT): `comment` stays out of the session, as built."""
        insert_row(self._session, comment)
        return comment

    def text(self, comment_id: str) -> CommentText | None:
        """Whose comment it is and what it says."""
        row = self._session.execute(_TEXT, {"comment_id": comment_id}).first()
        return CommentText(*row) if row is not None else None

    def on_item(self, workspace_id: str, item_type: str, item_id: str) -> list[ItemComment]:
        """The item's comments, oldest first."""
        query = (
            select(ItemComment)
            .where(
                ItemComment.workspace_id == workspace_id,
                ItemComment.item_type == item_type,
                ItemComment.item_id == item_id,
            )
            .order_by(ItemComment.created_at, ItemComment.id)
        )
        return list(self._session.scalars(query))

    def copies_of(self, workspace_id: str, jira_ref: str) -> list[ItemComment]:
        """The items' copies of one Jira comment (`<site>:<comment id>`)."""
        query = select(ItemComment).where(
            ItemComment.workspace_id == workspace_id, ItemComment.jira_ref == jira_ref
        )
        return list(self._session.scalars(query))

    def remove_on_item(self, workspace_id: str, item_type: str, item_id: str) -> None:
        self._session.execute(
            delete(ItemComment).where(
                ItemComment.workspace_id == workspace_id,
                ItemComment.item_type == item_type,
                ItemComment.item_id == item_id,
            )
        )


class JiraCommentRefs(Repository[JiraCommentRef]):
    def get(self, site_id: str, jira_comment_id: str) -> JiraCommentRef | None:
        return self._session.get(JiraCommentRef, (site_id, jira_comment_id))

    def save(
        self,
        site_id: str,
        jira_comment_id: str,
        *,
        workspace_id: str,
        issue_key: str,
        item_comment_id: str | None,
        source: str,
        jira_updated_at: datetime | None,
    ) -> None:
        """The Jira comment's ref, created or replaced whole, written at once (a Core upsert)."""
        row = {
            "site_id": site_id,
            "jira_comment_id": jira_comment_id,
            "workspace_id": workspace_id,
            "issue_key": issue_key,
            "item_comment_id": item_comment_id,
            "source": source,
            "jira_updated_at": jira_updated_at,
        }
        self._session.execute(upsert(_REFS, dialect_of(self._session), _REF_KEY), row)
        forget_loaded(self._session, JiraCommentRef, (site_id, jira_comment_id))

    def posted_on_issue(
        self, workspace_id: str, site_id: str, issue_key: str, item_comment_id: str
    ) -> list[str]:
        """The ids of the Jira comments jirabridge posted on the issue for an item's comment."""
        query = (
            select(JiraCommentRef.jira_comment_id)
            .where(
                JiraCommentRef.workspace_id == workspace_id,
                JiraCommentRef.site_id == site_id,
                JiraCommentRef.issue_key == issue_key,
                JiraCommentRef.item_comment_id == item_comment_id,
                JiraCommentRef.source == "jirabridge",
            )
            .order_by(JiraCommentRef.jira_comment_id)
        )
        return list(self._session.scalars(query))

    def posted(self, workspace_id: str, item_comment_id: str) -> list[JiraCommentRef]:
        """The Jira comments jirabridge posted for an item's comment, by site and issue."""
        query = (
            select(JiraCommentRef)
            .where(
                JiraCommentRef.workspace_id == workspace_id,
                JiraCommentRef.item_comment_id == item_comment_id,
                JiraCommentRef.source == "jirabridge",
            )
            .order_by(JiraCommentRef.site_id, JiraCommentRef.issue_key)
        )
        return list(self._session.scalars(query))
