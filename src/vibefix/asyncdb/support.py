"""The code the migration adds to the project: the helper that puts a URL read at run
time on its database's async driver, and the app's lifespan that creates the tables.
Each is a plain Python file in ``templates/`` (package data) whose ``__NAME__``
placeholders are filled in as text."""

from __future__ import annotations

import re
from importlib.resources import files

URL_HELPER = "_async_url"
LIFESPAN = "_db_lifespan"

_PLACEHOLDER = re.compile(r"__([A-Z][A-Z_]*[A-Z])__")
_INDENT = "    "


def render(template: str, **values: str) -> str:
    """The template ``template`` with each ``__NAME__`` replaced by ``values["name"]``.
    A value of several lines (an expression's code) has its later lines indented one
    level, where a function's body starts."""
    path = files("vibefix.asyncdb").joinpath("templates").joinpath(f"{template}.py")
    source = path.read_text(encoding="utf-8")

    def fill(match: re.Match[str]) -> str:
        return ("\n" + _INDENT).join(values[match.group(1).lower()].splitlines())

    return _PLACEHOLDER.sub(fill, source)


def url_helper(code: str, url: str, make_url: str) -> str:
    """``def _async_url(url)``: ``url`` on its database's async driver, at run time
    (``url`` and ``make_url`` are how the module spells SQLAlchemy's)."""
    return render("url_helper", helper=URL_HELPER, url=url, make_url=make_url, code=code)


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
    serve = render("lifespan_inner", inner=inner) if inner else "yield"
    return render(
        "lifespan",
        contextlib=contextlib,
        lifespan=LIFESPAN,
        fastapi=fastapi,
        async_iterator=async_iterator,
        code=code,
        engine=engine,
        create_all=create_all,
        serve=serve,
    )
