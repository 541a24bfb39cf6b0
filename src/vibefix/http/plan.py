"""VF101's whole-program decision: which functions share the application's HTTP client.

A client made per call costs what ``requests.get`` costs, and bench/load measured it
slightly *slower* than the ``def`` app at 50 concurrent requests; one client for the
application beats the ``def`` app at every concurrency. So, in a FastAPI app, the app's
lifespan makes one client, a dependency hands it to the route handlers and dependencies
that need it, and they pass it to the helpers they call, as a keyword argument. This
changes signatures across files, so it is planned like await propagation: a function
takes the client only when every caller can give it one (a handler: FastAPI; a helper:
callers that take it too). Everything else keeps a client per call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence, Set
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from vibefix.engine.index import CallFact, FunctionFact, NodeKey, ProjectIndex, node_key
from vibefix.engine.plan import Together
from vibefix.http import mapping
from vibefix.known.fastapi import FASTAPI_APPS
from vibefix.results import Finding, Position

PARAMETER = "http_client"
"""The parameter (and local name) of the shared client."""
LIFESPAN = "_http_client_lifespan"
"""The lifespan VF101 gives the app, which makes the client."""
_READY: NodeKey = (Path(), 0, 0, 0, 0)
"""An app whose lifespan is VF101's already (an earlier run's)."""


class Use(Protocol):
    """One use of a project function, as the calls family's plan sees it."""

    @property
    def path(self) -> Path: ...

    @property
    def caller(self) -> str | None:
        """The function that calls it; None at module level."""

    @property
    def call(self) -> CallFact | None:
        """The call; None for a use that is not one (``Depends(f)``)."""

    @property
    def via(self) -> str:
        """What it is passed to when not called (``fastapi.Depends``)."""


@dataclass(frozen=True)
class HttpPlan:
    takes: frozenset[NodeKey] = frozenset()
    """Functions (by definition) that take the shared client as ``http_client``."""
    injected: frozenset[NodeKey] = frozenset()
    """Of those, the handlers and dependencies: FastAPI injects it (``Depends``)."""
    passes: frozenset[NodeKey] = frozenset()
    """Calls that pass it on: ``helper(x, http_client=http_client)``."""
    app: NodeKey | None = None
    """The ``FastAPI(...)`` call that gets the lifespan that makes the client."""
    per_call: frozenset[NodeKey] = frozenset()
    """The rewritten calls that make a client of their own (``async with``)."""
    candidates: frozenset[str] = frozenset()
    """The functions that may take the client: every file that names one must be read,
    for a call there must pass it on."""
    findings: tuple[Finding, ...] = ()

    def together(self, code: str) -> tuple[Together, ...]:
        """The functions that take the client, the calls that pass it on and the app that
        makes it: they change together, by the rewrites of ``code`` (the one the plan was
        made for)."""
        if not self.takes:
            return ()
        keys = self.takes | self.passes | ({self.app} if self.app is not None else set())
        what = f"{len(self.takes)} functions take the application's HTTP client"
        return (Together(what, keys, (code,) if code else ()),)


def library(options: Mapping[str, Any]) -> str:
    """The library the rewritten calls use: the configured backend's (``httpx``)."""
    return mapping.backend(options).library


def share(
    code: str,
    index: ProjectIndex,
    taken: Mapping[Path, tuple[str, ...]],
    sites: Mapping[str, Sequence[Use]],
    handlers: Set[str],
    calls: Mapping[NodeKey, str],
    async_after: Set[str],
    writable: Callable[[Path], bool],
    injected: Callable[[str], bool],
) -> HttpPlan:
    """The plan for the calls ``code`` rewrites (``calls``, with their functions' names);
    ``taken``: the modules that define a name its code needs as something else.
    ``injected(via)`` tells whether FastAPI solves the dependencies of a function passed
    to ``via`` (``Depends``): a handler used so still gets the client."""
    per_call = frozenset(calls)
    if not calls:
        return HttpPlan()
    twins = set(calls.values())
    app, problem = _application(index, taken, writable)
    functions = index.functions
    ready = app == _READY
    if ready:
        app = None  # the app's lifespan makes the client already: an earlier run's work
    if app is None and not ready:
        if problem and handlers & twins:
            path, position = problem[0], problem[1]
            message = f"a client per call instead of one for the application: {problem[2]}"
            return HttpPlan(per_call=per_call, findings=(Finding(path, position, code, message),))
        return HttpPlan(per_call=per_call)
    callees: dict[str, set[str]] = {}
    for name, uses in sites.items():
        for site in uses:
            if site.caller is not None and site.call is not None:
                callees.setdefault(site.caller, set()).add(name)
    # Candidates: the functions that make the calls, and their callers, transitively.
    taking = set(twins)
    pending = list(taking)
    while pending:
        for site in sites.get(pending.pop(), ()):
            if site.call is not None and site.caller is not None and site.caller not in taking:
                taking.add(site.caller)
                pending.append(site.caller)
    candidates = frozenset(taking)
    # The largest subset in which every function's callers can hand the client on.
    changed = True
    while changed:
        changed = False
        for name in sorted(taking):
            function = functions.get(name)
            if function is None or not _can_take(
                injected,
                function,
                taking,
                sites,
                handlers,
                twins,
                callees,
                async_after,
                writable,
            ):
                taking.discard(name)
                changed = True
    served = taking & handlers
    if not served:
        return HttpPlan(per_call=per_call, candidates=candidates)
    return HttpPlan(
        candidates=candidates,
        per_call=frozenset(key for key, name in calls.items() if name not in taking),
        takes=frozenset(node_key(functions[n].path, functions[n]) for n in taking),
        injected=frozenset(node_key(functions[n].path, functions[n]) for n in served),
        passes=frozenset(
            node_key(site.path, site.call)
            for name in taking
            for site in sites.get(name, ())
            if site.call is not None and site.caller in taking
        ),
        app=app,
    )


def _can_take(
    injected: Callable[[str], bool],
    function: FunctionFact,
    taking: set[str],
    sites: Mapping[str, Sequence[Use]],
    handlers: Set[str],
    twins: Set[str],
    callees: Mapping[str, set[str]],
    async_after: Set[str],
    writable: Callable[[Path], bool],
) -> bool:
    name = function.qualname
    if (
        name not in async_after
        or not writable(function.path)
        or PARAMETER in function.shadowed
        or function.sync_only
    ):
        return False
    if name not in twins and not callees.get(name, set()) & taking:
        return False  # nothing to hand the client to any more
    if function.owner_class is not None:
        # A method may be reached through ``self`` from a base class's code, or reach
        # its base's through ``super()``: calls the index cannot tie to one definition.
        return False
    handler = name in handlers
    if not handler and function.decorators:
        return False  # a decorator may not pass a new keyword argument through
    uses = sites.get(name, ())
    if not handler and not uses:
        return False  # called from nowhere the index sees: no caller would pass it
    for site in uses:
        if site.call is None:
            if not handler or not injected(site.via):
                return False  # used as a value (a callback, a task): it gets no client
        elif site.caller not in taking or not site.call.awaitable:
            return False
    return True


def _application(
    index: ProjectIndex, taken: Mapping[Path, tuple[str, ...]], writable: Callable[[Path], bool]
) -> tuple[NodeKey | None, tuple[Path, Position, str] | None]:
    """The one ``FastAPI(...)`` call whose app gets the client's lifespan, or why none."""
    found = [
        (module.path, call)
        for module in index.modules
        for call in module.module_calls
        if any(index.resolve(target) in FASTAPI_APPS for target in call.targets)
    ]
    if len(found) > 1:
        # Tests often make an app of their own to try a router on: the app is the one
        # outside them.
        found = [(path, call) for path, call in found if not _in_tests(path)]
    if len(found) != 1:
        return None, None
    path, call = found[0]
    where = Position(call.line, call.column)
    module = next((m for m in index.modules if m.path == path), None)
    if taken.get(path):
        return None, (path, where, f"the app's module defines its own `{taken[path][0]}`")
    if not writable(path):
        return None, (path, where, "the app's module is outside the paths given")
    if (
        "lifespan" in call.keywords
        and module is not None
        and f"{module.module}.{LIFESPAN}" in index.functions
    ):
        return _READY, None
    hooks = {"lifespan", "on_startup", "on_shutdown", "**"} & set(call.keywords)
    if "**" in hooks:
        return None, (path, where, "the app's settings are unpacked (`**`): they may hold one")
    if hooks:
        return None, (path, where, f"the app has its own `{sorted(hooks)[0]}`: add it there")
    for function in index.functions.values():
        for made in function.calls:
            if any(_startup_hook(target) for target in made.targets):
                return None, (
                    path,
                    where,
                    "the app adds startup or shutdown handlers, which a lifespan would switch off",
                )
    for module in index.modules:
        if any(_startup_hook(t) for made in module.module_calls for t in made.targets):
            return None, (
                path,
                where,
                "the app adds startup or shutdown handlers, which a lifespan would switch off",
            )
    for function in index.functions.values():
        if any(decorator.endswith(".on_event") for decorator in function.decorators):
            return None, (
                path,
                where,
                "the app uses `on_event` handlers, which a lifespan would switch off",
            )
    return node_key(path, call), None


def _in_tests(path: Path) -> bool:
    return (
        "tests" in path.parts
        or "test" in path.parts
        or path.name.startswith("test_")
        or path.name == "conftest.py"
    )


def _startup_hook(target: str) -> bool:
    """``app.add_event_handler(...)``, ``app.router.on_startup.append(...)``."""
    return target.endswith(".add_event_handler") or any(
        f".{hook}." in target for hook in ("on_startup", "on_shutdown")
    )
