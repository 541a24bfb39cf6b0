"""The example app, unchanged, behind a tiny ASGI wrapper that reports its database pool.

``example.py`` serves ``poolwatch:app`` with the example app's folder on ``PYTHONPATH``.
Every request but one goes to the app as it is. ``GET /__pool`` answers
``{"checked_out": N, "max": M}``: the connections checked out of the app's engine pool
now, and the most seen since the last ``GET /__pool?reset=1`` (a thread samples the pool
every 20 ms; reading it takes no lock). A sync engine and an async one (VF203's) both
work: the pool is ``engine.sync_engine.pool`` for the latter.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from app import database  # type: ignore[import-not-found]
from app.main import app as inner  # type: ignore[import-not-found]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

_engine = getattr(database.engine, "sync_engine", database.engine)
_highest = [0]


def _checked_out() -> int:
    return int(_engine.pool.checkedout())


def _sample() -> None:
    while True:
        _highest[0] = max(_highest[0], _checked_out())
        time.sleep(0.02)


threading.Thread(target=_sample, name="poolwatch", daemon=True).start()


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "http" and scope["path"] == "/__pool":
        body = json.dumps({"checked_out": _checked_out(), "max": _highest[0]}).encode()
        if b"reset=1" in scope.get("query_string", b""):
            _highest[0] = _checked_out()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})
        return
    await inner(scope, receive, send)
