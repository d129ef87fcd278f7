"""Which connected site an issue key belongs to."""

from __future__ import annotations

from jirabridge.domain.site_choice import Choice, SiteProjects, choose_site, not_on_site

ACME = SiteProjects("st_acme", "https://acme.atlassian.net", frozenset({"WEB", "DQ"}), listed=True)
GLOBEX = SiteProjects("st_globex", "https://globex.atlassian.net", frozenset({"OPS", "DQ"}), listed=True)
# Not listed yet: only its project settings are known.
UNLISTED = SiteProjects("st_new", "https://new.atlassian.net", frozenset({"NEW"}), listed=False)
SITES = [ACME, GLOBEX, UNLISTED]


def test_the_one_site_with_the_project_is_chosen() -> None:
    assert choose_site("OPS-7", "st_acme", SITES) == Choice("st_globex")
    assert choose_site("WEB-1", "st_globex", SITES) == Choice("st_acme")


def test_no_key_or_an_unknown_project_goes_to_the_default_site() -> None:
    assert choose_site(None, "st_acme", SITES) == Choice("st_acme")
    assert choose_site("ZZZ-1", "st_acme", SITES) == Choice("st_acme")


def test_several_sites_with_the_project_take_the_default_or_ask() -> None:
    assert choose_site("DQ-3", "st_globex", SITES) == Choice("st_globex")
    choice = choose_site("DQ-3", "st_new", SITES)
    assert choice.site_id is None and choice.problem is not None
    assert "DQ-3" in choice.problem and "st_acme, st_globex" in choice.problem and "`site`" in choice.problem


def test_a_site_without_the_project_says_which_site_has_it() -> None:
    reason = not_on_site("OPS-7", ACME, SITES)
    assert reason is not None and reason.startswith("project_not_on_site: OPS-7 was tried on site st_acme")
    assert "st_globex (https://globex.atlassian.net)" in reason and "`site`" in reason
    assert "no connected site has project ZZZ" in str(not_on_site("ZZZ-1", ACME, SITES))
    assert not_on_site("WEB-1", ACME, SITES) is None
    assert not_on_site("OPS-7", UNLISTED, SITES) is None  # not listed yet: nobody knows what it lacks


def test_a_project_known_from_settings_chooses_its_site() -> None:
    assert choose_site("NEW-2", "st_acme", SITES) == Choice("st_new")
