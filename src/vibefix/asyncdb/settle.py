"""The plan settled once the others are known (``settled``): the migration is withdrawn
when a file it changes is outside the paths given, a function that awaits would stay
sync, or a session call the async plan awaits is one it does not rewrite."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from vibefix.asyncdb.plan import DbPlan, rule
from vibefix.calls.plan import AsyncPlan
from vibefix.engine.index import ProjectIndex, node_key, shown
from vibefix.engine.plan import PlanContext
from vibefix.known.blocking import Entry, Kind

Obstacle = tuple[Path, int, int, str]


def settled(part: DbPlan, context: PlanContext) -> DbPlan:
    """``part``, or the same withdrawn with the obstacles found now."""
    if not part.migrates:
        return _supposed(part, context)
    asyncs = context.part(AsyncPlan) or AsyncPlan()
    part = _unused_helpers(part, context.index, asyncs)
    problems = [
        *_shut_files(part, context),
        *_staying_sync(part, context.index, asyncs),
        *_sync_disposals(part, context.index, asyncs),
        *_unfollowed(part, context.index),
        *_runs_apart(part, context.index, asyncs),
    ]
    if not problems:
        return part
    return replace(part, migrates=False, obstacles=tuple(sorted({*part.obstacles, *problems})))


def _supposed(part: DbPlan, context: PlanContext) -> DbPlan:
    """``part``, held back already, with the obstacles the move would also meet once
    those are gone: the event-loop analysis is run as if the project moved (a call that
    would block a handler the move makes async). Every obstacle is said in one run,
    not one more after each hand edit. A session the plan could not follow is left
    to the run that can (its obstacle may be the one already said)."""
    if not part.engines and not part.makers:
        return part  # a run on part of a project, or nothing to move
    supposed = replace(part, migrates=True, obstacles=())
    asyncs = context.supposing(part.code, supposed).part(AsyncPlan) or AsyncPlan()
    supposed = _unused_helpers(supposed, context.index, asyncs)
    said = {obstacle[:3] for obstacle in part.obstacles}
    problems = [
        problem
        for problem in (
            *_shut_files(supposed, context),
            *_staying_sync(supposed, context.index, asyncs),
            *_sync_disposals(supposed, context.index, asyncs),
            *_runs_apart(supposed, context.index, asyncs),
        )
        if problem[:3] not in said
    ]
    if not problems:
        return part
    return replace(part, obstacles=tuple(sorted({*part.obstacles, *problems})))


def _shut_files(part: DbPlan, context: PlanContext) -> list[Obstacle]:
    """A file the migration must change but may not (outside the paths given, or failed
    to rewrite): said in the first file it may change, as nothing is."""
    shut = sorted(path for path in part.files if not context.writable(path))
    open_ = sorted(path for path in part.files if context.writable(path))
    return [
        (
            open_[0],
            1,
            1,
            f"`{path.name}` is outside the paths given (or could not be rewritten), and"
            f" {part.code} moves the whole project to AsyncSession at once",
        )
        for path in shut
        if open_
    ]


def _unused_helpers(part: DbPlan, index: ProjectIndex, asyncs: AsyncPlan) -> DbPlan:
    """A helper given its session (``def list_items(db: Session)``) that nothing in the
    project calls or names: VF203 makes it ``async def`` itself, as no caller is left
    behind (an entry point opens its own session, and would be no such helper)."""
    facts = {node_key(f.path, f): f for f in index.functions.values()}
    own = set()
    for key in part.async_functions & part.handed_sessions:
        function = facts.get(key)
        if (
            function is not None
            and not function.is_async
            and key not in asyncs.becomes_async
            and not function.decorators
            and not function.is_generator
            and not asyncs.callers.get(function.qualname)
            and function.qualname not in asyncs.held
            and not any(
                function.qualname in reference.targets
                for module in index.modules
                for reference in module.references
            )
            and not any(
                function.qualname in call.targets
                for module in index.modules
                for call in module.module_calls
            )
        ):
            own.add(key)
    return replace(part, own_async=part.own_async | own) if own else part


def _staying_sync(part: DbPlan, index: ProjectIndex, asyncs: AsyncPlan) -> list[Obstacle]:
    """A function that awaits after the migration but that the async plan leaves sync."""
    facts = {node_key(f.path, f): f for f in index.functions.values()}
    problems: list[Obstacle] = []
    for key in sorted(part.async_functions - part.own_async):
        function = facts.get(key)
        if function is None or not (function.is_async or key in asyncs.becomes_async):
            name = shown(function.qualname) if function else "this function"
            why = asyncs.held.get(function.qualname, "") if function else ""
            if function is not None and why.startswith("it is called from sync code in"):
                # Say why the caller stays sync: that is what to change.
                caller = next(
                    (
                        c
                        for c in sorted(asyncs.callers.get(function.qualname, ()))
                        if asyncs.held.get(c)
                    ),
                    None,
                )
                if caller is not None:
                    why += f", which stays sync: {asyncs.held[caller]}"
            if function is not None and any(
                d.rpartition(".")[2] == "fixture" for d in function.decorators
            ):
                why = (
                    "it is a sync pytest fixture; its session calls would run on an event"
                    " loop of their own only with a session of the test suite's own SQLite"
                    " engine (make it an async fixture by hand)"
                )
            if not why and function is not None and not asyncs.callers.get(function.qualname):
                why = "nothing in the project calls it, and it is no route handler"
            problems.append(
                (
                    key[0],
                    key[1],
                    key[2],
                    f"`{name}` uses the session but cannot become `async def`"
                    + (f": {why}" if why else ""),
                )
            )
    return problems


def _sync_disposals(part: DbPlan, index: ProjectIndex, asyncs: AsyncPlan) -> list[Obstacle]:
    """``engine.dispose()`` in sync code the project calls: it cannot be awaited there."""
    problems: list[Obstacle] = []
    for key, name in sorted(part.disposals.items()):
        function = index.functions.get(name)
        if (
            function is None
            or function.is_async
            or node_key(function.path, function) in asyncs.becomes_async
        ):
            continue
        if asyncs.callers.get(name):
            problems.append(
                (
                    key[0],
                    key[1],
                    key[2],
                    f"`engine.dispose()` in `{name.rpartition('.')[2]}`, which stays sync"
                    " and is called by the project: an async engine is disposed with"
                    " `await`",
                )
            )
    return problems


def _unfollowed(part: DbPlan, index: ProjectIndex) -> list[Obstacle]:
    """A call the async plan takes for a session's (its rule says so) that the migration
    does not rewrite: a session it could not follow."""
    classify = rule(part)
    rewritten = (
        part.awaits
        | part.waits
        | {k for k, q in part.queries.items() if q.terminal}
        | set(part.disposals)
    )
    problems: list[Obstacle] = []
    for function in index.functions.values():
        for call in function.calls:
            entries = {classify(index.resolve(t)) for t in call.targets}
            if Entry(Kind.TWIN, part.code, loop=True) in entries:
                key = node_key(function.path, call)
                if key not in rewritten:
                    problems.append(
                        (
                            key[0],
                            key[1],
                            key[2],
                            f"a session {part.code} cannot follow to where it was made",
                        )
                    )
    return problems


def _runs_apart(part: DbPlan, index: ProjectIndex, asyncs: AsyncPlan) -> list[Obstacle]:
    """Sync test code that runs a function using the session on an event loop of its
    own (``AsyncPlan.runs``): each run opens another loop, which only SQLite's
    connections serve (a server driver ties a pooled connection to its first loop)."""
    if part.sqlite_tests or not asyncs.runs:
        return []
    facts = {node_key(f.path, f): f.qualname for f in index.functions.values()}
    reaching = {facts[key] for key in part.async_functions if key in facts}
    pending = list(reaching)
    while pending:  # and every function that calls one, transitively
        for caller in asyncs.callers.get(pending.pop(), ()):
            if caller not in reaching:
                reaching.add(caller)
                pending.append(caller)
    return [
        (
            key[0],
            key[1],
            key[2],
            f"sync test code calls `{name.rpartition('.')[2]}`, which uses the session:"
            " it would run there on an event loop of its own (`asyncio.run`), which only"
            " SQLite's connections serve; make the test async by hand (pytest-asyncio)",
        )
        for key, name in sorted(asyncs.runs.items())
        if name in reaching
    ]
