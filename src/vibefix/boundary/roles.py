"""What each Pydantic model of the project is for: the route handlers that take it as a
body and those that answer with it (its *roles*), what they do with its fields, the ORM
class it *mirrors*, and whether it is for partial updates (PATCH).

A model is a class whose bases lead to ``pydantic.BaseModel`` (through the project's own
base models); a model no handler takes or answers with is internal, and the family leaves
it alone. The ORM class a model mirrors is the one its handlers copy its fields into
(``User(email=body.email)``), else the one of the same name once ``Create``/``Read``/
``In``... is taken off.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from vibefix.boundary.facts import (
    BoundaryFacts,
    ColumnFact,
    HandlerFact,
    ModelFact,
    OrmFact,
    ParameterFact,
)
from vibefix.engine.index import ProjectIndex

PYDANTIC_BASES = frozenset({"pydantic.BaseModel", "pydantic.main.BaseModel"})
SUFFIXES = (
    *("Create", "Update", "Read", "In", "Out", "Input", "Output", "Request", "Response"),
    *("Base", "Schema", "Public", "Detail", "Body", "Payload", "Model"),
)
"""What a model's name adds to the ORM class it mirrors (``ProductCreate``: ``Product``)."""
PARTIAL_WORDS = ("Update", "Patch", "Partial")
"""A model whose name holds one of these is taken for a partial update: its fields are
optional on purpose."""
USES = ("reads", "dereferenced", "demanded", "emptiness")
"""What a handler may do with a body's field: ``FieldUse``'s fields, ``ParameterFact``'s."""


@dataclass(frozen=True)
class FieldUse:
    """What the handlers that take a model as a body do with one of its fields."""

    reads: tuple[str, ...] = ()
    """The handlers that read it."""
    dereferenced: tuple[str, ...] = ()
    """Those that use it as a value that cannot be None, never checking it."""
    demanded: tuple[str, ...] = ()
    """Those that answer its absence with an error (``if not body.f: raise ...``)."""
    emptiness: tuple[str, ...] = ()
    """Those that answer an empty value with an error too (``if not body.f``)."""


@dataclass(frozen=True)
class ModelRole:
    """A Pydantic model of the project and what it is for."""

    fact: ModelFact
    path: Path
    bodies: tuple[str, ...] = ()
    """The route handlers that take it as a request body."""
    responses: tuple[str, ...] = ()
    """The route handlers that answer with it."""
    partial: str = ""
    """Why it is a partial-update model (its fields are optional on purpose), else ``""``."""
    built: bool = False
    """The code makes it from outside data too (``X(**data)``, ``X.model_validate(d)``)."""
    orm: str = ""
    """The ORM class it mirrors, if any."""
    columns: Mapping[str, ColumnFact] = field(default_factory=dict)
    """Its fields that mirror a column, with the column."""
    uses: Mapping[str, FieldUse] = field(default_factory=dict)
    bases: tuple[str, ...] = ()
    """Its project base models, nearest first."""
    nested_in: tuple[str, ...] = ()
    """The response models whose fields hold it (``lines: List[Line]``), at any depth:
    what a handler returns reaches it as it reaches a response."""
    outside: tuple[tuple[str, str], ...] = ()
    """``(handler, function)`` for each route handler that takes it from elsewhere than
    a JSON body (``Annotated[Filters, Query()]``, ``Form``, ``Depends``...): there its
    values come as strings, which strict types reject."""

    @property
    def answered(self) -> bool:
        """It is a response, or part of one."""
        return bool(self.responses or self.nested_in)

    @property
    def name(self) -> str:
        return short(self.fact.qualname)


@dataclass
class Usage:
    """What the route handlers do with the models they take and answer with, each list
    in the order the handlers come."""

    routes: dict[str, HandlerFact] = field(default_factory=dict)
    """The route handlers (on a FastAPI app or router), by qualified name."""
    bodies: dict[str, list[str]] = field(default_factory=dict)
    """For each model, the handlers that take it as a body."""
    responses: dict[str, list[str]] = field(default_factory=dict)
    """For each model, the handlers that answer with it."""
    partial: dict[str, str] = field(default_factory=dict)
    """The models a handler takes as a partial update, with why."""
    uses: dict[str, dict[str, dict[str, set[str]]]] = field(default_factory=dict)
    """For each model, field and kind of use (``USES``), the handlers that use it so."""
    copies: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)
    """For each model and field, the ORM class and keyword a handler copies it into."""
    outside: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    """For each model, the handlers that take it from elsewhere than a JSON body, with
    the function that fills it (``HandlerFact.outside``)."""


def pydantic_models(
    index: ProjectIndex, files: Mapping[Path, BoundaryFacts]
) -> dict[str, tuple[ModelFact, Path]]:
    """The classes of ``files`` that are Pydantic models, with the file of each."""
    return {
        fact.qualname: (fact, path)
        for path, facts in files.items()
        for fact in facts.models
        if is_pydantic(index, fact.qualname)
    }


def is_pydantic(index: ProjectIndex, qualname: str) -> bool:
    """Whether ``qualname`` derives from ``pydantic.BaseModel`` and nothing unknown."""
    outside = index.outside_bases(qualname)
    return bool(outside) and all(base in PYDANTIC_BASES for base in outside)


def route_usage(
    index: ProjectIndex,
    files: Mapping[Path, BoundaryFacts],
    models: Collection[str],
    orm: Mapping[str, OrmFact],
) -> Usage:
    """What the route handlers of ``files`` do with ``models``."""
    usage = Usage()
    for facts in files.values():
        for handler in facts.handlers:
            if any(is_application(index, receiver) for receiver in handler.receivers):
                _route(usage, index, handler, models, orm)
    return usage


def _route(
    usage: Usage,
    index: ProjectIndex,
    handler: HandlerFact,
    models: Collection[str],
    orm: Mapping[str, OrmFact],
) -> None:
    usage.routes.setdefault(handler.qualname, handler)
    for response in handler.responses:
        if (name := index.resolve(response)) in models:
            usage.responses.setdefault(name, []).append(handler.qualname)
    for parameter in handler.parameters:
        for model in (index.resolve(t) for t in parameter.types):
            if model in models:
                _body(usage, index, handler, parameter, model, orm)
    for cls, source in handler.outside:
        if (model := index.resolve(cls)) in models:
            usage.outside.setdefault(model, []).append((handler.qualname, source))


def _body(
    usage: Usage,
    index: ProjectIndex,
    handler: HandlerFact,
    parameter: ParameterFact,
    model: str,
    orm: Mapping[str, OrmFact],
) -> None:
    """What ``handler`` does with ``model``, the type of its body ``parameter``."""
    usage.bodies.setdefault(model, []).append(handler.qualname)
    if handler.method == "patch":
        usage.partial.setdefault(model, f"`{short(handler.qualname)}` is a PATCH handler")
    elif parameter.partial:
        usage.partial.setdefault(
            model, f"`{short(handler.qualname)}` dumps it with `exclude_unset`"
        )
    by_field = usage.uses.setdefault(model, {})
    for kind in USES:
        for name in getattr(parameter, kind):
            by_field.setdefault(name, {}).setdefault(kind, set()).add(handler.qualname)
    for cls, keyword, name in parameter.copies:
        target = index.resolve(cls)
        if target in orm:
            usage.copies.setdefault(model, {}).setdefault(name, (target, keyword))


def model_roles(
    index: ProjectIndex,
    models: Mapping[str, tuple[ModelFact, Path]],
    orm: Mapping[str, OrmFact],
    usage: Usage,
    built: Collection[str],
) -> dict[str, ModelRole]:
    """The role of each of ``models``; ``built``: the classes the code makes from outside
    data."""
    by_name: dict[str, list[str]] = {}
    for qualname in orm:
        by_name.setdefault(short(qualname), []).append(qualname)
    roles: dict[str, ModelRole] = {}
    for qualname, (fact, path) in models.items():
        mirrored, columns = _mirrored(fact, orm, by_name, usage.copies.get(qualname, {}))
        roles[qualname] = ModelRole(
            fact,
            path,
            tuple(dict.fromkeys(usage.bodies.get(qualname, ()))),
            tuple(dict.fromkeys(usage.responses.get(qualname, ()))),
            _partial(short(qualname), usage.partial.get(qualname, "")),
            qualname in built,
            mirrored,
            columns,
            {
                field_name: FieldUse(**{k: tuple(sorted(v)) for k, v in kinds.items()})
                for field_name, kinds in usage.uses.get(qualname, {}).items()
            },
            tuple(base for base in index.lineage(qualname)[1:] if base in models),
            outside=tuple(dict.fromkeys(usage.outside.get(qualname, ()))),
        )
    return _nested(index, roles)


def _partial(name: str, reason: str) -> str:
    """Why the model called ``name`` is for partial updates: ``reason`` (what a handler
    does with it), else its name; ``""`` when it is not."""
    if not reason and any(word in name for word in PARTIAL_WORDS):
        return f"its name, `{name}`, says it is for partial updates"
    return reason


def _mirrored(
    fact: ModelFact,
    orm: Mapping[str, OrmFact],
    by_name: Mapping[str, list[str]],
    copies: Mapping[str, tuple[str, str]],
) -> tuple[str, dict[str, ColumnFact]]:
    """The ORM class a model mirrors (``""``: none) and its fields that mirror a column,
    with the column: by name (``by_name``: the ORM classes by short name), and by what
    the handlers copy into (``copies``)."""
    columns: dict[str, ColumnFact] = {}
    mirrored = ""
    same_name = by_name.get(stripped(short(fact.qualname)), [])
    if len(same_name) == 1:
        mirrored = same_name[0]
        named = {column.name: column for column in orm[mirrored].columns}
        columns.update({f.name: named[f.name] for f in fact.fields if f.name in named})
    for field_name, (target, keyword) in copies.items():
        column = next((c for c in orm[target].columns if c.name == keyword), None)
        if column is not None:
            columns[field_name] = column
            mirrored = mirrored or target
    return mirrored, columns


def _nested(index: ProjectIndex, roles: dict[str, ModelRole]) -> dict[str, ModelRole]:
    """``roles`` with the models responses hold, at any depth, told so (``nested_in``)."""
    nested: dict[str, list[str]] = {}
    pending = [name for name in roles if roles[name].responses]
    seen: set[str] = set()
    while pending:
        outer = pending.pop()
        if outer in seen:
            continue
        seen.add(outer)
        for ref in roles[outer].fact.refs:
            inner = index.resolve(ref)
            if inner in roles and inner != outer:
                nested.setdefault(inner, []).append(outer)
                pending.append(inner)
    for name, outers in nested.items():
        roles[name] = replace(roles[name], nested_in=tuple(dict.fromkeys(outers)))
    return roles


def reached(
    index: ProjectIndex, routes: Iterable[HandlerFact], models: Mapping[str, ModelFact]
) -> frozenset[str]:
    """The classes route handlers take or answer with, their bases and the classes their
    fields hold (``models``: every model-like class by name), at any depth: what the
    family may have to read."""
    pending = [
        index.resolve(name)
        for handler in routes
        for name in (*handler.responses, *(t for p in handler.parameters for t in p.types))
    ]
    found: set[str] = set()
    while pending:
        name = pending.pop()
        if name in found:
            continue
        found.add(name)
        pending.extend(index.resolve(base) for base in index.bases.get(name, ()))
        model = models.get(name)
        if model is not None:
            pending.extend(index.resolve(ref) for ref in model.refs)
    return frozenset(found)


def is_application(index: ProjectIndex, name: str) -> bool:
    """Whether ``name`` is a FastAPI app or router, maybe imported from another module."""
    for _ in range(8):  # a re-export of a re-export; a cycle stops here
        if name in index.applications:
            return True
        imported = index.objects.get(name)
        if not imported or imported.endswith("()"):
            return False
        name = imported
    return False


def short(qualname: str) -> str:
    """A qualified name's last part."""
    return qualname.rpartition(".")[2]


def stripped(name: str) -> str:
    """A model's name without what it adds to the ORM class it mirrors (``SUFFIXES``)."""
    for suffix in SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name
