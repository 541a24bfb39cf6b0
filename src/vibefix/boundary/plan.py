"""The boundary family's part of the plan (``BoundaryPlan``): every Pydantic model of the
project and what it is for (``vibefix.boundary.roles``), the ORM classes, and the models
split in a request and a response model (``vibefix.boundary.splits``), made once from the
facts of ``vibefix.boundary.facts`` over the whole project; and the split codemod's own
part (``SplitPlan``), which the codemods that edit a split model's request half read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from vibefix.boundary.facts import BoundaryCollector, HandlerFact, OrmFact
from vibefix.boundary.roles import (
    ModelRole,
    model_roles,
    pydantic_models,
    reached,
    route_usage,
    stripped,
)
from vibefix.boundary.splits import Split, plan_splits
from vibefix.engine.index import ProjectIndex
from vibefix.engine.plan import Plan, PlanContext, PlanPart
from vibefix.known.packaging import pin, pin_spelled, pinned_version


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
    pydantic_v1: str = ""
    """The Pydantic 1 release the project pins (``1.10.5``), else ``""``: the family
    writes Pydantic 2 (``model_config``, ``ConfigDict``, ``pattern=``), so it leaves
    such a project alone and VF301 says why at each request model."""

    @classmethod
    def make(cls, context: PlanContext) -> BoundaryPlan:
        plan = plan_boundary(context.index, context.config.options)
        texts = [
            text for files in context.declarations.projects.values() for text in files.values()
        ]
        # A class of the project's on Pydantic 1's ``BaseSettings`` (Pydantic 2 moved it
        # to pydantic-settings): a project on Pydantic 1 that pins nothing.
        settings = next(
            (
                name
                for name, bases in sorted(context.index.bases.items())
                if set(bases) & PYDANTIC_1_ONLY
            ),
            None,
        )
        found = next((v for text in texts if (v := pydantic_1(text))), "")
        if not found and settings is not None:
            found = (
                f"1 (its `{settings.rpartition('.')[2]}` derives from `pydantic.BaseSettings`,"
                " which Pydantic 2 no longer has)"
            )
        if found:
            # Only VF301's findings stay: the request models, and why.
            bodies = {q: role for q, role in plan.models.items() if role.bodies}
            return replace(
                plan, models=bodies, splits={}, handlers={}, handler_paths={}, pydantic_v1=found
            )
        return plan

    @property
    def wanted_names(self) -> frozenset[str]:
        """The names whose mentions must be indexed before deciding: each model the
        handlers reach (a file that names it may hold back its split), the ORM class its
        name would mirror, the unseen classes they reach and those they copy into."""
        names = {role.name for name, role in self.models.items() if name in self.reached}
        return frozenset(
            names
            | {stripped(name) for name in names}
            | self.unknown_bases
            | self.copied_into
            | {"BaseSettings"}  # settings on Pydantic 1's tell the project's Pydantic
        )


PYDANTIC_1 = pin("pydantic", r"(1(?:\.[0-9*]+)*)\b")
"""A declared dependency on Pydantic 1 (``pydantic==1.10.5``, ``pydantic<=1.10``,
Poetry's ``pydantic = "^1.10"``)."""
BELOW_2 = re.compile(rb"(?im)^\s*[\"']?pydantic\s*(?:\[[^\]]*\])?\s*[^\n#]*<\s*2(?:\.0)*\b")
"""``pydantic<2``, ``pydantic>=1.8,<2.0``."""
PYDANTIC_1_ONLY = frozenset({"pydantic.BaseSettings", "pydantic.env_settings.BaseSettings"})
"""Bases only Pydantic 1 has (Pydantic 2 moved ``BaseSettings`` to pydantic-settings)."""
OLD_FASTAPI = pin("fastapi", r"0\.([0-9]+)")
"""A FastAPI pinned before 0.100, which requires Pydantic 1 (``fastapi==0.90.0``,
Poetry's ``fastapi = "0.90.0"``)."""


def pydantic_1(text: bytes) -> str:
    """The Pydantic 1 a project's declaration pins, directly or through FastAPI before
    0.100 (``1 (fastapi==0.58.1)``); ``""`` when it pins none."""
    found = PYDANTIC_1.search(text)
    if found:
        return pinned_version(found)
    if BELOW_2.search(text):
        return "1"
    old = OLD_FASTAPI.search(text)
    if old and int(pinned_version(old)) < 100:
        return f"1 (through {pin_spelled(old)})"
    return ""


def is_split(plan: Plan, qualname: str) -> bool:
    """Whether VF303 splits this model in this run (its rewrites are made)."""
    part = plan.applied_part(SplitPlan)
    return part is not None and qualname in part.splits


def plan_boundary(index: ProjectIndex, options: Mapping[str, Any] | None = None) -> BoundaryPlan:
    """The boundary family's part, from the boundary facts of every indexed file and
    ``options`` (the ``[tool.vibefix]`` tables)."""
    files = index.facts(BoundaryCollector)
    every = {fact.qualname: fact for facts in files.values() for fact in facts.models}
    models = pydantic_models(index, files)
    orm = {fact.qualname: fact for facts in files.values() for fact in facts.orm}
    built = {index.resolve(name) for facts in files.values() for name in facts.built_from_data}
    usage = route_usage(index, files, models, orm)
    routes = usage.routes
    roles = model_roles(index, models, orm, usage, built)
    subclassed = frozenset(
        base for name in models for base in index.bases.get(name, ()) if base in models
    )
    splits, unsplit = plan_splits(index, files, routes, roles, subclassed, options or {})
    # What the handlers reach and the index has not seen may be models of the project
    # (a base model, a nested one): its module is read, and the files that name it.
    found = reached(index, routes.values(), every)
    unseen = frozenset(name for name in found if name not in index.bases)
    return BoundaryPlan(
        roles,
        orm,
        subclassed,
        _first_party(index, unseen),
        splits,
        unsplit,
        {h.qualname: path for path, facts in files.items() for h in facts.handlers},
        routes,
        _copied_into(index, routes.values(), orm),
        unseen,
        found,
    )


def _first_party(index: ProjectIndex, names: Iterable[str]) -> frozenset[str]:
    """The short names of ``names`` that belong to the project's own packages."""
    packages = {module.module.partition(".")[0] for module in index.modules}
    return frozenset(
        name.rpartition(".")[2] for name in names if name.partition(".")[0] in packages
    )


def _copied_into(
    index: ProjectIndex, routes: Iterable[HandlerFact], orm: Mapping[str, OrmFact]
) -> frozenset[str]:
    """The short names of the classes ``routes`` copy body fields into that are no known
    ORM class (yet)."""
    return frozenset(
        cls.rpartition(".")[2]
        for handler in routes
        for parameter in (*handler.parameters, handler.json_body)
        if parameter is not None
        for cls, _, _ in parameter.copies
        if index.resolve(cls) not in orm
    )
