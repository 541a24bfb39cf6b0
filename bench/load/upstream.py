"""Stand-in for the external rates API that the benchmark apps call.

A plain ASGI app (no framework, so that it costs as little CPU as possible on the
load-generator core): ``GET /rates`` answers a small JSON body after
``asyncio.sleep(UPSTREAM_DELAY)`` seconds (default 0.05); so does ``GET /latest``, the
example app's exchange-rate API (USD base, as its fake in the app's own tests). Anything
else is a 404.

Run: ``uvicorn --app-dir bench/load upstream:app --port 8001``.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

DELAY = float(os.environ.get("UPSTREAM_DELAY", "0.05"))

RATES_BODY = json.dumps(
    {"base": "EUR", "rates": {"USD": 1.0842, "GBP": 0.8571, "JPY": 162.35, "CHF": 0.9712}},
    separators=(",", ":"),
).encode()
LATEST_BODY = json.dumps(
    {"base": "USD", "date": "2024-05-01", "rates": {"EUR": 0.9, "GBP": 0.8, "JPY": 150.0}},
    separators=(",", ":"),
).encode()
NOT_FOUND_BODY = b'{"detail":"Not Found"}'


async def _respond(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    if scope["method"] == "GET" and scope["path"] in ("/rates", "/latest"):
        await asyncio.sleep(DELAY)
        await _respond(send, 200, RATES_BODY if scope["path"] == "/rates" else LATEST_BODY)
    else:
        await _respond(send, 404, NOT_FOUND_BODY)
