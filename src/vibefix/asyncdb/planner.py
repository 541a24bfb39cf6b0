"""The planner: every file's facts to the family's part of the plan (``plan_async_db``),
or to the obstacles that hold the whole project back. It decides for each function
(its sessions, their calls and queries) and hands the rest to its pieces: the project's
ORM (``orm``), the obstacles across the project (``checks``) and the lazy loads
(``loads``), which share what is decided so far (``draft``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from vibefix.asyncdb.checks import Checks
from vibefix.asyncdb.collect import FileScan
from vibefix.asyncdb.draft import Draft, key_of
from vibefix.asyncdb.facts import DbFacts, From, FunctionDb, Pass, QueryFact, SessionFacts, Span
from vibefix.asyncdb.loads import LazyLoads
from vibefix.asyncdb.messages import Why
from vibefix.asyncdb.names import is_test_module
from vibefix.asyncdb.orm import Orm
from vibefix.asyncdb.plan import DbPlan, QueryPlan
from vibefix.engine.index import NodeKey, ProjectIndex, named_apart, node_key, shown

SESSION_AWARE = frozenset(
    {"fastapi_pagination.ext.sqlalchemy.paginate", "fastapi_pagination.ext.sqlmodel.paginate"}
)
"""Library functions that take a session first, an AsyncSession as well, and give an
awaitable for it (fastapi-pagination since 0.12: ``codemods.async_sqlalchemy`` says when
a project pins an older one)."""


def _reloaded(function: FunctionDb, var: str) -> bool:
    """``db.refresh(var)`` after the function's last commit: the object holds every
    column again, before the move as after."""
    return any(r.var == var and r.span[0] > max(function.flushes) for r in function.refreshes)


def plan_async_db(index: ProjectIndex, code: str, shared_code: str = "") -> DbPlan:
    """The plan of the codemod ``code``: every file, query and load the move rewrites,
    or the obstacles that hold the whole project back. ``shared_code`` is the codemod
    that gives route handlers their own session (a finding sends the user there)."""
    facts = _named_as_indexed(index, index.facts(FileScan))
    part = _Planner(index, facts, code, shared_code).plan()
    return replace(part, code=code)


def _named_as_indexed(index: ProjectIndex, facts: Mapping[Path, DbFacts]) -> dict[Path, DbFacts]:
    """Every file's facts, with each function under the index's name for it: a route
    handler that a later ``def`` of its name replaces is ``app.create@12``
    (``named_apart``). A dead one keeps its name, and the plan's obstacle says so."""
    named = {
        node_key(module.path, function): function.qualname
        for module in index.modules
        for function, live in named_apart(module.functions)
        if live
    }
    renamed: dict[Path, DbFacts] = {}
    for path, file in facts.items():
        functions = []
        for function in file.functions:
            qualname = named.get(key_of(path, function.span), function.qualname)
            if qualname != function.qualname:
                untyped = f"untyped:{function.qualname}:"
                function = replace(
                    function,
                    qualname=qualname,
                    sessions=tuple(
                        replace(s, source=f"untyped:{qualname}:{s.source[len(untyped) :]}")
                        if s.source.startswith(untyped)
                        else s
                        for s in function.sessions
                    ),
                )
            functions.append(function)
        renamed[path] = replace(file, functions=tuple(functions))
    return renamed


AGGREGATES = frozenset({"count", "sum", "avg", "min", "max"})
"""SQL functions whose value is a number (or a column's own value): hashable."""


def _aggregate(names: tuple[str, ...]) -> bool:
    """A legacy query's entity is ``func.count(...)`` (or another of ``AGGREGATES``)."""
    return bool(names) and all(
        name.startswith(("sqlalchemy.func.", "sqlalchemy.sql.func.", "sqlalchemy.sql.functions."))
        and name.rpartition(".")[2] in AGGREGATES
        for name in names
    )


class _Planner:
    def __init__(
        self, index: ProjectIndex, facts: Mapping[Path, DbFacts], code: str, shared_code: str
    ) -> None:
        from vibefix.sessions.plan import plan_sessions, plan_shared

        self.index = index
        self.code = code
        self.shared_code = shared_code
        self.shared = plan_shared(index).users
        self.facts = facts
        self.dependencies = plan_sessions(index).dependencies
        self.functions: dict[str, tuple[Path, FunctionDb]] = {}
        twice: list[tuple[Path, FunctionDb, FunctionDb]] = []
        for path, file in facts.items():
            for function in file.functions:
                earlier = self.functions.get(function.qualname)
                if earlier is not None and function.sessions:
                    twice.append((path, earlier[1], function))
                self.functions[function.qualname] = (path, function)
        self.orm = Orm(index, facts, self.functions)
        self.draft = Draft(index, facts, self.functions, self.orm, code, shared_code)
        self.aliases = frozenset(alias for file in facts.values() for alias in file.aliases)
        """The module-level names that stand for ``Session`` (``SessionDep``)."""
        self._by_key = {node_key(f.path, f): f for f in index.functions.values()}
        tests = {path: file for path, file in facts.items() if self.draft.in_tests(path)}
        self.test_engines = [(p, e) for p, f in tests.items() for e in f.local_engines]
        """The engines a test suite makes in a function (a fixture)."""
        self.test_makers = [(p, m) for p, f in tests.items() for m in f.local_makers]
        """The session factories a test suite makes in a function (``db_session``)."""
        self.local_makers = frozenset(name for _, (name, _, _) in self.test_makers)
        sqlite = [
            name in {e.rpartition(".")[2] for e in file.sqlite_engines}
            for file in tests.values()
            for name, _, _ in file.engines
        ]
        sqlite += [is_sqlite for _, (_, _, _, is_sqlite) in self.test_engines]
        self.sqlite_tests = bool(sqlite) and all(sqlite)
        """The test suite makes engines, all of them SQLite's (whose connections serve
        any event loop: a server's driver ties each to the loop that opened it)."""
        from vibefix.calls.plan import injected_use

        self.injected = frozenset(
            target
            for module in index.modules
            for reference in module.references
            if injected_use(reference.via, index)
            for target in reference.targets
        )
        """What FastAPI calls as a dependency (``Depends(get_db)``), or in place of one
        (``app.dependency_overrides[get_db] = override``, wherever it is defined: a
        fixture's own ``override_get_db``)."""
        self.engine_names = frozenset(
            {
                f"{self.draft.module(path)}.{name}"
                for path, file in facts.items()
                for name, _, _ in file.engines
                if name
            }
            | {name for _, (name, _, _, _) in self.test_engines}
        )
        """The engines the migration moves, qualified (a fixture's too)."""
        self._inferred: dict[str, bool] = {}
        """``_kept`` and ``_untyped``'s answers (``False`` while one is asked)."""
        self._into: dict[str, list[tuple[FunctionDb, Pass, str, int]]] | None = None
        self.session_fixtures: dict[str, SessionFacts] = {}
        """The test suite's fixtures that yield (or return) a session, by name: pytest
        hands it to the tests and fixtures with a parameter of that name."""
        for _ in range(3):  # a fixture that hands on another's session
            for _, (path, function) in sorted(self.functions.items()):
                fact = self._by_key.get(key_of(path, function.span))
                if fact is None or not any(
                    d.rpartition(".")[2] == "fixture" for d in fact.decorators
                ):
                    continue
                handed = {*function.yields, *(r for r in function.returns if isinstance(r, str))}
                for session in function.sessions:
                    if session.name in handed and self.confirmed(session.source):
                        name = function.qualname.rpartition(".")[2]
                        self.session_fixtures.setdefault(name, session)
        for path, first, later in twice:
            line, column = later.span[:2]
            self.draft.obstacle(
                path,
                line,
                column,
                f"`{shown(later.qualname)}` is defined twice in this module (at"
                f" line {first.span[0]} and here): "
                + (
                    f"which of the two runs is not known, and {code} follows one function"
                    " of a name; rename one"
                    if later.qualname in self.index.ambiguous
                    else "this one replaces the first, which never runs; delete or rename it"
                ),
            )

    def confirmed(self, source: str) -> bool:
        """Whether a session's source (``SessionFacts.source``) is one indeed."""
        from vibefix.sessions.plan import factory

        kind, _, name = source.partition(":")
        if kind == "typed":
            return True
        if kind == "alias":
            return name in self.aliases or self.index.resolve(name) in self.aliases
        if kind == "dep":
            return self.index.resolve(name) in self.dependencies or name in self.dependencies
        if kind == "made":
            return factory(self.index, name) is not None or name in self.local_makers
        if kind == "fixture":
            return name in self.session_fixtures
        if kind == "kept":
            return self._kept(name)
        if kind == "untyped":
            return self._untyped(*name.rpartition(":")[::2])
        if kind == "direct":  # ``Session(engine)`` on an engine the migration moves
            return name in self.engine_names or self.index.resolve(name) in self.engine_names
        if kind == "global":
            made = self.index.objects.get(name)
            return (
                made is not None
                and made.endswith("()")
                and factory(self.index, made[:-2]) is not None
            )
        return False

    def _untyped(self, qualname: str, param: str) -> bool:
        """Whether the parameter ``param`` of ``qualname``, which has no annotation,
        holds a session: the project calls it, and every call hands it one there."""
        cached = self._inferred.get(f"{qualname}:{param}")
        if cached is not None:
            return cached
        self._inferred[f"{qualname}:{param}"] = False
        found = self.functions.get(qualname)
        if found is None or param not in found[1].params:
            return False
        position = found[1].params.index(param)
        sites: dict[tuple[str, int, int], bool] = {}
        for caller, handed, keyword, shift in self._calls_into().get(qualname, ()):
            if keyword:
                if keyword != param:
                    continue
            elif handed.index >= 0 and handed.index + shift != position:
                continue  # (``*args``: anything may land there)
            where = (caller.qualname, handed.line, handed.column)
            ok = handed.session and (
                any(s.name == handed.var and self.confirmed(s.source) for s in caller.sessions)
                or (handed.var.startswith("made:") and self.confirmed(handed.var))
            )
            sites[where] = sites.get(where, False) or ok
        found_all = bool(sites) and all(sites.values())
        self._inferred[f"{qualname}:{param}"] = found_all
        return found_all

    def _kept(self, name: str) -> bool:
        """Whether ``Class.attr`` holds a session: its class, its project bases and
        subclasses assign it, and only ever a session (``self.db = db``, ``db: Session``)."""
        if name in self._inferred:
            return self._inferred[name]
        self._inferred[name] = False  # a session kept from another kept one: no
        owner, _, attr = name.rpartition(".")
        index = self.index
        related = {owner, *index.lineage(owner)} | {
            klass for klass in index.bases if owner in index.lineage(klass)
        }
        entries = [
            (function, var)
            for _, function in self.functions.values()
            if function.qualname.rpartition(".")[0] in related
            for kept, var, _, _ in function.keeps
            if kept == attr
        ]
        found = bool(entries) and all(
            any(s.name == var and self.confirmed(s.source) for s in function.sessions)
            for function, var in entries
        )
        self._inferred[name] = found
        return found

    def plan(self) -> DbPlan:
        draft = self.draft
        engines = [(p, e) for p, f in self.facts.items() for e in f.engines]
        makers = [(p, m) for p, f in self.facts.items() for m in f.makers]
        # A test suite's own engine and factory, made in a fixture, move with it.
        engines += [(p, (name, span, problem)) for p, (name, span, problem, _) in self.test_engines]
        makers += self.test_makers
        for path, file in sorted(self.facts.items()):
            if file.engine_factories and not self.draft.in_tests(path):
                # A function that returns an engine: perhaps the app's, which the move
                # would leave sync under async sessions.
                line, column = file.engine_factories[0][:2]
                draft.obstacle(
                    path,
                    line,
                    column,
                    f"the engine is made by a function here: {self.code} moves an engine"
                    " made at a module's top level (`engine = create_engine(url, ...)`);"
                    " make it there, or move this one to `create_async_engine` by hand",
                )
        for path, file in sorted(self.facts.items()):
            if file.local_engines and file.local_makers and not self.draft.in_tests(path):
                # ``engine = create_engine(url)`` and a session factory on it in a
                # function of the app (a middleware's ``__init__``): its sessions would
                # stay sync under ``AsyncSession`` (an engine it only connects stays).
                line, column = file.local_engines[0][1][:2]
                draft.obstacle(
                    path,
                    line,
                    column,
                    f"the engine is made in a function here: {self.code} moves an engine"
                    " made at a module's top level (`engine = create_engine(url, ...)`);"
                    " make it there, or move this one to `create_async_engine` by hand",
                )
        if not engines and not draft.obstacles:
            # Sessions but no engine among the files read: a run on part of a project.
            for _, (path, function) in sorted(self.functions.items()):
                if any(self.confirmed(session.source) for session in function.sessions):
                    line, column = function.span[:2]
                    draft.obstacle(
                        path,
                        line,
                        column,
                        f"the engine (`create_engine`) is not in the files read: {self.code}"
                        " moves the whole project at once, so run it on the whole project",
                    )
                    break
            return DbPlan(obstacles=tuple(draft.obstacles))
        for path, (_, span, problem) in [*engines, *makers]:
            if problem:
                draft.obstacle(path, span[0], span[1], problem)
        for _, (path, function) in sorted(self.functions.items()):
            self._function(path, function)
        self._own_async()
        checks = Checks(
            draft,
            self.dependencies,
            [name for _, (name, *_) in self.test_engines],
            self.sqlite_tests,
        )
        disposals = checks.engine_uses()
        checks.file_problems()
        checks.state_sessions()
        LazyLoads(draft).check()
        create_all, app, after = checks.tables()
        if create_all is not None:
            checks.test_clients()
        if not self._sqlite_only() and (create_all is None or checks.tested_tables):
            checks.loop_clients()
        return replace(
            self._part(engines, makers, disposals, create_all, app),
            create_all_after=after,
            create_all_guard=checks.guard,
            create_all_helper=checks.helper,
            notes=tuple(self._bare_responses()),
        )

    def _sqlite_only(self) -> bool:
        """Every engine the tests may reach is SQLite's, as written: the suite's own (all
        SQLite), else the app's."""
        if self.sqlite_tests:
            return True
        app = [
            name in {e.rpartition(".")[2] for e in file.sqlite_engines}
            for path, file in self.facts.items()
            if not self.draft.in_tests(path)
            for name, _, _ in file.engines
        ]
        return bool(app) and all(app)

    def _bare_responses(self) -> list[tuple[Path, int, int, str]]:
        """Route handlers with no response model that return an ORM object a commit
        expired: FastAPI encodes the attributes it holds, none before the move (a
        commit expired them) and every column after (``expire_on_commit=False``)."""
        from vibefix.calls.plan import route_decorated

        found = []
        for _, (path, function) in sorted(self.functions.items()):
            fact = self.index.functions.get(function.qualname)
            if function.response or fact is None or not route_decorated(fact, self.index):
                continue
            origins = dict(function.origins)
            for returned in function.returns:
                origin = origins.get(returned) if isinstance(returned, str) else returned
                if origin is None or origin.kind is not From.CALL:
                    continue
                made = (
                    self.orm.model([origin.name]) is not None
                    and bool(function.flushes)
                    and not (isinstance(returned, str) and _reloaded(function, returned))
                )
                helper = self.functions.get(origin.name)
                made = made or (
                    helper is not None
                    and bool(helper[1].flushes)
                    and any(
                        isinstance(r, str)
                        and (o := dict(helper[1].origins).get(r)) is not None
                        and o.kind is From.CALL
                        and self.orm.model([o.name]) is not None
                        and not _reloaded(helper[1], r)
                        for r in helper[1].returns
                    )
                )
                if made:
                    line, column = function.span[:2]
                    found.append(
                        (
                            path,
                            line,
                            column,
                            f"`{shown(function.qualname)}` returns an ORM object"
                            " after a commit, with no response model: FastAPI encodes the"
                            " attributes it holds, none before the move (the commit expired"
                            " them) and every column after (expire_on_commit=False), a secret"
                            " one included; declare a `response_model`",
                        )
                    )
                    break
        return found

    def _part(
        self,
        engines: list[tuple[Path, tuple[str, Span, Why]]],
        makers: list[tuple[Path, tuple[str, Span, Why]]],
        disposals: dict[NodeKey, str],
        create_all: NodeKey | None,
        app: NodeKey | None,
    ) -> DbPlan:
        """The plan, from what is decided: a migration when nothing holds it back."""
        draft = self.draft
        engine_keys = [key_of(p, e[1]) for p, e in engines]
        maker_keys = [key_of(p, m[1]) for p, m in makers]
        return DbPlan(
            migrates=not draft.obstacles,
            obstacles=tuple(sorted(set(draft.obstacles))),
            engines=frozenset(engine_keys),
            disposals=disposals,
            makers=frozenset(maker_keys),
            awaits=frozenset(draft.awaits),
            waits=frozenset(draft.waits),
            queries={
                key: replace(q, loads=tuple(sorted(draft.loads.get(key, ()))))
                for key, q in draft.queries.items()
            },
            refreshes={key: tuple(sorted(rels)) for key, rels in draft.refreshes.items() if rels},
            gets={key: tuple(sorted(rels)) for key, rels in draft.get_loads.items() if rels},
            get_keys=dict(draft.get_keys),
            session_calls=frozenset(draft.session_calls),
            handed_sessions=frozenset(draft.handed_sessions),
            sync_withs=frozenset(draft.sync_withs),
            clients=frozenset(draft.clients),
            run_syncs=dict(draft.run_syncs),
            starts=frozenset(draft.starts),
            session_aware=frozenset(draft.session_aware),
            engine_blocks=frozenset(draft.engine_blocks),
            table_blocks=dict(draft.table_blocks),
            awaited_tables=frozenset(draft.awaited_tables),
            own_async=frozenset(draft.own_async),
            selects={key: tuple(sorted(rels)) for key, rels in draft.select_loads.items() if rels},
            async_functions=frozenset(draft.async_functions),
            models=frozenset(self.orm.models),
            aliases=self.aliases,
            create_all=create_all,
            app=app,
            sqlite_tests=self.sqlite_tests,
            sqlite=any(e[3] for _, e in self.test_engines)
            or any(file.sqlite_engines for file in self.facts.values()),
            wanted_modules=frozenset(
                source for module in self.index.modules for source in module.star_imports
            ),
            wanted_names=frozenset(
                {
                    "sqlalchemy",
                    "Session",
                    *draft.unseen_names,
                    *(name for _, (name, _, _) in engines if name),
                    *(name for _, (name, _, _) in makers if name),
                    *(name.rpartition(".")[2] for name in self.dependencies),
                    *(name.rpartition(".")[2] for name in self.orm.models),
                    # Once the lifespan makes the tables, a test client that runs none
                    # finds no tables (``Checks.test_clients``): its module is read.
                    # So is it where the database may be a server's, which needs one
                    # event loop for its requests (``Checks.loop_clients``).
                    *(("TestClient",) if create_all is not None or not self._sqlite_only() else ()),
                }
            ),
            files=frozenset(
                key[0]
                for key in (
                    *engine_keys,
                    *maker_keys,
                    *draft.awaits,
                    *draft.waits,
                    *draft.queries,
                    *draft.async_functions,
                    *draft.sessions,
                    *disposals,
                    *((create_all,) if create_all else ()),
                    *draft.select_loads,
                    *draft.run_syncs,
                    *draft.starts,
                    *draft.engine_blocks,
                    *draft.table_blocks,
                    *draft.session_calls,
                    *draft.sync_withs,
                    *draft.clients,
                )
            )
            | {path for path, file in self.facts.items() if file.aliases},
        )

    def _own_async(self) -> None:
        """A session dependency whose only call makes the session, held in ``with``
        (``with SessionLocal() as db: yield db``): no call of it makes the async plan
        take it async, so VF203 does."""
        from vibefix.sessions.plan import factory

        for key in self.draft.async_functions:
            function = self._by_key.get(key)
            if (
                function is not None
                and not function.is_async
                and function.is_generator
                and function.qualname in self.dependencies
                and all(
                    any(factory(self.index, t) is not None for t in call.targets)
                    for call in function.calls
                )
            ):
                self.draft.own_async.add(key)

    # -- one function --------------------------------------------------------------------

    def _function(self, path: Path, function: FunctionDb) -> None:
        """Its sessions' calls to await and queries to rewrite, or their obstacles."""
        names = set()
        for session in function.sessions:
            if not self.confirmed(session.source):
                if (
                    session.name in function.yields
                    and session.source.startswith(("made:", "direct:"))
                    and function.qualname in self.injected
                ):
                    line, column = function.span[:2]
                    self.draft.obstacle(
                        path,
                        line,
                        column,
                        f"the dependency yields `{session.name}`, a session made on an"
                        f" engine or factory {self.code} does not move: it would stay a"
                        " sync Session where the handlers await an AsyncSession",
                    )
                continue
            names.add(session.name)
            self._session(path, function, session)
            for query in session.queries:
                self._query(path, session, query)
        self._handed(path, function, names)
        for name, span in function.constructs:
            if name in names:
                self.draft.session_calls.add(key_of(path, span))
        owner = function.qualname.rpartition(".")[0]
        for attr, var, line, column in function.keeps:
            if var in names and not self._kept(f"{owner}.{attr}"):
                self.draft.obstacle(
                    path,
                    line,
                    column,
                    f"`self.{attr}` keeps the session here and other values elsewhere in"
                    f" the class: {self.code} follows an attribute that only ever holds"
                    " a session",
                )
        if names:
            self.draft.sessions[key_of(path, function.span)] = frozenset(names)
        if any(
            s.name in names and s.name in function.params and s.source != "global"
            for s in function.sessions
        ):
            self.draft.handed_sessions.add(key_of(path, function.span))

    def _session(self, path: Path, function: FunctionDb, session: SessionFacts) -> None:
        draft = self.draft
        if session.source.startswith("global:") and (
            key_of(path, function.span) not in self.shared
        ):
            line, column = function.span[:2]
            draft.obstacle(
                path,
                line,
                column,
                f"`{session.name}` is a session made at import and shared by every"
                f" caller: an AsyncSession cannot be ({self.shared_code} gives route handlers"
                " their own; elsewhere, open one in the function)",
            )
        waits = self._waits(path, session, function)
        for site in session.sites:
            if site.problem:
                draft.obstacle(path, site.span[0], site.span[1], site.problem)
            elif site.awaits and waits and self._stays_sync(path, site.function):
                if site.entered:
                    # ``db = Factory()``, ``try:`` the block, ``finally:`` closed on an
                    # event loop of its own.
                    draft.sync_withs.add(key_of(path, site.span))
                else:
                    draft.waits.add(key_of(path, site.span))
            elif site.awaits:
                draft.awaits.add(key_of(path, site.span))
                draft.async_functions.add(key_of(path, site.function))

    def _waits(self, path: Path, session: SessionFacts, function: FunctionDb | None = None) -> bool:
        """Whether the session's calls in sync code run through ``asyncio.run``: it is a
        test suite's session (made by a factory of a test module or on its engine, in a
        test module, or handed by a fixture that yields one), and the suite's engines
        are SQLite's."""
        kind, _, factory = session.source.partition(":")
        if (
            kind == "typed"
            and function is not None
            and session.name in function.params
            and session.name in self.session_fixtures
            and self.draft.in_tests(path)
            and self._pytest_calls(path, function)
        ):
            # ``def test_add(db: Session)``: pytest hands it the fixture's session,
            # annotated or not.
            kind, factory = "fixture", session.name
        if kind == "fixture" and factory in self.session_fixtures:
            given = self.session_fixtures[factory]
            if given is not session:
                return self._waits(path, given)
        return (
            kind in ("made", "direct")
            and self.draft.in_tests(path)
            and is_test_module(factory.rpartition(".")[0])
            and self.sqlite_tests
        )

    def _pytest_calls(self, path: Path, function: FunctionDb) -> bool:
        """pytest calls ``function`` and hands it its fixtures: a test, or a fixture."""
        fact = self._by_key.get(key_of(path, function.span))
        return function.qualname.rpartition(".")[2].startswith("test") or (
            fact is not None and any(d.rpartition(".")[2] == "fixture" for d in fact.decorators)
        )

    def _stays_sync(self, path: Path, span: Span) -> bool:
        """The function at ``span`` is a plain ``def`` FastAPI does not call (a fixture,
        a test, a helper of theirs), not a dependency (``override_get_db``)."""
        function = self._by_key.get(key_of(path, span))
        return (
            function is not None
            and not function.is_async
            and function.qualname not in self.dependencies
            and function.qualname not in self.injected
        )

    def _query(self, path: Path, session: SessionFacts, query: QueryFact) -> None:
        draft = self.draft
        models = [self.orm.model(entity) for entity in query.entities]
        model = models[0] if len(models) == 1 else None
        unknown = [e for e, found in zip(query.entities, models, strict=True) if not found]
        if query.terminal and any(self._unknown_entity(names) for names in unknown):
            draft.obstacle(
                path,
                query.span[0],
                query.span[1],
                f"the query's `{query.model or '?'}` is no model or column {self.code} knows"
                " (a generic repository's `self.model`?): whether it gives objects"
                " (`scalars`) or rows (`execute`) is not known; write the 2.0 statement by"
                " hand",
            )
            return
        scalars = all(
            found or _aggregate(names) for names, found in zip(query.entities, models, strict=True)
        )
        if (
            any(models)
            and model is None
            and query.terminal in ("all", "one", "one_or_none")
            and not (scalars and sum(1 for found in models if found) == 1)
        ):
            # A model and aggregates (``query(Post, func.count(...))``): numbers, which
            # ``.unique()`` can hash, and one row per object as the query groups them.
            draft.obstacle(
                path,
                query.span[0],
                query.span[1],
                "a legacy query of a model and other columns returned each row once,"
                " which 2.0's `.unique()` cannot always do (a JSON column): select"
                " the model alone, or write the statement by hand",
            )
        eager = "joinedload" in query.options or any(
            lazy == "joined" for (owner, _), lazy in self.orm.eager.items() if owner in models
        )
        draft.queries[key_of(path, query.span)] = QueryPlan(
            session.name,
            model is not None,
            query.terminal,
            model=query.model,
            mapped=any(models),
            eager=eager,
            wait=key_of(path, query.span) in draft.waits,
        )
        if query.terminal in ("delete", "update", "get") and model is None:
            draft.obstacle(
                path,
                query.span[0],
                query.span[1],
                "the query's model is unknown: no 2.0 statement can be written for it",
            )

    def _unknown_entity(self, names: tuple[str, ...]) -> bool:
        """Whether what a legacy query selects (its qualified names) is neither a model
        nor a column of one, nor anything from outside the project (``func.count(...)``,
        a ``literal``): a value VF203 cannot tell."""
        if "?" in names or any("<locals>" in name for name in names):
            return True  # ``self.model``, a parameter: any class, or a column
        first_party = {module.module.partition(".")[0] for module in self.index.modules}
        return bool(names) and all(
            name.partition(".")[0] in first_party
            and self.orm.model([name.rpartition(".")[0]]) is None
            and self.orm.model([name]) is None
            for name in names
        )

    def _calls_into(self) -> dict[str, list[tuple[FunctionDb, Pass, str, int]]]:
        """Every argument handed to a project function, by the function: the caller,
        the argument, its keyword (``""``), and the parameters before the arguments."""
        if self._into is None:
            self._into = {}
            for _, caller in self.functions.values():
                for handed in caller.passes:
                    for callee in handed.callees:
                        name, _, keyword = callee.partition(":")
                        for target, shift in self._callees(name):
                            if target in self.functions:
                                entry = (caller, handed, keyword, shift)
                                self._into.setdefault(target, []).append(entry)
        return self._into

    def _callees(self, name: str) -> list[tuple[str, int]]:
        """What a call of ``name`` may run, and how many parameters come before the
        arguments (``self``): the function; a class's ``__init__`` (its own or a
        base's) for ``UserRepository(db)``; the method, its class's or a base's, for
        ``repo.create(db)`` on a module-level instance or ``self.get(db)``."""
        exported = self.index.resolve(name)
        if exported != name and (exported in self.functions or exported in self.index.bases):
            # A package's re-export: ``from app.crud import get_user``, or of a class
            # (``from app.repositories import UserRepository``).
            name = exported
        fact = self.index.functions.get(name)
        bound = (
            fact is not None
            and fact.owner_class is not None
            and not {d.rpartition(".")[2] for d in fact.decorators}
            & {"staticmethod", "classmethod"}
        )
        # ``ItemRepo().rename(db)`` reads as ``ItemRepo.rename``: called on an instance.
        found = [(name, int(bound))]
        found += [(f"{k}.__init__", 1) for k in self.index.lineage(name)]
        owner, _, method = self.index.resolve(name).rpartition(".")
        if not owner.endswith("()"):
            return found
        owner = self.index.resolve(owner[:-2])
        found += [(f"{k}.{method}", 1) for k in (owner, *self.index.lineage(owner))]
        return found

    def _session_aware(self, path: Path, function: FunctionDb, handed: Pass) -> bool:
        """A session handed first to a library's function that takes an AsyncSession
        as well and gives an awaitable for it (``paginate(db, stmt)`` of
        fastapi-pagination): the call is awaited."""
        fact = self._by_key.get(key_of(path, function.span))
        for call in fact.calls if fact else ():
            if (call.line, call.column) <= (handed.line, handed.column) <= call.end and any(
                self.index.resolve(target) in SESSION_AWARE for target in call.targets
            ):
                key = (path, call.line, call.column, *call.end)
                self.draft.awaits.add(key)
                self.draft.session_aware.add(key)
                return True
        return False

    def _handed(self, path: Path, function: FunctionDb, names: set[str]) -> None:
        """A session handed on must go to a parameter annotated ``Session``."""
        for handed in function.passes:
            if not handed.session or handed.var not in names:
                continue
            index = handed.index
            # ``helper(db)`` by position, or ``helper(db=db)`` by keyword.
            targets = [n.partition(":") for n in handed.callees]
            found = next(
                (
                    (name, kw, shift)
                    for n, _, kw in targets
                    for name, shift in self._callees(n)
                    if name in self.functions
                ),
                None,
            )
            if found is None and index == 0 and self._session_aware(path, function, handed):
                continue
            callee = self.functions[found[0]] if found else None
            param = found[1] if found else ""
            if found is not None:
                index += found[2]
            if callee is not None and not param and 0 <= index < len(callee[1].params):
                param = callee[1].params[index]
            typed = callee is not None and any(
                s.name == param
                and (s.source == "typed" or s.source.startswith(("alias:", "untyped:")))
                and self.confirmed(s.source)
                for s in callee[1].sessions
            )
            if not typed:
                self.draft.obstacle(
                    path,
                    handed.line,
                    handed.column,
                    f"`{handed.var}` is handed to something that does not take it as a"
                    f" `Session` parameter: {self.code} cannot tell it gets an AsyncSession",
                )
