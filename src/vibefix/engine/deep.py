"""Room for libcst's recursion on source nested as deeply as CPython compiles.

CPython compiles 200 nested brackets (``f(f(f(...)))``, ``[[[...]]]``) and chains of
about 3,000 attributes, subscripts or calls (``a.b.c...``; 10,000 on 3.13). libcst's
parser copes, but every walk of its tree (metadata, visitors, transformers, code
generation) recurses several Python frames per level: 190 nested calls already exhaust
the default limit of 1,000 frames. So the per-file work runs in a thread with a large C
stack (Python 3.10 spends C stack on every Python call) and a raised recursion limit.

Python 3.12 and 3.13 also cap C-level recursion at a constant that no setting raises,
and libcst's code generation recurses through it (context managers): there, past about
700 levels on 3.12, the ``RecursionError`` still comes (``sourcefile.in_deep_stack``
turns it into the file's error).
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

T = TypeVar("T")

STACK_BYTES = 512 * 1024 * 1024
"""The thread's C stack: address space, of which only the pages touched are used. On
Python 3.10 a frame takes under 500 bytes of it, so the limit below fits five times."""
RECURSION_LIMIT = 200_000
"""Frames the thread may stack. A chain of 2,950 links, run through every codemod,
takes 9,400 (about three a level); 200,000 leave room for the deepest nesting that
compiles on 3.13 and for libcst's trees that nest what CPython keeps flat
(``a and b and ...``, ``"a" "b" ...``)."""

_local = threading.local()


def call(function: Callable[..., T], *args: object) -> T:
    """``function(*args)`` in a thread with a large stack and a raised recursion limit
    (or right here, when already in one, or when no such thread can start)."""
    if getattr(_local, "ordinary", None) is not None:
        return function(*args)
    ordinary = sys.getrecursionlimit()
    outcome: list[T] = []
    failure: list[BaseException] = []

    def work() -> None:
        _local.ordinary = ordinary
        try:
            outcome.append(function(*args))
        except BaseException as error:
            failure.append(error)

    thread = threading.Thread(target=work, name="vibefix-file", daemon=True)
    previous = threading.stack_size()
    try:
        threading.stack_size(STACK_BYTES)
        sys.setrecursionlimit(max(ordinary, RECURSION_LIMIT))
        thread.start()
    except (RuntimeError, ValueError, MemoryError):  # no room for such a thread
        sys.setrecursionlimit(ordinary)
        return function(*args)
    finally:
        threading.stack_size(previous)
    try:
        thread.join()
    finally:
        sys.setrecursionlimit(ordinary)
    if failure:
        raise failure[0]
    return outcome[0]


@contextlib.contextmanager
def ordinary_recursion() -> Iterator[None]:
    """The recursion limit CPython had before ``call`` raised it, for ``compile()``: on
    3.10-3.12 how deep a nesting it accepts scales with the limit, and it must judge the
    file as CPython itself would (deeper than that, it would recurse in C unchecked)."""
    ordinary: int | None = getattr(_local, "ordinary", None)
    if ordinary is None:
        yield
        return
    raised = sys.getrecursionlimit()
    sys.setrecursionlimit(ordinary)
    try:
        yield
    finally:
        sys.setrecursionlimit(raised)
