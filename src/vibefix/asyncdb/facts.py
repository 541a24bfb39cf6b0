"""What the scan of one file finds (``DbFacts``): its engines, session factories, models,
schemas and apps, and for each function (``FunctionDb``) every place a session, a query
or an ORM object is used."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from vibefix.asyncdb.messages import Why

Span = tuple[int, int, int, int]
"""A node's start line, start column (1-based), end line and end column."""


@dataclass(frozen=True)
class Site:
    """A place a session is used: rewritten (``problem`` empty), or an obstacle."""

    span: Span
    function: Span
    """The innermost ``def`` around it: it must be ``async def`` after the run."""
    awaits: bool = True
    """It puts an ``await`` (or ``async with``) in ``function``."""
    problem: Why = ""
    entered: bool = False
    """A ``with`` statement that opens the session (``async with`` after the move)."""


@dataclass(frozen=True)
class QueryFact:
    """A legacy query run (its terminal call), or a query kept in a variable."""

    span: Span
    entities: tuple[tuple[str, ...], ...]
    """The qualified names each argument of ``query(...)`` may be."""
    terminal: str
    """The method that runs it; ``""`` for a query assigned to a variable."""
    model: str = ""
    """The code of ``query(Model)``'s argument, also for a query kept in a variable."""
    options: str = ""
    """The code of its ``.options(...)`` arguments (loaders the query sets already)."""


class From(Enum):
    """Where an ORM object in a variable comes from."""

    QUERY = "q"
    """A query run at ``Origin.at`` that returns one object (or a call in a ``return``)."""
    LIST = "all"
    """The list a query run at ``Origin.at`` returned."""
    GET = "get"
    """``db.get(Model, ...)`` at ``Origin.at``; ``Origin.name`` is the model."""
    CALL = "new"
    """What calling ``Origin.name`` returns: a model's constructor, or a helper."""
    SELECT = "select"
    """A 2.0 statement run by a session (``db.scalars(select(M)...)``,
    ``db.execute(stmt).scalar_one()``): ``Origin.at`` is the statement's position (a
    ``SelectFact``), ``Origin.name`` its model."""
    ITEM = "elem"
    """An item of the variable ``Origin.name`` (or of ``var.attr``)."""
    UNKNOWN = "?"
    """Anything."""


@dataclass(frozen=True)
class Origin:
    """Where the ORM object a variable holds (or a function returns) comes from."""

    kind: From
    at: tuple[int, int] = (0, 0)
    """The line and column of the call that loads it (a query, ``db.get``)."""
    name: str = ""
    """What ``kind`` names: the model, the callee, the iterated variable."""

    @property
    def loaded(self) -> bool:
        """A session loaded it (a query or ``db.get``)."""
        return self.kind in (From.QUERY, From.LIST, From.GET, From.SELECT)

    @property
    def item_of_variable(self) -> str:
        """The plain variable it is an item of; ``""`` when it is none."""
        return self.name if self.kind is From.ITEM and "." not in self.name else ""


UNKNOWN = Origin(From.UNKNOWN)

HANDED = "?arg"
"""The variable of a ``Pass`` whose argument is no plain name (``f(load(db))``)."""


@dataclass(frozen=True)
class Pass:
    """``f(var)``: a variable handed to a call."""

    callees: tuple[str, ...]
    """What ``f`` may be (``name:keyword`` for a keyword argument; ``method:name`` for
    ``var.name()``, a method of ``var``'s model)."""
    index: int
    """The argument's index; -1 for ``*var``, -2 for a keyword argument."""
    var: str
    line: int
    column: int
    session: bool = False
    """``var`` is a session handed on."""


@dataclass(frozen=True)
class SelectFact:
    """``select(Model)...``, a 2.0 statement a session runs (inline, or kept in a
    variable assigned once): where the rewrite adds ``.options(...)``."""

    span: Span
    model: str
    """What ``Model`` may be (qualified)."""
    options: str = ""
    """The code of its ``.options(...)`` arguments."""


@dataclass(frozen=True)
class Refresh:
    """``db.refresh(var)``."""

    var: str
    span: Span
    alone: bool
    """It is a line of its own: the rewrite can add a second refresh below it."""


@dataclass(frozen=True)
class SessionFacts:
    """One name bound to a session in a function, and where it is used."""

    name: str
    source: str
    """``typed``; ``dep:app.database.get_db``; ``made:app.database.SessionLocal``;
    ``global:app.database.db_session``; ``alias:app.deps.SessionDep`` (a parameter
    annotated with a name that may stand for ``Session``: the plan tells);
    ``kept:app.repo.UserRepository.db`` (``self.db``, which the plan tells is a
    session when every value the class keeps there is one);
    ``untyped:app.services.create_user:db`` (a parameter with no annotation);
    ``direct:app.database.engine`` (``Session(engine)``)."""
    sites: tuple[Site, ...]
    queries: tuple[QueryFact, ...] = ()


@dataclass(frozen=True)
class FunctionDb:
    """One module-level function or method (nested functions included)."""

    qualname: str
    span: Span
    params: tuple[str, ...]
    sessions: tuple[SessionFacts, ...] = ()
    origins: tuple[tuple[str, Origin], ...] = ()
    """Where the ORM objects in its variables come from."""
    touches: tuple[tuple[str, str, int, int], ...] = ()
    """``var.attr`` read (not called): variable, attribute, line, column."""
    passes: tuple[Pass, ...] = ()
    refreshes: tuple[Refresh, ...] = ()
    returns: tuple[str | Origin, ...] = ()
    """What it returns: variables, or the origin of a call in the ``return``."""
    response: tuple[str, ...] = ()
    """The ``response_model`` of its route decorator (``List[...]`` unwrapped)."""
    annotated: tuple[tuple[str, str], ...] = ()
    """Parameters annotated with a plain name, and what it names."""
    expiries: tuple[tuple[str, int], ...] = ()
    flushes: tuple[int, ...] = ()
    end: int = 0
    """Its last line."""
    decorators: tuple[str, ...] = ()
    selects: tuple[SelectFact, ...] = ()
    """The 2.0 statements its sessions run that select a class."""
    stores: tuple[tuple[int, int], ...] = ()
    """The ``touches`` that are assignments (``todo.tags = [...]``), by position: on
    a new object before anything is flushed, they load nothing."""
    yields: tuple[str, ...] = ()
    """The names it yields (``yield session``: a fixture's)."""
    keeps: tuple[tuple[str, str, int, int], ...] = ()
    """A method's ``self.attr = value``: the attribute, the session ``value`` names
    (``""`` when it names none), its line and column."""
    constructs: tuple[tuple[str, Span], ...] = ()
    """``Session(engine)`` calls that make a session (source ``direct:``), and the name
    it is bound to: ``AsyncSession(engine, expire_on_commit=False)`` after the move."""
    keyed: tuple[tuple[str, str | Origin], ...] = ()
    """What a ``return`` of a dict literal holds under each string key (``return
    {"todos": todos}``): the variable, or the origin of a call. A response model's
    field of that name reads its value."""
    rebinds: tuple[tuple[str, int], ...] = ()
    """An earlier value of a variable (``name@was0``) and the line of the assignment
    that ends it, one at the function's top level (under no condition): a read from
    that line on reads what the variable holds since, not that value."""


@dataclass(frozen=True)
class DbFacts:
    sqlite_engines: tuple[str, ...] = ()
    """Module-level engines whose URL is SQLite's (a literal, an f-string or a constant
    of the file that starts ``sqlite``)."""
    engines: tuple[tuple[str, Span, Why], ...] = ()
    """Module-level ``engine = create_engine(url...)``: name, call span, the URL's
    problem (``""`` when the migration can map it)."""
    makers: tuple[tuple[str, Span, Why], ...] = ()
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
    problems: tuple[tuple[Span, Why], ...] = ()
    """Obstacles found in the file alone (``scoped_session``)."""
    columns: tuple[tuple[str, str, str], ...] = ()
    """Model attributes read with I/O later: model, attribute, ``deferred`` or
    ``onupdate`` (set by the database on update); and primary keys, ``key``."""
    test_clients: tuple[tuple[Span, str], ...] = ()
    """``TestClient(...)`` calls, and how a ``with`` enters them (runs the lifespan):
    ``entered`` already; ``block``, ``x = TestClient(app)`` in a fixture or a test, the
    rest of the block into ``with TestClient(app) as x:``; ``returned``, a fixture's
    ``return``/``yield TestClient(app)`` into ``with ... as client: yield client``;
    ``module``, at a module's top level, entered by an autouse fixture; ``""``, none of
    these.
    """
    state: tuple[tuple[str, str, Span], ...] = ()
    """``<...>.state.NAME = Factory()``: the attribute, what is called, where."""
    state_reads: tuple[tuple[str, Span], ...] = ()
    """Reads of ``app.state.NAME`` / ``request.app.state.NAME``, anywhere."""
    table_calls: tuple[tuple[Span, Span, bool], ...] = ()
    """``metadata.create_all(engine)``/``drop_all(bind=engine)`` with nothing else: the
    call, its argument, and whether it is a statement of its own."""
    main_guards: tuple[Span, ...] = ()
    """The ``if __name__ == "__main__":`` blocks."""
    local_engines: tuple[tuple[str, Span, Why, bool], ...] = ()
    """``engine = create_engine(url...)`` in a function (a test suite's fixture): the
    local's qualified name, the call, the URL's problem, and whether it is SQLite's."""
    local_makers: tuple[tuple[str, Span, Why], ...] = ()
    """``Factory = sessionmaker(...)`` in a function: the local's qualified name, the
    call, its problem."""
    engine_blocks: tuple[tuple[Span, Span], ...] = ()
    """``with engine.connect() as c: c.execute(stmt); c.commit()`` (``engine.begin()``
    without the commit): the ``with``, and the ``connect()`` call."""
    engine_factories: tuple[Span, ...] = ()
    """``return create_engine(...)`` in a function: an engine made by a factory."""
    blind_nexts: tuple[Span, ...] = ()
    """``next(override())`` on a function called through a name VF203 cannot follow (a
    value of ``app.dependency_overrides``): perhaps the session dependency, which
    becomes an async generator."""
    table_guards: tuple[tuple[Span, Span], ...] = ()
    """``if not os.environ.get("TESTING"): Base.metadata.create_all(bind=engine)`` at a
    module's top level, with no ``else``: the ``if``, and the statement it guards."""
    held: tuple[tuple[tuple[Span, ...], tuple[Span, ...]], ...] = ()
    """Connections a function holds in SQLAlchemy's test recipe (``syntax.HeldConnection``):
    the calls that open them (``engine.connect()``, ``connection.begin()``), and those
    that end them (``transaction.rollback()``, ``connection.close()``)."""
