"""The obstacles found across the project rather than in one function: what the files
say (``scoped_session``, a ``lazy="dynamic"`` mapping, the engine handed on), sessions
kept on ``app.state``, the engine's own calls, and where
``create_all`` runs (it moves into the app's lifespan)."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from vibefix.asyncdb.draft import Draft, key_of
from vibefix.asyncdb.facts import DbFacts, Span
from vibefix.asyncdb.names import SESSION_PREFIXES, SESSION_TYPES
from vibefix.engine.index import CallFact, FunctionFact, NodeKey, node_key

FACTORY_METHODS = ("sqlalchemy.orm.sessionmaker().", "sqlalchemy.orm.session.sessionmaker().")
"""A session factory's methods, resolved."""


class Checks:
    def __init__(
        self,
        draft: Draft,
        dependencies: Collection[str],
        test_engines: Collection[str] = (),
        sqlite_tests: bool = False,
    ) -> None:
        self.draft = draft
        self.index = draft.index
        self.facts = draft.facts
        self.functions = draft.functions
        self.orm = draft.orm
        self.code = draft.code
        self.dependencies = dependencies
        self.test_engines = test_engines
        self.sqlite_tests = sqlite_tests
        self.helper = False
        """The ``create_all`` moving into the lifespan is a helper's call (``tables``)."""
        self.guard: NodeKey | None = None
        """The ``if`` that guards the ``create_all`` moving into the lifespan (``tables``)."""
        """The test suite's engines are all SQLite's (``DbPlan.sqlite_tests``)."""
        """The engines the test suite makes in a function, by qualified local name."""
        self.tested_tables = False
        """The test suite makes its tables itself (``create_all`` on its own engine)."""

    def file_problems(self) -> None:
        """What the files say: the obstacles their scan found, mappings an AsyncSession
        cannot load, the engine handed on, and calls of the session factory or
        dependency it does not rewrite."""
        engines = {
            f"{self.draft.module(path)}.{name}"
            for path, f in self.facts.items()
            for name, _, _ in f.engines
        } | set(self.test_engines)
        for path, file in sorted(self.facts.items()):
            for span, why in file.problems:
                self.draft.obstacle(path, span[0], span[1], why)
            for span in file.blind_nexts if self.dependencies else ():
                self.draft.obstacle(
                    path,
                    span[0],
                    span[1],
                    f"`next(...)` runs a generator made by a function {self.code} cannot tell"
                    " (a value of `app.dependency_overrides`?): the session dependency and"
                    " its override are async generators after the move, which `next` cannot"
                    " run; call it by its name, or through a request",
                )
            self._dynamic(path, file)
            self._engine_handed(path, file, engines)
        self._factory_calls()

    def _dynamic(self, path: Path, file: DbFacts) -> None:
        """A relationship mapped ``lazy="dynamic"`` (or with a ``lazy=`` it cannot read)."""
        for (model, attr), lazy in sorted(self.orm.eager.items()):
            if (
                lazy in ("dynamic", "?")
                and self.orm.models.get(model) is not None
                and any(m == model for m, *_ in file.loading)
            ):
                self.draft.obstacle(
                    path,
                    1,
                    1,
                    f'`{model.rpartition(".")[2]}.{attr}` is loaded `lazy="{lazy}"`,'
                    ' which an AsyncSession cannot do (`lazy="write_only"` can)',
                )

    def _engine_handed(self, path: Path, file: DbFacts, engines: set[str]) -> None:
        """The engine handed to a call, which would get an AsyncEngine; in a test
        suite's sync code, ``create_all``/``drop_all`` run through ``_run_sync``."""
        tests = self.draft.in_tests(path)
        for name, span, callee in file.arguments:
            resolved = self.index.resolve(name)
            if callee in SESSION_TYPES and any(
                key[0] == path and key[1:3] <= span[:2] <= key[3:5]
                for key in self.draft.session_calls
            ):
                continue  # ``Session(engine)``: ``AsyncSession(engine, ...)``
            if self.index.resolve(callee).startswith(FACTORY_METHODS) and callee.endswith(
                ".configure"
            ):
                continue  # ``SessionLocal.configure(bind=engine)``: both move
            if name in engines or resolved == "sqlalchemy.create_engine()":
                call, alone = next(
                    ((c, a) for c, argument, a in file.table_calls if argument == span),
                    (None, False),
                )
                if call is not None and self._tables_call(path, call, alone, tests):
                    self.tested_tables |= tests and callee.endswith("create_all")
                    continue
                if (
                    not tests
                    and callee.endswith("create_all")
                    and any(
                        kind == "create_all" and where[0] <= span[0] <= where[2]
                        for _, where, kind in file.module_uses
                    )
                ):
                    continue  # the module-level create_all that moves to the lifespan
                verb = callee.rpartition(".")[2]
                self.draft.obstacle(
                    path,
                    span[0],
                    span[1],
                    f"the engine is handed to `{verb}`, which would get an AsyncEngine"
                    + (
                        f": {self.code} moves `{verb}` at the import of the app's module, in an"
                        " `async def` or a startup hook, or in a helper that does nothing"
                        " else and that one statement calls at that import; move it to one of"
                        " them by hand"
                        if verb in ("create_all", "drop_all")
                        else ""
                    ),
                )

    def _tables_call(self, path: Path, call: Span, alone: bool, tests: bool) -> bool:
        """Whether ``create_all``/``drop_all`` given the engine has a rewrite where it
        is: in an ``async def`` (or an app's ``on_event`` hook, which becomes one), a
        statement ``async with engine.begin()`` runs; in sync code no event loop runs
        (a test suite's, a script's), ``_run_sync``."""
        function = self._enclosing(path, call)
        key = key_of(path, call)
        if function is not None and (
            function.is_async
            or node_key(function.path, function) in self.draft.async_functions
            or self._hook(function, path)
            or self.tables_helper(function) is not None
        ):
            # (A test suite's ``get_db`` override that makes the tables becomes async.)
            if not alone:
                return False
            self.draft.table_blocks[key] = node_key(function.path, function)
            return True
        if tests or (function is not None and self._script(function)):
            self.draft.run_syncs[key] = function.qualname if function else ""
            return True
        if function is not None and alone and self._awaitable_helper(function, path):
            # ``def init_db(): Base.metadata.create_all(bind=engine)`` that a startup hook
            # (or another function) calls: it becomes async, and is awaited where it is
            # called (a caller that stays sync holds the move back, said then).
            fn = node_key(function.path, function)
            self.draft.table_blocks[key] = fn
            self.draft.awaited_tables.add(key)
            self.draft.async_functions.add(fn)
            return True
        return False

    def tables_helper(self, function: FunctionFact) -> tuple[Path, Span] | None:
        """``def create_tables(): Base.metadata.create_all(bind=engine)``, called once,
        by a statement of its own at the import of the module that makes the app: it
        becomes async, and the app's lifespan awaits it (``tables``). That statement."""
        if (
            function.is_async
            or function.is_generator
            or function.decorators
            or function.owner_class is not None
            or self.draft.in_tests(function.path)
            or len(function.calls) != 1
        ):
            return None
        file = self.facts.get(function.path)
        (call,) = function.calls
        if file is None or not any(
            c[:2] == (call.line, call.column) and alone for c, _, alone in file.table_calls
        ):
            return None
        made = [
            (path, span)
            for path, facts in self.facts.items()
            if facts.apps
            for name, span, kind in facts.module_uses
            if kind in ("helper", "factory_helper")
            and self.index.resolve(name) == function.qualname
        ]
        calls = [
            c
            for f in self.index.functions.values()
            for c in f.calls
            if function.qualname in {self.index.resolve(t) for t in c.targets}
            and not any((f.path, c.line, c.column) == (p, *s[:2]) for p, s in made)
        ]
        if len(made) != 1 or calls:
            return None
        return made[0]

    def _hook(self, function: FunctionFact, path: Path) -> bool:
        """An app's ``@app.on_event("startup")`` function that does nothing but make
        (or drop) the tables and say so (``print``, ``logging``): Starlette awaits it
        once it is an ``async def``."""
        tables = {call[0] for call, _, _ in self.facts[path].table_calls}
        return all(
            call.line in tables or all(self._says(target) for target in call.targets)
            for call in function.calls
        ) and any(
            decorator.rpartition(".")[2] == "on_event"
            and decorator.rpartition(".")[0] in self.index.applications
            for decorator in function.decorators
        )

    def _awaitable_helper(self, function: FunctionFact, path: Path) -> bool:
        """A plain function that makes (or drops) the tables and may say so, and that no
        module calls at its import (where nothing can await it): the async plan makes
        it async, and its callers await it."""
        tables = {call[0] for call, _, _ in self.facts[path].table_calls}
        return (
            not function.is_generator
            and not function.decorators
            and all(
                call.line in tables or all(self._says(target) for target in call.targets)
                for call in function.calls
            )
            and not any(
                function.qualname in {self.index.resolve(t) for t in call.targets}
                for module in self.index.modules
                for call in module.module_calls
            )
        )

    def _says(self, target: str) -> bool:
        """``print(...)``, ``log.info(...)``: what a hook may do besides the tables
        once it is an ``async def`` (nothing there waits)."""
        resolved = self.index.resolve(target)
        return resolved in ("builtins.print",) or resolved.startswith("logging.")

    def _script(self, function: FunctionFact) -> bool:
        """A plain function the project runs only from an ``if __name__ == "__main__":``
        block, or never (a script): no event loop runs there."""
        name = function.qualname
        if function.decorators or function.owner_class is not None:
            return False
        for other in self.index.functions.values():
            for call in other.calls:
                if name in call.targets or any(self.index.resolve(t) == name for t in call.targets):
                    return False
        for module in self.index.modules:
            if any(name in reference.targets for reference in module.references):
                return False
            guards = next((f.main_guards for p, f in self.facts.items() if p == module.path), ())
            for call in module.module_calls:
                if (
                    name in call.targets or any(self.index.resolve(t) == name for t in call.targets)
                ) and not any(g[0] <= call.line <= g[2] for g in guards):
                    return False
        return True

    def _engine_block(self, function: FunctionFact, call: CallFact) -> bool:
        """``with engine.connect() as c: c.execute(stmt); c.commit()`` in a test
        suite's sync code: planned as ``_run_sync(engine, lambda c: c.execute(stmt))``."""
        if function.is_async or not self.draft.in_tests(function.path):
            return False
        file = self.facts.get(function.path)
        block = next(
            (
                with_
                for with_, opened in (file.engine_blocks if file else ())
                if opened[:2] == (call.line, call.column)
            ),
            None,
        )
        if block is None:
            return False
        self.draft.engine_blocks.add(key_of(function.path, block))
        return True

    def _held(self, function: FunctionFact, call: CallFact) -> bool:
        """``connection = engine.connect()``, then ``transaction = connection.begin()``,
        a session bound to it, ``transaction.rollback()``, ``connection.close()``
        (SQLAlchemy's test recipe) in a test suite's sync code, on SQLite's engines
        (whose connections serve any event loop): each call on an event loop of its
        own, the opening ones started (``asyncio.run(engine.connect().start())``)."""
        if function.is_async or not self.draft.in_tests(function.path) or not self.sqlite_tests:
            return False
        file = self.facts.get(function.path)
        for opens, runs in file.held if file else ():
            if opens[0][:2] == (call.line, call.column):
                self.draft.starts.update(key_of(function.path, span) for span in opens)
                self.draft.waits.update(key_of(function.path, span) for span in runs)
                return True
        return False

    def _enclosing(self, path: Path, span: Span) -> FunctionFact | None:
        """The innermost function of ``path`` around ``span``."""
        around = [
            f
            for f in self.index.functions.values()
            if f.path == path and f.line <= span[0] <= f.end[0]
        ]
        return max(around, key=lambda f: f.line, default=None)

    def _factory_calls(self) -> None:
        """A method of the session factory (``SessionLocal.begin()``), or the session
        dependency called directly (``next(get_db())``)."""
        for fact in self.index.functions.values():
            for call in fact.calls:
                for target in call.targets:
                    resolved = self.index.resolve(target)
                    if resolved.startswith(FACTORY_METHODS) and not resolved.endswith(".configure"):
                        # ``configure(bind=engine)`` is ``async_sessionmaker``'s as well.
                        verb = resolved.rpartition(".")[2]
                        self.draft.obstacle(
                            fact.path,
                            call.line,
                            call.column,
                            f"the session factory's `{verb}` has no rewrite in {self.code}",
                        )
                    if target in self.dependencies or resolved in self.dependencies:
                        self.draft.obstacle(
                            fact.path,
                            call.line,
                            call.column,
                            f"the session dependency `{target.rpartition('.')[2]}` is called"
                            " directly: it becomes an async generator",
                        )

    def state_sessions(self) -> None:
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
                    self.draft.obstacle(
                        path,
                        span[0],
                        span[1],
                        f"the session kept on `app.state.{attribute}` is shared by every"
                        " request and would be an AsyncSession used without `await` here:"
                        f" run the default recipe first ({self.draft.shared_code} gives each"
                        " handler the request's own), then remove the session from `app.state`"
                        " and the code that still uses it, then run async-db",
                    )

    def engine_uses(self) -> dict[NodeKey, str]:
        """The engine's ``dispose()`` calls (awaited, or run in sync code); any other
        call of one of its methods in a function is an obstacle."""
        disposals: dict[NodeKey, str] = {}
        # An engine an app's function makes for itself is no engine the move touches.
        own = {
            local.partition(".<locals>.")[0]
            for path, file in self.facts.items()
            if not self.draft.in_tests(path)
            for local, _, _, _ in file.local_engines
        }
        for name, function in sorted(self.index.functions.items()):
            if name in own:
                continue
            for call in function.calls:
                for target in call.targets:
                    resolved = self.index.resolve(target)
                    if not resolved.startswith("sqlalchemy.create_engine()."):
                        continue
                    verb = resolved.removeprefix("sqlalchemy.create_engine().")
                    if "(" in verb.split(".")[-1] or "()." in verb:
                        continue  # on what one of its methods returned: that one is said
                    key = (function.path, call.line, call.column, *call.end)
                    if verb in ("connect", "begin") and (
                        self._engine_block(function, call) or self._held(function, call)
                    ):
                        continue
                    if verb == "dispose" and call.awaitable:
                        disposals[key] = name
                    elif verb.split(".")[0] not in ("url", "dialect", "pool", "name"):
                        self.draft.obstacle(
                            function.path,
                            call.line,
                            call.column,
                            f"no rewrite for the engine's `{verb.split('(')[0]}`: an async"
                            " engine's connections are awaited (`async with"
                            " engine.connect()`); change it by hand",
                        )
        return disposals

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
                f"the app's `lifespan=` is not a function of the project that {self.code} can"
                " wrap: move `create_all` into it by hand"
            )
        if not any(d.endswith("asynccontextmanager") for d in function.decorators):
            return (
                f"the app's lifespan `{lifespan.rpartition('.')[2]}` is no"
                " `@asynccontextmanager`: move `create_all` into it by hand"
            )
        return ""

    def tables(self) -> tuple[NodeKey | None, NodeKey | None, bool]:
        """The module-level ``create_all`` that moves into the app's lifespan, the app's
        ``FastAPI(...)`` call, and whether the app is made above it."""
        create_all: NodeKey | None = None
        app: NodeKey | None = None
        after = False
        for path, file in self.facts.items():
            for name, span, kind in file.module_uses:
                helper = self.index.functions.get(self.index.resolve(name))
                inside = kind == "factory_helper"  # in the function that makes the app
                awaited = False
                if (
                    kind in ("helper", "factory_helper")
                    and helper is not None
                    and self.tables_helper(helper)
                ):
                    kind = "create_all"  # ``create_tables()``: the lifespan awaits it
                    awaited = True
                if kind == "create_all" and self.draft.in_tests(path):
                    continue  # at a test module's import: ``_run_sync`` (``_engine_handed``)
                if kind == "create_all":
                    if not file.apps or create_all is not None:
                        self.draft.obstacle(
                            path,
                            span[0],
                            span[1],
                            "`create_all` at import, outside the module that makes the app:"
                            f" {self.code} moves it into the app's lifespan only there",
                        )
                        continue
                    statement, call, keywords = file.apps[0]
                    guard = next((g for g, inner in file.table_guards if inner == span), None)
                    if span[1] != 1 and guard is not None and guard[1] == 1:
                        # ``if not TESTING: create_all(...)``: the lifespan asks the same.
                        self.guard = key_of(path, guard)
                        span = guard
                    elif span[1] != 1 and not inside:
                        self.draft.obstacle(
                            path,
                            span[0],
                            span[1],
                            "`create_all` runs under a condition (or in a block) here, and"
                            " the lifespan would run it always: move it into a lifespan by"
                            " hand",
                        )
                        continue
                    taken = {"on_startup", "on_shutdown", "**"} & set(keywords)
                    if taken:
                        self.draft.obstacle(
                            path,
                            span[0],
                            span[1],
                            f"the app has `{sorted(taken)[0]}`, which a lifespan would switch off",
                        )
                        continue
                    lifespan = file.lifespans[0] if file.lifespans else ""
                    problem = self._lifespan_problem(lifespan)
                    if problem:
                        self.draft.obstacle(path, span[0], span[1], problem)
                        continue
                    create_all, app = key_of(path, span), key_of(path, call)
                    self.helper = awaited
                    # Made above, or by the function the call is in: the lifespan goes
                    # after the imports, and the statement goes.
                    after = statement[0] < span[0] or inside
                    continue
                resolved = self.index.resolve(name)
                if resolved.startswith(("sqlalchemy.create_engine()", *SESSION_PREFIXES)):
                    self.draft.obstacle(
                        path,
                        span[0],
                        span[1],
                        "a session or the engine used at import, where nothing can be awaited",
                    )
        return create_all, app, after

    def test_clients(self) -> None:
        """Once ``create_all`` moves into the lifespan, a ``TestClient`` that runs none
        would find no tables (unless the suite makes them itself): a ``with`` enters it
        where the shape allows (``facts.DbFacts.test_clients``)."""
        if self.tested_tables:
            return
        self._enter_clients(
            "a `TestClient` not entered with `with` runs no lifespan, where"
            f" {self.code} moves `create_all`: the tables would be missing; use"
            " `with TestClient(app) as client:`"
        )

    def loop_clients(self) -> None:
        """A ``TestClient`` no ``with`` enters runs each request on an event loop of its
        own, which a server's pooled connections cannot serve (asyncpg ties each to the
        loop that opened it): where the suite's engines may be a server's, a ``with``
        enters it where the shape allows, else it is an obstacle."""
        self._enter_clients(
            "a `TestClient` not entered with `with` runs each request on an event loop of"
            " its own, which a server database's pooled async connections cannot serve;"
            " use `with TestClient(app) as client:`"
        )

    def _enter_clients(self, why: str) -> None:
        """Each ``TestClient`` no ``with`` enters: entered where the shape allows, else
        the obstacle ``why``."""
        for path, file in sorted(self.facts.items()):
            for span, how in file.test_clients:
                if how in ("block", "returned") or (how == "module" and _pytest_module(path)):
                    self.draft.clients.add(key_of(path, span))
                elif how != "entered":
                    self.draft.obstacle(path, span[0], span[1], why)


def _pytest_module(path: Path) -> bool:
    """pytest collects the module's fixtures: a test module or a ``conftest.py``."""
    return (
        path.name == "conftest.py" or path.name.startswith("test_") or path.stem.endswith("_test")
    )
