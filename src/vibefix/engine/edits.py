"""Edits: what a codemod wants changed, keyed by the original node, applied in one pass.

Codemods never transform the tree themselves. They visit the original tree, whose metadata
is resolved once per file, and record edits; the engine applies every selected codemod's
edits in one transformer pass. An edit's change receives the node as already updated by
the edits below it, so edits nested inside each other compose.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeAlias

import libcst as cst

from vibefix.results import EditRecord

Replacement: TypeAlias = "cst.CSTNode | cst.RemovalSentinel | cst.FlattenSentinel[Any]"
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
    return result
