"""How a handler uses the session it opens (VF200): the statement that opens it, the
``close()`` calls that go, and why it cannot become a dependency, if it cannot."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import libcst as cst

from vibefix.cst.tree import Parents, inside


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
    leading: tuple[cst.BaseStatement, list[cst.EmptyLine], bool] | None = None
    """The blank and comment lines above the opening statement, the statement they move
    to, and whether that one then opens the body (no blank line first)."""
    problem: str = ""


def find_uses(function: cst.FunctionDef, opened: Callable[[cst.Call], str | None]) -> Uses | None:
    """The session ``function`` opens (``opened(call)`` is the dependency to use for a
    factory call, ``""`` for none, None for another call); None when it opens none."""
    walker = Parents()
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
    if name in _parameters(function):
        uses.problem = f"`{name}` is also one of its parameters"
        return uses
    uses.problem = _first_problem(walker, name, uses, assign.targets[0].target)
    if uses.problem:
        return uses
    body = function.body
    assert isinstance(body, cst.IndentedBlock)
    lines = list(line.leading_lines)
    trailing = line.trailing_whitespace.comment
    if trailing is not None:
        lines.append(cst.EmptyLine(comment=trailing))
    at = list(body.body).index(line)
    if at == 0:  # no blank line opens a body
        lines = lines[next((i for i, e in enumerate(lines) if e.comment is not None), len(lines)) :]
    if (lines or at == 0) and at + 1 < len(body.body):
        uses.leading = (body.body[at + 1], lines, at == 0)
    return uses


def _parameters(function: cst.FunctionDef) -> set[str]:
    params = function.params
    return {
        p.name.value for p in (*params.posonly_params, *params.params, *params.kwonly_params)
    } | {p.name.value for p in (params.star_arg, params.star_kwarg) if isinstance(p, cst.Param)}


LATER = frozenset(
    {"add_task", "create_task", "ensure_future", "submit", "start_soon", "run_in_executor"}
    | {"call_soon", "call_later", "Thread", "Process", "Timer", "spawn"}
)
"""Calls that run what they are given later, maybe after the request is over."""


def shared_problem(function: cst.FunctionDef, name: str) -> str:
    """Why ``function`` cannot take the session it reaches as the global ``name`` as a
    parameter of that name; ``""`` when it can."""
    walker = Parents()
    function.visit(walker)
    if name in _parameters(function):
        return f"`{name}` is also one of its parameters"
    return _first_problem(walker, name, Uses(cst.Call(cst.Name(name))), function.name)


def _escaping(walker: Parents) -> set[str]:
    """Nested functions that leave the request: returned, or handed to later work."""
    return {n.value for n in walker.order if isinstance(n, cst.Name) and _leaves(n, walker.parent)}


def _named(walker: Parents, name: str, skip: cst.CSTNode) -> Iterator[cst.Name]:
    """The references to ``name`` in the walked function, but ``skip`` (where it is bound)."""
    for node in walker.order:
        if isinstance(node, cst.Name) and node.value == name and node is not skip:
            yield node


def _first_problem(walker: Parents, name: str, uses: Uses, skip: cst.CSTNode) -> str:
    """Why a use of the session ``name`` keeps it from the rewrite; ``""`` for none."""
    escaping = _escaping(walker)
    for node in _named(walker, name, skip):
        problem = _use(node, walker.parent, uses, escaping)
        if problem:
            return problem
    return ""


def _leaves(node: cst.Name, parent: dict[cst.CSTNode, cst.CSTNode]) -> bool:
    """Whether the value named ``node`` is returned, yielded or handed to later work."""
    above = parent.get(node)
    if isinstance(above, cst.Return | cst.Yield):
        return True
    return not isinstance(above, cst.Attribute) and bool(_run_later(node, parent, frozenset()))


def _use(
    node: cst.Name,
    parent: dict[cst.CSTNode, cst.CSTNode],
    uses: Uses,
    escaping: set[str] | frozenset[str] = frozenset(),
) -> str:
    """Record what a use of the session becomes; why it cannot stay, else ``""``."""
    above = parent.get(node)
    name = node.value
    if (isinstance(above, cst.Attribute) and above.attr is node) or (
        isinstance(above, cst.Arg) and above.keyword is node
    ):
        return ""  # ``x.db``, ``f(db=...)``: another name
    later = _run_later(node, parent, escaping)
    if later:
        return (
            f"the session `{name}` is {later}, which may run after the dependency has"
            " closed it: give it the request's by hand"
        )
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


def _run_later(
    node: cst.CSTNode,
    parent: dict[cst.CSTNode, cst.CSTNode],
    escaping: set[str] | frozenset[str],
) -> str:
    """Whether ``node`` sits in a lambda, in a nested function that leaves the request
    (``escaping``), or in what is handed to a call that runs it later
    (``tasks.add_task(save, db)``): what it is, else ``""``."""
    current = parent.get(node)
    while current is not None and parent.get(current) is not None:
        if isinstance(current, cst.Lambda):
            return "used in a lambda"
        if isinstance(current, cst.FunctionDef) and current.name.value in escaping:
            return f"used in `{current.name.value}`, which is returned or run later"
        if isinstance(current, cst.Arg):
            call = parent.get(current)
            func = call.func if isinstance(call, cst.Call) else None
            last = func.attr if isinstance(func, cst.Attribute) else func
            if isinstance(last, cst.Name) and last.value in LATER:
                return f"handed to `{last.value}`"
        current = parent.get(current)
    return ""


def _has_comment(*nodes: cst.CSTNode | None) -> bool:
    class Finder(cst.CSTVisitor):
        found = False

        def visit_Comment(self, node: cst.Comment) -> None:
            self.found = True

    finder = Finder()
    for node in nodes:
        if node is not None:
            node.visit(finder)
    return finder.found


def _close(
    line: cst.SimpleStatementLine, parent: dict[cst.CSTNode, cst.CSTNode], uses: Uses
) -> None:
    if _has_comment(line):
        return  # a close that says something: kept (the dependency closes again, harmless)
    block = parent.get(line)
    holder = parent.get(block) if block is not None else None
    alone = isinstance(block, cst.IndentedBlock) and len(block.body) == 1
    try_ = parent.get(holder) if isinstance(holder, cst.Finally) else None
    if alone and isinstance(try_, cst.Try) and isinstance(try_.body, cst.IndentedBlock):
        body = try_.body
        if _has_comment(holder) or (not try_.handlers and _has_comment(body.header, *body.footer)):
            return  # the `finally` (or the `try` it unwraps) has comments to keep
        uses.finallies.append(try_)
    elif alone:
        uses.passes.append(line)
    else:
        uses.closes.append(line)


@dataclass
class Context:
    """A session a function opens and closes in its own body, which a ``with`` can hold."""

    opening: cst.Call
    name: str
    first: int
    """The index of ``db = SessionLocal()`` in the function's body."""
    last: int
    """The index of the statement that closes it: ``db.close()``, or the ``try`` whose
    ``finally`` does."""
    problem: str = ""


def find_context(function: cst.FunctionDef, opened: Callable[[cst.Call], bool]) -> Context | None:
    """The session ``function`` opens (``opened(call)`` for a factory call) and closes in
    its own body; None when it opens none, a ``problem`` when no ``with`` can hold it."""
    walker = Parents()
    function.visit(walker)
    parent = walker.parent
    calls = [
        node
        for node in walker.order
        if isinstance(node, cst.Call)
        and _owner(node, parent) is function  # a nested function's are its own
        and opened(node)
        and not isinstance(parent.get(node), cst.WithItem)  # held by a `with` already
    ]
    if not calls:
        return None
    call = calls[0]
    context = Context(call, "", -1, -1)
    if len(calls) > 1:
        context.problem = "it opens more than one session: close them with `with` by hand"
        return context
    assign = parent.get(call)
    line = parent.get(assign) if assign is not None else None
    body = function.body
    if not (
        isinstance(body, cst.IndentedBlock)
        and isinstance(assign, cst.Assign)
        and len(assign.targets) == 1
        and isinstance(assign.targets[0].target, cst.Name)
        and isinstance(line, cst.SimpleStatementLine)
        and len(line.body) == 1
        and parent.get(line) is body
    ):
        context.problem = (
            "it opens a session other than as `db = SessionLocal()` in its own body: hold it"
            " in `with SessionLocal() as db:` by hand"
        )
        return context
    name = assign.targets[0].target.value
    statements = list(body.body)
    context.name, context.first = name, statements.index(line)
    if _awaited_use(name, walker.order):
        context.problem = (
            f"the session `{name}` is awaited (an `AsyncSession`): hold it in `async with` by hand"
        )
        return context
    closes = [
        i
        for i, statement in enumerate(statements)
        if i > context.first and (_is_close(statement, name) or _closes_finally(statement, name))
    ]
    if not closes:
        context.problem = (
            f"the session `{name}` is never closed in the function's own body (a `with`"
            " could close it before what it read is used): close it, or hold it in `with`,"
            " by hand"
        )
        return context
    if len(closes) > 1:
        context.problem = (
            f"the session `{name}` is closed in more than one place: use `with` by hand"
        )
        return context
    context.last = closes[0]
    if _returns_something(statements[context.first + 1 : context.last]):
        context.problem = (
            f"a `return` before `{name}.close()` leaves the session open for what it returns;"
            " a `with` would close it: hold it in `with` by hand"
        )
        return context
    escaping = _escaping(walker)
    ignored = Uses(call)
    closing = statements[context.last]
    for node in _named(walker, name, assign.targets[0].target):
        if inside(node, closing, parent) and _is_close(closing, name):
            continue
        after = any(inside(node, s, parent) for s in statements[context.last + 1 :])
        problem = "used after it is closed" if after else _use(node, parent, ignored, escaping)
        if problem:
            context.problem = (
                problem
                if problem.startswith("the session")
                else f"the session `{name}` is {problem}"
            )
            return context
    if (
        ignored.closes
        or ignored.passes
        or len(ignored.finallies) > (0 if _is_close(closing, name) else 1)
    ):
        context.problem = (
            f"the session `{name}` is closed in more than one place: use `with` by hand"
        )
    return context


def _owner(node: cst.CSTNode, parent: dict[cst.CSTNode, cst.CSTNode]) -> cst.CSTNode | None:
    """The innermost function or lambda around ``node``."""
    current = parent.get(node)
    while current is not None and not isinstance(current, cst.FunctionDef | cst.Lambda):
        current = parent.get(current)
    return current


def _returns_something(statements: list[cst.BaseStatement]) -> bool:
    """Whether a ``return`` among ``statements`` (outside nested functions) returns more
    than a constant: what it returns may be read after the session is closed."""

    class Finder(cst.CSTVisitor):
        found = False

        def visit_Return(self, node: cst.Return) -> None:
            value = node.value
            constant = (
                value is None
                or (isinstance(value, cst.Name) and value.value in ("None", "True", "False"))
                or isinstance(value, cst.BaseNumber | cst.SimpleString)
            )
            self.found = self.found or not constant

        def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
            return False

        def visit_Lambda(self, node: cst.Lambda) -> bool:
            return False

    finder = Finder()
    for statement in statements:
        statement.visit(finder)
    return finder.found


def _awaited_use(name: str, nodes: list[cst.CSTNode]) -> bool:
    """Whether a method of the session ``name`` is awaited: an ``AsyncSession``."""
    for node in nodes:
        if isinstance(node, cst.Await):
            inner = node.expression
            func = inner.func if isinstance(inner, cst.Call) else None
            if (
                isinstance(func, cst.Attribute)
                and isinstance(func.value, cst.Name)
                and func.value.value == name
            ):
                return True
    return False


def _is_close(statement: cst.BaseStatement, name: str) -> bool:
    if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
        return False
    expr = statement.body[0]
    call = expr.value if isinstance(expr, cst.Expr) else None
    return (
        isinstance(call, cst.Call)
        and not call.args
        and isinstance(call.func, cst.Attribute)
        and call.func.attr.value == "close"
        and isinstance(call.func.value, cst.Name)
        and call.func.value.value == name
        and not _has_comment(statement)
    )


def _closes_finally(statement: cst.BaseStatement, name: str) -> bool:
    """``try: ... finally: db.close()``, the ``finally`` holding nothing else."""
    if not isinstance(statement, cst.Try) or statement.finalbody is None:
        return False
    block = statement.finalbody.body
    return (
        isinstance(block, cst.IndentedBlock)
        and len(block.body) == 1
        and _is_close(block.body[0], name)
        and not _has_comment(statement.finalbody)
        and isinstance(statement.body, cst.IndentedBlock)
        and (
            bool(statement.handlers)
            or not _has_comment(statement.body.header, *statement.body.footer)
        )
    )
