"""Link cardinality per item type (SPEC sections 1 and 3): which links are refused, and why."""

from __future__ import annotations

import pytest

from jirabridge.domain.cardinality import Cardinality, check_link

ONE, MANY_TO_ONE, MANY = Cardinality.ONE_TO_ONE, Cardinality.MANY_TO_ONE, Cardinality.MANY_TO_MANY
ITEM = ("error", "e-1")


@pytest.mark.parametrize("card", list(Cardinality))
def test_a_first_link_is_always_allowed(card: Cardinality) -> None:
    assert check_link(card, [], [], "WEB-1", ITEM) is None


@pytest.mark.parametrize("card", list(Cardinality))
def test_the_same_pair_is_never_linked_twice(card: Cardinality) -> None:
    violation = check_link(card, ["WEB-1"], [ITEM], "web-1", ITEM)
    assert violation is not None
    assert violation.code == "already_linked"
    assert violation.reason == "item error/e-1 is already linked to web-1"


@pytest.mark.parametrize(
    ("card", "item_links", "issue_links", "code"),
    [
        # one_to_one: neither side may have another link
        (ONE, ["WEB-2"], [], "item_has_ticket"),
        (ONE, [], [("error", "e-2")], "ticket_has_item"),
        # many_to_one: the item has at most one ticket; the ticket groups many items
        (MANY_TO_ONE, ["WEB-2"], [], "item_has_ticket"),
        (MANY_TO_ONE, [], [("error", "e-2"), ("error", "e-3")], None),
        # many_to_many: anything
        (MANY, ["WEB-2", "OPS-9"], [("error", "e-2")], None),
    ],
)
def test_cardinality(
    card: Cardinality, item_links: list[str], issue_links: list[tuple[str, str]], code: str | None
) -> None:
    violation = check_link(card, item_links, issue_links, "WEB-1", ITEM)
    assert (violation.code if violation else None) == code


def test_the_reason_names_what_is_in_the_way() -> None:
    item_has = check_link(MANY_TO_ONE, ["WEB-2"], [], "WEB-1", ITEM)
    ticket_has = check_link(ONE, [], [("error", "e-2")], "WEB-1", ITEM)
    assert item_has is not None and "error/e-1 is already linked to WEB-2" in item_has.reason
    assert "at most one ticket" in item_has.reason
    assert ticket_has is not None and "WEB-1 is already linked to item error/e-2" in ticket_has.reason


def test_a_ticket_being_created_counts_as_the_items_ticket() -> None:
    violation = check_link(ONE, ["pending:lk_1"], [], "WEB-1", ITEM)
    assert violation is not None
    assert "a ticket that is still being created" in violation.reason


def test_items_of_another_type_do_not_count_against_a_one_to_one_ticket() -> None:
    assert check_link(ONE, [], [("anomaly", "an-1")], "WEB-1", ITEM) is None


def test_a_cardinality_reads_from_its_setting_value() -> None:
    assert Cardinality("many_to_one") is MANY_TO_ONE
