"""What the project's SQLAlchemy sessions are: the factories that make them, the
dependencies that hand them to FastAPI, and the handlers that open their own (VF200).

A pure function of the index: the factories are module-level objects made by
``sessionmaker(...)`` (followed through re-exports), a dependency is a module-level
generator that calls one, and the functions FastAPI injects (route handlers, and what
``Depends`` names) are the ones whose own sessions become a parameter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from vibefix.asyncplan import injected_use, route_decorated
from vibefix.index import FunctionFact, NodeKey, ProjectIndex, node_key

MAKERS = frozenset(
    {
        "sqlalchemy.orm.sessionmaker()",
        "sqlalchemy.orm.session.sessionmaker()",
    }
)
"""What a session factory is made by. (``scoped_session`` hands out a session per
thread, which is not the request's: left.)"""
PREFERRED = ("get_db", "get_session", "get_db_session")
"""Names a dependency is chosen by when a factory has several."""


@dataclass(frozen=True)
class SessionPlan:
    """VF200's decisions, by definition and call positions."""

    opened: Mapping[NodeKey, str] = field(default_factory=dict)
    """Factory calls (``SessionLocal()``) in functions FastAPI injects, with the
    dependency that yields a session of the same factory (``app.database.get_db``);
    ``""`` when the project has none."""
    dependencies: frozenset[str] = frozenset()
    """The functions that hand out sessions: never given one themselves."""


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


def plan_sessions(index: ProjectIndex) -> SessionPlan:
    """Which factory calls in injected functions become a dependency, and which one."""
    module_level = {
        name: function
        for name, function in index.functions.items()
        if function.owner_class is None and "<locals>" not in name
    }
    by_factory: dict[str, list[str]] = {}
    for name, function in module_level.items():
        if function.is_generator:
            for _, made in _made(index, function):
                by_factory.setdefault(made, []).append(name)
    chosen = {made: _choose(names) for made, names in by_factory.items()}
    injected = {name for name, f in index.functions.items() if route_decorated(f, index)}
    for module in index.modules:
        for reference in module.references:
            if injected_use(reference.via, index):
                injected.update(t for t in reference.targets if t in index.functions)
    dependencies = frozenset(name for names in by_factory.values() for name in names)
    opened = {
        key: chosen.get(made, "")
        for name in sorted(injected - dependencies)
        if not index.functions[name].is_generator
        for key, made in _made(index, index.functions[name])
    }
    return SessionPlan(opened, dependencies)


def _choose(names: list[str]) -> str:
    for preferred in PREFERRED:
        found = [name for name in names if name.rpartition(".")[2] == preferred]
        if found:
            return sorted(found)[0]
    return sorted(names)[0]
