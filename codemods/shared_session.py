"""VF201: a session made once at import and used by route handlers -> ``Depends(get_db)``."""

from __future__ import annotations

import libcst as cst
from libcst.metadata import QualifiedNameProvider, ScopeProvider

from vibefix.codemod import Codemod, PlanContext
from vibefix.cst.names import fully_qualified
from vibefix.sessions.facts import StateSessions, state_attribute
from vibefix.sessions.plan import SESSION_AT_TOP, SessionPlan, SharedPlan, plan_shared
from vibefix.sessions.rewrite import SessionCodemod
from vibefix.sessions.uses import shared_problem


class SharedSession(SessionCodemod[SharedPlan]):
    """Give route handlers that use a module-level session the request's own.

    Why: `db_session = SessionLocal()` at import makes one session for every request.
    Sessions are not thread-safe and FastAPI runs `def` handlers on 40 threads at once:
    concurrent requests interleave their queries and commits on one connection, see
    each other's uncommitted rows, and one request's error leaves the session in a
    failed transaction for everyone ("This Session's transaction has been rolled back")
    until the process restarts.

    Example:

        from app.database import db_session

        @router.get("/users")
        def list_users():
            return db_session.query(User).all()

    becomes

        from app.database import get_db

        @router.get("/users")
        def list_users(*, db_session: Annotated[Session, Depends(get_db)]):
            return db_session.query(User).all()

    The parameter keeps the name the handler used, so its body does not change; the
    dependency is the project's own (as for VF200). The module-level session stays
    where it is defined, for the code outside requests that may still use it.

    Safety: safe. Each request gets a session of the same factory, opened for it and
    closed after it; what one request does is no longer seen by another before it
    commits, and a failed transaction no longer outlives its request.

    Not rewritten: a handler that reaches the session other than by its own name
    (`database.db_session`, also), assigns to it, returns it, keeps it in a lambda or
    hands it to later work, is also called directly, opens a session of its own, or
    takes one from the dependency already (FastAPI would hand it the same session
    twice), or has a parameter of the same name (each a finding); a project with no
    dependency for the session's factory (a finding); a handler that only passes the
    session on (`crud.get(db_session)`) without calling a method of it.

    A session kept on `app.state` (`app.state.db = SessionLocal()`) is shared the same
    way: a handler that reads `request.app.state.db` takes the request's session
    instead, named as the line `db = request.app.state.db` named it (the line goes) or
    after the attribute. Two such sessions in one handler, or one it returns or stores,
    is a finding; the handlers of a module that imports no session are not read.
    """

    code = "VF201"
    # The dependency and the factory live in other modules: the plan reads them, and the
    # index must, even when no other codemod asks for them.
    follows_plan = True
    # A route module (it uses FastAPI) that imports a session, or makes one, at the top
    # level.
    triggers = (
        r"\bfastapi\b",
        SESSION_AT_TOP,
    )
    METADATA_DEPENDENCIES = (
        *Codemod.METADATA_DEPENDENCIES,
        QualifiedNameProvider,
        ScopeProvider,
    )
    collectors = (StateSessions,)

    @classmethod
    def plan_part(cls, context: PlanContext) -> SharedPlan:
        return plan_shared(context.index)

    def _written(self) -> frozenset[str]:
        """The dependencies VF200 writes in this run (none when it is not selected)."""
        sessions = self.plan.part(SessionPlan)
        return frozenset(sessions.created.values()) if sessions is not None else frozenset()

    def visit_Module(self, node: cst.Module) -> None:
        super().visit_Module(node)
        self._shared = self.part or SharedPlan()
        self._package = (
            self.file.module_name
            if self.file.path.name == "__init__.py"
            else self.file.module_name.rpartition(".")[0]
        )

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        key = self.key(node)
        if self._shared.state and key in self._shared.injected:
            self._from_state(node)
        blocked = self._shared.blocked.get(key)
        if blocked is not None:
            self.report(node, f"it uses the module-level session `{blocked[0]}`, but {blocked[1]}")
            return
        found = self._shared.users.get(key)
        if found is None:
            return
        session, dependency = found
        names = [name for name in _names(node) if session in self._qualified(name)]
        spelled = {name.value for name in names}
        dotted = any(
            session in self._qualified(attribute) for attribute in _attributes(node)
        )  # ``database.db_session``: it would stay the module's
        if not names or len(spelled) != 1 or dotted:
            self.report(
                node,
                f"it reaches the module-level session `{session}` other than by one name:"
                " give it the request's session by hand",
            )
            return
        (name,) = spelled
        if dependency in self._shared.created and dependency not in self._written():
            dependency = ""  # VF200 would write it, and it does not run or may not here
        if not dependency:
            self.report(
                names[0],
                f"it uses the module-level session `{session}`, and no dependency yields"
                " one of its factory: define `get_db` next to the factory",
            )
            return
        short = dependency.rpartition(".")[2]
        if short in cst.Module([]).code_for_node(node.params):
            self.report(
                names[0],
                f"it already takes a session from `{short}`: FastAPI would hand it the same"
                " one twice; use that one by hand",
            )
            return
        problem = shared_problem(node, name)
        if problem:
            self.report(names[0], problem)
            return
        self.give_session(node, name, dependency, names[0], drops=names)

    def _from_state(self, node: cst.FunctionDef) -> None:
        """A handler that uses the session kept on ``app.state`` (``request.app.state.db``)
        takes the request's instead."""
        state = self._shared.state
        reads = [
            attribute
            for attribute in _attributes(node)
            if state_attribute(attribute) in state and _on_app(attribute)
        ]
        if not reads:
            return
        kept = {state_attribute(attribute) for attribute in reads}
        if len(kept) != 1:
            self.report(reads[0], "it uses two sessions kept on `app.state`: left")
            return
        (attribute,) = kept
        dependency = state[attribute]
        if not dependency or (
            dependency in self._shared.created and dependency not in self._written()
        ):
            self.report(
                reads[0],
                f"it uses the session kept on `app.state.{attribute}`, and no dependency"
                " yields one of its factory: define `get_db` next to the factory",
            )
            return
        # ``db = request.app.state.db``: the parameter takes that name, the line goes.
        alias, line = _alias_line(node, reads)
        name = alias or attribute
        copy = node.visit(_Replaced(set(reads), name, line))
        assert isinstance(copy, cst.FunctionDef)
        problem = shared_problem(copy, name)
        if problem:
            self.report(reads[0], f"it uses the session kept on `app.state.{attribute}`: {problem}")
            return
        if not self.give_session(node, name, dependency, reads[0]):
            return
        named = cst.Name(name)
        for read in reads:
            if line is not None and _assigned_by(line) is read:
                continue  # the line goes whole
            self.replace(
                read,
                lambda updated: named,
                "the request's session, not the one kept on `app.state`",
            )
        if line is not None:
            self.replace(
                line,
                lambda updated: cst.RemovalSentinel.REMOVE,
                "the request's session comes from the dependency",
            )

    def _qualified(self, node: cst.CSTNode) -> set[str]:
        qualified = self.get_metadata(QualifiedNameProvider, node, set())
        return {fully_qualified(q, self.file.module_name, self._package) for q in qualified}


def _attributes(function: cst.FunctionDef) -> list[cst.Attribute]:
    class Finder(cst.CSTVisitor):
        def __init__(self) -> None:
            super().__init__()
            self.found: list[cst.Attribute] = []

        def visit_Attribute(self, node: cst.Attribute) -> None:
            self.found.append(node)

    finder = Finder()
    function.body.visit(finder)
    return finder.found


def _names(function: cst.FunctionDef) -> list[cst.Name]:
    class Finder(cst.CSTVisitor):
        def __init__(self) -> None:
            super().__init__()
            self.names: list[cst.Name] = []

        def visit_Name(self, node: cst.Name) -> None:
            self.names.append(node)

    finder = Finder()
    function.body.visit(finder)
    return finder.names


def _on_app(node: cst.Attribute) -> bool:
    """Whether ``node`` is ``app.state.X`` or ``<...>.app.state.X`` (``request.app``)."""
    assert isinstance(node.value, cst.Attribute)
    owner = node.value.value
    return (isinstance(owner, cst.Name) and owner.value == "app") or (
        isinstance(owner, cst.Attribute) and owner.attr.value == "app"
    )


def _alias_line(
    function: cst.FunctionDef, reads: list[cst.Attribute]
) -> tuple[str, cst.SimpleStatementLine | None]:
    """``("db", line)`` when the function's body starts using the session with a line
    ``db = request.app.state.db`` of its own; ``("", None)`` otherwise."""
    body = function.body
    if not isinstance(body, cst.IndentedBlock):
        return "", None
    for statement in body.body:
        if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
            continue
        small = statement.body[0]
        if (
            isinstance(small, cst.Assign)
            and len(small.targets) == 1
            and isinstance(small.targets[0].target, cst.Name)
            and any(small.value is read for read in reads)
        ):
            return small.targets[0].target.value, statement
    return "", None


def _assigned_by(line: cst.SimpleStatementLine) -> cst.BaseExpression | None:
    """The value of the line ``db = request.app.state.db`` that ``_alias_line`` found."""
    small = line.body[0]
    return small.value if isinstance(small, cst.Assign) else None


class _Replaced(cst.CSTTransformer):
    """The function as it would be: the reads named ``name``, the alias line gone."""

    def __init__(
        self, reads: set[cst.Attribute], name: str, line: cst.SimpleStatementLine | None
    ) -> None:
        super().__init__()
        self.reads = reads
        self.name = name
        self.line = line

    def leave_Attribute(
        self, original_node: cst.Attribute, updated_node: cst.Attribute
    ) -> cst.BaseExpression:
        return cst.Name(self.name) if original_node in self.reads else updated_node

    def leave_SimpleStatementLine(
        self, original_node: cst.SimpleStatementLine, updated_node: cst.SimpleStatementLine
    ) -> cst.SimpleStatementLine | cst.RemovalSentinel:
        return cst.RemovalSentinel.REMOVE if original_node is self.line else updated_node
