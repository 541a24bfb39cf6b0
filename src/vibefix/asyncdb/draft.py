"""What the planner has decided so far (``Draft``), shared by its pieces: the sessions'
calls to await, the queries to rewrite and what they load, the functions that become
``async def``, and the obstacles."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from vibefix.asyncdb.facts import DbFacts, FunctionDb, Span
from vibefix.asyncdb.messages import Why, said
from vibefix.asyncdb.names import is_test_module
from vibefix.asyncdb.orm import Orm
from vibefix.asyncdb.plan import QueryPlan
from vibefix.engine.index import NodeKey, ProjectIndex


def key_of(path: Path, span: Span) -> NodeKey:
    return (path, *span)


@dataclass
class Draft:
    index: ProjectIndex
    facts: Mapping[Path, DbFacts]
    functions: Mapping[str, tuple[Path, FunctionDb]]
    """Every function read, by qualified name, with its file."""
    orm: Orm
    code: str
    """The code of the codemod the plan is for: its findings name it."""
    shared_code: str = ""
    """The code of the codemod that gives route handlers their own session (findings
    send the user there)."""
    obstacles: list[tuple[Path, int, int, str]] = field(default_factory=list)
    awaits: set[NodeKey] = field(default_factory=set)
    waits: set[NodeKey] = field(default_factory=set)
    """Session calls in a test suite's sync code: ``asyncio.run(...)``."""
    queries: dict[NodeKey, QueryPlan] = field(default_factory=dict)
    loads: dict[NodeKey, set[str]] = field(default_factory=dict)
    """Queries, and the relationships to load with them."""
    refreshes: dict[NodeKey, set[str]] = field(default_factory=dict)
    get_loads: dict[NodeKey, set[str]] = field(default_factory=dict)
    handed_sessions: set[NodeKey] = field(default_factory=set)
    """Functions given their session as a parameter."""
    session_calls: set[NodeKey] = field(default_factory=set)
    """``Session(engine)`` calls: ``AsyncSession(engine, expire_on_commit=False)``."""
    sync_withs: set[NodeKey] = field(default_factory=set)
    """``with Factory() as db:`` in sync test code: the session opened before a
    ``try`` whose ``finally`` closes it on an event loop of its own."""
    clients: set[NodeKey] = field(default_factory=set)
    """``TestClient(app)`` calls a ``with`` is to enter (``facts.DbFacts.test_clients``)."""
    get_keys: dict[NodeKey, str] = field(default_factory=dict)
    """The ``get`` calls of ``get_loads`` whose model has one primary key column, by
    name: a statement on it replaces the ``get``."""
    own_async: set[NodeKey] = field(default_factory=set)
    """Functions VF203 makes ``async def`` itself: the session dependency that only
    holds its session in ``with`` (``with SessionLocal() as db: yield db``)."""
    table_blocks: dict[NodeKey, NodeKey] = field(default_factory=dict)
    """``create_all(bind=engine)`` statements in an ``async def`` (or an ``on_event``
    hook that becomes one), with the function: ``async with engine.begin()`` runs it."""
    awaited_tables: set[NodeKey] = field(default_factory=set)
    """The ``table_blocks`` in a sync helper (``def init_db()``): an async twin's call
    for the async plan, which makes the helper async and awaits it where it is called."""
    engine_blocks: set[NodeKey] = field(default_factory=set)
    """``with engine.connect() as c: c.execute(stmt); c.commit()`` in a test suite's
    sync code: ``_run_sync(engine, lambda c: c.execute(stmt))``."""
    session_aware: set[NodeKey] = field(default_factory=set)
    """Calls of a library's function handed the session that gives an awaitable for an
    AsyncSession (``paginate(db, stmt)``): awaited."""
    starts: set[NodeKey] = field(default_factory=set)
    """``engine.connect()``, ``connection.begin()`` a test suite's sync code holds in a
    variable (``syntax.HeldConnection``): ``asyncio.run(engine.connect().start())``."""
    run_syncs: dict[NodeKey, str] = field(default_factory=dict)
    """``create_all(bind=engine)`` in a test suite's sync code, with the function it is
    in (``""`` at import): it runs on the async engine through ``_run_sync``."""
    select_loads: dict[NodeKey, set[str]] = field(default_factory=dict)
    """2.0 statements (``select(M)...``), and the relationships to load with them."""
    async_functions: set[NodeKey] = field(default_factory=set)
    sessions: dict[NodeKey, frozenset[str]] = field(default_factory=dict)
    """For each function (by definition) that uses a session, the names bound to one:
    its file changes (``Session`` annotations become ``AsyncSession``)."""
    unseen_names: set[str] = field(default_factory=set)
    """The project's functions and classes an ORM object goes to that the planner has
    not read: the next round of indexing reads the files that name them."""

    modules: dict[Path, str] = field(default_factory=dict, repr=False)
    """The module of each file the index read (``module``)."""

    def module(self, path: Path) -> str:
        """The module ``path`` is, as the index names it (``""``: a file it did not read)."""
        if not self.modules:
            self.modules.update({m.path: m.module for m in self.index.modules})
        return self.modules.get(path, "")

    def in_tests(self, path: Path) -> bool:
        """``path`` is a test suite's module (``conftest``, ``test_*``, under ``tests``)."""
        return is_test_module(self.module(path))

    def obstacle(self, path: Path, line: int, column: int, why: Why) -> None:
        self.obstacles.append((path, line, column, said(why, self.code)))
