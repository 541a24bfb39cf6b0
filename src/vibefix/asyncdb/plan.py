"""VF203's part of the plan (``DbPlan``), the typed surface other families read, and the
rule by which the async plan classifies SQLAlchemy calls once the project migrates."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from vibefix.asyncdb.names import (
    AWAITED,
    SESSION_PREFIXES,
    SYNC_ATTRIBUTES,
    SYNC_METHODS,
    TERMINALS,
)
from vibefix.engine.index import NodeKey
from vibefix.engine.plan import PlanPart
from vibefix.known.blocking import Entry, Kind


@dataclass(frozen=True)
class QueryPlan:
    session: str
    entity: bool
    """``query(Model)``: rows are objects (``scalars``), else tuples (``execute``)."""
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
    wait: bool = False
    """It runs in a test suite's sync code: ``asyncio.run(...)`` instead of ``await``."""


@dataclass(frozen=True)
class DbPlan(PlanPart):
    """VF203's part of the plan: the whole project to AsyncSession, or nothing."""

    code: str = ""
    """VF203's code: the async twin its rule names (``Entry(Kind.TWIN, code)``)."""
    migrates: bool = False
    obstacles: tuple[tuple[Path, int, int, str], ...] = ()
    notes: tuple[tuple[Path, int, int, str], ...] = ()
    """Differences the move makes that a reviewer must see (findings, not obstacles)."""
    engines: frozenset[NodeKey] = frozenset()
    disposals: Mapping[NodeKey, str] = field(default_factory=dict)
    """``engine.dispose()`` calls, with the function they are in (qualified name)."""
    makers: frozenset[NodeKey] = frozenset()
    awaits: frozenset[NodeKey] = frozenset()
    """Session method calls to await, and ``with`` statements to make ``async with``."""
    waits: frozenset[NodeKey] = frozenset()
    """Session method calls in a test suite's sync code (a fixture, a test) on SQLite:
    ``asyncio.run(db.commit())``, on an event loop of their own."""
    queries: Mapping[NodeKey, QueryPlan] = field(default_factory=dict)
    refreshes: Mapping[NodeKey, tuple[str, ...]] = field(default_factory=dict)
    """``db.refresh(obj)`` calls followed by a read of these relationships of ``obj``."""
    gets: Mapping[NodeKey, tuple[str, ...]] = field(default_factory=dict)
    session_calls: frozenset[NodeKey] = frozenset()
    """``Session(engine)`` calls: ``AsyncSession(engine, expire_on_commit=False)``."""
    sync_withs: frozenset[NodeKey] = frozenset()
    """``with Factory() as db:`` in sync test code: ``db = Factory()``, then ``try:``
    the block, ``finally: asyncio.run(db.close())``."""
    clients: frozenset[NodeKey] = frozenset()
    """``TestClient(app)`` calls a test suite makes and never enters, where the lifespan
    now makes the tables: a ``with`` enters them (``facts.DbFacts.test_clients``)."""
    get_keys: Mapping[NodeKey, str] = field(default_factory=dict)
    """The ``gets`` whose model's primary key is one column, by name: ``db.get(M, x)``
    becomes ``db.scalar(select(M).where(M.key == x).options(...))``, which loads what
    an object the session holds already lacks (``get`` hands that back as it is)."""
    """``db.get(Model, id)`` calls, with the relationships to load with the object
    (``options=[selectinload(...)]``)."""
    handed_sessions: frozenset[NodeKey] = frozenset()
    """Functions given their session as a parameter (``def list_items(db: Session)``):
    helpers, which one nothing in the project calls may become async with no caller
    left behind (an entry point opens its own session)."""
    own_async: frozenset[NodeKey] = frozenset()
    """Functions VF203 makes ``async def`` itself (a session dependency that only holds
    its session in ``with``): nothing else in them would make them async."""
    table_blocks: Mapping[NodeKey, NodeKey] = field(default_factory=dict)
    """``metadata.create_all(bind=engine)`` statements in an ``async def`` (or an
    ``on_event`` hook that becomes one), with the function: ``async with
    engine.begin() as connection: await connection.run_sync(metadata.create_all)``."""
    awaited_tables: frozenset[NodeKey] = frozenset()
    """``table_blocks`` in a sync helper (``def init_db()``), which the async plan makes
    async (and awaits where it is called): an async twin's calls."""
    engine_blocks: frozenset[NodeKey] = frozenset()
    """``with engine.connect() as c: c.execute(stmt); c.commit()`` in a test suite's
    sync code (the ``with``): ``_run_sync(engine, lambda c: c.execute(stmt))``."""
    session_aware: frozenset[NodeKey] = frozenset()
    """Calls of a library's function handed the session that gives an awaitable for an
    AsyncSession (``paginate(db, stmt)`` of fastapi-pagination 0.12 and later)."""
    starts: frozenset[NodeKey] = frozenset()
    """``connection = engine.connect()`` and ``transaction = connection.begin()`` held
    in a test suite's sync code: ``asyncio.run(engine.connect().start())``."""
    run_syncs: Mapping[NodeKey, str] = field(default_factory=dict)
    """``metadata.create_all(bind=engine)`` (or ``drop_all``) in a test suite's sync
    code, with the function it is in: ``_run_sync(engine, metadata.create_all)``."""
    selects: Mapping[NodeKey, tuple[str, ...]] = field(default_factory=dict)
    """2.0 statements (``select(Model)...``), with the relationships to load with what
    they select (``.options(selectinload(...))`` added)."""
    async_functions: frozenset[NodeKey] = frozenset()
    """The definitions that must be ``async def`` after the run."""
    models: frozenset[str] = frozenset()
    aliases: frozenset[str] = frozenset()
    """Module-level aliases of ``Session`` (``SessionDep = Annotated[Session,
    Depends(get_db)]``), qualified: they become aliases of ``AsyncSession``."""
    create_all: NodeKey | None = None
    create_all_after: bool = False
    """``create_all`` comes after the app is made: the lifespan goes after the imports."""
    create_all_helper: bool = False
    """``create_all`` is a helper's call at import (``create_tables()``): the helper
    becomes async, and the lifespan awaits it."""
    create_all_guard: NodeKey | None = None
    """The ``if`` at import that guards ``create_all`` (``if not TESTING:``): it goes,
    and the lifespan asks the same when the app starts."""
    app: NodeKey | None = None
    """The ``FastAPI(...)`` call whose lifespan creates the tables."""
    files: frozenset[Path] = frozenset()
    """Every file the migration changes."""
    sqlite_tests: bool = False
    """The test suite's engines are all SQLite's (whose connections serve any event
    loop): its sync code may run the session on loops of its own (``asyncio.run``)."""
    old_python: bool = False
    """The project declares a Python before 3.10, or none: no ``X | Y`` in what runs."""
    sqlite: bool = False
    """An engine of the project (its test suite's too) is SQLite's: aiosqlite is needed."""
    undeclared: str = ""
    """The async drivers the migrated engines need that the project's declared
    dependencies do not name, each with its database (```aiosqlite`` (SQLite)``);
    ``""`` when they name them, or declare nothing VF203 reads."""
    old_sqlalchemy: str = ""
    """The SQLAlchemy release the project pins when it is older than 2.0.46 (whose
    aiosqlite connections keep the process from exiting with aiosqlite 0.22)."""
    wanted_names: frozenset[str] = frozenset()
    """Names of the project's functions and classes VF203 needs to read."""
    wanted_modules: frozenset[str] = frozenset()
    """Modules the indexed ones star-import (``from app.schemas import *``): what they
    define, or star-import in turn, is what those names are."""

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

    def blocking_calls(self) -> Mapping[NodeKey, Entry]:
        """Once the project migrates, every session call it awaits (every legacy query
        it runs, every ``Session(engine)`` it opens) is an async twin's, wherever the
        index cannot type the session (a parameter with no annotation)."""
        if not self.migrates:
            return {}
        twin = Entry(Kind.TWIN, self.code, loop=True)
        ran = {key for key, query in self.queries.items() if query.terminal and not query.wait}
        kept = {key for key, query in self.queries.items() if not query.terminal}
        # ``with Session(engine) as s`` becomes ``async with``: its function is async. A
        # query kept in a variable (``q = db.query(M)``) runs nothing yet.
        found = dict.fromkeys(
            sorted(self.awaits | ran | self.session_calls | self.awaited_tables), twin
        )
        found.update(dict.fromkeys(sorted(kept), Entry(Kind.NONBLOCKING)))
        return found


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
        if target.endswith(
            (
                "metadata.create_all",
                "metadata.drop_all",
                "MetaData().create_all",
                "MetaData().drop_all",
            )
        ):
            # The migration runs each on the async engine (``async with
            # engine.begin()``, ``_run_sync``), or holds the project back: nothing to
            # offload.
            return Entry(Kind.NONBLOCKING)
        return None

    return classify
