"""The support code VF101 adds to a module: the names it defines and the templates it
writes them from (``templates/*.py.tmpl``)."""

from __future__ import annotations

from vibefix.engine import templates
from vibefix.http import plan as httpplan

TLS = "_HTTP_TLS"
"""The module-level SSL context every client of the module shares."""
TRUST_ENV = "_HTTP_TRUST_ENV"
"""aiohttp: whether the environment has proxies or a ``.netrc`` (read at import), which
requests would use: only then is the session told to look (aiohttp does, in a thread,
at every call: ~10 ms a request on a busy loop)."""
FACTORY = "_http_client"
"""The module-level function that makes a client as requests would behave."""
READER = "_http_read"
"""aiohttp: the module-level function that reads a response's body, as requests does
before it returns the response."""
PARAMS = "_http_params"
"""aiohttp: the module-level function that builds a query as requests does (it drops
``None`` values, repeats a list's, sends ``str()`` of the rest; aiohttp raises
``TypeError`` for ``None`` and ``True``)."""
LINES = "_http_lines"
"""The module-level function that yields a streamed body's lines as bytes, as requests'
``iter_lines()`` does."""
GETTER = "_get_http_client"
"""The dependency that hands a handler the application's client."""
LIFESPAN = httpplan.LIFESPAN
"""The application's lifespan, which makes its client."""


def render(name: str, names: dict[str, str], **more: str) -> str:
    """The support code of template ``name`` (``vibefix/http/templates``)."""
    return templates.render("vibefix.http", name, **names, **more)
