"""Facts about the API boundary: Pydantic models, ORM columns, and how handlers use them.

VF300-VF304 share these facts. Per file the collector records the classes that may be
Pydantic models (their fields and configuration), the ORM classes and their columns, and
the route handlers: which parameters they take (a body when its type is a model), what
they answer (``response_model``, the return annotation), which fields of a body they read
and how (dereferenced, checked for None, copied into an ORM class's keyword). Whether a
class *is* a Pydantic model, and which handlers are routes, the plan decides once the
whole project is indexed (``vibefix.boundary.roles``): a base model may live in another
module, and ``BaseModel`` may be some other library's class of that name.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

import libcst as cst
from libcst.metadata import QualifiedNameProvider

from vibefix.codemod import Codemod, Collector, FileContext, PartT
from vibefix.known.fastapi import ROUTE_METHODS

TRIGGER = r"\bBaseModel\b"
"""A file that may define a Pydantic model: what VF300-VF304 concern."""
OPTIONAL_FIELD = (
    r"(?m:^[ \t]+\w+[ \t]*:[^\n=]*(?:\bOptional\[|\|[ \t]*None\b)[^\n=]*"
    r"=[ \t]*(?:None[ \t]*(?:#[^\n]*)?$|Field\([ \t]*None\b))"
)
"""A class field ``x: Optional[X] = None`` (not a parameter: its line ends with no
comma): a model deriving from the project's own base model names no library."""
ROUTE = rf"@[ \t]*[\w.]+\.(?:{'|'.join(sorted(ROUTE_METHODS))})[ \t]*\("
"""A route handler's decorator (``@router.post(``): where the boundary's analysis starts
(``Codemod.seeds``). The models a handler takes or answers with, their bases and the ORM
classes they mirror are found from there by the plan (``wanted_modules``,
``wanted_names``): starting from every file that says ``BaseModel`` would have every
model of a library parsed."""
_ANNOTATION_TEXT = re.compile(r"^[\w.]+(?:\[[\w.,\[\] |]*\])?$")
"""A string that may be an annotation: ``"User"``, ``"List[schemas.User]"``."""
FIELD_FUNCTIONS = frozenset({"pydantic.Field", "pydantic.fields.Field"})
OPTIONAL = frozenset({"typing.Optional", "typing_extensions.Optional"})
UNION = frozenset({"typing.Union", "typing_extensions.Union"})
ANNOTATED = frozenset({"typing.Annotated", "typing_extensions.Annotated"})
MAPPINGS = frozenset({"builtins.dict", "typing.Dict", "typing.Mapping", "typing.MutableMapping"})
"""A body annotated with one of these is a plain JSON object (VF302)."""
SEQUENCES = frozenset({"typing.List", "typing.Sequence", "builtins.list", "typing.Iterable"})
COLUMNS = frozenset(
    {"sqlalchemy.Column", "sqlalchemy.schema.Column", "sqlalchemy.sql.schema.Column"}
    | {"sqlalchemy.orm.mapped_column", "sqlmodel.Field"}
)
CHECKS = frozenset({"sqlalchemy.CheckConstraint", "sqlalchemy.schema.CheckConstraint"})
STRING_TYPES = frozenset(
    {"String", "Unicode", "Text", "UnicodeText", "VARCHAR", "NVARCHAR", "CHAR", "NCHAR"}
)
"""Column types whose first argument is a length (``Numeric(10, 2)``'s is a precision)."""
STRICT_TYPES = {
    "builtins.int": "StrictInt",
    "builtins.str": "StrictStr",
    "builtins.bool": "StrictBool",
    "builtins.float": "StrictFloat",
}
"""The types JSON itself has, and Pydantic's strict spelling of each. Not date, UUID,
Enum or Decimal: JSON sends those as strings, which strict mode rejects under FastAPI."""
REQUESTS = frozenset({"fastapi.Request", "fastapi.requests.Request", "starlette.requests.Request"})
NOT_BODY = frozenset({"Depends", "Security", "Query", "Path", "Header", "Cookie", "Form", "File"})
"""FastAPI's parameter functions that fill a parameter from elsewhere than a JSON body."""
DATA_CONSTRUCTORS = frozenset({"model_validate", "parse_obj", "model_validate_json", "parse_raw"})
"""A model's class methods that build it from outside data (a dict, a JSON text)."""


@dataclass(frozen=True)
class FieldFact:
    """One annotated field of a class body."""

    name: str
    inner: str
    """The qualified type the annotation holds, None aside (``builtins.str`` for
    ``Optional[str]``); empty when it is anything more (a union, ``Annotated``...)."""
    nullable: bool
    """The annotation admits None."""
    default: str
    """``required`` (no default, ``...``), ``none`` (``= None``, ``Field(None)``),
    ``factory`` or ``value``."""
    keywords: tuple[str, ...] = ()
    """The keywords of its ``Field(...)`` call, if it has one."""


@dataclass(frozen=True)
class ModelFact:
    """A module-level class with annotated fields: a Pydantic model if its bases say so."""

    qualname: str
    fields: tuple[FieldFact, ...]
    config: str = ""
    """How it is configured: ``""`` (not), ``dict``, ``ConfigDict``, ``class`` (v1), or
    ``other`` (anything the codemods cannot read)."""
    config_keys: tuple[tuple[str, str], ...] = ()
    """The configuration's keys and the source of their values."""
    plain: bool = True
    """Its body holds fields, a docstring and its configuration only (no validator, no
    method, no class variable a copy of it would have to carry)."""
    refs: tuple[str, ...] = ()
    """The classes its fields' annotations name (``Line`` in ``lines: List[Line]``)."""


@dataclass(frozen=True)
class ColumnFact:
    name: str
    type: str
    """The column type's class name: ``String``, ``Integer``, ``Numeric``..."""
    length: int | None = None
    nullable: bool = True
    has_default: bool = False
    """``default``, ``server_default`` or a primary key (the database fills it)."""
    checks: tuple[str, ...] = ()
    """The SQL text of its column-level ``CheckConstraint``s."""


@dataclass(frozen=True)
class OrmFact:
    qualname: str
    columns: tuple[ColumnFact, ...]
    checks: tuple[str, ...] = ()
    """The SQL text of its table-level ``CheckConstraint``s (``__table_args__``)."""


@dataclass(frozen=True)
class ParameterFact:
    """A handler's parameter whose annotation names a class (maybe a model)."""

    name: str
    types: tuple[str, ...]
    """What the annotation's class may be (qualified; ``Annotated`` and None stripped)."""
    reads: tuple[str, ...] = ()
    """The attributes the handler reads from it (``user.email``)."""
    dereferenced: tuple[str, ...] = ()
    """Of those, the ones used as a value that cannot be None (``x.f.lower()``,
    ``x.f * 2``, ``len(x.f)``), where the handler never checks them for None."""
    demanded: tuple[str, ...] = ()
    """The ones whose absence the handler answers with an error: ``if not x.f: raise``,
    ``if x.f is None: raise``."""
    emptiness: tuple[str, ...] = ()
    """Of ``demanded``, those checked with ``not x.f`` (an empty string fails too)."""
    partial: bool = False
    """The handler dumps it with ``exclude_unset``/``exclude_none``: a partial update."""
    copies: tuple[tuple[str, str, str], ...] = ()
    """``(class, keyword, field)`` for each ``Cls(keyword=x.field)`` in the handler."""
    escapes: bool = False
    """The handler uses it whole (passes it on, dumps it, returns it): which of its
    fields are needed, its reads alone do not tell."""
    keys: tuple[tuple[str, str, str], ...] = ()
    """For a ``dict`` body, ``(key, how, default)`` for each literal key the handler
    reads: ``item`` (``p["k"]``), ``get`` (``p.get("k", default)``, the default's
    source or ``""``), ``in`` (``"k" in p``)."""
    dynamic: str = ""
    """For a ``dict`` body, the first use that is not one of those (``p.items()``,
    ``p[name]``, ``f(p)``), with its line; empty when there is none."""
    has_default: bool = False
    """The parameter has a default (``payload: dict = {}``): the body is optional."""
    forwarded: bool = False
    """For a ``dict`` body, the handler hands it on whole (``send(event)``,
    ``json=payload``, ``return payload``) and never unpacks it (``Order(**payload)``):
    its shape is another service's."""


@dataclass(frozen=True)
class HandlerFact:
    """A module-level function decorated as a route: ``@router.post("/", ...)``."""

    qualname: str
    line: int
    method: str
    receivers: tuple[str, ...]
    """What the decorator is a method of (``app.routers.users.router``)."""
    responses: tuple[str, ...]
    """The classes its ``response_model`` or return annotation may name, lists unwrapped."""
    parameters: tuple[ParameterFact, ...]
    json_body: ParameterFact | None = None
    """``data = await request.json()`` as its first use of ``request: Request``, and
    ``request`` used for nothing else: how it reads ``data`` (named after it); the
    request parameter's name is in ``types``."""
    outside: tuple[tuple[str, str], ...] = ()
    """``(class, function)`` for each parameter FastAPI fills from elsewhere than the
    JSON body (``Annotated[Filters, Query()]``, ``form: SignupForm = Depends()``): the
    classes its annotation may name, and the function (``Query``, ``Form``...)."""


@dataclass(frozen=True)
class BoundaryFacts:
    """What one file tells about the API boundary."""

    models: tuple[ModelFact, ...] = ()
    orm: tuple[OrmFact, ...] = ()
    handlers: tuple[HandlerFact, ...] = ()
    built_from_data: tuple[str, ...] = ()
    """Classes made from outside data: ``X(**data)``, ``X.model_validate(data)``."""
    named_in_strings: tuple[tuple[str, int], ...] = ()
    """Capitalised names inside the string annotations (``-> "User"``,
    ``List["User"]``), with the first line of each."""
    mentions: tuple[tuple[str, int], ...] = ()
    """Capitalised names used anywhere else than in an import, a class statement's name
    or a route handler's parameter and response types, with the first line of each:
    what would break if the class of that name were split in two."""


class BoundaryCollector(Collector[BoundaryFacts]):
    """The boundary facts of one file, shared by VF300-VF304."""

    def facts(self) -> BoundaryFacts | None:
        facts = BoundaryFacts(
            tuple(self.models),
            tuple(self.orm),
            tuple(self.handlers),
            tuple(sorted(self.built)),
            tuple(sorted(self.strings.items())),
            tuple(sorted(self.mentions.items())),
        )
        return facts if facts != BoundaryFacts() else None

    def __init__(self, file: FileContext) -> None:
        super().__init__(file)
        self.models: list[ModelFact] = []
        self.orm: list[OrmFact] = []
        self.handlers: list[HandlerFact] = []
        self.built: set[str] = set()
        self.mentions: dict[str, int] = {}
        self.strings: dict[str, int] = {}
        self._annotations = 0
        self._depth = 0
        self._unmentioned: set[cst.CSTNode] = set()
        """Names that are no mention: class statements' own, handlers' types."""
        self._sources: dict[str, tuple[str, tuple[str, ...]]] = {}
        """The module-level ``Annotated`` aliases of this file that FastAPI fills from
        elsewhere than the body, with the function (``_source``) and their classes."""

    # -- names -------------------------------------------------------------------------

    def is_(self, node: cst.CSTNode, names: frozenset[str]) -> bool:
        found = self.qualified(node)
        return bool(found) and all(name in names for name in found)

    # -- classes -----------------------------------------------------------------------

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self._unmentioned.add(node.name)
        if self._depth == 0:
            self._class(node)
        self._depth += 1

    def leave_ClassDef(self, original_node: cst.ClassDef) -> None:
        self._depth -= 1

    def visit_Import(self, node: cst.Import) -> bool:
        return False

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        return False

    def visit_Name(self, node: cst.Name) -> None:
        if node.value[:1].isupper() and node not in self._unmentioned:
            self._mention(node)

    def visit_Attribute(self, node: cst.Attribute) -> None:
        if node.attr.value[:1].isupper() and node not in self._unmentioned:
            self._mention(node)

    def visit_Annotation(self, node: cst.Annotation) -> None:
        self._annotations += 1

    def leave_Annotation(self, original_node: cst.Annotation) -> None:
        self._annotations -= 1

    def visit_SimpleString(self, node: cst.SimpleString) -> None:
        text = node.evaluated_value
        if self._annotations and isinstance(text, str) and _ANNOTATION_TEXT.match(text):
            for word in re.findall(r"\b[A-Z]\w*", text):
                self.strings.setdefault(word, self.line(node))

    def _mention(self, node: cst.Name | cst.Attribute) -> None:
        for name in self.qualified(node):
            self.mentions.setdefault(name, self.line(node))

    def _class(self, node: cst.ClassDef) -> None:
        qualname = f"{self.module}.{node.name.value}"
        fields: list[FieldFact] = []
        columns: list[ColumnFact] = []
        checks: list[str] = []
        config: str = ""
        keys: tuple[tuple[str, str], ...] = ()
        orm = False
        plain = True
        for statement in _statements(node.body):
            if isinstance(statement, cst.ClassDef) and statement.name.value == "Config":
                # Both spellings at once: Pydantic 2 refuses the class.
                config, keys = ("other", ()) if config else _class_config(statement)
            elif isinstance(statement, cst.AnnAssign) and isinstance(statement.target, cst.Name):
                name = statement.target.value
                column = self._column(name, statement.value, statement.annotation)
                if column is not None:
                    columns.append(column)
                elif name == "model_config":
                    config, keys = ("other", ()) if config else _config_value(statement.value)
                elif not name.startswith("_"):
                    fields.append(self._field(name, statement))
            elif isinstance(statement, cst.Assign) and len(statement.targets) == 1:
                target = statement.targets[0].target
                if not isinstance(target, cst.Name):
                    continue
                if target.value == "__tablename__":
                    orm = True
                elif target.value == "__table_args__":
                    checks.extend(self._checks(statement.value))
                elif target.value == "model_config":
                    config, keys = ("other", ()) if config else _config_value(statement.value)
                elif (column := self._column(target.value, statement.value, None)) is not None:
                    columns.append(column)
                else:
                    plain = False
            elif not (isinstance(statement, cst.Expr | cst.Pass)):
                plain = False
        if orm or columns:
            self.orm.append(OrmFact(qualname, tuple(columns), tuple(checks)))
        if node.keywords:  # ``class X(BaseModel, extra="allow")``: configured there
            config, keys = "other", ()
        if not (orm or columns):  # a base model without fields of its own counts too
            refs = sorted(
                {
                    name
                    for statement in _statements(node.body)
                    if isinstance(statement, cst.AnnAssign)
                    for part in _names_and_attributes(statement.annotation)
                    for name in self.qualified(part)
                }
            )
            self.models.append(ModelFact(qualname, tuple(fields), config, keys, plain, tuple(refs)))

    def _field(self, name: str, statement: cst.AnnAssign) -> FieldFact:
        inner, nullable = self._annotation(statement.annotation.annotation)
        value = statement.value
        keywords: tuple[str, ...] = ()
        if value is None:
            default = "required"
        elif isinstance(value, cst.Call) and self.is_(value.func, FIELD_FUNCTIONS):
            keywords = tuple(arg.keyword.value for arg in value.args if arg.keyword is not None)
            given = next(
                (
                    arg.value
                    for arg in value.args
                    if arg.keyword is None or arg.keyword.value == "default"
                ),
                None,
            )
            if given is None:
                default = "factory" if "default_factory" in keywords else "required"
            else:
                default = _default_kind(given)
        else:
            default = _default_kind(value)
        return FieldFact(name, inner, nullable, default, keywords)

    def _annotation(self, annotation: cst.BaseExpression) -> tuple[str, bool]:
        """The one type an annotation holds, None aside, and whether it admits None."""
        parts = self._union(annotation)
        nullable = any(_is_none(part) for part in parts)
        rest = [part for part in parts if not _is_none(part)]
        if len(rest) != 1 or not isinstance(rest[0], cst.Name | cst.Attribute):
            return "", nullable
        found = self.qualified(rest[0])
        return (found[0] if len(found) == 1 else ""), nullable

    def _union(self, annotation: cst.BaseExpression) -> list[cst.BaseExpression]:
        if isinstance(annotation, cst.BinaryOperation) and isinstance(
            annotation.operator, cst.BitOr
        ):
            return [*self._union(annotation.left), *self._union(annotation.right)]
        if isinstance(annotation, cst.Subscript):
            elements = [
                element.slice.value
                for element in annotation.slice
                if isinstance(element.slice, cst.Index)
            ]
            if self.is_(annotation.value, OPTIONAL) and len(elements) == 1:
                return [*self._union(elements[0]), cst.Name("None")]
            if self.is_(annotation.value, UNION):
                return [part for element in elements for part in self._union(element)]
        return [annotation]

    def _classes_in(self, annotation: cst.BaseExpression | None) -> tuple[str, ...]:
        """The classes an annotation or ``response_model`` names: ``X``, ``Optional[X]``,
        ``List[X]``, ``Annotated[X, ...]`` (``dict`` for ``Dict[str, Any]``)."""
        found = [name for node in self._class_nodes(annotation) for name in self.qualified(node)]
        return tuple(dict.fromkeys(found))

    def _class_nodes(self, annotation: cst.BaseExpression | None) -> list[cst.CSTNode]:
        """The nodes ``_classes_in`` reads its classes from: the places VF303 renames."""
        if annotation is None:
            return []
        found: list[cst.CSTNode] = []
        for part in self._union(annotation):
            if _is_none(part):
                continue
            if isinstance(part, cst.Subscript):
                elements = [
                    element.slice.value
                    for element in part.slice
                    if isinstance(element.slice, cst.Index)
                ]
                if elements and self.is_(part.value, ANNOTATED | SEQUENCES):
                    found.extend(self._class_nodes(elements[0]))
                elif self.is_(part.value, MAPPINGS):
                    found.append(part.value)
            elif isinstance(part, cst.Name | cst.Attribute):
                found.append(part)
        return found

    # -- ORM ---------------------------------------------------------------------------

    def _column(
        self, name: str, value: cst.BaseExpression | None, annotation: cst.Annotation | None
    ) -> ColumnFact | None:
        if not (isinstance(value, cst.Call) and self.is_(value.func, COLUMNS)):
            return None
        kind, length, checks = "", None, []
        keywords = {arg.keyword.value: arg.value for arg in value.args if arg.keyword}
        for arg in value.args:
            if arg.keyword is not None:
                continue
            expression = arg.value
            if isinstance(expression, cst.Call) and self.is_(expression.func, CHECKS):
                checks.extend(self._checks(expression))
                continue
            func = expression.func if isinstance(expression, cst.Call) else expression
            if kind or not isinstance(func, cst.Name | cst.Attribute):
                continue
            found = self.qualified(func)
            if len(found) == 1 and found[0].startswith(("sqlalchemy.", "sqlmodel.")):
                kind = found[0].rpartition(".")[2]
                if isinstance(expression, cst.Call) and kind in STRING_TYPES:
                    first = next((a.value for a in expression.args if a.keyword is None), None)
                    if isinstance(first, cst.Integer):
                        length = int(first.evaluated_value)
                    elif "length" in (
                        given := {a.keyword.value: a.value for a in expression.args if a.keyword}
                    ) and isinstance(given["length"], cst.Integer):
                        length = int(given["length"].evaluated_value)
        if "nullable" in keywords:
            nullable = not _is_false(keywords["nullable"])
        elif annotation is not None and isinstance(annotation.annotation, cst.Subscript):
            # ``Mapped[str]`` is NOT NULL, ``Mapped[Optional[str]]`` is not.
            inner = annotation.annotation.slice[0].slice
            nullable = isinstance(inner, cst.Index) and self._annotation(inner.value)[1]
        else:
            nullable = True
        primary = "primary_key" in keywords and not _is_false(keywords["primary_key"])
        nullable = nullable and not primary
        has_default = primary or bool({"default", "server_default"} & keywords.keys())
        return ColumnFact(name, kind, length, nullable, has_default, tuple(checks))

    def _checks(self, value: cst.BaseExpression) -> list[str]:
        """The SQL text of the ``CheckConstraint``s in ``value`` (a call or a tuple)."""
        calls: list[cst.BaseExpression] = [value] if isinstance(value, cst.Call) else []
        if isinstance(value, cst.Tuple | cst.List):
            calls = [element.value for element in value.elements]
        texts: list[str] = []
        for call in calls:
            if not (isinstance(call, cst.Call) and self.is_(call.func, CHECKS) and call.args):
                continue
            text = call.args[0].value
            if isinstance(text, cst.SimpleString) and isinstance(text.evaluated_value, str):
                texts.append(text.evaluated_value)
        return texts

    # -- handlers ----------------------------------------------------------------------

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        if self._depth == 0:
            self._handler(node)
        self._depth += 1

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self._depth -= 1

    def _handler(self, node: cst.FunctionDef) -> None:
        for decorator in node.decorators:
            call = decorator.decorator
            if not (
                isinstance(call, cst.Call)
                and isinstance(call.func, cst.Attribute)
                and call.func.attr.value in ROUTE_METHODS
            ):
                continue
            receivers = self.qualified(call.func.value)
            if not receivers:
                continue
            keywords = {arg.keyword.value: arg.value for arg in call.args if arg.keyword}
            responses = self._classes_in(keywords.get("response_model"))
            if "response_model" not in keywords and node.returns is not None:
                responses = self._classes_in(node.returns.annotation)
            # The places VF303 renames are no mention; anything else in these types is.
            annotated = [
                (param, param.annotation.annotation, self._source(param))
                for param in (*node.params.params, *node.params.kwonly_params)
                if param.annotation is not None
            ]
            for expression in (
                keywords.get("response_model"),
                node.returns.annotation if node.returns is not None else None,
                *(annotation for _, annotation, source in annotated if not source),
            ):
                self._unmentioned.update(self._class_nodes(expression))
            uses = _BodyUses(self)
            node.body.visit(uses)
            parameters = [
                replace(uses.fact(param.name.value, types), has_default=param.default is not None)
                for param, annotation, source in annotated
                if not source and (types := self._classes_in(annotation))
            ]
            outside = tuple(
                (cls, source)
                for _, annotation, source in annotated
                if source and not source.endswith("(f)")
                for cls in (
                    self._sources[annotation.value][1]
                    if isinstance(annotation, cst.Name) and annotation.value in self._sources
                    else self._classes_in(annotation)
                )
            )
            self.handlers.append(
                HandlerFact(
                    f"{self.module}.{node.name.value}",
                    self.line(node),
                    call.func.attr.value,
                    receivers,
                    responses,
                    tuple(parameters),
                    self._json_body(node, uses),
                    outside,
                )
            )
            return

    def _json_body(self, node: cst.FunctionDef, uses: _BodyUses) -> ParameterFact | None:
        requests = {
            param.name.value
            for param in node.params.params
            if param.annotation is not None and self.is_(param.annotation.annotation, REQUESTS)
        }
        body = node.body.body if isinstance(node.body, cst.IndentedBlock) else ()
        for line in body:
            small = line.body[0] if isinstance(line, cst.SimpleStatementLine) else None
            if not (
                isinstance(small, cst.Assign)
                and len(small.targets) == 1
                and isinstance(small.targets[0].target, cst.Name)
                and isinstance(small.value, cst.Await)
                and isinstance(small.value.expression, cst.Call)
                and not small.value.expression.args
                and isinstance(small.value.expression.func, cst.Attribute)
                and small.value.expression.func.attr.value == "json"
                and isinstance(small.value.expression.func.value, cst.Name)
            ):
                continue
            request = small.value.expression.func.value.value
            local = small.targets[0].target.value
            if (
                request in requests
                and uses.reads.get(request) == {"json"}
                and request not in uses.bare
                and local not in requests
            ):
                return uses.fact(local, (request,))
        return None

    def _source(self, param: cst.Param) -> str:
        """The function by which FastAPI fills ``param`` from elsewhere than the JSON
        body (``Depends``, ``Query``, ``Form``...), given as its default or in its
        ``Annotated[...]`` (there or in a module-level alias of this file); ``""`` for a
        body."""
        annotation = param.annotation.annotation if param.annotation else None
        if isinstance(annotation, cst.Name) and annotation.value in self._sources:
            return self._sources[annotation.value][0]
        return next(
            (
                source
                for expression in (param.default, *self._metadata(annotation))
                if (source := self._filler(expression))
            ),
            "",
        )

    def _metadata(self, annotation: cst.BaseExpression | None) -> list[cst.BaseExpression]:
        """What ``Annotated[X, ...]`` adds to ``X``; nothing for another annotation."""
        if not (isinstance(annotation, cst.Subscript) and self.is_(annotation.value, ANNOTATED)):
            return []
        return [
            element.slice.value
            for element in annotation.slice[1:]
            if isinstance(element.slice, cst.Index)
        ]

    def _filler(self, expression: cst.BaseExpression | None) -> str:
        """``Query`` for ``Query(...)`` (and so on for ``NOT_BODY``), else ``""``;
        ``Depends(f)`` for a dependency given its function (what it returns is no
        request data), ``Depends`` for ``Depends()`` (the class, made from the query)."""
        if not isinstance(expression, cst.Call):
            return ""
        name = next(
            (
                name.rpartition(".")[2]
                for name in self.qualified(expression.func)
                if name.startswith("fastapi.") and name.rpartition(".")[2] in NOT_BODY
            ),
            "",
        )
        given = name in {"Depends", "Security"} and any(not a.keyword for a in expression.args)
        return f"{name}(f)" if given else name

    def visit_Assign(self, node: cst.Assign) -> None:
        if self._depth == 0 and len(node.targets) == 1:
            self._alias(node.targets[0].target, node.value)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if self._depth == 0:
            self._alias(node.target, node.value)

    def _alias(self, target: cst.BaseExpression, value: cst.BaseExpression | None) -> None:
        """``FiltersQuery = Annotated[Filters, Query()]``: parameters annotated
        ``FiltersQuery`` are filled by ``Query``."""
        if not isinstance(target, cst.Name):
            return
        source = next(filter(None, map(self._filler, self._metadata(value))), "")
        if source:
            self._sources[target.value] = (source, self._classes_in(value))

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if any(arg.star == "**" for arg in node.args) and isinstance(
            func, cst.Name | cst.Attribute
        ):
            self.built.update(self.qualified(func))
        if isinstance(func, cst.Attribute) and func.attr.value in DATA_CONSTRUCTORS:
            self.built.update(self.qualified(func.value))


class _BodyUses(cst.CSTVisitor):
    """How a handler's body uses ``param.field`` for each of its parameters."""

    def __init__(self, collector: BoundaryCollector) -> None:
        super().__init__()
        self.collector = collector
        self.reads: dict[str, set[str]] = {}
        self.dereferenced: dict[str, set[str]] = {}
        self.checked: dict[str, set[str]] = {}
        self.demanded: dict[str, set[str]] = {}
        self.emptiness: dict[str, set[str]] = {}
        self.partial: set[str] = set()
        self.copies: dict[str, set[tuple[str, str, str]]] = {}
        self.whole: set[str] = set()
        self.bare: set[str] = set()
        """Names used as such (passed on, returned), not through an attribute."""
        self._attribute_bases: set[cst.CSTNode] = set()
        self.keys: dict[str, set[tuple[str, str, str]]] = {}
        self.catches_key_error = False
        self.dynamic: dict[str, str] = {}
        self.unpacked: set[str] = set()
        """Names unpacked into keywords or a dict: ``f(**p)``, ``{**p}``."""
        self._keyed: set[cst.CSTNode] = set()
        """Names used by a literal key (``p["k"]``, ``p.get("k")``, ``"k" in p``), or
        shown in an f-string: the uses a model's attribute can take over."""

    def fact(self, name: str, types: tuple[str, ...]) -> ParameterFact:
        def of(found: dict[str, set[str]]) -> tuple[str, ...]:
            return tuple(sorted(found.get(name, ())))

        dereferenced = set(of(self.dereferenced)) - set(of(self.checked))
        return ParameterFact(
            name,
            types,
            of(self.reads),
            tuple(sorted(dereferenced)),
            of(self.demanded),
            of(self.emptiness),
            name in self.partial,
            tuple(sorted(self.copies.get(name, ()))),
            name in self.whole,
            tuple(sorted(self.keys.get(name, ()))),
            self.dynamic.get(name, "")
            or (
                "a `KeyError` caught"
                if self.catches_key_error
                and any(how == "item" for _, how, _ in self.keys.get(name, ()))
                else ""
            ),
            forwarded=name in self.bare and name not in self.unpacked,
        )

    def visit_Arg(self, node: cst.Arg) -> None:
        if node.star == "**" and isinstance(node.value, cst.Name):
            self._unpack(node.value)

    def visit_StarredDictElement(self, node: cst.StarredDictElement) -> None:
        if isinstance(node.value, cst.Name):
            self._unpack(node.value)

    def _unpack(self, name: cst.Name) -> None:
        """The first unpacking is the use a finding names (a model could take the rest)."""
        if name.value not in self.unpacked:
            self.unpacked.add(name.value)
            line = self.collector.line(name)
            self.dynamic[name.value] = f"unpacked with `**` at line {line}"

    def visit_Attribute(self, node: cst.Attribute) -> None:
        if isinstance(node.value, cst.Name):
            self.reads.setdefault(node.value.value, set()).add(node.attr.value)
            self._attribute_bases.add(node.value)
            if node.attr.value != "get":
                self._loose(node.value, f"`.{node.attr.value}`")
            if node.attr.value.startswith("__"):
                self.whole.add(node.value.value)  # ``body.__dict__``

    def visit_Name(self, node: cst.Name) -> None:
        if node not in self._attribute_bases and node not in self._keyed:
            self.whole.add(node.value)
            self.bare.add(node.value)
            self._loose(node, "used whole")

    def _loose(self, name: cst.Name, what: str) -> None:
        line = self.collector.line(name)
        self.dynamic.setdefault(name.value, f"{what} at line {line}")

    def _key(
        self, name: cst.BaseExpression, key: cst.BaseExpression | None, how: str, default: str = ""
    ) -> None:
        """``name`` read by ``key``: a literal one is recorded, any other makes it dynamic."""
        if not isinstance(name, cst.Name):
            return
        self._keyed.add(name)
        if isinstance(key, cst.SimpleString) and isinstance(key.evaluated_value, str):
            self.keys.setdefault(name.value, set()).add((key.evaluated_value, how, default))
        else:
            self._loose(name, "a key computed at run time")

    def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
        self._written(node.target)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self._written(node.target)

    def visit_Del(self, node: cst.Del) -> None:
        self._written(node.target)

    def _written(self, target: cst.BaseExpression) -> None:
        if isinstance(target, cst.Subscript) and isinstance(target.value, cst.Name):
            self._loose(target.value, "a key written")

    def visit_ExceptHandler(self, node: cst.ExceptHandler) -> None:
        caught = node.type
        names = caught.elements if isinstance(caught, cst.Tuple) else [caught] if caught else []
        for name in names:
            value = name.value if isinstance(name, cst.Element) else name
            if isinstance(value, cst.Name) and value.value in {"KeyError", "LookupError"}:
                self.catches_key_error = True

    def visit_Assign(self, node: cst.Assign) -> None:
        value = node.value
        if (
            len(node.targets) == 1
            and isinstance(node.targets[0].target, cst.Name)
            and isinstance(value, cst.Await)
            and isinstance(value.expression, cst.Call)
            and isinstance(value.expression.func, cst.Attribute)
            and value.expression.func.attr.value == "json"
        ):
            self._keyed.add(node.targets[0].target)  # ``data = await request.json()``

    def visit_FormattedStringExpression(self, node: cst.FormattedStringExpression) -> None:
        if isinstance(node.expression, cst.Name):
            self._keyed.add(node.expression)  # shown: a model shows itself too

    def _field(self, node: cst.BaseExpression) -> tuple[str, str] | None:
        if isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name):
            return node.value.value, node.attr.value
        key = _literal_key(node)
        if key is not None:
            return key
        return None

    def _mark(self, found: dict[str, set[str]], node: cst.BaseExpression) -> None:
        if (field := self._field(node)) is not None:
            found.setdefault(field[0], set()).add(field[1])

    def visit_Attribute_value(self, node: cst.Attribute) -> None:
        self._mark(self.dereferenced, node.value)  # ``x.f.lower()``

    def visit_Subscript(self, node: cst.Subscript) -> None:
        self._mark(self.dereferenced, node.value)
        index = node.slice[0].slice if len(node.slice) == 1 else None
        self._key(node.value, index.value if isinstance(index, cst.Index) else None, "item")

    def visit_BinaryOperation(self, node: cst.BinaryOperation) -> None:
        self._mark(self.dereferenced, node.left)
        self._mark(self.dereferenced, node.right)

    def visit_Comparison(self, node: cst.Comparison) -> None:
        operands = [node.left, *(target.comparator for target in node.comparisons)]
        for index, target in enumerate(node.comparisons):
            pair = (operands[index], operands[index + 1])
            if isinstance(target.operator, cst.Is | cst.IsNot):
                for side in pair:
                    self._mark(self.checked, side)
            elif isinstance(
                target.operator,
                cst.LessThan | cst.GreaterThan | cst.LessThanEqual | cst.GreaterThanEqual,
            ):
                for side in pair:
                    self._mark(self.dereferenced, side)
            elif isinstance(target.operator, cst.In | cst.NotIn):
                self._mark(self.dereferenced, pair[1])
                if isinstance(pair[1], cst.Name):
                    self._key(pair[1], pair[0], "in")

    def visit_UnaryOperation(self, node: cst.UnaryOperation) -> None:
        if isinstance(node.operator, cst.Not):
            self._mark(self.checked, node.expression)

    def visit_BooleanOperation(self, node: cst.BooleanOperation) -> None:
        self._mark(self.checked, node.left)
        self._mark(self.checked, node.right)

    def visit_For(self, node: cst.For) -> None:
        self._mark(self.dereferenced, node.iter)

    def visit_CompFor(self, node: cst.CompFor) -> None:
        self._mark(self.dereferenced, node.iter)

    def visit_If(self, node: cst.If) -> None:
        self._mark(self.checked, node.test)
        self._demands(node)

    def visit_IfExp(self, node: cst.IfExp) -> None:
        self._mark(self.checked, node.test)

    def _demands(self, node: cst.If) -> None:
        """``if not x.f: raise ...`` (also as one operand of an ``or``)."""
        statements: Sequence[cst.CSTNode] = ()
        if isinstance(node.body, cst.IndentedBlock):
            first = node.body.body[0] if node.body.body else None
            statements = first.body if isinstance(first, cst.SimpleStatementLine) else ()
        else:
            statements = node.body.body
        if not (statements and isinstance(statements[0], cst.Raise)):
            return
        tests: list[cst.BaseExpression] = [node.test]
        while isinstance(tests[0], cst.BooleanOperation) and isinstance(tests[0].operator, cst.Or):
            tests = [tests[0].left, tests[0].right, *tests[1:]]
        for test in tests:
            if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
                self._mark(self.demanded, test.expression)
                self._mark(self.emptiness, test.expression)
            elif (
                isinstance(test, cst.Comparison)
                and len(test.comparisons) == 1
                and isinstance(test.comparisons[0].operator, cst.Is)
                and _is_none(test.comparisons[0].comparator)
            ):
                self._mark(self.demanded, test.left)

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if (
            isinstance(func, cst.Attribute)
            and isinstance(func.value, cst.Name)
            and func.attr.value != "get"
        ):
            # ``body.model_dump()``: a method sees every field, not the ones read.
            self.whole.add(func.value.value)
        if (
            isinstance(func, cst.Attribute)
            and func.attr.value == "get"
            and isinstance(func.value, cst.Name)
            and 1 <= len(node.args) <= 2
            and not any(arg.keyword or arg.star for arg in node.args)
        ):
            default = _source(node.args[1].value) if len(node.args) == 2 else ""
            self._key(func.value, node.args[0].value, "get", default)
        if isinstance(func, cst.Name) and func.value == "len" and node.args:
            self._mark(self.dereferenced, node.args[0].value)
        if (
            isinstance(func, cst.Attribute)
            and func.attr.value in {"model_dump", "dict"}
            and isinstance(func.value, cst.Name)
            and any(
                arg.keyword is not None
                and arg.keyword.value in {"exclude_unset", "exclude_none"}
                and not _is_false(arg.value)
                for arg in node.args
            )
        ):
            self.partial.add(func.value.value)
        if isinstance(func, cst.Name | cst.Attribute):
            classes = self.collector.qualified(func)
            for arg in node.args:
                field = self._field(arg.value)
                if arg.keyword is not None and field is not None:
                    for cls in classes:
                        self.copies.setdefault(field[0], set()).add(
                            (cls, arg.keyword.value, field[1])
                        )


# -- small helpers ---------------------------------------------------------------------


def _statements(body: cst.BaseSuite | cst.CSTNode) -> list[cst.CSTNode]:
    """The simple and compound statements of a class or function body, flattened."""
    if isinstance(body, cst.SimpleStatementLine):
        return list(body.body)
    lines: Sequence[cst.CSTNode] = ()
    if isinstance(body, cst.IndentedBlock | cst.SimpleStatementSuite):
        lines = body.body
    found: list[cst.CSTNode] = []
    for line in lines:
        if isinstance(line, cst.SimpleStatementLine):
            found.extend(line.body)
        else:
            found.append(line)
    return found


def _names_and_attributes(node: cst.CSTNode) -> list[cst.CSTNode]:
    found: list[cst.CSTNode] = []

    class Finder(cst.CSTVisitor):
        def visit_Name(self, name: cst.Name) -> None:
            found.append(name)

        def visit_Attribute(self, attribute: cst.Attribute) -> None:
            found.append(attribute)

    node.visit(Finder())
    return found


def _literal_key(node: cst.BaseExpression) -> tuple[str, str] | None:
    """``("p", "k")`` for ``p["k"]`` and ``p.get("k", ...)``."""
    key: cst.BaseExpression | None = None
    name: cst.BaseExpression | None = None
    if isinstance(node, cst.Subscript) and len(node.slice) == 1:
        index = node.slice[0].slice
        name, key = node.value, index.value if isinstance(index, cst.Index) else None
    elif (
        isinstance(node, cst.Call)
        and isinstance(node.func, cst.Attribute)
        and node.func.attr.value == "get"
        and node.args
    ):
        name, key = node.func.value, node.args[0].value
    if (
        isinstance(name, cst.Name)
        and isinstance(key, cst.SimpleString)
        and isinstance(key.evaluated_value, str)
    ):
        return name.value, key.evaluated_value
    return None


def _is_none(node: cst.CSTNode) -> bool:
    return isinstance(node, cst.Name) and node.value == "None"


def _is_false(node: cst.CSTNode) -> bool:
    return isinstance(node, cst.Name) and node.value == "False"


def _default_kind(value: cst.BaseExpression) -> str:
    if _is_none(value):
        return "none"
    if isinstance(value, cst.Ellipsis):
        return "required"
    return "value"


def _source(node: cst.CSTNode) -> str:
    return cst.Module([]).code_for_node(node)


def _config_value(value: cst.BaseExpression | None) -> tuple[str, tuple[tuple[str, str], ...]]:
    """``model_config = {...}`` or ``ConfigDict(...)``: its kind and keys."""
    if isinstance(value, cst.Dict):
        keys: list[tuple[str, str]] = []
        for element in value.elements:
            if not (
                isinstance(element, cst.DictElement)
                and isinstance(element.key, cst.SimpleString)
                and isinstance(element.key.evaluated_value, str)
            ):
                return "other", ()
            keys.append((element.key.evaluated_value, _source(element.value)))
        return "dict", tuple(keys)
    if (
        isinstance(value, cst.Call)
        and isinstance(value.func, cst.Name | cst.Attribute)
        and _source(value.func).rpartition(".")[2] == "ConfigDict"
        and all(arg.keyword is not None for arg in value.args)
    ):
        return "ConfigDict", tuple(
            (arg.keyword.value, _source(arg.value)) for arg in value.args if arg.keyword
        )
    return "other", ()


def _class_config(node: cst.ClassDef) -> tuple[str, tuple[tuple[str, str], ...]]:
    """A v1 ``class Config``: ``class`` and its keys when it holds only ``key = value``
    lines, else ``other``."""
    if node.bases or node.keywords:
        return "other", ()
    keys: list[tuple[str, str]] = []
    for statement in _statements(node.body):
        if (
            isinstance(statement, cst.Assign)
            and len(statement.targets) == 1
            and isinstance(statement.targets[0].target, cst.Name)
        ):
            keys.append((statement.targets[0].target.value, _source(statement.value)))
        elif not isinstance(statement, cst.Pass | cst.Expr):  # a docstring is fine
            return "other", ()
    return "class", tuple(keys)


class BoundaryCodemod(Codemod[PartT]):
    """What VF300-VF304 share: the boundary facts, and visiting every parsed file (a
    model's handlers and ORM classes may sit in files found by the plan, by name)."""

    follows_plan = True
    seeds = (ROUTE,)
    collectors = (BoundaryCollector,)
    METADATA_DEPENDENCIES = (*Codemod.METADATA_DEPENDENCIES, QualifiedNameProvider)
