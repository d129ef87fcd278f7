"""Reading Jira's bulk-create answer: which operation got which issue, and what a refusal means."""

from __future__ import annotations

from jirabridge import jira
from jirabridge.domain.outcomes import Fail, Retry
from jirabridge.workers.bulk_create import answers_by_position


def created(key: str) -> jira.CreatedIssue:
    return jira.CreatedIssue.model_validate({"id": key.split("-")[1], "key": key, "self": f"https://x/{key}"})


def refused(position: int, status: int, errors: dict[str, str]) -> jira.BulkCreateRefusal:
    return jira.BulkCreateRefusal.model_validate(
        {
            "status": status,
            "failedElementNumber": position,
            "elementErrors": {"errorMessages": [], "errors": errors},
        }
    )


def test_created_issues_fill_the_positions_jira_did_not_refuse_in_order() -> None:
    result = jira.BulkCreateResult(
        issues=[created("WEB-1"), created("WEB-2")],
        errors=[refused(1, 400, {"priority": "Specify a valid priority"})],
    )

    first, second, third = answers_by_position(result, 3)

    assert first == created("WEB-1") and third == created("WEB-2")
    assert isinstance(second, Fail) and second.reason == "bad_request"
    assert "priority: Specify a valid priority" in (second.detail or "")


def test_a_refusal_is_classified_like_the_same_answer_to_a_single_create() -> None:
    result = jira.BulkCreateResult(
        errors=[refused(0, 403, {}), refused(1, 503, {}), refused(2, 429, {}), refused(3, 404, {})]
    )

    answers = answers_by_position(result, 4)

    assert [(type(a).__name__, getattr(a, "reason", None)) for a in answers] == [
        ("Fail", "forbidden"),
        ("Retry", "jira_unavailable"),
        ("Retry", "rate_limited"),
        ("Fail", "not_found"),
    ]


def test_a_position_the_answer_leaves_unaccounted_for_is_retried_not_guessed() -> None:
    answers = answers_by_position(jira.BulkCreateResult(issues=[created("WEB-7")]), 2)

    assert answers[0] == created("WEB-7")
    assert isinstance(answers[1], Retry) and answers[1].reason == "create_unconfirmed"
