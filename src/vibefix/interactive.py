"""``apply --interactive``: accept or skip each hunk, as ``git add -p`` asks.

The answer picks rewrites, not lines: the file is then rewritten again with only the
accepted rewrites, so the imports follow from what was kept (``import asyncio`` is added
for any accepted sleep; ``import time`` goes only if no skipped rewrite still needs it).
Hunks that show nothing but import changes are therefore not asked about.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TextIO

from vibefix.diffing import hunks
from vibefix.report import colour_diff, display
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
) -> Accepted:
    """The (code, position) of every rewrite the user accepts in this file."""
    asked = [hunk for hunk in hunks(result) if not hunk.import_only]
    out.write(f"--- a/{display(result.path)}\n+++ b/{display(result.path)}\n")
    accepted: set[tuple[str, Position]] = set()
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


def rewrites(result: FileResult) -> Accepted:
    """Every rewrite of the file: what accepting every hunk means."""
    return frozenset((e.code, e.start) for e in result.edits if not e.import_only)


def _ask(ask: Callable[[str], str], prompt: str, out: TextIO) -> str:
    while True:
        answer = ask(prompt).strip().lower()[:1]
        if answer in ("y", "n", "a", "d", "q"):
            return answer
        out.write(HELP)
