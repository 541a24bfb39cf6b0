"""VF202: ``create_engine`` for a server database -> explicit pool settings."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import libcst as cst
from libcst.metadata import Assignment, QualifiedNameProvider, ScopeProvider

from vibefix.asyncdb.names import is_test_module
from vibefix.codemod import Codemod, PlanPart
from vibefix.cst.arguments import appended, keyword
from vibefix.cst.names import imported_as
from vibefix.results import Safety

OPTIONS = "engine-pool"
"""VF202's table in ``[tool.vibefix]``."""
DEFAULTS: dict[str, int | bool] = {
    "pool-size": 10,
    "max-overflow": 30,
    "pool-recycle": 1800,
    "pool-pre-ping": True,
}
"""The settings written, unless ``[tool.vibefix.engine-pool]`` says otherwise."""
POOL_ARGUMENTS = frozenset(
    {"pool_size", "max_overflow", "pool_recycle", "pool_pre_ping", "pool_timeout"}
    | {"poolclass", "pool", "creator", "pool_use_lifo", "pool_reset_on_return"}
)
"""Any of these says the engine's pool was thought about: the call is left alone."""
SERVERS = frozenset({"postgresql", "postgres", "mysql", "mariadb", "oracle", "mssql"})
"""Dialects whose connections go to a server, which can drop them."""
_ENGINES = ("sqlalchemy.create_engine", "sqlalchemy.engine.create_engine")
_ASYNC_ENGINES = ("sqlalchemy.ext.asyncio.create_async_engine",)


def settings(options: Mapping[str, Any]) -> dict[str, int | bool]:
    """The pool settings to write: ``DEFAULTS`` with ``[tool.vibefix.engine-pool]``'s."""
    table = options.get(OPTIONS, {})
    return {**DEFAULTS, **(table if isinstance(table, Mapping) else {})}


def dialect(url: cst.BaseExpression) -> str | None:
    """The dialect a URL written in the code names (``postgresql`` for
    ``"postgresql+psycopg://..."``); None when the code does not say."""
    if isinstance(url, cst.ConcatenatedString):
        url = url.left
    if isinstance(url, cst.SimpleString):
        text = url.evaluated_value
        text = text.decode("latin-1") if isinstance(text, bytes) else text
    elif isinstance(url, cst.FormattedString) and url.parts:
        first = url.parts[0]
        text = first.value if isinstance(first, cst.FormattedStringText) else ""
    else:
        return None
    found = re.match(r"([A-Za-z][\w]*)(?:\+[\w]+)?://", text)
    return found.group(1).lower() if found else None


class EnginePool(Codemod[PlanPart]):
    """Give `create_engine` for a server database explicit pool settings.

    Why: an engine made with `create_engine(url)` keeps SQLAlchemy's defaults: 5
    connections and 10 more under load, none checked before use, none ever renewed.
    FastAPI runs `def` handlers on 40 threads: from the 16th concurrent request that
    needs the database, requests wait for a connection and fail after 30 s ("QueuePool
    limit of size 5 overflow 10 reached"). A server, a proxy or a firewall that drops an
    idle connection makes the next request that gets it fail.

    Example:

        engine = create_engine("postgresql://app@db/shop")

    becomes

        engine = create_engine(
            "postgresql://app@db/shop",
            pool_size=10,
            max_overflow=30,
            pool_recycle=1800,
            pool_pre_ping=True,
        )

    Up to 40 connections, as many as FastAPI's threads, 10 of them kept when idle; each
    renewed after 30 minutes and checked (`SELECT 1`) before it is handed out. Set your
    own in `[tool.vibefix.engine-pool]` (`pool-size`, `max-overflow`, `pool-recycle`,
    `pool-pre-ping`): with several workers, their connections together must stay under
    the server's limit (PostgreSQL's `max_connections` is 100 by default).
    `create_async_engine` gets the same.

    Safety: review. The engine opens more connections under load and checks each one it
    hands out (a round trip); a connection dropped by the server is replaced instead of
    failing the request.

    Not rewritten: an engine whose URL the code does not spell out (read from the
    environment or from settings): a finding says which settings to add, because the
    URL decides whether they apply. SQLite and other databases without a server are left
    alone (their pools hold no server connection), and so is a call that already names
    any pool setting (`pool_size`, `poolclass`, `pool_pre_ping`...) or passes `**kwargs`,
    and a test suite's engine (in a test module or a conftest), which serves no load.
    """

    code = "VF202"
    safety = Safety.REVIEW
    # A module that imports SQLAlchemy (at the top level, not in an example of a
    # docstring) and calls one of its engine makers.
    triggers = (
        r"(?m:^(?:from|import)[ \t]+sqlalchemy\b)",
        r"\bcreate_(?:async_)?engine[ \t]*\(",
    )
    METADATA_DEPENDENCIES = (
        *Codemod.METADATA_DEPENDENCIES,
        QualifiedNameProvider,
        ScopeProvider,
    )

    def visit_Module(self, node: cst.Module) -> None:
        # Module-level ``URL = "..."``: a name the call can only mean (its only binding)
        # is known.
        self._constants: dict[cst.CSTNode, cst.BaseExpression] = {}
        for statement in node.body:
            if isinstance(statement, cst.SimpleStatementLine):
                for small in statement.body:
                    if isinstance(small, cst.Assign) and len(small.targets) == 1:
                        self._constants[small.targets[0].target] = small.value

    def _value(self, name: cst.Name) -> cst.BaseExpression | None:
        scope = self.get_metadata(ScopeProvider, name, None)
        assignments = list(scope[name.value]) if scope is not None else []
        if len(assignments) != 1 or not isinstance(assignments[0], Assignment):
            return None
        return self._constants.get(assignments[0].node)

    def visit_Call(self, node: cst.Call) -> None:
        if not any(imported_as(self, node.func, name) for name in (*_ENGINES, *_ASYNC_ENGINES)):
            return
        if is_test_module(self.file.module_name):
            return  # a test suite's engine serves no load (and may want no pool at all)
        if any(arg.star for arg in node.args):
            return
        keywords = {arg.keyword.value for arg in node.args if arg.keyword is not None}
        if keywords & POOL_ARGUMENTS:
            return
        url = next(
            (arg.value for arg in node.args if arg.keyword is None or arg.keyword.value == "url"),
            None,
        )
        if url is None:
            return
        named = self._value(url) if isinstance(url, cst.Name) else None
        found = dialect(named if named is not None else url)
        chosen = settings(self.file.config.options)
        written = ", ".join(f"{key.replace('-', '_')}={value!r}" for key, value in chosen.items())
        if found is None:
            self.report(
                node,
                "the engine's URL is read at run time: for a server database (PostgreSQL,"
                f" MySQL), give it pool settings ({written}); SQLite needs none",
            )
            return
        if found not in SERVERS:
            return
        new = [
            keyword(key.replace("-", "_"), cst.parse_expression(repr(value)))
            for key, value in chosen.items()
        ]

        def add(updated: cst.Call) -> cst.Call:
            return updated.with_changes(
                args=appended(updated.args, new, updated.whitespace_before_args)
            )

        self.replace(
            node,
            add,
            f"a {found} engine with SQLAlchemy's default pool runs dry under load and hands"
            f" out dropped connections: {written}",
        )
