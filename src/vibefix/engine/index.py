"""The index stage: small picklable facts per file, merged into one ``ProjectIndex``.

Every candidate file is parsed once, in a worker process; the engine's own collector
records the project's functions and classes (qualified across modules), every call each
function makes and how (awaited, from a lambda, as a context manager), the places a
function is used without being called (``Depends(f)``, ``Thread(target=f)``), the types
of module-level objects (``SessionLocal = sessionmaker(...)``), what calling a project
function or a type alias gives (``get_conn()``: ``psycopg2.connect()``; ``SessionDep =
Annotated[Session, Depends(get_db)]``: a ``Session``) and the FastAPI applications and
routers; each codemod may add facts of its own. Nothing in a fact refers
to a syntax tree, so facts cross process boundaries cheaply.

A call's *target* is a string the plan can classify: ``requests.get`` (a function),
``app.db.SessionLocal().query`` (a method of what ``SessionLocal()`` returned),
``app.models.User().save`` (a method of a project class), ``?.get`` (a method of
something whose type the index does not know).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar, cast

import libcst as cst
from libcst.metadata import (
    PositionProvider,
    QualifiedName,
    QualifiedNameProvider,
)

from vibefix.cst.names import fully_qualified
from vibefix.engine.context import Collector, NeededName
from vibefix.engine.imports import ImportPlanner
from vibefix.known.fastapi import (
    DEPENDS,
    FASTAPI_APPS,
    FASTAPI_ROUTERS,
    dependency_shaped,
    in_pytest_file,
)
from vibefix.known.types import (
    ANNOTATED,
    CLASS_VARIABLE,
    GENERIC,
    MAPPED,
    NO_TYPE,
    OPTIONAL,
    QUERY_STEPS,
    REFINING,
    ROW_GETTERS,
    SESSION_CLASS,
    SESSION_MAKERS,
    STATEMENT_RUNNERS,
    TYPE_ALIAS,
    UNION,
    YIELDING,
)

FactsT = TypeVar("FactsT")

UNKNOWN = "?"
"""The receiver of a method whose type the index cannot tell."""
_LITERAL_TYPES: dict[type[cst.CSTNode], str] = {
    cst.Dict: "builtins.dict",
    cst.DictComp: "builtins.dict",
    cst.List: "builtins.list",
    cst.ListComp: "builtins.list",
    cst.Set: "builtins.set",
    cst.SetComp: "builtins.set",
    cst.Tuple: "builtins.tuple",
    cst.SimpleString: "builtins.str",
    cst.FormattedString: "builtins.str",
    cst.ConcatenatedString: "builtins.str",
    cst.Integer: "builtins.int",
    cst.Float: "builtins.float",
}


@dataclass(frozen=True)
class CallFact:
    """A call made inside a function: what it may call, where, and how."""

    targets: tuple[str, ...]
    line: int
    column: int
    awaited: bool
    awaitable: bool = True
    """False where ``await`` cannot be added: inside a lambda or a generator expression."""
    offloadable: bool = True
    """False where the call cannot be moved into a thread as ``f, *args``: a context
    manager (``with open(p) as f``), a call of a call's result."""
    end: tuple[int, int] = (0, 0)
    """Where it ends (``f(x).g()`` and ``f(x)`` start at the same place)."""
    keywords: tuple[str, ...] = ()
    """Its keyword arguments' names, for module-level calls (``FastAPI(lifespan=...)``)."""
    arguments: tuple[tuple[str, str], ...] = ()
    """The arguments of known type it passes, a local or an attribute: (position, or
    keyword, type); a parameter of no type of the caller's passes its
    ``parameter_type``. What an untyped parameter is (``ProjectIndex.merge``)."""


OVERRIDES = "fastapi.FastAPI.dependency_overrides"
"""The ``via`` of a function stored in ``app.dependency_overrides``, as key or value:
FastAPI calls it as it does a dependency."""


@dataclass(frozen=True)
class Reference:
    """A project name used without being called: ``Depends(f)``, ``Thread(target=f)``."""

    targets: tuple[str, ...]
    line: int
    column: int
    via: str
    """The target of the call it is an argument of (``fastapi.Depends``), ``OVERRIDES``
    in ``app.dependency_overrides[f] = g``, else ``""``."""
    function: str | None
    """The function it sits in; None at module level."""


@dataclass(frozen=True)
class FunctionFact:
    qualname: str
    path: Path
    line: int
    is_async: bool
    decorators: tuple[str, ...]
    """Fully qualified names of the decorators, calls included (``app.routers.router.get``)."""
    calls: tuple[CallFact, ...]
    column: int = 1
    is_generator: bool = False
    owner_class: str | None = None
    """The class whose body defines it (a method), else None."""
    name_line: int = 0
    """The line of its name (``line`` is that of its first decorator)."""
    sync_only: str = ""
    """Why it cannot be an ``async def`` at all (a generator that uses ``yield from`` or
    returns a value: async generators cannot), else empty."""
    shadowed: tuple[str, ...] = ()
    """Of the names the codemods' rewrites write into functions (``Codemod.needed_names``:
    ``asyncio``, ``run_in_threadpool``), those that mean something else in its body."""
    end: tuple[int, int] = (0, 0)
    untyped: tuple[tuple[int, str], ...] = ()
    """Its parameters of no type (no annotation; no default, or None), never rebound in
    its body: (position among the positional ones, ``KEYWORD_ONLY`` for a keyword-only
    one; its name). Every call that passes one a value of one known type gives it that
    type (``ProjectIndex.merge``)."""
    block: tuple[int, ...] = ()
    """The indented blocks around its ``def`` (bodies of ``if``, ``else``, ``try``,
    ``for``, classes, functions), outermost first, numbered in the file's order; empty at
    module level. A later ``def`` of the same name whose blocks are a prefix of these
    always runs after this one: it replaces it (``ProjectIndex.merge``)."""


NodeKey = tuple[Path, int, int, int, int]
"""A function definition or a call, by file and start and end positions: how the plan
names what a codemod will meet while visiting the file."""


def node_key(path: Path, fact: CallFact | FunctionFact) -> NodeKey:
    return (path, fact.line, fact.column, *fact.end)


@dataclass(frozen=True)
class ModuleFacts:
    """Everything the index knows of one file."""

    path: Path
    module: str
    functions: tuple[FunctionFact, ...] = ()
    applications: tuple[tuple[str, str], ...] = ()
    """Module-level FastAPI apps and routers: (qualified name of the variable, its class)."""
    collected: tuple[tuple[type[Collector[Any]], object], ...] = ()
    """What each codemod collector found in it, by collector."""
    classes: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """The classes it defines, with the qualified names of their bases."""
    objects: tuple[tuple[str, str | None], ...] = ()
    """Module-level names and instance attributes: (name, target of the call that made it
    + ``()``): ``("app.db.SessionLocal", "sqlalchemy.orm.sessionmaker()")``; None when it
    has no single known type. Names imported at module level map to what they import
    (``("pkg.helper", "pkg.mod.helper")``: a re-export)."""
    references: tuple[Reference, ...] = ()
    module_calls: tuple[CallFact, ...] = ()
    """Calls made at module level or in a class body: sync code."""
    star_imports: tuple[str, ...] = ()
    """Modules it imports everything from, at module level."""
    uses_fastapi: bool = False
    """Whether it imports FastAPI (then a blocking call runs in FastAPI's thread pool)."""
    yield_dependencies: tuple[str, ...] = ()
    """Its module-level generators shaped as a FastAPI dependency that yields what it
    made (``get_db``: ``known.fastapi.dependency_shaped``)."""
    init_attributes: tuple[tuple[str, str, int, str], ...] = ()
    """``self.attribute = parameter`` in a class's ``__init__``, where the parameter has
    no type of its own: (class, attribute, the parameter's position after ``self``, its
    name). A subclass that hands it a typed value (``super().__init__(repository)``)
    gives the attribute that type (``ProjectIndex.merge``)."""
    super_inits: tuple[tuple[str, tuple[str | None, ...], tuple[tuple[str, str], ...]], ...] = ()
    """``super().__init__(...)`` in a class's methods: (class, the types of the positional
    arguments, None where unknown; the keyword arguments of known type)."""
    returns: tuple[tuple[str, str], ...] = ()
    """What calling a name gives, where it is not what the name's own type says: a
    function's return (``("app.db.get_conn()", "psycopg2.connect()")``, a method's
    ``("app.repo.Repo().get()", ...)``, a property's ``("app.repo.Repo().session",
    ...)``), what a dependency yields (``("app.deps.get_db()", "app.deps.SessionLocal()")``),
    an instance of a type alias (``("app.deps.SessionDep()", "sqlalchemy.orm.Session()")``)
    and a session of a factory made with ``class_=`` (``("app.db.SessionLocal()",
    "sqlalchemy.ext.asyncio.AsyncSession()")``)."""


EXPORTED = {"sqlalchemy.engine.create_engine": "sqlalchemy.create_engine"}
"""Library objects imported from the module that defines them, by the name their package
exports them under (which the tables of known calls use)."""


@dataclass(frozen=True)
class ProjectIndex:
    """The merged facts of every indexed file, in path order."""

    modules: tuple[ModuleFacts, ...] = ()
    functions: Mapping[str, FunctionFact] = field(default_factory=dict)
    applications: Mapping[str, str] = field(default_factory=dict)
    bases: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Every project class, with its bases."""
    objects: Mapping[str, str | None] = field(default_factory=dict)
    ambiguous: frozenset[str] = frozenset()
    """Functions defined more than once (``if``/``else``, ``try``/``except``, two
    scripts with the same module name): which one runs, the index cannot tell. A
    ``def`` that a later one in the same block replaces is not counted: it is dead
    (``_replaced``)."""
    returns: Mapping[str, str | None] = field(default_factory=dict)
    """What calling a name gives (``ModuleFacts.returns``); None when the modules that
    say it disagree."""
    class_attributes: frozenset[str] = frozenset()
    """The attributes a project class's body assigns (``app.Order.created_at``), of a
    known type or not: none of them is its outside base's (``_inherited``)."""

    @property
    def classes(self) -> Mapping[str, tuple[str, ...]]:
        return self.bases

    def lineage(self, cls: str) -> list[str]:
        """``cls`` and its project base classes, depth first."""
        order: list[str] = []
        pending = [cls]
        while pending:
            klass = pending.pop(0)
            if klass in self.bases and klass not in order:
                order.append(klass)
                pending.extend(self.bases[klass])
        return order

    def outside_bases(self, cls: str) -> list[str]:
        """The bases of ``cls`` and of its project bases that the project does not define."""
        return [
            base
            for klass in self.lineage(cls)
            for base in self.bases[klass]
            if base not in self.bases and base != "builtins.object"
        ]

    @classmethod
    def merge(cls, facts: Iterable[ModuleFacts]) -> ProjectIndex:
        modules = tuple(sorted(facts, key=lambda module: str(module.path)))
        functions: dict[str, FunctionFact] = {}
        ambiguous: set[str] = set()
        applications: dict[str, str] = {}
        bases: dict[str, tuple[str, ...]] = {}
        objects: dict[str, str | None] = {}
        returns: dict[str, str | None] = {}
        for module in modules:
            for function, live in named_apart(module.functions):
                if not live:
                    continue
                if functions.setdefault(function.qualname, function) is not function:
                    ambiguous.add(function.qualname)
            applications.update(module.applications)
            for name, of in module.classes:
                bases.setdefault(name, of)
            for name, kind in module.objects:
                if objects.setdefault(name, kind) != kind:
                    objects[name] = None
            for made, kind in module.returns:
                if returns.setdefault(made, kind) != kind:
                    returns[made] = None
        _handed_down(modules, functions, bases, objects)
        assigned = frozenset(name for name in objects if name.rpartition(".")[0] in bases)
        _plain_class_attributes(bases, objects, returns)
        # ``from pkg import *`` names what ``pkg`` defines and what it star-imports in
        # turn (``pkg/__init__.py``: ``from .user import *``): to a fixed point.
        for _ in range(5):
            named = [*functions, *bases, *objects]
            before = len(objects)
            for module in modules:
                for source in module.star_imports:
                    prefix = f"{source}."
                    for name in named:
                        tail = name[len(prefix) :]
                        if name.startswith(prefix) and "." not in tail and "(" not in tail:
                            objects.setdefault(f"{module.module}.{tail}", name)
            if len(objects) == before:
                break
        index = cls(
            modules,
            functions,
            applications,
            bases,
            objects,
            frozenset(ambiguous),
            returns=returns,
            class_attributes=assigned,
        )
        _through_owners(index, objects)
        _typed_by_calls(index, objects)
        return index

    def facts(self, collector: type[Collector[FactsT]]) -> dict[Path, FactsT]:
        """What ``collector`` found, by file (files where it found nothing aside)."""
        return {
            module.path: cast(FactsT, facts)
            for module in self.modules
            for kind, facts in module.collected
            if kind is collector
        }

    def resolve(self, target: str) -> str:
        """``target`` with known objects replaced by their types, and calls by what they
        return, repeatedly: ``app.db.session.query`` -> ``app.db.SessionLocal().query`` ->
        ``sqlalchemy.orm.sessionmaker()().query``; ``app.main.SessionDep().query`` ->
        ``app.deps.SessionDep().query`` -> ``sqlalchemy.orm.Session().query``. An
        attribute or method of a project class's instance is looked up in its project base
        classes too (``app.UserRepo().db`` -> ``app.BaseRepo().db``). A library's object
        imported from where it is defined is named as its package exports it
        (``sqlalchemy.engine.create_engine()`` -> ``sqlalchemy.create_engine()``)."""
        found = self._resolve(target)
        for defined, exported in EXPORTED.items():
            if found.startswith(defined) and found[len(defined) : len(defined) + 1] in "(.":
                return exported + found[len(defined) :]
        return found

    def _resolve(self, target: str) -> str:
        for _ in range(16):  # objects made from objects; a cycle stops here
            if target.startswith(UNKNOWN):
                # Of an unknown object, only an untyped parameter's type may be known
                # (``parameter_type``): nothing else to look up.
                name = _PARAMETER.match(target)
                if name is None or name.group() not in self.objects:
                    return target
                kind = self.objects[name.group()]
                if kind is None:
                    return target
                target = kind + target[name.end() :]
                continue
            for end in sorted(_prefix_ends(target), reverse=True):
                found = self._known(target[:end])
                if found is not None:
                    kind = found[0]
                    if kind is None:  # no single type: nothing can be said of it
                        return f"{UNKNOWN}{target[end:]}"
                    target = kind + target[end:]
                    break
            else:
                return target
        return target

    def _known(self, prefix: str) -> tuple[str | None] | None:
        """What the index says ``prefix`` is (its type, None if it has no single one), or
        None if it says nothing."""
        names = [prefix]
        owner, dot, member = prefix.partition("().")
        if dot and owner in self.bases and "." not in member:
            lineage = self.lineage(owner)
            names.extend(f"{klass}().{member}" for klass in lineage[1:])
            # What no method assigns: a class attribute, the instances' own.
            names.extend(f"{klass}.{member}" for klass in lineage)
        for name in names:
            if name in self.returns:
                return (self.returns[name],)
            if name in self.objects:
                return (self.objects[name],)
        return self._inherited(prefix) if not dot else None

    def _inherited(self, prefix: str) -> tuple[str] | None:
        """A class attribute of a project class that the project does not define, read
        from its one outside base: ``app.User.metadata`` -> ``app.Base.metadata`` (the
        ``declarative_base()``'s), ``app.Hero.metadata`` -> ``sqlmodel.SQLModel.metadata``."""
        owner, _, member = prefix.rpartition(".")
        if owner not in self.bases or member.startswith("__"):
            return None
        lineage = self.lineage(owner)
        if any(
            f"{klass}.{member}" in self.functions
            or f"{klass}.{member}" in self.bases
            or f"{klass}.{member}" in self.class_attributes
            or f"{klass}().{member}" in self.objects
            for klass in lineage
        ):
            return None
        outside = {base for base in self.outside_bases(owner) if base not in PLAIN_BASES}
        return (f"{outside.pop()}.{member}",) if len(outside) == 1 else None


PLAIN_BASES = frozenset(
    {"abc.ABC", "typing.Generic", "typing.Protocol", "typing_extensions.Protocol"}
)
"""Outside bases that give a class's attributes no behaviour of their own."""


def _plain_class_attributes(
    bases: Mapping[str, tuple[str, ...]],
    objects: dict[str, str | None],
    returns: dict[str, str | None],
) -> None:
    """Forget the class attributes (``Order.created_at = Column(...)``) of classes with
    outside bases other than ``PLAIN_BASES``: an ORM model's ``Column`` or a Pydantic
    field's default is no plain value of the class or its instances, and a call on it
    (``Order.created_at.desc()``) is the library's business, not a blocking call."""
    index = ProjectIndex(bases=bases)
    for name in [name for name in objects if name.rpartition(".")[0] in bases]:
        owner = name.rpartition(".")[0]
        if not all(base in PLAIN_BASES for base in index.outside_bases(owner)):
            del objects[name]
            returns.pop(f"{name}()", None)


ITERATION = ".__iter__"
"""The method a ``for`` loop calls on what it iterates (``FactCollector._iteration``)."""

KEYWORD_ONLY = 1 << 30
"""The position of a keyword-only parameter (``ModuleFacts.init_attributes``)."""


def _handed_down(
    modules: Iterable[ModuleFacts],
    functions: Mapping[str, FunctionFact],
    bases: Mapping[str, tuple[str, ...]],
    objects: dict[str, str | None],
) -> None:
    """The attributes a base class's ``__init__`` sets from an untyped parameter, typed
    for each subclass by what its ``super().__init__(...)`` hands it: ``BaseService``
    keeps ``self.repository = repository``, ``ItemService`` passes an
    ``ItemRepository``: ``ItemService().repository`` is one. An attribute the subclass
    sets itself keeps its own type; calls that disagree give none."""
    attributes: dict[str, list[tuple[str, int, str]]] = {}
    calls: list[tuple[str, tuple[str | None, ...], tuple[tuple[str, str], ...]]] = []
    for module in modules:
        for cls, attribute, position, parameter in module.init_attributes:
            attributes.setdefault(cls, []).append((attribute, position, parameter))
        calls.extend(module.super_inits)
    if not attributes or not calls:
        return
    index = ProjectIndex(bases=bases)
    added: set[str] = set()
    for cls, positional, keywords in calls:
        for base in index.lineage(cls)[1:]:
            if f"{base}.__init__" not in functions:
                continue
            named = dict(keywords)
            for attribute, position, parameter in attributes.get(base, ()):
                kind = positional[position] if position < len(positional) else None
                kind = kind or named.get(parameter)
                key = f"{cls}().{attribute}"
                if kind is None or (key in objects and key not in added):
                    continue
                added.add(key)
                objects[key] = kind if objects.setdefault(key, kind) == kind else None
            break


_STATEMENT = re.compile(r"(?:sqlalchemy|sqlmodel)(?:\.\w+)*\.select\(\)(?:\.\w+\(\))*")
"""The type of a 2.0 statement, refined or not (``sqlalchemy.select().where()``)."""


def _refined(old: str, new: str) -> bool:
    """Whether ``new`` is a legacy SQLAlchemy query ``old`` refined by a method of its
    (``Session().query()`` and ``Session().query().filter()``), or a 2.0 statement
    (``select()`` and ``select().where()``): the same type."""
    if not (".query(" in old or _STATEMENT.fullmatch(old)):
        return False
    if not new.startswith(f"{old}.") or not new.endswith(")"):
        return False
    steps = new[len(old) + 1 : -2]
    if "(" not in steps:
        return True
    # Several steps at once (``q = q.filter(...).order_by(...)``): each refines it.
    return all(step in REFINING for step in steps.split("()."))


_PARAMETER = re.compile(r"\?[^:()]+:\w+")
"""An untyped parameter's name for its type (``parameter_type``), at a target's start."""


def _prefix_ends(target: str) -> list[int]:
    return [i for i, char in enumerate(target) if i > 0 and char in ".("] + [len(target)]


_HARMLESS_DECORATORS = frozenset(
    {
        "abc.abstractmethod",
        "builtins.classmethod",
        "builtins.property",
        "builtins.staticmethod",
        "functools.cache",
        "functools.cached_property",
        "functools.lru_cache",
        "typing.overload",
        "typing_extensions.overload",
    }
)
"""Decorators that only wrap the function they are given: nothing else keeps it."""


def _replaced(functions: Iterable[FunctionFact]) -> set[int]:
    """The ids of the definitions of one module that a later ``def`` of the same name
    replaces whenever they run: Python binds the name again, and nothing reaches the
    earlier one. Not those in another branch (``if``/``else``, ``try``/``except``: either
    may run), nor those a decorator may have registered (two routes named alike both
    serve requests)."""
    by_name: dict[str, list[FunctionFact]] = {}
    for function in functions:
        by_name.setdefault(function.qualname, []).append(function)
    dead: set[int] = set()
    for same in by_name.values():
        for earlier in same:
            if any(
                d not in _HARMLESS_DECORATORS and not d.endswith((".setter", ".getter", ".deleter"))
                for d in earlier.decorators
            ):
                continue
            if any(
                later.line > earlier.line and earlier.block[: len(later.block)] == later.block
                for later in same
            ):
                dead.add(id(earlier))
    return dead


def named_apart(functions: Iterable[FunctionFact]) -> list[tuple[FunctionFact, bool]]:
    """The functions of one module, each with whether anything reaches it. One that a
    later ``def`` of the same name replaces whenever it runs is named apart, for its line
    (``app.create@12``): dead if nothing registered it first (``_replaced``), live if a
    decorator did (``@router.get("/")`` then ``@router.post("/")`` over two ``def
    create``: both serve requests). A call of the name reaches the later one, as in
    Python, and nothing can call the earlier one by its name."""
    listed = list(functions)
    dead = _replaced(listed)
    named: list[tuple[FunctionFact, bool]] = []
    for function in listed:
        live = id(function) not in dead
        if any(
            later.qualname == function.qualname
            and later.line > function.line
            and function.block[: len(later.block)] == later.block
            for later in listed
        ):
            function = replace(function, qualname=f"{function.qualname}@{function.line}")
        named.append((function, live))
    return named


def shown(qualname: str) -> str:
    """A function's name as its ``def`` spells it (``create`` for ``app.create@12``)."""
    return qualname.rpartition(".")[2].partition("@")[0]


class FactCollector(cst.CSTVisitor):
    """Collects the functions, classes, calls and references of one module."""

    METADATA_DEPENDENCIES = (QualifiedNameProvider, PositionProvider)

    def __init__(
        self,
        path: Path,
        module: str,
        package: str,
        imports: ImportPlanner | None = None,
        needed: tuple[NeededName, ...] = (),
    ) -> None:
        super().__init__()
        self.imports = imports
        self.needed = needed
        """The names the codemods' rewrites write into functions: each function's
        ``shadowed`` says which of them mean something else in it."""
        self._yield_dependencies: set[str] = set()
        """The module-level generators shaped as a yield dependency (``get_db``)."""
        self.path = path
        self.module = module
        self.package = package
        self.functions: list[FunctionFact] = []
        self.applications: list[tuple[str, str]] = []
        self.classes: list[tuple[str, tuple[str, ...]]] = []
        self._objects: dict[str, str | None] = {}
        self._returns: dict[str, str | None] = {}
        """``ModuleFacts.returns``, None where unknown (left out of the facts)."""
        self._declared: dict[str, str | None] = {}
        """The types of class attributes, by instance attribute (``app.repo.Repo().db``):
        objects where no method assigns them."""
        self.references: list[Reference] = []
        self.module_calls: list[CallFact] = []
        self._call_targets: dict[cst.Call, tuple[str, ...]] = {}
        """What each call may call: what a reference passed to it is passed to."""
        self.uses_fastapi = False
        self.star_imports: list[str] = []
        self.init_attributes: list[tuple[str, str, int, str]] = []
        self._handed: str | None = None
        """The name an assignment reads, while its targets are recorded."""
        self.super_inits: list[tuple[str, tuple[str | None, ...], tuple[tuple[str, str], ...]]] = []
        # The enclosing definitions, innermost last: (node, qualname, calls, local types).
        self._functions: list[_FunctionFrame] = []
        self._classes: list[str] = []
        self._innermost: list[str] = []
        """``"class"`` or ``"def"`` for each enclosing definition."""
        self._awaited: set[cst.CSTNode] = set()
        self._not_offloadable: set[cst.CSTNode] = set()
        self._sync_depth: list[int] = [0]
        """Per function: how many lambdas and generator expressions enclose us."""
        self._blocks: list[int] = []
        """The numbers of the indented blocks around us (``FunctionFact.block``)."""
        self._block_count = 0
        self._skip: set[cst.CSTNode] = set()
        self._pending: list[tuple[cst.Assign, str | None, str | None]] = []
        """Assignments in a function whose value is being walked: the names take their
        types when it is (``leave_Assign``)."""
        self._arguments: dict[cst.CSTNode, cst.Call] = {}
        self._overrides: set[cst.CSTNode] = set()
        """The key and value of ``app.dependency_overrides[dep] = override``."""

    # -- names -------------------------------------------------------------------------

    def _qualified(self, node: cst.CSTNode) -> tuple[str, ...]:
        provider: Any = QualifiedNameProvider  # libcst's stub cannot type this provider
        names: Iterable[QualifiedName] = self.get_metadata(provider, node, set())
        return tuple(sorted({fully_qualified(q, self.module, self.package) for q in names}))

    def _local_types(self) -> dict[str, str | None]:
        """The known types of the names visible here: the innermost function's locals,
        then those of the functions around it (closures)."""
        if not self._functions:
            return {}
        if len(self._functions) == 1:
            return self._functions[0].types
        visible: dict[str, str | None] = {}
        for frame in self._functions:
            visible.update(frame.types)
        return visible

    def _parameter(self, name: str) -> str:
        """What a local of no type is: an untyped parameter of the innermost function,
        what the index learns it is from its calls (``parameter_type``); else unknown."""
        frame = self._functions[-1]
        if name in frame.untyped and frame.types.get(name, "") is None:
            return parameter_type(frame.qualnames[0], name)
        return UNKNOWN

    def _either(self, name: str) -> tuple[str, ...]:
        """The types a local of no single type may have (``session: Session | None =
        None``, then ``session = get_session()``): each, where every assignment's is known;
        the plan classifies a call on it only if they all agree."""
        for frame in reversed(self._functions):
            if name in frame.types:
                return tuple(sorted(frame.either.get(name) or ()))
        return ()

    def _targets(self, expression: cst.BaseExpression) -> tuple[str, ...]:
        """What calling ``expression`` may call (see the module docstring)."""
        if isinstance(expression, cst.Name):
            local = self._local_types()
            if expression.value in local:
                kind = local[expression.value]
                return (f"{kind}",) if kind is not None else self._either(expression.value)
            names = self._qualified(expression)
            if not names and self.star_imports:
                # A name no statement of the module binds, in a module that imports
                # everything from others: the module's own name for it, which the index
                # maps to where the star import found it (``ProjectIndex.merge``).
                return (f"{self.module}.{expression.value}",)
            return names
        if isinstance(expression, cst.Attribute):
            owners = self._receiver(expression.value)
            if owners is None:
                return self._qualified(expression)
            return tuple(f"{owner}.{expression.attr.value}" for owner in owners)
        return ()

    def _receiver(self, expression: cst.BaseExpression) -> tuple[str, ...] | None:
        """The types or qualified names of a receiver; None to let libcst qualify the
        whole dotted name (modules, classes, module-level objects)."""
        if isinstance(expression, cst.Name):
            local = self._local_types()
            if expression.value in local:
                kind = local[expression.value]
                if kind is not None:
                    return (kind,)
                return self._either(expression.value) or (self._parameter(expression.value),)
            names = self._qualified(expression)
            if not names and self.star_imports:
                # What ``from x import *`` brought in (``ProjectIndex.merge``).
                return (f"{self.module}.{expression.value}",)
            if not names or any("<locals>" in name for name in names):
                return (UNKNOWN,)  # a loop variable, an ``except ... as e``...
            return None
        if isinstance(expression, cst.Attribute):
            owners = self._receiver(expression.value)
            if owners is None:
                return None
            return tuple(f"{owner}.{expression.attr.value}" for owner in owners)
        if isinstance(expression, cst.Call):
            if (
                isinstance(expression.func, cst.Name)
                and expression.func.value == "super"
                and self._functions
                and self._functions[-1].owner_class is not None
            ):
                # ``super().fetch()``: a method of the class's own lineage (its own
                # override aside, which the plan treats as a conflict anyway).
                return (f"{self._functions[-1].owner_class}()",)
            inner = self._targets(expression.func)
            return tuple(f"{target}()" for target in inner) or (UNKNOWN,)
        literal = _LITERAL_TYPES.get(type(expression))
        return (f"{literal}()",) if literal else (UNKNOWN,)

    def _type_of(self, value: cst.BaseExpression) -> str | None:
        """The type of an assigned value, as a target string; None when unknown."""
        if isinstance(value, cst.Call):
            model = _row_model(value)
            if model is not None:
                names = self._qualified(model)
                return f"{names[0]}()" if len(names) == 1 else None
            targets = self._targets(value.func)
            return f"{targets[0]}()" if len(targets) == 1 else None
        if isinstance(value, cst.Await):
            # ``user = await load_user()``: what the coroutine gives, which the index
            # reads from the async function's return annotation (``ProjectIndex.returns``).
            return (
                self._type_of(value.expression) if isinstance(value.expression, cst.Call) else None
            )
        if isinstance(value, cst.Name) and self._functions:
            # ``self.db = db``: a parameter or a local, kept for the methods to use.
            return self._local_types().get(value.value)
        if isinstance(value, cst.Attribute) and not self._functions:
            # ``songs = client.db.songs`` at module level: what the index says it names.
            names = self._qualified(value)
            return names[0] if len(names) == 1 and "<locals>" not in names[0] else None
        if (
            isinstance(value, cst.Attribute)
            and isinstance(value.value, cst.Name)
            and self._functions
        ):
            # ``session = self.session``: what the attribute is, once the index knows.
            owner = self._local_types().get(value.value.value)
            return f"{owner}.{value.attr.value}" if owner and owner.endswith("()") else None
        literal = _LITERAL_TYPES.get(type(value))
        return f"{literal}()" if literal else None

    def _annotation_type(self, annotation: cst.Annotation | None) -> str | None:
        if annotation is None:
            return None
        return self._type_expression(annotation.annotation)

    def _type_expression(self, node: cst.BaseExpression) -> str | None:
        """The type of what ``node`` annotates, as a target string (``Session``:
        ``sqlalchemy.orm.Session()``); None when unknown. ``Annotated[T, ...]``,
        ``Optional[T]`` and ``T | None`` are a ``T``; ``Annotated[Any, Depends(f)]`` is
        what ``f`` gives."""
        if isinstance(node, cst.Subscript) and node.slice:
            outer = set(self._qualified(node.value))
            elements = [e.slice.value for e in node.slice if isinstance(e.slice, cst.Index)]
            if outer & (ANNOTATED | OPTIONAL | UNION) and len(elements) != len(node.slice):
                return None
            if outer & ANNOTATED:
                kind = self._type_expression(elements[0])
                if kind is None or kind[:-2] in NO_TYPE:
                    return self._dependency(elements[1:]) or kind
                return kind
            if outer & OPTIONAL:
                return self._type_expression(elements[0])
            if outer & UNION:
                return self._one_of(elements)
            node = node.value  # dict[str, Any] -> dict
        if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.BitOr):
            return self._one_of(_alternatives(node))
        names = self._qualified(node)
        return f"{names[0]}()" if len(names) == 1 else None

    def _one_of(self, alternatives: Iterable[cst.BaseExpression]) -> str | None:
        """The type of a union: its one type besides None, else unknown."""
        kinds = {self._type_expression(node) for node in alternatives if not _is_none(node)}
        return kinds.pop() if len(kinds) == 1 else None

    def _dependency(self, values: Iterable[cst.BaseExpression]) -> str | None:
        """What FastAPI passes for a parameter marked with one of ``values``:
        ``Depends(get_db)``'s is what ``get_db`` returns or yields (``app.deps.get_db()``);
        None for ``Depends()`` (the annotation says) and anything else."""
        for value in values:
            if not isinstance(value, cst.Call) or not set(self._qualified(value.func)) & DEPENDS:
                continue
            given = [
                arg.value
                for arg in value.args
                if (arg.keyword is None and not arg.star) or _keyword(arg) == "dependency"
            ]
            targets = self._targets(given[0]) if given else ()
            return f"{targets[0]}()" if len(targets) == 1 else None
        return None

    def _parameter_type(self, param: cst.Param) -> str | None:
        kind = self._annotation_type(param.annotation)
        if (kind is None or kind[:-2] in NO_TYPE) and param.default is not None:
            kind = self._dependency((param.default,)) or kind
        if (kind is None or kind[:-2] in NO_TYPE) and param.default is not None:
            # ``client=cognito_client``: the object named, made once (the index knows
            # its type where it knows the name's).
            return _default_object(param.default, self._qualified(param.default)) or kind
        return kind

    # -- definitions -------------------------------------------------------------------

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        names = self._qualified(node.name) or (f"{self.module}.{node.name.value}",)
        # ``BaseRepository[Item]``: the generic class itself (``Generic[T]`` is no base).
        bases = tuple(
            base
            for argument in node.bases
            for base in self._targets(
                argument.value.value
                if isinstance(argument.value, cst.Subscript)
                else argument.value
            )
            if base not in GENERIC
        )
        self.classes.extend((name, bases) for name in names)
        self._classes.append(names[0])
        self._innermost.append("class")
        self._sync_depth[-1] += 1  # a class body inside a function cannot await
        self._skip.add(node.name)

    def leave_ClassDef(self, original_node: cst.ClassDef) -> None:
        self._classes.pop()
        self._innermost.pop()
        self._sync_depth[-1] -= 1

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._skip.add(node.name)
        qualnames = self._qualified(node.name) or (f"{self.module}.{node.name.value}",)
        in_class = self._classes[-1] if self._innermost[-1:] == ["class"] else None
        self._innermost.append("def")
        types: dict[str, str | None] = {}
        for param in (*node.params.posonly_params, *node.params.params):
            types[param.name.value] = self._parameter_type(param)
        for param in node.params.kwonly_params:
            types[param.name.value] = self._parameter_type(param)
        plain = [*node.params.posonly_params, *node.params.params]
        decorators = {
            d.decorator.value for d in node.decorators if isinstance(d.decorator, cst.Name)
        }
        bound = 0
        if in_class is not None and plain and "staticmethod" not in decorators:
            first = plain[0].name.value
            types[first] = in_class if "classmethod" in decorators else f"{in_class}()"
            bound = 1
        untyped = {
            param.name.value: position
            for position, param in enumerate(plain)
            if position >= bound and _untyped(param.annotation, param.default)
        }
        untyped.update(
            (param.name.value, KEYWORD_ONLY)
            for param in node.params.kwonly_params
            if _untyped(param.annotation, param.default)
        )
        self._functions.append(
            _FunctionFrame(
                node, qualnames, in_class, types, block=tuple(self._blocks), untyped=untyped
            )
        )
        self._sync_depth.append(0)

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        frame = self._functions.pop()
        _forget_rebound(frame.calls, frame.qualnames[0], frame.rebound)
        # A name given another type later in the function may hold either when a call
        # before it runs in a loop: such calls are of an unknown object. Outside a loop,
        # a call before the assignment is of what the name held then.
        for position, name, kind, looped in frame.typed_calls:
            if looped and frame.types.get(name) != kind:
                call = frame.calls[position]
                frame.calls[position] = replace(
                    call,
                    targets=tuple(
                        UNKNOWN + t[len(kind) :] if t.startswith(kind) else t for t in call.targets
                    ),
                )
        self._sync_depth.pop()
        self._innermost.pop()
        node = frame.node
        decorators: list[str] = []
        for decorator in node.decorators:
            target = decorator.decorator
            if isinstance(target, cst.Call):
                target = target.func
            decorators.extend(self._qualified(target))
        where = self.get_metadata(PositionProvider, node)
        if (
            frame.generator
            and not self._functions
            and frame.owner_class is None
            and not in_pytest_file(str(self.path))
            and dependency_shaped(node)
        ):
            self._yield_dependencies |= set(frame.qualnames)
        given = self._gives(frame)
        for qualname in frame.qualnames:
            for made in self._calls_of(frame, qualname):
                self._returned(made, given)
        for qualname in frame.qualnames:
            self.functions.append(
                FunctionFact(
                    qualname=qualname,
                    path=self.path,
                    line=where.start.line,
                    column=where.start.column + 1,
                    is_async=node.asynchronous is not None,
                    decorators=tuple(decorators),
                    calls=tuple(frame.calls),
                    is_generator=frame.generator,
                    owner_class=frame.owner_class,
                    name_line=self.get_metadata(PositionProvider, node.name).start.line,
                    shadowed=self._shadowed(node),
                    sync_only=frame.sync_only
                    or ("it returns a value" if frame.generator and frame.returns_value else ""),
                    end=(where.end.line, where.end.column + 1),
                    untyped=tuple(
                        (position, name)
                        for name, position in frame.untyped.items()
                        if name not in frame.rebound
                    ),
                    block=frame.block,
                )
            )

    def _shadowed(self, node: cst.FunctionDef) -> tuple[str, ...]:
        if self.imports is None or not isinstance(node.body, cst.IndentedBlock):
            return ()
        inside = node.body.body[0] if node.body.body else node.body
        imports = self.imports
        scope = imports.scopes.get(inside)
        shadowed = []
        for needed in self.needed:
            if needed.local:
                taken = scope is not None and bool(scope[needed.label])
            elif needed.name:
                taken = imports.name_alias(inside, needed.module, needed.name) is None
            else:
                taken = imports.module_alias(inside, needed.module) is None
            if taken and needed.label not in shadowed:
                shadowed.append(needed.label)
        return tuple(shadowed)

    def visit_IndentedBlock(self, node: cst.IndentedBlock) -> None:
        self._block_count += 1
        self._blocks.append(self._block_count)

    def leave_IndentedBlock(self, original_node: cst.IndentedBlock) -> None:
        self._blocks.pop()

    def visit_FunctionDef_body(self, node: cst.FunctionDef) -> None:
        self._functions[-1].in_body = True

    def visit_Lambda(self, node: cst.Lambda) -> None:
        self._sync_depth[-1] += 1

    def leave_Lambda(self, original_node: cst.Lambda) -> None:
        self._sync_depth[-1] -= 1

    def visit_GeneratorExp(self, node: cst.GeneratorExp) -> None:
        self._sync_depth[-1] += 1

    def leave_GeneratorExp(self, original_node: cst.GeneratorExp) -> None:
        self._sync_depth[-1] -= 1

    def visit_Yield(self, node: cst.Yield) -> None:
        if self._functions and self._sync_depth[-1] == 0:
            self._functions[-1].generator = True
            value = node.value
            yielded = (
                self._value_type(value)
                if value is not None and not isinstance(value, cst.From)
                else (None, None)
            )
            self._functions[-1].yields.append(yielded)
            if isinstance(node.value, cst.From):
                self._functions[-1].sync_only = "it uses `yield from`"

    def visit_Return(self, node: cst.Return) -> None:
        if self._functions and node.value is not None:
            self._functions[-1].returns_value = True
            if not _is_none(node.value):  # an ``Optional`` result is what it is when not None
                self._functions[-1].results.append(self._value_type(node.value))

    def _value_type(self, value: cst.BaseExpression) -> tuple[str | None, str | None]:
        """What ``value`` is, as a target string (``db``: ``app.db.SessionLocal()``; a
        module-level name: that name), and the local name it is read from, if any (whose
        type may change later in the function)."""
        if isinstance(value, cst.Name) and value.value in self._functions[-1].types:
            return self._functions[-1].types[value.value], value.value
        if isinstance(value, cst.Name | cst.Attribute):
            targets = self._targets(value)
            known = len(targets) == 1 and "<locals>" not in targets[0]
            return (targets[0] if known and not targets[0].startswith(UNKNOWN) else None), None
        return self._type_of(value), None

    def _gives(self, frame: _FunctionFrame) -> str | None:
        """What calling the function of ``frame`` gives: what its return annotation says,
        else the one type of every value it returns; for a generator, what it yields (a
        dependency or a ``@contextmanager``: ``Iterator[Session]``, ``yield db``)."""
        node = frame.node
        if node.returns is not None:
            annotation = node.returns.annotation
            if (
                frame.generator
                and isinstance(annotation, cst.Subscript)
                and set(self._qualified(annotation.value)) & YIELDING
            ):
                first = annotation.slice[0].slice
                kind = self._type_expression(first.value) if isinstance(first, cst.Index) else None
            else:
                kind = self._type_expression(annotation)
            if kind is not None and kind[:-2] not in NO_TYPE | {"builtins.None"}:
                return kind
        given = {
            kind if name is None or frame.types.get(name) == kind else None
            for kind, name in (frame.yields if frame.generator else frame.results)
        }
        return given.pop() if len(given) == 1 else None

    def _calls_of(self, frame: _FunctionFrame, qualname: str) -> tuple[str, ...]:
        """How the function of ``frame`` is called, as targets: ``app.db.get_conn()``, a
        method's ``app.repo.Repo().get()``, a property's ``app.repo.Repo().session``."""
        if "<locals>" in qualname:
            return ()
        owner = frame.owner_class
        if owner is None:
            return (f"{qualname}()",)
        name = frame.node.name.value
        decorators = {
            qualified
            for decorator in frame.node.decorators
            for qualified in self._qualified(decorator.decorator)
        }
        if decorators & {"builtins.property", "functools.cached_property"}:
            return (f"{owner}().{name}",)
        if decorators & {"builtins.staticmethod", "builtins.classmethod"}:
            return (f"{owner}.{name}()", f"{owner}().{name}()")
        return (f"{owner}().{name}()",)

    def visit_Import(self, node: cst.Import) -> bool:
        self.uses_fastapi |= any(
            _dotted(alias.name).split(".")[0] == "fastapi" for alias in node.names
        )
        if not self._functions and not self._classes:
            # ``import psycopg2`` in ``app/db.py``: ``app.db.psycopg2`` is that module, for
            # whoever imports it from there (``from app.db import *``, ``import psycopg2``'s
            # re-export).
            for alias in node.names:
                name = _dotted(alias.name)
                if alias.asname is not None:
                    bound, source = _dotted(alias.asname.name), name
                else:
                    bound = source = name.split(".")[0]
                self._objects.setdefault(f"{self.module}.{bound}", source)
        return False

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        module = node.module
        if module is not None and not node.relative:
            self.uses_fastapi |= _dotted(module).split(".")[0] == "fastapi"
        if self._functions or self._classes or isinstance(node.names, cst.ImportStar):
            if isinstance(node.names, cst.ImportStar) and not self._functions:
                self.star_imports.append(self._imported_module(node))
            return False
        source = self._imported_module(node)
        for alias in node.names:
            name = _dotted(alias.name)
            bound = _dotted(alias.asname.name) if alias.asname is not None else name
            # ``from .mod import helper`` in ``pkg/__init__.py``: ``pkg.helper`` is
            # ``pkg.mod.helper``, for whoever imports it from ``pkg``.
            self._objects.setdefault(f"{self.module}.{bound}", f"{source}.{name}")
        return False

    def _imported_module(self, node: cst.ImportFrom) -> str:
        dots = len(node.relative)
        module = _dotted(node.module) if node.module is not None else ""
        if not dots:
            return module
        bits = self.package.rsplit(".", dots - 1) if self.package else [""]
        base = bits[0] if len(bits) == dots else ""
        return ".".join(part for part in (base, module) if part)

    # -- objects -----------------------------------------------------------------------

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            stored = target.target
            if (
                isinstance(stored, cst.Subscript)
                and isinstance(stored.value, cst.Attribute)
                and stored.value.attr.value == "dependency_overrides"
                and len(stored.slice) == 1
                and isinstance(stored.slice[0].slice, cst.Index)
            ):
                # ``app.dependency_overrides[get_db] = override``: FastAPI calls both.
                self._overrides.update((stored.slice[0].slice.value, node.value))
            if (
                isinstance(stored, cst.Attribute)
                and stored.attr.value == "dependency_overrides"
                and isinstance(node.value, cst.Dict)
            ):
                # ``app.dependency_overrides = {get_db: override}``: the same, each pair.
                for element in node.value.elements:
                    if isinstance(element, cst.DictElement):
                        self._overrides.update((element.key, element.value))
        kind = self._type_of(node.value)
        bound = {
            f"{self.module}.{target.target.value}"
            for target in node.targets
            if isinstance(target.target, cst.Name)
        }
        made = self._sessions(node.value, bound)
        if made is None and not self._functions and self._alias_shaped(node.value):
            made = self._type_expression(node.value)
        if self._functions:
            # A local takes its new type once the value is made: ``body =
            # Todo(**body.model_dump())`` calls the parameter's method (``leave_Assign``).
            for target in node.targets:
                self._skip.update(_bound_names(target.target))
            self._pending.append((node, kind, made))
        else:
            self._assign(node, kind, made)
        if not self._functions and self._innermost[-1:] == ["class"]:
            # A class attribute (``pwd_context = CryptContext(...)``), not annotated
            # (a dataclass's or a model's fields are): read through the class and, where
            # nothing else says, its instances (``ProjectIndex._known``).
            for target in node.targets:
                if isinstance(target.target, cst.Name):
                    self._object(f"{self._classes[-1]}.{target.target.value}", kind, made)
        if self._functions or not isinstance(node.value, cst.Call):
            return
        classes = set(self._qualified(node.value.func))
        app = next(iter(sorted(classes & (FASTAPI_APPS | FASTAPI_ROUTERS))), None)
        if app is None:
            return
        for target in node.targets:
            if isinstance(target.target, cst.Name):
                for qualname in self._qualified(target.target):
                    self.applications.append((qualname, app))

    def visit_ExceptHandler(self, node: cst.ExceptHandler) -> None:
        # ``except ValidationError as e``: ``e.json()`` is a call of the class's method.
        if (
            self._functions
            and node.name is not None
            and isinstance(node.name.name, cst.Name)
            and isinstance(node.type, cst.Name | cst.Attribute)
        ):
            names = self._qualified(node.type)
            if len(names) == 1:
                type_local(self._functions[-1], node.name.name.value, f"{names[0]}()")

    def leave_Assign(self, original_node: cst.Assign) -> None:
        if self._pending and self._pending[-1][0] is original_node:
            self._assign(*self._pending.pop())

    def _assign(self, node: cst.Assign, kind: str | None, made: str | None) -> None:
        self._handed = node.value.value if isinstance(node.value, cst.Name) else None
        for target in node.targets:
            self._assigned(target.target, kind, made)
        self._handed = None

    def visit_While(self, node: cst.While) -> None:
        if self._functions:
            self._functions[-1].loops += 1

    def leave_While(self, original_node: cst.While) -> None:
        if self._functions:
            self._functions[-1].loops -= 1

    def leave_For(self, original_node: cst.For) -> None:
        if self._functions:
            self._functions[-1].loops -= 1

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is not None and set(self._qualified(node.annotation.annotation)) & TYPE_ALIAS:
            # ``SessionDep: TypeAlias = Annotated[Session, Depends(get_db)]``
            self._assigned(node.target, None, self._type_expression(node.value))
            return
        if self._innermost[-1:] == ["class"] and isinstance(node.target, cst.Name):
            self._declare(node.target.value, node.annotation.annotation)
        kind = self._type_of(node.value) if node.value is not None else None
        self._assigned(node.target, kind or self._annotation_type(node.annotation))

    def _declare(self, name: str, annotation: cst.BaseExpression) -> None:
        """A class attribute's annotation (``session: Session``, a dataclass's field): what
        ``self.<name>`` is where no method assigns it. (Not its value: a class attribute
        may be a descriptor, ``Column(DateTime)`` or ``field(...)``.)"""
        if isinstance(annotation, cst.Subscript) and set(self._qualified(annotation.value)) & (
            CLASS_VARIABLE | MAPPED
        ):
            first = annotation.slice[0].slice
            kind = self._type_expression(first.value) if isinstance(first, cst.Index) else None
        else:
            kind = self._type_expression(annotation)
        if kind is not None:
            attribute = f"{self._classes[-1]}().{name}"
            old = self._declared.get(attribute, kind)
            self._declared[attribute] = kind if old == kind else None

    def visit_TypeAlias(self, node: cst.TypeAlias) -> None:
        # ``type SessionDep = Annotated[Session, Depends(get_db)]`` (Python 3.12); a
        # generic alias's parameters mean nothing outside it.
        made = self._type_expression(node.value) if node.type_parameters is None else None
        self._assigned(node.name, None, made)

    def _alias_shaped(self, value: cst.BaseExpression) -> bool:
        """Whether a module-level value is a type alias: ``Annotated[...]``,
        ``Optional[...]``, ``Union[...]``, ``X | None``, or another name (``DB = Session``)."""
        if isinstance(value, cst.BinaryOperation):
            return any(_is_none(node) for node in _alternatives(value))
        if isinstance(value, cst.Subscript):
            return bool(set(self._qualified(value.value)) & (ANNOTATED | OPTIONAL | UNION))
        return isinstance(value, cst.Name | cst.Attribute) and not _is_none(value)

    def _sessions(self, value: cst.BaseExpression, bound: set[str]) -> str | None:
        """What a session factory makes, where the blocking table's word on the factory's
        products is wrong: ``sessionmaker(class_=AsyncSession)``'s sessions are
        ``AsyncSession``s (even where the factory is itself named ``AsyncSession``: the
        class is the one it is made of, not the name ``bound``), ``async_sessionmaker()``'s
        too. None for anything else."""
        if not isinstance(value, cst.Call):
            return None
        makers = [
            SESSION_MAKERS[name] for name in self._qualified(value.func) if name in SESSION_MAKERS
        ]
        if len(makers) != 1:
            return None
        for arg in value.args:
            if _keyword(arg) == SESSION_CLASS:
                names = [name for name in self._qualified(arg.value) if name not in bound]
                return f"{names[0]}()" if len(names) == 1 else None
        return f"{makers[0]}()" if makers[0] is not None else None

    def visit_WithItem(self, node: cst.WithItem) -> None:
        self._not_offloadable.add(node.item)
        if node.asname is not None:
            self._assigned(node.asname.name, self._type_of(node.item))

    def visit_For(self, node: cst.For) -> None:
        if self._functions:
            self._functions[-1].loops += 1
        self._assigned(node.target, None)
        if node.asynchronous is None:
            self._iteration(node, node.iter)

    def visit_CompFor(self, node: cst.CompFor) -> None:
        if node.asynchronous is None:
            self._iteration(node, node.iter)

    def _iteration(self, loop: cst.For | cst.CompFor, iterable: cst.BaseExpression) -> None:
        """``for row in rows``: a call of ``rows``' type's ``__iter__`` (``ITERATION``),
        where the loop's target starts, with no width (no call has none), when that
        type is known. Iterating a lazy query runs it (``calls.plan``)."""
        frame = self._functions[-1] if self._functions else None
        if frame is None or not frame.in_body:
            return
        owners = self._receiver(iterable)
        if owners is None:
            owners = self._qualified(iterable)
        kinds = tuple(o for o in owners if not o.startswith(UNKNOWN) and "<locals>" not in o)
        if not kinds:
            return
        first: cst.BaseExpression = loop.target
        while isinstance(first, cst.Tuple | cst.List) and first.elements:
            first = first.elements[0].value
        where = self.get_metadata(PositionProvider, first).start
        line, column = where.line, where.column + 1
        _typed_base(frame, iterable)
        fact = CallFact(
            tuple(f"{kind}{ITERATION}" for kind in kinds),
            line,
            column,
            awaited=False,
            awaitable=self._sync_depth[-1] == 0,
            offloadable=False,
            end=(line, column),
        )
        frame.calls.append(fact)

    def _assigned(
        self, target: cst.BaseExpression, kind: str | None, made: str | None = None
    ) -> None:
        """Record the type of an assigned name: a local, a module-level object, or an
        instance attribute (``self.client = httpx.Client()``); for the latter two, what
        calling it gives where its type does not say (``made``: a type alias's instances,
        a session factory's sessions)."""
        if isinstance(target, cst.Name):
            self._skip.add(target)
            if self._functions:
                type_local(self._functions[-1], target.value, kind)
                return
            if not self._classes:
                self._object(f"{self.module}.{target.value}", kind, made)
            return
        if isinstance(target, cst.Tuple | cst.List):
            for element in target.elements:
                self._assigned(element.value, None)
            return
        typed = (
            isinstance(target, cst.Attribute)
            and isinstance(target.value, cst.Name)
            and self._functions
            and (self._functions[-1].types.get(target.value.value) or "").endswith("()")
        )
        if typed and isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name):
            frame = self._functions[-1]
            owner = frame.types.get(target.value.value)
            if owner is not None and owner.endswith("()"):
                self._object(f"{owner}.{target.attr.value}", kind, made)
                if kind is None and self._handed is not None:
                    position = self._parameter_position(frame, self._handed)
                    if position is not None:
                        attribute = (owner[:-2], target.attr.value, position, self._handed)
                        self.init_attributes.append(attribute)
        elif isinstance(target, cst.Attribute) and kind is not None:
            # ``app.state.client = OpenAIProvider()``, ``app.MongoDb = MongoDb(url)``: an
            # attribute of a known object, read elsewhere through it (``request.app``).
            owners = self._receiver(target.value)
            if owners is None:
                owners = self._qualified(target.value)
            if len(owners) == 1 and not owners[0].startswith(UNKNOWN):
                self._object(f"{owners[0]}.{target.attr.value}", kind, made)

    def _parameter_position(self, frame: _FunctionFrame, name: str) -> int | None:
        """Where ``name`` is among the parameters of ``frame``, an ``__init__`` method,
        after ``self`` (``KEYWORD_ONLY`` for a keyword-only one), if it is an untyped
        one; None otherwise."""
        node = frame.node
        if frame.owner_class is None or node.name.value != "__init__" or frame.types.get(name):
            return None
        plain = [param.name.value for param in (*node.params.posonly_params, *node.params.params)]
        if name in plain[1:]:
            return plain.index(name) - 1
        if any(param.name.value == name for param in node.params.kwonly_params):
            return KEYWORD_ONLY
        return None

    def _object(self, name: str, kind: str | None, made: str | None = None) -> None:
        """A module-level name or an instance attribute: its type, if every assignment
        agrees (``repo = MemRepo()`` in one branch, ``DiskRepo()`` in the other: none),
        and what calling it gives, likewise."""
        self._objects[name] = kind if self._objects.get(name, kind) == kind else None
        self._returned(f"{name}()", made)

    def _returned(self, call: str, kind: str | None) -> None:
        """What ``call`` gives, if every definition agrees."""
        self._returns[call] = kind if self._returns.get(call, kind) == kind else None

    # -- calls and references ----------------------------------------------------------

    def visit_Await(self, node: cst.Await) -> None:
        self._awaited.add(node.expression)

    def visit_Attribute(self, node: cst.Attribute) -> None:
        self._skip.add(node.value)  # part of a dotted name, not a reference of its own

    def visit_Call(self, node: cst.Call) -> None:
        self._skip.add(node.func)
        for argument in node.args:
            self._arguments[argument.value] = node
        targets = self._targets(node.func)
        self._call_targets[node] = targets
        where = self.get_metadata(PositionProvider, node)
        fact = CallFact(
            targets,
            where.start.line,
            where.start.column + 1,
            awaited=node in self._awaited,
            awaitable=self._sync_depth[-1] == 0,
            offloadable=node not in self._not_offloadable
            and isinstance(node.func, cst.Name | cst.Attribute),
            end=(where.end.line, where.end.column + 1),
        )
        frame = self._functions[-1] if self._functions else None
        if frame is not None and node.args:
            fact = replace(fact, arguments=self._argument_types(node))
        if frame is not None and frame.owner_class is not None and _super_init(node):
            self._super_init(frame.owner_class, node)
        if frame is not None and frame.in_body:
            _typed_base(frame, node.func)
            frame.calls.append(fact)
        elif targets:
            keywords = tuple(
                a.keyword.value if a.keyword is not None else "**"
                for a in node.args
                if a.keyword is not None or a.star == "**"
            )
            self.module_calls.append(replace(fact, keywords=keywords))

    def _argument_types(self, node: cst.Call) -> tuple[tuple[str, str], ...]:
        """``CallFact.arguments``: positional ones up to the first ``*``, then keywords."""
        positional: list[tuple[str, str]] = []
        keywords: list[tuple[str, str]] = []
        position = 0
        starred = False
        for argument in node.args:
            if argument.star:
                starred = starred or argument.star == "*"
                continue
            if argument.keyword is None and starred:
                continue
            kind = self._argument_type(argument.value)
            if argument.keyword is None:
                if kind is not None:
                    positional.append((str(position), kind))
                position += 1
            elif kind is not None:
                keywords.append((argument.keyword.value, kind))
        return (*positional, *keywords)

    def _argument_type(self, value: cst.BaseExpression) -> str | None:
        """The type of an argument that is a local or an attribute; None if unknown."""
        if isinstance(value, cst.Name):
            local = self._local_types()
            if value.value not in local:
                return None
            kind = local[value.value]
            if kind is not None:
                return kind
            placeholder = self._parameter(value.value)
            return placeholder if placeholder != UNKNOWN else None
        if isinstance(value, cst.Attribute):
            return self._type_of(value)
        return None

    def _super_init(self, cls: str, node: cst.Call) -> None:
        """Record what ``super().__init__(...)`` hands the base class
        (``ModuleFacts.super_inits``)."""
        positional: list[str | None] = []
        keywords: list[tuple[str, str]] = []
        for argument in node.args:
            if argument.star:
                if argument.star == "*":
                    break
                continue
            kind = self._type_of(argument.value)
            if argument.keyword is not None:
                if kind is not None:
                    keywords.append((argument.keyword.value, kind))
            else:
                positional.append(kind)
        self.super_inits.append((cls, tuple(positional), tuple(keywords)))

    def visit_Name(self, node: cst.Name) -> None:
        self._reference(node)

    def leave_Attribute(self, original_node: cst.Attribute) -> None:
        self._reference(original_node)

    def _reference(self, node: cst.Name | cst.Attribute) -> None:
        if node in self._skip:
            return
        if isinstance(node, cst.Name) and node.value in self._local_types():
            return
        # ``self.tick`` and ``worker.tick`` resolve as a call's function would.
        targets = self._targets(node) if isinstance(node, cst.Attribute) else self._qualified(node)
        if not targets or any(t.startswith("builtins.") for t in targets):
            return
        call = self._arguments.get(node)
        via = next(iter(self._call_targets.get(call, ())), "") if call is not None else ""
        if node in self._overrides:
            via = OVERRIDES
        where = self.get_metadata(PositionProvider, node)
        function = self._functions[-1].qualnames[0] if self._functions else None
        self.references.append(
            Reference(targets, where.start.line, where.start.column + 1, via, function)
        )

    def facts(self, collected: tuple[tuple[type[Collector[Any]], object], ...] = ()) -> ModuleFacts:
        declared = {name: kind for name, kind in self._declared.items() if kind is not None}
        objects = {**declared, **self._objects}
        return ModuleFacts(
            path=self.path,
            module=self.module,
            functions=tuple(self.functions),
            applications=tuple(self.applications),
            collected=collected,
            classes=tuple(self.classes),
            objects=tuple(sorted(objects.items(), key=lambda item: item[0])),
            returns=tuple(sorted((k, v) for k, v in self._returns.items() if v is not None)),
            references=tuple(self.references),
            module_calls=tuple(self.module_calls),
            uses_fastapi=self.uses_fastapi,
            star_imports=tuple(self.star_imports),
            yield_dependencies=tuple(sorted(self._yield_dependencies)),
            init_attributes=tuple(self.init_attributes),
            super_inits=tuple(self.super_inits),
        )


@dataclass
class _FunctionFrame:
    node: cst.FunctionDef
    qualnames: tuple[str, ...]
    owner_class: str | None
    types: dict[str, str | None]
    calls: list[CallFact] = field(default_factory=list)
    generator: bool = False
    in_body: bool = False
    returns_value: bool = False
    sync_only: str = ""
    typed_calls: list[tuple[int, str, str, bool]] = field(default_factory=list)
    """Calls on a local name of known type: (index in ``calls``, name, that type,
    whether a loop runs it)."""
    loops: int = 0
    """The loops around the node being walked, in this function."""
    block: tuple[int, ...] = ()
    either: dict[str, frozenset[str] | None] = field(default_factory=dict)
    """The locals of no single type, with every type they are assigned (None when one
    of them is unknown)."""
    results: list[tuple[str | None, str | None]] = field(default_factory=list)
    """The types of the values it returns, with the local name each was read from."""
    yields: list[tuple[str | None, str | None]] = field(default_factory=list)
    """The same, of the values it yields."""
    untyped: dict[str, int] = field(default_factory=dict)
    """Its parameters of no type, by name: their positions (``FunctionFact.untyped``)."""
    rebound: set[str] = field(default_factory=set)
    """The names its body assigns."""


def _row_model(call: cst.Call) -> cst.BaseExpression | None:
    """The model class whose row an ORM query gives: ``db.query(User).filter(...).first()``,
    ``db.scalars(select(User).where(...)).one()``, ``db.get(User, 1)`` give a ``User``
    (``known.types.ROW_GETTERS``). The methods called on it are the model's own, not
    round trips; None for anything else."""
    func = call.func
    if not isinstance(func, cst.Attribute):
        return None
    plain = all(argument.keyword is None and not argument.star for argument in call.args)
    if func.attr.value == "get" and len(call.args) == 2 and plain:
        return _model_name(call.args[0].value)
    if func.attr.value not in ROW_GETTERS:
        return None
    node = func.value
    while (
        isinstance(node, cst.Call)
        and isinstance(node.func, cst.Attribute)
        and node.func.attr.value in QUERY_STEPS
    ):
        ran = node.func.attr.value in STATEMENT_RUNNERS and len(node.args) == 1
        if ran and (node.args[0].keyword is not None or node.args[0].star):
            return None
        node = node.args[0].value if ran else node.func.value
    if not isinstance(node, cst.Call) or len(node.args) != 1:
        return None
    if node.args[0].keyword is not None or node.args[0].star:
        return None
    maker = node.func.attr.value if isinstance(node.func, cst.Attribute) else None
    if isinstance(node.func, cst.Name):
        maker = node.func.value
    return _model_name(node.args[0].value) if maker in ("query", "select") else None


def _model_name(node: cst.BaseExpression) -> cst.BaseExpression | None:
    """``User`` or ``models.User``: a name a class is written with, not a column."""
    last = node.attr.value if isinstance(node, cst.Attribute) else None
    if isinstance(node, cst.Name):
        last = node.value
    return node if last is not None and last[:1].isupper() else None


def _default_object(default: cst.BaseExpression, names: tuple[str, ...]) -> str | None:
    """What an unannotated parameter's default names, when it is a module-level object
    (``cognito_client``, ``clients.s3``): not a literal, a call or a builtin."""
    if not isinstance(default, cst.Name | cst.Attribute) or len(names) != 1:
        return None
    name = names[0]
    return None if name.startswith("builtins.") or "<locals>" in name else name


KNOWN_OBJECTS = {
    "fastapi.Request().app": "fastapi.FastAPI()",
    "fastapi.WebSocket().app": "fastapi.FastAPI()",
    "starlette.requests.Request().app": "fastapi.FastAPI()",
    "starlette.requests.HTTPConnection().app": "fastapi.FastAPI()",
    "starlette.websockets.WebSocket().app": "fastapi.FastAPI()",
}
"""What the frameworks' objects hold: a request's application."""


def _through_owners(index: ProjectIndex, objects: dict[str, str | None]) -> None:
    """An attribute set through one name of an object, readable through the others: the
    app's ``app.state.client`` is ``request.app.state.client`` too (``KNOWN_OBJECTS``)."""
    for known, made in KNOWN_OBJECTS.items():
        objects.setdefault(known, made)
    for name, kind in list(objects.items()):
        owner, dot, attribute = name.rpartition(".")
        if not dot or "." not in owner or name in KNOWN_OBJECTS:
            continue
        resolved = index.resolve(owner)
        if resolved != owner and not resolved.startswith(UNKNOWN):
            objects.setdefault(f"{resolved}.{attribute}", kind)


def _typed_by_calls(index: ProjectIndex, objects: dict[str, str | None]) -> None:
    """Give each untyped parameter (``FunctionFact.untyped``) the one type every call of
    its function passes it, when every call the project makes of it passes one: a route
    hands ``db: Session`` to ``forgot_password(email, db)``. Repeated, for what such a
    parameter passes on in turn; a call that passes nothing known there, or a caller
    that disagrees, leaves it unknown."""
    # Not a route or anything decorated (FastAPI or a decorator calls it), nor what is
    # passed around as a value (``Depends(f)``, ``run_in_threadpool(f, db)``): the
    # project's own calls are not all its calls.
    wanted = {
        name: function
        for name, function in index.functions.items()
        if function.untyped
        and name not in index.ambiguous
        and _HARMLESS_DECORATORS.issuperset(function.decorators)
    }
    if not wanted:
        return
    short = {name.rpartition(".")[2] for name in wanted}
    for module in index.modules:
        for reference in module.references:
            for target in reference.targets:
                if target.rpartition(".")[2] in short:
                    wanted.pop(index.resolve(target), None)
    sites: dict[str, list[CallFact]] = {}
    offsets: dict[tuple[str, int], int] = {}
    unsure: set[str] = set()
    for module in index.modules:
        for caller in module.functions:
            for call in caller.calls:
                if not any(t.rpartition(".")[2] in short for t in call.targets):
                    continue
                for target in {index.resolve(t) for t in call.targets}:
                    owner, _, method = target.rpartition("().")
                    name = f"{owner}.{method}" if owner else target
                    if name in wanted:
                        sites.setdefault(name, []).append(call)
                        decorators = wanted[name].decorators
                        bound = "builtins.classmethod" in decorators or (
                            owner and "builtins.staticmethod" not in decorators
                        )
                        offsets[(name, id(call))] = 1 if bound else 0
                    else:  # a method of that name on something else, or unknown
                        unsure.add(target.rpartition(".")[2])
    for name in list(sites):
        if wanted[name].owner_class is not None and name.rpartition(".")[2] in unsure:
            del sites[name]
    for _ in range(8):  # what a typed parameter passes on, a few calls deep
        learned = False
        for name, calls in sites.items():
            function = wanted[name]
            for position, parameter in function.untyped:
                placeholder = parameter_type(name, parameter)
                if placeholder in objects:
                    continue
                kinds = set()
                for call in calls:
                    passed = dict(call.arguments)
                    at = position - offsets[(name, id(call))]
                    kind = passed.get(parameter) or passed.get(str(at), "")
                    kinds.add(index.resolve(kind) if kind else "")
                if len(kinds) == 1 and not any(k.startswith(UNKNOWN) or not k for k in kinds):
                    objects[placeholder] = kinds.pop()
                    learned = True
        if not learned:
            return


def parameter_type(function: str, name: str) -> str:
    """What the index calls the type of ``function``'s untyped parameter ``name`` until
    its calls say (``ProjectIndex.merge``); unknown otherwise (``UNKNOWN`` first)."""
    return f"{UNKNOWN}{function}:{name}"


def _typed_base(frame: _FunctionFrame, expression: cst.BaseExpression) -> None:
    """Note the call about to be recorded in ``frame`` as one on a local of known type
    (``_FunctionFrame.typed_calls``), where ``expression`` starts with one: should the
    local take another type later, the call is of an unknown object."""
    base = expression
    while isinstance(base, cst.Attribute | cst.Call | cst.Subscript):
        base = base.func if isinstance(base, cst.Call) else base.value
    kind = frame.types.get(base.value) if isinstance(base, cst.Name) else None
    if kind is not None and isinstance(base, cst.Name):
        frame.typed_calls.append((len(frame.calls), base.value, kind, frame.loops > 0))


def type_local(frame: Any, name: str, kind: str | None) -> None:
    """``name``, a local of ``frame``, holds a ``kind`` from here (an assignment, or
    ``except ValidationError as e``). A name assigned twice with different types has
    no single type, but a query refined in steps (``q = q.filter(...)``) is still a
    query."""
    types = frame.types
    frame.rebound.add(name)
    old = types.get(name, kind)
    if old is not None and kind is not None and _refined(old, kind):
        kind = old
    if name in types and (old != kind or name in frame.either):
        either = frame.either.get(name, frozenset({old}) if old is not None else None)
        frame.either[name] = either | {kind} if either and kind is not None else None
    types[name] = kind if old == kind else None


def _bound_names(target: cst.BaseExpression) -> list[cst.Name]:
    """The names an assignment to ``target`` binds (``a, (b, *c) = ...``)."""
    if isinstance(target, cst.Name):
        return [target]
    if isinstance(target, cst.Tuple | cst.List):
        return [name for element in target.elements for name in _bound_names(element.value)]
    return []


def _untyped(annotation: cst.Annotation | None, default: cst.BaseExpression | None) -> bool:
    return annotation is None and (default is None or _is_none(default))


def _forget_rebound(calls: list[CallFact], function: str, rebound: set[str]) -> None:
    """A parameter the body assigns is not what its callers pass everywhere: the calls
    on it and what it is passed as are of an unknown object."""
    for name in rebound:
        placeholder = parameter_type(function, name)
        for position, call in enumerate(calls):
            if any(t.startswith(placeholder) for t in call.targets) or any(
                kind == placeholder for _, kind in call.arguments
            ):
                calls[position] = replace(
                    call,
                    targets=tuple(
                        UNKNOWN + t[len(placeholder) :] if t.startswith(placeholder) else t
                        for t in call.targets
                    ),
                    arguments=tuple(a for a in call.arguments if a[1] != placeholder),
                )


def _super_init(node: cst.Call) -> bool:
    """``super().__init__(...)``."""
    func = node.func
    return (
        isinstance(func, cst.Attribute)
        and func.attr.value == "__init__"
        and isinstance(func.value, cst.Call)
        and isinstance(func.value.func, cst.Name)
        and func.value.func.value == "super"
    )


def _is_none(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.Name) and node.value == "None"


def _alternatives(node: cst.BaseExpression) -> list[cst.BaseExpression]:
    """The types of ``A | B | None``, in order."""
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.BitOr):
        return [*_alternatives(node.left), *_alternatives(node.right)]
    return [node]


def _keyword(arg: cst.Arg) -> str:
    return arg.keyword.value if arg.keyword is not None else ""


def _dotted(node: cst.BaseExpression) -> str:
    if isinstance(node, cst.Attribute):
        return f"{_dotted(node.value)}.{node.attr.value}"
    return node.value if isinstance(node, cst.Name) else ""
