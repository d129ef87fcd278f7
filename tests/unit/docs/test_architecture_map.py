"""docs/architecture.md is a map of the code; this keeps it from rotting. Every backticked name that
begins with `jirabridge.` or `jira_emulator.` must import (a module) or resolve on its module (a class,
function, method or constant), and the layers and contracts it lists must be pyproject.toml's."""

from __future__ import annotations

import importlib
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
PAGE = ROOT / "docs" / "architecture.md"
DOTTED = re.compile(r"(?:jirabridge|jira_emulator)(?:\.[A-Za-z_]\w*)*")


def named() -> list[str]:
    spans = re.findall(r"`([^`\n]+)`", PAGE.read_text())
    return sorted({span for span in spans if DOTTED.fullmatch(span)})


def resolve(name: str) -> object:
    """The longest importable prefix of `name`, then attributes for the rest."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found: Any = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError as error:
            if error.name is None or not name.startswith(error.name):
                raise  # the module exists but imports something missing: a real failure
            continue
        for attribute in parts[cut:]:
            found = getattr(found, attribute)
        return found
    raise ModuleNotFoundError(name)


def test_the_page_names_the_code_it_maps() -> None:
    assert len(named()) >= 60  # a page whose names stopped matching would check nothing


@pytest.mark.parametrize("name", named())
def test_every_name_on_the_page_exists(name: str) -> None:
    try:
        resolve(name)
    except (ModuleNotFoundError, AttributeError) as error:
        pytest.fail(f"docs/architecture.md names `{name}`, which no longer exists ({error})")


def contracts() -> list[dict[str, Any]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    found: list[dict[str, Any]] = config["tool"]["importlinter"]["contracts"]
    return found


def test_every_import_contract_is_on_the_page() -> None:
    text = PAGE.read_text()
    missing = [c["name"] for c in contracts() if c["name"] not in text]
    assert missing == [], "contracts in pyproject.toml that docs/architecture.md does not list"


def test_the_layers_table_lists_the_layers_contract_in_its_order() -> None:
    [layers] = [c["layers"] for c in contracts() if c["type"] == "layers"]
    table = PAGE.read_text().split("## The layers", 1)[1].split("\n\n")[2]
    rows = [re.search(r"`(jirabridge[\w.]*)`", row) for row in table.splitlines()[2:]]
    assert [row.group(1) for row in rows if row] == layers
