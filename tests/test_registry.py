"""What a newcomer adding a codemod might forget: registration, tests, docs, changelog."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import types
from pathlib import Path
from typing import Any

import pytest
from vibefix.codemods import ALL, RECIPES

from vibefix import codemods as package
from vibefix.codemod import Codemod

ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted(
    info.name for info in pkgutil.iter_modules(package.__path__) if not info.name.startswith("_")
)


def codemods_of(module_name: str) -> list[type[Codemod[Any]]]:
    module = importlib.import_module(f"vibefix.codemods.{module_name}")
    return [
        value
        for value in vars(module).values()
        if inspect.isclass(value)
        and not isinstance(value, types.GenericAlias)  # ``tuple[int, int]``: a class on 3.10
        and issubclass(value, Codemod)
        and value.__module__ == module.__name__
    ]


@pytest.mark.parametrize("module_name", MODULES)
def test_each_module_defines_exactly_one_codemod_and_it_is_registered(module_name):
    found = codemods_of(module_name)
    assert len(found) == 1, f"codemods/{module_name}.py must define exactly one codemod"
    assert found[0] in ALL, f"{found[0].__name__} is missing from ALL in codemods/__init__.py"


def test_every_registered_codemod_lives_in_its_own_module():
    assert sorted(codemod.__module__.rpartition(".")[2] for codemod in ALL) == MODULES


def test_codes_are_unique_and_well_formed():
    codes = [codemod.code for codemod in ALL]
    assert len(codes) == len(set(codes))
    assert all(re.fullmatch(r"VF\d{3}", code) for code in codes)


def test_names_come_from_module_names():
    for codemod in ALL:
        assert codemod.name == codemod.__module__.rpartition(".")[2].replace("_", "-")


@pytest.mark.parametrize("codemod", ALL, ids=lambda codemod: codemod.code)
def test_codemod_has_tests_and_fixtures(codemod):
    module = codemod.__module__.rpartition(".")[2]
    assert (ROOT / "tests" / "codemods" / f"test_{module}.py").is_file()
    fixtures = ROOT / "tests" / "fixtures" / module
    assert list(fixtures.glob("*.before.py")), f"no fixtures in {fixtures}"


@pytest.mark.parametrize("codemod", ALL, ids=lambda codemod: codemod.code)
def test_codemod_documentation_has_every_section(codemod):
    documentation = codemod.documentation()
    assert codemod.summary()
    assert codemod.summary().endswith(".")
    for section in ("Why:", "Example:", "Safety:", "Not rewritten:"):
        assert section in documentation, f"{codemod.code} docstring lacks {section!r}"


@pytest.mark.parametrize("codemod", ALL, ids=lambda codemod: codemod.code)
def test_codemod_has_triggers_that_compile(codemod):
    # A codemod that carries out the plan visits every parsed file: it may need none.
    assert codemod.triggers or codemod.follows_plan
    for trigger in codemod.triggers:
        re.compile(trigger.encode())


@pytest.mark.parametrize("codemod", ALL, ids=lambda codemod: codemod.code)
def test_changelog_names_the_codemod(codemod):
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert codemod.code in changelog


def test_recipes_name_only_known_codes_and_default_exists():
    codes = {codemod.code for codemod in ALL}
    assert "default" in RECIPES
    for recipe, members in RECIPES.items():
        assert set(members) <= codes, f"recipe {recipe} names unknown codes"


def codemod_table() -> str:
    rows = [
        "| code | name | safety | recipes | what it does |",
        "|---|---|---|---|---|",
    ]
    for codemod in ALL:
        recipes = ", ".join(name for name, codes in RECIPES.items() if codemod.code in codes)
        rows.append(
            f"| {codemod.code} | {codemod.name} | {codemod.safety.value} | {recipes}"
            f" | {codemod.summary()} |"
        )
    return "\n".join(rows)


def test_readme_codemod_table_matches_the_registry():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- codemods:start -->\n(.*?)\n<!-- codemods:end -->", readme, re.S)
    assert match, "README.md lacks the codemods:start/end markers"
    expected = codemod_table()
    assert match.group(1) == expected, f"update the README table to:\n{expected}"
