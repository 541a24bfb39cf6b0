"""VF200: a session a route handler opens itself -> ``Depends(get_db)``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import libcst as cst
from libcst.metadata import QualifiedNameProvider, ScopeProvider

from vibefix.asyncplan import AsyncPlan
from vibefix.codemod import Codemod
from vibefix.config import Config
from vibefix.index import ProjectIndex
from vibefix.sessionrewrite import SessionCodemod
from vibefix.sessions import SessionPlan, plan_sessions
from vibefix.sessionuse import Uses, find_uses


class SessionDependency(SessionCodemod):
    """Hand route handlers the request's session with `Depends(get_db)` instead of one they open.

    Why: a handler that opens `db = SessionLocal()` and closes it by hand leaks the
    connection on every path that skips the `close()`: an `HTTPException` for a
    missing row, an integrity error, any bug. Each leak holds one of the pool's
    connections until the garbage collector finds it; under load the pool runs dry and
    every request waits 30 s for a connection ("QueuePool limit ... reached"). The
    project's `get_db` dependency closes the session after every request, whatever
    happened.

    Example:

        @router.get("/orders/{order_id}")
        def get_order(order_id: int):
            db = SessionLocal()
            order = db.get(Order, order_id)
            if order is None:
                raise HTTPException(404)      # the session is never closed
            db.close()
            return order

    becomes

        @router.get("/orders/{order_id}")
        def get_order(order_id: int, *, db: Annotated[Session, Depends(get_db)]):
            order = db.get(Order, order_id)
            if order is None:
                raise HTTPException(404)
            return order

    The dependency is the project's own: a module-level generator that yields a session
    of the same factory (`get_db` preferred by name), imported where it is needed. When
    the project has none, VF200 writes `get_db` below the factory (a generator that
    yields a session and closes it in `finally`; `async with` once VF203 runs). The
    `db.close()` statements go, and a `try`/`finally` whose `finally` only closed the
    session is unwrapped (its `except` clauses stay).

    Safety: safe. The handler works on a session of the same factory. It is closed
    after the response is sent (FastAPI 0.118 and later; before the response from 0.106
    to 0.117) rather than where the handler closed it, so an object read from it is no
    longer detached before the response is built, and it is closed on every path.
    FastAPI makes one `get_db` session per request: a dependency and its handler that
    each opened their own now share it, so a `commit()` or `rollback()` in one is seen
    by the other. A `close()` or a `finally` with a comment of its own is kept (closing
    twice is harmless).

    Not rewritten: a handler with no dependency to use when `get_db`, `get_session`
    and `get_db_session` are all taken in the factory's module (a finding; a
    `@contextmanager`, a generator of rows or a pytest fixture is no dependency), a
    function FastAPI injects that is also called directly (a
    finding), startup hooks, exception handlers and middleware (FastAPI gives them no
    dependencies), and a session that is opened other than as `db = SessionLocal()` in
    the function's own body, opened twice, reassigned, returned, yielded, stored, used
    in a lambda or a nested function, handed to a background task (`add_task`,
    `create_task`, a `Thread`), or named like one of the handler's parameters (each a
    finding). Helpers that open their own session, and code outside requests, are not
    VF200's; `scoped_session` factories are left, and a `sessionmaker(class_=AsyncSession)`
    factory's session is annotated `Session`.
    """

    code = "VF200"
    # The dependency and the factory live in other modules: the plan reads them, and the
    # index must, even when no other codemod asks for them.
    follows_plan = True
    # A session opened in a function (``db = SessionLocal()``) of a module that uses FastAPI.
    triggers = (
        r"(?m:^[ \t]+\w+[ \t]*=[ \t]*[\w.]*(?i:session)\w*\(\))",
        r"\bfastapi\b",
    )
    METADATA_DEPENDENCIES = (
        *Codemod.METADATA_DEPENDENCIES,
        QualifiedNameProvider,
        ScopeProvider,
    )

    @classmethod
    def plan_part(cls, index: ProjectIndex, config: Config) -> object:
        return plan_sessions(index)

    @classmethod
    def settle(
        cls,
        part: object,
        asyncs: AsyncPlan,
        index: ProjectIndex,
        writable: Callable[[Path], bool],
    ) -> object:
        """No dependency is written in a file outside the paths given: its handlers get
        the finding instead."""
        if not isinstance(part, SessionPlan) or not part.created:
            return part
        homes = {module.module: module.path for module in index.modules}
        kept = {
            made: dependency
            for made, dependency in part.created.items()
            if writable(homes.get(made.rpartition(".")[0], Path()))
        }
        if kept == part.created:
            return part
        dropped = set(part.created.values()) - set(kept.values())
        return replace(
            part,
            opened={k: ("" if d in dropped else d) for k, d in part.opened.items()},
            chosen={m: d for m, d in part.chosen.items() if d not in dropped},
            created=kept,
            touched=frozenset(homes[m.rpartition(".")[0]] for m in kept),
        )

    def visit_Module(self, node: cst.Module) -> None:
        super().visit_Module(node)
        part = self.plan.part(self.code)
        self._sessions = part if isinstance(part, SessionPlan) else SessionPlan()

    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
        """Write the dependency the plan creates below its factory (``SessionLocal =
        sessionmaker(...)``), at the top level of the factory's module."""
        created = self._sessions.created
        if not created or node not in self._module.body:
            return
        for small in node.body:
            targets = small.targets if isinstance(small, cst.Assign) else ()
            for target in targets:
                if not isinstance(target.target, cst.Name):
                    continue
                dependency = created.get(f"{self.file.module_name}.{target.target.value}")
                if dependency:
                    self._create(node, target.target.value, dependency.rpartition(".")[2])

    def _create(self, statement: cst.SimpleStatementLine, factory: str, name: str) -> None:
        module, session = self._session_class()
        asynchronous = module == "sqlalchemy.ext.asyncio"
        iterator = self.file.imports.name_alias(
            statement, "collections.abc", "AsyncIterator" if asynchronous else "Iterator"
        )
        kind = self.file.imports.name_alias(statement, module, session)
        if iterator is None or kind is None:
            self.report(statement, f"`{name}` cannot be written here: a name it needs is taken")
            return
        if asynchronous:
            body = f"    async with {factory}() as db:\n        yield db\n"
        else:
            body = (
                f"    db = {factory}()\n    try:\n        yield db\n"
                "    finally:\n        db.close()\n"
            )
        function = cst.parse_statement(
            f"{'async ' if asynchronous else ''}def {name}() -> {iterator.name}[{kind.name}]:\n"
            f'    """The request\'s session for FastAPI\'s `Depends`, closed after the'
            ' response."""\n' + body
        )
        blank = [cst.EmptyLine(), cst.EmptyLine()]
        self.replace(
            statement,
            lambda updated: cst.FlattenSentinel(
                [updated, function.with_changes(leading_lines=blank)]
            ),
            f"`{name}`: the dependency that hands handlers a session of `{factory}`",
            needs=[*iterator.needs, *kind.needs],
        )
        statements = list(self._module.body)
        at = statements.index(statement)
        if at + 1 < len(statements):
            following = statements[at + 1]
            self.replace(
                following,
                lambda updated: updated.with_changes(
                    leading_lines=[
                        *blank,
                        *(line for line in updated.leading_lines if line.comment),
                    ]
                ),
                "two blank lines after the dependency",
            )

    def visit_Call(self, node: cst.Call) -> None:
        super().visit_Call(node)
        why = self._sessions.blocked.get(self.key(node)) if self._sessions.blocked else None
        if why:
            self.report(node, why)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        if not self._sessions.opened:
            return
        uses = find_uses(node, lambda call: self._sessions.opened.get(self.key(call)))
        if uses is None:
            return
        if uses.problem:
            self.report(uses.opening, uses.problem)
            return
        self._rewrite(node, uses)

    def _rewrite(self, function: cst.FunctionDef, uses: Uses) -> None:
        if not self.give_session(function, uses.name, uses.dependency, uses.opening):
            return
        assert uses.statement is not None
        self.replace(
            uses.statement,
            lambda updated: cst.RemovalSentinel.REMOVE,
            "the session comes from the dependency",
            drops=[uses.factory] if uses.factory is not None else [],
        )
        if uses.leading is not None:
            following, lines, opens = uses.leading
            self.replace(
                following,
                lambda updated: updated.with_changes(
                    leading_lines=_squeezed([*lines, *updated.leading_lines], opens)
                ),
                "the lines above the session's opening stay",
            )
        for line in uses.closes:
            self.replace(
                line, lambda updated: cst.RemovalSentinel.REMOVE, "the dependency closes it"
            )
        for line in uses.passes:
            self.replace(
                line,
                lambda updated: cst.SimpleStatementLine(
                    [cst.Pass()], leading_lines=updated.leading_lines
                ),
                "the dependency closes it",
            )
        for try_ in uses.finallies:
            self.replace(try_, _without_finally, "the dependency closes it: no `finally` needed")


def _without_finally(
    updated: cst.Try,
) -> cst.Try | cst.FlattenSentinel[cst.BaseStatement]:
    if updated.handlers:
        return updated.with_changes(finalbody=None)
    assert isinstance(updated.body, cst.IndentedBlock)
    body = list(updated.body.body)
    first = body[0]
    assert isinstance(first, cst.SimpleStatementLine | cst.BaseCompoundStatement)
    body[0] = first.with_changes(leading_lines=[*updated.leading_lines, *first.leading_lines])
    return cst.FlattenSentinel(body)


def _squeezed(lines: list[cst.EmptyLine], opens: bool) -> list[cst.EmptyLine]:
    """``lines`` with no two blank lines in a row, and none first in a body (``opens``)."""
    kept: list[cst.EmptyLine] = []
    for line in lines:
        blank = line.comment is None
        if blank and ((kept and kept[-1].comment is None) or (opens and not kept)):
            continue
        kept.append(line)
    return kept
