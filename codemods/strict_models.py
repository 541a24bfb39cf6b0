"""VF301: request models -> ``extra="forbid"`` and strict types for JSON's own types."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import libcst as cst
from vibefix.codemods.field_constraints import ConstraintPlan
from vibefix.codemods.split_models import SplitModels

from vibefix.boundary import facts as boundary
from vibefix.boundary.facts import STRICT_TYPES, BoundaryCodemod
from vibefix.boundary.modeledit import core_name, fields_of, names_in, typing_names
from vibefix.boundary.plan import BoundaryPlan, is_split
from vibefix.boundary.roles import ModelRole, short
from vibefix.codemod import PlanContext, PlanPart
from vibefix.cst.arguments import appended, keyword
from vibefix.results import Safety

RENAMED = {
    "allow_population_by_field_name": "populate_by_name",
    "anystr_lower": "str_to_lower",
    "anystr_strip_whitespace": "str_strip_whitespace",
    "anystr_upper": "str_to_upper",
    "keep_untouched": "ignored_types",
    "max_anystr_length": "str_max_length",
    "min_anystr_length": "str_min_length",
    "orm_mode": "from_attributes",
    "schema_extra": "json_schema_extra",
    "validate_all": "validate_default",
}
"""Pydantic v1 configuration keys and their v2 names (pydantic's ``V2_RENAMED_KEYS``;
``populate_by_name`` rather than 2.11's ``validate_by_name``, which older 2.x lack)."""
REMOVED = frozenset(
    {"allow_mutation", "error_msg_templates", "fields", "getter_dict", "smart_union"}
    | {"underscore_attrs_are_private", "json_loads", "json_dumps", "json_encoders"}
    | {"copy_on_model_validation", "post_init_call"}
)
"""v1 keys with no v2 equivalent: such a ``class Config`` is left, with a finding."""
LINE_LENGTH = 88
"""Past this, a written ``ConfigDict(...)`` takes one line an argument (black's, ruff's)."""
_EXTRA_ENUM = re.compile(r"^(?:\w+\.)*Extra\.(allow|ignore|forbid)$")


@dataclass(frozen=True)
class StrictModel:
    """What becomes of a request model (its v1 ``class Config``, if any, becomes
    ``model_config = ConfigDict(...)`` in any case)."""

    forbid: bool
    """Add ``extra="forbid"``."""
    strict: tuple[str, ...]
    """The fields whose type becomes its strict spelling."""


@dataclass(frozen=True)
class StrictPlan(PlanPart):
    models: Mapping[str, StrictModel] = field(default_factory=dict)
    held: Mapping[str, str] = field(default_factory=dict)
    """The request models left alone, with why."""
    touched: frozenset[Path] = frozenset()
    split: Mapping[str, StrictModel | None] = field(default_factory=dict)
    """For the models VF303 splits, what becomes of the request half: used when VF303's
    rewrites are made."""


def decide(role: ModelRole, plan: BoundaryPlan) -> StrictModel | str | None:
    """What becomes of a model: a ``StrictModel``, why it is held back, or None (it is no
    request body, or strict already)."""
    if not role.bodies:
        return None
    fact = role.fact
    if plan.pydantic_v1:
        return (
            f"the project is on Pydantic {plan.pydantic_v1}, and the pydantic recipe writes"
            " Pydantic 2 (`model_config`, `ConfigDict`): upgrade Pydantic first"
        )
    if role.outside:
        handler, source = role.outside[0]
        return (
            f"`{short(handler)}` takes it from `{source}()` too, where every value comes"
            " as a string: strict types would reject them"
        )
    if role.answered:
        return (
            "it is a response model too: `extra='forbid'` and strict types would reject what"
            f" a handler returns (split it: {SplitModels.code})"
        )
    if role.built:
        return "the code also makes it from data of its own, which may hold other keys"
    if fact.qualname in plan.subclassed:
        return "other models derive from it: `extra='forbid'` would reach them too"
    if fact.config == "other":
        return "its configuration is not a literal vibefix can read"
    keys = dict(fact.config_keys)
    removed = sorted(REMOVED & keys.keys())
    if fact.config == "class" and removed:
        return f"its v1 `class Config` sets {', '.join(removed)}, which Pydantic 2 removed"
    inherited = {key for base in role.bases for key, _ in plan.models[base].fact.config_keys}
    forbid = "extra" not in keys and "extra" not in inherited
    strict = tuple(
        f.name
        for f in fact.fields
        if f.inner in STRICT_TYPES and "strict" not in f.keywords and f.default != "factory"
    )
    if not (forbid or strict or fact.config == "class"):
        return None
    return StrictModel(forbid, strict)


class StrictModels(BoundaryCodemod[StrictPlan]):
    """Make request models reject unknown keys and values of the wrong JSON type.

    Why: a Pydantic model ignores the keys it does not know and converts what it can: a
    client that sends `{"is_admin": true}` to a model without that field gets a 200 and
    never learns it was dropped (a typo, `emial`, goes unnoticed the same way), and
    `"quantity": "3"`, `1.0` or `true` become `3`, `1` and `1`. With `extra="forbid"`
    the request is answered with a 422 naming the key; with `StrictInt`, `StrictStr`,
    `StrictBool` and `StrictFloat` a value of another JSON type is a 422 too.

    Example:

        class OrderIn(BaseModel):
            quantity: int
            note: Optional[str] = None

    becomes

        class OrderIn(BaseModel):
            model_config = ConfigDict(extra="forbid")

            quantity: StrictInt
            note: Optional[StrictStr] = None

    Strictness is per field, for JSON's own types only, never `strict=True` for the whole
    model: FastAPI validates the parsed JSON as Python objects, where strict mode rejects
    a date, a UUID, an Enum or a Decimal sent as a string (pydantic#7065). `StrictFloat`
    still takes an integer. A v1 `class Config` of such a model becomes `model_config =
    ConfigDict(...)` on the way, its keys renamed as Pydantic 2 names them (`orm_mode`
    -> `from_attributes`, `Extra.forbid` -> `"forbid"`): Pydantic 2 warns about the old
    names and ignores them.

    Safety: review. Clients that send extra keys, or numbers as strings, get a 422
    where they got a 200.

    Not rewritten: models no handler takes as a body (a model nested in a request model
    only, too); models that are a response too, that
    the code also builds from data (`Model(**row)`), or that other models derive from
    (each with a finding); a model whose `extra` is set already, by it or a base
    (its choice is kept); fields with `Field(strict=...)`; a `class Config` with methods,
    a base, or keys Pydantic 2 removed (a finding), and a configuration that is not a
    literal.
    """

    code = "VF301"
    safety = Safety.REVIEW
    triggers = (f"{boundary.TRIGGER}|{boundary.OPTIONAL_FIELD}",)

    @classmethod
    def plan_part(cls, context: PlanContext) -> StrictPlan:
        plan = context.part(BoundaryPlan) or BoundaryPlan()
        models: dict[str, StrictModel] = {}
        held: dict[str, str] = {}
        split: dict[str, StrictModel | None] = {}
        for qualname, role in plan.models.items():
            decided = decide(role, plan)
            if isinstance(decided, StrictModel):
                models[qualname] = decided
            elif decided is not None:
                held[qualname] = decided
            if qualname in plan.splits:
                half = decide(replace(role, responses=()), plan)
                kept = plan.splits[qualname].create_fields
                split[qualname] = (
                    replace(half, strict=tuple(f for f in half.strict if f in kept))
                    if isinstance(half, StrictModel)
                    else None
                )
        touched = frozenset(plan.models[name].path for name in [*models, *held, *split])
        return StrictPlan(models, held, touched, split)

    def visit_Module(self, node: cst.Module) -> None:
        self._plan = self.part or StrictPlan()

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        qualname = f"{self.file.module_name}.{node.name.value}"
        # Split by VF303, the model's request half is this one (see VF300).
        self._split = is_split(self.plan, qualname) and qualname in self._plan.split
        if self._split:
            model = self._plan.split[qualname]
        else:
            if qualname in self._plan.held:
                why = self._plan.held[qualname]
                self.report(node, f"`{node.name.value}` is left as it is: {why}")
            model = self._plan.models.get(qualname)
        if model is None or not isinstance(node.body, cst.IndentedBlock):
            return False
        for statement, name in fields_of(node):
            if name in model.strict:
                self._strict(statement, qualname)
        self._configure(node, model)
        return False

    def _strict(self, statement: cst.AnnAssign, model: str) -> None:
        field_name = statement.target.value if isinstance(statement.target, cst.Name) else ""
        constraints = self.plan.applied_part(ConstraintPlan)
        if constraints is not None and (model, field_name) in (constraints.emails):
            return  # VF304 makes it an EmailStr
        name = core_name(statement.annotation.annotation, typing_names(self))
        if name is None or name.value not in {"int", "str", "bool", "float"}:
            return  # ``Annotated[...]``, a string annotation: left as it is
        strict = STRICT_TYPES[f"builtins.{name.value}"]
        alias = self.file.imports.name_alias(name, "pydantic", strict)
        if alias is None:
            self.report(
                name, f"`{strict}` means something else here: make the field strict by hand"
            )
            return
        spelled = alias.name
        self.replace(
            name,
            lambda updated: updated.with_changes(value=spelled),
            f"`{statement.target.value if isinstance(statement.target, cst.Name) else ''}`"
            f" takes a JSON {_json_type(name.value)} only, not one converted from another type",
            needs=alias.needs,
        )

    def _configure(self, node: cst.ClassDef, model: StrictModel) -> None:
        assert isinstance(node.body, cst.IndentedBlock)
        forbid = ("extra", cst.SimpleString('"forbid"'))
        statements = [
            (line, small)
            for line in node.body.body
            for small in (line.body if isinstance(line, cst.SimpleStatementLine) else [line])
        ]
        for line, small in statements:
            if isinstance(small, cst.ClassDef) and small.name.value == "Config":
                self._convert(line, small, forbid if model.forbid else None)
                return
            value = _model_config(small)
            if value is None or not model.forbid:
                continue
            if isinstance(value, cst.Dict):
                self.replace(
                    value,
                    lambda updated: updated.with_changes(
                        elements=_appended_element(
                            list(updated.elements),
                            cst.DictElement(cst.SimpleString('"extra"'), forbid[1]),
                        )
                    ),
                    'the request model rejects unknown keys: "extra": "forbid"',
                )
            elif isinstance(value, cst.Call):
                self.replace(
                    value,
                    lambda updated: updated.with_changes(
                        args=appended(
                            updated.args, keyword(*forbid), updated.whitespace_before_args
                        )
                    ),
                    'the request model rejects unknown keys: extra="forbid"',
                )
            return
        if not model.forbid:
            return
        alias = self.file.imports.name_alias(node, "pydantic", "ConfigDict")
        if alias is None:
            self.report(node, "`ConfigDict` means something else here: add extra='forbid' by hand")
            return
        new = _config_line(alias.name, [keyword(*forbid)])
        docstring = _has_docstring(node.body)

        def insert(updated: cst.ClassDef) -> cst.ClassDef:
            body: list[Any] = list(updated.body.body)
            at = 1 if docstring else 0
            blank = [cst.EmptyLine(indent=False)]
            placed = new.with_changes(leading_lines=blank if docstring else [])
            if at < len(body) and all(line.comment is not None for line in body[at].leading_lines):
                body[at] = body[at].with_changes(leading_lines=[*blank, *body[at].leading_lines])
            return updated.with_changes(
                body=updated.body.with_changes(body=[*body[:at], placed, *body[at:]])
            )

        self.replace(
            node,
            insert,
            'the request model rejects unknown keys: model_config = ConfigDict(extra="forbid")',
            needs=alias.needs,
        )

    def _convert(
        self,
        line: cst.CSTNode,
        config: cst.ClassDef,
        forbid: tuple[str, cst.BaseExpression] | None,
    ) -> None:
        """A v1 ``class Config`` -> ``model_config = ConfigDict(...)``, keys renamed."""
        alias = self.file.imports.name_alias(config, "pydantic", "ConfigDict")
        if alias is None:
            self.report(config, "`ConfigDict` means something else here: convert it by hand")
            return
        arguments: list[cst.Arg] = []
        drops: list[cst.CSTNode] = []
        assert isinstance(config.body, cst.IndentedBlock)
        for statement in config.body.body:
            if not isinstance(statement, cst.SimpleStatementLine):
                continue
            for small in statement.body:
                if not isinstance(small, cst.Assign):
                    continue  # a docstring
                target = small.targets[0].target
                assert isinstance(target, cst.Name)
                value = small.value
                text = cst.Module([]).code_for_node(value)
                if (found := _EXTRA_ENUM.match(text)) is not None:
                    drops.extend(names_in(value))
                    value = cst.SimpleString(f'"{found.group(1)}"')
                arguments.append(keyword(RENAMED.get(target.value, target.value), value))
        if forbid is not None:
            arguments.append(keyword(*forbid))
        new = _config_line(alias.name, arguments).with_changes(leading_lines=config.leading_lines)
        self.replace(
            config,
            lambda updated: new,
            "Pydantic 2 names: the v1 `class Config` becomes `model_config = ConfigDict(...)`"
            + (', with extra="forbid"' if forbid is not None else ""),
            needs=alias.needs,
            drops=[] if self._split else drops,
        )


def _config_line(config_dict: str, arguments: list[cst.Arg]) -> cst.SimpleStatementLine:
    """``model_config = ConfigDict(...)``, one argument a line when it is long."""
    code = cst.Module([]).code_for_node
    texts = [code(arg.with_changes(comma=cst.MaybeSentinel.DEFAULT)) for arg in arguments]
    line = f"model_config = {config_dict}({', '.join(texts)})"
    if len(line) > LINE_LENGTH - 4:  # inside a class body
        inner = "".join(f"    {text},\n" for text in texts)
        line = f"model_config = {config_dict}(\n{inner})"
    statement = cst.parse_statement(line + "\n")
    assert isinstance(statement, cst.SimpleStatementLine)
    return statement


def _model_config(small: cst.CSTNode) -> cst.BaseExpression | None:
    """The value of ``model_config = ...`` (or ``model_config: ConfigDict = ...``)."""
    if (
        isinstance(small, cst.Assign)
        and len(small.targets) == 1
        and isinstance(small.targets[0].target, cst.Name)
        and small.targets[0].target.value == "model_config"
    ):
        return small.value
    if (
        isinstance(small, cst.AnnAssign)
        and isinstance(small.target, cst.Name)
        and small.target.value == "model_config"
    ):
        return small.value
    return None


def _appended_element(
    elements: list[cst.BaseDictElement], new: cst.DictElement
) -> list[cst.BaseDictElement]:
    if not elements:
        return [new]
    last = elements[-1]
    if isinstance(last.comma, cst.Comma):  # one element a line: the new one follows suit
        return [*elements, new.with_changes(comma=last.comma)]
    comma = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
    return [*elements[:-1], last.with_changes(comma=comma), new]


def _has_docstring(body: cst.IndentedBlock) -> bool:
    first = body.body[0] if body.body else None
    return (
        isinstance(first, cst.SimpleStatementLine)
        and isinstance(first.body[0], cst.Expr)
        and isinstance(first.body[0].value, cst.SimpleString | cst.ConcatenatedString)
    )


def _json_type(name: str) -> str:
    return {"int": "integer", "str": "string", "bool": "boolean", "float": "number"}[name]
