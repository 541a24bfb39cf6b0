"""The collector of one file (``FileScan``): its module-level facts (engines, session
factories, models, schemas, apps), and each function's scan."""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
from libcst.metadata import PositionProvider

from vibefix.asyncdb.facts import DbFacts, FunctionDb, Span
from vibefix.asyncdb.messages import Flaw, Problem, Why
from vibefix.asyncdb.names import (
    ASYNC_POOLS,
    ENGINE_CALLS,
    MAKER_CALLS,
    MOCKS,
    RELATIONSHIP_CALLS,
    SCOPED,
    SESSION_TYPES,
    TABLE_CALLS,
    TEST_CLIENTS,
    async_url,
    is_test_module,
    literal_url,
    url_argument,
)
from vibefix.asyncdb.scan import function_facts, scan_function
from vibefix.asyncdb.syntax import (
    Locate,
    Qualify,
    called_line,
    dotted,
    held_connections,
)
from vibefix.engine.context import Collector, FileContext


class FileScan(Collector[DbFacts]):
    """The module-level facts of one file, and each function's."""

    def __init__(self, file: FileContext) -> None:
        super().__init__(file)
        self.qualify: Qualify = self._qualify
        self._star = False
        """The module imports everything from another (``from .utils import *``)."""
        self.locate: Locate = self._locate
        self.engines: list[tuple[str, Span, Why]] = []
        self.sqlite_engines: list[str] = []
        self.constants: dict[str, str] = {}
        """Module-level names assigned a string literal (read first, in ``visit_Module``)."""
        self.makers: list[tuple[str, Span, Why]] = []
        self.models: list[tuple[str, tuple[tuple[str, str], ...]]] = []
        self.schemas: list[tuple[str, tuple[tuple[str, tuple[str, ...]], ...]]] = []
        self.functions: list[FunctionDb] = []
        self.module_uses: list[tuple[str, Span, str]] = []
        self.apps: list[tuple[Span, Span, tuple[str, ...]]] = []
        self._factories: dict[str, cst.Call] = {}
        """Module-level functions that make the app and return it: their `FastAPI(...)`."""
        self.lifespans: list[str] = []
        self.loading: list[tuple[str, str, str, str]] = []
        self.aliases: list[str] = []
        self.arguments: list[tuple[str, Span, str]] = []
        self.problems: list[tuple[Span, Why]] = []
        self.columns: list[tuple[str, str, str]] = []
        self.test_clients: list[tuple[Span, str]] = []
        self.state: list[tuple[str, str, Span]] = []
        self.state_reads: list[tuple[str, Span]] = []
        self.table_calls: list[tuple[Span, Span, bool]] = []
        self.main_guards: list[Span] = []
        self.engine_blocks: list[tuple[Span, Span]] = []
        self.local_engines: list[tuple[str, Span, Why, bool]] = []
        self.local_makers: list[tuple[str, Span, Why]] = []
        self.engine_factories: list[Span] = []
        self.held: list[tuple[tuple[Span, ...], tuple[Span, ...]]] = []
        self.table_guards: list[tuple[Span, Span]] = []
        self.blind_nexts: list[Span] = []
        self._classes: list[str] = []

    def _qualify(self, node: cst.CSTNode) -> tuple[str, ...]:
        """``qualified``; in a module with a star import, a name nothing binds is the
        module's own (``tests.test_todos.TestSessionLocal``), which the index maps to
        where the star import found it."""
        names = self.qualified(node)
        if not names and self._star and isinstance(node, cst.Name):
            return (f"{self.module}.{node.value}",)
        return names

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        if isinstance(node.names, cst.ImportStar):
            self._star = True

    def _locate(self, node: cst.CSTNode) -> Span:
        where = self.get_metadata(PositionProvider, node)
        return (where.start.line, where.start.column + 1, where.end.line, where.end.column + 1)

    def facts(self) -> DbFacts:
        return DbFacts(
            tuple(self.sqlite_engines),
            tuple(self.engines),
            tuple(self.makers),
            tuple(self.models),
            tuple(self.schemas),
            tuple(self.functions),
            tuple(self.module_uses),
            tuple(self.apps),
            tuple(self.lifespans),
            tuple(self.loading),
            tuple(self.aliases),
            tuple(self.arguments),
            tuple(self.problems),
            tuple(self.columns),
            tuple(self.test_clients),
            tuple(self.state),
            tuple(self.state_reads),
            tuple(self.table_calls),
            tuple(self.main_guards),
            tuple(self.local_engines),
            tuple(self.local_makers),
            tuple(self.engine_blocks),
            tuple(self.engine_factories),
            tuple(self.blind_nexts),
            tuple(self.table_guards),
            tuple(self.held),
        )

    def visit_Module(self, node: cst.Module) -> None:
        # The module's string constants first: an engine made in a function may read one
        # (``create_engine(TEST_DATABASE_URL)``).
        for statement in node.body:
            if isinstance(statement, cst.SimpleStatementLine):
                for small in statement.body:
                    if (
                        isinstance(small, cst.Assign)
                        and len(small.targets) == 1
                        and isinstance(small.targets[0].target, cst.Name)
                        and (text := literal_url(small.value)) is not None
                    ):
                        self.constants[small.targets[0].target.value] = text
        node.visit(_Arguments(self))

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        name = f"{'.'.join([self.module, *self._classes])}.{node.name.value}"
        self._classes.append(node.name.value)
        relationships: list[tuple[str, str]] = []
        fields: list[tuple[str, tuple[str, ...]]] = []
        table = False
        for statement in node.body.body:
            if not isinstance(statement, cst.SimpleStatementLine):
                continue
            for small in statement.body:
                if isinstance(small, cst.Assign) and len(small.targets) == 1:
                    target = small.targets[0].target
                    if isinstance(target, cst.Name) and target.value == "__tablename__":
                        table = True
                    value = small.value
                    if (
                        isinstance(target, cst.Name)
                        and isinstance(value, cst.Call)
                        and set(self.qualify(value.func)) & RELATIONSHIP_CALLS
                    ):
                        relationships.append((target.value, _relationship_target(value)))
                        self._loading(name, target.value, value)
                    elif isinstance(target, cst.Name):
                        self._column(name, target.value, value)
                elif isinstance(small, cst.AnnAssign) and isinstance(small.target, cst.Name):
                    annotated = small.value
                    value = annotated if annotated is not None else cst.Name("None")
                    for alias in _field_aliases(value):
                        referenced_alias: list[str] = []
                        small.annotation.visit(_Referenced(self.qualify, referenced_alias))
                        fields.append((alias, tuple(referenced_alias)))
                    self._column(name, small.target.value, value)
                    if (
                        isinstance(value, cst.Call)
                        and set(self.qualify(value.func)) & RELATIONSHIP_CALLS
                    ):
                        related = _relationship_target(value) or _mapped_target(
                            small.annotation.annotation
                        )
                        relationships.append((small.target.value, related))
                        self._loading(name, small.target.value, value)
                    if small.target.value == "__tablename__":
                        table = True
                    referenced: list[str] = []
                    small.annotation.visit(_Referenced(self.qualify, referenced))
                    fields.append((small.target.value, tuple(referenced)))
        if table or relationships:
            self.models.append((name, tuple(relationships)))
        else:
            self.schemas.append((name, tuple(fields)))

    def leave_ClassDef(self, original_node: cst.ClassDef) -> None:
        self._classes.pop()

    def _column(self, model: str, attr: str, value: cst.BaseExpression) -> None:
        """A column loaded apart (``deferred``), or one the database sets on update
        (``onupdate=func.now()``): its value is read later with I/O; and the primary
        key (``key``)."""
        if not isinstance(value, cst.Call):
            return
        called = {n.rpartition(".")[2] for n in self.qualify(value.func)}
        inner = value.args[0].value if value.args else None
        if any(
            arg.keyword is not None
            and arg.keyword.value == "primary_key"
            and isinstance(arg.value, cst.Name)
            and arg.value.value == "True"
            for arg in value.args
        ):
            self.columns.append((model, attr, "key"))
        if called & {"deferred", "undefer_group"} or any(
            arg.keyword is not None and arg.keyword.value == "deferred" for arg in value.args
        ):
            self.columns.append((model, attr, "deferred"))
            return
        calls = [value, *([inner] if isinstance(inner, cst.Call) else [])]
        for call in calls:
            for arg in call.args:
                if (
                    arg.keyword is not None
                    and arg.keyword.value in ("onupdate", "server_onupdate")
                    and isinstance(arg.value, cst.Call)
                ):
                    self.columns.append((model, attr, "onupdate"))
                    return

    def _loading(self, model: str, attr: str, call: cst.Call) -> None:
        lazy = backref = ""
        for arg in call.args:
            if arg.keyword is None:
                continue
            value = arg.value
            if arg.keyword.value == "lazy":
                text = literal_url(value)
                lazy = text if text is not None else "?"
            elif arg.keyword.value == "backref":
                if isinstance(value, cst.Call) and value.args:
                    value = value.args[0].value  # backref("name", ...)
                text = literal_url(value)
                backref = text if text is not None else "?"
        if lazy or backref:
            self.loading.append((model, attr, lazy, backref))

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        if not self._classes:
            self._factory(node)
        owner = ".".join([self.module, *self._classes]) if self._classes else ""
        qualname = f"{'.'.join([self.module, *self._classes])}.{node.name.value}"
        scan = scan_function(
            node, qualname, self.qualify, self.locate, is_test_module(self.module), owner
        )
        self.functions.append(function_facts(scan, qualname, self._response(node)))
        self.held.extend(
            (
                tuple(self.locate(call) for call in held.opens),
                tuple(self.locate(call) for call in held.runs),
            )
            for held in held_connections(node)
        )
        return False

    def _response(self, node: cst.FunctionDef) -> tuple[str, ...]:
        """What FastAPI validates the return value against: ``response_model=``, else
        the return annotation (of a route handler)."""
        found: list[str] = []
        routed = False
        for decorator in node.decorators:
            call = decorator.decorator
            if not isinstance(call, cst.Call):
                continue
            routed = True
            for arg in call.args:
                if arg.keyword is not None and arg.keyword.value == "response_model":
                    arg.value.visit(_Referenced(self.qualify, found))
        if routed and not found and node.returns is not None:
            node.returns.annotation.visit(_Referenced(self.qualify, found))
        return tuple(found)

    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
        if self._classes:
            return
        for small in node.body:
            value = None
            target = None
            if isinstance(small, cst.Assign) and len(small.targets) == 1:
                value, target = small.value, small.targets[0].target
            elif isinstance(small, cst.AnnAssign):
                value, target = small.value, small.target
            elif isinstance(small, cst.Expr):
                value = small.value
            if (
                isinstance(target, cst.Name)
                and value is not None
                and not isinstance(value, cst.Call)
                and _names_session(value, self.qualify)
            ):
                self.aliases.append(f"{self.module}.{target.value}")
            if not isinstance(value, cst.Call) or isinstance(value.func, cst.Call):
                continue  # (``sessionmaker(...)()``: said where it is called)
            called = set(self.qualify(value.func))
            name = target.value if isinstance(target, cst.Name) else ""
            if called & ENGINE_CALLS and name and self.sqlite(value):
                self.sqlite_engines.append(f"{self.module}.{name}")
            if called & ENGINE_CALLS:
                self.engines.append(
                    (
                        name,
                        self.locate(value),
                        _url_problem(value, self.qualify)
                        if name
                        else "an engine not assigned to a name",
                    )
                )
            elif called & MAKER_CALLS:
                self.makers.append(
                    (
                        name,
                        self.locate(value),
                        _maker_problem(value)
                        if name
                        else "a session factory not assigned to a name",
                    )
                )
            elif called & {"fastapi.FastAPI", "fastapi.applications.FastAPI"}:
                self._app(node, value)
            elif (
                isinstance(target, cst.Name)
                and isinstance(value.func, cst.Name)
                and value.func.value in self._factories
            ):
                # ``app = create_app()``: the app its ``FastAPI(...)`` makes.
                self._app(node, self._factories[value.func.value])
            elif isinstance(value.func, cst.Attribute) and value.func.attr.value == "create_all":
                self.module_uses.append((dotted(value.func) or "", self.locate(node), "create_all"))
            else:
                self._module_call(value)
                if isinstance(small, cst.Expr) and not value.args and len(node.body) == 1:
                    # ``create_tables()`` at import: perhaps a helper that makes the tables.
                    for qualified in self.qualify(value.func):
                        self.module_uses.append((qualified, self.locate(node), "helper"))

    def sqlite(self, call: cst.Call) -> bool:
        """``create_engine``'s URL is SQLite's: a literal, an f-string or a constant of
        this file that starts ``sqlite``."""
        at = url_argument(call)
        if at is None:
            return False
        url = call.args[at].value
        text = literal_url(url)
        if isinstance(url, cst.Name):
            text = self.constants.get(url.value)
        elif isinstance(url, cst.FormattedString) and url.parts:
            first = url.parts[0]
            text = first.value if isinstance(first, cst.FormattedStringText) else None
        return text is not None and text.startswith("sqlite")

    def _app(self, statement: cst.SimpleStatementLine, call: cst.Call) -> None:
        """``app = FastAPI(...)``: its keywords, and what its ``lifespan=`` names."""
        keywords = tuple(
            arg.keyword.value if arg.keyword is not None else "**"
            for arg in call.args
            if arg.keyword is not None or arg.star == "**"
        )
        self.apps.append((self.locate(statement), self.locate(call), keywords))
        lifespan = ""
        for arg in call.args:
            if arg.keyword is not None and arg.keyword.value == "lifespan":
                names = self.qualify(arg.value) if isinstance(arg.value, cst.Name) else ()
                lifespan = names[0] if len(names) == 1 else "?"
        self.lifespans.append(lifespan)

    def _factory(self, node: cst.FunctionDef) -> None:
        """``def create_app(): app = FastAPI(...); ...; return app``: the app it makes
        (``_factories``), and the helpers it calls by a statement of their own
        (``create_tables()``), which the app's lifespan may await instead."""
        body = node.body.body if isinstance(node.body, cst.IndentedBlock) else ()
        made = [
            line.body[0].value
            for line in body
            if isinstance(line, cst.SimpleStatementLine)
            and len(line.body) == 1
            and isinstance(line.body[0], cst.Assign)
            and isinstance(line.body[0].value, cst.Call)
            and set(self.qualify(line.body[0].value.func))
            & {"fastapi.FastAPI", "fastapi.applications.FastAPI"}
        ]
        returned = {
            small.value.value
            for line in body
            if isinstance(line, cst.SimpleStatementLine)
            for small in line.body
            if isinstance(small, cst.Return) and isinstance(small.value, cst.Name)
        }
        names = {
            small.targets[0].target.value
            for line in body
            if isinstance(line, cst.SimpleStatementLine)
            for small in line.body
            if isinstance(small, cst.Assign)
            and small.value in made
            and isinstance(small.targets[0].target, cst.Name)
        }
        if len(made) != 1 or node.params.params or names != returned:
            return
        self._factories[node.name.value] = made[0]
        for line in body:
            small = line.body[0] if isinstance(line, cst.SimpleStatementLine) else None
            if (
                isinstance(line, cst.SimpleStatementLine)
                and len(line.body) == 1
                and isinstance(small, cst.Expr)
                and isinstance(small.value, cst.Call)
                and not small.value.args
            ):
                for qualified in self.qualify(small.value.func):
                    self.module_uses.append((qualified, self.locate(line), "factory_helper"))

    def _module_call(self, call: cst.Call) -> None:
        """A call at import of a method of a name (perhaps a session or the engine)."""
        receiver = call.func.value if isinstance(call.func, cst.Attribute) else None
        while isinstance(receiver, cst.Attribute | cst.Call):
            receiver = receiver.value if isinstance(receiver, cst.Attribute) else receiver.func
        if isinstance(receiver, cst.Name):
            for qualified in self.qualify(receiver):
                self.module_uses.append((qualified, self.locate(call), "call"))


class _Referenced(cst.CSTVisitor):
    """The qualified names of the classes an annotation or expression names."""

    def __init__(self, qualify: Qualify, found: list[str]) -> None:
        super().__init__()
        self.qualify = qualify
        self.found = found

    def visit_Name(self, node: cst.Name) -> None:
        self.found.extend(self.qualify(node))

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        self.found.extend(self.qualify(node))
        return False


def _names_session(value: cst.BaseExpression, qualify: Qualify) -> bool:
    found: list[str] = []
    value.visit(_Referenced(qualify, found))
    return bool(set(found) & SESSION_TYPES)


CLIENT = "client"
"""The name a ``with`` gives a test client a fixture returned (``return TestClient(app)``)."""
LIFESPAN_FIXTURE = "_app_lifespan"
"""The fixture that enters a test module's client (``client = TestClient(app)`` at its
top level) around its tests."""
FIXTURES = frozenset({"pytest.fixture", "pytest_asyncio.fixture"})


def _client_line(
    line: cst.BaseStatement, qualify: Qualify
) -> tuple[cst.Assign | cst.Return | cst.Expr, cst.Call] | None:
    """``line`` when it is ``x = TestClient(...)``, ``return TestClient(...)`` or ``yield
    TestClient(...)``: its statement and the call."""
    found = called_line(line)
    return found if found and set(qualify(found[1].func)) & TEST_CLIENTS else None


class _Own(cst.CSTVisitor):
    """The ``yield``s and ``return``s of the code walked, not of a function in it."""

    def __init__(self) -> None:
        super().__init__()
        self.yields: list[cst.Yield] = []
        self.returns: list[cst.Return] = []

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return False

    def visit_Yield(self, node: cst.Yield) -> None:
        self.yields.append(node)

    def visit_Return(self, node: cst.Return) -> None:
        self.returns.append(node)


def _own(nodes: Sequence[cst.CSTNode]) -> _Own:
    own = _Own()
    for node in nodes:
        node.visit(own)
    return own


def _yields(nodes: Sequence[cst.CSTNode]) -> list[cst.Yield]:
    return _own(nodes).yields


def _returns(nodes: Sequence[cst.CSTNode]) -> list[cst.Return]:
    return _own(nodes).returns


def _returned(rest: Sequence[cst.BaseStatement], name: str, function: cst.FunctionDef) -> bool:
    """The function ends with ``return name``, its only ``return``, and yields nothing."""
    last = rest[-1] if rest else None
    small = last.body[0] if isinstance(last, cst.SimpleStatementLine) else None
    own = _own([function.body])
    return (
        isinstance(small, cst.Return)
        and isinstance(small.value, cst.Name)
        and small.value.value == name
        and len(own.returns) == 1
        and not own.yields
    )


class _Names(cst.CSTVisitor):
    """Every name the code uses or binds, and those a ``with`` enters (``with client:``)."""

    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()
        self.entered: set[str] = set()

    def visit_Name(self, node: cst.Name) -> None:
        self.names.add(node.value)

    def visit_WithItem(self, node: cst.WithItem) -> None:
        if isinstance(node.item, cst.Name):
            self.entered.add(node.item.value)


def _names(node: cst.CSTNode) -> _Names:
    names = _Names()
    node.visit(names)
    return names


class _Arguments(cst.CSTVisitor):
    """Every name handed to a call, and every ``scoped_session``."""

    def __init__(self, scan: FileScan) -> None:
        super().__init__()
        self.scan = scan
        self.entered: set[cst.CSTNode] = set()
        self.stored: set[cst.CSTNode] = set()
        self.alone: set[cst.CSTNode] = set()
        """Calls that are a statement of their own."""
        self.depth = 0
        """How many functions the node walked is in."""
        self._defs: list[cst.FunctionDef] = []
        self._engine_returns: dict[cst.Name, Span] = {}
        """``return engine`` of a local engine, with the ``create_engine`` call."""
        self.clients: dict[cst.CSTNode, str] = {}
        """``TestClient(...)`` calls a ``with`` can enter (``DbFacts.test_clients``)."""

    def visit_Module(self, node: cst.Module) -> None:
        """``client = TestClient(app)`` at a module's top level, never entered there."""
        for line in node.body:
            found = _client_line(line, self.scan.qualify)
            small = found[0] if found else None
            if found and isinstance(small, cst.Assign) and len(small.targets) == 1:
                target = small.targets[0].target
                names = _names(node)
                if (
                    isinstance(target, cst.Name)
                    and LIFESPAN_FIXTURE not in names.names
                    and target.value not in names.entered
                ):
                    self.clients[found[1]] = "module"

    def visit_IndentedBlock(self, node: cst.IndentedBlock) -> None:
        """``client = TestClient(app)`` in a fixture or a test, the rest of the block
        using it; ``return TestClient(app)`` or ``yield TestClient(app)`` in a fixture."""
        if not self._defs:
            return
        function = self._defs[-1]
        fixture = any(
            set(
                self.scan.qualify(
                    d.decorator.func if isinstance(d.decorator, cst.Call) else d.decorator
                )
            )
            & FIXTURES
            for d in function.decorators
        )
        test = not fixture and function.name.value.startswith("test")
        for at, line in enumerate(node.body):
            found = _client_line(line, self.scan.qualify)
            if found is None:
                continue
            small, call = found
            rest = node.body[at + 1 :]
            if isinstance(small, cst.Assign):
                target = small.targets[0].target
                if len(small.targets) != 1 or not isinstance(target, cst.Name):
                    continue
                if (test and rest and not _returns(rest)) or (
                    fixture and (_yields(rest) or _returned(rest, target.value, function))
                ):
                    self.clients[call] = "block"
            elif (
                fixture
                and node is function.body
                and (
                    not rest or (isinstance(small, cst.Expr) and isinstance(small.value, cst.Yield))
                )
            ):
                # ``return TestClient(app)`` last, or ``yield TestClient(app)`` before the
                # fixture's teardown (which runs once the ``with`` has closed it).
                if CLIENT in _names(function.params).names | _names(node).names or (
                    isinstance(small, cst.Return) and (_yields([node]) or len(_returns([node])) > 1)
                ):
                    continue
                self.clients[call] = "returned"

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.depth += 1
        self._defs.append(node)

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self.depth -= 1
        self._defs.pop()

    def visit_WithItem(self, node: cst.WithItem) -> None:
        self.entered.add(node.item)

    def visit_With(self, node: cst.With) -> None:
        """``with engine.connect() as c: c.execute(stmt); c.commit()`` (or
        ``engine.begin()`` and no commit; a ``c.close()`` after, which the block's end
        does anyway): one statement run in a transaction."""
        if len(node.items) != 1 or node.asynchronous is not None:
            return
        item = node.items[0]
        call, alias = item.item, item.asname.name if item.asname else None
        if not (
            isinstance(call, cst.Call)
            and not call.args
            and isinstance(call.func, cst.Attribute)
            and isinstance(call.func.value, cst.Name)
            and call.func.attr.value in ("connect", "begin")
            and isinstance(alias, cst.Name)
            and isinstance(node.body, cst.IndentedBlock)
        ):
            return
        calls = []
        for line in node.body.body:
            small = line.body[0] if isinstance(line, cst.SimpleStatementLine) else None
            if not (
                isinstance(line, cst.SimpleStatementLine)
                and len(line.body) == 1
                and isinstance(small, cst.Expr)
                and isinstance(small.value, cst.Call)
                and isinstance(small.value.func, cst.Attribute)
                and isinstance(small.value.func.value, cst.Name)
                and small.value.func.value.value == alias.value
            ):
                return
            calls.append(small.value.func.attr.value)
        commits = ["execute", "commit"] if call.func.attr.value == "connect" else ["execute"]
        if calls in (commits, [*commits, "close"]):  # ``close()``: the block's end does it
            self.scan.engine_blocks.append((self.scan.locate(node), self.scan.locate(call)))

    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
        if len(node.body) == 1 and isinstance(node.body[0], cst.Expr):
            self.alone.add(node.body[0].value)

    def visit_If(self, node: cst.If) -> None:
        test = node.test
        if (
            isinstance(test, cst.Comparison)
            and isinstance(test.left, cst.Name)
            and test.left.value == "__name__"
            and len(test.comparisons) == 1
            and isinstance(test.comparisons[0].operator, cst.Equal)
            and literal_url(test.comparisons[0].comparator) == "__main__"
        ):
            self.scan.main_guards.append(self.scan.locate(node))
        body = node.body.body if isinstance(node.body, cst.IndentedBlock) else ()
        line = body[0] if len(body) == 1 else None
        small = line.body[0] if isinstance(line, cst.SimpleStatementLine) else None
        if (
            not self.depth
            and node.orelse is None
            and isinstance(line, cst.SimpleStatementLine)
            and len(line.body) == 1
            and isinstance(small, cst.Expr)
            and isinstance(small.value, cst.Call)
            and isinstance(small.value.func, cst.Attribute)
            and small.value.func.attr.value == "create_all"
        ):
            # ``if not TESTING: Base.metadata.create_all(bind=engine)``: the lifespan
            # asks the same when the app starts.
            self.scan.table_guards.append((self.scan.locate(node), self.scan.locate(line)))

    def visit_Return(self, node: cst.Return) -> None:
        value = node.value
        if (
            self.depth
            and isinstance(value, cst.Call)
            and not isinstance(value.func, cst.Call)
            and set(self.scan.qualify(value.func)) & ENGINE_CALLS
        ):
            self.scan.engine_factories.append(
                self.scan.locate(value)
            )  # ``return create_engine(...)``
        elif self.depth and isinstance(value, cst.Name) and value in self._engine_returns:
            # ``engine = create_engine(...)`` then ``return engine``: a factory too.
            self.scan.engine_factories.append(self._engine_returns[value])

    def visit_Assign(self, node: cst.Assign) -> None:
        value = node.value
        stored = node.targets[0].target
        if self.depth and len(node.targets) == 1 and isinstance(stored, cst.Name):
            self._local(stored, value)
        if (
            self.depth
            and isinstance(stored, cst.Attribute)
            and isinstance(value, cst.Call)
            and set(self.scan.qualify(value.func)) & ENGINE_CALLS
        ):
            # ``self._engine = create_engine(...)``: an object makes and keeps the engine.
            self.scan.engine_factories.append(self.scan.locate(value))
        for target in node.targets:
            stored = target.target
            self.stored.add(stored)
            if (
                isinstance(stored, cst.Attribute)
                and isinstance(stored.value, cst.Attribute)
                and stored.value.attr.value == "state"
                and isinstance(value, cst.Call)
                and not value.args
            ):
                for callee in self.scan.qualify(value.func):
                    self.scan.state.append((stored.attr.value, callee, self.scan.locate(node)))

    def _returns_of(self, target: cst.Name) -> list[cst.Name]:
        """The ``return target`` statements of the function ``target`` is assigned in."""
        function = self._defs[-1] if self._defs else None
        found: list[cst.Name] = []

        class _Returns(cst.CSTVisitor):
            def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
                return node is function  # not a nested function's

            def visit_Return(self, node: cst.Return) -> None:
                if isinstance(node.value, cst.Name) and node.value.value == target.value:
                    found.append(node.value)

        if function is not None:
            function.visit(_Returns())
        return found

    def _local(self, target: cst.Name, value: cst.BaseExpression) -> None:
        """``engine = create_engine(...)`` or ``Factory = sessionmaker(...)`` in a
        function."""
        if not isinstance(value, cst.Call) or isinstance(value.func, cst.Call):
            return
        called = set(self.scan.qualify(value.func))
        names = self.scan.qualify(target)
        if len(names) != 1:
            return
        if called & ENGINE_CALLS:
            for returned in self._returns_of(target):
                self._engine_returns[returned] = self.scan.locate(value)
            problem = _url_problem(value, self.scan.qualify)
            sqlite = self.scan.sqlite(value)
            self.scan.local_engines.append((names[0], self.scan.locate(value), problem, sqlite))
        elif called & MAKER_CALLS:
            problem = _maker_problem(value)
            self.scan.local_makers.append((names[0], self.scan.locate(value), problem))

    def visit_Attribute(self, node: cst.Attribute) -> None:
        owner = node.value
        if (
            node not in self.stored
            and isinstance(owner, cst.Attribute)
            and owner.attr.value == "state"
            and (
                (isinstance(owner.value, cst.Name) and owner.value.value == "app")
                or (isinstance(owner.value, cst.Attribute) and owner.value.attr.value == "app")
            )
        ):
            self.scan.state_reads.append((node.attr.value, self.scan.locate(node)))

    def visit_Call(self, node: cst.Call) -> None:
        called = self.scan.qualify(node.func)
        if isinstance(node.func, cst.Call) and set(self.scan.qualify(node.func.func)) & MAKER_CALLS:
            self.scan.problems.append((self.scan.locate(node), Problem(Flaw.FACTORY_CALLED)))
            return
        if set(called) & TEST_CLIENTS:
            how = "entered" if node in self.entered else self.clients.get(node, "")
            self.scan.test_clients.append((self.scan.locate(node), how))
        if set(called) & MOCKS and any(
            (arg.keyword is None and index == 0)
            or (arg.keyword is not None and arg.keyword.value in ("spec", "spec_set"))
            for index, arg in enumerate(node.args)
            if set(self.scan.qualify(arg.value)) & SESSION_TYPES
        ):
            # ``MagicMock(spec=Session)``: its stubbed calls answer no ``await``.
            mock = cst.Module([]).code_for_node(node)
            self.scan.problems.append((self.scan.locate(node), Problem(Flaw.MOCKED_SESSION, mock)))
        if set(called) & SCOPED:
            self.scan.problems.append(
                (
                    self.scan.locate(node),
                    Problem(Flaw.SCOPED_SESSION),
                )
            )
        if set(called) & (ENGINE_CALLS | MAKER_CALLS):
            return  # ``sessionmaker(bind=engine)``: what the migration rewrites
        first = node.args[0].value if node.args else None
        if "builtins.next" in called and isinstance(first, cst.Call):
            inner = self.scan.qualify(first.func)
            if not inner or any("<locals>" in name for name in inner):
                self.scan.blind_nexts.append(self.scan.locate(node))
        if (
            isinstance(node.func, cst.Attribute)
            and node.func.attr.value in TABLE_CALLS
            and len(node.args) == 1
            and not node.args[0].star
            and (node.args[0].keyword is None or node.args[0].keyword.value == "bind")
        ):
            engine = self.scan.locate(node.args[0].value)
            self.scan.table_calls.append((self.scan.locate(node), engine, node in self.alone))
        callee = called[0] if len(called) == 1 else dotted(node.func) or "?"
        for arg in node.args:
            if isinstance(arg.value, cst.Name | cst.Attribute):
                for name in self.scan.qualify(arg.value):
                    self.scan.arguments.append((name, self.scan.locate(arg.value), callee))


def _field_aliases(value: cst.BaseExpression) -> list[str]:
    """The attribute names a Pydantic ``Field(alias=..., validation_alias=...)`` reads."""
    if not isinstance(value, cst.Call) or dotted(value.func) not in ("Field", "pydantic.Field"):
        return []
    found = []
    for arg in value.args:
        if arg.keyword is not None and arg.keyword.value in ("alias", "validation_alias"):
            text = literal_url(arg.value)
            if text is not None:
                found.append(text)
    return found


def _relationship_target(call: cst.Call) -> str:
    if call.args and call.args[0].keyword is None:
        value = call.args[0].value
        if isinstance(value, cst.SimpleString):
            text = value.evaluated_value
            return text if isinstance(text, str) else ""
        return dotted(value) or ""
    return ""


def _mapped_target(annotation: cst.BaseExpression) -> str:
    """The class a relationship's ``Mapped[...]`` annotation names: ``Mapped[User]``,
    ``Mapped["User"]``, ``Mapped[list["Todo"]]``, ``Mapped[Optional[User]]``,
    ``Mapped["User | None"]``; ``""`` when it names none."""
    node: cst.BaseExpression = annotation
    while isinstance(node, cst.Subscript) and node.slice:
        first = node.slice[0].slice
        if not isinstance(first, cst.Index):
            return ""
        node = first.value
    if isinstance(node, cst.BinaryOperation):  # ``User | None``
        node = node.left if not _is_none(node.left) else node.right
    if isinstance(node, cst.SimpleString) and isinstance(node.evaluated_value, str):
        text = node.evaluated_value.strip()
        for word in ("Optional[", "List[", "list[", "Set[", "set["):
            text = text.removeprefix(word).removesuffix("]")
        text = text.split("|")[0].strip().strip("'\"")
        return text if text.replace(".", "").replace("_", "").isalnum() else ""
    return dotted(node) or ""


def _is_none(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.Name) and node.value == "None"


def _choices(node: cst.BaseExpression) -> list[cst.BaseExpression]:
    """The values ``node`` may give: each branch of ``a if test else b``, nested."""
    if isinstance(node, cst.IfExp):
        return [*_choices(node.body), *_choices(node.orelse)]
    return [node]


def _url_problem(call: cst.Call, qualify: Qualify) -> Why:
    at = url_argument(call)
    if at is None:
        return "the engine's URL is neither its first argument nor `url=`"
    url = literal_url(call.args[at].value)
    if url is not None and async_url(url) is None:
        return f"no async driver is known for the URL {url!r}"
    for arg in call.args:
        if arg is call.args[at]:
            continue
        if (
            arg.keyword is not None
            and arg.keyword.value == "poolclass"
            and all(
                _is_none(choice) or set(qualify(choice)) & ASYNC_POOLS
                for choice in _choices(arg.value)
            )
        ):
            # ``StaticPool`` (SQLite in memory in tests), ``NullPool``, or one of them
            # or the default under a condition (``StaticPool if TESTING else None``).
            continue
        if arg.keyword is not None and arg.keyword.value in ("poolclass", "creator", "module"):
            return f"`{arg.keyword.value}=` would need an async twin"
        if arg.star:
            return Problem(Flaw.UNREAD_ARGUMENTS)
    return ""


def _maker_problem(call: cst.Call) -> Why:
    for arg in call.args:
        if arg.star:
            return Problem(Flaw.UNREAD_ARGUMENTS)
        if arg.keyword is not None and arg.keyword.value == "class_":
            return "a custom session class (`class_=`)"
        if (
            arg.keyword is not None
            and arg.keyword.value == "expire_on_commit"
            and not (isinstance(arg.value, cst.Name) and arg.value.value == "False")
        ):
            return (
                "`expire_on_commit` is not False: an object read after `commit()` would"
                " reload on the event loop (MissingGreenlet)"
            )
    return ""
