"""Small readers of libcst trees the scan shares with the codemod."""

from __future__ import annotations

from collections.abc import Callable

import libcst as cst

from vibefix.asyncdb.facts import Span

Qualify = Callable[[cst.CSTNode], tuple[str, ...]]
Locate = Callable[[cst.CSTNode], Span]


def dotted(node: cst.BaseExpression) -> str | None:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        owner = dotted(node.value)
        return f"{owner}.{node.attr.value}" if owner else None
    return None


Receiver = cst.Name | cst.Attribute
"""A name, or ``self.attr`` (a session an object keeps)."""


def query_chain(call: cst.Call) -> tuple[Receiver, list[cst.Call]] | None:
    """``(receiver, [first, ..., last])`` for ``receiver.m1(...).m2(...)...``, each
    ``m`` a method call and ``receiver`` a name or ``self.attr``; None for anything
    else."""
    calls: list[cst.Call] = []
    node: cst.BaseExpression = call
    while isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
        calls.append(node)
        node = node.func.value
    if not calls or not receiver_name(node):
        return None
    assert isinstance(node, cst.Name | cst.Attribute)
    return node, calls[::-1]


def receiver_name(node: cst.BaseExpression) -> str:
    """``db`` for a name, ``self.db`` for an attribute of ``self``; ``""`` for anything
    else."""
    if isinstance(node, cst.Name):
        return node.value
    if (
        isinstance(node, cst.Attribute)
        and isinstance(node.value, cst.Name)
        and node.value.value == "self"
    ):
        return f"self.{node.attr.value}"
    return ""


def method(call: cst.Call) -> str:
    return call.func.attr.value if isinstance(call.func, cst.Attribute) else ""


def unwrap_annotation(node: cst.BaseExpression, qualify: Qualify) -> list[cst.BaseExpression]:
    """The type in ``Annotated[T, ...]``/``Optional[T]``/``T | None``, and the metadata."""
    found: list[cst.BaseExpression] = []
    while isinstance(node, cst.Subscript) and node.slice:
        outer = qualify(node.value)
        if not any(n.endswith(("Annotated", "Optional")) for n in outer):
            break
        elements = [e.slice.value for e in node.slice if isinstance(e.slice, cst.Index)]
        if not elements:
            break
        found.extend(elements[1:])
        node = elements[0]
    if isinstance(node, cst.BinaryOperation) and isinstance(node.right, cst.Name):
        node = node.left
    return [node, *found]


def names_in(tree: cst.CSTNode, name: str) -> list[cst.Name | cst.Attribute]:
    """The uses of ``name`` in ``tree``: a name, or ``self.attr`` (``receiver_name``)."""
    found: list[cst.Name | cst.Attribute] = []

    class _Find(cst.CSTVisitor):
        def visit_Name(self, node: cst.Name) -> None:
            if node.value == name:
                found.append(node)

        def visit_Attribute(self, node: cst.Attribute) -> bool:
            if receiver_name(node) == name:
                found.append(node)
                return False
            node.value.visit(self)  # ``x.name`` is no use of ``name``
            return False

        def visit_Arg(self, node: cst.Arg) -> bool:
            node.value.visit(self)  # nor is ``f(name=...)``
            return False

    tree.visit(_Find())
    return found
