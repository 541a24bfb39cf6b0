"""The pytest plugin that ``vibefix verify`` loads into the target project's own test run.

It runs in the target's interpreter, so it imports nothing from vibefix: only the standard
library and blockbuster. ``vibefix verify`` puts it on ``PYTHONPATH`` as
``vibefix_verify_plugin`` and loads it with ``-p``; it reads its settings from the
environment (``VIBEFIX_VERIFY_ROOT``, ``VIBEFIX_VERIFY_OUT``, ``VIBEFIX_VERIFY_SLOW_MS``)
and writes what it saw as JSON to ``VIBEFIX_VERIFY_OUT`` when the session ends.

Two detectors run on every event loop of every thread, for the whole session:

- **Blocking calls.** blockbuster wraps the blocking functions of the standard library
  (``time.sleep``, socket and file I/O, ``sqlite3``, locks...). Its stock wrapper raises
  ``BlockingError``, which would change what the tests do and hide every blocking call
  after the first one of a request; this plugin builds the wrappers itself, with the same
  rules (blockbuster's own allow-lists and predicates), but records the call and lets it
  go on. A call is kept when its stack has a frame in the project (not in a virtualenv or
  site-packages below it); the innermost such frame is where it is reported, with the
  kind of call it is (``sleep``, ``http``, ``database`` or ``other``: the runner knows
  which codemod fixes each).
- **Slow callbacks.** Every loop runs in asyncio debug mode with ``slow_callback_duration``
  set to the threshold; a step that took longer, and made no blocking call that explains
  it, is reported at the innermost project frame of its task's coroutine chain, or at the
  running test when the chain has ended.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import os
import site
import sys
import sysconfig
import threading
from collections.abc import Callable, Iterable, Iterator
from types import CodeType, FrameType
from typing import Any

ROOT = os.path.realpath(os.environ.get("VIBEFIX_VERIFY_ROOT", os.getcwd()))
OUT = os.environ.get("VIBEFIX_VERIFY_OUT", "")
SLOW = float(os.environ.get("VIBEFIX_VERIFY_SLOW_MS", "50")) / 1000.0

_lock = threading.Lock()
_records: dict[tuple[str, int], dict[str, Any]] = {}
_slow: dict[tuple[str, int], dict[str, Any]] = {}
_explained: set[int] = set()  # ids of loop steps (handles) that made a blocking call
_test: dict[str, Any] = {"id": "", "path": "", "line": 0}
_tests = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}
_error: list[str] = []
_outside = tuple(
    os.path.realpath(path) + os.sep
    for path in {
        sys.prefix,
        sys.exec_prefix,
        sys.base_prefix,
        sysconfig.get_paths()["purelib"],
        sysconfig.get_paths()["platlib"],
        *site.getsitepackages(),
        os.path.dirname(os.path.abspath(__file__)),
    }
)
_own_cache: dict[str, bool] = {}


def _own(filename: str) -> bool:
    """Whether ``filename`` is one of the project's own files."""
    known = _own_cache.get(filename)
    if known is None and filename.startswith("<"):  # <frozen ...>, <string>, generated code
        known = _own_cache[filename] = False
    if known is None:
        path = os.path.realpath(filename)
        known = (
            path.startswith(ROOT + os.sep)
            and not path.startswith(_outside)
            and os.sep + "site-packages" + os.sep not in path
        )
        _own_cache[filename] = known
    return known


def _column(code: CodeType, lasti: int) -> int:
    """The 1-based column of the instruction at ``lasti`` (1 where Python cannot tell)."""
    positions = getattr(code, "co_positions", None)
    if positions is None or lasti < 0:
        return 1
    for index, position in enumerate(positions()):
        if index == lasti // 2:
            return (position[2] or 0) + 1
    return 1


def _frames(frame: FrameType | None) -> Iterator[FrameType]:
    while frame is not None:
        yield frame
        frame = frame.f_back


def _kind(function: str, files: Iterable[str]) -> str:
    """What kind of blocking call a call to ``function`` made under ``files`` is: one of
    ``_RANK`` (``vibefix.results.Blocking``'s values), which the runner maps to the
    codemod that fixes it."""
    folders = " ".join(path.replace("\\", "/") for path in files)
    if function == "time.sleep":
        return "sleep"
    if "/requests/" in folders or "/urllib3/" in folders:
        return "http"
    if function.startswith("sqlite3.") or "/sqlalchemy/" in folders:
        return "database"
    return "other"


def _record_blocking(function: str) -> None:
    stack = list(_frames(inspect.currentframe()))[2:]  # past this function and the wrapper
    own = [frame for frame in stack if _own(frame.f_code.co_filename)]
    if not own:
        return
    frame = own[0]
    where = (os.path.realpath(frame.f_code.co_filename), frame.f_lineno)
    try:
        loop = asyncio.get_running_loop()
        handle = getattr(loop, "_current_handle", None)
    except RuntimeError:  # pragma: no cover - the wrapper checked there is one
        handle = None
    with _lock:
        if handle is not None:
            _explained.add(id(handle))
        record = _records.get(where)
        if record is None:
            record = _records[where] = {
                "functions": [],
                "path": where[0],
                "line": where[1],
                "column": _column(frame.f_code, frame.f_lasti),
                "kind": "other",
                "in": frame.f_code.co_name,
                "tests": [],
                "count": 0,
            }
        record["count"] += 1
        if function not in record["functions"]:
            record["functions"].append(function)
        kind = _kind(function, (f.f_code.co_filename for f in stack))
        if _RANK.index(kind) < _RANK.index(record["kind"]):
            record["kind"] = kind
        if _test["id"] not in record["tests"]:
            record["tests"].append(_test["id"])


_RANK = ["sleep", "http", "database", "other"]
"""When one place makes several kinds of blocking call, the most specific wins."""


def _wrap_blocking(
    modules: Any,
    excluded_modules: Any,
    func: Callable[..., Any],
    func_name: str,
    can_block_functions: list[tuple[str, Iterable[str]]],
    can_block_predicate: Callable[..., bool],
) -> Callable[..., Any]:
    """blockbuster's wrapper with the raise turned into a record (same rules otherwise)."""
    from blockbuster import blockbuster as bb

    skip = bb._skip

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if skip.value:
            return func(*args, **kwargs)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return func(*args, **kwargs)
        skip.value = True
        try:
            if can_block_predicate(*args, **kwargs):
                return func(*args, **kwargs)
            for frame in _frames(inspect.currentframe()):
                name = frame.f_code.co_filename.replace("\\", "/")
                for filename, functions in can_block_functions:
                    if name.endswith(filename) and frame.f_code.co_name in functions:
                        return func(*args, **kwargs)
            _record_blocking(func_name)
        finally:
            skip.value = False
        return func(*args, **kwargs)

    return wrapper


def _task_frame(handle: object) -> FrameType | None:
    """The innermost project frame of the coroutine chain a loop step ran, if any."""
    task = getattr(getattr(handle, "_callback", None), "__self__", None)
    get_coro = getattr(task, "get_coro", None)
    if get_coro is None:
        return None
    coro: Any = get_coro()
    found = None
    while coro is not None:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is not None and _own(frame.f_code.co_filename):
            found = frame
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return found


class _SlowCallbacks(logging.Filter):
    """Takes asyncio's "Executing <handle> took N seconds" warnings of debug mode off the
    ``asyncio`` logger (logging them would itself write on the loop) and notes them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith("Executing ") or len(record.args or ()) != 2:
            return True
        self._take(record)
        return False

    def _take(self, record: logging.LogRecord) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        handle = getattr(loop, "_current_handle", None)
        args: Any = record.args
        took = float(args[1])
        skip = _skip()
        previous, skip.value = skip.value, True
        try:
            self._note(handle, took)
        finally:
            skip.value = previous

    def _note(self, handle: object, took: float) -> None:
        with _lock:
            if handle is not None and id(handle) in _explained:
                return
        frame = _task_frame(handle) if handle is not None else None
        if frame is not None:
            where = (os.path.realpath(frame.f_code.co_filename), frame.f_lineno)
            column = _column(frame.f_code, frame.f_lasti)
            inside = frame.f_code.co_name
        elif _test["path"]:
            where = (_test["path"], int(_test["line"]))
            column, inside = 1, ""
        else:
            return
        with _lock:
            record_ = _slow.get(where)
            if record_ is not None:
                record_["count"] += 1
                record_["ms"] = max(record_["ms"], round(took * 1000))
                if _test["id"] not in record_["tests"]:
                    record_["tests"].append(_test["id"])
                return
            _slow[where] = {
                "path": where[0],
                "line": where[1],
                "column": column,
                "in": inside,
                "ms": round(took * 1000),
                "tests": [_test["id"]],
                "count": 1,
                "located": frame is not None,
            }


def _patch_loops() -> None:
    """Every new event loop runs in debug mode with our slow-callback threshold."""
    from asyncio import base_events

    original = base_events.BaseEventLoop.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.set_debug(True)
        self.slow_callback_duration = SLOW

    base_events.BaseEventLoop.__init__ = __init__  # type: ignore[method-assign]
    logging.getLogger("asyncio").addFilter(_SlowCallbacks())


def _start_blockbuster() -> object | None:
    try:
        from blockbuster import blockbuster as bb
    except ImportError as error:
        _error.append(f"blockbuster cannot be imported in {sys.executable}: {error}")
        return None
    expected = [
        "modules",
        "excluded_modules",
        "func",
        "func_name",
        "can_block_functions",
        "can_block_predicate",
    ]
    if list(inspect.signature(bb._wrap_blocking).parameters) != expected:
        _error.append(
            f"blockbuster {getattr(bb, '__version__', '')} in {sys.executable} is not a"
            " version vibefix verify knows (its _wrap_blocking changed)"
        )
        return None
    bb._wrap_blocking = _wrap_blocking
    buster = bb.BlockBuster()
    buster.activate()
    return buster


_buster: list[object] = []


class _NoSkip(threading.local):
    value = False


def _skip() -> Any:
    """blockbuster's per-thread "inside a check" flag (a stand-in when it is missing)."""
    try:
        from blockbuster import blockbuster as bb
    except ImportError:
        return _NoSkip()
    return bb._skip


def pytest_configure(config: Any) -> None:
    _patch_loops()
    buster = _start_blockbuster()
    if buster is not None:
        _buster.append(buster)


def pytest_runtest_protocol(item: Any, nextitem: Any) -> None:
    path, line, _ = item.location
    _test["id"] = item.nodeid
    _test["path"] = os.path.realpath(os.path.join(str(item.config.rootpath), path))
    _test["line"] = (line or 0) + 1


def pytest_runtest_logreport(report: Any) -> None:
    if report.when == "call" or report.outcome != "passed":
        if report.outcome == "passed":
            _tests["passed"] += 1
        elif report.outcome == "skipped":
            _tests["skipped"] += 1
        elif report.when == "call":
            _tests["failed"] += 1
        else:
            _tests["errors"] += 1


def pytest_unconfigure(config: Any) -> None:
    for buster in _buster:
        buster.deactivate()  # type: ignore[attr-defined]
    if not OUT:
        return
    document = {
        "root": ROOT,
        "python": sys.executable,
        "blocking": sorted(_records.values(), key=lambda r: (r["path"], r["line"])),
        "slow": sorted(_slow.values(), key=lambda r: (r["path"], r["line"])),
        "tests": _tests,
        "error": "; ".join(_error),
    }
    with open(OUT, "w", encoding="utf-8") as stream:
        json.dump(document, stream)
