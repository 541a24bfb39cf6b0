"""Which Python a file's syntax needs, against the oldest Python its project runs on.

libcst parses the newest syntax it knows whatever the project's target, so a project on
3.11 with a ``type X = int`` would be rewritten as if nothing were wrong. Two judges:

- the running Python, when it is newer than the target: ``ast.parse`` with
  ``feature_version`` rejects what the target's grammar lacks (fast, in C);
- the tree libcst made, when the running Python cannot parse the file at all: the
  constructs below name the version they need. If the target is newer than the running
  Python and the file uses nothing newer than the target, the file is legitimate: the
  running Python is merely too old to tell.

The constructs also give the position and name shown for what ``ast.parse`` rejects
(CPython points at the end of the construct, or into the body of an ``except*``).
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from vibefix.engine import deep
from vibefix.results import Position

Version = tuple[int, int]


@dataclass(frozen=True)
class NewerSyntax:
    """A construct of a file that its project's target Python cannot parse."""

    position: Position
    version: Version | None
    """The first Python that parses it; None when CPython's parser did not say."""
    name: str
    """What CPython calls it (``type statement``, ``pattern matching``), or its message."""

    def message(self, target: Version) -> str:
        wanted = f"{target[0]}.{target[1]}"
        if self.version is None:
            return f"does not parse as Python {wanted}, the project's target: {self.name}"
        version = f"{self.version[0]}.{self.version[1]}"
        return (
            f"uses syntax of Python {version} ({self.name}),"
            f" newer than the project's target {wanted}"
        )


@dataclass(frozen=True)
class _Construct:
    kind: type[cst.CSTNode]
    version: Version
    name: str
    """CPython's words for it, where it has some."""
    test: Callable[[cst.CSTNode], bool] = lambda node: True


# ``star`` and ``default`` came with newer libcst versions than the oldest we support.
_CONSTRUCTS = (
    _Construct(cst.Match, (3, 10), "pattern matching"),
    _Construct(cst.TryStar, (3, 11), "exception groups"),
    _Construct(
        cst.Index,
        (3, 11),
        "star expressions in indexes",
        lambda node: getattr(node, "star", None) is not None,
    ),
    _Construct(cst.TypeAlias, (3, 12), "type statement"),
    _Construct(cst.TypeParameters, (3, 12), "type parameter lists"),
    _Construct(
        cst.TypeParam,
        (3, 13),
        "type parameter defaults",
        lambda node: getattr(node, "default", None) is not None,
    ),
)


_ONLY_SUPPORTED = re.compile(r"^(.+?) (?:is|are) only supported in Python (\d+)\.(\d+) and greater")

_OLDEST_FEATURE_VERSION = (3, 7)
"""The oldest grammar ``ast.parse(feature_version=...)`` knows on every Python we run on."""


class _Finder(cst.CSTVisitor):
    def __init__(self, target: Version) -> None:
        super().__init__()
        self._target = target
        self.found: list[tuple[cst.CSTNode, Version, str]] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        for construct in _CONSTRUCTS:
            if (
                construct.version > self._target
                and isinstance(node, construct.kind)
                and construct.test(node)
            ):
                self.found.append((node, construct.version, construct.name))
        return True


def in_tree(module: cst.Module, target: Version) -> NewerSyntax | None:
    """The first construct of ``module`` that ``target``'s grammar lacks, if any."""
    finder = _Finder(target)
    module.visit(finder)
    if not finder.found:
        return None
    # The tree is ours (parsed for this file alone): no copy, so its nodes are the ones found.
    positions = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    located = [
        NewerSyntax(Position(start.line, start.column + 1), version, name)
        for node, version, name in finder.found
        for start in [positions[node].start]
    ]
    return min(located, key=lambda newer: (newer.position, newer.version))


def by_grammar(text: str, target: Version) -> NewerSyntax | None:
    """What the running Python's parser, set to ``target``'s grammar, rejects in ``text``
    (which the running Python parses); None when it accepts all of it, or when the
    running Python is not newer than ``target``."""
    if target >= sys.version_info[:2]:
        return None
    try:
        with deep.ordinary_recursion():  # as deep as compile() took it, no deeper
            ast.parse(text, feature_version=max(target, _OLDEST_FEATURE_VERSION))
    except SyntaxError as error:
        position = Position(error.lineno or 1, error.offset or 1)
        found = _ONLY_SUPPORTED.match(str(error.msg))
        if found is None:
            return NewerSyntax(position, None, str(error.msg))
        what = found.group(1)
        version = (int(found.group(2)), int(found.group(3)))
        return NewerSyntax(position, version, what[:1].lower() + what[1:])
    return None
