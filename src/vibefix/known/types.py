"""What vibefix knows of type expressions: the ``typing`` forms around a type
(``Annotated[Session, Depends(get_db)]``, ``Optional[Session]``), the types a generator
is annotated with (``Iterator[Session]``), and the factories whose products are of a class
other than what they are called (SQLAlchemy's ``sessionmaker(class_=AsyncSession)``).
One copy, for the engine's type inference."""

from __future__ import annotations

_TYPING = ("typing", "typing_extensions")


def _forms(*names: str, modules: tuple[str, ...] = _TYPING) -> frozenset[str]:
    return frozenset(f"{module}.{name}" for module in modules for name in names)


ANNOTATED = _forms("Annotated")
"""``Annotated[T, ...]``: a ``T``, with metadata (``Depends(get_db)``) after it."""
OPTIONAL = _forms("Optional")
UNION = _forms("Union")
TYPE_ALIAS = _forms("TypeAlias")
"""``X: TypeAlias = Session``: ``X`` names the type."""
CLASS_VARIABLE = _forms("ClassVar")
GENERIC = _forms("Generic")
"""``class Repo(Generic[T])``: no base a method can come from."""
MAPPED = frozenset({"sqlalchemy.orm.Mapped", "sqlalchemy.orm.base.Mapped"})
"""``Mapped[datetime]`` on a declarative model: its instances hold a ``datetime``."""
NO_TYPE = _forms("Any") | {"builtins.object"}
"""Annotations that say nothing of what a value is."""
YIELDING = _forms(
    "Generator",
    "Iterator",
    "Iterable",
    "AsyncGenerator",
    "AsyncIterator",
    "AsyncIterable",
    modules=(*_TYPING, "collections.abc"),
)
"""What a generator's return annotation names; its first argument is what it yields
(``Generator[Session, None, None]``: a dependency or a ``@contextmanager`` that gives a
``Session``)."""

SESSION_MAKERS: dict[str, str | None] = {
    "sqlalchemy.orm.sessionmaker": None,
    "sqlalchemy.orm.session.sessionmaker": None,
    "sqlalchemy.ext.asyncio.async_sessionmaker": "sqlalchemy.ext.asyncio.AsyncSession",
    "sqlalchemy.ext.asyncio.session.async_sessionmaker": "sqlalchemy.ext.asyncio.AsyncSession",
}
"""Session factories, with the class of the sessions they make unless ``class_=`` says
otherwise (None: what the table says of the factory's products, ``sessionmaker()()``)."""
SESSION_CLASS = "class_"


ROW_GETTERS = frozenset(
    {"first", "one", "one_or_none", "scalar_one", "scalar_one_or_none", "scalar"}
)
"""The query methods that give one row of the model queried (``query(User)...first()``)."""

STATEMENT_RUNNERS = frozenset({"scalars", "execute"})
"""Session methods that run a statement given to them (``db.scalars(select(User))``)."""

QUERY_STEPS = frozenset(
    {
        "filter",
        "filter_by",
        "where",
        "order_by",
        "join",
        "outerjoin",
        "options",
        "limit",
        "offset",
        "distinct",
        "group_by",
        "having",
        "select_from",
        "scalars",
        "unique",
        *STATEMENT_RUNNERS,
    }
)
"""What refines a query or a statement, or runs one, on the way to its row: the model
queried stays what it gives."""

REFINING = QUERY_STEPS - STATEMENT_RUNNERS - {"unique"}
"""The steps that refine a legacy query without running it (``q = q.filter(...)``)."""

THREAD_BOUND = (
    "sqlite3.connect()",
    "sqlite3.Connection()",
    "sqlite3.Cursor()",
    "psycopg2.connect().cursor()",
    "psycopg2.extensions.cursor()",
    "pymysql.connect()",
    "pymysql.connections.Connection()",
    "MySQLdb.connect()",
    "mysql.connector.connect()",
)
"""DB-API objects a worker thread must not use when another made them, or share with
other threads: sqlite3's refuse a thread other than their own, cursors and these
drivers' connections are not thread-safe (their ``threadsafety`` is 1). Made once at
import and used by every request, they keep their calls on the loop."""

PLAIN_METHODS = frozenset(
    {
        # str
        *("upper", "lower", "title", "capitalize", "casefold", "swapcase", "strip"),
        *("lstrip", "rstrip", "split", "rsplit", "splitlines", "replace", "startswith"),
        *("endswith", "format", "format_map", "encode", "zfill", "ljust", "rjust"),
        *("center", "partition", "rpartition", "rfind", "removeprefix", "removesuffix"),
        *("isdigit", "isalpha", "isalnum", "isspace", "isupper", "islower", "isnumeric"),
        *("isdecimal", "isidentifier", "expandtabs", "translate"),
        # bytes, numbers
        *("decode", "hex", "is_integer", "as_integer_ratio", "to_bytes", "bit_length"),
        # date, time, datetime, timedelta
        *("isoformat", "strftime", "timestamp", "astimezone", "weekday", "isoweekday"),
        *("isocalendar", "total_seconds", "utcoffset", "tzname", "timetuple", "toordinal"),
        # list, dict, set
        *("append", "extend", "sort", "reverse", "items", "values", "setdefault", "add"),
        *("discard", "union", "intersection", "difference", "issubset", "issuperset"),
        *("symmetric_difference",),
        # pandas' frames and series, in memory (their ``read_*``/``to_csv``/``to_sql`` do I/O)
        *("iterrows", "itertuples", "dropna", "fillna", "groupby", "drop_duplicates"),
        *("reset_index", "set_index", "astype", "isna", "notna", "to_dict", "to_numpy"),
        *("tolist",),
    }
)
"""Methods of the plain values Python's own types are (``str``, ``datetime``, ``list``,
``dict``...) and of pandas' frames, none of which does I/O: called on a value whose type
vibefix cannot tell (``row.date.isoformat()``, ``p.upper()``, ``df.iterrows()``), they are
taken to run in memory. Names a client
or a query also has (``get``, ``update``, ``count``, ``pop``, ``close``, ``json``, a
thread's ``join``, a storage client's ``copy``, a collection's ``find`` or ``insert``, a
Redis client's ``keys``...) are not among them: on an unknown value, those may block."""
