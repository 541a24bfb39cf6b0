"""What VF203 knows of SQLAlchemy (and of the FastAPI names it reads): the calls that make
an engine, a session factory or a session, the session methods that become coroutines,
the legacy query methods and their 2.0 twins, and the async driver of each database."""

from __future__ import annotations

import libcst as cst

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
) | {"bulk_save_objects", "bulk_insert_mappings", "bulk_update_mappings"}
"""``AsyncSession`` methods that are coroutines; and ``Session`` methods it lacks, run
through ``run_sync`` (``RUN_SYNC_METHODS``)."""
RUN_SYNC_METHODS = frozenset({"bulk_save_objects", "bulk_insert_mappings", "bulk_update_mappings"})
"""``Session`` methods ``AsyncSession`` lacks: ``await db.run_sync(lambda sync_session:
sync_session.bulk_save_objects(objects))``."""
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
STATEMENT_ENDS = {
    "subquery": "subquery",
    "scalar_subquery": "scalar_subquery",
    "as_scalar": "scalar_subquery",
    "cte": "cte",
    "exists": "exists",
    "label": "label",
}
"""Legacy ``Query`` methods that end a chain with a part of another statement, run by
nothing (``db.query(...).group_by(...).subquery()``), and the ``Select`` methods they
become."""
TERMINALS = frozenset(
    {"all", "first", "one", "one_or_none", "scalar", "count", "get", "delete", "update"}
)
"""``Query`` methods that run it."""
LOADS = frozenset({"first", "one", "one_or_none", "scalar", "get"})
"""Terminals that return one object."""

SELECTS = frozenset(
    {"sqlalchemy.select", "sqlalchemy.future.select", "sqlalchemy.sql.expression.select"}
    | {"sqlalchemy.sql.select", "sqlmodel.select", "sqlmodel.sql.expression.select"}
)
"""What makes a 2.0 ``Select``."""
STATEMENT_RUNS = {
    "scalars": frozenset({"", "all", "first", "one", "one_or_none", "unique"}),
    "scalar": frozenset({""}),
    "execute": frozenset({"scalars", "scalar", "scalar_one", "scalar_one_or_none"}),
}
"""A session's method that runs a statement, and the first method called on its result
(``""``: none) that gives ORM objects (``db.execute(stmt).all()`` gives rows)."""

ASYNC_POOLS = frozenset(
    f"sqlalchemy.{module}{name}"
    for module in ("", "pool.", "pool.impl.")
    for name in ("StaticPool", "NullPool", "AsyncAdaptedQueuePool")
)
"""Pool classes an async engine takes as they are (``QueuePool`` it refuses)."""
TABLE_CALLS = frozenset({"create_all", "drop_all"})
"""``MetaData`` methods that take the engine (``bind=engine``)."""


def is_test_module(module: str) -> bool:
    """A test suite's module (``conftest``, ``test_*``, anything in a ``tests``
    package), by its qualified name: pytest runs its sync code with no event loop
    running."""
    parts = module.split(".")
    last = parts[-1]
    return (
        last == "conftest"
        or last.startswith("test_")
        or last.endswith("_test")
        or bool({"tests", "test"} & set(parts[:-1]))
    )


SCOPED = frozenset({"sqlalchemy.orm.scoped_session", "sqlalchemy.orm.scoping.scoped_session"})
TEST_CLIENTS = frozenset({"fastapi.testclient.TestClient", "starlette.testclient.TestClient"})
MOCKS = frozenset(
    f"{module}.{name}"
    for module in ("unittest.mock", "mock")
    for name in ("Mock", "MagicMock", "NonCallableMock", "NonCallableMagicMock", "create_autospec")
)
"""What makes a mock: of a session when its spec is ``Session``."""

ASYNC_DRIVERS = {"sqlite": "aiosqlite", "postgresql": "asyncpg", "mysql": "aiomysql"}
"""The async driver each dialect's URL gets."""
ASYNC_READY = frozenset({"aiosqlite", "asyncpg", "psycopg", "psycopg_async", "aiomysql", "asyncmy"})


def url_argument(call: cst.Call) -> int | None:
    """Where ``create_engine``'s URL is among its arguments: the first positional one,
    or ``url=``; None when it is neither."""
    for at, arg in enumerate(call.args):
        if arg.star:
            return None
        if (arg.keyword is None and at == 0) or (
            arg.keyword is not None and arg.keyword.value == "url"
        ):
            return at
    return None


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
