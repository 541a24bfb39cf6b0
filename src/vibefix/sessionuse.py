"""How a handler uses the session it opens (VF200): the statement that opens it, the
``close()`` calls that go, and why it cannot become a dependency, if it cannot."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import libcst as cst


@dataclass
class Uses:
    """The session one function opens, and what becomes of it."""

    opening: cst.Call
    """``SessionLocal()``: findings are reported here."""
    dependency: str = ""
    """The dependency that hands out a session of the same factory."""
    name: str = ""
    statement: cst.SimpleStatementLine | None = None
    """``db = SessionLocal()``: it goes."""
    factory: cst.Name | None = None
    """The factory's name in the call: its import may go with it."""
    closes: list[cst.SimpleStatementLine] = field(default_factory=list)
    """``db.close()`` lines that go."""
    passes: list[cst.SimpleStatementLine] = field(default_factory=list)
    """``db.close()`` lines alone in their block: they become ``pass``."""
    finallies: list[cst.Try] = field(default_factory=list)
    """``try`` statements whose ``finally`` only closes the session: it goes."""
    leading: tuple[cst.BaseStatement, list[cst.EmptyLine]] | None = None
    """The blank and comment lines above the opening statement, and the statement they
    move to."""
    problem: str = ""


class _Parents(cst.CSTVisitor):
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


def find_uses(function: cst.FunctionDef, opened: Callable[[cst.Call], str | None]) -> Uses | None:
    """The session ``function`` opens (``opened(call)`` is the dependency to use for a
    factory call, ``""`` for none, None for another call); None when it opens none."""
    walker = _Parents()
    function.visit(walker)
    parent = walker.parent
    calls = [
        (node, dependency)
        for node in walker.order
        if isinstance(node, cst.Call) and (dependency := opened(node)) is not None
    ]
    if not calls:
        return None
    call, dependency = calls[0]
    uses = Uses(call, dependency)
    if len(calls) > 1:
        uses.problem = "it opens more than one session: give it the request's by hand"
        return uses
    if not dependency:
        uses.problem = (
            "it opens its own session, and no dependency yields one of this factory: define"
            " `get_db` (yield a session, close it in `finally`) next to the factory"
        )
        return uses
    assign = parent.get(call)
    line = parent.get(assign) if assign is not None else None
    if not (
        isinstance(assign, cst.Assign)
        and len(assign.targets) == 1
        and isinstance(assign.targets[0].target, cst.Name)
        and not call.args
        and isinstance(line, cst.SimpleStatementLine)
        and len(line.body) == 1
        and parent.get(line) is function.body
        and isinstance(call.func, cst.Name | cst.Attribute)
    ):
        uses.problem = (
            "it opens its session other than as `db = SessionLocal()` in its own body:"
            " give it the request's session by hand"
        )
        return uses
    name = assign.targets[0].target.value
    uses.name, uses.statement = name, line
    base: cst.BaseExpression = call.func
    while isinstance(base, cst.Attribute):
        base = base.value
    uses.factory = base if isinstance(base, cst.Name) else None
    params = function.params
    taken = {
        p.name.value for p in (*params.posonly_params, *params.params, *params.kwonly_params)
    } | {p.name.value for p in (params.star_arg, params.star_kwarg) if isinstance(p, cst.Param)}
    if name in taken:
        uses.problem = f"`{name}` is also one of its parameters"
        return uses
    for node in walker.order:
        if (
            isinstance(node, cst.Name)
            and node.value == name
            and node is not assign.targets[0].target
        ):
            uses.problem = _use(node, parent, uses)
            if uses.problem:
                return uses
    body = function.body
    assert isinstance(body, cst.IndentedBlock)
    lines = list(line.leading_lines)
    at = list(body.body).index(line)
    if at == 0:  # no blank line opens a body
        lines = lines[next((i for i, e in enumerate(lines) if e.comment is not None), 0) :]
    if lines and at + 1 < len(body.body):
        uses.leading = (body.body[at + 1], lines)
    return uses


def _use(node: cst.Name, parent: dict[cst.CSTNode, cst.CSTNode], uses: Uses) -> str:
    """Record what a use of the session becomes; why it cannot stay, else ``""``."""
    above = parent.get(node)
    name = node.value
    if (isinstance(above, cst.Attribute) and above.attr is node) or (
        isinstance(above, cst.Arg) and above.keyword is node
    ):
        return ""  # ``x.db``, ``f(db=...)``: another name
    if isinstance(above, cst.Attribute) and above.value is node:
        call = parent.get(above)
        expr = parent.get(call) if isinstance(call, cst.Call) else None
        line = parent.get(expr) if isinstance(expr, cst.Expr) else None
        if (
            above.attr.value == "close"
            and isinstance(call, cst.Call)
            and call.func is above
            and not call.args
            and isinstance(line, cst.SimpleStatementLine)
            and len(line.body) == 1
        ):
            _close(line, parent, uses)
        return ""
    if isinstance(above, cst.Arg) and above.value is node and not above.star:
        call = parent.get(above)
        func = call.func if isinstance(call, cst.Call) else None
        if isinstance(func, cst.Attribute) and func.attr.value == "add_task":
            return (
                f"the session `{name}` is passed to a background task, which runs after the"
                " dependency has closed it"
            )
        return ""
    return (
        f"the session `{name}` is used other than by its methods or as an argument"
        " (reassigned, returned, stored, tested): give it the request's by hand"
    )


def _close(
    line: cst.SimpleStatementLine, parent: dict[cst.CSTNode, cst.CSTNode], uses: Uses
) -> None:
    block = parent.get(line)
    holder = parent.get(block) if block is not None else None
    alone = isinstance(block, cst.IndentedBlock) and len(block.body) == 1
    try_ = parent.get(holder) if isinstance(holder, cst.Finally) else None
    if alone and isinstance(try_, cst.Try) and isinstance(try_.body, cst.IndentedBlock):
        uses.finallies.append(try_)
    elif alone:
        uses.passes.append(line)
    else:
        uses.closes.append(line)
