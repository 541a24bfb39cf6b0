"""Edits: what a codemod wants changed, keyed by the original node, applied in one pass.

Codemods never transform the tree themselves. They visit the original tree, whose metadata
is resolved once per file, and record edits; the engine applies every selected codemod's
edits in one transformer pass. An edit's change receives the node as already updated by
the edits below it, so edits nested inside each other compose.

New code takes the file's line endings: libcst writes the line breaks *between* tokens
with the module's own newline, but a token that holds a line break (a docstring from a
template, a backslash continuation) holds whatever its template had, a bare LF.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeAlias

import libcst as cst

from vibefix.results import EditRecord

Change: TypeAlias = Callable[[Any], Any]


class EditConflict(Exception):
    """Two edits that cannot both be applied to one node."""


@dataclass(eq=False)
class Edit:
    node: cst.CSTNode
    change: Change
    record: EditRecord
    needs: tuple[str, ...] = ()
    """Modules this edit's new code refers to, to be imported if they are not."""
    drops: tuple[cst.CSTNode, ...] = ()
    """Name references this edit makes disappear (their import may become unused)."""


class _Applier(cst.CSTTransformer):
    def __init__(self, edits: Iterable[Edit]) -> None:
        super().__init__()
        self._edits: dict[cst.CSTNode, list[Edit]] = defaultdict(list)
        for edit in edits:
            self._edits[edit.node].append(edit)

    def on_leave(self, original_node: cst.CSTNode, updated_node: cst.CSTNode) -> Any:
        result: Any = super().on_leave(original_node, updated_node)
        for edit in self._edits.get(original_node, ()):
            if not isinstance(result, cst.CSTNode):
                raise EditConflict(
                    f"{edit.record.code} edits a node that another edit already removed or split"
                )
            result = edit.change(result)
        return result


def apply_edits(module: cst.Module, edits: Iterable[Edit]) -> cst.Module:
    """``module`` with every edit applied; ``module`` must be the tree the edits were made on."""
    result = module.visit(_Applier(edits))
    assert isinstance(result, cst.Module)
    return _with_own_newlines(module, result)


_BARE_LF = re.compile(r"(?<!\r)\n")
_HOLDING_BREAKS = (cst.SimpleString, cst.FormattedStringText, cst.SimpleWhitespace)
"""The tokens whose text may hold a line break (strings; whitespace with a backslash
continuation)."""


class _TokenTexts(cst.CSTVisitor):
    def __init__(self) -> None:
        super().__init__()
        self.texts: set[str] = set()

    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, _HOLDING_BREAKS):
            self.texts.add(node.value)
        return True


class _Newlines(cst.CSTTransformer):
    def __init__(self, newline: str, kept: set[str]) -> None:
        super().__init__()
        self._newline = newline
        self._kept = kept

    def on_leave(self, original_node: cst.CSTNode, updated_node: cst.CSTNode) -> Any:
        if (
            isinstance(updated_node, _HOLDING_BREAKS)
            and "\n" in updated_node.value
            and updated_node.value not in self._kept
        ):
            return updated_node.with_changes(value=_BARE_LF.sub(self._newline, updated_node.value))
        return updated_node


def _with_own_newlines(original: cst.Module, updated: cst.Module) -> cst.Module:
    """``updated`` with the bare LFs of its new tokens written in ``original``'s newline.

    A token is new when no token of the original file has the same text: the user's own
    strings and continuations keep every byte, even in a file whose line endings are
    mixed. (Python reads CRLF inside a string literal as LF, so the value of a new
    string is the same either way.)"""
    newline = original.default_newline
    if newline == "\n":
        return updated
    kept = _TokenTexts()
    original.visit(kept)
    result = updated.visit(_Newlines(newline, kept.texts))
    assert isinstance(result, cst.Module)
    return result
