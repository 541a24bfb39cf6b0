"""The code the migration adds to the project: the helper that puts a URL read at run
time on its database's async driver, the app's lifespan that creates the tables, and
the helper that runs ``create_all``/``drop_all`` on the async engine from a test suite's
sync fixtures.
Each is a template in ``templates/`` (``NAME.py.tmpl``, package data), written by
``vibefix.engine.templates.render``."""

from __future__ import annotations

from vibefix.engine.templates import render

URL_HELPER = "_async_url"
LIFESPAN = "_db_lifespan"
RUN_SYNC = "_run_sync"

_INDENT = "    "


def _indented(code: str) -> str:
    """``code`` (an expression's, perhaps of several lines) for a place in a function's
    body: its later lines are indented one level, where the body starts."""
    return ("\n" + _INDENT).join(code.splitlines())


def url_helper(code: str, url: str, make_url: str, quoted: bool = False) -> str:
    """``def _async_url(url)``: ``url`` on its database's async driver, at run time
    (``url`` and ``make_url`` are how the module spells SQLAlchemy's). ``quoted``: the
    project runs on a Python before 3.10, where ``str | URL`` is no expression."""
    given = f'"str | {url}"' if quoted else f"str | {url}"
    return render(
        "vibefix.asyncdb",
        "url_helper",
        helper=URL_HELPER,
        url=url,
        make_url=make_url,
        code=code,
        given=given,
    )


DISPOSE = """
        if engine.dialect.name != "sqlite":
            # A server's connections belong to this event loop, which ends here: the
            # next one (the app's, under TestClient) opens its own.
            await engine.dispose()"""


def run_sync(
    code: str,
    *,
    run: str,
    async_engine: str,
    callable_: str,
    connection: str,
    server: bool = False,
) -> str:
    """``def _run_sync(engine, work)``: ``work(connection)`` (``create_all``) on the
    async engine from sync code, on an event loop of its own. ``server``: the engine
    may be a server's, whose pooled connections are disposed of with the loop."""
    return render(
        "vibefix.asyncdb",
        "run_sync",
        helper=RUN_SYNC,
        code=code,
        run=run,
        async_engine=async_engine,
        callable=callable_,
        connection=connection,
        dispose=DISPOSE if server else "",
    )


def lifespan(
    code: str,
    *,
    contextlib: str,
    fastapi: str,
    async_iterator: str,
    engine: str,
    create_all: str,
    inner: str = "",
) -> str:
    """``async def _db_lifespan(app)``: the tables, created on ``engine`` at startup by
    ``create_all`` (the code of the call's function and further arguments), inside the
    app's own lifespan ``inner`` when it has one."""
    serve = render("vibefix.asyncdb", "lifespan_inner", inner=inner) if inner else "yield"
    return render(
        "vibefix.asyncdb",
        "lifespan",
        contextlib=contextlib,
        lifespan=LIFESPAN,
        fastapi=fastapi,
        async_iterator=async_iterator,
        code=code,
        engine=_indented(engine),
        create_all=_indented(create_all),
        serve=_indented(serve),
    )
