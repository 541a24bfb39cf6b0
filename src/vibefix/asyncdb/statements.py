"""The 2.0 statement a legacy query becomes, and the awaited call that runs it as its
terminal method (``.all()``, ``.first()``, ``.count()``...) did."""

from __future__ import annotations

import libcst as cst

from vibefix.asyncdb.plan import QueryPlan
from vibefix.engine.imports import ModuleAlias


def run_statement(
    query: QueryPlan,
    session: str,
    statement: cst.BaseExpression,
    terminal: cst.Call,
    model: cst.BaseExpression | None,
    extra: dict[str, ModuleAlias],
    primary: bool,
    used: bool = True,
    key: str = "",
) -> cst.BaseExpression:
    """The awaited call that runs ``statement`` as ``terminal`` did. A legacy query that
    selects a model returned each row once (``.unique()``), joined or not."""
    unique = ".unique()" if query.mapped else ""
    code = cst.Module([]).code_for_node
    kind = query.terminal
    rows = "scalars" if query.entity else "execute"
    if kind == "all":
        template = f"(await {session}.{rows}(STMT)){unique}.all()"
    elif kind == "first":
        if query.entity and not query.eager:
            template = f"await {session}.scalar(STMT.limit(1))"
        else:
            template = f"(await {session}.{rows}(STMT.limit(1))){unique}.first()"
    elif kind in ("one", "one_or_none"):
        template = f"(await {session}.{rows}(STMT)){unique}.{kind}()"
    elif kind == "scalar":
        template = (
            f"(await {session}.scalars(STMT)).unique().one_or_none()"
            if query.entity
            else f"(await {session}.execute(STMT)).scalar_one_or_none()"
        )
    elif kind == "count":
        func, select = extra["count"].name, extra["select"].name
        template = f"await {session}.scalar({select}({func}.count()).select_from(STMT.subquery()))"
    elif kind == "get" and key and query.loads:
        # With loaders: a statement on the key, which loads them also on an object the
        # session holds already (``get`` hands that back as it is).
        assert model is not None
        value = code(terminal.args[0].value)
        template = f"await {session}.scalar(STMT.where({code(model)}.{key} == {value}))"
    elif kind == "get":
        assert model is not None
        template = f"await {session}.get({code(model)}, {code(terminal.args[0].value)})"
    else:
        assert model is not None
        verb = extra[kind].name
        if _kept(statement):
            # ``q = select(M).where(...)`` kept, then ``q.delete()``: what ``q`` filters.
            head = fill(f"{verb}(MODEL)", model, "MODEL")
            filled = fill("HEAD.where(STMT.whereclause)", head, "HEAD").visit(_Fill(statement))
            assert isinstance(filled, cst.BaseExpression)
            statement = filled
        else:
            # ``select(M).where(...)`` -> ``delete(M).where(...)``: swap the head.
            statement = _swap_head(statement, verb)
        positional = [arg for arg in terminal.args if arg.keyword is None]
        options = "".join(
            f".execution_options(synchronize_session={_synchronized(code(arg.value))})"
            for arg in terminal.args
            if arg.keyword is not None and arg.keyword.value == "synchronize_session"
        )
        values = f".values({code(positional[0].value)})" if kind == "update" else ""
        run = f"await {session}.execute(STMT{values}{options})"
        template = f"({run}).rowcount" if used else run
    expression = fill(template, statement)
    if primary and isinstance(expression, cst.Await):
        expression = expression.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
    return expression


def _synchronized(given: str) -> str:
    """``synchronize_session=False`` left the session's objects stale until the commit
    expired them; the AsyncSession keeps them (``expire_on_commit=False``), so the
    statement updates them itself (``"fetch"``: the rows it changes, read back)."""
    return '"fetch"' if given == "False" else given


def _swap_head(statement: cst.BaseExpression, verb: str) -> cst.BaseExpression:
    if isinstance(statement, cst.Call) and isinstance(statement.func, cst.Name):
        return statement.with_changes(func=cst.Name(verb))
    if isinstance(statement, cst.Call) and isinstance(statement.func, cst.Attribute):
        inner = _swap_head(statement.func.value, verb)
        return statement.with_changes(func=statement.func.with_changes(value=inner))
    return statement


def _kept(statement: cst.BaseExpression) -> bool:
    """Whether ``statement`` starts at a variable (a query kept in it), not at a call."""
    while isinstance(statement, cst.Call) and isinstance(statement.func, cst.Attribute):
        statement = statement.func.value
    return isinstance(statement, cst.Name)


class _Fill(cst.CSTTransformer):
    def __init__(self, statement: cst.BaseExpression, name: str = "STMT") -> None:
        super().__init__()
        self.statement = statement
        self.name = name

    def leave_Name(self, original_node: cst.Name, updated_node: cst.Name) -> cst.BaseExpression:
        return self.statement if original_node.value == self.name else updated_node


def fill(template: str, statement: cst.BaseExpression, name: str = "STMT") -> cst.BaseExpression:
    """The expression ``template`` with ``statement`` in place of the name ``name``."""
    result = cst.parse_expression(template).visit(_Fill(statement, name))
    assert isinstance(result, cst.BaseExpression)
    return result
