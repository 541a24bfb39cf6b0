"""The API boundary's plan: which classes are Pydantic models, and what each one is for.

From the facts of ``vibefix.boundary`` over the whole project: a model is a class whose
bases lead to ``pydantic.BaseModel`` (through the project's own base models); its *roles*
are the route handlers that take it as a body and those that answer with it; a model no
handler takes or answers with is internal, and VF300-VF304 leave it alone. A model also
*mirrors* an ORM class: the one its handlers copy its fields into (``User(email=
body.email)``), else the one of the same name once ``Create``/``Read``/``In``... is taken
off. Whether a model is for partial updates (PATCH) is decided here too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from vibefix.boundary.facts import (
    BoundaryCollector,
    BoundaryFacts,
    ColumnFact,
    HandlerFact,
    ModelFact,
    OrmFact,
)
from vibefix.engine.index import ProjectIndex
from vibefix.engine.plan import Plan, PlanContext, PlanPart

PYDANTIC_BASES = frozenset({"pydantic.BaseModel", "pydantic.main.BaseModel"})
SUFFIXES = (
    *("Create", "Update", "Read", "In", "Out", "Input", "Output", "Request", "Response"),
    *("Base", "Schema", "Public", "Detail", "Body", "Payload", "Model"),
)
"""What a model's name adds to the ORM class it mirrors (``ProductCreate``: ``Product``)."""
SPLIT_OPTIONS = "split-models"
"""VF303's table in ``[tool.vibefix]``: ``create``, ``read`` (``"{name}Create"``...) and
``secrets`` (field names a response must not carry)."""
SECRETS = (
    *("password", "passwd", "hashed_password", "password_hash", "secret", "token"),
    *("api_key", "apikey", "private_key", "salt", "otp", "pin"),
)
"""Field names (or their last ``_`` part) that a response must not carry, by default."""
PARTIAL_WORDS = ("Update", "Patch", "Partial")
"""A model whose name holds one of these is taken for a partial update: its fields are
optional on purpose."""


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

    @property
    def answered(self) -> bool:
        """It is a response, or part of one."""
        return bool(self.responses or self.nested_in)

    @property
    def name(self) -> str:
        return self.fact.qualname.rpartition(".")[2]


@dataclass(frozen=True)
class Split:
    """A model split in two (VF303): the fields its body handlers read, and its fields
    but the secret ones for its responses."""

    create: str
    read: str
    create_fields: tuple[str, ...]
    read_fields: tuple[str, ...]
    module: str
    """The module that defines it (where the two new classes are imported from)."""
    bodies: tuple[str, ...]
    responses: tuple[str, ...]
    why: str


@dataclass(frozen=True)
class SplitPlan(PlanPart):
    """VF303's part of the plan (VF300 and VF301 read it: they edit the request half)."""

    splits: Mapping[str, Split] = field(default_factory=dict)
    unsplit: Mapping[str, str] = field(default_factory=dict)
    handlers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """For each route handler, the split models it takes or answers with."""
    touched: frozenset[Path] = frozenset()
    model_paths: Mapping[str, Path] = field(default_factory=dict)
    handler_paths: Mapping[str, Path] = field(default_factory=dict)
    held_handlers: Mapping[str, str] = field(default_factory=dict)
    """Handlers of a split withdrawn for a file that may not change, with the model."""


@dataclass(frozen=True)
class BoundaryPlan(PlanPart):
    """The boundary family's part of the plan, shared by VF300-VF304."""

    models: Mapping[str, ModelRole] = field(default_factory=dict)
    """Every Pydantic model of the project, by qualified name."""
    orm: Mapping[str, OrmFact] = field(default_factory=dict)
    """Every ORM class of the project, by qualified name."""
    subclassed: frozenset[str] = frozenset()
    """The models other models derive from."""
    unknown_bases: frozenset[str] = frozenset()
    """The names of the project's classes that some class derives from but the index
    has not seen yet (``Schema`` in ``class UserIn(Schema)``): it may be a base model."""
    splits: Mapping[str, Split] = field(default_factory=dict)
    """The models VF303 splits into a request and a response model."""
    unsplit: Mapping[str, str] = field(default_factory=dict)
    """The models that should be split but are not, with why."""
    handler_paths: Mapping[str, Path] = field(default_factory=dict)
    """Where each route handler is defined."""
    handlers: Mapping[str, HandlerFact] = field(default_factory=dict)
    """The route handlers (on a FastAPI app or router), by qualified name."""
    copied_into: frozenset[str] = frozenset()
    """The names of the classes route handlers copy body fields into (``Order(...)``):
    maybe ORM classes whose columns the plan needs."""
    wanted_modules: frozenset[str] = frozenset()
    """What the route handlers reach and the index has not seen: the module that defines
    each (``app.schemas`` for ``app.schemas.UserCreate``) is worth indexing."""
    reached: frozenset[str] = frozenset()
    """The classes route handlers take or answer with, their bases and the classes their
    fields hold, at any depth."""

    @classmethod
    def make(cls, context: PlanContext) -> BoundaryPlan:
        return plan_boundary(context.index, context.config.options)

    @property
    def wanted_names(self) -> frozenset[str]:
        """The names whose mentions must be indexed before deciding: each model the
        handlers reach (a file that names it may hold back its split), the ORM class its
        name would mirror, the unseen classes they reach and those they copy into."""
        names = {role.name for name, role in self.models.items() if name in self.reached}
        return frozenset(
            names | {_stripped(name) for name in names} | self.unknown_bases | self.copied_into
        )


def is_split(plan: Plan, qualname: str) -> bool:
    """Whether VF303 splits this model in this run (its rewrites are made)."""
    part = plan.applied_part(SplitPlan)
    return part is not None and qualname in part.splits


def facts_of(index: ProjectIndex) -> dict[Path, BoundaryFacts]:
    """The boundary facts of every indexed file."""
    return index.facts(BoundaryCollector)


def is_pydantic(index: ProjectIndex, qualname: str) -> bool:
    """Whether ``qualname`` derives from ``pydantic.BaseModel`` and nothing unknown."""
    outside = index.outside_bases(qualname)
    return bool(outside) and all(base in PYDANTIC_BASES for base in outside)


def plan_boundary(index: ProjectIndex, options: Mapping[str, Any] | None = None) -> BoundaryPlan:
    files = facts_of(index)
    classes: dict[str, tuple[ModelFact, Path]] = {}
    orm: dict[str, OrmFact] = {}
    first_party = {module.module.partition(".")[0] for module in index.modules}
    every: dict[str, ModelFact] = {}
    for path, facts in files.items():
        for model_fact in facts.models:
            every[model_fact.qualname] = model_fact
            if is_pydantic(index, model_fact.qualname):
                classes[model_fact.qualname] = (model_fact, path)
        for orm_fact in facts.orm:
            orm[orm_fact.qualname] = orm_fact
    built = {index.resolve(name) for facts in files.values() for name in facts.built_from_data}
    bodies: dict[str, list[str]] = {}
    responses: dict[str, list[str]] = {}
    partial: dict[str, str] = {}
    uses: dict[str, dict[str, dict[str, set[str]]]] = {}
    copies: dict[str, dict[str, tuple[str, str]]] = {}
    routes: dict[str, HandlerFact] = {}
    for facts in files.values():
        for handler in facts.handlers:
            if not any(_is_application(index, receiver) for receiver in handler.receivers):
                continue
            routes.setdefault(handler.qualname, handler)
            for response in handler.responses:
                if (name := index.resolve(response)) in classes:
                    responses.setdefault(name, []).append(handler.qualname)
            for parameter in handler.parameters:
                models = [index.resolve(t) for t in parameter.types]
                for model in (m for m in models if m in classes):
                    bodies.setdefault(model, []).append(handler.qualname)
                    if handler.method == "patch":
                        partial.setdefault(
                            model, f"`{_short(handler.qualname)}` is a PATCH handler"
                        )
                    elif parameter.partial:
                        partial.setdefault(
                            model, f"`{_short(handler.qualname)}` dumps it with `exclude_unset`"
                        )
                    by_field = uses.setdefault(model, {})
                    for kind in ("reads", "dereferenced", "demanded", "emptiness"):
                        for name in getattr(parameter, kind):
                            by_field.setdefault(name, {}).setdefault(kind, set()).add(
                                handler.qualname
                            )
                    for cls, keyword, name in parameter.copies:
                        target = index.resolve(cls)
                        if target in orm:
                            copies.setdefault(model, {}).setdefault(name, (target, keyword))
    reached = _reached(index, routes.values(), every)
    # What the handlers reach and the index has not seen may be models of the project
    # (a base model, a nested one): its module is read, and the files that name it.
    unseen = frozenset(name for name in reached if name not in index.bases)
    unknown = {name.rpartition(".")[2] for name in unseen if name.partition(".")[0] in first_party}
    short_orm: dict[str, list[str]] = {}
    for qualname in orm:
        short_orm.setdefault(qualname.rpartition(".")[2], []).append(qualname)
    subclassed = frozenset(
        base for name in classes for base in index.bases.get(name, ()) if base in classes
    )
    roles: dict[str, ModelRole] = {}
    for qualname, (fact, path) in classes.items():
        name = qualname.rpartition(".")[2]
        reason = partial.get(qualname, "")
        if not reason and any(word in name for word in PARTIAL_WORDS):
            reason = f"its name, `{name}`, says it is for partial updates"
        columns: dict[str, ColumnFact] = {}
        mirrored = ""
        by_name = short_orm.get(_stripped(name), [])
        if len(by_name) == 1:
            mirrored = by_name[0]
            named = {column.name: column for column in orm[mirrored].columns}
            columns.update({f.name: named[f.name] for f in fact.fields if f.name in named})
        for field_name, (target, keyword) in copies.get(qualname, {}).items():
            column = next((c for c in orm[target].columns if c.name == keyword), None)
            if column is not None:
                columns[field_name] = column
                mirrored = mirrored or target
        roles[qualname] = ModelRole(
            fact,
            path,
            tuple(dict.fromkeys(bodies.get(qualname, ()))),
            tuple(dict.fromkeys(responses.get(qualname, ()))),
            reason,
            qualname in built,
            mirrored,
            columns,
            {
                field_name: FieldUse(**{k: tuple(sorted(v)) for k, v in kinds.items()})
                for field_name, kinds in uses.get(qualname, {}).items()
            },
            tuple(base for base in index.lineage(qualname)[1:] if base in classes),
        )
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
    handler_paths = {h.qualname: path for path, facts in files.items() for h in facts.handlers}
    escapes = {
        index.resolve(t): handler.qualname
        for facts in files.values()
        for handler in facts.handlers
        for parameter in handler.parameters
        if parameter.escapes
        for t in parameter.types
    }
    mentions: dict[str, tuple[Path, int]] = {}
    for path, facts in files.items():
        for name, line in facts.mentions:
            mentions.setdefault(index.resolve(name), (path, line))
        # A handler on something that is no app: its types were taken for no mention.
        for handler in facts.handlers:
            if handler.qualname not in routes:
                for name in (*handler.responses, *(t for p in handler.parameters for t in p.types)):
                    mentions.setdefault(index.resolve(name), (path, handler.line))
        # A model named in a string (``-> "User"``), by its short name.
        for word, line in facts.named_in_strings:
            for qualname in roles:
                if qualname.rpartition(".")[2] == word:
                    mentions.setdefault(qualname, (path, line))
    # A module that imports the model without being one of its handlers' (a package's
    # ``__init__`` re-exporting it) would import a name that is gone.
    handler_modules = {name.rpartition(".")[0] for name in routes}
    for name, imported in index.objects.items():
        module = name.rpartition(".")[0]
        target = index.resolve(imported) if imported else ""
        if (
            target in roles
            and module != target.rpartition(".")[0]
            and module not in handler_modules
        ):
            where = next((m.path for m in index.modules if m.module == module), None)
            if where is not None:
                mentions.setdefault(target, (where, 1))
    splits, unsplit = _splits(roles, subclassed, escapes, mentions, index, options or {})
    copied_into = frozenset(
        cls.rpartition(".")[2]
        for handler in routes.values()
        for parameter in (*handler.parameters, handler.json_body)
        if parameter is not None
        for cls, _, _ in parameter.copies
        if index.resolve(cls) not in orm
    )
    return BoundaryPlan(
        roles,
        orm,
        subclassed,
        frozenset(unknown),
        splits,
        unsplit,
        handler_paths,
        routes,
        copied_into,
        unseen,
        reached,
    )


def _reached(
    index: ProjectIndex, routes: Iterable[HandlerFact], models: Mapping[str, ModelFact]
) -> frozenset[str]:
    """The classes route handlers take or answer with, their bases and the classes their
    fields hold, at any depth: what VF300-VF304 may have to read."""
    pending = [
        index.resolve(name)
        for handler in routes
        for name in (*handler.responses, *(t for p in handler.parameters for t in p.types))
    ]
    reached: set[str] = set()
    while pending:
        name = pending.pop()
        if name in reached:
            continue
        reached.add(name)
        pending.extend(index.resolve(base) for base in index.bases.get(name, ()))
        model = models.get(name)
        if model is not None:
            pending.extend(index.resolve(ref) for ref in model.refs)
    return frozenset(reached)


def _splits(
    roles: Mapping[str, ModelRole],
    subclassed: frozenset[str],
    escapes: Mapping[str, str],
    mentions: Mapping[str, tuple[Path, int]],
    index: ProjectIndex,
    options: Mapping[str, Any],
) -> tuple[dict[str, Split], dict[str, str]]:
    table = options.get(SPLIT_OPTIONS, {})
    table = table if isinstance(table, Mapping) else {}
    create_name = str(table.get("create", "{name}Create"))
    read_name = str(table.get("read", "{name}Read"))
    secrets = tuple(str(name) for name in table.get("secrets", SECRETS))
    splits: dict[str, Split] = {}
    unsplit: dict[str, str] = {}
    for qualname, role in roles.items():
        fields = [f.name for f in role.fact.fields]
        secret = [name for name in fields if _is_secret(name, secrets)]
        leaked = [name for name in secret if name in role.columns or role.bodies]
        if role.responses and role.bodies:
            why = "it is both a request body and a response"
        elif role.responses and leaked:
            # A response only: reported, not rewritten. An endpoint may be meant to hand
            # the value out (a new API key), and nothing tells which.
            named = ", ".join(f"`{n}`" for n in leaked)
            unsplit[qualname] = (
                f"its responses carry {named}: take it out of the model if no client"
                " needs it (an endpoint may be meant to hand one out, as an API key)"
            )
            continue
        else:
            continue
        module, _, name = qualname.rpartition(".")
        read_fields = tuple(field for field in fields if field not in secret)
        create_fields = tuple(
            field for field in fields if field in role.uses and role.uses[field].reads
        )
        new_create = create_name.format(name=_stripped(name))
        new_read = read_name.format(name=_stripped(name))
        problem = ""
        if role.partial:
            problem = f"it is a partial-update model ({role.partial})"
        elif role.built:
            problem = "the code also makes it from data of its own"
        elif qualname in subclassed:
            problem = "other models derive from it"
        elif not role.fact.plain:
            problem = "its body holds more than fields (validators, methods): split it by hand"
        elif qualname in escapes:
            problem = (
                f"`{_short(escapes[qualname])}` uses the whole body, so which fields a request"
                " needs is not known"
            )
        elif qualname in mentions and role.bodies:
            path, line = mentions[qualname]
            problem = f"it is used elsewhere too ({path.name}:{line})"
        elif (
            role.bodies and {f"{module}.{new_create}", f"{module}.{new_read}"} & index.bases.keys()
        ):
            problem = f"`{new_create}` or `{new_read}` exists already"
        elif role.bodies and not create_fields:
            problem = "its handlers read none of its fields"
        if problem:
            unsplit[qualname] = f"{why}, but {problem}"
            continue
        splits[qualname] = Split(
            new_create,
            new_read,
            create_fields,
            read_fields,
            module,
            role.bodies,
            role.responses,
            why,
        )
    return splits, unsplit


def _is_secret(name: str, secrets: tuple[str, ...]) -> bool:
    lowered = name.lower()
    return lowered in secrets or any(lowered.endswith(f"_{secret}") for secret in secrets)


def _short(qualname: str) -> str:
    return qualname.rpartition(".")[2]


def _is_application(index: ProjectIndex, name: str) -> bool:
    """Whether ``name`` is a FastAPI app or router, maybe imported from another module."""
    for _ in range(8):  # a re-export of a re-export; a cycle stops here
        if name in index.applications:
            return True
        imported = index.objects.get(name)
        if not imported or imported.endswith("()"):
            return False
        name = imported
    return False


def _stripped(name: str) -> str:
    for suffix in SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name
