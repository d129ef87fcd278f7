"""JQL search on `/search/jql`: pages chained by `nextPageToken`, as an async iterator.

Jira's index is eventually consistent: an issue written a moment ago may be missing from a search.
Pass its id in `reconcile_issues` (at most 50) and Jira waits for it to be indexed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from jirabridge.jira._models import Issue, SearchPage
from jirabridge.jira._resource import Resource
from jirabridge.jira._transport import parse

RECONCILE_MAX = 50
DEFAULT_FIELDS = ("summary", "status", "updated")


class SearchAPI(Resource):
    async def page(
        self,
        jql: str,
        *,
        next_page_token: str | None = None,
        fields: Sequence[str] = DEFAULT_FIELDS,
        expand: Sequence[str] | None = None,
        properties: Sequence[str] | None = None,
        max_results: int = 100,
        reconcile_issues: Sequence[int] | None = None,
    ) -> SearchPage:
        """One page. Without `fields` Jira returns only ids, so a small useful set is the default."""
        if reconcile_issues is not None and len(reconcile_issues) > RECONCILE_MAX:
            raise ValueError(f"reconcile_issues takes at most {RECONCILE_MAX} ids")
        body: dict[str, Any] = {"jql": jql, "maxResults": max_results, "fields": list(fields)}
        if next_page_token:
            body["nextPageToken"] = next_page_token
        if expand:
            body["expand"] = ",".join(expand)
        if properties:
            body["properties"] = list(properties)
        if reconcile_issues:
            body["reconcileIssues"] = [int(i) for i in reconcile_issues]
        return parse(SearchPage, await self._r.request("POST", "/search/jql", json=body))

    async def pages(
        self,
        jql: str,
        *,
        fields: Sequence[str] = DEFAULT_FIELDS,
        expand: Sequence[str] | None = None,
        properties: Sequence[str] | None = None,
        max_results: int = 100,
        reconcile_issues: Sequence[int] | None = None,
    ) -> AsyncIterator[SearchPage]:
        token: str | None = None
        while True:
            page = await self.page(
                jql,
                next_page_token=token,
                fields=fields,
                expand=expand,
                properties=properties,
                max_results=max_results,
                reconcile_issues=reconcile_issues,
            )
            yield page
            token = page.next_page_token
            if not token or page.is_last:
                return

    async def issues(
        self,
        jql: str,
        *,
        fields: Sequence[str] = DEFAULT_FIELDS,
        expand: Sequence[str] | None = None,
        properties: Sequence[str] | None = None,
        max_results: int = 100,
        reconcile_issues: Sequence[int] | None = None,
    ) -> AsyncIterator[Issue]:
        """Every issue matching `jql`, fetching pages as the caller iterates."""
        async for page in self.pages(
            jql,
            fields=fields,
            expand=expand,
            properties=properties,
            max_results=max_results,
            reconcile_issues=reconcile_issues,
        ):
            for issue in page.issues:
                yield issue
