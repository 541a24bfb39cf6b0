"""``apply --interactive``: accept or skip each hunk, as ``git add -p`` asks.

The answer picks rewrites, not lines: the file is then rewritten again with only the
accepted rewrites, so the imports follow from what was kept (``import asyncio`` is added
for any accepted sleep; ``import time`` goes only if no skipped rewrite still needs it).
Hunks that show nothing but import changes are therefore not asked about, nor are the
rewrites that carry out the plan's changes that span files (``PlanPart.together``): other
files count on them (an ``await`` of a function made async), so they are applied together,
after one question.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import TextIO

from vibefix.engine.plan import Together
from vibefix.report.diffing import hunks
from vibefix.report.text import colour_diff, display
from vibefix.results import FileResult, Position

HELP = """y - apply this hunk
n - skip this hunk
a - apply this hunk and all later hunks in this file
d - skip this hunk and all later hunks in this file
q - quit; skip this hunk and everything after it
? - print help
"""

Accepted = frozenset[tuple[str, Position]]


class Quit(Exception):
    """The user answered ``q``."""


def choose(
    result: FileResult,
    ask: Callable[[str], str],
    out: TextIO,
    colour: bool,
    linked: Accepted = frozenset(),
) -> Accepted:
    """The (code, position) of every rewrite the user accepts in this file. ``linked``
    rewrites are accepted without asking: the plan's async conversions, which other
    files count on (an ``await`` there of a function made async here)."""
    accepted: set[tuple[str, Position]] = set(linked)
    asked = [
        hunk
        for hunk in hunks(result)
        if not hunk.import_only
        and not all(e.import_only or (e.code, e.start) in linked for e in hunk.edits)
    ]
    out.write(f"--- a/{display(result.path)}\n+++ b/{display(result.path)}\n")
    rest: str | None = None
    for number, hunk in enumerate(asked, 1):
        if rest is None:
            out.write(colour_diff(hunk.text()) if colour else hunk.text())
            answer = _ask(ask, f"({number}/{len(asked)}) Apply this hunk [y,n,a,d,q,?]? ", out)
            if answer == "q":
                raise Quit
            if answer in ("a", "d"):
                rest = answer
            take = answer in ("y", "a")
        else:
            take = rest == "a"
        if take:
            accepted.update((e.code, e.start) for e in hunk.edits if not e.import_only)
    return frozenset(accepted)


def linked(result: FileResult, together: Sequence[Together], codes: Collection[str]) -> Accepted:
    """The rewrites of the file that carry out the plan's changes that span files: every
    rewrite of the ``codes`` (the codemods marked ``linked``: VF101's requests call, its
    response's attributes, its except and the shared client change together, across
    files), and every rewrite inside a definition that goes with such a change (a function
    made async: its sleep left blocking would make it worse than before)."""
    spans = [
        (key[1], key[3]) for change in together for key in change.within if key[0] == result.path
    ]
    return frozenset(
        (edit.code, edit.start)
        for edit in result.edits
        if not edit.import_only
        and (edit.code in codes or any(first <= edit.start.line <= last for first, last in spans))
    )


def rewrites(result: FileResult) -> Accepted:
    """Every rewrite of the file: what accepting every hunk means."""
    return frozenset((e.code, e.start) for e in result.edits if not e.import_only)


def _ask(ask: Callable[[str], str], prompt: str, out: TextIO) -> str:
    while True:
        answer = ask(prompt).strip().lower()[:1]
        if answer in ("y", "n", "a", "d", "q"):
            return answer
        out.write(HELP)
