"""VF203: sync SQLAlchemy -> ``AsyncSession``, for the whole project or not at all."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import libcst as cst
from libcst.metadata import QualifiedNameProvider, ScopeProvider
from vibefix.codemods.shared_session import SharedSession

from vibefix.asyncdb.collect import CLIENT, LIFESPAN_FIXTURE, FileScan
from vibefix.asyncdb.names import (
    RUN_SYNC_METHODS,
    SESSION_TYPES,
    STATEMENT_ENDS,
    async_url,
    is_test_module,
    literal_url,
    url_argument,
)
from vibefix.asyncdb.plan import DbPlan, QueryPlan
from vibefix.asyncdb.planner import plan_async_db
from vibefix.asyncdb.settle import settled
from vibefix.asyncdb.statements import fill, run_statement
from vibefix.asyncdb.support import (
    LIFESPAN,
    RUN_SYNC,
    URL_HELPER,
    lifespan,
    run_sync,
    url_helper,
)
from vibefix.asyncdb.syntax import called_line, method, names_in, query_chain, receiver_name
from vibefix.calls.rewrite import AsyncCodemod
from vibefix.codemod import Codemod, PlanContext
from vibefix.cst.arguments import appended, keyword
from vibefix.engine.imports import ModuleAlias
from vibefix.engine.index import NodeKey
from vibefix.http import plan as httpplan
from vibefix.known.packaging import pin, pin_spelled, pinned_version
from vibefix.results import Blocking, Finding, Position, Safety

CLIENT_ENTERED = (
    "the test client is entered with `with`: it runs the app's lifespan, which makes the tables now"
)
CLIENT_ON_ONE_LOOP = (
    "the test client is entered with `with`: its requests run on one event loop, which the"
    " database's pooled async connections need"
)
ENGINE_LINE = (
    r"(?m:^[ \t]*(?:self\.)?\w+[ \t]*(?::[^=\n]*)?=[ \t]*(?:[A-Za-z_][\w.]*\.)?create_engine\("
    r"|^[ \t]+return[ \t]+(?:[A-Za-z_][\w.]*\.)?create_engine\()"
)
"""A module that makes an engine: at its top level, under a condition there (said), in a
function (a fixture's), returned from one or kept by an object (``self.engine = ...``):
an engine factory, which VF203 says it does not move."""


def _held_back(part: DbPlan, where: NodeKey | tuple[Path, int, int], why: str) -> DbPlan:
    """``part``, not migrating, with the obstacle ``why`` at ``where``."""
    path, line, column = where[:3]
    return replace(part, migrates=False, obstacles=(*part.obstacles, (path, line, column, why)))


DRIVERS = (
    ("SQLite", "aiosqlite", re.compile(rb"(?!)")),
    ("PostgreSQL", "asyncpg", re.compile(rb"(?i)(?<![\w.-])psycopg2(?:-binary)?(?![\w.-])")),
    ("MySQL", "aiomysql", re.compile(rb"(?i)(?<![\w.-])(?:pymysql|mysqlclient)(?![\w.-])")),
)
"""The async driver VF203's URL helper picks for each database, and the sync driver
whose declaration says the project runs on it (SQLite's: ``DbPlan.sqlite``)."""
ASYNC_TWINS = {
    "aiosqlite": rb"(?i)aiosqlite",
    "asyncpg": rb"(?i)asyncpg|(?<![\w.-])psycopg(?:\[|(?![\w.-])[^\n#]*?\b3)",
    "aiomysql": rb"(?i)aiomysql|asyncmy",
}
"""What declares an async driver for the database (psycopg 3 serves asyncio too)."""
OLD_FASTAPI = pin("fastapi", r"0\.([0-9]+)")
"""A pin or an upper bound of FastAPI (``fastapi==0.68.1``, ``fastapi>=0.68,<0.69``,
Poetry's ``fastapi = "^0.68.1"``): its 0.x minor version; not another package whose name
starts alike (``fastapi-pagination``)."""
OLD_PAGINATION = pin("fastapi_pagination", r"0\.([0-9]+)")
"""A fastapi-pagination pinned before 1.0 (its ``paginate`` takes an AsyncSession from
0.12 on)."""
OLD_SQLALCHEMY = pin(
    "sqlalchemy", r"(1\.[0-9.]+|2\.0\.(?:[0-9]|[1-3][0-9]|4[0-5])\b|2(?:\.0)?(?![.0-9]))"
)
"""A pin of SQLAlchemy older than 2.0.46 in a declaration file (1.x included, whose
release has no ``async_sessionmaker``)."""


class AsyncSqlalchemy(AsyncCodemod[DbPlan]):
    """Move the project's SQLAlchemy code to `AsyncSession`, awaited, all of it or none.

    Why: a sync `Session` in an `async def` handler blocks the event loop for every
    query; a `def` handler holds one of the thread pool's 40 threads instead. Either way
    the app serves a few dozen requests at a time. With `create_async_engine` and
    `AsyncSession`, a request waiting on the database lets the others run.

    Example:

        engine = create_engine(DATABASE_URL)
        SessionLocal = sessionmaker(bind=engine)

        @router.get("/users/{user_id}")
        def get_user(user_id: int, db: Session = Depends(get_db)):
            return db.query(User).filter(User.id == user_id).first()

    becomes

        engine = create_async_engine(_async_url(DATABASE_URL))
        SessionLocal = async_sessionmaker(bind=engine, expire_on_commit=False)

        @router.get("/users/{user_id}")
        async def get_user(user_id: int, db: AsyncSession = Depends(get_db)):
            return await db.scalar(select(User).where(User.id == user_id).limit(1))

    The URL gets its database's async driver: `sqlite+aiosqlite`, `postgresql+asyncpg`,
    `mysql+aiomysql` (a URL read at run time goes through a generated `_async_url`).
    `execute`, `scalar(s)`, `commit`, `rollback`, `flush`, `refresh`, `delete`, `get`,
    `merge` and `close` are awaited; legacy queries become 2.0 statements
    (`.filter` -> `.where`; `.all()`, `.first()`, `.one()`, `.one_or_none()`,
    `.scalar()`, `.count()`, `.get()`, `.delete()`, `.update()` run them), a query kept
    in a variable included; 2.0 statements (`db.scalars(select(M)...)`) are awaited.
    `with SessionLocal() as db` becomes `async with`. An alias of `Session`
    (`SessionDep = Annotated[Session, Depends(get_db)]`) becomes one of `AsyncSession`.
    Functions that now await become `async def` and their callers await them (VF103,
    VF104). `Base.metadata.create_all(bind=engine)` at import moves into the app's
    lifespan (`conn.run_sync`), before or after the app is made; in an `async def`, or
    an `@app.on_event` hook that does nothing else (made `async def`), it runs in
    `async with engine.begin()`. A relationship read on an object (in the function, in
    a helper the object is handed to, or through the handler's `response_model`) is
    loaded with the query or statement that loads the object
    (`.options(selectinload(Order.items))`) or, for a new object, by a second `refresh`
    naming it: lazy loading raises MissingGreenlet in async code. One the mapping loads
    (`lazy="selectin"`, `"joined"`, `"subquery"`) or the query's options load already
    is left as it is. Sessions are followed where projects keep them: an object's
    (`self.db = db` in a repository), a parameter with no annotation that every call
    hands a session, `Session(engine)` (made `AsyncSession(engine,
    expire_on_commit=False)`), and into methods of an instance or of `self`.

    The test suite moves with the app: its own engines (module-level or made in a
    fixture) keep their pool class (`StaticPool`, `NullPool`); `create_all`/`drop_all`
    in its sync code run through a generated `_run_sync(engine, Base.metadata.create_all)`
    (a script run from its `__main__` block too); its `dependency_overrides` function
    becomes an async generator like `get_db`; with SQLite test engines, the session
    calls of its sync fixtures and tests (sessions from its own factories, or a
    fixture's) run on an event loop of their own (`asyncio.run(db.commit())`), and
    `with engine.connect() as c: c.execute(stmt); c.commit()` becomes
    `_run_sync(engine, lambda c: c.execute(stmt))`; a session held in `with` there is
    opened before a `try` whose `finally` closes it on a loop of its own; a project
    function a sync test calls runs through `asyncio.run(...)` (VF104).

    Safety: review. The project must install the async driver (`aiosqlite`, `asyncpg`,
    `aiomysql`) and `greenlet`; with aiosqlite 0.22, SQLAlchemy 2.0.46 or later (an
    older pin is a finding: its connections keep the process from exiting). Sessions do
    not expire objects on commit (`expire_on_commit=False`, needed to read them
    afterwards without I/O): a value the database computes on commit is read only after
    a `refresh`, and a handler that returns a committed ORM object with no response
    model now encodes every column (a finding says so). asyncpg takes no `sslmode` in
    the URL (`ssl=` instead). The tables are created in the lifespan, which a
    `TestClient` runs only inside `with`: where the test suite makes no tables of its
    own, a client it never enters is entered (a fixture's `client = TestClient(app)` or
    `return TestClient(app)` becomes `with TestClient(app) as client:` around the rest,
    a test module's top-level client gets an autouse fixture that enters it). A
    query that selects a model reads its result through `.unique()`: the legacy query
    returned each object once. `engine.dispose()` in sync code that nothing in the
    project calls (a pytest fixture, a script) runs on its own event loop
    (`asyncio.run`).

    Not rewritten: any of these anywhere leaves the whole project as it is, each a
    finding at its line that says what to change by hand.
    - The engine and factory: an engine a function returns (`return create_engine(url)`),
      a factory called where it is made (`sessionmaker(...)()`), a dependency that
      yields a session on an engine or factory the move does not cover, a project that
      pins FastAPI older than 0.93 (no `lifespan=` for the tables),
      `poolclass=` other than `StaticPool`/`NullPool`, `creator=`,
      a URL that is neither the first argument nor `url=`, or of a database with no
      known async driver; a custom session class (`class_=`), `expire_on_commit=True`,
      `scoped_session`, `SessionLocal.begin()`, the dependency called directly
      (`next(get_db())`); an engine method other than `dispose` (raw SQL on
      `engine.connect()` outside the test suite's one-statement shape).
    - Sessions VF203 cannot follow: used at import, in a lambda, a generator expression
      or a class body, stored anywhere but in an attribute of `self` that only ever
      holds a session (`self.db = db`, a repository's), handed to code that does not
      take it as a `Session` parameter; a session method or query method VF203
      does not know; a legacy query used as a result (iterated, returned, handed on);
      a handler defined twice in a module (one shadows the other: rename one).
    - Loads VF203 cannot tie to a query: a relationship read on an object a helper
      returned from an expression it cannot follow, or an item of a relationship; a
      relationship of a relationship not mapped eager (`order.user.orders`, a nested
      schema); a `lazy="dynamic"` mapping; a read after a refresh that shares its line,
      after `rollback()` or `expire()`; a deferred column; a column the database sets
      on update read after a commit; a query of a model and other columns.
    - Where the code runs: a function that uses a session but cannot become
      `async def` (a sync caller, a callback, a sync fixture on a server database), a
      `with` session in sync test code; `create_all` at import outside the app's module
      (the test suite aside), under a condition, in a sync function the app calls, or
      next to an app lifespan that is no `@asynccontextmanager` of the project; a
      `TestClient` that no `with` can enter when the lifespan makes the tables (kept on
      an attribute, at the top level of a module pytest does not collect, returned by
      a function that is no fixture); a file to change that is outside the paths given.
    """

    code = "VF203"
    verifies = Blocking.DATABASE
    verify_hint = "a database call: AsyncSession instead, or a worker thread"
    safety = Safety.REVIEW
    follows_plan = True
    # The module that makes the engine at its top level. From there the plan asks for
    # every file that names SQLAlchemy, the engine, the session factory or dependency,
    # `Session`, a model, or a function or schema an ORM object goes to (an unread one is
    # a finding): a project without an engine costs one regular expression a file.
    triggers = (ENGINE_LINE,)
    project_trigger = ENGINE_LINE
    METADATA_DEPENDENCIES = (
        *Codemod.METADATA_DEPENDENCIES,
        QualifiedNameProvider,
        ScopeProvider,
    )
    collectors = (*AsyncCodemod.collectors, FileScan)

    @classmethod
    def plan_part(cls, context: PlanContext) -> DbPlan:
        # The codemod that gives route handlers their own session: a finding about a
        # session shared by every caller sends the user there.
        part = plan_async_db(context.index, cls.code, SharedSession.code)
        python = context.declarations.python
        if python is None or python < (3, 10):
            # A Python before 3.10, or none declared (it may be one): no ``X | Y``.
            part = replace(part, old_python=True)
        if part.engines or part.obstacles:
            # Checked whether or not the plan migrates: every obstacle is said in one
            # run, not one layer per hand edit (an engine in a middleware, then the pin).
            part = cls._declared(part, context)
        return part

    @classmethod
    def _declared(cls, part: DbPlan, context: PlanContext) -> DbPlan:
        """``part`` with what the project's declarations say of the move: the pins it
        cannot run on (each an obstacle), an old SQLAlchemy and undeclared drivers."""
        # Said at the engine; with none moved, where the plan's first obstacle is (the
        # engine a function makes).
        engine = min(part.engines) if part.engines else min(part.obstacles)[:3]
        declared = context.declarations.projects.get(engine[0].parent, {})
        for text in declared.values():
            found = OLD_SQLALCHEMY.search(text)
            if found and (
                pinned_version(found).startswith("1.") or pinned_version(found) in ("2", "2.0")
            ):
                # Held below 2.0 (``SQLAlchemy = "^1.4.23"``, ``<2.0``): no asyncio API.
                why = (
                    f"the project holds SQLAlchemy below 2.0 ({pin_spelled(found)}):"
                    f" {cls.code} writes 2.0's asyncio API (`async_sessionmaker`); require"
                    " sqlalchemy>=2.0.46 first"
                )
                part = _held_back(part, engine, why)
            elif found:
                part = replace(part, old_sqlalchemy=pinned_version(found))
        texts = [text.lower() for text in declared.values()]
        fastapi = next((m for t in texts if (m := OLD_FASTAPI.search(t))), None)
        old_fastapi = fastapi is not None and int(pinned_version(fastapi)) < 93
        if part.create_all is not None and fastapi is not None and old_fastapi:
            # ``FastAPI(lifespan=...)`` came with 0.93: an older one ignores it.
            why = (
                f"the project pins FastAPI ({pin_spelled(fastapi)}) older than"
                " 0.93, which has no `lifespan=`: the tables would never be made; upgrade"
                " FastAPI, or make them in a startup hook by hand"
            )
            part = _held_back(part, part.create_all, why)
        pagination = next((m for t in texts if (m := OLD_PAGINATION.search(t))), None)
        if part.session_aware and pagination is not None and int(pinned_version(pagination)) < 12:
            # ``paginate(db, stmt)`` takes an AsyncSession from 0.12 on.
            why = (
                f"the project pins fastapi-pagination ({pin_spelled(pagination)})"
                " older than 0.12, whose `paginate` takes no AsyncSession: upgrade it, or use"
                " `fastapi_pagination.ext.async_sqlalchemy.paginate` by hand"
            )
            part = _held_back(part, min(part.session_aware), why)
        if any(b"sqlalchemy" in text or b"sqlmodel" in text for text in texts):
            # The project lists its dependencies, SQLAlchemy among them, but not the
            # async driver its engines need after the move: SQLite's, or the one for
            # the server whose sync driver it lists (its URL may be read at run time).
            missing = [
                f"`{driver}` ({database})"
                for database, driver, needed in DRIVERS
                if ((database == "SQLite" and part.sqlite) or any(needed.search(t) for t in texts))
                and not any(re.search(ASYNC_TWINS[driver], t) for t in texts)
            ]
            if missing:
                part = replace(part, undeclared=" and ".join(missing))
        return part

    @classmethod
    def settle(cls, part: DbPlan | None, context: PlanContext) -> DbPlan | None:
        """Withdraw when a file to change is outside the paths given, a function that
        awaits would stay sync, or a session call the async plan awaits is one this plan
        does not rewrite."""
        return None if part is None else settled(part, context)

    # -- visiting ------------------------------------------------------------------------

    def visit_Module(self, node: cst.Module) -> bool:
        self._module = node
        self._db = self.part or DbPlan()
        if not self._db.migrates:
            for path, line, column, why in self._db.obstacles:
                if path == self.file.path:
                    self.file.findings.append(Finding(path, Position(line, column), self.code, why))
            return False
        for path, line, column, why in self._db.notes:
            if path == self.file.path:
                self.file.findings.append(Finding(path, Position(line, column), self.code, why))
        self._statement: cst.SimpleStatementLine | None = None
        self._statements: set[cst.CSTNode] = set()
        """Calls that are a statement of their own (their value is not used)."""
        self._annotation = 0
        self._given_lifespan = ""
        self._run_sync_written = False
        self._defs: list[cst.FunctionDef] = []
        """The functions around the node visited."""
        self._url_helper_written = False
        for statement in node.body:
            found = called_line(statement)
            if (
                found
                and isinstance(found[0], cst.Assign)
                and self.key(found[1]) in self._db.clients
            ):
                assert isinstance(statement, cst.SimpleStatementLine)
                self._client_fixture(statement, found[0])
        if self._db.app is not None and self._db.app[0] == self.file.path:
            finder = _Calls()
            node.visit(finder)
            for call in finder.calls:
                if self.key(call) != self._db.app:
                    continue
                for arg in call.args:
                    if arg.keyword is not None and arg.keyword.value == "lifespan":
                        value = arg.value
                        self._given_lifespan = value.value if isinstance(value, cst.Name) else "?"
        return True

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._defs.append(node)
        key = self.key(node)
        if node.asynchronous is not None:
            return
        # An app's ``on_event`` hook that makes the tables, a session dependency that
        # holds its session in ``with``: FastAPI awaits them. A helper given its session
        # that nothing in the project calls: no caller is left behind.
        if key in self._db.own_async and key in self._db.handed_sessions:
            reason = "a helper nothing in the project calls: async with its AsyncSession"
        elif key in self._db.own_async:
            reason = "the dependency holds an AsyncSession in `async with`: an async generator"
        elif key in self._db.table_blocks.values() and not any(
            self._db.table_blocks[call] == key for call in self._db.awaited_tables
        ):
            # (A helper's block is an async twin's call: the async plan makes it async.)
            reason = "the hook makes the tables on the async engine, so it is an `async def`"
        else:
            return
        self.make_async(node, reason)

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self._defs.pop()

    def visit_IndentedBlock(self, node: cst.IndentedBlock) -> None:
        for line in node.body:
            found = called_line(line)
            if found is None or self.key(found[1]) not in self._db.clients:
                continue
            assert isinstance(line, cst.SimpleStatementLine)
            small = found[0]
            if isinstance(small, cst.Assign):
                self._client_block(node, line, small)
            else:
                self._client_returned(line, isinstance(small, cst.Return))

    # -- test clients: ``with`` runs the lifespan, which now makes the tables -------------

    def _client_block(
        self, block: cst.IndentedBlock, line: cst.SimpleStatementLine, small: cst.Assign
    ) -> None:
        """``client = TestClient(app)`` in a fixture or a test: the rest of the block in
        ``with TestClient(app) as client:``; a fixture's final ``return client`` becomes
        ``yield client``."""
        target = small.targets[0].target
        assert isinstance(target, cst.Name)
        name = target.value
        last = block.body[-1]
        final = last.body[0] if isinstance(last, cst.SimpleStatementLine) else None
        returned = (
            isinstance(final, cst.Return)
            and isinstance(final.value, cst.Name)
            and final.value.value == name
            and bool(self._defs)
            and block is self._defs[-1].body
        )

        def change(updated: cst.IndentedBlock) -> cst.IndentedBlock:
            body = list(updated.body)
            at = next(i for i, statement in enumerate(body) if statement.deep_equals(line))
            current = body[at]
            found = called_line(current)
            assert isinstance(current, cst.SimpleStatementLine)
            assert found is not None
            rest = body[at + 1 :]
            if returned:
                rest[-1] = _yielded(rest[-1], cst.Name(name))
            entered = cst.With(
                items=[cst.WithItem(found[1], asname=cst.AsName(cst.Name(name)))],
                body=cst.IndentedBlock(rest, header=current.trailing_whitespace),
                leading_lines=current.leading_lines,
            )
            return updated.with_changes(body=[*body[:at], entered])

        self.replace(block, change, self._entered)
        if returned:
            self._yielding(self._defs[-1])

    def _client_returned(self, line: cst.SimpleStatementLine, returned: bool) -> None:
        """A fixture's ``return TestClient(app)`` (or ``yield``): ``with TestClient(app)
        as client: yield client``."""

        def change(updated: cst.SimpleStatementLine) -> cst.With:
            found = called_line(updated)
            assert found is not None
            yielded = cst.SimpleStatementLine([cst.Expr(cst.Yield(cst.Name(CLIENT)))])
            return cst.With(
                items=[cst.WithItem(found[1], asname=cst.AsName(cst.Name(CLIENT)))],
                body=cst.IndentedBlock([yielded], header=updated.trailing_whitespace),
                leading_lines=updated.leading_lines,
            )

        self.replace(line, change, self._entered)
        if returned and self._defs:
            self._yielding(self._defs[-1])

    def _yielding(self, function: cst.FunctionDef) -> None:
        """A fixture that returned its client now yields it: ``-> TestClient`` becomes
        ``-> Iterator[TestClient]``."""
        if function.returns is None:
            return
        iterator = self._alias(function, "collections.abc", "Iterator")
        self.replace(
            function.returns,
            lambda updated: updated.with_changes(
                annotation=cst.Subscript(
                    cst.parse_expression(iterator.name),
                    [cst.SubscriptElement(cst.Index(updated.annotation))],
                )
            ),
            "the fixture yields its client now",
            needs=iterator.needs,
        )

    @property
    def _entered(self) -> str:
        """Why a test client is entered: the lifespan makes the tables, or (none moved
        there) one event loop for the requests."""
        return CLIENT_ENTERED if self._db.create_all is not None else CLIENT_ON_ONE_LOOP

    def _client_fixture(self, line: cst.SimpleStatementLine, small: cst.Assign) -> None:
        """``client = TestClient(app)`` at a test module's top level: an autouse fixture
        enters it (``with client: yield``) around the module's tests."""
        target = small.targets[0].target
        assert isinstance(target, cst.Name)
        pytest = self.file.imports.module_alias(line, "pytest")
        if pytest is None:
            self.report(line, "the name `pytest` means something else here")
            return
        typed = any(
            isinstance(statement, cst.FunctionDef) and statement.returns is not None
            for statement in self._module.body
        )
        iterator = self._alias(line, "collections.abc", "Iterator") if typed else None
        returns = f" -> {iterator.name}[None]" if iterator else ""
        around = "each test module" if self.file.path.name == "conftest.py" else "these tests"
        why = (
            f"# The app's lifespan makes the database tables: it runs around {around}.\n"
            if self._db.create_all is not None
            else f"# Entered, the client runs the requests of {around} on one event loop,\n"
            "# which the database's pooled async connections need.\n"
        )
        fixture = cst.parse_statement(
            why + f'@{pytest.name}.fixture(autouse=True, scope="module")\n'
            f"def {LIFESPAN_FIXTURE}(){returns}:\n"
            f"    with {target.value}:\n"
            "        yield\n",
            config=self._module.config_for_parsing,
        )

        def add(module: cst.Module) -> cst.Module:
            at = next(i for i, statement in enumerate(module.body) if statement.deep_equals(line))
            return _inserted(module, at + 1, fixture)

        self.replace(
            self._module,
            add,
            self._entered,
            needs=[*pytest.needs, *(iterator.needs if iterator else ())],
        )

    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
        self._statement = node
        for small in node.body:
            if isinstance(small, cst.Expr):
                self._statements.add(small.value)

    def visit_Annotation(self, node: cst.Annotation) -> None:
        super().visit_Annotation(node)
        self._annotation += 1

    def leave_Annotation(self, original_node: cst.Annotation) -> None:
        super().leave_Annotation(original_node)
        self._annotation -= 1

    def visit_Assign(self, node: cst.Assign) -> None:
        self._alias_value(node.targets[0].target if len(node.targets) == 1 else None, 1)

    def leave_Assign(self, original_node: cst.Assign) -> None:
        targets = original_node.targets
        self._alias_value(targets[0].target if len(targets) == 1 else None, -1)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self._alias_value(node.target, 1)

    def leave_AnnAssign(self, original_node: cst.AnnAssign) -> None:
        self._alias_value(original_node.target, -1)

    def _alias_value(self, target: cst.BaseExpression | None, step: int) -> None:
        """An alias of ``Session`` (``SessionDep = Annotated[Session, ...]``) is read as
        an annotation: its ``Session`` becomes ``AsyncSession``."""
        if isinstance(target, cst.Name) and f"{self.file.module_name}.{target.value}" in (
            self._db.aliases
        ):
            self._annotation += step

    def _alias(self, at: cst.CSTNode, module: str, name: str) -> ModuleAlias:
        alias = self.file.imports.name_alias(at, module, name)
        if alias is None:  # the name means something else here: spell it in full
            module_alias = self.file.imports.module_alias(at, module)
            assert module_alias is not None
            return ModuleAlias(f"{module_alias.name}.{name}", module_alias.needs)
        return alias

    def visit_Name(self, node: cst.Name) -> None:
        if self._annotation and node.value == "Session":
            self._session_type(node)

    def visit_Attribute(self, node: cst.Attribute) -> None:
        super().visit_Attribute(node)
        if self._annotation and node.attr.value == "Session":
            self._session_type(node)

    def _session_type(self, node: cst.Name | cst.Attribute) -> None:
        names: Any = self.get_metadata(QualifiedNameProvider, node, set())
        if not {q.name for q in names} & SESSION_TYPES:
            return
        alias = self._alias(node, "sqlalchemy.ext.asyncio", "AsyncSession")
        self.replace(
            node,
            lambda updated: cst.parse_expression(alias.name),
            "the session is an AsyncSession",
            needs=alias.needs,
            drops=[node],
        )

    def visit_With(self, node: cst.With) -> None:
        if self.key(node) in self._db.engine_blocks:
            self._engine_block(node)
            return
        if self.key(node) in self._db.sync_withs:
            self._sync_with(node)
            return
        if self.key(node) in self._db.awaits and node.asynchronous is None:
            self.replace(
                node,
                lambda updated: updated.with_changes(
                    asynchronous=cst.Asynchronous(whitespace_after=cst.SimpleWhitespace(" "))
                ),
                "an AsyncSession is opened with `async with`",
            )

    def _sync_with(self, node: cst.With) -> None:
        """``with Factory() as db: ...`` in sync test code: ``db = Factory()``, then the
        block in a ``try`` whose ``finally`` closes the session on an event loop of its
        own (an AsyncSession is entered only with ``async with``)."""
        run = self.asyncio_run(node)
        if run is None:
            return

        def change(updated: cst.With) -> cst.FlattenSentinel[cst.BaseStatement]:
            item = updated.items[0]
            assert item.asname is not None
            assert isinstance(item.asname.name, cst.Name)
            name = item.asname.name.value
            opened = cst.SimpleStatementLine(
                [cst.Assign([cst.AssignTarget(cst.Name(name))], item.item)],
                leading_lines=updated.leading_lines,
            )
            closed = cst.parse_statement(f"{run.name}({name}.close())")
            footer = updated.body.footer if isinstance(updated.body, cst.IndentedBlock) else ()
            body = (
                updated.body.with_changes(footer=())
                if isinstance(updated.body, cst.IndentedBlock)
                else updated.body
            )
            guarded = cst.Try(
                body=body, finalbody=cst.Finally(body=cst.IndentedBlock([closed], footer=footer))
            )
            return cst.FlattenSentinel([opened, guarded])

        self.replace(
            node,
            change,
            "an AsyncSession in sync test code is closed on an event loop of its own",
            needs=run.needs,
        )

    def _session_call(self, node: cst.Call) -> None:
        """``Session(engine)`` -> ``AsyncSession(engine, expire_on_commit=False)``."""
        self._keeping_objects(
            node,
            "AsyncSession",
            "a session on the async engine is an AsyncSession that keeps its objects"
            " loaded after a commit",
        )

    def _keeping_objects(self, node: cst.Call, name: str, reason: str) -> None:
        """``node`` calls ``sqlalchemy.ext.asyncio``'s ``name`` instead, with
        ``expire_on_commit=False`` unless it says so already: objects stay readable
        after a commit, with no I/O."""
        alias = self._alias(node, "sqlalchemy.ext.asyncio", name)
        given = {arg.keyword.value for arg in node.args if arg.keyword is not None}

        def change(updated: cst.Call) -> cst.Call:
            args = list(updated.args)
            if "expire_on_commit" not in given:
                args = appended(
                    args,
                    keyword("expire_on_commit", cst.Name("False")),
                    updated.whitespace_before_args,
                )
            return updated.with_changes(func=cst.parse_expression(alias.name), args=args)

        self.replace(node, change, reason, needs=alias.needs, drops=[node.func])

    def visit_Call(self, node: cst.Call) -> None:
        super().visit_Call(node)
        key = self.key(node)
        db = self._db
        if key in db.session_calls:
            self._session_call(node)
        if key in db.selects:
            self._select_loading(node, db.selects[key])
        if key in db.run_syncs:
            self._run_sync(node)
        if key in db.starts:
            self._start(node)
        if key in db.engines:
            self._engine(node)
        elif key in db.makers:
            self._maker(node)
        elif key in db.queries:
            self._query(node, db.queries[key])
        elif key in db.disposals and not self.is_awaited(node):
            self._dispose(node)
        elif key in db.waits:
            if key in db.gets:
                self._get_loading(node, db.gets[key])
            self._through_run_sync(node)
            self.run_apart(
                node, "an AsyncSession call in sync test code, on an event loop of its own"
            )
            if key in db.refreshes:
                self._refresh_relationships(node, db.refreshes[key])
        elif key in db.awaits and not self.is_awaited(node):
            if key in db.gets:
                self._get_loading(node, db.gets[key])
            self._through_run_sync(node)
            self.replace(node, self.awaiting(node), "an AsyncSession call is awaited")
            if key in db.refreshes:
                self._refresh_relationships(node, db.refreshes[key])
        if key == db.app:
            self._lifespan_argument(node)

    def _through_run_sync(self, node: cst.Call) -> None:
        """``db.bulk_save_objects(objects)``, a ``Session`` method ``AsyncSession`` lacks:
        ``db.run_sync(lambda sync_session: sync_session.bulk_save_objects(objects))``."""
        if not isinstance(node.func, cst.Attribute) or method(node) not in RUN_SYNC_METHODS:
            return

        def change(updated: cst.Call) -> cst.Call:
            assert isinstance(updated.func, cst.Attribute)
            inner = updated.with_changes(
                func=updated.func.with_changes(value=cst.Name("sync_session"))
            )
            run = fill("lambda sync_session: CALL", inner, "CALL")
            return cst.Call(updated.func.with_changes(attr=cst.Name("run_sync")), [cst.Arg(run)])

        self.replace(node, change, "`AsyncSession` runs the sync session's bulk method")

    def _start(self, node: cst.Call) -> None:
        """``engine.connect()`` held in a variable in sync test code:
        ``asyncio.run(engine.connect().start())``, the connection opened on an event
        loop of its own (``connection.begin()`` likewise)."""
        run = self.asyncio_run(node)
        if run is None:
            return

        def change(updated: cst.Call) -> cst.Call:
            started = cst.Call(cst.Attribute(updated, cst.Name("start")))
            return cst.Call(cst.parse_expression(run.name), [cst.Arg(started)])

        self.replace(
            node,
            change,
            "an async engine's connection in sync test code, opened on an event loop of its own",
            needs=run.needs,
        )

    def _loaders(
        self, node: cst.CSTNode, model: str, relationships: tuple[str, ...]
    ) -> tuple[str, list[str]]:
        """The loader options for ``relationships`` read on ``model`` (its code here),
        and what they need imported: ``selectinload(User.posts)``, or a chain
        ``selectinload(User.posts).selectinload(Post.comments)`` for a relationship of a
        relationship (``posts|app.models.Post:comments``: each later link's class, spelled
        as this module can)."""
        loader = self._alias(node, "sqlalchemy.orm", "selectinload")
        needs = list(loader.needs)
        options = []
        for load in relationships:
            if any(other.startswith(f"{load}|") for other in relationships):
                continue  # a chain loads it: ``selectinload(User.posts).selectinload(...)``
            first, *links = load.split("|")
            option = f"{loader.name}({model}.{first})"
            for link in links:
                owner, _, attr = link.partition(":")
                spelled = self._spelling(node, owner)
                needs += spelled.needs
                option += f".{loader.name}({spelled.name}.{attr})"
            options.append(option)
        return ", ".join(options), needs

    def _spelling(self, at: cst.CSTNode, qualified: str) -> ModuleAlias:
        """How ``at`` names the class ``qualified``: as imported already (``Post``, or
        ``post_model.Post`` under ``from app.models import post as post_model``), else
        with ``from module import Class`` added."""
        module, _, name = qualified.rpartition(".")
        alias = self.file.imports.name_alias(at, module, name)
        if alias is not None and not alias.needs:
            return alias
        imported = self.file.imports.module_alias(at, module)
        if imported is not None and not imported.needs:
            return ModuleAlias(f"{imported.name}.{name}")
        package, _, last = module.rpartition(".")
        for statement in self._module.body:  # ``from app.models import post as post_model``
            small = statement.body[0] if isinstance(statement, cst.SimpleStatementLine) else None
            if (
                isinstance(small, cst.ImportFrom)
                and not small.relative
                and small.module is not None
                and cst.Module([]).code_for_node(small.module) == package
                and not isinstance(small.names, cst.ImportStar)
            ):
                for imported_name in small.names:
                    if (
                        isinstance(imported_name.name, cst.Name)
                        and imported_name.name.value == last
                    ):
                        bound = imported_name.evaluated_alias or last
                        scope = self.file.imports.scopes.get(at)
                        if scope is not None and all(
                            getattr(a, "node", None) is small for a in scope[bound]
                        ):
                            return ModuleAlias(f"{bound}.{name}")
        return self._alias(at, module, name)

    def _get_loading(self, node: cst.Call, relationships: tuple[str, ...]) -> None:
        """``db.get(Model, id)`` loads the relationships read later with the object."""
        model = cst.Module([]).code_for_node(node.args[0].value)
        listed, needs = self._loaders(node, model, relationships)
        primary = self._db.get_keys.get(self.key(node))
        plain = len(node.args) == 2 and all(
            arg.keyword is None and not arg.star for arg in node.args
        )
        if primary is not None and plain and isinstance(node.func, cst.Attribute):
            # ``get`` hands back an object the session holds already as it is: a
            # statement loads the relationships it lacks.
            select = self._alias(node, "sqlalchemy", "select")
            func = node.func
            value = cst.Module([]).code_for_node(node.args[1].value)
            statement = cst.parse_expression(
                f"{select.name}({model}).where({model}.{primary} == {value}).options({listed})"
            )
            self.replace(
                node,
                lambda updated: cst.Call(
                    func.with_changes(attr=cst.Name("scalar")), [cst.Arg(statement)]
                ),
                "a statement on the key loads the relationships read later, also on an"
                " object the session holds already (which `get` hands back as it is)",
                needs=[*needs, *select.needs],
            )
            return
        options = cst.parse_expression(f"[{listed}]")
        self.replace(
            node,
            lambda updated: updated.with_changes(
                args=appended(
                    list(updated.args), keyword("options", options), updated.whitespace_before_args
                )
            ),
            "the object's relationships read later are loaded with it",
            needs=needs,
        )

    def _run_sync(self, node: cst.Call) -> None:
        """``Base.metadata.create_all(bind=engine)`` in a test suite's sync code:
        ``_run_sync(engine, Base.metadata.create_all)``, the helper written once."""
        engine = node.args[0].value
        self.replace(
            node,
            lambda updated: cst.Call(
                cst.Name(RUN_SYNC),
                [
                    cst.Arg(engine, comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))),
                    cst.Arg(updated.func),
                ],
            ),
            "the tables are made on the async engine, on an event loop of its own",
        )
        self._run_sync_helper(node)

    def _engine_block(self, node: cst.With) -> None:
        """``with engine.connect() as c: c.execute(stmt); c.commit()`` in sync test
        code: ``_run_sync(engine, lambda c: c.execute(stmt))``, in one transaction."""
        item = node.items[0]
        assert isinstance(item.item, cst.Call)
        assert isinstance(item.item.func, cst.Attribute)
        assert item.asname is not None
        assert isinstance(item.asname.name, cst.Name)
        assert isinstance(node.body, cst.IndentedBlock)
        first = node.body.body[0]
        assert isinstance(first, cst.SimpleStatementLine)
        assert isinstance(first.body[0], cst.Expr)
        engine = _code(item.item.func.value)
        connection = item.asname.name.value
        run = cst.parse_statement(
            f"{RUN_SYNC}({engine}, lambda {connection}: {_code(first.body[0].value)})\n"
        )
        self.replace(
            node,
            lambda updated: run.with_changes(leading_lines=updated.leading_lines),
            "the statement runs on the async engine, on an event loop of its own",
        )
        self._keep_footer(node)
        self._run_sync_helper(node)

    def _keep_footer(self, node: cst.With) -> None:
        """The blank lines that close the ``with`` block (a function's last statement)
        stay, at the end of the function, when a simple statement replaces the block."""
        footer = node.body.footer if isinstance(node.body, cst.IndentedBlock) else ()
        around = self._defs[-1] if self._defs else None
        if not footer or around is None or not isinstance(around.body, cst.IndentedBlock):
            return
        if not around.body.body or around.body.body[-1] is not node:
            return
        self.replace(
            around,
            lambda updated: updated.with_changes(
                body=updated.body.with_changes(footer=[*footer, *updated.body.footer])
            ),
            "the blank lines after the block stay",
        )

    def _run_sync_helper(self, node: cst.CSTNode) -> None:
        """The module's ``_run_sync`` helper, written once, after the imports."""
        if self._run_sync_written:
            return
        self._run_sync_written = True
        run = self.asyncio_run(node)
        if run is None:
            return
        engine_type = self._alias(node, "sqlalchemy.ext.asyncio", "AsyncEngine")
        connection = self._alias(node, "sqlalchemy.engine", "Connection")
        callable_ = self._alias(node, "collections.abc", "Callable")
        helper = cst.parse_statement(
            run_sync(
                self.code,
                run=run.name,
                async_engine=engine_type.name,
                callable_=callable_.name,
                connection=connection.name,
                server=not self._db.sqlite_tests,
            )
        )
        self._after_imports(
            helper,
            "a helper runs `create_all` on the async engine from sync code",
            [*run.needs, *engine_type.needs, *connection.needs, *callable_.needs],
        )

    def _after_imports(
        self,
        statement: cst.SimpleStatementLine | cst.BaseCompoundStatement,
        reason: str,
        needs: list[str],
    ) -> None:
        """``statement`` after the imports (and docstring) at the top of the module, two
        blank lines on each side (its own comment lines kept above it)."""

        def add(module: cst.Module) -> cst.Module:
            at = 0
            while at < len(module.body) and _heading(module.body[at]):
                at += 1
            return _inserted(module, at, statement)

        self.replace(self._module, add, reason, needs=needs)

    def _select_loading(self, node: cst.Call, relationships: tuple[str, ...]) -> None:
        """``select(Model)...`` loads the relationships read later with its objects."""
        root: cst.BaseExpression = node
        while isinstance(root, cst.Call) and isinstance(root.func, cst.Attribute):
            root = root.func.value
        assert isinstance(root, cst.Call)
        model = cst.Module([]).code_for_node(root.args[0].value)
        listed, needs = self._loaders(node, model, relationships)
        self.replace(
            node,
            lambda updated: fill(f"STMT.options({listed})", updated),
            "the relationships read later are loaded with what the statement selects",
            needs=needs,
        )

    def _dispose(self, node: cst.Call) -> None:
        if self.async_after:
            self.replace(node, self.awaiting(node), "an async engine is disposed with `await`")
            return
        # Sync code that nothing in the project calls (a script, a pytest fixture): no
        # event loop runs here.
        self.run_apart(node, "an async engine is disposed on an event loop of its own")

    # -- engine, factory, tables ---------------------------------------------------------

    def _engine(self, node: cst.Call) -> None:
        if self._db.old_sqlalchemy and self.key(node) == min(self._db.engines):
            self.report(
                node,
                f"the project pins SQLAlchemy {self._db.old_sqlalchemy}: before 2.0.46 an"
                " async engine's aiosqlite connections (aiosqlite 0.22) keep the process"
                " from exiting unless the engine is disposed; require sqlalchemy>=2.0.46",
            )
        if self._db.undeclared and self.key(node) == min(self._db.engines):
            self.report(
                node,
                f"the project's declared dependencies do not name {self._db.undeclared},"
                " the async driver its engines need after the move: add it (and"
                " `greenlet`, which SQLAlchemy's asyncio support runs on)",
            )
        make = self._alias(node, "sqlalchemy.ext.asyncio", "create_async_engine")
        at = url_argument(node)
        assert at is not None
        url = node.args[at].value
        literal = literal_url(url)
        needs = list(make.needs)
        new_url: cst.BaseExpression = url
        scheme = _fstring_scheme(url)
        if scheme is not None:
            # ``f"sqlite:///{path}"``: its scheme is written out, the driver goes there.
            assert isinstance(url, cst.FormattedString)
            head = url.parts[0]
            assert isinstance(head, cst.FormattedStringText)
            rest = head.value.partition("://")[2]
            new_url = url.with_changes(
                parts=[head.with_changes(value=f"{scheme}://{rest}"), *url.parts[1:]]
            )
            literal = scheme
        elif literal is not None:
            mapped = async_url(literal)
            assert mapped is not None
            assert isinstance(url, cst.SimpleString)
            new_url = cst.SimpleString(f"{url.prefix}{url.quote}{mapped}{url.quote}")
        elif (constant := self._url_constant(url)) is not None:
            # ``TEST_URL = "sqlite:///./test.db"`` that only this engine reads, in a test
            # module: the literal gets its driver where it is written.
            self._async_literal(constant)
            literal, new_url = literal_url(constant), url
        elif not self._url_helper_written:
            self._url_helper_written = True
            helpers = [self._alias(node, "sqlalchemy.engine", n) for n in ("URL", "make_url")]
            needs += [need for helper in helpers for need in helper.needs]
            statement = self._statement
            assert statement is not None
            helper = cst.parse_statement(
                url_helper(self.code, helpers[0].name, helpers[1].name, self._db.old_python)
            )
            blank = [cst.EmptyLine(), cst.EmptyLine()]
            if statement not in self._module.body:
                # An engine made in a block (``if TESTING: ...``): the helper is for
                # every branch, after the imports.
                self._after_imports(helper, "the URL read at run time gets its async driver", [])
            else:
                self.replace(
                    statement,
                    lambda updated: cst.FlattenSentinel(
                        [
                            helper.with_changes(leading_lines=blank),
                            updated.with_changes(
                                leading_lines=[
                                    *blank,
                                    *(line for line in updated.leading_lines if line.comment),
                                ]
                            ),
                        ]
                    ),
                    "the URL read at run time gets its async driver",
                )

        unpooled = self._unpooled(node, literal)
        if unpooled is not None:
            needs += unpooled.needs

        def change(updated: cst.Call) -> cst.Call:
            args = list(updated.args)
            given = args[at]
            args[at] = given.with_changes(
                value=new_url
                if literal is not None
                else cst.Call(cst.Name(URL_HELPER), [cst.Arg(given.value)])
            )
            if unpooled is not None:
                pool = keyword("poolclass", cst.Name(unpooled.name))
                args = appended(args, pool, updated.whitespace_before_args)
            return updated.with_changes(func=cst.parse_expression(make.name), args=args)

        self.replace(
            node,
            change,
            "an async engine, on the database's async driver",
            needs=needs,
            drops=[node.func],
        )

    def _unpooled(self, node: cst.Call, literal: str | None) -> ModuleAlias | None:
        """``NullPool`` for a test suite's engine on a server's database with no pool
        class of its own (None otherwise): a server's driver ties each connection to the
        event loop that opened it, and the suite runs several (each ``_run_sync``, each
        request of a TestClient no ``with`` enters)."""
        if not is_test_module(self.file.module_name) or any(
            arg.keyword is not None and arg.keyword.value == "poolclass" for arg in node.args
        ):
            return None
        server = not literal.startswith("sqlite") if literal is not None else not self._db.sqlite
        return self._alias(node, "sqlalchemy.pool", "NullPool") if server else None

    def _url_constant(self, url: cst.BaseExpression) -> cst.SimpleString | None:
        """The string literal a test module assigns once, at its top level, to the name
        ``url``, when nothing else in the module names it and its URL has an async
        twin; else None."""
        if not isinstance(url, cst.Name) or not is_test_module(self.file.module_name):
            return None
        found: list[cst.SimpleString] = []
        for statement in self._module.body:
            small = statement.body[0] if isinstance(statement, cst.SimpleStatementLine) else None
            targets = (
                [t.target for t in small.targets]
                if isinstance(small, cst.Assign)
                else [small.target]
                if isinstance(small, cst.AnnAssign)
                else []
            )
            assigned = small.value if isinstance(small, cst.Assign | cst.AnnAssign) else None
            if any(isinstance(t, cst.Name) and t.value == url.value for t in targets):
                if not isinstance(assigned, cst.SimpleString) or len(targets) != 1:
                    return None
                found.append(assigned)
        if len(found) != 1 or len(names_in(self._module, url.value)) != 2:
            return None  # assigned or read elsewhere too
        literal = literal_url(found[0])
        return found[0] if literal is not None and async_url(literal) is not None else None

    def _async_literal(self, constant: cst.SimpleString) -> None:
        literal = literal_url(constant)
        mapped = async_url(literal) if literal is not None else None
        assert mapped is not None
        self.replace(
            constant,
            lambda updated: updated.with_changes(
                value=f"{updated.prefix}{updated.quote}{mapped}{updated.quote}"
            ),
            "the test suite's database URL names its async driver",
        )

    def _maker(self, node: cst.Call) -> None:
        self._keeping_objects(
            node,
            "async_sessionmaker",
            "an AsyncSession factory; objects stay readable after a commit, which no longer"
            " reloads them: they keep the values the code gave them (an Enum column given a"
            " string reads as the string)",
        )

    def leave_SimpleStatementLine(self, original_node: cst.SimpleStatementLine) -> None:
        db = self._db
        small = original_node.body[0]
        if isinstance(small, cst.Expr) and self.key(small.value) in db.table_blocks:
            self._tables_block(original_node, small.value)
            return
        if db.create_all is None or self.key(original_node) != db.create_all:
            return
        small = original_node.body[0]
        assert isinstance(small, cst.Expr)
        assert isinstance(small.value, cst.Call)
        self._move_create_all(original_node, small.value, None)

    def leave_If(self, original_node: cst.If) -> None:
        db = self._db
        if db.create_all_guard is None or self.key(original_node) != db.create_all_guard:
            return
        assert isinstance(original_node.body, cst.IndentedBlock)
        line = original_node.body.body[0]
        assert isinstance(line, cst.SimpleStatementLine)
        small = line.body[0]
        assert isinstance(small, cst.Expr)
        assert isinstance(small.value, cst.Call)
        self._move_create_all(original_node, small.value, original_node.test)

    def _move_create_all(
        self,
        original_node: cst.SimpleStatementLine | cst.If,
        call: cst.Call,
        guard: cst.BaseExpression | None,
    ) -> None:
        """``create_all`` at import (``original_node``, or the ``if`` that ``guard``s
        it) moves into the app's lifespan, on the async engine."""
        db = self._db
        engine, rest = _bind(call) if not db.create_all_helper else (call.func, [])
        if engine is None:
            self.report(original_node, "`create_all` without its engine: left")
            return
        context = self.file.imports.module_alias(original_node, "contextlib")
        iterator = self._alias(original_node, "collections.abc", "AsyncIterator")
        fastapi = self._alias(original_node, "fastapi", "FastAPI")
        assert context is not None
        inner = self._inner_lifespan()
        extra = "".join(
            f", {_code(arg.value)}"
            if arg.keyword is None
            else f", {arg.keyword.value}={_code(arg.value)}"
            for arg in rest
        )
        source = lifespan(
            self.code,
            contextlib=context.name,
            fastapi=fastapi.name,
            async_iterator=iterator.name,
            engine=_code(engine),
            create_all=_code(call.func) + extra,
            inner=inner,
        )
        function = cst.parse_statement(source)
        if db.create_all_helper:
            # ``create_tables()``: the helper makes them on the async engine, awaited.
            function = _awaiting(function, call)
        if guard is not None:
            function = _guarded(function, guard)
        needs = [*context.needs, *iterator.needs, *fastapi.needs]
        comments = [line for line in original_node.leading_lines if line.comment]
        if db.create_all_after:
            # The app is made above: the lifespan goes after the imports (its body reads
            # the engine when the app starts), the statement goes.
            self.replace(
                original_node,
                lambda updated: cst.RemovalSentinel.REMOVE,
                "`create_all` at import moves into the app's lifespan",
            )
            self._after_imports(
                function.with_changes(leading_lines=comments),
                "the tables are created in the app's lifespan, on the async engine",
                needs,
            )
            self._statement = None
            return
        self.replace(
            original_node,
            lambda updated: function.with_changes(
                leading_lines=[
                    cst.EmptyLine(),
                    cst.EmptyLine(),
                    *(line for line in updated.leading_lines if line.comment),
                ]
            ),
            "the tables are created in the app's lifespan, on the async engine",
            needs=needs,
        )
        self._statement = None
        self._blank_after(original_node)

    def _tables_block(self, statement: cst.SimpleStatementLine, call: cst.BaseExpression) -> None:
        """``Base.metadata.create_all(bind=engine)`` in an ``async def``: ``async with
        engine.begin() as connection: await connection.run_sync(Base.metadata.create_all)``."""
        assert isinstance(call, cst.Call)
        assert isinstance(call.func, cst.Attribute)
        engine = _code(call.args[0].value)
        # A name the function does not use already.
        taken = bool(self._defs) and bool(names_in(self._defs[-1], "connection"))
        name = "tables_connection" if taken else "connection"
        block = cst.parse_statement(
            f"async with {engine}.begin() as {name}:\n"
            f"    await {name}.run_sync({_code(call.func)})\n"
        )
        self.replace(
            statement,
            lambda updated: block.with_changes(leading_lines=updated.leading_lines),
            "the tables are made on the async engine's connection",
        )

    def _blank_after(self, statement: cst.SimpleStatementLine | cst.If) -> None:
        """Two blank lines between the new lifespan and the statement after it."""
        statements = list(self._module.body)
        at = next((i for i, s in enumerate(statements) if s is statement), None)
        if at is not None and at + 1 < len(statements):
            following = statements[at + 1]
            blank = [cst.EmptyLine(), cst.EmptyLine()]
            self.replace(
                following,
                lambda updated: updated.with_changes(
                    leading_lines=[
                        *blank,
                        *(line for line in updated.leading_lines if line.comment),
                    ]
                ),
                "two blank lines after the lifespan",
            )

    def _inner_lifespan(self) -> str:
        """The lifespan the app has already (its own, or VF101's of this run)."""
        http = self.asyncs.http
        if http.app is not None and http.app == self._db.app:
            return httpplan.LIFESPAN
        return self._given_lifespan

    def _lifespan_argument(self, node: cst.Call) -> None:
        def change(updated: cst.Call) -> cst.Call:
            args = list(updated.args)
            for index, arg in enumerate(args):
                if arg.keyword is not None and arg.keyword.value == "lifespan":
                    args[index] = arg.with_changes(value=cst.Name(LIFESPAN))
                    return updated.with_changes(args=args)
            new = keyword("lifespan", cst.Name(LIFESPAN))
            return updated.with_changes(args=appended(args, new, updated.whitespace_before_args))

        self.replace(node, change, "the app's lifespan creates the tables")

    # -- sessions and queries --------------------------------------------------------------

    def _refresh_relationships(self, node: cst.Call, relationships: tuple[str, ...]) -> None:
        """A second ``await db.refresh(obj, ["rel"])`` below the refresh (the plan made sure
        it is a statement of its own)."""
        statement = self._statement
        assert statement is not None
        names = cst.List([cst.Element(cst.SimpleString(f'"{name}"')) for name in relationships])
        again = node.with_changes(
            args=appended(list(node.args), cst.Arg(names), node.whitespace_before_args)
        )
        run = self.asyncio_run(node) if self.key(node) in self._db.waits else None
        ran: cst.BaseExpression = (
            cst.Await(again)
            if run is None
            else cst.Call(cst.parse_expression(run.name), [cst.Arg(again)])
        )
        extra = cst.SimpleStatementLine([cst.Expr(ran)])

        def change(updated: cst.SimpleStatementLine) -> cst.FlattenSentinel[cst.BaseStatement]:
            return cst.FlattenSentinel([updated, extra])

        listed = ", ".join(relationships)
        self.replace(
            statement,
            change,
            f"load {listed} with a refresh: a lazy load raises MissingGreenlet",
        )

    def _query(self, node: cst.Call, query: QueryPlan) -> None:
        select = self._alias(node, "sqlalchemy", "select")
        chain = query_chain(node)
        starts = chain is not None and method(chain[1][0]) == "query"
        # ``select`` is written for a query's head, and for ``.count()``; ``.delete()``
        # and ``.update()`` write none, nor ``.get()`` unless it loads relationships
        # (then a statement on the key).
        keyed = (
            query.terminal == "get" and bool(query.loads) and self.key(node) in self._db.get_keys
        )
        uses_select = (starts and query.terminal not in ("get", "delete", "update")) or (
            query.terminal == "count" or keyed
        )
        needs = list(select.needs) if uses_select else []
        loaders = ""
        model = query.model
        if not model and starts and chain is not None and chain[1][0].args:
            # ``query(Post, func.count(...))``: the model selected first, the only one.
            model = cst.Module([]).code_for_node(chain[1][0].args[0].value)
        if query.loads and model:
            loaders, loader_needs = self._loaders(node, model, query.loads)
            needs += loader_needs
        extra: dict[str, ModuleAlias] = {}
        for name, module in (
            ("count", "sqlalchemy:func"),
            ("delete", "sqlalchemy:delete"),
            ("update", "sqlalchemy:update"),
        ):
            if query.terminal == name:
                source, _, imported = module.partition(":")
                extra[name] = self._alias(node, source, imported)
                needs += extra[name].needs
        extra["select"] = select
        run = self.asyncio_run(node) if query.wait else None
        if query.wait and run is None:
            return
        if run is not None:
            needs += run.needs
        primary = node in self._primaries
        used = node not in self._statements  # ``.delete()``'s count is read
        session = query.session

        def change(updated: cst.Call) -> cst.BaseExpression:
            chain = query_chain(updated)
            assert chain is not None
            receiver, calls = chain
            statement: cst.BaseExpression
            if receiver_name(receiver) == session and method(calls[0]) == "query":
                head = calls[0]
                model = head.args[0].value if head.args else None
                statement = cst.Call(
                    cst.Name(select.name),
                    head.args,
                    whitespace_before_args=head.whitespace_before_args,
                )
                steps = calls[1:]
            else:
                # A kept query (``q.delete()``): its model, for the statement's head.
                model = cst.parse_expression(query.model) if query.model else None
                statement = receiver
                steps = calls
            terminal = steps[-1] if query.terminal else None
            if terminal is not None:
                steps = steps[:-1]
            for step in steps:
                assert isinstance(step.func, cst.Attribute)
                name = method(step)
                renamed = {"filter": "where", **STATEMENT_ENDS}.get(name, name)
                statement = step.with_changes(
                    func=step.func.with_changes(value=statement, attr=cst.Name(renamed))
                )
            if loaders:
                statement = fill(f"STMT.options({loaders})", statement)
            if terminal is None:
                return statement
            key = self._db.get_keys.get(self.key(node), "")
            ran = run_statement(
                query, session, statement, terminal, model, extra, primary, used, key
            )
            return ran if run is None else _waited(ran, run.name)

        self.replace(node, change, "a 2.0 statement on the AsyncSession", needs=needs)


def _inserted(
    module: cst.Module, at: int, statement: cst.SimpleStatementLine | cst.BaseCompoundStatement
) -> cst.Module:
    """``module`` with ``statement`` at ``at`` of its body, two blank lines on each side
    (the comment lines above either kept)."""
    body = list(module.body)
    blank = [cst.EmptyLine(), cst.EmptyLine()]
    if at < len(body):
        following = body[at]
        body[at] = following.with_changes(
            leading_lines=[*blank, *(ln for ln in following.leading_lines if ln.comment)]
        )
    body.insert(at, statement.with_changes(leading_lines=[*blank, *statement.leading_lines]))
    return module.with_changes(body=body)


def _yielded(statement: cst.BaseStatement, value: cst.BaseExpression) -> cst.SimpleStatementLine:
    """``yield value``, in the place of ``statement`` (its comments kept)."""
    assert isinstance(statement, cst.SimpleStatementLine)
    return statement.with_changes(body=[cst.Expr(cst.Yield(value))])


def _awaiting(
    function: cst.SimpleStatementLine | cst.BaseCompoundStatement, call: cst.Call
) -> cst.FunctionDef:
    """The lifespan ``function`` awaiting ``call`` where it would make the tables."""
    assert isinstance(function, cst.FunctionDef)
    assert isinstance(function.body, cst.IndentedBlock)
    body = list(function.body.body)
    index = next(i for i, s in enumerate(body) if isinstance(s, cst.With))
    body[index] = cst.SimpleStatementLine([cst.Expr(cst.Await(call))])
    return function.with_changes(body=function.body.with_changes(body=body))


def _guarded(
    function: cst.SimpleStatementLine | cst.BaseCompoundStatement, guard: cst.BaseExpression
) -> cst.FunctionDef:
    """The lifespan ``function`` with the statement that makes the tables under ``if
    guard:``, as it was at import."""
    assert isinstance(function, cst.FunctionDef)
    assert isinstance(function.body, cst.IndentedBlock)
    body = list(function.body.body)
    index = next(i for i, s in enumerate(body) if isinstance(s, cst.With))
    body[index] = cst.If(test=guard, body=cst.IndentedBlock([body[index]]))
    return function.with_changes(body=function.body.with_changes(body=body))


def _bind(call: cst.Call) -> tuple[cst.BaseExpression | None, list[cst.Arg]]:
    """The engine ``create_all`` is given (first positional, or ``bind=``), and its
    other arguments."""
    engine: cst.BaseExpression | None = None
    rest: list[cst.Arg] = []
    for arg in call.args:
        if engine is None and (
            (arg.keyword is None and not arg.star)
            or (arg.keyword is not None and arg.keyword.value == "bind")
        ):
            engine = arg.value
        else:
            rest.append(arg)
    return engine, rest


class _Waited(cst.CSTTransformer):
    """``await x`` -> ``asyncio.run(x)`` (the parentheses ``(await x).all()`` needed go)."""

    def __init__(self, run: str) -> None:
        super().__init__()
        self.run = run

    def leave_Await(self, original_node: cst.Await, updated_node: cst.Await) -> cst.Call:
        return cst.Call(cst.parse_expression(self.run), [cst.Arg(updated_node.expression)])


def _waited(expression: cst.BaseExpression, run: str) -> cst.BaseExpression:
    result = expression.visit(_Waited(run))
    assert isinstance(result, cst.BaseExpression)
    return result


def _fstring_scheme(url: cst.BaseExpression) -> str | None:
    """``sqlite+aiosqlite`` for ``f"sqlite:///{path}"`` (an f-string that starts with a
    scheme VF203 maps); None for anything else."""
    if not isinstance(url, cst.FormattedString) or not url.parts:
        return None
    head = url.parts[0]
    if not isinstance(head, cst.FormattedStringText) or "://" not in head.value:
        return None
    scheme = head.value.partition("://")[0]
    mapped = async_url(f"{scheme}://")
    return mapped.partition("://")[0] if mapped else None


def _heading(statement: cst.BaseStatement) -> bool:
    """An import, or the module's docstring: what comes before the code."""
    if not isinstance(statement, cst.SimpleStatementLine):
        return False
    return all(
        isinstance(small, cst.Import | cst.ImportFrom)
        or (isinstance(small, cst.Expr) and isinstance(small.value, cst.SimpleString))
        for small in statement.body
    )


def _code(node: cst.CSTNode) -> str:
    return cst.Module([]).code_for_node(node)


class _Calls(cst.CSTVisitor):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[cst.Call] = []

    def visit_Call(self, node: cst.Call) -> None:
        self.calls.append(node)
