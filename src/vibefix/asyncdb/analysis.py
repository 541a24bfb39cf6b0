"""VF203's analysis: can the project's SQLAlchemy code move to ``AsyncSession``, and what
changes where.

All or nothing: once the engine is async, every session of it is an ``AsyncSession``,
and one call left unawaited anywhere is a bug (a coroutine never run, or
``MissingGreenlet``). So each file's facts (``scan``) name every place a session, a
query or an ORM object is used, and the plan (``plan_async_db``) migrates the project
only when every one of them can be rewritten. Otherwise nothing changes and each
obstacle is a finding.

A session is a name bound to one: a parameter annotated ``Session`` or given by
``Depends(dep)`` where ``dep`` is a session dependency, ``db = SessionLocal()``, ``with
SessionLocal() as db``, or a module-level ``db = SessionLocal()``. Its I/O methods are
awaited, a legacy ``db.query(...)`` chain becomes a 2.0 statement run by ``execute``,
``scalars`` or ``scalar``. An ORM object loaded in async code cannot lazy-load a
relationship (``MissingGreenlet``): each relationship read on an object (in the
function, in a helper it is passed to, or by the handler's ``response_model``) is
loaded with the query that loads the object (``selectinload``), or by a ``refresh``
naming it; a read VF203 cannot tie to a load is an obstacle.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import libcst as cst
from libcst.metadata import PositionProvider

from vibefix.codemod import Collector, FileContext, PlanPart
from vibefix.engine.index import ProjectIndex
from vibefix.known.blocking import Entry, Kind

UNSEEN = "?unseen:"
"""Marks a read by a function or class of the project that VF203 has not read."""
Span = tuple[int, int, int, int]
"""A node's start line, start column (1-based), end line and end column."""
Key = tuple[Path, int, int, int, int]

SESSION_TYPES = frozenset({"sqlalchemy.orm.Session", "sqlalchemy.orm.session.Session"})
ENGINE_CALLS = frozenset({"sqlalchemy.create_engine", "sqlalchemy.engine.create_engine"})
MAKER_CALLS = frozenset({"sqlalchemy.orm.sessionmaker", "sqlalchemy.orm.session.sessionmaker"})
RELATIONSHIP_CALLS = frozenset(
    {"sqlalchemy.orm.relationship", "sqlalchemy.orm.relationships.relationship"}
)
DEPENDS = frozenset({"fastapi.Depends", "fastapi.params.Depends"})
SESSION_PREFIXES = (
    "sqlalchemy.orm.Session()",
    "sqlalchemy.orm.session.Session()",
    "sqlalchemy.orm.sessionmaker()()",
    "sqlalchemy.orm.session.sessionmaker()()",
)
"""What the index calls a session in a call target."""

AWAITED = frozenset(
    {
        "execute",
        "scalar",
        "scalars",
        "commit",
        "rollback",
        "flush",
        "refresh",
        "delete",
        "get",
        "get_one",
        "merge",
        "close",
        "stream",
        "stream_scalars",
        "invalidate",
        "reset",
    }
)
"""``AsyncSession`` methods that are coroutines."""
SYNC_METHODS = frozenset(
    {"add", "add_all", "expunge", "expunge_all", "expire", "expire_all", "is_modified"}
    | {"in_transaction", "in_nested_transaction", "get_bind", "get_transaction"}
)
"""``AsyncSession`` methods that stay plain calls."""
SYNC_ATTRIBUTES = frozenset(
    {"new", "dirty", "deleted", "identity_map", "info", "is_active", "no_autoflush", "bind"}
)
QUERY_STEPS = {
    "filter": "where",
    "where": "where",
    "filter_by": "filter_by",
    "order_by": "order_by",
    "limit": "limit",
    "offset": "offset",
    "join": "join",
    "outerjoin": "outerjoin",
    "options": "options",
    "group_by": "group_by",
    "having": "having",
    "distinct": "distinct",
    "select_from": "select_from",
}
"""Legacy ``Query`` methods and the ``Select`` methods they become."""
TERMINALS = frozenset(
    {"all", "first", "one", "one_or_none", "scalar", "count", "get", "delete", "update"}
)
"""``Query`` methods that run it."""
LOADS = frozenset({"first", "one", "one_or_none", "scalar", "get"})
"""Terminals that return one object."""
JOINS = frozenset({"join", "outerjoin", "select_from"})


# -- facts ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Site:
    """A place a session is used: rewritten (``problem`` empty), or an obstacle."""

    span: Span
    function: Span
    """The innermost ``def`` around it: it must be ``async def`` after the run."""
    awaits: bool = True
    """It puts an ``await`` (or ``async with``) in ``function``."""
    problem: str = ""


@dataclass(frozen=True)
class QueryFact:
    """A legacy query run (its terminal call), or a query kept in a variable."""

    span: Span
    session: str
    entities: tuple[tuple[str, ...], ...]
    """The qualified names each argument of ``query(...)`` may be."""
    terminal: str
    """The method that runs it; ``""`` for a query assigned to a variable."""
    joined: bool
    model: str = ""
    """The code of ``query(Model)``'s argument, also for a query kept in a variable."""
    options: str = ""
    """The code of its ``.options(...)`` arguments (loaders the query sets already)."""


@dataclass(frozen=True)
class SessionFacts:
    """One name bound to a session in a function, and where it is used."""

    name: str
    source: str
    """``typed``; ``dep:app.database.get_db``; ``made:app.database.SessionLocal``;
    ``global:app.database.db_session``."""
    sites: tuple[Site, ...]
    queries: tuple[QueryFact, ...] = ()


@dataclass(frozen=True)
class FunctionDb:
    """One module-level function or method (nested functions included)."""

    qualname: str
    span: Span
    params: tuple[str, ...]
    sessions: tuple[SessionFacts, ...] = ()
    origins: tuple[tuple[str, str], ...] = ()
    """Where the ORM objects in its variables come from: ``q:L:C`` (a query run at
    that position), ``all:L:C`` (the list it returned), ``get:L:C:Model`` (``db.get``),
    ``new:Model``, ``param:N``, ``elem:var`` (an item of ``var``), ``?`` (anything)."""
    touches: tuple[tuple[str, str, int, int], ...] = ()
    """``var.attr`` read (not called): variable, attribute, line, column."""
    passes: tuple[tuple[tuple[str, ...], int, str, int, int], ...] = ()
    """``f(var)``: what ``f`` may be, the argument's index, the variable, position."""
    refreshes: tuple[tuple[str, Span], ...] = ()
    returns: tuple[str, ...] = ()
    """What it returns: variables, or ``q:L:C`` for a query run in the ``return``."""
    response: tuple[str, ...] = ()
    """The ``response_model`` of its route decorator (``List[...]`` unwrapped)."""
    annotated: tuple[tuple[str, str], ...] = ()
    """Parameters annotated with a plain name, and what it names."""
    expiries: tuple[tuple[str, int], ...] = ()
    flushes: tuple[int, ...] = ()
    end: int = 0
    """Its last line."""
    decorators: tuple[str, ...] = ()


@dataclass(frozen=True)
class DbFacts:
    engines: tuple[tuple[str, Span, str], ...] = ()
    """Module-level ``engine = create_engine(url...)``: name, call span, the URL's
    problem (``""`` when VF203 can map it)."""
    makers: tuple[tuple[str, Span, str], ...] = ()
    """Module-level ``SessionLocal = sessionmaker(...)``: name, call span, problem."""
    models: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()
    """ORM classes: qualified name, relationships (attribute, target class name)."""
    schemas: tuple[tuple[str, tuple[tuple[str, tuple[str, ...]], ...]], ...] = ()
    """Other classes: qualified name, annotated fields with the classes their
    annotation names."""
    functions: tuple[FunctionDb, ...] = ()
    module_uses: tuple[tuple[str, Span, str], ...] = ()
    """Module-level uses of a name that may be a session or engine: name (qualified),
    span, what it is (``create_all`` for ``X.metadata.create_all(bind=engine)``)."""
    apps: tuple[tuple[Span, Span, tuple[str, ...]], ...] = ()
    """``app = FastAPI(...)``: statement span, call span, keyword names."""
    lifespans: tuple[str, ...] = ()
    """For each app, what its ``lifespan=`` names: a qualified name, ``?`` for any other
    expression, ``""`` when it has none."""
    loading: tuple[tuple[str, str, str, str], ...] = ()
    """Relationship options: model, attribute, ``lazy=`` value (``""`` when not given),
    ``backref=`` name (``""`` when none)."""
    aliases: tuple[str, ...] = ()
    """Module-level names that stand for the session type (``DbDep = Annotated[Session,
    Depends(get_db)]``)."""
    arguments: tuple[tuple[str, Span, str], ...] = ()
    """Names handed to a call as arguments: qualified name, span, what is called (an
    engine handed to ``pd.read_sql`` or to ``create_all`` in a function)."""
    problems: tuple[tuple[Span, str], ...] = ()
    """Obstacles found in the file alone (``scoped_session``)."""
    columns: tuple[tuple[str, str, str], ...] = ()
    """Model attributes read with I/O later: model, attribute, ``deferred`` or
    ``onupdate`` (set by the database on update)."""
    test_clients: tuple[tuple[Span, bool], ...] = ()
    """``TestClient(...)`` calls, and whether a ``with`` enters them (runs the lifespan)."""
    state: tuple[tuple[str, str, Span], ...] = ()
    """``<...>.state.NAME = Factory()``: the attribute, what is called, where."""
    state_reads: tuple[tuple[str, Span], ...] = ()
    """Reads of ``app.state.NAME`` / ``request.app.state.NAME``, anywhere."""


# -- scanning one file ----------------------------------------------------------------

Qualify = Callable[[cst.CSTNode], tuple[str, ...]]
Locate = Callable[[cst.CSTNode], Span]


def dotted(node: cst.BaseExpression) -> str | None:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        owner = dotted(node.value)
        return f"{owner}.{node.attr.value}" if owner else None
    return None


def query_chain(call: cst.Call) -> tuple[cst.Name, list[cst.Call]] | None:
    """``(receiver, [first, ..., last])`` for ``receiver.m1(...).m2(...)...``, each
    ``m`` a method call; None for anything else."""
    calls: list[cst.Call] = []
    node: cst.BaseExpression = call
    while isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
        calls.append(node)
        node = node.func.value
    if not calls or not isinstance(node, cst.Name):
        return None
    return node, calls[::-1]


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


class _Scan(cst.CSTVisitor):
    """Sessions, queries and ORM objects in one top-level function."""

    def __init__(self, function: cst.FunctionDef, qualify: Qualify, locate: Locate) -> None:
        super().__init__()
        self.qualify = qualify
        self.locate = locate
        self.function = function
        self.defs: list[cst.FunctionDef] = []
        self.candidates: dict[str, str] = {}
        self.annotated: dict[str, str] = {}
        """Parameters annotated with a plain name: what it names."""
        self.line: cst.CSTNode | None = None
        """The statement line being walked."""
        self.expiries: list[tuple[str, int]] = []
        """``rollback``/``expire``/``expire_all`` calls: every object read after them
        reloads (lazily)."""
        self.flushes: list[int] = []
        """The lines of ``commit``/``flush`` calls."""
        self.locals: set[str] = set()
        self.sites: dict[str, list[Site]] = {}
        self.queries: dict[str, list[QueryFact]] = {}
        self.query_vars: dict[str, str] = {}
        """Variables holding a legacy query: the session that made it."""
        self.handled: set[cst.CSTNode] = set()
        self.origins: dict[str, str] = {}
        self.touches: list[tuple[str, str, int, int]] = []
        self.passes: list[tuple[tuple[str, ...], int, str, int, int]] = []
        self.refreshes: list[tuple[str, Span]] = []
        self.returns: list[str] = []
        self.called: set[cst.CSTNode] = set()
        self.assigned: set[cst.CSTNode] = set()
        self._assigned_to: dict[cst.CSTNode, str] = {}
        """Query chains assigned to a variable (``q = db.query(M)``)."""
        self.shapes: dict[cst.CSTNode, tuple[tuple[tuple[str, ...], ...], bool, str]] = {}
        self.query_shapes: dict[str, tuple[tuple[tuple[str, ...], ...], bool, str]] = {}
        """For each variable holding a query: what it selects, whether it joins, the
        code of its model."""
        self.options_of: dict[cst.CSTNode, str] = {}
        self.query_options: dict[str, str] = {}
        self.var_uses: set[cst.CSTNode] = set()
        """References to query variables that are fine: the receivers of query chains and
        the targets they are assigned to."""

    # -- sessions --------------------------------------------------------------------

    def find_sessions(self) -> None:
        """The names bound to a session, before the walk that classifies their uses."""
        params = self.function.params
        for param in (*params.posonly_params, *params.params, *params.kwonly_params):
            source = self._param_source(param)
            if source:
                self.candidates[param.name.value] = source
        finder = _Bindings(self.qualify)
        self.function.body.visit(finder)
        for name, source in finder.bound.items():
            self.candidates.setdefault(name, source)
        self.locals = finder.local | {
            p.name.value for p in (*params.posonly_params, *params.params, *params.kwonly_params)
        }
        for name in finder.receivers - set(self.candidates) - finder.local:
            qualified = self.qualify_name(name)
            if qualified:
                self.candidates[name] = f"global:{qualified}"

    def qualify_name(self, name: str) -> str:
        for node in _names(self.function.body, name):
            names = self.qualify(node)
            if len(names) == 1 and "<locals>" not in names[0]:
                return names[0]
            return ""
        return ""

    def _param_source(self, param: cst.Param) -> str:
        kinds: list[cst.BaseExpression] = []
        if param.annotation is not None:
            kinds = unwrap_annotation(param.annotation.annotation, self.qualify)
        if param.default is not None:
            kinds.append(param.default)
        for node in kinds:
            if set(self.qualify(node)) & SESSION_TYPES:
                return "typed"
        annotation = param.annotation.annotation if param.annotation is not None else None
        if isinstance(annotation, cst.Name | cst.Attribute):
            names = self.qualify(annotation)
            if len(names) == 1:
                self.annotated[param.name.value] = names[0]  # perhaps an alias of Session
        for node in kinds:
            if (
                isinstance(node, cst.Call)
                and set(self.qualify(node.func)) & DEPENDS
                and node.args
                and node.args[0].keyword is None
            ):
                names = self.qualify(node.args[0].value)
                if len(names) == 1:
                    return f"dep:{names[0]}"
        return ""

    # -- the walk --------------------------------------------------------------------

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.defs.append(node)

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self.defs.pop()

    def _site(self, node: cst.CSTNode, problem: str = "", awaits: bool = True) -> Site:
        span = self.locate(node)
        inner = self.defs[-1] if self.defs else self.function
        return Site(span, self.locate(inner), awaits, problem)

    def _add(self, name: str, site: Site) -> None:
        self.sites.setdefault(name, []).append(site)

    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
        self.line = node

    def visit_SimpleStatementSuite(self, node: cst.SimpleStatementSuite) -> None:
        self.line = node

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        for name in self.candidates:
            for found in _names(node, name):
                self._add(
                    name, self._site(found, "it is used in a lambda, where `await` cannot go")
                )
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        # A class body runs once, when the function defines it: no `await` there.
        for name in self.candidates:
            for found in _names(node.body, name):
                self._add(
                    name, self._site(found, "it is used in a class body, where `await` cannot go")
                )
        return False

    def visit_GeneratorExp(self, node: cst.GeneratorExp) -> bool:
        for name in self.candidates:
            for found in _names(node, name):
                self._add(
                    name,
                    self._site(
                        found, "it is used in a generator expression, where `await` cannot go"
                    ),
                )
        return True

    def visit_With(self, node: cst.With) -> None:
        for item in node.items:
            asname = item.asname.name if item.asname else None
            if (
                isinstance(item.item, cst.Call)
                and isinstance(asname, cst.Name)
                and self.candidates.get(asname.value, "").startswith("made:")
            ):
                self.handled.add(item.item)
                self._add(asname.value, self._site(node))
                if node.asynchronous is None and len(node.items) > 1:
                    self._add(
                        asname.value,
                        self._site(node, "the `with` opens other things too: split it first"),
                    )

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if isinstance(func, cst.Name | cst.Attribute):
            self.called.add(func)
        if node in self.handled:
            return
        chain = query_chain(node)
        if chain is not None:
            receiver, calls = chain
            name = receiver.value
            if name in self.candidates and method(calls[0]) == "query":
                self._query(name, receiver, calls, node)
            elif name in self.candidates and calls[0] is node:
                self._session_call(name, node)
            elif name in self.query_vars:
                self._query(self.query_vars[name], receiver, calls, node)
        self._orm_call(node)

    def _session_call(self, name: str, node: cst.Call) -> None:
        verb = method(node)
        if verb in AWAITED:
            self._add(name, self._site(node))
            first = node.args[0].value if len(node.args) == 1 else None
            if verb == "refresh" and isinstance(first, cst.Name):
                line = self.line
                alone = (
                    isinstance(line, cst.SimpleStatementLine)
                    and len(line.body) == 1
                    and isinstance(line.body[0], cst.Expr)
                    and line.body[0].value is node
                )
                # A refresh VF203 can follow with a second one only as a line of its own.
                marker = "" if alone else "!"
                self.refreshes.append((f"{marker}{first.value}", self.locate(node)))
        elif verb not in SYNC_METHODS and verb != "query":
            self._add(name, self._site(node, f"no rewrite for `{name}.{verb}()`"))
        line_number = self.locate(node)[0]
        if verb in ("rollback", "expire", "expire_all"):
            self.expiries.append((verb, line_number))
        if verb in ("commit", "flush"):
            self.flushes.append(line_number)

    def _query(
        self, session: str, receiver: cst.Name, calls: list[cst.Call], node: cst.Call
    ) -> None:
        """``node`` is the outermost call of a query chain (inner ones are marked handled)."""
        self.handled.update(calls)
        starts_at_query = receiver.value == session
        steps = calls[1:] if starts_at_query else calls
        last = method(steps[-1]) if steps else ""
        terminal = last if last in TERMINALS else ""
        middle = steps[:-1] if terminal else steps
        entities: tuple[tuple[str, ...], ...] = ()
        joined = any(method(step) in JOINS for step in middle)
        options = " ".join(
            cst.Module([]).code_for_node(arg.value)
            for step in middle
            if method(step) == "options"
            for arg in step.args
        )
        model = ""
        if starts_at_query:
            entities = tuple(
                self.qualify(arg.value) if arg.keyword is None and not arg.star else ("?",)
                for arg in calls[0].args
            )
            if len(calls[0].args) == 1:
                model = cst.Module([]).code_for_node(calls[0].args[0].value)
        else:  # a query kept in a variable: what the query that made it selects
            entities, was_joined, model = self.query_shapes.get(receiver.value, ((), False, ""))
            joined = joined or was_joined
            options = " ".join([self.query_options.get(receiver.value, ""), options])
        self.shapes[node] = (entities, joined, model)
        self.options_of[node] = options
        if receiver.value in self.query_vars:
            self.var_uses.add(receiver)
        bad = [method(step) for step in middle if method(step) not in QUERY_STEPS]
        problem = ""
        if bad:
            problem = f"no rewrite for the query method `.{bad[0]}()`"
        elif terminal == "get" and (middle or not starts_at_query or len(calls[0].args) != 1):
            problem = "`.get()` after other query methods has no 2.0 twin"
        elif terminal in ("delete", "update") and (
            any(method(s) not in ("filter", "filter_by", "where") for s in middle)
            or not starts_at_query
            or len(calls[0].args) != 1
            or any(
                arg.keyword is not None and arg.keyword.value != "synchronize_session"
                for arg in steps[-1].args
            )
            or len([a for a in steps[-1].args if a.keyword is None])
            != (1 if terminal == "update" else 0)
        ):
            problem = f"`.{terminal}()` is rewritten only after `filter` on one model"
        elif not terminal and node not in self.assigned:
            problem = "a legacy query used other than assigned to a variable or run"
        span = self.locate(node)
        self.queries.setdefault(session, []).append(
            QueryFact(span, session, entities, terminal, joined, model, options.strip())
        )
        self._add(session, self._site(node, problem, awaits=bool(terminal)))

    def visit_Assign(self, node: cst.Assign) -> None:
        assigned = node.targets[0].target
        if len(node.targets) != 1 or not isinstance(assigned, cst.Name):
            for each in node.targets:
                for name in self.candidates:
                    for found in _names(each.target, name):
                        self._add(name, self._site(found, "it is stored"))
            return
        target = assigned.value
        value = node.value
        chain = query_chain(value) if isinstance(value, cst.Call) else None
        if chain is not None:
            receiver, calls = chain
            root = receiver.value
            session = (
                root
                if root in self.candidates and method(calls[0]) == "query"
                else self.query_vars.get(root, "")
            )
            if session and method(calls[-1]) not in TERMINALS:
                self.query_vars[target] = session
                self.assigned.add(value)
                self._assigned_to[value] = target
                return
        self.origins[target] = self._origin(value)

    def leave_Assign(self, original_node: cst.Assign) -> None:
        target = self._assigned_to.get(original_node.value)
        if target is not None and original_node.value in self.shapes:
            entities, joined, model = self.shapes[original_node.value]
            # A query refined in a branch (``if x: q = q.join(...)``): what any
            # assignment says holds from there on.
            _, was_joined, _ = self.query_shapes.get(target, ((), False, ""))
            self.query_shapes[target] = (entities, joined or was_joined, model)
            self.query_options[target] = " ".join(
                [self.query_options.get(target, ""), self.options_of.get(original_node.value, "")]
            ).strip()
            self.var_uses.add(original_node.targets[0].target)

    def misused_queries(self) -> None:
        """A query variable used as anything but a query (iterated, handed on, returned):
        a 2.0 statement is no result."""
        for name, session in self.query_vars.items():
            for found in _names(self.function.body, name):
                if found not in self.var_uses:
                    self._add(
                        session,
                        self._site(
                            found,
                            f"the legacy query `{name}` is used as a result (iterated,"
                            " handed on or returned): VF203 rewrites only queries that"
                            " a call like `.all()` runs",
                        ),
                    )

    def _origin(self, value: cst.BaseExpression) -> str:
        if isinstance(value, cst.Await):
            value = value.expression
        if isinstance(value, cst.Call):
            chain = query_chain(value)
            if chain is not None:
                receiver, calls = chain
                root = receiver.value
                last = method(calls[-1])
                line, column, _, _ = self.locate(value)
                if (root in self.candidates and method(calls[0]) == "query") or (
                    root in self.query_vars
                ):
                    if last == "all":
                        return f"all:{line}:{column}"
                    if last in LOADS:
                        return f"q:{line}:{column}"
                elif root in self.candidates and len(calls) == 1 and last in ("get", "get_one"):
                    names = self.qualify(value.args[0].value) if value.args else ()
                    if len(names) == 1:
                        return f"get:{line}:{column}:{names[0]}"
            names = self.qualify(value.func)
            if len(names) == 1:
                return f"new:{names[0]}"
        return "?"

    def visit_For(self, node: cst.For) -> None:
        if isinstance(node.target, cst.Name):
            source = node.iter
            if isinstance(source, cst.Name):
                self.origins[node.target.value] = f"elem:{source.value}"
            elif isinstance(source, cst.Attribute) and isinstance(source.value, cst.Name):
                self.origins[node.target.value] = f"elem:{source.value.value}.{source.attr.value}"
            else:
                self.origins[node.target.value] = "?"

    def visit_CompFor(self, node: cst.CompFor) -> None:
        if isinstance(node.target, cst.Name):
            source = node.iter
            if isinstance(source, cst.Name):
                self.origins[node.target.value] = f"elem:{source.value}"
            elif isinstance(source, cst.Attribute) and isinstance(source.value, cst.Name):
                self.origins[node.target.value] = f"elem:{source.value.value}.{source.attr.value}"
            else:
                self.origins[node.target.value] = "?"

    def visit_Return(self, node: cst.Return) -> None:
        value = node.value
        if isinstance(value, cst.Await):
            value = value.expression
        if value is None or (isinstance(value, cst.Name) and value.value == "None"):
            return
        if isinstance(value, cst.Name):
            self.returns.append(value.value)
        elif isinstance(value, cst.Call):
            origin = self._origin(value)
            if origin.startswith("new:"):
                self.returns.append(origin)  # what a helper returns, handed on
            else:
                line, column, _, _ = self.locate(value)
                self.returns.append(f"q:{line}:{column}")
        else:
            self.returns.append("?")

    def visit_Attribute(self, node: cst.Attribute) -> None:
        inner = node.value
        if (
            isinstance(inner, cst.Attribute)
            and isinstance(inner.value, cst.Name)
            and node not in self.called
        ):
            # ``order.user.orders``: a relationship of a relationship.
            line, column, _, _ = self.locate(node)
            self.touches.append(
                (inner.value.value, f"{inner.attr.value}.{node.attr.value}", line, column)
            )
        if not isinstance(node.value, cst.Name):
            return
        name = node.value.value
        attr = node.attr.value
        if node in self.called:
            return
        if name in self.candidates:
            if attr not in SYNC_ATTRIBUTES:
                self._add(name, self._site(node, f"no rewrite for `{name}.{attr}`"))
            return
        line, column, _, _ = self.locate(node)
        self.touches.append((name, attr, line, column))

    def _orm_call(self, node: cst.Call) -> None:
        names = self.qualify(node.func) if isinstance(node.func, cst.Name | cst.Attribute) else ()
        func = node.func
        root = func
        while isinstance(root, cst.Attribute):
            root = root.value
        if isinstance(root, cst.Name) and (
            root.value in self.locals or root.value in self.origins or root.value in self.candidates
        ):
            names = ()  # a method of a local object (``db.add``, ``items.append``)
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name):
            # ``order.to_dict()``: ``order`` is ``self`` of a method of its model.
            line, column, _, _ = self.locate(func.value)
            self.passes.append(((f"method:{func.attr.value}",), 0, func.value.value, line, column))
        for index, arg in enumerate(node.args):
            value = arg.value
            if not isinstance(value, cst.Name):
                # Anything else handed on (``f(load(db))``): what it holds is unknown.
                line, column, _, _ = self.locate(value)
                keyed = names
                if arg.keyword is not None:
                    keyed = tuple(f"{n}:{arg.keyword.value}" for n in names)
                position = -2 if arg.keyword is not None else (-1 if arg.star else index)
                self.passes.append((keyed, position, "?arg", line, column))
                continue
            keyed = names
            if arg.star:
                index = -1
            elif arg.keyword is not None:
                keyed = tuple(f"{n}:{arg.keyword.value}" for n in names)
                index = -2
            line, column, _, _ = self.locate(value)
            if value.value in self.candidates and not (
                isinstance(node.func, cst.Attribute)
                and isinstance(node.func.value, cst.Name)
                and node.func.value.value in self.candidates
            ):
                # A session handed on: a helper that takes it as ``Session`` is rewritten
                # with it; anything else would get an AsyncSession it cannot use.
                self._add(
                    value.value,
                    self._site(
                        value,
                        ""
                        if names
                        else f"`{value.value}` is handed to something VF203 cannot follow",
                        awaits=False,
                    ),
                )
                self.passes.append((keyed, index, f"session:{value.value}", line, column))
            self.passes.append((keyed, index, value.value, line, column))


def _names(tree: cst.CSTNode, name: str) -> list[cst.Name]:
    found: list[cst.Name] = []

    class _Find(cst.CSTVisitor):
        def visit_Name(self, node: cst.Name) -> None:
            if node.value == name:
                found.append(node)

        def visit_Attribute(self, node: cst.Attribute) -> bool:
            node.value.visit(self)  # ``x.name`` is no use of ``name``
            return False

        def visit_Arg(self, node: cst.Arg) -> bool:
            node.value.visit(self)  # nor is ``f(name=...)``
            return False

    tree.visit(_Find())
    return found


class _Bindings(cst.CSTVisitor):
    """``db = Factory()`` and ``with Factory() as db`` in a function, and the names
    called like sessions (``x.query(...)``, ``x.commit()``)."""

    def __init__(self, qualify: Qualify) -> None:
        super().__init__()
        self.qualify = qualify
        self.bound: dict[str, str] = {}
        self.local: set[str] = set()
        self.receivers: set[str] = set()

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            if isinstance(target.target, cst.Name):
                self.local.add(target.target.value)
                made = self._made(node.value)
                if made:
                    self.bound[target.target.value] = made

    def visit_WithItem(self, node: cst.WithItem) -> None:
        if node.asname is not None and isinstance(node.asname.name, cst.Name):
            self.local.add(node.asname.name.value)
            made = self._made(node.item)
            if made:
                self.bound[node.asname.name.value] = made

    def _made(self, value: cst.BaseExpression) -> str:
        if isinstance(value, cst.Call) and not value.args and dotted(value.func):
            names = self.qualify(value.func)
            if len(names) == 1:
                return f"made:{names[0]}"
        return ""

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if (
            isinstance(func, cst.Attribute)
            and isinstance(func.value, cst.Name)
            and (func.attr.value in AWAITED | {"query", "add", "add_all"})
        ):
            self.receivers.add(func.value.value)


def scan_function(
    function: cst.FunctionDef, qualname: str, qualify: Qualify, locate: Locate
) -> _Scan:
    scan = _Scan(function, qualify, locate)
    scan.find_sessions()
    function.body.visit(scan)
    scan.misused_queries()
    return scan


def function_facts(scan: _Scan, qualname: str, response: tuple[str, ...]) -> FunctionDb:
    params = scan.function.params
    names = tuple(p.name.value for p in (*params.posonly_params, *params.params))
    return FunctionDb(
        qualname,
        scan.locate(scan.function),
        names,
        tuple(
            SessionFacts(
                name, source, tuple(scan.sites.get(name, ())), tuple(scan.queries.get(name, ()))
            )
            for name, source in sorted(scan.candidates.items())
        ),
        tuple(sorted(scan.origins.items())),
        # ``Book.author`` on a class (a join, a loader option) loads nothing.
        tuple(t for t in scan.touches if t[0] in scan.locals or t[0] in scan.origins),
        tuple(scan.passes),
        tuple(scan.refreshes),
        tuple(scan.returns),
        response,
        tuple(sorted(scan.annotated.items())),
        tuple(scan.expiries),
        tuple(scan.flushes),
        scan.locate(scan.function)[2],
        tuple(
            name
            for decorator in scan.function.decorators
            for name in (dotted(decorator.decorator) or "",)
            if name
        ),
    )


class FileScan(Collector[DbFacts]):
    """The module-level facts of one file, and each function's."""

    def __init__(self, file: FileContext) -> None:
        super().__init__(file)
        self.qualify: Qualify = self.qualified
        self.locate: Locate = self._locate
        self.engines: list[tuple[str, Span, str]] = []
        self.makers: list[tuple[str, Span, str]] = []
        self.models: list[tuple[str, tuple[tuple[str, str], ...]]] = []
        self.schemas: list[tuple[str, tuple[tuple[str, tuple[str, ...]], ...]]] = []
        self.functions: list[FunctionDb] = []
        self.module_uses: list[tuple[str, Span, str]] = []
        self.apps: list[tuple[Span, Span, tuple[str, ...]]] = []
        self.lifespans: list[str] = []
        self.loading: list[tuple[str, str, str, str]] = []
        self.aliases: list[str] = []
        self.arguments: list[tuple[str, Span, str]] = []
        self.problems: list[tuple[Span, str]] = []
        self.columns: list[tuple[str, str, str]] = []
        self.test_clients: list[tuple[Span, bool]] = []
        self.state: list[tuple[str, str, Span]] = []
        self.state_reads: list[tuple[str, Span]] = []
        self._classes: list[str] = []

    def _locate(self, node: cst.CSTNode) -> Span:
        where = self.get_metadata(PositionProvider, node)
        return (where.start.line, where.start.column + 1, where.end.line, where.end.column + 1)

    def facts(self) -> DbFacts:
        return DbFacts(
            tuple(self.engines),
            tuple(self.makers),
            tuple(self.models),
            tuple(self.schemas),
            tuple(self.functions),
            tuple(self.module_uses),
            tuple(self.apps),
            tuple(self.lifespans),
            tuple(self.loading),
            tuple(self.aliases),
            tuple(self.arguments),
            tuple(self.problems),
            tuple(self.columns),
            tuple(self.test_clients),
            tuple(self.state),
            tuple(self.state_reads),
        )

    def visit_Module(self, node: cst.Module) -> None:
        node.visit(_Arguments(self))

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        name = f"{'.'.join([self.module, *self._classes])}.{node.name.value}"
        self._classes.append(node.name.value)
        relationships: list[tuple[str, str]] = []
        fields: list[tuple[str, tuple[str, ...]]] = []
        table = False
        for statement in node.body.body:
            if not isinstance(statement, cst.SimpleStatementLine):
                continue
            for small in statement.body:
                if isinstance(small, cst.Assign) and len(small.targets) == 1:
                    target = small.targets[0].target
                    if isinstance(target, cst.Name) and target.value == "__tablename__":
                        table = True
                    value = small.value
                    if (
                        isinstance(target, cst.Name)
                        and isinstance(value, cst.Call)
                        and set(self.qualify(value.func)) & RELATIONSHIP_CALLS
                    ):
                        relationships.append((target.value, _relationship_target(value)))
                        self._loading(name, target.value, value)
                    elif isinstance(target, cst.Name):
                        self._column(name, target.value, value)
                elif isinstance(small, cst.AnnAssign) and isinstance(small.target, cst.Name):
                    annotated = small.value
                    value = annotated if annotated is not None else cst.Name("None")
                    for alias in _field_aliases(value):
                        referenced_alias: list[str] = []
                        small.annotation.visit(_Referenced(self.qualify, referenced_alias))
                        fields.append((alias, tuple(referenced_alias)))
                    self._column(name, small.target.value, value)
                    if (
                        isinstance(value, cst.Call)
                        and set(self.qualify(value.func)) & RELATIONSHIP_CALLS
                    ):
                        relationships.append((small.target.value, _relationship_target(value)))
                        self._loading(name, small.target.value, value)
                    if small.target.value == "__tablename__":
                        table = True
                    referenced: list[str] = []
                    small.annotation.visit(_Referenced(self.qualify, referenced))
                    fields.append((small.target.value, tuple(referenced)))
        if table or relationships:
            self.models.append((name, tuple(relationships)))
        else:
            self.schemas.append((name, tuple(fields)))

    def leave_ClassDef(self, original_node: cst.ClassDef) -> None:
        self._classes.pop()

    def _column(self, model: str, attr: str, value: cst.BaseExpression) -> None:
        """A column loaded apart (``deferred``), or one the database sets on update
        (``onupdate=func.now()``): its value is read later with I/O."""
        if not isinstance(value, cst.Call):
            return
        called = {n.rpartition(".")[2] for n in self.qualify(value.func)}
        inner = value.args[0].value if value.args else None
        if called & {"deferred", "undefer_group"} or any(
            arg.keyword is not None and arg.keyword.value == "deferred" for arg in value.args
        ):
            self.columns.append((model, attr, "deferred"))
            return
        calls = [value, *([inner] if isinstance(inner, cst.Call) else [])]
        for call in calls:
            for arg in call.args:
                if (
                    arg.keyword is not None
                    and arg.keyword.value in ("onupdate", "server_onupdate")
                    and isinstance(arg.value, cst.Call)
                ):
                    self.columns.append((model, attr, "onupdate"))
                    return

    def _loading(self, model: str, attr: str, call: cst.Call) -> None:
        lazy = backref = ""
        for arg in call.args:
            if arg.keyword is None:
                continue
            value = arg.value
            if arg.keyword.value == "lazy":
                text = literal_url(value)
                lazy = text if text is not None else "?"
            elif arg.keyword.value == "backref":
                if isinstance(value, cst.Call) and value.args:
                    value = value.args[0].value  # backref("name", ...)
                text = literal_url(value)
                backref = text if text is not None else "?"
        if lazy or backref:
            self.loading.append((model, attr, lazy, backref))

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        qualname = f"{'.'.join([self.module, *self._classes])}.{node.name.value}"
        scan = scan_function(node, qualname, self.qualify, self.locate)
        self.functions.append(function_facts(scan, qualname, self._response(node)))
        return False

    def _response(self, node: cst.FunctionDef) -> tuple[str, ...]:
        """What FastAPI validates the return value against: ``response_model=``, else
        the return annotation (of a route handler)."""
        found: list[str] = []
        routed = False
        for decorator in node.decorators:
            call = decorator.decorator
            if not isinstance(call, cst.Call):
                continue
            routed = True
            for arg in call.args:
                if arg.keyword is not None and arg.keyword.value == "response_model":
                    arg.value.visit(_Referenced(self.qualify, found))
        if routed and not found and node.returns is not None:
            node.returns.annotation.visit(_Referenced(self.qualify, found))
        return tuple(found)

    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
        if self._classes:
            return
        for small in node.body:
            value = None
            target = None
            if isinstance(small, cst.Assign) and len(small.targets) == 1:
                value, target = small.value, small.targets[0].target
            elif isinstance(small, cst.AnnAssign):
                value, target = small.value, small.target
            elif isinstance(small, cst.Expr):
                value = small.value
            if (
                isinstance(target, cst.Name)
                and value is not None
                and not isinstance(value, cst.Call)
                and _names_session(value, self.qualify)
            ):
                self.aliases.append(f"{self.module}.{target.value}")
            if not isinstance(value, cst.Call):
                continue
            called = set(self.qualify(value.func))
            name = target.value if isinstance(target, cst.Name) else ""
            if called & ENGINE_CALLS:
                self.engines.append(
                    (
                        name,
                        self.locate(value),
                        _url_problem(value) if name else "an engine not assigned to a name",
                    )
                )
            elif called & MAKER_CALLS:
                self.makers.append(
                    (
                        name,
                        self.locate(value),
                        _maker_problem(value)
                        if name
                        else "a session factory not assigned to a name",
                    )
                )
            elif called & {"fastapi.FastAPI", "fastapi.applications.FastAPI"}:
                keywords = tuple(
                    arg.keyword.value if arg.keyword is not None else "**"
                    for arg in value.args
                    if arg.keyword is not None or arg.star == "**"
                )
                self.apps.append((self.locate(node), self.locate(value), keywords))
                lifespan = ""
                for arg in value.args:
                    if arg.keyword is not None and arg.keyword.value == "lifespan":
                        names = self.qualify(arg.value) if isinstance(arg.value, cst.Name) else ()
                        lifespan = names[0] if len(names) == 1 else "?"
                self.lifespans.append(lifespan)
            elif isinstance(value.func, cst.Attribute) and value.func.attr.value == "create_all":
                self.module_uses.append((dotted(value.func) or "", self.locate(node), "create_all"))
            else:
                receiver = value.func.value if isinstance(value.func, cst.Attribute) else None
                while isinstance(receiver, cst.Attribute | cst.Call):
                    receiver = (
                        receiver.value if isinstance(receiver, cst.Attribute) else receiver.func
                    )
                if isinstance(receiver, cst.Name):
                    for qualified in self.qualify(receiver):
                        self.module_uses.append((qualified, self.locate(value), "call"))


class _Referenced(cst.CSTVisitor):
    """The qualified names of the classes an annotation or expression names."""

    def __init__(self, qualify: Qualify, found: list[str]) -> None:
        super().__init__()
        self.qualify = qualify
        self.found = found

    def visit_Name(self, node: cst.Name) -> None:
        self.found.extend(self.qualify(node))

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        self.found.extend(self.qualify(node))
        return False


def _names_session(value: cst.BaseExpression, qualify: Qualify) -> bool:
    found: list[str] = []
    value.visit(_Referenced(qualify, found))
    return bool(set(found) & SESSION_TYPES)


class _Arguments(cst.CSTVisitor):
    """Every name handed to a call, and every ``scoped_session``."""

    def __init__(self, scan: FileScan) -> None:
        super().__init__()
        self.scan = scan
        self.entered: set[cst.CSTNode] = set()
        self.stored: set[cst.CSTNode] = set()

    def visit_WithItem(self, node: cst.WithItem) -> None:
        self.entered.add(node.item)

    def visit_Assign(self, node: cst.Assign) -> None:
        value = node.value
        for target in node.targets:
            stored = target.target
            self.stored.add(stored)
            if (
                isinstance(stored, cst.Attribute)
                and isinstance(stored.value, cst.Attribute)
                and stored.value.attr.value == "state"
                and isinstance(value, cst.Call)
                and not value.args
            ):
                for callee in self.scan.qualify(value.func):
                    self.scan.state.append((stored.attr.value, callee, self.scan.locate(node)))

    def visit_Attribute(self, node: cst.Attribute) -> None:
        owner = node.value
        if (
            node not in self.stored
            and isinstance(owner, cst.Attribute)
            and owner.attr.value == "state"
            and (
                (isinstance(owner.value, cst.Name) and owner.value.value == "app")
                or (isinstance(owner.value, cst.Attribute) and owner.value.attr.value == "app")
            )
        ):
            self.scan.state_reads.append((node.attr.value, self.scan.locate(node)))

    def visit_Call(self, node: cst.Call) -> None:
        called = self.scan.qualify(node.func)
        if set(called) & TEST_CLIENTS:
            self.scan.test_clients.append((self.scan.locate(node), node in self.entered))
        if set(called) & SCOPED:
            self.scan.problems.append(
                (
                    self.scan.locate(node),
                    "`scoped_session` hands out one session per thread: VF203 has no async"
                    " twin for it (use the request's session from a dependency)",
                )
            )
        if set(called) & (ENGINE_CALLS | MAKER_CALLS):
            return  # ``sessionmaker(bind=engine)``: what VF203 rewrites
        callee = called[0] if len(called) == 1 else dotted(node.func) or "?"
        for arg in node.args:
            if isinstance(arg.value, cst.Name | cst.Attribute):
                for name in self.scan.qualify(arg.value):
                    self.scan.arguments.append((name, self.scan.locate(arg.value), callee))


SCOPED = frozenset({"sqlalchemy.orm.scoped_session", "sqlalchemy.orm.scoping.scoped_session"})
TEST_CLIENTS = frozenset({"fastapi.testclient.TestClient", "starlette.testclient.TestClient"})


def _field_aliases(value: cst.BaseExpression) -> list[str]:
    """The attribute names a Pydantic ``Field(alias=..., validation_alias=...)`` reads."""
    if not isinstance(value, cst.Call) or dotted(value.func) not in ("Field", "pydantic.Field"):
        return []
    found = []
    for arg in value.args:
        if arg.keyword is not None and arg.keyword.value in ("alias", "validation_alias"):
            text = literal_url(arg.value)
            if text is not None:
                found.append(text)
    return found


def _relationship_target(call: cst.Call) -> str:
    if call.args and call.args[0].keyword is None:
        value = call.args[0].value
        if isinstance(value, cst.SimpleString):
            text = value.evaluated_value
            return text if isinstance(text, str) else ""
        return dotted(value) or ""
    return ""


ASYNC_DRIVERS = {"sqlite": "aiosqlite", "postgresql": "asyncpg", "mysql": "aiomysql"}
"""The async driver each dialect's URL gets."""
ASYNC_READY = frozenset({"aiosqlite", "asyncpg", "psycopg", "psycopg_async", "aiomysql", "asyncmy"})


def literal_url(value: cst.BaseExpression) -> str | None:
    if isinstance(value, cst.SimpleString):
        text = value.evaluated_value
        return text if isinstance(text, str) else None
    return None


def async_url(url: str) -> str | None:
    """``url`` with its dialect's async driver; None when VF203 knows none."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return None
    dialect, _, driver = scheme.partition("+")
    if driver in ASYNC_READY:
        return url
    if dialect == "postgres":
        dialect = "postgresql"
    new = ASYNC_DRIVERS.get(dialect)
    return f"{dialect}+{new}://{rest}" if new else None


def _url_problem(call: cst.Call) -> str:
    if not call.args or call.args[0].keyword is not None or call.args[0].star:
        return "the engine's URL is not its first argument"
    url = literal_url(call.args[0].value)
    if url is not None and async_url(url) is None:
        return f"no async driver is known for the URL {url!r}"
    for arg in call.args[1:]:
        if arg.keyword is not None and arg.keyword.value in ("poolclass", "creator", "module"):
            return f"`{arg.keyword.value}=` would need an async twin"
        if arg.star:
            return "arguments VF203 cannot read (`**`)"
    return ""


def _maker_problem(call: cst.Call) -> str:
    for arg in call.args:
        if arg.star:
            return "arguments VF203 cannot read (`**`)"
        if arg.keyword is not None and arg.keyword.value == "class_":
            return "a custom session class (`class_=`)"
        if (
            arg.keyword is not None
            and arg.keyword.value == "expire_on_commit"
            and not (isinstance(arg.value, cst.Name) and arg.value.value == "False")
        ):
            return (
                "`expire_on_commit` is not False: an object read after `commit()` would"
                " reload on the event loop (MissingGreenlet)"
            )
    return ""


# -- the plan -------------------------------------------------------------------------


@dataclass(frozen=True)
class QueryPlan:
    session: str
    entity: bool
    """``query(Model)``: rows are objects (``scalars``), else tuples (``execute``)."""
    joined: bool
    terminal: str
    loads: tuple[str, ...] = ()
    """``Model.attr`` relationships to load with it (``selectinload``)."""
    model: str = ""
    """The code that names the query's model (``models.Order``)."""
    mapped: bool = False
    """It selects a model (maybe with columns): the legacy query returned each row once
    (``.unique()``)."""
    eager: bool = False
    """Its options or its model's mapping load a collection by a join: a result that
    holds objects is read through ``.unique()``."""


@dataclass(frozen=True)
class DbPlan(PlanPart):
    """VF203's part of the plan: the whole project to AsyncSession, or nothing."""

    code: str = ""
    """VF203's code: the async twin its rule names (``Entry(Kind.TWIN, code)``)."""
    migrates: bool = False
    obstacles: tuple[tuple[Path, int, int, str], ...] = ()
    engines: frozenset[Key] = frozenset()
    disposals: Mapping[Key, str] = field(default_factory=dict)
    """``engine.dispose()`` calls, with the function they are in (qualified name)."""
    makers: frozenset[Key] = frozenset()
    awaits: frozenset[Key] = frozenset()
    """Session method calls to await, and ``with`` statements to make ``async with``."""
    queries: Mapping[Key, QueryPlan] = field(default_factory=dict)
    refreshes: Mapping[Key, tuple[str, ...]] = field(default_factory=dict)
    """``db.refresh(obj)`` calls followed by a read of these relationships of ``obj``."""
    gets: Mapping[Key, tuple[str, ...]] = field(default_factory=dict)
    """``db.get(Model, id)`` calls, with the relationships to load with the object
    (``options=[selectinload(...)]``)."""
    async_functions: frozenset[Key] = frozenset()
    """The definitions that must be ``async def`` after the run."""
    models: frozenset[str] = frozenset()
    create_all: Key | None = None
    app: Key | None = None
    """The ``FastAPI(...)`` call whose lifespan creates the tables."""
    sessions: Mapping[Key, frozenset[str]] = field(default_factory=dict)
    """For each function (by definition), its names bound to a session."""
    files: frozenset[Path] = frozenset()
    """Every file the migration changes."""
    wanted_names: frozenset[str] = frozenset()
    """Names of the project's functions and classes VF203 needs to read."""

    @property
    def touched(self) -> frozenset[Path]:
        """The files to visit: those the migration changes, or those with an obstacle
        to report (a file read in a later round is visited only when it is touched)."""
        if self.migrates:
            return self.files
        return frozenset(path for path, *_ in self.obstacles)

    def blocking_rule(self) -> Callable[[str], Entry | None] | None:
        """Once the project migrates, a session's calls have an async twin: this one."""
        return rule(self) if self.migrates else None


def _key(path: Path, span: Span) -> Key:
    return (path, *span)


class _Planner:
    def __init__(self, index: ProjectIndex, facts: Mapping[Path, DbFacts], code: str) -> None:
        from vibefix.sessions.plan import plan_sessions, plan_shared

        self.index = index
        self.code = code
        self.shared = plan_shared(index).users
        self.facts = facts
        self.obstacles: list[tuple[Path, int, int, str]] = []
        self.dependencies = plan_sessions(index).dependencies
        self.models: dict[str, dict[str, str]] = {}
        self.schemas: dict[str, dict[str, tuple[str, ...]]] = {}
        self.functions: dict[str, tuple[Path, FunctionDb]] = {}
        self.eager: dict[tuple[str, str], str] = {}
        """``(model, attribute)``: the ``lazy=`` strategy its mapping gives it."""
        for path, file in facts.items():
            for name, relationships in file.models:
                self.models[name] = dict(relationships)
            for name, fields in file.schemas:
                self.schemas[name] = dict(fields)
            for function in file.functions:
                self.functions[function.qualname] = (path, function)
        # A subclass of a model is a model (inheritance), with its base's relationships;
        # a schema has its bases' fields.
        for name in list(self.schemas):
            lineage = index.lineage(name)
            if any(klass in self.models for klass in lineage):
                self.schemas.pop(name)
                self.models[name] = {}
        for table in (self.models, self.schemas):
            for name in list(table):
                merged: dict[str, Any] = {}
                for klass in reversed(index.lineage(name)):
                    merged.update(table.get(klass, {}))
                merged.update(table[name])
                table[name] = merged
        by_short = {name.rpartition(".")[2]: name for name in self.models}
        for file in facts.values():
            for model, attr, lazy, backref in file.loading:
                if lazy:
                    self.eager[(model, attr)] = lazy
                target = by_short.get(self.models.get(model, {}).get(attr, "").rpartition(".")[2])
                if backref and target is not None and backref != "?":
                    self.models[target][backref] = model.rpartition(".")[2]
        self.relationship_names = {r for rels in self.models.values() for r in rels}
        # Attributes whose read does I/O besides relationships: a property that reads
        # one (``order.item_count``), a deferred column, a column the database sets on
        # update (read after a commit).
        self.properties: dict[str, dict[str, str]] = {}
        for qualname, (_, function) in self.functions.items():
            owner, _, attr = qualname.rpartition(".")
            if owner in self.models and any("property" in d for d in function.decorators):
                self.properties.setdefault(owner, {})[attr] = qualname
        for model in self.models:
            for klass in index.lineage(model):
                for attr, qualname in self.properties.get(klass, {}).items():
                    self.properties.setdefault(model, {}).setdefault(attr, qualname)
        self.columns: dict[str, dict[str, str]] = {}
        for file in facts.values():
            for model, attr, kind in file.columns:
                self.columns.setdefault(model, {})[attr] = kind
        self.watched = (
            self.relationship_names
            | {a for props in self.properties.values() for a in props}
            | {a for cols in self.columns.values() for a in cols}
        )
        self.param_reads: Mapping[tuple[str, int], set[str]] = {}
        self.first_party = {module.module.partition(".")[0] for module in index.modules}
        self.unseen_names: set[str] = set()
        """The project's functions and classes an ORM object goes to that VF203 has not
        read: the next round of indexing reads the files that name them."""
        self.awaits: set[Key] = set()
        self.queries: dict[Key, QueryPlan] = {}
        self.loads: dict[Key, set[str]] = {}
        self.refreshes: dict[Key, set[str]] = {}
        self.get_loads: dict[Key, set[str]] = {}
        self.async_functions: set[Key] = set()
        self.sessions: dict[Key, frozenset[str]] = {}

    def obstacle(self, path: Path, line: int, column: int, why: str) -> None:
        self.obstacles.append((path, line, column, why))

    def model(self, names: Iterable[str]) -> str | None:
        for name in names:
            resolved = self.index.resolve(name)
            if resolved in self.models:
                return resolved
        return None

    def confirmed(self, source: str) -> bool:
        from vibefix.sessions.plan import factory

        kind, _, name = source.partition(":")
        if kind == "typed":
            return True
        if kind == "dep":
            return self.index.resolve(name) in self.dependencies or name in self.dependencies
        if kind == "made":
            return factory(self.index, name) is not None
        if kind == "global":
            made = self.index.objects.get(name)
            return (
                made is not None
                and made.endswith("()")
                and factory(self.index, made[:-2]) is not None
            )
        return False

    def plan(self) -> DbPlan:
        engines = [(p, e) for p, f in self.facts.items() for e in f.engines]
        makers = [(p, m) for p, f in self.facts.items() for m in f.makers]
        if not engines:
            # Sessions but no engine among the files read: a run on part of a project.
            for _, (path, function) in sorted(self.functions.items()):
                if any(self.confirmed(session.source) for session in function.sessions):
                    line, column = function.span[:2]
                    self.obstacle(
                        path,
                        line,
                        column,
                        "the engine (`create_engine`) is not in the files read: VF203 moves"
                        " the whole project at once, so run it on the whole project",
                    )
                    break
            return DbPlan(obstacles=tuple(self.obstacles))
        if len(engines) > 1:
            for path, (_, span, _) in engines:
                self.obstacle(path, span[0], span[1], "the project makes several engines")
        for path, (_, span, problem) in [*engines, *makers]:
            if problem:
                self.obstacle(path, span[0], span[1], problem)
        for _, (path, function) in sorted(self.functions.items()):
            self._function(path, function)
        disposals = self._engine_uses()
        self._file_problems()
        self._state_sessions()
        self._lazy_loads()
        create_all, app = self._tables()
        if create_all is not None:
            for path, file in sorted(self.facts.items()):
                for span, entered in file.test_clients:
                    if not entered:
                        self.obstacle(
                            path,
                            span[0],
                            span[1],
                            "a `TestClient` not entered with `with` runs no lifespan, where"
                            " VF203 moves `create_all`: the tables would be missing; use"
                            " `with TestClient(app) as client:`",
                        )
        plan = DbPlan(
            migrates=not self.obstacles,
            obstacles=tuple(sorted(set(self.obstacles))),
            engines=frozenset(_key(p, e[1]) for p, e in engines),
            disposals=disposals,
            makers=frozenset(_key(p, m[1]) for p, m in makers),
            awaits=frozenset(self.awaits),
            queries={
                key: replace(q, loads=tuple(sorted(self.loads.get(key, ()))))
                for key, q in self.queries.items()
            },
            refreshes={key: tuple(sorted(rels)) for key, rels in self.refreshes.items() if rels},
            gets={key: tuple(sorted(rels)) for key, rels in self.get_loads.items() if rels},
            async_functions=frozenset(self.async_functions),
            models=frozenset(self.models),
            create_all=create_all,
            app=app,
            sessions=self.sessions,
            wanted_names=frozenset(
                {
                    "sqlalchemy",
                    "Session",
                    *self.unseen_names,
                    *(name for _, (name, _, _) in engines if name),
                    *(name for _, (name, _, _) in makers if name),
                    *(name.rpartition(".")[2] for name in self.dependencies),
                    *(name.rpartition(".")[2] for name in self.models),
                }
            ),
            files=frozenset(
                key[0]
                for key in (
                    *(_key(p, e[1]) for p, e in engines),
                    *(_key(p, m[1]) for p, m in makers),
                    *self.awaits,
                    *self.queries,
                    *self.async_functions,
                    *self.sessions,
                    *disposals,
                    *((create_all,) if create_all else ()),
                )
            ),
        )
        return plan

    def _function(self, path: Path, function: FunctionDb) -> None:
        names = set()
        for session in function.sessions:
            if not self.confirmed(session.source):
                continue
            names.add(session.name)
            if session.source.startswith("global:") and (
                _key(path, function.span) not in self.shared
            ):
                line, column = function.span[:2]
                self.obstacle(
                    path,
                    line,
                    column,
                    f"`{session.name}` is a session made at import and shared by every"
                    " caller: an AsyncSession cannot be (VF201 gives route handlers their"
                    " own; elsewhere, open one in the function)",
                )
            for site in session.sites:
                if site.problem:
                    self.obstacle(path, site.span[0], site.span[1], site.problem)
                elif site.awaits:
                    self.awaits.add(_key(path, site.span))
                    self.async_functions.add(_key(path, site.function))
            for query in session.queries:
                models = [self.model(entity) for entity in query.entities]
                model = models[0] if len(models) == 1 else None
                if (
                    any(models)
                    and model is None
                    and query.terminal in ("all", "one", "one_or_none")
                ):
                    self.obstacle(
                        path,
                        query.span[0],
                        query.span[1],
                        "a legacy query of a model and other columns returned each row once,"
                        " which 2.0's `.unique()` cannot always do (a JSON column): select"
                        " the model alone, or write the statement by hand",
                    )
                eager = "joinedload" in query.options or any(
                    lazy == "joined" for (owner, _), lazy in self.eager.items() if owner in models
                )
                self.queries[_key(path, query.span)] = QueryPlan(
                    session.name,
                    model is not None,
                    query.joined,
                    query.terminal,
                    model=query.model,
                    mapped=any(models),
                    eager=eager,
                )
                if query.terminal in ("delete", "update", "get") and model is None:
                    self.obstacle(
                        path,
                        query.span[0],
                        query.span[1],
                        "the query's model is unknown: no 2.0 statement can be written for it",
                    )
        for names_, index, var, line, column in function.passes:
            if not var.startswith("session:") or var[8:] not in names:
                continue
            # ``helper(db)`` by position, or ``helper(db=db)`` by keyword.
            targets = [n.partition(":") for n in names_]
            found = next(((n, kw) for n, _, kw in targets if n in self.functions), None)
            callee = self.functions[found[0]] if found else None
            param = found[1] if found else ""
            if callee is not None and not param and 0 <= index < len(callee[1].params):
                param = callee[1].params[index]
            typed = callee is not None and any(
                s.name == param and s.source == "typed" for s in callee[1].sessions
            )
            if not typed:
                self.obstacle(
                    path,
                    line,
                    column,
                    f"`{var[8:]}` is handed to something that does not take it as a `Session`"
                    " parameter: VF203 cannot tell it gets an AsyncSession",
                )
        if names:
            self.sessions[_key(path, function.span)] = frozenset(names)

    def _file_problems(self) -> None:
        engines = {
            f"{self.index_module(path)}.{name}"
            for path, f in self.facts.items()
            for name, _, _ in f.engines
        }
        aliases = {alias for f in self.facts.values() for alias in f.aliases}
        for path, file in sorted(self.facts.items()):
            for span, why in file.problems:
                self.obstacle(path, span[0], span[1], why)
            for (model, attr), lazy in sorted(self.eager.items()):
                if (
                    lazy in ("dynamic", "?")
                    and self.models.get(model) is not None
                    and any(m == model for m, *_ in file.loading)
                ):
                    self.obstacle(
                        path,
                        1,
                        1,
                        f'`{model.rpartition(".")[2]}.{attr}` is loaded `lazy="{lazy}"`,'
                        ' which an AsyncSession cannot do (`lazy="write_only"` can)',
                    )
            for name, span, callee in file.arguments:
                resolved = self.index.resolve(name)
                if name in engines or resolved == "sqlalchemy.create_engine()":
                    if callee.endswith("create_all") and any(
                        kind == "create_all" and where[0] <= span[0] <= where[2]
                        for _, where, kind in file.module_uses
                    ):
                        continue  # the module-level create_all that moves to the lifespan
                    self.obstacle(
                        path,
                        span[0],
                        span[1],
                        f"the engine is handed to `{callee.rpartition('.')[2]}`, which would get"
                        " an AsyncEngine",
                    )
            for _, (where, scanned) in self.functions.items():
                if where != path:
                    continue
                for param, named in scanned.annotated:
                    if named in aliases or self.index.resolve(named) in aliases:
                        line, column = scanned.span[:2]
                        self.obstacle(
                            path,
                            line,
                            column,
                            f"`{param}` is annotated with an alias of `Session`"
                            f" (`{named.rpartition('.')[2]}`): VF203 does not follow"
                            " aliases yet; annotate it `Session` itself",
                        )
        for fact in self.index.functions.values():
            for call in fact.calls:
                for target in call.targets:
                    resolved = self.index.resolve(target)
                    if resolved.startswith(
                        ("sqlalchemy.orm.sessionmaker().", "sqlalchemy.orm.session.sessionmaker().")
                    ):
                        verb = resolved.rpartition(".")[2]
                        self.obstacle(
                            fact.path,
                            call.line,
                            call.column,
                            f"the session factory's `{verb}` has no rewrite in {self.code}",
                        )
                    if target in self.dependencies or resolved in self.dependencies:
                        self.obstacle(
                            fact.path,
                            call.line,
                            call.column,
                            f"the session dependency `{target.rpartition('.')[2]}` is called"
                            " directly: it becomes an async generator",
                        )

    def _state_sessions(self) -> None:
        """A session kept on ``app.state`` and read by the app's code: VF201 gives its
        readers the request's session first (a run of the default recipe)."""
        from vibefix.sessions.plan import factory

        kept = {
            attribute
            for file in self.facts.values()
            for attribute, callee, _ in file.state
            if factory(self.index, callee) is not None
        }
        for path, file in sorted(self.facts.items()):
            for attribute, span in file.state_reads:
                if attribute in kept:
                    self.obstacle(
                        path,
                        span[0],
                        span[1],
                        f"the session kept on `app.state.{attribute}` is shared by every"
                        " request and would be an AsyncSession used without `await` here:"
                        " run the default recipe first (VF201 gives each handler the"
                        " request's own), then remove the session from `app.state` and"
                        " the code that still uses it, then run async-db",
                    )

    def index_module(self, path: Path) -> str:
        for module in self.index.modules:
            if module.path == path:
                return module.module
        return ""

    def _engine_uses(self) -> dict[Key, str]:
        """The engine's ``dispose()`` calls (awaited, or run in sync code); any other
        call of one of its methods in a function is an obstacle."""
        disposals: dict[Key, str] = {}
        for name, function in sorted(self.index.functions.items()):
            for call in function.calls:
                for target in call.targets:
                    resolved = self.index.resolve(target)
                    if not resolved.startswith("sqlalchemy.create_engine()."):
                        continue
                    verb = resolved.removeprefix("sqlalchemy.create_engine().")
                    key = (function.path, call.line, call.column, *call.end)
                    if verb == "dispose" and call.awaitable:
                        disposals[key] = name
                    elif verb.split(".")[0] not in ("url", "dialect", "pool", "name"):
                        self.obstacle(
                            function.path,
                            call.line,
                            call.column,
                            f"no rewrite for the engine's `{verb.split('(')[0]}`",
                        )
        return disposals

    # -- lazy loads --------------------------------------------------------------------

    def _lazy_loads(self) -> None:
        # What each function reads of each parameter, through the helpers it hands it to.
        reads: dict[tuple[str, int], set[str]] = {}
        for _ in range(10):
            changed = False
            for qualname, (_, function) in self.functions.items():
                for var, attrs, _line, _column in self._reads(function, reads):
                    if var in function.params and var not in dict(function.origins):
                        key = (qualname, function.params.index(var))
                        before = len(reads.setdefault(key, set()))
                        reads[key] |= attrs
                        changed |= len(reads[key]) != before
            if not changed:
                break
        self.param_reads = reads
        for _, (path, function) in sorted(self.functions.items()):
            self._expired_reads(path, function)
            origins = dict(function.origins)
            for var, attrs, line, column in self._reads(function, reads):
                if var in function.params and var not in origins:
                    continue
                self._load(path, function, origins, var, attrs, line, column)

    def _reads(
        self, function: FunctionDb, reads: Mapping[tuple[str, int], set[str]]
    ) -> list[tuple[str, set[str], int, int]]:
        """``(var, relationship names read, line, column)`` of ``function``: read on the
        variable (``a.b`` for a relationship of a relationship), by a helper or a method
        it is handed to, by a schema that validates it, or by the response model."""
        found = [
            (var, {attr}, line, column)
            for var, attr, line, column in function.touches
            if attr.partition(".")[0] in self.watched
        ]
        origins = dict(function.origins)
        for callees, index, var, line, column in function.passes:
            if var.startswith("session:"):
                continue
            for callee in callees:
                name, _, keyword = callee.partition(":")
                if name == "method":
                    model = self._model_of(var, origins, function)
                    name, keyword, index = f"{model}.{keyword}", "", 0
                helper = self.functions.get(name)
                position = index
                if keyword and helper is not None and keyword in helper[1].params:
                    position = helper[1].params.index(keyword)
                attrs = reads.get((name, position))
                if attrs:
                    found.append((var, set(attrs), line, column))
                owner, _, verb = name.rpartition(".")
                if verb in ("model_validate", "from_orm") and owner in self.schemas and index == 0:
                    fields = self._fields(owner)
                    if fields:
                        found.append((var, fields, line, column))
                elif helper is None and self._unseen(owner if verb == "model_validate" else name):
                    found.append((var, {f"{UNSEEN}{name}"}, line, column))
        schema = next((s for s in function.response if s in self.schemas), None)
        unseen = [s for s in function.response if self._unseen(s)]
        if schema is None and unseen:
            line, column = function.end, function.span[1]
            found.extend(
                (returned, {f"{UNSEEN}{unseen[0]}"}, line, column) for returned in function.returns
            )
        if schema is not None:
            fields = self._fields(schema)
            if fields:
                # Read when the response is built: after everything in the function.
                line, column = function.end, function.span[1]
                found.extend((returned, fields, line, column) for returned in function.returns)
        return found

    def _unseen(self, name: str) -> bool:
        """Whether ``name`` is the project's (its package is one of the project's) but
        VF203 has not read it: what it does with an object is unknown."""
        top = name.partition(".")[0]
        if top not in self.first_party or name in self.functions:
            return False
        if name in self.models or name in self.schemas:
            return False
        if "<locals>" not in name:  # a nested function is read with its own
            self.unseen_names.add(name.rpartition(".")[2])
        return True

    def _expired_reads(self, path: Path, function: FunctionDb) -> None:
        """An object read after ``rollback()`` or ``expire()`` reloads: MissingGreenlet."""
        if not function.expiries:
            return
        origins = dict(function.origins)
        for var, attr, line, column in function.touches:
            origin = origins.get(var, "?")
            while origin.startswith("elem:") and "." not in origin[5:]:
                origin = origins.get(origin[5:], "?")
            orm = origin.partition(":")[0] in ("q", "all", "get") or (
                origin.startswith("new:") and self.model([origin[4:]]) is not None
            )
            after = [verb for verb, at in function.expiries if at < line]
            if orm and after:
                self.obstacle(
                    path,
                    line,
                    column,
                    f"`{var}.{attr.partition('.')[0]}` is read after `{after[-1]}()`, which"
                    " expires the session's objects: the read reloads it, which raises"
                    " MissingGreenlet in async code; read what you need before it",
                )
                return

    def _fields(self, schema: str, depth: int = 0) -> set[str]:
        """The relationships a schema reads (with ``from_attributes``), by field name:
        ``items``, and ``items.product`` for a field of a nested schema."""
        found: set[str] = set()
        for field_name, referenced in self.schemas.get(schema, {}).items():
            if field_name not in self.watched:
                continue
            found.add(field_name)
            for nested in referenced:
                if nested in self.schemas and nested != schema and depth < 3:
                    found |= {f"{field_name}.{inner}" for inner in self._fields(nested, depth + 1)}
        return found

    def _model_of(self, var: str, origins: Mapping[str, str], function: FunctionDb) -> str:
        origin = origins.get(var, "?")
        kind, _, rest = origin.partition(":")
        if kind == "new":
            return self.model([rest]) or "?"
        if kind in ("q", "all"):
            for session in function.sessions:
                for query in session.queries:
                    if f"{query.span[0]}:{query.span[1]}" == rest and len(query.entities) == 1:
                        return self.model(query.entities[0]) or "?"
        return "?"

    def _target(self, model: str, relationship: str) -> str | None:
        """The model a relationship leads to."""
        target = self.models.get(model, {}).get(relationship, "")
        short = target.rpartition(".")[2]
        for name in self.models:
            if name.rpartition(".")[2] == short:
                return name
        return None

    def _needed(self, model: str, attrs: set[str], options: str = "") -> tuple[set[str], str]:
        """Which of ``attrs`` (relationship paths) a load of ``model`` must add, and why
        it cannot when it cannot (a relationship of a relationship)."""
        wanted: set[str] = set()
        expanded = set(attrs)
        for attr in attrs:
            prop = self.properties.get(model, {}).get(attr.partition(".")[0])
            if prop is not None:  # a property reads what its ``self`` reads
                expanded |= set(self.param_reads.get((prop, 0), set()))
        for path in sorted(expanded):
            first, _, rest = path.partition(".")
            kind = self.columns.get(model, {}).get(first)
            if kind == "deferred":
                return set(), (
                    f"`{first}` is a deferred column of `{model.rpartition('.')[2]}`: reading"
                    " it loads it, which raises MissingGreenlet in async code; undefer it in"
                    " the query (`.options(undefer(...))`)"
                )
            if first not in self.models.get(model, {}):
                continue
            if rest:
                target = self._target(model, first)
                inner = rest.partition(".")[0]
                if target is None or inner in self.models.get(target, {}):
                    return set(), (
                        f"`{path}` reads a relationship of a relationship"
                        f" (`{model.rpartition('.')[2]}.{first}`, then `{inner}`), which"
                        " VF203 does not load yet: add"
                        f" `.options(selectinload(...{first}).selectinload(...{inner}))`"
                    )
                continue
            if self.eager.get((model, first)) in ("selectin", "joined", "subquery", "immediate"):
                continue  # the mapping loads it with the object
            if f".{first})" in options or f".{first}," in options:
                continue  # the query's own options load it
            wanted.add(first)
        return wanted, ""

    def _load(
        self,
        path: Path,
        function: FunctionDb,
        origins: Mapping[str, str],
        var: str,
        attrs: set[str],
        line: int,
        column: int,
    ) -> None:
        origin = var if var.startswith(("q:", "new:")) else origins.get(var, "?")
        while origin.startswith("elem:") and "." not in origin[5:]:
            origin = origins.get(origin[5:], "?")
        kind, _, rest = origin.partition(":")
        unseen = sorted(a[len(UNSEEN) :] for a in attrs if a.startswith(UNSEEN))
        attrs = {a for a in attrs if not a.startswith(UNSEEN)}
        orm = kind in ("q", "all", "get") or (
            kind == "new" and (rest in self.functions or self.model([rest]) is not None)
        )
        if unseen and orm:
            self.obstacle(
                path,
                line,
                column,
                f"{self._what(var, function)} goes to `{unseen[0].rpartition('.')[2]}`, which"
                " VF203 has not read (outside the files given, or in a module that names no"
                " session, query, model or schema): it may read a relationship, which raises"
                " MissingGreenlet in async code",
            )
            return
        if not attrs:
            return
        model_of = self._model_of(var, origins, function) if kind != "q" else None
        updated = {
            attr
            for attr in attrs
            if model_of and self.columns.get(model_of, {}).get(attr) == "onupdate"
        }
        if updated and any(flush < line for flush in function.flushes):
            self.obstacle(
                path,
                line,
                column,
                f"`{sorted(updated)[0]}` is set by the database on update and read after the"
                " commit, which reloads it: MissingGreenlet in async code; add"
                f" `await db.refresh({var})` after the commit",
            )
            return
        if kind in ("q", "all"):
            query_key = next(
                (k for k in self.queries if k[0] == path and f"{k[1]}:{k[2]}" == rest), None
            )
            query = self.queries.get(query_key) if query_key else None
            model = self._query_model(path, function, query_key) if query_key else None
            if query is None or not query.entity or model is None:
                self._unknown(path, self._what(var, function), attrs, line, column)
                return
            assert query_key is not None
            wanted, why = self._needed(model, attrs, self._options(path, function, query_key))
            if why:
                self.obstacle(path, line, column, why)
            elif wanted:
                self.loads.setdefault(query_key, set()).update(wanted)
            return
        if kind == "get":
            at, _, named = rest.rpartition(":")
            key = next((k for k in self.awaits if k[0] == path and f"{k[1]}:{k[2]}" == at), None)
            model = self.model([named])
            if key is None or model is None:
                self._unknown(path, self._what(var, function), attrs, line, column)
                return
            wanted, why = self._needed(model, attrs)
            if why:
                self.obstacle(path, line, column, why)
            elif wanted:
                self.get_loads.setdefault(key, set()).update(wanted)
            return
        if kind == "new" and rest in self.functions:
            # What a helper returns (``crud.get_user(db, id)``): the query in it loads.
            loads = self._returned(rest)
            if not loads:
                self._unknown(path, self._what(var, function), attrs, line, column)
                return
            for where, helper, local in loads:
                self._load(where, helper, dict(helper.origins), local, attrs, line, column)
            return
        if kind == "new":
            model = self.model([rest])
            if model is None:  # what a function returned: any object, loaded anywhere
                self._unknown(path, self._what(var, function), attrs, line, column)
                return
            wanted, why = self._needed(model, attrs)
            if why:
                self.obstacle(path, line, column, why)
                return
            refresh = next(
                (span for name, span in function.refreshes if name == var and span[0] <= line),
                None,
            )
            if (
                wanted
                and refresh is None
                and any(name == f"!{var}" for name, _ in function.refreshes)
            ):
                self.obstacle(
                    path,
                    line,
                    column,
                    f"`{var}.{sorted(wanted)[0]}` lazy-loads a relationship after a refresh"
                    " that shares its line with other code: put the refresh on a line of"
                    " its own, so that VF203 can load the relationship after it",
                )
            elif wanted and refresh is None:
                self.obstacle(
                    path,
                    line,
                    column,
                    f"`{var}.{sorted(wanted)[0]}` lazy-loads a relationship of a new object,"
                    " which raises MissingGreenlet in async code: load it with"
                    f" `await session.refresh({var}, {sorted(wanted)!r})`",
                )
            elif wanted and refresh is not None:
                self.refreshes.setdefault(_key(path, refresh), set()).update(wanted)
            return
        self._unknown(path, self._what(var, function), attrs, line, column)

    @staticmethod
    def _what(var: str, function: FunctionDb) -> str:
        """How a finding names what a relationship is read on."""
        if var == "?":
            return f"what `{function.qualname.rpartition('.')[2]}` returns"
        if var == "?arg":
            return "a value handed to a helper"
        if var.startswith("q:"):
            return "what this call returns"
        if var.startswith("new:"):
            return f"what `{var[4:].rpartition('.')[2]}` returns"
        return f"`{var}`"

    def _returned(self, qualname: str, depth: int = 0) -> list[tuple[Path, FunctionDb, str]] | None:
        """Where what ``qualname`` returns is loaded: ``(file, function, origin)`` for
        each ``return`` (a query run there, or a variable holding its result, or what
        another helper returns); None when one of them is anything else."""
        path, function = self.functions[qualname]
        if not function.returns or depth > 5:
            return None
        origins = dict(function.origins)
        found: list[tuple[Path, FunctionDb, str]] = []
        for returned in function.returns:
            origin = returned if returned.startswith(("q:", "new:")) else origins.get(returned, "?")
            kind, _, rest = origin.partition(":")
            if kind == "q" and any(k[0] == path and f"{k[1]}:{k[2]}" == rest for k in self.queries):
                found.append((path, function, origin))
            elif kind in ("q", "all", "get"):
                found.append((path, function, returned))
            elif kind == "new" and rest in self.functions:
                deeper = self._returned(rest, depth + 1)
                if deeper is None:
                    return None
                found.extend(deeper)
            else:
                return None
        return found

    def _unknown(self, path: Path, what: str, attrs: set[str], line: int, column: int) -> None:
        relationship = sorted(attrs)[0].partition(".")[0]
        self.obstacle(
            path,
            line,
            column,
            f"a relationship (`{relationship}`) is read on {what}, which raises"
            " MissingGreenlet in async code unless it is loaded, and VF203 cannot tell"
            " which query loads it: load it there with"
            f" `.options(selectinload(Model.{relationship}))`",
        )

    def _options(self, path: Path, function: FunctionDb, key: Key) -> str:
        for session in function.sessions:
            for query in session.queries:
                if _key(path, query.span) == key:
                    return query.options
        return ""

    def _query_model(self, path: Path, function: FunctionDb, key: Key) -> str | None:
        for session in function.sessions:
            for query in session.queries:
                if _key(path, query.span) == key and len(query.entities) == 1:
                    return self.model(query.entities[0])
        return None

    # -- tables --------------------------------------------------------------------------

    def _lifespan_problem(self, lifespan: str) -> str:
        """Why VF203 cannot wrap the app's own lifespan in the one that creates the
        tables; ``""`` when it can (or there is none)."""
        if not lifespan:
            return ""
        function = self.index.functions.get(self.index.resolve(lifespan)) or (
            self.index.functions.get(lifespan)
        )
        if lifespan == "?" or function is None:
            return (
                "the app's `lifespan=` is not a function of the project that VF203 can"
                " wrap: move `create_all` into it by hand"
            )
        if not any(d.endswith("asynccontextmanager") for d in function.decorators):
            return (
                f"the app's lifespan `{lifespan.rpartition('.')[2]}` is no"
                " `@asynccontextmanager`: move `create_all` into it by hand"
            )
        return ""

    def _tables(self) -> tuple[Key | None, Key | None]:
        create_all: Key | None = None
        app: Key | None = None
        for path, file in self.facts.items():
            for name, span, kind in file.module_uses:
                if kind == "create_all":
                    if not file.apps or create_all is not None:
                        self.obstacle(
                            path,
                            span[0],
                            span[1],
                            "`create_all` at import, outside the module that makes the app:"
                            " VF203 moves it into the app's lifespan only there",
                        )
                        continue
                    statement, call, keywords = file.apps[0]
                    if statement[0] < span[0]:
                        self.obstacle(
                            path,
                            span[0],
                            span[1],
                            "`create_all` comes after the app is made: move it above",
                        )
                        continue
                    taken = {"on_startup", "on_shutdown", "**"} & set(keywords)
                    if taken:
                        self.obstacle(
                            path,
                            span[0],
                            span[1],
                            f"the app has `{sorted(taken)[0]}`, which a lifespan would switch off",
                        )
                        continue
                    lifespan = file.lifespans[0] if file.lifespans else ""
                    problem = self._lifespan_problem(lifespan)
                    if problem:
                        self.obstacle(path, span[0], span[1], problem)
                        continue
                    create_all, app = _key(path, span), _key(path, call)
                    continue
                resolved = self.index.resolve(name)
                if resolved.startswith(("sqlalchemy.create_engine()", *SESSION_PREFIXES)):
                    self.obstacle(
                        path,
                        span[0],
                        span[1],
                        "a session or the engine used at import, where nothing can be awaited",
                    )
        return create_all, app


def plan_async_db(index: ProjectIndex, code: str) -> DbPlan:
    """The plan of VF203 (``code``): every file, query and load the move rewrites, or
    the obstacles that hold the whole project back."""
    return replace(_Planner(index, index.facts(FileScan), code).plan(), code=code)


def rule(plan: DbPlan) -> Callable[[str], Entry | None]:
    """How the async plan classifies SQLAlchemy calls once the project migrates."""
    models = plan.models

    def classify(target: str) -> Entry | None:
        if target in models:
            return Entry(Kind.NONBLOCKING)  # the declarative constructor
        owner, _, rest = target.partition("().")
        if "(" not in owner and any(
            target.startswith(f"{model}.") and target.count(".", len(model) + 1) >= 1
            for model in models
        ):
            return Entry(Kind.NONBLOCKING)  # a column's method: ``Order.id.desc()``
        if any(
            target.startswith(f"{model}().") and "." in target[len(model) + 3 :] for model in models
        ):
            # A method of a loaded value: ``order.created_at.isoformat()`` (reading a
            # relationship is a lazy load, which the plan checks apart).
            return Entry(Kind.NONBLOCKING)
        for prefix in SESSION_PREFIXES:
            if target == prefix:
                return Entry(Kind.NONBLOCKING)
            if not target.startswith(f"{prefix}."):
                continue
            rest = target[len(prefix) + 1 :]
            first = rest.split("(", 1)[0]
            if first == "query":
                last = rest.rpartition(".")[2]
                return (
                    Entry(Kind.TWIN, plan.code, loop=True)
                    if last in TERMINALS and rest != "query"
                    else Entry(Kind.NONBLOCKING)
                )
            if first in AWAITED:
                return (
                    Entry(Kind.TWIN, plan.code, loop=True)
                    if rest == first
                    else Entry(Kind.NONBLOCKING)
                )
            if first in SYNC_METHODS | SYNC_ATTRIBUTES:
                return Entry(Kind.NONBLOCKING)
            return None
        if target == "sqlalchemy.create_engine().dispose":
            return Entry(Kind.TWIN, plan.code, loop=True)
        return None

    return classify
