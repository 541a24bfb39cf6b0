"""Small readers of libcst trees the scan shares with the codemod."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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


@dataclass(frozen=True)
class HeldConnection:
    """SQLAlchemy's recipe for a test joined to an outer transaction, in one function:
    ``connection = engine.connect()``, ``transaction = connection.begin()``, ``session =
    Factory(bind=connection)``, ..., ``transaction.rollback()``, ``connection.close()``."""

    names: tuple[str, ...]
    """The connection's variable, and the transaction's."""
    opens: tuple[cst.Call, ...]
    """``engine.connect()`` (the first), then ``connection.begin()``: each started."""
    runs: tuple[cst.Call, ...]
    """``connection.close()``, ``transaction.rollback()``...: each awaited."""


ENDS = frozenset({"close", "commit", "rollback"})


def held_connections(function: cst.FunctionDef) -> list[HeldConnection]:
    """The connections ``function`` holds in variables in SQLAlchemy's test recipe, at
    the top level of its body; one used any other way (handed on, read, in a block) is
    none. ``bind=connection`` is the one other use allowed, in ``s = Factory(...)``."""
    if not isinstance(function.body, cst.IndentedBlock):
        return []
    statements = [
        line.body[0]
        for line in function.body.body
        if isinstance(line, cst.SimpleStatementLine) and len(line.body) == 1
    ]
    assigned: dict[str, cst.Call] = {}
    for small in statements:
        call = small.value if isinstance(small, cst.Assign) else None
        if (
            isinstance(small, cst.Assign)
            and len(small.targets) == 1
            and isinstance(small.targets[0].target, cst.Name)
            and isinstance(call, cst.Call)
            and not call.args
            and isinstance(call.func, cst.Attribute)
            and isinstance(call.func.value, cst.Name)
            and call.func.attr.value in ("connect", "begin")
        ):
            assigned[small.targets[0].target.value] = call
    found: list[HeldConnection] = []
    for name, call in assigned.items():
        assert isinstance(call.func, cst.Attribute)
        assert isinstance(call.func.value, cst.Name)
        if call.func.value.value in assigned:
            continue  # a transaction: with its connection
        names = [name]
        opens = [call]
        for other, begun in assigned.items():
            assert isinstance(begun.func, cst.Attribute)
            assert isinstance(begun.func.value, cst.Name)
            if begun.func.value.value == name and begun.func.attr.value == "begin":
                names.append(other)
                opens.append(begun)
        runs: list[cst.Call] = []
        allowed: set[cst.CSTNode] = set()
        for small in statements:
            value = small.value if isinstance(small, cst.Expr | cst.Assign) else None
            if (
                isinstance(small, cst.Expr)
                and isinstance(value, cst.Call)
                and not value.args
                and isinstance(value.func, cst.Attribute)
                and isinstance(value.func.value, cst.Name)
                and value.func.value.value in names
                and value.func.attr.value in ENDS
            ):
                runs.append(value)
                allowed.add(value.func.value)
            elif isinstance(small, cst.Assign) and isinstance(value, cst.Call):
                for arg in value.args:
                    if (
                        arg.keyword is not None
                        and arg.keyword.value == "bind"
                        and isinstance(arg.value, cst.Name)
                        and arg.value.value == name
                    ):
                        allowed.add(arg.value)
        for opened in opens:
            assert isinstance(opened.func, cst.Attribute)
            allowed.add(opened.func.value)
        allowed.update(
            small.targets[0].target
            for small in statements
            if isinstance(small, cst.Assign) and small.value in opens
        )
        uses = [use for held in names for use in _all_names(function.body, held)]
        if runs and all(use in allowed for use in uses):
            found.append(HeldConnection(tuple(names), tuple(opens), tuple(runs)))
    return found


def _all_names(tree: cst.CSTNode, name: str) -> list[cst.Name]:
    """Every ``Name`` node spelled ``name`` in ``tree`` (keyword names aside)."""
    found: list[cst.Name] = []

    class _Find(cst.CSTVisitor):
        def visit_Name(self, node: cst.Name) -> None:
            if node.value == name:
                found.append(node)

        def visit_Arg(self, node: cst.Arg) -> bool:
            node.value.visit(self)
            return False

        def visit_Attribute(self, node: cst.Attribute) -> bool:
            node.value.visit(self)
            return False

    tree.visit(_Find())
    return found


def called_line(
    line: cst.BaseStatement,
) -> tuple[cst.Assign | cst.Return | cst.Expr, cst.Call] | None:
    """The statement of ``line`` and its call, when it is ``x = f(...)``, ``return
    f(...)`` or ``yield f(...)``."""
    if not isinstance(line, cst.SimpleStatementLine) or len(line.body) != 1:
        return None
    small = line.body[0]
    if isinstance(small, (cst.Assign, cst.Return)) and isinstance(small.value, cst.Call):
        return small, small.value
    if (
        isinstance(small, cst.Expr)
        and isinstance(small.value, cst.Yield)
        and isinstance(small.value.value, cst.Call)
    ):
        return small, small.value.value
    return None
