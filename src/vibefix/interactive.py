"""``apply --interactive``: accept or skip each hunk, as ``git add -p`` asks.

Hunks that only add or remove imports are not asked about: an added import follows any
accepted hunk of its rule, and a removed import goes only when every hunk of its rule was
accepted (removing ``import time`` while a skipped hunk still uses it would break the file).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TextIO

from vibefix.diffing import Hunk, apply_hunks, hunks
from vibefix.report import colour_diff, display
from vibefix.results import FileResult
from vibefix.sourcefile import compiles

HELP = """y - apply this hunk
n - skip this hunk
a - apply this hunk and all later hunks in this file
d - skip this hunk and all later hunks in this file
q - quit; skip this hunk and everything after it
? - print help
"""


class Quit(Exception):
    """The user answered ``q``."""


def choose(
    result: FileResult,
    ask: Callable[[str], str],
    out: TextIO,
    colour: bool,
) -> bytes | None:
    """The file's new content with the accepted hunks, or None when none was accepted."""
    found = hunks(result)
    asked = [hunk for hunk in found if not hunk.import_only]
    out.write(f"--- a/{display(result.path)}\n+++ b/{display(result.path)}\n")
    accepted: list[Hunk] = []
    rest: str | None = None
    for number, hunk in enumerate(asked, 1):
        if rest is None:
            out.write(colour_diff(hunk.text()) if colour else hunk.text())
            answer = _ask(ask, f"({number}/{len(asked)}) Apply this hunk [y,n,a,d,q,?]? ", out)
            if answer == "q":
                raise Quit
            if answer in ("a", "d"):
                rest = answer
            if answer in ("y", "a"):
                accepted.append(hunk)
        elif rest == "a":
            accepted.append(hunk)
    if not accepted:
        return None
    codes = {code for hunk in accepted for code in hunk.codes}
    skipped = {code for hunk in asked if hunk not in accepted for code in hunk.codes}
    for hunk in found:
        if hunk.import_only and any(
            code in codes and (code not in skipped or _adds_only(hunk)) for code in hunk.codes
        ):
            accepted.append(hunk)
    new_source = apply_hunks(result, accepted)
    problem = compiles(new_source, result.path)
    if problem is not None:
        out.write(f"{display(result.path)}: the chosen hunks do not compile ({problem}); skipped\n")
        return None
    return new_source


def _adds_only(hunk: Hunk) -> bool:
    return not any(line.startswith("-") for line in hunk.lines)


def _ask(ask: Callable[[str], str], prompt: str, out: TextIO) -> str:
    while True:
        answer = ask(prompt).strip().lower()[:1]
        if answer in ("y", "n", "a", "d", "q"):
            return answer
        out.write(HELP)
