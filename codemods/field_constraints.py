"""VF304: constraints of the ORM columns a request model mirrors -> its fields' own."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import libcst as cst

from vibefix.boundary import facts as boundary
from vibefix.boundary.facts import BoundaryCodemod
from vibefix.boundary.modeledit import core_name, fields_of, typing_names
from vibefix.boundary.plan import BoundaryPlan, is_split
from vibefix.boundary.roles import ModelRole
from vibefix.codemod import PlanContext, PlanPart
from vibefix.cst.arguments import appended, keyword
from vibefix.cst.names import imported_as
from vibefix.known.packaging import Declarations
from vibefix.results import Safety

STRINGS = frozenset({"builtins.str", "pydantic.StrictStr", "pydantic.types.StrictStr"})
NUMBERS = frozenset(
    {"builtins.int", "builtins.float", "decimal.Decimal"}
    | {"pydantic.StrictInt", "pydantic.StrictFloat", "pydantic.types.StrictInt"}
    | {"pydantic.types.StrictFloat"}
)
"""Also VF301's spellings: a second run reads the model as the first left it."""
_NUMBER = r"(-?\d+(?:\.\d+)?)"
_OPERATORS = {">": "gt", ">=": "ge", "<": "lt", "<=": "le"}
_FLIPPED = {">": "<", ">=": "<=", "<": ">", "<=": ">="}
_COMPARISON = re.compile(rf'^"?(\w+)"?\s*(>=|<=|>|<)\s*{_NUMBER}$')
_REVERSED = re.compile(rf'^{_NUMBER}\s*(>=|<=|>|<)\s*"?(\w+)"?$')
_BETWEEN = re.compile(rf'^"?(\w+)"?\s+BETWEEN\s+{_NUMBER}\s+AND\s+{_NUMBER}$', re.I)
EMAIL_DEPENDENCY = re.compile(rb"email[-_]validator|pydantic\s*\[[^\]]*\bemail\b", re.I)


def bounds(sql: str) -> list[tuple[str, str, str]] | None:
    """``(column, keyword, number)`` for each bound a check's SQL states: ``price > 0``,
    ``0 <= qty``, ``qty BETWEEN 1 AND 100``, joined by ``AND``; None when it says more."""
    text = " ".join(sql.split())
    found = _BETWEEN.match(text)
    if found:
        return [(found.group(1), "ge", found.group(2)), (found.group(1), "le", found.group(3))]
    result: list[tuple[str, str, str]] = []
    for part in re.split(r"\s+AND\s+", text, flags=re.I):
        part = part.strip().strip("()")
        if (match := _COMPARISON.match(part)) is not None:
            result.append((match.group(1), _OPERATORS[match.group(2)], match.group(3)))
        elif (match := _REVERSED.match(part)) is not None:
            operator = _FLIPPED[match.group(2)]
            result.append((match.group(3), _OPERATORS[operator], match.group(1)))
        else:
            return None
    return result


def declares_email_validator(declarations: Declarations, folder: Path) -> bool:
    """Whether the project ``folder`` belongs to (the nearest folder up with a dependency
    file) depends on email-validator, directly or as ``pydantic[email]``."""
    return declarations.declares(folder, EMAIL_DEPENDENCY)


@dataclass(frozen=True)
class Constraints:
    keywords: tuple[tuple[str, str], ...] = ()
    """``Field(...)`` keywords to add, with the source of their values."""
    email: bool = False
    """Its type becomes ``EmailStr``."""
    why: str = ""


@dataclass(frozen=True)
class ConstraintPlan(PlanPart):
    fields: Mapping[str, Mapping[str, Constraints]] = field(default_factory=dict)
    """For each model, what each of its fields gets."""
    split_only: frozenset[str] = frozenset()
    """The models constrained only if VF303 splits them (they are responses too)."""
    notes: Mapping[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    """For each model, findings: ``(field, message)``."""
    touched: frozenset[Path] = frozenset()

    @property
    def emails(self) -> frozenset[tuple[str, str]]:
        """``(model, field)`` of the fields that become ``EmailStr`` (VF301 leaves their
        type to VF304)."""
        return frozenset(
            (model, name)
            for model, fields in self.fields.items()
            for name, wanted in fields.items()
            if wanted.email
        )


def decide(
    role: ModelRole, checks: Mapping[str, tuple[str, ...]], email_ok: bool
) -> tuple[dict[str, Constraints], list[tuple[str, str]]]:
    """What ``role``'s fields get from the columns they mirror (``checks``: the table's
    check constraints by column), and findings."""
    result: dict[str, Constraints] = {}
    notes: list[tuple[str, str]] = []
    table = role.orm.rpartition(".")[2]
    for fact in role.fact.fields:
        column = role.columns.get(fact.name)
        if column is None:
            if fact.name in {"email", "email_address"} and fact.inner in STRINGS:
                result[fact.name] = _email(fact.name, email_ok, notes, "its name")
            continue
        where = f"`{table}.{column.name}`"
        keywords: list[tuple[str, str]] = []
        reasons: list[str] = []
        if fact.inner in STRINGS:
            if column.length is not None and "max_length" not in fact.keywords:
                keywords.append(("max_length", str(column.length)))
                reasons.append(f"{where} is {column.type}({column.length})")
            use = role.uses.get(fact.name)
            if (
                not column.nullable
                and use is not None
                and use.emptiness
                and "min_length" not in fact.keywords
            ):
                keywords.append(("min_length", "1"))
                reasons.append(f"`{use.emptiness[0].rpartition('.')[2]}` refuses it empty")
        if fact.inner in NUMBERS:
            for sql in checks.get(column.name, ()):
                found = bounds(sql)
                if found is None:
                    notes.append(
                        (
                            fact.name,
                            f"the check `{sql}` on {where} is not one vibefix can read:"
                            " give the field `ge`/`le` by hand",
                        )
                    )
                    continue
                mine = [(key, number) for col, key, number in found if col == column.name]
                if not mine:
                    continue  # a table's check about other columns
                for key, number in mine:
                    stated = dict(keywords)
                    if key in fact.keywords or stated.get(key) == number:
                        continue
                    if key in stated:  # two checks give two bounds: which one holds?
                        notes.append(
                            (
                                fact.name,
                                f"{where} has two `{key}` bounds: give the field its own by hand",
                            )
                        )
                        keywords = [(k, v) for k, v in keywords if k != key]
                        continue
                    keywords.append((key, number))
                reasons.append(f"{where} is checked `{sql}`")
        email = False
        if fact.name in {"email", "email_address"} and fact.inner in STRINGS:
            email = _email(fact.name, email_ok, notes, f"it mirrors {where}").email
        if keywords or email:
            result[fact.name] = Constraints(
                tuple(keywords), email, "; ".join(reasons) or f"it mirrors {where}"
            )
    return {name: c for name, c in result.items() if c.keywords or c.email}, notes


def _email(name: str, ok: bool, notes: list[tuple[str, str]], why: str) -> Constraints:
    if ok:
        return Constraints(email=True, why=f"{why} says it holds an email address")
    notes.append(
        (
            name,
            f"`{name}` holds an email address: `EmailStr` would check it, but it needs the"
            " `email-validator` package (`pydantic[email]`), which the project does not"
            f" declare; add it, and {FieldConstraints.code} makes the field `EmailStr`",
        )
    )
    return Constraints()


class FieldConstraints(BoundaryCodemod[ConstraintPlan]):
    """Give a request model's fields the constraints of the ORM columns they mirror.

    Why: the database knows that `name` holds at most 100 characters, that `price` is
    positive and that `email` is an address; the AI-written model that feeds it knows
    none of it. A body that breaks a rule gets past validation and fails at the
    database (a 500, PostgreSQL's `value too long`), or is stored as it is (SQLite
    checks no length). With the constraint on the field, FastAPI answers a 422 that says
    which rule, before the handler runs.

    Example: with `name = Column(String(100), nullable=False)`,
    `price = Column(Numeric(10, 2), CheckConstraint("price > 0"))` and a handler that
    answers `if not product.name: raise HTTPException(400, ...)`,

        class ProductCreate(BaseModel):
            name: str
            price: float

    becomes

        class ProductCreate(BaseModel):
            name: str = Field(max_length=100, min_length=1)
            price: float = Field(gt=0)

    `String(n)` gives `max_length=n`; a NOT NULL string that a handler refuses empty
    (`if not body.name`) gives `min_length=1`; a check constraint stating bounds
    (`price > 0`, `0 <= qty`, `qty BETWEEN 1 AND 100`, joined by `AND`) gives
    `gt`/`ge`/`lt`/`le` on numeric fields; a field called `email` (or mirroring one)
    becomes `EmailStr` when the project declares `email-validator` or
    `pydantic[email]` (without it, `EmailStr` fails at import: a finding says to add it).

    Safety: review. Requests that the database would have refused, or stored wrongly,
    get a 422.

    Not rewritten: models no handler takes as a body, responses (unless VF303 splits
    them: then their request half), constraints the field states already, a length on a
    field that is not a `str`, check constraints that say more than bounds (a finding),
    and `Annotated` or string annotations.
    """

    code = "VF304"
    safety = Safety.REVIEW
    triggers = (f"{boundary.TRIGGER}|{boundary.OPTIONAL_FIELD}",)

    @classmethod
    def plan_part(cls, context: PlanContext) -> ConstraintPlan:
        plan = context.part(BoundaryPlan) or BoundaryPlan()
        if plan.pydantic_v1:
            return ConstraintPlan()  # VF301 says why
        fields: dict[str, Mapping[str, Constraints]] = {}
        notes: dict[str, tuple[tuple[str, str], ...]] = {}
        split_only: set[str] = set()
        for qualname, role in plan.models.items():
            if not role.bodies:
                continue
            if role.answered:
                if qualname not in plan.splits:
                    continue
                split_only.add(qualname)
            checks: dict[str, list[str]] = {}
            orm = plan.orm.get(role.orm)
            if orm is not None:
                for column in orm.columns:
                    checks.setdefault(column.name, []).extend(column.checks)
                for sql in orm.checks:
                    for name in {b[0] for b in bounds(sql) or []} or {""}:
                        checks.setdefault(name, []).append(sql)
            decided, found = decide(
                role,
                {name: tuple(sqls) for name, sqls in checks.items()},
                declares_email_validator(context.declarations, role.path.parent),
            )
            if qualname in plan.splits:
                kept = plan.splits[qualname].create_fields
                decided = {k: v for k, v in decided.items() if k in kept}
                found = [(k, v) for k, v in found if k in kept]
            if decided:
                fields[qualname] = decided
            if found:
                notes[qualname] = tuple(found)
        touched = frozenset(plan.models[name].path for name in [*fields, *notes])
        return ConstraintPlan(fields, frozenset(split_only), notes, touched)

    def visit_Module(self, node: cst.Module) -> None:
        self._plan = self.part or ConstraintPlan()

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        qualname = f"{self.file.module_name}.{node.name.value}"
        if qualname in self._plan.split_only and not is_split(self.plan, qualname):
            return False
        fields = self._plan.fields.get(qualname, {})
        notes = dict(self._plan.notes.get(qualname, ()))
        if not (fields or notes) or not isinstance(node.body, cst.IndentedBlock):
            return False
        for statement, name in fields_of(node):
            if name in notes:
                self.report(statement, notes[name])
            if name in fields:
                self._constrain(statement, name, fields[name])
        return False

    def _constrain(self, statement: cst.AnnAssign, name: str, wanted: Constraints) -> None:
        if wanted.email:
            core = core_name(statement.annotation.annotation, typing_names(self))
            alias = self.file.imports.name_alias(statement, "pydantic", "EmailStr")
            if core is not None and alias is not None:
                self.replace(
                    core,
                    _name_to(alias.name),
                    f"`{name}` is an email address ({wanted.why}): `EmailStr` checks it",
                    needs=alias.needs,
                )
        if not wanted.keywords:
            return
        field_alias = self.file.imports.name_alias(statement, "pydantic", "Field")
        if field_alias is None:
            self.report(statement, "`Field` means something else here: add the constraints by hand")
            return
        value = statement.value
        is_field = isinstance(value, cst.Call) and imported_as(self, value.func, "pydantic.Field")
        new = [keyword(key, cst.parse_expression(text)) for key, text in wanted.keywords]
        spelled = field_alias.name

        def change(updated: cst.AnnAssign) -> cst.AnnAssign:
            # VF300 may have taken the default away since (``Field(None, ...)`` -> none).
            current = updated.value
            if is_field and isinstance(current, cst.Call):
                call = current.with_changes(
                    args=appended(current.args, new, current.whitespace_before_args)
                )
            else:
                args = [keyword("default", current), *new] if current is not None else new
                call = cst.Call(cst.Name(spelled), appended([], args, cst.SimpleWhitespace("")))
            equal = updated.equal
            if not isinstance(equal, cst.AssignEqual):
                space = cst.SimpleWhitespace(" ")
                equal = cst.AssignEqual(whitespace_before=space, whitespace_after=space)
            return updated.with_changes(value=call, equal=equal)

        stated = ", ".join(f"{key}={text}" for key, text in wanted.keywords)
        self.replace(
            statement,
            change,
            f"`{name}` takes what the database takes: {stated} ({wanted.why})",
            needs=field_alias.needs,
        )


def _name_to(new: str) -> Any:
    return lambda updated: updated.with_changes(value=new)
