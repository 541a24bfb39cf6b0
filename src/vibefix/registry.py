"""Which codemods run: the built-in ``ALL``, third-party entry points, recipes, selectors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib.metadata import entry_points
from typing import Any

from vibefix.codemod import Codemod

ENTRY_POINT_GROUP = "vibefix.codemods"


class SelectionError(Exception):
    """An unknown code, name or recipe; a usage error."""


def with_plugins(builtin: Sequence[type[Codemod[Any]]]) -> tuple[type[Codemod[Any]], ...]:
    """``builtin`` followed by the codemods of installed ``vibefix.codemods`` entry points."""
    found = list(builtin)
    codes = {codemod.code for codemod in found}
    for entry in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        try:
            loaded = entry.load()
        except Exception as error:
            raise SelectionError(f"cannot load codemod plugin {entry.value!r}: {error}") from None
        plugin = loaded if isinstance(loaded, list | tuple) else [loaded]
        for codemod in plugin:
            if not (isinstance(codemod, type) and issubclass(codemod, Codemod)):
                raise SelectionError(f"plugin {entry.value!r} is not a vibefix Codemod class")
            if codemod.code in codes:
                raise SelectionError(f"plugin {entry.value!r} reuses code {codemod.code}")
            codes.add(codemod.code)
            found.append(codemod)
    return tuple(found)


def _matches(codemod: type[Codemod[Any]], selector: str) -> bool:
    selector = selector.strip()
    return (
        selector.upper() == "ALL"
        or codemod.code.startswith(selector.upper())
        or codemod.name == selector.lower()
    )


def codes(codemods: Sequence[type[Codemod[Any]]], selectors: Sequence[str]) -> set[str]:
    """The codes that ``selectors`` (codes, code prefixes, names, ``ALL``) pick."""
    return _resolve(codemods, selectors)


def _resolve(codemods: Sequence[type[Codemod[Any]]], selectors: Sequence[str]) -> set[str]:
    chosen: set[str] = set()
    for selector in selectors:
        matched = {codemod.code for codemod in codemods if _matches(codemod, selector)}
        if not matched:
            raise SelectionError(f"unknown code or name {selector!r} (see `vibefix list`)")
        chosen |= matched
    return chosen


def select(
    codemods: Sequence[type[Codemod[Any]]],
    recipes: Mapping[str, Sequence[str]],
    *,
    recipe: str | None = None,
    selected: Sequence[str] = (),
    ignored: Sequence[str] = (),
) -> tuple[type[Codemod[Any]], ...]:
    """The codemods to run, in registry order.

    ``--select`` picks codes, code prefixes (``VF1``), names or ``ALL``; otherwise the
    recipe (``default`` when none is named) does. ``--ignore`` then removes.
    """
    if recipe is not None and recipe not in recipes:
        known = ", ".join(sorted(recipes))
        raise SelectionError(f"unknown recipe {recipe!r} (known: {known})")
    chosen = _resolve(codemods, selected) if selected else set(recipes[recipe or "default"])
    if recipe is not None and selected:
        chosen |= set(recipes[recipe])
    chosen -= _resolve(codemods, ignored)
    return tuple(codemod for codemod in codemods if codemod.code in chosen)


def find(codemods: Sequence[type[Codemod[Any]]], code: str) -> type[Codemod[Any]]:
    for codemod in codemods:
        if codemod.code == code.upper() or codemod.name == code.lower():
            return codemod
    raise SelectionError(f"unknown code or name {code!r} (see `vibefix list`)")
