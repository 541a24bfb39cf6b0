"""VF200: a session a route handler opens itself -> ``Depends(get_db)``."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import libcst as cst
from libcst.metadata import QualifiedNameProvider, ScopeProvider

from vibefix.codemod import Codemod, PlanContext
from vibefix.cst.arguments import appended, keyword
from vibefix.engine.index import NodeKey
from vibefix.sessions.facts import ModuleNames
from vibefix.sessions.plan import HelpersTaken, SessionPlan, plan_sessions
from vibefix.sessions.rewrite import SessionCodemod
from vibefix.sessions.uses import Uses, find_uses


class SessionDependency(SessionCodemod[SessionPlan]):
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
    session is unwrapped (its `except` clauses stay). A `close()` that more work follows
    (an `await`, or a call outside the `return`) stays: it hands the connection back to
    the pool before that work, as the handler did; without it a handler that reads a row
    and then calls an API for 50 ms would hold a connection for the whole request.

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
    finding). A helper that opens a session of its own and is used by other callers too
    (a script, a lambda, another module, a value handed around), and code outside
    requests, are not VF200's (VF204 holds such sessions in `with`); `scoped_session`
    factories are left, and a `sessionmaker(class_=AsyncSession)` factory's session is
    annotated `Session`.

    Helpers: a module-level helper that opens its own session, closes it and is called
    only by handlers of its own file takes the session as a keyword-only parameter
    instead (`def find_item(item_id, *, db: Session)`), and each caller hands it the
    request's (`find_item(item_id, db=db)`): a handler that had none gets one from the
    dependency. An object the helper loads then belongs to the handler's session, which
    can delete or change it, and a request holds one connection, not two. Only a helper
    that reads (`query`, `get`, `scalar(s)`, `refresh`) and has no decorator qualifies:
    one that adds, executes, commits or rolls back would do it to its caller's
    transaction, and a cache would key on the session. The helper is left, with all its
    callers, when one of them cannot hand it a session (VF204 holds its own in `with`).
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
    collectors = (ModuleNames,)

    @classmethod
    def plan_part(cls, context: PlanContext) -> SessionPlan:
        return plan_sessions(context.index)

    @classmethod
    def settle(cls, part: SessionPlan | None, context: PlanContext) -> SessionPlan | None:
        """No dependency is written in a file outside the paths given: its handlers get
        the finding instead."""
        if part is None or not part.created:
            return part
        homes = {module.module: module.path for module in context.index.modules}
        kept = {
            made: dependency
            for made, dependency in part.created.items()
            if context.writable(homes.get(made.rpartition(".")[0], Path()))
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
        self._sessions = self.part or SessionPlan()
        self._helper_uses: dict[NodeKey, Uses] = {}
        """Helpers that take the caller's session: how they use theirs."""
        self._helper_args: dict[NodeKey, tuple[str, str]] = {}
        """Calls of those helpers: the helper's parameter, the caller's session."""
        self._inject: dict[NodeKey, tuple[str, str]] = {}
        """Callers with no session: the name and dependency of the one they get."""
        if any(key[0] == self.file.path for key in self._sessions.helpers):
            self._plan_helpers(node)

    # -- helpers that take the caller's session ---------------------------------------

    def _plan_helpers(self, module: cst.Module) -> None:
        """Decide, for the whole file before any edit, which helpers take their callers'
        session: all of a helper's callers must be able to hand it one, or none does."""
        finder = _Definitions()
        module.visit(finder)
        defs = {self.key(d): d for d in finder.defs}
        calls = {self.key(c): c for c in finder.calls}
        for key, dependency in sorted(self._sessions.helpers.items()):
            if key[0] != self.file.path or key not in defs:
                continue
            helper = defs[key]
            uses = find_uses(helper, lambda call: self._sessions.helper_opens.get(self.key(call)))
            if uses is None or uses.problem or uses.statement is None:
                continue
            source, session = self._session_class()
            if self.file.imports.name_alias(helper, source, session) is None:
                continue  # ``Session`` means something else here
            decided = self._callers(key, uses.name, dependency, defs, calls)
            if decided is None:
                continue
            args, inject = decided
            self._helper_uses[key] = uses
            self._helper_args.update(args)
            self._inject.update(inject)
        # VF204 leaves the helpers taken here (it would hold their session in ``with``).
        self.file.share(HelpersTaken(frozenset(self._helper_uses)))

    def _callers(
        self,
        helper: NodeKey,
        name: str,
        dependency: str,
        defs: dict[NodeKey, cst.FunctionDef],
        calls: dict[NodeKey, cst.Call],
    ) -> tuple[dict[NodeKey, tuple[str, str]], dict[NodeKey, tuple[str, str]]] | None:
        """The session each caller hands the helper, and the callers that get one; None
        when a caller cannot."""
        args: dict[NodeKey, tuple[str, str]] = {}
        inject: dict[NodeKey, tuple[str, str]] = {}
        for caller_key in self._sessions.helper_callers.get(helper, ()):
            caller = defs.get(caller_key)
            if caller is None:
                return None
            own = find_uses(caller, lambda call: self._sessions.opened.get(self.key(call)))
            if own is not None:
                if (
                    own.problem
                    or not own.dependency
                    or not self.can_give_session(caller, own.dependency)
                ):
                    return None  # its own session stays local: it may open after the call
                session = own.name
            else:
                session = _depends_parameter(caller, dependency) or name
                if session == name and not _depends_parameter(caller, dependency):
                    if name in _names_in(caller) or not self.can_give_session(caller, dependency):
                        return None
                    inject[caller_key] = (name, dependency)
            for call_key, target in self._sessions.helper_calls.items():
                if target == helper and call_key in calls and _within(calls[call_key], caller):
                    args[call_key] = (name, session)
        return args, inject

    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
        """Write the dependency the plan creates below its factory (``SessionLocal =
        sessionmaker(...)``), at the top level of the factory's module."""
        created = self._sessions.created
        if not created or node not in self._module.body:
            return
        for small in node.body:
            names: list[cst.BaseAssignTargetExpression] = []
            if isinstance(small, cst.Assign):
                names = [target.target for target in small.targets]
            elif isinstance(small, cst.AnnAssign):
                names = [small.target]
            for target in names:
                if not isinstance(target, cst.Name):
                    continue
                dependency = created.get(f"{self.file.module_name}.{target.value}")
                if dependency:
                    self._create(node, target.value, dependency.rpartition(".")[2])

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

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        key = self.key(node)
        helper = self._helper_uses.get(key)
        if helper is not None:
            self._take_session(node, helper)
        injected = self._inject.get(key)
        if injected is not None:
            self.give_session(node, injected[0], injected[1], node)
        if not self._sessions.opened:
            return
        uses = find_uses(node, lambda call: self._sessions.opened.get(self.key(call)))
        if uses is None:
            return
        if uses.problem:
            self.report(uses.opening, uses.problem)
            return
        self._rewrite(node, uses)

    def visit_Call(self, node: cst.Call) -> None:
        super().visit_Call(node)
        why = self._sessions.blocked.get(self.key(node)) if self._sessions.blocked else None
        if why:
            self.report(node, why)
        handed = self._helper_args.get(self.key(node)) if self._helper_args else None
        if handed is not None:
            parameter, session = handed
            argument = keyword(parameter, cst.Name(session))

            def pass_on(updated: cst.BaseExpression) -> cst.BaseExpression:
                # VF104 may have awaited the call already (a helper made async).
                call = updated.expression if isinstance(updated, cst.Await) else updated
                assert isinstance(call, cst.Call)
                call = call.with_changes(
                    args=appended(list(call.args), argument, call.whitespace_before_args)
                )
                return (
                    updated.with_changes(expression=call)
                    if isinstance(updated, cst.Await)
                    else call
                )

            self.replace(node, pass_on, f"the helper uses the caller's session: `{session}`")

    def _take_session(self, function: cst.FunctionDef, uses: Uses) -> None:
        """The helper takes the session as a keyword-only parameter; its opening and its
        closes go (the caller's dependency closes it)."""
        module, session = self._session_class()
        kind = self.file.imports.name_alias(function, module, session)
        assert kind is not None  # checked by can_give_session for its callers
        param = cst.Param(cst.Name(uses.name), cst.Annotation(cst.Name(kind.name)))

        def take(updated: cst.FunctionDef) -> cst.FunctionDef:
            params = updated.params
            star = params.star_arg
            if isinstance(star, cst.MaybeSentinel):
                star = cst.ParamStar()
            return updated.with_changes(
                params=params.with_changes(
                    star_arg=star, kwonly_params=[*params.kwonly_params, param]
                )
            )

        self.replace(
            function,
            take,
            f"its callers hand it the request's session: `{uses.name}`",
            needs=kind.needs,
        )
        self._strip(uses, "the caller's session is used")

    def _rewrite(self, function: cst.FunctionDef, uses: Uses) -> None:
        if not self.give_session(function, uses.name, uses.dependency, uses.opening):
            return
        self._strip(uses, "the session comes from the dependency", early=function)

    def _strip(self, uses: Uses, reason: str, early: cst.FunctionDef | None = None) -> None:
        """The opening statement, the ``close()`` lines and closing ``finally`` go; in
        ``early``, a ``close()`` that more work follows stays: it hands the connection
        back to the pool before that work (an HTTP call, say), which the dependency's
        close, after the response, would not."""
        assert uses.statement is not None
        self.replace(
            uses.statement,
            lambda updated: cst.RemovalSentinel.REMOVE,
            reason,
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
            if early is not None and _work_after(early, line):
                continue
            self.replace(
                line, lambda updated: cst.RemovalSentinel.REMOVE, "the dependency closes it"
            )
        for line in uses.passes:
            if early is not None and _work_after(early, line):
                continue
            self.replace(
                line,
                lambda updated: cst.SimpleStatementLine(
                    [cst.Pass()], leading_lines=updated.leading_lines
                ),
                "the dependency closes it",
            )
        for try_ in uses.finallies:
            self.replace(try_, _without_finally, "the dependency closes it: no `finally` needed")


def _work_after(function: cst.FunctionDef, line: cst.SimpleStatementLine) -> bool:
    """Whether a statement that can run after ``line`` in ``function`` awaits, or calls
    outside a ``return`` or ``raise`` (where the call only builds the answer). The
    statements after it in its block count, then those after the block's holder, until
    a block goes on to a ``return`` or ``raise``."""
    parents: dict[cst.CSTNode, cst.CSTNode] = {}

    class Parents(cst.CSTVisitor):
        def on_visit(self, node: cst.CSTNode) -> bool:
            for child in node.children:
                parents[child] = node
            return True

    function.visit(Parents())
    node: cst.CSTNode = line
    while node is not function and node in parents:
        holder = parents[node]
        body = list(holder.body) if isinstance(holder, cst.IndentedBlock) else []
        places = [i for i, statement in enumerate(body) if statement is node]
        if places:
            rest = body[places[0] + 1 :]
            if any(_works(statement) for statement in rest):
                return True
            if any(_ends(statement) for statement in rest):
                return False
        node = holder
    return False


def _ends(statement: cst.BaseStatement) -> bool:
    return isinstance(statement, cst.SimpleStatementLine) and any(
        isinstance(small, cst.Return | cst.Raise) for small in statement.body
    )


def _works(statement: cst.BaseStatement) -> bool:
    """Whether ``statement`` awaits, or calls outside a ``return`` or ``raise``."""

    class Finder(cst.CSTVisitor):
        found = False
        answering = 0

        def visit_Return(self, node: cst.Return) -> None:
            self.answering += 1

        def leave_Return(self, node: cst.Return) -> None:
            self.answering -= 1

        def visit_Raise(self, node: cst.Raise) -> None:
            self.answering += 1

        def leave_Raise(self, node: cst.Raise) -> None:
            self.answering -= 1

        def visit_Await(self, node: cst.Await) -> None:
            self.found = True

        def visit_Call(self, node: cst.Call) -> None:
            self.found = self.found or not self.answering

        def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
            return False  # a nested function's body runs elsewhere

        def visit_Lambda(self, node: cst.Lambda) -> bool:
            return False

    finder = Finder()
    statement.visit(finder)
    return finder.found


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


class _Definitions(cst.CSTVisitor):
    def __init__(self) -> None:
        super().__init__()
        self.defs: list[cst.FunctionDef] = []
        self.calls: list[cst.Call] = []

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.defs.append(node)

    def visit_Call(self, node: cst.Call) -> None:
        self.calls.append(node)


def _names_in(function: cst.FunctionDef) -> set[str]:
    names: set[str] = set()

    class Finder(cst.CSTVisitor):
        def visit_Name(self, node: cst.Name) -> None:
            names.add(node.value)

    function.visit(Finder())
    return names


def _within(node: cst.CSTNode, function: cst.FunctionDef) -> bool:
    """Whether ``node`` is in ``function``'s own body (not in a nested function)."""
    found = False

    class Finder(cst.CSTVisitor):
        def visit_FunctionDef(self, inner: cst.FunctionDef) -> bool:
            return inner is function

        def visit_Lambda(self, inner: cst.Lambda) -> bool:
            return False

        def on_visit(self, visited: cst.CSTNode) -> bool:
            nonlocal found
            if visited is node:
                found = True
            return super().on_visit(visited) and not found

    function.visit(Finder())
    return found


def _depends_parameter(function: cst.FunctionDef, dependency: str) -> str:
    """The parameter that takes a session from ``Depends(<dependency>)`` already."""
    short = dependency.rpartition(".")[2]
    params = function.params
    for param in (*params.posonly_params, *params.params, *params.kwonly_params):
        code = cst.Module([]).code_for_node(param)
        if f"Depends({short})" in code.replace(" ", ""):
            return param.name.value
    return ""
