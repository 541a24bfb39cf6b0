"""One traversal of a file for several visitors.

libcst's own traversal rebuilds every node it passes, whoever visits: walking a tree once
per codemod cost each file about ten walks. ``Batch`` walks it once and hands each node to
every visitor that has a method for it, in the visitors' order, with the semantics of a
walk of their own: a ``visit_X`` that returns False hides the node's children from that
visitor alone (its ``leave_X`` still runs), and ``visit_X_attr``/``leave_X_attr`` hooks
run around each child field. (libcst's ``visit_batched`` cannot skip children per
visitor.)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import cache

import libcst as cst
from libcst.metadata import MetadataWrapper

_Method = Callable[[cst.CSTNode], object]
_Table = Mapping[str, tuple[tuple[int, _Method], ...]]


@cache
def _hooks(cls: type[cst.CSTVisitor]) -> frozenset[str]:
    """The ``visit_*``/``leave_*`` methods ``cls`` defines (libcst's typed stubs aside)."""
    return frozenset(
        name
        for name in dir(cls)
        if name.startswith(("visit_", "leave_"))
        and callable(member := getattr(cls, name))
        and not getattr(member, "_is_no_op", False)
    )


class Batch(cst.CSTVisitor):
    """Dispatches one walk to ``visitors``. ``current`` is the index of the visitor whose
    method runs (or ran last): the one to blame for an exception."""

    def __init__(self, visitors: Sequence[cst.CSTVisitor]) -> None:
        super().__init__()
        self.visitors = tuple(visitors)
        self.current = 0
        table: dict[str, list[tuple[int, _Method]]] = {}
        for number, visitor in enumerate(self.visitors):
            for name in sorted(_hooks(type(visitor))):
                table.setdefault(name, []).append((number, getattr(visitor, name)))
        self._table: _Table = {name: tuple(methods) for name, methods in table.items()}
        self._hidden: list[cst.CSTNode | None] = [None] * len(self.visitors)
        """For each visitor, the node whose children it chose not to visit, if inside one."""
        self._hiding = 0

    def walk(self, wrapper: MetadataWrapper) -> None:
        """Walk ``wrapper``'s module once, each visitor given the metadata it declares
        (resolved once per file by the wrapper, whoever asks)."""
        for visitor in self.visitors:
            visitor.metadata = wrapper.resolve_many(visitor.get_inherited_dependencies())
        wrapper.module.visit(self)

    def on_visit(self, node: cst.CSTNode) -> bool:
        methods = self._table.get(f"visit_{type(node).__name__}")
        if methods:
            hidden = self._hidden
            for number, method in methods:
                if hidden[number] is None:
                    self.current = number
                    if method(node) is False:
                        hidden[number] = node
                        self._hiding += 1
        return True

    def on_leave(self, original_node: cst.CSTNode) -> None:
        methods = self._table.get(f"leave_{type(original_node).__name__}")
        hidden = self._hidden
        if methods:
            for number, method in methods:
                where = hidden[number]
                if where is None or where is original_node:
                    self.current = number
                    method(original_node)
        if self._hiding:
            for number, where in enumerate(hidden):
                if where is original_node:
                    hidden[number] = None
                    self._hiding -= 1

    def on_visit_attribute(self, node: cst.CSTNode, attribute: str) -> None:
        self._attribute(f"visit_{type(node).__name__}_{attribute}", node)

    def on_leave_attribute(self, original_node: cst.CSTNode, attribute: str) -> None:
        self._attribute(f"leave_{type(original_node).__name__}_{attribute}", original_node)

    def _attribute(self, name: str, node: cst.CSTNode) -> None:
        methods = self._table.get(name)
        if methods:
            hidden = self._hidden
            for number, method in methods:
                if hidden[number] is None:
                    self.current = number
                    method(node)
