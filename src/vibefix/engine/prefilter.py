"""Which codemods a file's raw text can concern, before anything is parsed.

Every file of a run is read and matched against the selected codemods' triggers, in one
process, before the first parse: this has to cost next to nothing. Each distinct pattern
is matched once per file however many codemods share it, and only after a plain
substring test on a literal that any match must contain (``sleep`` for ``\\bsleep\\b``,
``BaseModel`` or ``Optional[`` or ``None`` for a boundary trigger): a scan for bytes runs
at memory speed, where a regular expression with a ``\\b`` or a multi-line alternative
runs at a small fraction of it.
"""

from __future__ import annotations

import codecs
import importlib
import re
from collections.abc import Iterable, Sequence
from typing import Any

_parser: Any = importlib.import_module("re._parser" if hasattr(re, "_parser") else "sre_parse")

_ZERO_WIDTH = frozenset({"AT"})
"""Items that match no character: a literal run goes on across them (``\\bsleep\\b``)."""


class Prefilter:
    """A codemod's ``triggers`` are regular expressions that must *all* match somewhere
    in the file (alternatives go inside one expression)."""

    def __init__(self, triggers: Iterable[tuple[str, Sequence[str]]]) -> None:
        self._patterns: dict[str, tuple[_Branch, ...]] = {}
        self._rules: list[tuple[str, tuple[str, ...]]] = []
        for code, patterns in triggers:
            for pattern in patterns:
                if pattern not in self._patterns:
                    # ``a|b`` matches where ``a`` or ``b`` does: each alternative is
                    # searched alone, after its own literal test (a scan at memory
                    # speed), instead of trying every alternative at every position.
                    self._patterns[pattern] = tuple(
                        (re.compile(branch.encode()), required(branch))
                        for branch in alternatives(pattern)
                    )
            # All must match: the one with the rarest literal is tried first.
            order = sorted(patterns, key=lambda p: -_selectivity(self._patterns[p]))
            self._rules.append((code, tuple(order)))

    def codes(self, data: bytes) -> tuple[str, ...]:
        """The codes of the codemods whose every trigger matches ``data``."""
        data = data.removeprefix(codecs.BOM_UTF8)  # so that ``^`` matches on the first line
        found: dict[str, bool] = {}

        def matches(pattern: str) -> bool:
            known = found.get(pattern)
            if known is None:
                known = any(
                    (literals is None or any(literal in data for literal in literals))
                    and compiled.search(data) is not None
                    for compiled, literals in self._patterns[pattern]
                )
                found[pattern] = known
            return known

        return tuple(code for code, patterns in self._rules if all(matches(p) for p in patterns))


_Branch = tuple[re.Pattern[bytes], frozenset[bytes] | None]


def _selectivity(branches: Sequence[_Branch]) -> int:
    lengths = [min(map(len, literals)) if literals else 0 for _, literals in branches]
    return min(lengths, default=0)


def alternatives(pattern: str) -> list[str]:
    """The top-level alternatives of ``pattern`` (``a|b(c|d)`` -> ``a``, ``b(c|d)``);
    the pattern whole when it starts with flags that would apply to every alternative
    (``(?m)``) or has no top-level ``|``."""
    if re.match(r"\(\?[a-zA-Z]+\)", pattern):
        return [pattern]
    branches: list[str] = []
    depth = 0
    start = 0
    index = 0
    in_class = False
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            index += 2
            continue
        if in_class:
            if char == "]":
                in_class = False
        elif char == "[":
            in_class = True
            # A ``]`` right after ``[`` or ``[^`` is a character of the class.
            index += 1
            if pattern[index : index + 1] == "^":
                index += 1
            if pattern[index : index + 1] == "]":
                index += 1
            continue
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            branches.append(pattern[start:index])
            start = index + 1
        index += 1
    branches.append(pattern[start:])
    return branches if len(branches) > 1 and all(branches) else [pattern]


def required(pattern: str) -> frozenset[bytes] | None:
    """Literals one of which every match of ``pattern`` contains; None when no such set
    is known (case-insensitive parts, nothing but classes and repeats)."""
    try:
        parsed = _parser.parse(pattern.encode())
    except Exception:  # a pattern this reading does not follow: no shortcut, no harm
        return None
    if parsed.state.flags & re.IGNORECASE:
        return None
    try:
        return _sequence(list(parsed))
    except Exception:
        return None


def _sequence(items: list[tuple[Any, Any]]) -> frozenset[bytes] | None:
    """Every item of a sequence must match, in order: each run of literals and each
    item's own requirement is necessary; the most selective one is kept."""
    candidates: list[frozenset[bytes]] = []
    run: list[int] = []
    for op, argument in items:
        name = str(op)
        if name == "LITERAL":
            run.append(argument)
            continue
        if name in _ZERO_WIDTH:
            continue
        if run:
            candidates.append(frozenset({bytes(run)}))
            run = []
        found = _item(name, argument)
        if found is not None:
            candidates.append(found)
    if run:
        candidates.append(frozenset({bytes(run)}))
    if not candidates:
        return None
    return max(candidates, key=lambda found: (min(map(len, found)), -len(found)))


def _item(name: str, argument: Any) -> frozenset[bytes] | None:
    if name == "SUBPATTERN":
        _group, add_flags, _del_flags, inner = argument
        if add_flags & re.IGNORECASE:
            return None
        return _sequence(list(inner))
    if name == "BRANCH":
        alternatives: set[bytes] = set()
        for branch in argument[1]:
            found = _sequence(list(branch))
            if found is None:
                return None
            alternatives |= found
        return frozenset(alternatives)
    if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
        low, _high, inner = argument
        return _sequence(list(inner)) if low >= 1 else None
    return None
