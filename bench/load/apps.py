"""The benchmark app: one FastAPI service, in several variants chosen by ``VARIANT``.

Every variant exposes ``GET /convert?amount=X``: it calls the upstream rates API once
(``UPSTREAM_URL``), does 10 ms of "work" and returns JSON. Variants:

- ``vibe``: ``async def`` handler calling ``requests.get`` and ``time.sleep`` (blocks the loop);
- ``def``: the same code in a plain ``def`` handler (run in FastAPI's thread pool);
- ``httpx``: ``async def``, one ``httpx.AsyncClient()`` with default limits, ``asyncio.sleep``;
- ``httpx-tuned``: the same with ``httpx.Limits(max_connections=HTTPX_MAX_CONNECTIONS,
  max_keepalive_connections=HTTPX_MAX_KEEPALIVE)`` (default 100 and 100);
- ``httpx-aiohttp``: the httpx API on aiohttp's transport (``httpx_aiohttp.HttpxAiohttpClient``);
- ``aiohttp``: one ``aiohttp.ClientSession()``;
- ``httpx2``: one ``httpx2.AsyncClient()`` (the separate ``httpx2`` package, httpx's API on
  ``httpcore2``) with default limits;
- ``httpx2-tuned``: the same with ``httpx2.Limits(...)`` read like ``httpx-tuned``'s;
- ``httpx2-percall``: ``async def``, a new ``httpx2.AsyncClient(verify=TLS,
  follow_redirects=True)`` per request (``async with``), all sharing one SSL context ``TLS``
  made by ``httpx2.create_ssl_context()`` once, when this module is imported;
- ``httpx2-percall-notls``: the same without ``verify=``, so that each client builds its own
  SSL context;
- ``httpx2-vf101``: the code VF101 generates for a FastAPI app: one shared
  ``httpx2.AsyncClient(verify=_HTTP_TLS, follow_redirects=True)`` made in the lifespan and
  stored in ``app.state``, handed to the handler per request by a yield dependency
  (``Annotated[httpx2.AsyncClient, Depends(_get_http_client)]``). VF101 passes
  ``timeout=None``; here it is ``TIMEOUT``, as in every variant;
- ``aiohttp-vf101``: the code VF101's ``aiohttp`` backend generates for the same app: one
  ``aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(), trust_env=True)`` made in the
  lifespan, handed out by the same yield dependency; the call is ``await
  _http_read(http_client.get(url, timeout=aiohttp.ClientTimeout(sock_connect=TIMEOUT,
  sock_read=TIMEOUT)))`` and the JSON ``json.loads(await r.text(errors="replace"))``.

Shared clients are created in the lifespan and closed on shutdown. The per-call clients open
a new upstream connection for every request.

Run: ``VARIANT=httpx uvicorn --app-dir bench/load apps:app``.
"""

# No `from __future__ import annotations`: FastAPI resolves string annotations in the module's
# globals, so the dependency declared in `_httpx2_vf101_app`'s handler (a local name in
# `Annotated[..., Depends(...)]`) must be a real annotation, evaluated where it is defined.

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

import requests
from fastapi import Depends, FastAPI, Request

VARIANTS = (
    "vibe",
    "def",
    "httpx",
    "httpx-tuned",
    "httpx-aiohttp",
    "aiohttp",
    "httpx2",
    "httpx2-tuned",
    "httpx2-percall",
    "httpx2-percall-notls",
    "httpx2-vf101",
    "aiohttp-vf101",
)
UPSTREAM_URL = os.environ.get("UPSTREAM_URL", "http://127.0.0.1:8001/rates")
WORK_SECONDS = 0.01
TIMEOUT = 10.0  # seconds, per upstream call, in every variant


def _answer(payload: dict[str, Any], amount: float) -> dict[str, Any]:
    rates: dict[str, float] = payload["rates"]
    return {
        "base": payload["base"],
        "amount": amount,
        "converted": {code: round(amount * rate, 4) for code, rate in rates.items()},
    }


def _vibe_app() -> FastAPI:
    app = FastAPI()

    @app.get("/convert")
    async def convert(amount: float = 1.0) -> dict[str, Any]:
        response = requests.get(UPSTREAM_URL, timeout=TIMEOUT)  # noqa: ASYNC210
        response.raise_for_status()
        time.sleep(WORK_SECONDS)  # noqa: ASYNC251
        return _answer(response.json(), amount)

    return app


def _def_app() -> FastAPI:
    app = FastAPI()

    @app.get("/convert")
    def convert(amount: float = 1.0) -> dict[str, Any]:
        response = requests.get(UPSTREAM_URL, timeout=TIMEOUT)
        response.raise_for_status()
        time.sleep(WORK_SECONDS)
        return _answer(response.json(), amount)

    return app


def _httpx_style_app(make_client: Callable[[], Any]) -> FastAPI:
    """An app whose handler uses the httpx API on a client built by ``make_client``.

    The client is an ``httpx.AsyncClient`` (or a subclass) or an ``httpx2.AsyncClient``.
    """
    clients: list[Any] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with make_client() as client:
            clients.append(client)
            yield
            clients.clear()

    app = FastAPI(lifespan=lifespan)

    @app.get("/convert")
    async def convert(amount: float = 1.0) -> dict[str, Any]:
        response = await clients[0].get(UPSTREAM_URL)
        response.raise_for_status()
        await asyncio.sleep(WORK_SECONDS)
        return _answer(response.json(), amount)

    return app


def _httpx_app() -> FastAPI:
    import httpx

    return _httpx_style_app(lambda: httpx.AsyncClient(timeout=TIMEOUT))


def _limits_from_env() -> tuple[int, int]:
    """``(max_connections, max_keepalive_connections)`` of the ``*-tuned`` variants."""
    return (
        int(os.environ.get("HTTPX_MAX_CONNECTIONS", "100")),
        int(os.environ.get("HTTPX_MAX_KEEPALIVE", "100")),
    )


def _httpx_tuned_app() -> FastAPI:
    import httpx

    conns, keepalive = _limits_from_env()
    limits = httpx.Limits(max_connections=conns, max_keepalive_connections=keepalive)
    return _httpx_style_app(lambda: httpx.AsyncClient(timeout=TIMEOUT, limits=limits))


def _httpx_aiohttp_app() -> FastAPI:
    # httpx-aiohttp 0.2.0: HttpxAiohttpClient subclasses httpx.AsyncClient and builds an
    # AiohttpTransport (an aiohttp.ClientSession made lazily on the first request; the
    # connector's limit is Limits.max_connections, 100 by default).
    from httpx_aiohttp import HttpxAiohttpClient

    return _httpx_style_app(lambda: HttpxAiohttpClient(timeout=TIMEOUT))


def _aiohttp_app() -> FastAPI:
    import aiohttp

    sessions: list[aiohttp.ClientSession] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        timeout = aiohttp.ClientTimeout(total=TIMEOUT)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            sessions.append(session)
            yield
            sessions.clear()

    app = FastAPI(lifespan=lifespan)

    @app.get("/convert")
    async def convert(amount: float = 1.0) -> dict[str, Any]:
        async with sessions[0].get(UPSTREAM_URL) as response:
            response.raise_for_status()
            payload: dict[str, Any] = await response.json()
        await asyncio.sleep(WORK_SECONDS)
        return _answer(payload, amount)

    return app


_HTTPX2_MISSING = "the httpx2 variants need the httpx2 package (pip install httpx2)"


def _httpx2_app(tuned: bool = False) -> FastAPI:
    try:
        import httpx2
    except ImportError:
        raise SystemExit(_HTTPX2_MISSING) from None

    if not tuned:
        return _httpx_style_app(lambda: httpx2.AsyncClient(timeout=TIMEOUT))
    conns, keepalive = _limits_from_env()
    limits = httpx2.Limits(max_connections=conns, max_keepalive_connections=keepalive)
    return _httpx_style_app(lambda: httpx2.AsyncClient(timeout=TIMEOUT, limits=limits))


def _httpx2_percall_app(shared_tls: bool) -> FastAPI:
    """A new client per request, as a rewrite of ``requests.get`` in place would make it.

    With ``shared_tls``, every client gets the one SSL context made here; ``app`` is built
    when this module is imported, so that is once per server. Without it, each client
    builds its own (``httpx2.create_ssl_context()``, about 20 ms here).
    """
    try:
        import httpx2
    except ImportError:
        raise SystemExit(_HTTPX2_MISSING) from None

    tls = httpx2.create_ssl_context() if shared_tls else None

    def make_client() -> httpx2.AsyncClient:
        if tls is None:
            return httpx2.AsyncClient(follow_redirects=True, timeout=TIMEOUT)
        return httpx2.AsyncClient(verify=tls, follow_redirects=True, timeout=TIMEOUT)

    app = FastAPI()

    @app.get("/convert")
    async def convert(amount: float = 1.0) -> dict[str, Any]:
        async with make_client() as client:
            response = await client.get(UPSTREAM_URL, params={"amount": amount})
        response.raise_for_status()
        await asyncio.sleep(WORK_SECONDS)
        return _answer(response.json(), amount)

    return app


def _httpx2_vf101_app() -> FastAPI:
    """The code VF101 generates for a FastAPI app (``codemods/requests_to_httpx.py``).

    The module-level definitions it adds (``_HTTP_TLS``, ``_http_client``,
    ``_get_http_client``, ``_http_client_lifespan``) are made here, when this module is
    imported, so once per server. One difference: VF101's client has ``timeout=None``
    (requests has none); this one has ``TIMEOUT``, as every variant. The handler sends
    the same request and does the same work as the ``httpx2`` variant's. What differs
    from ``httpx2`` is how the handler gets the client: a per-request yield dependency
    that reads ``request.app.state``, not a direct reference.
    """
    try:
        import httpx2
    except ImportError:
        raise SystemExit(_HTTPX2_MISSING) from None

    _HTTP_TLS = httpx2.create_ssl_context()

    def _http_client() -> httpx2.AsyncClient:
        return httpx2.AsyncClient(verify=_HTTP_TLS, follow_redirects=True, timeout=TIMEOUT)

    async def _get_http_client(request: Request) -> AsyncIterator[httpx2.AsyncClient]:
        client = getattr(request.app.state, "http_client", None)
        if client is not None:
            yield client
        else:
            async with _http_client() as client:
                yield client

    @contextlib.asynccontextmanager
    async def _http_client_lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with _http_client() as client:
            app.state.http_client = client
            try:
                yield
            finally:
                app.state.http_client = None

    app = FastAPI(lifespan=_http_client_lifespan)

    @app.get("/convert")
    async def convert(
        amount: float = 1.0,
        *,
        http_client: Annotated[httpx2.AsyncClient, Depends(_get_http_client)],
    ) -> dict[str, Any]:
        response = await http_client.get(UPSTREAM_URL)
        response.raise_for_status()
        await asyncio.sleep(WORK_SECONDS)
        return _answer(response.json(), amount)

    return app


def _aiohttp_vf101_app() -> FastAPI:
    """The code VF101's ``aiohttp`` backend generates for a FastAPI app
    (``codemods/requests_to_httpx.py``), its module-level definitions made here."""
    import json
    from collections.abc import Awaitable

    import aiohttp

    async def _http_read(request: Awaitable[aiohttp.ClientResponse]) -> aiohttp.ClientResponse:
        response = await request
        await response.read()
        return response

    def _http_client() -> aiohttp.ClientSession:
        return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(), trust_env=True)

    async def _get_http_client(request: Request) -> AsyncIterator[aiohttp.ClientSession]:
        client = getattr(request.app.state, "http_client", None)
        if client is not None:
            yield client
        else:
            async with _http_client() as client:
                yield client

    @contextlib.asynccontextmanager
    async def _http_client_lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with _http_client() as client:
            app.state.http_client = client
            try:
                yield
            finally:
                app.state.http_client = None

    app = FastAPI(lifespan=_http_client_lifespan)

    @app.get("/convert")
    async def convert(
        amount: float = 1.0,
        *,
        http_client: Annotated[aiohttp.ClientSession, Depends(_get_http_client)],
    ) -> dict[str, Any]:
        limit = aiohttp.ClientTimeout(sock_connect=TIMEOUT, sock_read=TIMEOUT)
        response = await _http_read(http_client.get(UPSTREAM_URL, timeout=limit))
        response.raise_for_status()
        await asyncio.sleep(WORK_SECONDS)
        return _answer(json.loads(await response.text(errors="replace")), amount)

    return app


_BUILDERS: dict[str, Callable[[], FastAPI]] = {
    "vibe": _vibe_app,
    "def": _def_app,
    "httpx": _httpx_app,
    "httpx-tuned": _httpx_tuned_app,
    "httpx-aiohttp": _httpx_aiohttp_app,
    "aiohttp": _aiohttp_app,
    "httpx2": _httpx2_app,
    "httpx2-tuned": lambda: _httpx2_app(tuned=True),
    "httpx2-percall": lambda: _httpx2_percall_app(shared_tls=True),
    "httpx2-percall-notls": lambda: _httpx2_percall_app(shared_tls=False),
    "httpx2-vf101": _httpx2_vf101_app,
    "aiohttp-vf101": _aiohttp_vf101_app,
}


def make_app(variant: str) -> FastAPI:
    try:
        builder = _BUILDERS[variant]
    except KeyError:
        raise SystemExit(
            f"unknown VARIANT {variant!r}; choose from {', '.join(VARIANTS)}"
        ) from None
    return builder()


app = make_app(os.environ.get("VARIANT", "vibe"))
