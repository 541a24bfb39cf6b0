"""VF300: optional fields of a request model that the API needs -> required."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import libcst as cst
from vibefix.codemods.split_models import SplitModels

from vibefix.boundary import facts as boundary
from vibefix.boundary.facts import BoundaryCodemod
from vibefix.boundary.modeledit import (
    default_shape,
    fields_of,
    names_in,
    none_shape,
    typing_names,
    without_default,
    without_none,
)
from vibefix.boundary.plan import BoundaryPlan, is_split
from vibefix.boundary.roles import ModelRole
from vibefix.codemod import PlanContext, PlanPart
from vibefix.results import Safety


@dataclass(frozen=True)
class RequiredPlan(PlanPart):
    required: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """For each model, the fields that become required, with why."""
    held: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """For each model, the fields that look required but stay, with why."""
    touched: frozenset[Path] = frozenset()
    """The files of the models it changes or reports on."""
    split: Mapping[str, tuple[Mapping[str, str], Mapping[str, str]]] = field(default_factory=dict)
    """For the models VF303 splits, ``required`` and ``held`` for the request half: used
    when VF303's rewrites are made."""


def decide(role: ModelRole) -> tuple[dict[str, str], dict[str, str]]:
    """The fields of ``role``'s model to make required, and those held back, with why."""
    required: dict[str, str] = {}
    held: dict[str, str] = {}
    if not role.bodies or role.partial:
        return required, held
    for fact in role.fact.fields:
        if not (fact.nullable and fact.default == "none"):
            continue
        column = role.columns.get(fact.name)
        use = role.uses.get(fact.name)
        read = use is not None and bool(use.reads)
        if column is not None and not column.nullable and not column.has_default and read:
            table = role.orm.rpartition(".")[2]
            why = f"the column `{table}.{column.name}` is NOT NULL and has no default"
        elif use is not None and use.demanded:
            why = f"`{_short(use.demanded[0])}` answers a request without it with an error"
            if role.answered:
                held[fact.name] = (
                    f"{why}, but the model is a response too (split it: {SplitModels.code})"
                )
                continue
        elif use is not None and use.dereferenced:
            why = f"`{_short(use.dereferenced[0])}` uses it as a value that cannot be None"
            if role.answered:
                held[fact.name] = (
                    f"{why}, but the model is a response too (split it: {SplitModels.code})"
                )
                continue
        else:
            continue
        if role.built:
            held[fact.name] = f"{why}, but the code also makes the model from data of its own"
        elif role.outside:
            handler, source = role.outside[0]
            held[fact.name] = (
                f"{why}, but `{_short(handler)}` takes the model from `{source}()` too,"
                " where a request may leave it out"
            )
        else:
            required[fact.name] = why
    return required, held


def _short(qualname: str) -> str:
    return qualname.rpartition(".")[2]


class RequiredFields(BoundaryCodemod[RequiredPlan]):
    """Make the optional fields of a request model that the API needs required.

    Why: AI-written models declare every field `Optional[X] = None`. A request without
    the field then reaches the handler, which answers it with a 500 (`None.lower()`), a
    hand-written 400, or writes a row with NULL in it. A required field is rejected by
    FastAPI with a 422 that names it, before any code runs, and the OpenAPI schema lists
    it as required, so clients know.

    A field becomes required when the model is a request body and:
    - the ORM column it mirrors is `nullable=False` without a default (the model mirrors
      the ORM class its handlers copy it into, or the one of its name without
      `Create`/`In`/`Request`...);
    - or a handler answers its absence with an error (`if not body.email: raise ...`);
    - or a handler uses it as a value that cannot be None and never checks it.

    Example:

        class ProductCreate(BaseModel):
            name: Optional[str] = None
            description: Optional[str] = None

    becomes, when `Product.name` is `Column(String, nullable=False)`,

        class ProductCreate(BaseModel):
            name: str
            description: Optional[str] = None

    Safety: review. The API's contract changes: a client that leaves the field out (or
    sends null) gets a 422 instead of what the handler answered (a 400, a 500, a row).

    Not rewritten: models no handler takes as a body (responses, internal models);
    partial-update models (a PATCH handler's, one dumped with `exclude_unset`, or one
    named `...Update`/`...Patch`); fields with a default other than None. A model that is
    a response too, or that the code also builds from data (`Model(**row)`), keeps a
    field that only its handlers' checks ask for, with a finding; fields inherited from
    a base model are left.
    """

    code = "VF300"
    safety = Safety.REVIEW
    triggers = (f"{boundary.TRIGGER}|{boundary.OPTIONAL_FIELD}",)

    @classmethod
    def plan_part(cls, context: PlanContext) -> RequiredPlan:
        required: dict[str, dict[str, str]] = {}
        held: dict[str, dict[str, str]] = {}
        boundary_plan = context.part(BoundaryPlan) or BoundaryPlan()
        if boundary_plan.pydantic_v1:
            return RequiredPlan()  # VF301 says why
        touched: set[Path] = set()
        split: dict[str, tuple[Mapping[str, str], Mapping[str, str]]] = {}
        for qualname, role in boundary_plan.models.items():
            required[qualname], held[qualname] = decide(role)
            if qualname in boundary_plan.splits:
                kept = boundary_plan.splits[qualname].create_fields
                half_required, half_held = decide(replace(role, responses=()))
                split[qualname] = (
                    {k: v for k, v in half_required.items() if k in kept},
                    {k: v for k, v in half_held.items() if k in kept},
                )
            if required[qualname] or held[qualname] or qualname in split:
                touched.add(role.path)
        return RequiredPlan(
            required,
            held,
            frozenset(touched),
            split,
        )

    def visit_Module(self, node: cst.Module) -> None:
        self._plan = self.part or RequiredPlan()

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        qualname = f"{self.file.module_name}.{node.name.value}"
        required = self._plan.required.get(qualname, {})
        held = self._plan.held.get(qualname, {})
        # Split by VF303, the model's request half is this one; its response half keeps
        # the fields as they were (and the names their annotations import).
        self._split = is_split(self.plan, qualname) and qualname in self._plan.split
        if self._split:
            required, held = self._plan.split[qualname]
        if not (required or held):
            return False
        for statement, name in fields_of(node):
            if name in held:
                self.report(statement, f"`{name}` stays optional: {held[name]}")
            elif name in required:
                self._require(statement, name, required[name])
        return False

    def _require(self, statement: cst.AnnAssign, name: str, why: str) -> None:
        is_name = typing_names(self)
        shape = none_shape(statement.annotation.annotation, is_name)
        default = default_shape(statement.value, is_name)
        if shape is None or default is None:
            self.report(statement, f"`{name}` should be required ({why}); vibefix cannot say it")
            return
        none_in, default_in = shape, default  # narrowed, for the closure
        kept = without_none(statement.annotation.annotation, shape)
        dropped = _names(statement.annotation.annotation) - _names(kept)

        def change(updated: cst.AnnAssign) -> cst.AnnAssign:
            # Decided on the original tree, done on the updated one: the type inside may
            # have been rewritten too (VF301's StrictStr).
            assert updated.value is not None
            value = without_default(updated.value, default_in)
            return updated.with_changes(
                annotation=updated.annotation.with_changes(
                    annotation=without_none(updated.annotation.annotation, none_in)
                ),
                value=value,
                equal=cst.MaybeSentinel.DEFAULT if value is None else updated.equal,
            )

        names = names_in(statement.annotation.annotation)
        self.replace(
            statement,
            change,
            f"`{name}` is required: {why}",
            drops=[] if self._split else [node for node in names if node.value in dropped],
        )


def _names(node: cst.CSTNode) -> set[str]:
    return {name.value for name in names_in(node)}
