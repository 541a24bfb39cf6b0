"""Unified diffs whose hunks name the rules that made them.

Hunks come from ``difflib``; each lists the codes of the edits whose original lines it
touches, in the place git puts a function name: ``@@ -10,4 +10,5 @@ VF100``.

``difflib.SequenceMatcher`` alone is quadratic on source code, and worse: each search
for the longest match walks every place where a common line (a blank line, ``return``)
occurs, and a file with a thousand rewrites needs a thousand searches (800 rewritten
functions took 50 s, 3,400 no answer at all). So it matches a stretch of a file only
within a budget of comparisons, which the diff of any ordinary module stays far below
(its hunks are exactly difflib's); a stretch over budget is first cut at the lines that
occur once in each version, in the same order (as patience diff does), and each piece
between two such anchors is matched the same way. The hunks are difflib's grouping of
those matches, found in time about linear in the file.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from difflib import Match, SequenceMatcher

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


Block = tuple[int, int, int]
"""A run of equal lines: where it starts in the old lines, in the new ones, its length."""


def _unique_pairs(
    old: Sequence[str], new: Sequence[str], box: tuple[int, int, int, int]
) -> list[tuple[int, int]]:
    """The lines found exactly once in both ``old[alo:ahi]`` and ``new[blo:bhi]``, as
    (old index, new index), keeping the longest run of them in the same order in both
    (a longest increasing subsequence, by patience sorting)."""
    alo, ahi, blo, bhi = box
    in_old = Counter(old[alo:ahi])
    in_new = Counter(new[blo:bhi])
    where = {new[j]: j for j in range(blo, bhi) if in_new[new[j]] == 1 and in_old[new[j]] == 1}
    pairs = [(i, where[old[i]]) for i in range(alo, ahi) if old[i] in where]
    tops: list[int] = []  # the smallest last new index of an ordered run of each length
    ends: list[int] = []  # the pair that ends that run
    before: list[int] = [-1] * len(pairs)
    for number, (_, j) in enumerate(pairs):
        length = bisect.bisect_left(tops, j)
        if length == len(tops):
            tops.append(j)
            ends.append(number)
        else:
            tops[length] = j
            ends[length] = number
        before[number] = ends[length - 1] if length else -1
    chain: list[tuple[int, int]] = []
    number = ends[-1] if ends else -1
    while number != -1:
        chain.append(pairs[number])
        number = before[number]
    return chain[::-1]


SEARCH_BUDGET = 4_000_000
"""How many line comparisons ``SequenceMatcher`` may make on one stretch of a file
before the stretch is cut at its anchors instead: about half a second, and more than
the diff of a 4,000-line module with a hundred rewrites takes (SQLAlchemy's orm/mapper.py:
2.2 million)."""


class _OverBudget(Exception):
    pass


class _MeteredMatcher(SequenceMatcher[str]):
    """``SequenceMatcher``, unchanged, that gives up once its searches for the longest
    match would have compared more than ``SEARCH_BUDGET`` pairs of lines."""

    def __init__(self, old: Sequence[str], new: Sequence[str]) -> None:
        super().__init__(None, old, new, autojunk=False)
        self._old = old
        self._new_length = len(new)
        self._where: dict[str, list[int]] = {}
        for j, line in enumerate(new):
            self._where.setdefault(line, []).append(j)
        self._spent = 0

    def find_longest_match(
        self, alo: int = 0, ahi: int | None = None, blo: int = 0, bhi: int | None = None
    ) -> Match:
        ahi = len(self._old) if ahi is None else ahi
        bhi = self._new_length if bhi is None else bhi
        # difflib walks, for each old line, its places in the new lines up to ``bhi``.
        self._spent += ahi - alo
        for i in range(alo, ahi):
            self._spent += bisect.bisect_left(self._where.get(self._old[i], ()), bhi)
            if self._spent > SEARCH_BUDGET:
                raise _OverBudget
        return super().find_longest_match(alo, ahi, blo, bhi)


def _blocks(old: Sequence[str], new: Sequence[str]) -> list[Block]:
    """The equal runs of ``old`` and ``new``, in order, adjacent runs joined, ended by
    ``(len(old), len(new), 0)``, as ``SequenceMatcher.get_matching_blocks`` returns them.

    A stretch is matched by ``SequenceMatcher`` itself when it can be within the budget;
    past it, the stretch is cut at its anchors, and so on. A work list, not recursion:
    nothing about the input bounds the depth."""
    found: list[Block] = []
    boxes = [(0, len(old), 0, len(new))]
    while boxes:
        alo, ahi, blo, bhi = boxes.pop()
        try:
            matched = _MeteredMatcher(old[alo:ahi], new[blo:bhi]).get_matching_blocks()
        except _OverBudget:
            pass
        else:
            found.extend((alo + i, blo + j, size) for i, j, size in matched)
            continue
        while alo < ahi and blo < bhi and old[alo] == new[blo]:
            found.append((alo, blo, 1))
            alo, blo = alo + 1, blo + 1
        while alo < ahi and blo < bhi and old[ahi - 1] == new[bhi - 1]:
            ahi, bhi = ahi - 1, bhi - 1
            found.append((ahi, bhi, 1))
        anchors = _unique_pairs(old, new, (alo, ahi, blo, bhi))
        if not anchors:  # nothing to cut at: the slow way, the only way
            matcher = SequenceMatcher(None, old[alo:ahi], new[blo:bhi], autojunk=False)
            found.extend((alo + i, blo + j, size) for i, j, size in matcher.get_matching_blocks())
            continue
        for i, j in anchors:
            boxes.append((alo, i, blo, j))
            found.append((i, j, 1))
            alo, blo = i + 1, j + 1
        boxes.append((alo, ahi, blo, bhi))
    joined: list[Block] = []
    for i, j, size in sorted(block for block in found if block[2]):
        if joined and joined[-1][0] + joined[-1][2] == i and joined[-1][1] + joined[-1][2] == j:
            joined[-1] = (joined[-1][0], joined[-1][1], joined[-1][2] + size)
        else:
            joined.append((i, j, size))
    joined.append((len(old), len(new), 0))
    return joined


class _AnchoredMatcher(SequenceMatcher[str]):
    """difflib's opcodes and grouping over the matches ``_blocks`` finds."""

    def __init__(self, old: Sequence[str], new: Sequence[str]) -> None:
        super().__init__(None, old, new, autojunk=False)
        self._found = [Match(*block) for block in _blocks(old, new)]

    def get_matching_blocks(self) -> list[Match]:
        return self._found


class _Touching:
    """The edits whose original lines meet a range, for ranges asked in increasing
    order: each edit is looked at when the ranges reach its first line and dropped once
    they pass its last, so a file's hunks cost time linear in its edits."""

    def __init__(self, edits: Sequence[EditRecord]) -> None:
        self._waiting: Iterator[tuple[int, EditRecord]] = iter(
            sorted(enumerate(edits), key=lambda item: item[1].start.line)
        )
        self._next = next(self._waiting, None)
        self._open: list[tuple[int, EditRecord]] = []

    def meeting(self, first: int, last: int) -> list[EditRecord]:
        """Edits whose original lines [start, end] meet the 1-based range [first, last],
        in the order they were given."""
        while self._next is not None and self._next[1].start.line <= last:
            self._open.append(self._next)
            self._next = next(self._waiting, None)
        self._open = [item for item in self._open if item[1].end_line >= first]
        return [edit for _, edit in sorted(self._open, key=lambda item: item[0])]


def hunks(result: FileResult, context: int = 3) -> list[Hunk]:
    """The hunks of a changed file, each with the codes of the edits it shows."""
    if result.new_source is None:
        return []
    old = split_lines(result.old_source, result.encoding)
    new = split_lines(result.new_source, result.encoding)
    matcher = _AnchoredMatcher(old, new)
    touching = _Touching(result.edits)
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
            touched.extend(touching.meeting(max(i1, 1), max(i2, i1 + 1)))
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
