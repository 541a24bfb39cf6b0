"""Unified diffs whose hunks name the rules that made them, and partial application.

Hunks come from ``difflib``; each lists the codes of the edits whose original lines it
touches, in the place git puts a function name: ``@@ -10,4 +10,5 @@ VF100``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

from vibefix.results import EditRecord, FileResult

NO_NEWLINE = "\\ No newline at end of file\n"


@dataclass(frozen=True)
class Hunk:
    old_start: int
    old_lines: tuple[str, ...]
    new_start: int
    new_lines: tuple[str, ...]
    lines: tuple[str, ...]
    """The hunk's body: each line with its ``' '``, ``'-'`` or ``'+'`` prefix."""
    edits: tuple[EditRecord, ...]
    """The edits whose original lines this hunk shows."""

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(sorted({edit.code for edit in self.edits}))

    @property
    def import_only(self) -> bool:
        """True when the hunk shows nothing but import changes (they follow the rewrites)."""
        return bool(self.edits) and all(edit.import_only for edit in self.edits)

    def header(self) -> str:
        old = _range(self.old_start, len(self.old_lines))
        new = _range(self.new_start, len(self.new_lines))
        codes = f" {' '.join(self.codes)}" if self.codes else ""
        return f"@@ -{old} +{new} @@{codes}\n"

    def text(self) -> str:
        body = []
        for line in self.lines:
            body.append(line if line.endswith("\n") else line + "\n" + NO_NEWLINE)
        return self.header() + "".join(body)


def _range(start: int, length: int) -> str:
    if length == 1:
        return str(start)
    return f"{start if length else start - 1},{length}"


def split_lines(source: bytes, encoding: str) -> list[str]:
    return source.decode(encoding, errors="replace").splitlines(keepends=True)


def _touching(edits: Sequence[EditRecord], first: int, last: int) -> list[EditRecord]:
    """Edits whose original lines [start, end] meet the 1-based range [first, last]."""
    return [edit for edit in edits if edit.start.line <= last and edit.end_line >= first]


def hunks(result: FileResult, context: int = 3) -> list[Hunk]:
    """The hunks of a changed file, each with the codes of the edits it shows."""
    if result.new_source is None:
        return []
    old = split_lines(result.old_source, result.encoding)
    new = split_lines(result.new_source, result.encoding)
    matcher = SequenceMatcher(None, old, new, autojunk=False)
    found: list[Hunk] = []
    for group in matcher.get_grouped_opcodes(context):
        lines: list[str] = []
        touched: list[EditRecord] = []
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                lines.extend(" " + line for line in old[i1:i2])
                continue
            lines.extend("-" + line for line in old[i1:i2])
            lines.extend("+" + line for line in new[j1:j2])
            # An insertion sits between lines i1 and i1 + 1: the edit that made it is
            # anchored on one of them.
            touched.extend(_touching(result.edits, max(i1, 1), max(i2, i1 + 1)))
        first, last = group[0], group[-1]
        found.append(
            Hunk(
                old_start=first[1] + 1,
                old_lines=tuple(old[first[1] : last[2]]),
                new_start=first[3] + 1,
                new_lines=tuple(new[first[3] : last[4]]),
                lines=tuple(lines),
                edits=tuple(dict.fromkeys(touched)),
            )
        )
    return found


def unified_diff(result: FileResult, display: str) -> str:
    """The whole diff of one changed file, ``a/`` and ``b/`` prefixed as git does."""
    found = hunks(result)
    if not found:
        return ""
    header = f"--- a/{display}\n+++ b/{display}\n"
    return header + "".join(hunk.text() for hunk in found)


def apply_hunks(result: FileResult, chosen: Sequence[Hunk]) -> bytes:
    """The original source with only the ``chosen`` hunks applied, re-encoded."""
    old = split_lines(result.old_source, result.encoding)
    out: list[str] = []
    position = 0
    for hunk in sorted(chosen, key=lambda hunk: hunk.old_start):
        start = hunk.old_start - 1
        out.extend(old[position:start])
        out.extend(hunk.new_lines)
        position = start + len(hunk.old_lines)
    out.extend(old[position:])
    return "".join(out).encode(result.encoding)
