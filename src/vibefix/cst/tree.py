"""A function's tree seen from below: each node's parent, and whether a node lies inside
another. (libcst's ParentNodeProvider resolves a whole file; these analyses need one
function.)"""

from __future__ import annotations

import libcst as cst


class Parents(cst.CSTVisitor):
    """Visit a tree once: ``parent`` of every node but the root, ``order`` of the visit."""

    def __init__(self) -> None:
        super().__init__()
        self.parent: dict[cst.CSTNode, cst.CSTNode] = {}
        self.order: list[cst.CSTNode] = []
        self._stack: list[cst.CSTNode] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        if self._stack:
            self.parent[node] = self._stack[-1]
        self._stack.append(node)
        self.order.append(node)
        return True

    def on_leave(self, original_node: cst.CSTNode) -> None:
        self._stack.pop()


def inside(node: cst.CSTNode, block: cst.CSTNode, parent: dict[cst.CSTNode, cst.CSTNode]) -> bool:
    """Whether ``node`` is ``block`` or lies within it."""
    current: cst.CSTNode | None = node
    while current is not None:
        if current is block:
            return True
        current = parent.get(current)
    return False
