"""Matching meaning, not spelling: qualified-name checks on top of libcst's providers."""

from __future__ import annotations

from typing import Any

import libcst as cst
from libcst.metadata import QualifiedName, QualifiedNameProvider, QualifiedNameSource


def fully_qualified(qualified: QualifiedName, module: str, package: str) -> str:
    """``qualified`` made absolute: local names prefixed with the module, relative imports
    resolved against the package (as libcst's FullyQualifiedNameProvider does, but only
    for the names asked about instead of every node of the file)."""
    name = qualified.name
    if qualified.source is QualifiedNameSource.BUILTIN:
        return name
    if qualified.source is QualifiedNameSource.IMPORT and not name.startswith("."):
        return name
    absolute = name.lstrip(".")
    dots = len(name) - len(absolute)
    if dots:
        # importlib's rule: one dot is the package itself, each further dot its parent.
        bits = package.rsplit(".", dots - 1)
        return f"{bits[0]}.{absolute}" if len(bits) == dots and bits[0] else absolute
    return f"{module}.{name}"


def imported_as(visitor: cst.MetadataDependent, node: cst.CSTNode, name: str) -> bool:
    """True when ``node`` can only mean the imported ``name`` (e.g. ``"time.sleep"``).

    ``import time as t; t.sleep`` and ``from time import sleep as snooze; snooze`` match;
    a local function or class called ``sleep`` or ``time`` does not, nor a name that
    may mean two things (``try: import x / except: x = None``).
    """
    if not isinstance(node, cst.Name | cst.Attribute):
        return False  # libcst names a call ``f(x)`` after ``f``; only references count
    provider: Any = QualifiedNameProvider  # libcst's stub cannot type this provider's value
    names: set[QualifiedName] = visitor.get_metadata(provider, node, set())
    return bool(names) and all(
        qualified.name == name and qualified.source is QualifiedNameSource.IMPORT
        for qualified in names
    )


def base_name(expression: cst.BaseExpression) -> cst.Name | None:
    """The leftmost name of a dotted expression: ``time`` in ``time.sleep``."""
    while isinstance(expression, cst.Attribute):
        expression = expression.value
    return expression if isinstance(expression, cst.Name) else None
