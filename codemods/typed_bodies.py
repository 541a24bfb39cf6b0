"""VF302: a route handler's ``dict`` body -> a model of the keys the handler reads."""

from __future__ import annotations

import keyword as python_keywords
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import libcst as cst
from vibefix.codemods.strict_models import StrictModels

from vibefix.boundary.facts import MAPPINGS, STRICT_TYPES, BoundaryCodemod, ParameterFact
from vibefix.boundary.modeledit import names_in
from vibefix.boundary.plan import BoundaryPlan
from vibefix.codemod import PlanContext, PlanPart
from vibefix.results import Safety

COLUMN_TYPES = {
    **dict.fromkeys(("Integer", "BigInteger", "SmallInteger", "INTEGER", "BIGINT"), "int"),
    **dict.fromkeys(("Float", "Numeric", "REAL", "DECIMAL", "Double"), "float"),
    **dict.fromkeys(("String", "Text", "Unicode", "UnicodeText", "VARCHAR", "CHAR"), "str"),
    **dict.fromkeys(("Boolean", "BOOLEAN"), "bool"),
}
"""The JSON type of a value copied into a column of these types."""
LITERAL_TYPES: dict[type[cst.CSTNode], str] = {
    cst.Integer: "int",
    cst.Float: "float",
    cst.SimpleString: "str",
    cst.List: "list",
    cst.Dict: "dict",
}
RESERVED = frozenset(
    {"copy", "dict", "json", "parse_obj", "parse_raw", "parse_file", "from_orm", "construct"}
    | {"schema", "schema_json", "validate", "update_forward_refs", "fields"}
)
"""``BaseModel``'s own attributes, which a field may not shadow (nor ``model_*``)."""


@dataclass(frozen=True)
class BodyField:
    key: str
    types: tuple[str, ...]
    """``("int", "float")`` for a number, ``("str",)``, ``("Any",)``..."""
    nullable: bool
    default: str | None
    """The default's source; None when the key is required."""


@dataclass(frozen=True)
class TypedBody:
    handler: str
    parameter: str
    model: str
    fields: tuple[BodyField, ...]
    module: str = ""
    """The module of the project's schemas, where the model goes; empty: just above the
    handler (the project has none, or it may not change)."""
    request: str = ""
    """For ``data = await request.json()``: the request parameter, which becomes
    ``data: Model`` (the line goes)."""


@dataclass(frozen=True)
class BodiesPlan(PlanPart):
    bodies: Mapping[str, TypedBody] = field(default_factory=dict)
    """By handler."""
    notes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Findings, by handler."""
    touched: frozenset[Path] = frozenset()
    schemas: Path | None = None
    """The file of the project's schemas (a module called ``schemas``)."""
    modern: bool = True
    """The project's Python spells unions ``X | None`` (3.10+); else ``Optional[X]``."""


def body_fields(
    parameter: ParameterFact, column_types: Mapping[str, str]
) -> tuple[list[BodyField], list[str], str]:
    """The fields of a model for a ``dict`` body, from the keys the handler reads and
    how; findings (keys whose type is unknown); and why no model can say it (a default
    computed at run time, two defaults for one key), else ``""``. A key the handler
    demands (``if not p.get("k"): raise``) or uses unchecked (``p["k"] * 2``) is
    required, as VF300 would make it."""
    how: dict[str, set[str]] = {}
    defaults: dict[str, set[str]] = {}
    for key, way, default in parameter.keys:
        how.setdefault(key, set()).add(way)
        if way == "get":
            defaults.setdefault(key, set()).add(default)
    fields: list[BodyField] = []
    notes: list[str] = []
    for key in sorted(how):
        given = defaults.get(key, set())
        if len(given) > 1:
            # ``p.get("k")`` here and ``p.get("k", 0)`` there: one field cannot be both.
            return [], [], f"its key `{key}` is read with two defaults"
        value = next(iter(given), "") or None
        if value is not None and _literal_types(value) is None:
            return [], [], f"the default of `{key}` (`{value}`) is computed at run time"
        types = (_literal_types(value) if value is not None else None) or (
            (column_types[key],) if key in column_types else None
        )
        needed = key in parameter.demanded or key in parameter.dereferenced
        if how[key] == {"item"} or (needed and value is None):
            value = None  # ``p["k"]`` alone: a request without it was a KeyError
        elif value is None:
            value = "None"
        if types is None:
            notes.append(f"the body's `{key}` is typed `Any`: nothing in the handler says its type")
            types = ("Any",)
        nullable = value == "None" and types != ("Any",)
        fields.append(BodyField(key, types, nullable, value))
    return fields, notes, ""


def _literal_types(source: str) -> tuple[str, ...] | None:
    """The types a literal default says (``0``: an int or a float, as JSON does not
    tell them apart); ``("Any",)`` for None; None when it is no literal."""
    try:
        node = cst.parse_expression(source)
    except cst.ParserSyntaxError:
        return None
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
        node = node.expression
    if isinstance(node, cst.Name):
        return {"True": ("bool",), "False": ("bool",), "None": ("Any",)}.get(node.value)
    if isinstance(node, cst.Integer | cst.Float):
        return ("int", "float")
    if isinstance(node, cst.List | cst.Dict) and not _has_names(node):
        return (LITERAL_TYPES[type(node)],)
    if isinstance(node, cst.SimpleString | cst.ConcatenatedString):
        return ("str",)
    return None


def _has_names(node: cst.CSTNode) -> bool:
    return bool(names_in(node)) and any(
        n.value not in {"True", "False", "None"} for n in names_in(node)
    )


def _pascal(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_") if part)


def _model_name(handler: str) -> str:
    """``CreateOrderBody`` for ``create_order``; ``Body1H`` for ``_1_h``, whose name in
    Pascal case would start with a digit (no identifier)."""
    pascal = _pascal(handler)
    return f"{pascal}Body" if f"{pascal}Body".isidentifier() else f"Body{pascal}"


class TypedBodies(BoundaryCodemod[BodiesPlan]):
    """Give a route handler that takes a plain `dict` body a model of the keys it reads.

    Why: a body typed `dict` takes any JSON object: FastAPI checks nothing, the OpenAPI
    schema says nothing, and a missing key is a `KeyError` (a 500) or a `None` deep in
    the handler. A model says which keys the endpoint takes, checks them before the
    handler runs, and documents them.

    Example:

        @router.post("/orders")
        async def create_order(payload: dict):
            user_id = payload["user_id"]
            currency = payload.get("currency", "USD")
            if "note" in payload: ...

    becomes

        class CreateOrderBody(BaseModel):
            \"\"\"The body `create_order` takes (written by vibefix from the keys it reads).\"\"\"

            currency: str = "USD"
            note: Any = None
            user_id: Any


        @router.post("/orders")
        async def create_order(payload: CreateOrderBody):
            user_id = payload.user_id
            currency = payload.currency
            if "note" in payload.model_fields_set: ...

    A key read as `payload["k"]` only is required; one read with `.get` (or tested with
    `in`) is optional, with the default `.get` gave. Its type is the default's, or that
    of the column the handler copies it into (`Order(user_id=payload["user_id"])`), else
    `Any`, with a finding: give it its type. The model goes just above the handler.

    Safety: review. A request without a required key gets a 422 instead of a 500; a
    value is converted to the field's type (`"3"` to `3`), where the handler got it as
    sent; printing the body shows the model, not the dict.

    Not rewritten: a body the handler uses in any other way (`payload.items()`,
    `payload[name]`, passing it on, `**payload`): a finding says where; keys that are
    no Python name or shadow `BaseModel`'s attributes; a bare `Any` parameter (FastAPI
    reads it from the query string); a `request: Request` used for more than
    `data = await request.json()` (that one line, alone, becomes the parameter `data`).
    """

    code = "VF302"
    safety = Safety.REVIEW
    # A route that takes a body (``@router.post(``...) and a dict or a JSON read.
    triggers = (
        r"@[\w.]+\.(?:post|put|patch|api_route)\(",
        r"(?:\b[Dd]ict\b|\bMapping\b|\.json\(\))",
    )

    @classmethod
    def plan_part(cls, context: PlanContext) -> BodiesPlan:
        index = context.index
        plan = context.part(BoundaryPlan) or BoundaryPlan()
        # The project's schemas: a module called ``schemas`` (or ``schema``) that holds
        # models, the most of them if several. Another module with models may import the
        # routers (``main.py``): importing from it would be circular.
        counts: dict[Path, int] = {}
        for role in plan.models.values():
            if role.path.stem in {"schemas", "schema"} or role.path.parent.name == "schemas":
                counts[role.path] = counts.get(role.path, 0) + 1
        schemas = min(counts, key=lambda path: (-counts[path], str(path))) if counts else None
        home = next((m.module for m in index.modules if m.path == schemas), "")
        schemas = schemas if home else None
        bodies: dict[str, TypedBody] = {}
        notes: dict[str, tuple[str, ...]] = {}
        touched: set[Path] = set()
        for handler, path in plan.handler_paths.items():
            fact = plan.handlers.get(handler)
            if fact is None:
                continue
            candidates = [p for p in fact.parameters if set(p.types) <= MAPPINGS]
            if fact.json_body is not None:
                candidates.append(fact.json_body)
            for parameter in candidates:
                request = "" if set(parameter.types) <= MAPPINGS else parameter.types[0]
                touched.add(path)
                name = parameter.name
                if parameter.forwarded:
                    continue  # handed on whole: its shape is the receiver's
                if parameter.dynamic:
                    notes[handler] = (
                        f"`{name}` is a plain dict read in ways a model cannot take"
                        f" ({parameter.dynamic}): give it a model by hand",
                    )
                    continue
                bad = [
                    key
                    for key, _, _ in parameter.keys
                    if not key.isidentifier()
                    or python_keywords.iskeyword(key)
                    or key in RESERVED
                    or key.startswith(("model_", "_"))
                ]
                if bad or not parameter.keys:
                    why = (
                        f"its key `{bad[0]}` cannot be a field's name"
                        if bad
                        else "the handler reads no key of it"
                    )
                    notes[handler] = (f"`{name}` is a plain dict, but {why}",)
                    continue
                columns: dict[str, str] = {}
                for cls_name, column, key in parameter.copies:
                    orm = plan.orm.get(index.resolve(cls_name))
                    found = (
                        next((c for c in orm.columns if c.name == column), None) if orm else None
                    )
                    if found is not None and found.type in COLUMN_TYPES:
                        columns.setdefault(key, COLUMN_TYPES[found.type])
                fields, found_notes, problem = body_fields(parameter, columns)
                if parameter.has_default:
                    problem = "it has a default, so a request may have no body at all"
                if problem:
                    notes[handler] = (f"`{name}` is a plain dict, but {problem}",)
                    continue
                model = _model_name(handler.rpartition(".")[2])
                if {
                    f"{handler.rpartition('.')[0]}.{model}",
                    f"{home}.{model}",
                } & index.bases.keys():
                    notes[handler] = (f"`{name}` is a plain dict, but `{model}` exists already",)
                    continue
                # In the schemas' own module, above the handler: its annotation is read
                # when the ``def`` runs.
                here = "" if path == schemas else home
                bodies[handler] = TypedBody(handler, name, model, tuple(fields), here, request)
                if found_notes:
                    notes[handler] = tuple(found_notes)
        # Two handlers called alike in two modules: each model beside its handler.
        names = [body.model for body in bodies.values() if body.module]
        bodies = {
            handler: replace(body, module="") if names.count(body.model) > 1 else body
            for handler, body in bodies.items()
        }
        placed = any(body.module for body in bodies.values())
        if placed and schemas is not None:
            touched.add(schemas)
        modern = context.declarations.target >= (3, 10)
        return BodiesPlan(
            bodies,
            notes,
            frozenset(touched),
            schemas if placed else None,
            modern,
        )

    @classmethod
    def settle(cls, part: BodiesPlan | None, context: PlanContext) -> BodiesPlan | None:
        """The models go just above their handlers when the schemas' file may not change."""
        if part is None or part.schemas is None or context.writable(part.schemas):
            return part
        return replace(
            part,
            bodies={h: replace(b, module="") for h, b in part.bodies.items()},
            touched=part.touched - {part.schemas},
            schemas=None,
        )

    def visit_Module(self, node: cst.Module) -> None:
        self._plan = self.part or BodiesPlan()
        self._depth = 0
        if self._plan.schemas is not None and self.file.path == self._plan.schemas:
            placed = [b for b in self._plan.bodies.values() if b.module == self.file.module_name]
            if placed:
                self._place(node, placed)

    def _place(self, node: cst.Module, bodies: list[TypedBody]) -> None:
        """The models of ``bodies``, at the end of the schemas' module."""
        made = [self._model(node, body) for body in sorted(bodies, key=lambda b: b.model)]
        if any(model is None for model in made):
            self.report(
                node,
                f"`BaseModel` or `Any` means something else here: {self.code}'s models"
                " go beside their handlers",
            )
            return
        classes: list[cst.BaseStatement] = []
        needs: list[str] = []
        for item in made:
            assert item is not None
            classes.append(item[0])
            needs.extend(item[1])
        blank = cst.EmptyLine(indent=False)

        def append(updated: cst.Module) -> cst.Module:
            spaced = [c.with_changes(leading_lines=[blank, blank]) for c in classes]
            return updated.with_changes(body=[*updated.body, *spaced])

        self.replace(
            node,
            append,
            "the models of the plain dict bodies the handlers read: "
            + ", ".join(f"`{b.model}`" for b in bodies),
            needs=tuple(dict.fromkeys(needs)),
        )

    def _model(
        self, at: cst.CSTNode, body: TypedBody
    ) -> tuple[cst.BaseStatement, tuple[str, ...]] | None:
        """The class statement of ``body``'s model, and the imports it needs at ``at``."""
        imports = self.file.imports
        needs: list[str] = []

        def named(module: str, name: str) -> str | None:
            alias = imports.name_alias(at, module, name)
            if alias is None:
                return None
            needs.extend(alias.needs)
            return alias.name

        base = named("pydantic", "BaseModel")
        if base is None:
            return None
        handler = body.handler.rpartition(".")[2]
        lines = [
            f"class {body.model}({base}):",
            f'    """The body `{handler}` takes (written by vibefix from the keys it reads)."""',
            "",
        ]
        # With VF301 in the run, the model is written as VF301 would leave it: a second
        # run must change nothing.
        strict = StrictModels.code in self.plan.applied
        if strict:
            config = named("pydantic", "ConfigDict")
            if config is None:
                return None
            lines[-1:] = ["", f'    model_config = {config}(extra="forbid")', ""]
        for item in body.fields:
            kind = self._type_text(item, strict, named)
            if kind is None:
                return None
            lines.append(f"    {item.key}: {kind}" + (f" = {item.default}" if item.default else ""))
        return cst.parse_statement("\n".join(lines) + "\n"), tuple(dict.fromkeys(needs))

    def _type_text(
        self, item: BodyField, strict: bool, named: Callable[[str, str], str | None]
    ) -> str | None:
        """``int | float | None``, or ``Optional[Union[int, float]]`` before 3.10; strict
        types for a single JSON type when VF301 runs."""
        parts: list[str] = []
        for kind in item.types:
            if kind == "Any":
                spelled = named("typing", "Any")
            elif strict and len(item.types) == 1 and f"builtins.{kind}" in STRICT_TYPES:
                spelled = named("pydantic", STRICT_TYPES[f"builtins.{kind}"])
            else:
                spelled = kind
            if spelled is None:
                return None
            parts.append(spelled)
        if self._plan.modern:
            return " | ".join([*parts, *(["None"] if item.nullable else [])])
        text = parts[0]
        if len(parts) > 1:
            union = named("typing", "Union")
            if union is None:
                return None
            text = f"{union}[{', '.join(parts)}]"
        if item.nullable:
            optional = named("typing", "Optional")
            if optional is None:
                return None
            text = f"{optional}[{text}]"
        return text

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._depth += 1
        if self._depth != 1:
            return
        qualname = f"{self.file.module_name}.{node.name.value}"
        for note in self._plan.notes.get(qualname, ()):
            self.report(node, note)
        body = self._plan.bodies.get(qualname)
        if body is not None:
            self._type(node, body)

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self._depth -= 1

    def _type(self, node: cst.FunctionDef, body: TypedBody) -> None:
        wanted = body.request or body.parameter
        parameter = next(
            (
                p
                for p in (*node.params.params, *node.params.kwonly_params)
                if p.name.value == wanted
            ),
            None,
        )
        if parameter is None or parameter.annotation is None:
            return
        name = body.model
        annotation_needs: tuple[str, ...] = ()
        kept_names: set[str] = set()  # what a model written here uses stays imported
        if body.module:
            alias = self.file.imports.name_alias(node, body.module, name)
            if alias is None:
                self.report(node, f"`{name}` means something else here: use it by hand")
                return
            annotation_needs = alias.needs
        else:
            made = self._model(node, body)
            if made is None:
                self.report(
                    node,
                    f"`{body.parameter}` is a plain dict, but `BaseModel` or `Any` means"
                    " something else here: give it a model by hand",
                )
                return
            model, needs = made
            kept_names = {name.value for name in names_in(model)}

            def insert(updated: cst.FunctionDef) -> Any:
                blank = cst.EmptyLine(indent=False)
                return cst.FlattenSentinel(
                    [
                        model.with_changes(leading_lines=updated.leading_lines),
                        updated.with_changes(leading_lines=[blank, blank]),
                    ]
                )

            self.replace(
                node,
                insert,
                f"`{body.parameter}` is a plain dict: `{name}` says which keys"
                f" `{node.name.value}` takes ({', '.join(f.key for f in body.fields)})",
                needs=needs,
            )
        if body.request:
            self._from_request(node, parameter, body, annotation_needs)
            node.body.visit(_Accesses(self, body.parameter))
            return
        self.replace(
            parameter.annotation.annotation,
            lambda updated: cst.Name(name),
            f"`{body.parameter}` takes a `{name}`"
            + (f" (from `{body.module}`)" if body.module else ""),
            needs=annotation_needs,
            drops=[  # ``Dict``, ``Any``
                n for n in names_in(parameter.annotation.annotation) if n.value not in kept_names
            ],
        )
        node.body.visit(_Accesses(self, body.parameter))

    def _from_request(
        self, node: cst.FunctionDef, parameter: cst.Param, body: TypedBody, needs: tuple[str, ...]
    ) -> None:
        """``request: Request`` -> ``data: Model``; ``data = await request.json()`` goes."""
        assert parameter.annotation is not None
        local, model = body.parameter, body.model
        self.replace(
            parameter,
            lambda updated: updated.with_changes(
                name=cst.Name(local),
                annotation=updated.annotation.with_changes(annotation=cst.Name(model)),
            ),
            f"the handler reads the body as `{model}` instead of `await {body.request}.json()`",
            needs=needs,
            drops=names_in(parameter.annotation),
        )
        assert isinstance(node.body, cst.IndentedBlock)
        lines: list[Any] = list(node.body.body)
        for at, line in enumerate(lines):
            small = line.body[0] if isinstance(line, cst.SimpleStatementLine) else None
            if (
                isinstance(small, cst.Assign)
                and isinstance(small.value, cst.Await)
                and isinstance(small.targets[0].target, cst.Name)
                and small.targets[0].target.value == local
            ):
                kept = [e for e in line.leading_lines if e.comment is not None]
                trailing = line.trailing_whitespace.comment
                if trailing is not None:  # ``data = await request.json()  # note``
                    kept.append(cst.EmptyLine(comment=trailing))
                if kept and at + 1 < len(lines):
                    following = lines[at + 1]
                    self.replace(
                        following,
                        _with_comments(kept),
                        "the comment above the line that read the body stays",
                    )
                self.replace(
                    line,
                    lambda updated: cst.RemovalSentinel.REMOVE,
                    f"FastAPI reads and checks the body: `{local}` is a parameter",
                )
                return


def _with_comments(comments: list[cst.EmptyLine]) -> Any:
    return lambda updated: updated.with_changes(leading_lines=[*comments, *updated.leading_lines])


class _Accesses(cst.CSTVisitor):
    """``p["k"]`` and ``p.get("k", ...)`` -> ``p.k``; ``"k" in p`` ->
    ``"k" in p.model_fields_set``."""

    def __init__(self, codemod: TypedBodies, name: str) -> None:
        super().__init__()
        self.codemod = codemod
        self.name = name

    def visit_Subscript(self, node: cst.Subscript) -> None:
        self._attribute(node, node.value, node.slice[0].slice if node.slice else None)

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value == "get" and node.args:
            self._attribute(node, func.value, cst.Index(node.args[0].value))

    def visit_ComparisonTarget(self, node: cst.ComparisonTarget) -> None:
        if (
            isinstance(node.operator, cst.In | cst.NotIn)
            and isinstance(node.comparator, cst.Name)
            and node.comparator.value == self.name
        ):
            self.codemod.replace(
                node.comparator,
                lambda updated: cst.Attribute(updated, cst.Name("model_fields_set")),
                "a key sent is a field set",
            )

    def _attribute(self, node: cst.BaseExpression, value: cst.BaseExpression, index: Any) -> None:
        if not (isinstance(value, cst.Name) and value.value == self.name):
            return
        key = index.value if isinstance(index, cst.Index) else None
        if not (isinstance(key, cst.SimpleString) and isinstance(key.evaluated_value, str)):
            return
        attribute = key.evaluated_value
        self.codemod.replace(
            node,
            lambda updated: cst.Attribute(
                cst.Name(self.name), cst.Name(attribute), lpar=updated.lpar, rpar=updated.rpar
            ),
            f"`{attribute}` is a field of the body",
        )
