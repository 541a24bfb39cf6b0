"""What the project's SQLAlchemy sessions are: the factories that make them, the
dependencies that hand them to FastAPI, the functions that open their own (VF200,
VF204) and those that use one made at import (VF201).

Pure functions of the index: the factories are module-level objects made by
``sessionmaker(...)`` (followed through re-exports); a dependency is a module-level
generator shaped as one (``known.fastapi.dependency_shaped``) that calls a factory; the
functions FastAPI injects (route handlers, and what ``Depends`` names) are the ones given
the request's session; the others hold theirs in ``with``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from vibefix.calls.plan import injected_use
from vibefix.codemod import PlanPart
from vibefix.engine.index import (
    OVERRIDES,
    CallFact,
    FunctionFact,
    NodeKey,
    ProjectIndex,
    node_key,
)
from vibefix.known.fastapi import ROUTE_METHODS
from vibefix.sessions.facts import ModuleNames, StateSessions

MAKERS = frozenset(
    {
        "sqlalchemy.orm.sessionmaker()",
        "sqlalchemy.orm.session.sessionmaker()",
    }
)
"""What a session factory is made by. (``scoped_session`` hands out a session per
thread, which is not the request's: left.)"""
SESSION_AT_TOP = (
    r"(?m:^(?:from[ \t]+[\w.]+[ \t]+import(?:[^\n(]*|[ \t]*\([^)]*)(?i:session|\bdb\b|database)"
    r"|[A-Za-z_]\w*[ \t]*=[ \t]*(?:[\w.]*\.)?(?:sessionmaker|\w*(?i:session)\w*)[ \t]*\())"
)
"""A trigger: the module imports a session, its factory or the module that has them at
the top level (``from app.database import SessionLocal``, ``from app import
database``, in parentheses too), or makes one there (``SessionLocal =
sessionmaker(...)``), outside a docstring's indented example."""
PREFERRED = ("get_db", "get_session", "get_db_session")
"""Names a dependency is chosen by when a factory has several."""


@dataclass(frozen=True)
class SessionPlan(PlanPart):
    """VF200's decisions, by definition and call positions."""

    opened: Mapping[NodeKey, str] = field(default_factory=dict)
    """Factory calls (``SessionLocal()``) in functions FastAPI injects, with the
    dependency that yields a session of the same factory (``app.database.get_db``);
    ``""`` when the project has none."""
    blocked: Mapping[NodeKey, str] = field(default_factory=dict)
    """Factory calls in injected functions that cannot be given a session, and why."""
    dependencies: frozenset[str] = frozenset()
    """The functions that hand out sessions: never given one themselves."""
    chosen: Mapping[str, str] = field(default_factory=dict)
    """For each factory (its qualified name), the dependency chosen to hand out its
    sessions."""
    created: Mapping[str, str] = field(default_factory=dict)
    """Factories with no dependency that a handler needs: the ``get_db`` VF200 writes
    next to the factory (its qualified name)."""
    touched: frozenset[Path] = frozenset()
    """The files that get a new dependency: transformed even if nothing else changes
    there."""
    helpers: Mapping[NodeKey, str] = field(default_factory=dict)
    """Helpers that open a session of their own and whose every caller, in the same
    file, is a function FastAPI injects: by definition, the dependency of the factory.
    They take the caller's session as a parameter instead."""
    helper_opens: Mapping[NodeKey, str] = field(default_factory=dict)
    """The factory calls in those helpers, with the dependency."""
    helper_calls: Mapping[NodeKey, NodeKey] = field(default_factory=dict)
    """Each call of such a helper (by position), with the helper's definition."""
    helper_callers: Mapping[NodeKey, tuple[NodeKey, ...]] = field(default_factory=dict)
    """For each such helper, the definitions of its callers."""
    wanted_names: frozenset[str] = frozenset()
    """The helpers' names: every file that mentions one must be read (a caller there
    holds the helper back)."""


def factory(index: ProjectIndex, target: str) -> str | None:
    """The module-level name a session factory is defined under, for ``target`` (a
    re-export of it, or itself); None when ``target`` is no session factory."""
    seen = set()
    while target not in seen:
        seen.add(target)
        kind = index.objects.get(target)
        if kind in MAKERS:
            return target
        if kind is None or kind.endswith(")"):
            return None
        target = kind  # a re-export: ``app.db.SessionLocal`` -> ``app.database.SessionLocal``
    return None


def _made(index: ProjectIndex, function: FunctionFact) -> list[tuple[NodeKey, str]]:
    found = []
    for call in function.calls:
        made = {factory(index, target) for target in call.targets}
        if len(made) == 1 and (name := made.pop()) is not None:
            found.append((node_key(function.path, call), name))
    return found


_LAST: list[tuple[ProjectIndex, SessionPlan]] = []
"""The last index planned and its plan: VF200, VF201, VF203 and VF204 all ask for it
while one plan is made (each call walks every call of the project)."""


def plan_sessions(index: ProjectIndex) -> SessionPlan:
    """Which factory calls in injected functions become a dependency, and which one."""
    if _LAST and _LAST[0][0] is index:
        return _LAST[0][1]
    plan = _plan_sessions(index)
    _LAST[:] = [(index, plan)]
    return plan


def _plan_sessions(index: ProjectIndex) -> SessionPlan:
    shaped = {name for module in index.modules for name in module.yield_dependencies}
    # A test suite's ``app.dependency_overrides[get_db] = override_get_db``: the
    # override is a session dependency too (a generator in a test file is no
    # ``yield_dependencies``).
    shaped |= {
        target
        for module in index.modules
        for reference in module.references
        if reference.via == OVERRIDES
        for target in reference.targets
        if target in index.functions and index.functions[target].is_generator
    }
    by_factory: dict[str, list[str]] = {}
    for name in sorted(shaped):
        function = index.functions.get(name)
        if function is not None and function.is_generator:
            factories = {made for _, made in _made(index, function)}
            if len(factories) == 1:
                by_factory.setdefault(factories.pop(), []).append(name)
    chosen = {made: _choose(names) for made, names in by_factory.items()}
    injected, called = _injected(index), _called(index)
    dependencies = frozenset(name for names in by_factory.values() for name in names)
    created: dict[str, str] = {}
    opened: dict[NodeKey, str] = {}
    blocked: dict[NodeKey, str] = {}
    for name in sorted(injected - dependencies):
        function = index.functions[name]
        for key, made in _made(index, function):
            if function.is_generator:
                blocked[key] = (
                    "it is a generator: the session it opens may be what it yields; give"
                    " it the request's by hand"
                )
            elif name in called:
                blocked[key] = (
                    "it is also called directly, where no session would be passed: give it"
                    " the request's by hand"
                )
            else:
                if made not in chosen:
                    new = _new_dependency(index, made)
                    if new:
                        chosen[made] = created[made] = new
                opened[key] = chosen.get(made, "")
    # A handler that uses a session made at import (VF201's) needs the dependency too.
    for made in sorted(_shared_factories(index, injected - dependencies)):
        if made not in chosen:
            new = _new_dependency(index, made)
            if new:
                chosen[made] = created[made] = new
    homes = {
        module.path
        for module in index.modules
        for made in created
        if made.rpartition(".")[0] == module.module
    }
    helpers = _helpers(index, injected - dependencies, called, chosen, opened)
    return SessionPlan(
        opened,
        blocked,
        dependencies,
        chosen,
        created,
        frozenset(homes),
        helpers=helpers[0],
        helper_opens=helpers[1],
        helper_calls=helpers[2],
        helper_callers=helpers[3],
        wanted_names=frozenset(
            index.functions[n].qualname.rpartition(".")[2]
            for n, f in index.functions.items()
            if node_key(f.path, f) in helpers[0]
        ),
    )


READS = frozenset({"query", "get", "get_one", "scalar", "scalars", "close", "refresh"})
"""What a helper may do with its session to take the caller's: read. One that writes,
commits or rolls back would do it to the caller's transaction."""


def _reads_only(index: ProjectIndex, function: FunctionFact) -> bool:
    for call in function.calls:
        for target in call.targets:
            resolved = index.resolve(target)
            for prefix in ("sqlalchemy.orm.sessionmaker()().", "sqlalchemy.orm.Session()."):
                if resolved.startswith(prefix):
                    rest = resolved[len(prefix) :]
                    verb = rest.split("(")[0].split(".")[0]
                    last = rest.rpartition(".")[2]
                    if verb not in READS or (verb == "query" and last in ("delete", "update")):
                        return False
    return True


def _helpers(
    index: ProjectIndex,
    injected: set[str],
    called: set[str],
    chosen: Mapping[str, str],
    opened: Mapping[NodeKey, str],
) -> tuple[
    dict[NodeKey, str],
    dict[NodeKey, str],
    dict[NodeKey, NodeKey],
    dict[NodeKey, tuple[NodeKey, ...]],
]:
    """The helpers whose callers can hand them the request's session (see
    ``SessionPlan.helpers``): a module-level function, no generator, that opens one
    session of a factory with a dependency, is used only by direct calls, all from
    functions FastAPI injects in its own file (that open one session of the same factory
    or none) and outside lambdas."""
    referenced = {
        target
        for module in index.modules
        for reference in module.references
        for target in reference.targets
    }
    at_import = {
        target
        for module in index.modules
        for call in module.module_calls
        for target in call.targets
    }
    sites: dict[str, list[tuple[str, CallFact]]] = {}
    for name, function in index.functions.items():
        for call in function.calls:
            for target in call.targets:
                sites.setdefault(index.resolve(target), []).append((name, call))
    helpers: dict[NodeKey, str] = {}
    opens: dict[NodeKey, str] = {}
    calls: dict[NodeKey, NodeKey] = {}
    callers: dict[NodeKey, tuple[NodeKey, ...]] = {}
    for name, function in sorted(index.functions.items()):
        made = _made(index, function)
        if (
            name in injected
            or function.decorators  # a cache or a wrapper would see the new parameter
            or not _reads_only(index, function)
            or function.is_generator
            or function.owner_class is not None
            or "<locals>" in name
            or name in referenced
            or name in at_import
            or name in index.ambiguous
            or len(made) != 1
            or made[0][1] not in chosen
        ):
            continue
        factory_name = made[0][1]
        uses = sites.get(name, [])
        if not uses:
            continue
        fine = True
        for caller_name, call in uses:
            caller = index.functions[caller_name]
            own = _made(index, caller)
            if (
                caller_name not in injected
                or caller.is_generator
                or caller_name in called
                or caller.path != function.path
                or not call.awaitable
                or len(own) > 1
                or (own and (own[0][1] != factory_name or own[0][0] not in opened))
            ):
                fine = False
                break
        if not fine:
            continue
        key = node_key(function.path, function)
        helpers[key] = chosen[factory_name]
        opens[made[0][0]] = chosen[factory_name]
        for _, call in uses:
            calls[node_key(function.path, call)] = key
        callers[key] = tuple(sorted({node_key(function.path, index.functions[c]) for c, _ in uses}))
    return helpers, opens, calls, callers


def _shared_factories(index: ProjectIndex, functions: set[str]) -> set[str]:
    """The factories of the module-level sessions that ``functions`` use."""
    shared = {
        name: made
        for name, kind in index.objects.items()
        if kind is not None
        and kind.endswith("()")
        and (made := factory(index, kind[:-2])) is not None
    }
    return {
        made
        for name in functions
        for call in index.functions[name].calls
        for target in call.targets
        for session, made in shared.items()
        if target == session or target.startswith(f"{session}.")
    }


def _new_dependency(index: ProjectIndex, made: str) -> str:
    """The name of the dependency to write next to the factory ``made``; ``""`` when
    every name it could take is taken, or VF200 could not write it there (the factory is
    no plain top-level assignment, or a name the dependency needs means something else
    in that module)."""
    module, _, short = made.rpartition(".")
    homes = [
        facts
        for path, facts in index.facts(ModuleNames).items()
        if any(m.path == path and m.module == module for m in index.modules)
    ]
    if not homes or short not in homes[0].plain or homes[0].clashing:
        return ""
    taken = set(index.functions) | set(index.objects) | set(index.classes)
    for name in PREFERRED:
        if f"{module}.{name}" not in taken:
            return f"{module}.{name}"
    return ""


def _choose(names: list[str]) -> str:
    for preferred in PREFERRED:
        found = [name for name in names if name.rpartition(".")[2] == preferred]
        if found:
            return sorted(found)[0]
    return sorted(names)[0]


@dataclass(frozen=True)
class SharedPlan(PlanPart):
    """VF201's decisions: the functions FastAPI injects that use a session made once, at
    import, for every request."""

    users: Mapping[NodeKey, tuple[str, str]] = field(default_factory=dict)
    """By definition position: the shared session's qualified name, and the dependency
    that yields a session of its factory (``""`` when there is none)."""
    blocked: Mapping[NodeKey, tuple[str, str]] = field(default_factory=dict)
    """The same functions that cannot take the request's session: the shared session's
    name, and why."""
    created: frozenset[str] = frozenset()
    """The dependencies VF200 writes (used here only when VF200 runs)."""
    state: Mapping[str, str] = field(default_factory=dict)
    """Sessions kept on ``app.state`` (``app.state.db = SessionLocal()``): the attribute's
    name, and the dependency that yields a session of its factory (``""``: none)."""
    injected: frozenset[NodeKey] = frozenset()
    """The functions FastAPI injects that may take the request's session instead of the
    one on ``app.state``: not generators, not called directly, opening none of their own."""


def plan_shared(index: ProjectIndex) -> SharedPlan:
    """Which injected functions use a module-level session, and the dependency to use."""
    shared = {
        name: made
        for name, kind in index.objects.items()
        if kind is not None
        and kind.endswith("()")
        and (made := factory(index, kind[:-2])) is not None
    }
    sessions = plan_sessions(index)
    state = {
        attribute: sessions.chosen.get(made, "")
        for facts in index.facts(StateSessions).values()
        for attribute, callee in facts
        if (made := factory(index, callee)) is not None
    }
    injected, called = _injected(index), _called(index)
    plain = frozenset(
        node_key(function.path, function)
        for name in injected - sessions.dependencies
        if not (function := index.functions[name]).is_generator
        and name not in called
        and not _made(index, function)
    )
    if not shared:
        return SharedPlan(state=state, injected=plain if state else frozenset())
    users: dict[NodeKey, tuple[str, str]] = {}
    blocked: dict[NodeKey, tuple[str, str]] = {}
    for name in sorted(injected - sessions.dependencies):
        function = index.functions[name]
        used = {
            session
            for call in function.calls
            for target in call.targets
            for session in shared
            if target == session or target.startswith(f"{session}.")
        }
        if len(used) != 1:
            continue
        session = used.pop()
        key = node_key(function.path, function)
        if function.is_generator or name in called:
            blocked[key] = (session, "it is a generator or is also called directly")
        elif _made(index, function):
            blocked[key] = (
                session,
                "it also opens a session of its own: with both from the dependency, FastAPI"
                " would hand it the same one twice",
            )
        else:
            users[key] = (session, sessions.chosen.get(shared[session], ""))
    return SharedPlan(
        users,
        blocked,
        frozenset(sessions.created.values()),
        state,
        plain if state else frozenset(),
    )


def _injected(index: ProjectIndex) -> set[str]:
    """Route handlers and what ``Depends`` names: the functions whose parameters FastAPI
    solves (not startup hooks, exception handlers or middleware)."""
    injected = {
        name
        for name, function in index.functions.items()
        if any(
            owner in index.applications and method in ROUTE_METHODS
            for owner, _, method in (d.rpartition(".") for d in function.decorators)
        )
    }
    for module in index.modules:
        for reference in module.references:
            if injected_use(reference.via, index):
                injected.update(t for t in reference.targets if t in index.functions)
    return injected


def _called(index: ProjectIndex) -> set[str]:
    """Everything the project calls directly."""
    return {
        target
        for module in index.modules
        for call in (*module.module_calls, *(c for f in module.functions for c in f.calls))
        for target in call.targets
    }


@dataclass(frozen=True)
class ContextPlan(PlanPart):
    """VF204's decisions."""

    opened: frozenset[NodeKey] = frozenset()
    """The factory calls (``SessionLocal()``) in functions FastAPI does not inject
    (scripts, helpers, background tasks) and that are no generators."""


def plan_contexts(index: ProjectIndex) -> ContextPlan:
    """VF204's plan: see ``ContextPlan``."""
    sessions = plan_sessions(index)
    injected = _injected(index)
    return ContextPlan(
        frozenset(
            key
            for name, function in index.functions.items()
            if name not in injected
            and name not in sessions.dependencies
            and not function.is_generator
            for key, _ in _made(index, function)
        )
    )


@dataclass(frozen=True)
class HelpersTaken:
    """What VF200 tells VF204 of a file it rewrites: the helpers (by definition) that take
    their callers' session, which VF204 must leave (it would hold their session in
    ``with``)."""

    helpers: frozenset[NodeKey] = frozenset()
