"""The scan of one function: the names bound to a session, each use of them, the legacy
queries, and where the ORM objects in its variables come from and go."""

from __future__ import annotations

import libcst as cst

from vibefix.asyncdb.facts import (
    UNKNOWN,
    From,
    FunctionDb,
    Origin,
    QueryFact,
    Refresh,
    SessionFacts,
    Span,
)
from vibefix.asyncdb.messages import Flaw, Problem
from vibefix.asyncdb.names import (
    AWAITED,
    DEPENDS,
    QUERY_STEPS,
    SESSION_TYPES,
    STATEMENT_ENDS,
    SYNC_METHODS,
    TERMINALS,
)
from vibefix.asyncdb.objects import ALTERNATIVE, PARAMETER, ObjectScan, unpacked_names
from vibefix.asyncdb.syntax import (
    Locate,
    Qualify,
    Receiver,
    dotted,
    held_connections,
    method,
    names_in,
    query_chain,
    receiver_name,
    unwrap_annotation,
)

Shape = tuple[tuple[tuple[str, ...], ...], str]
"""What a query selects (``QueryFact.entities``), and the code of its model."""


class _Scan(ObjectScan):
    """Sessions, queries and ORM objects in one top-level function."""

    def __init__(
        self,
        function: cst.FunctionDef,
        qualify: Qualify,
        locate: Locate,
        tests: bool = False,
        owner: str = "",
        qualname: str = "",
    ) -> None:
        super().__init__(function, qualify, locate)
        self.tests = tests
        self.qualname = qualname
        self.owner = owner
        """The class the function is a method of (qualified); ``""`` for none."""
        self.constructs: list[tuple[str, Span]] = []
        """Where ``Session(engine)`` makes a session, and the name it is bound to."""
        self.keeps: list[tuple[str, str, int, int]] = []
        """``self.attr = value``: the attribute, the session ``value`` names (``""``
        when it names none), where."""
        """A test suite's function: a parameter may be a fixture's session."""
        self.annotated: dict[str, str] = {}
        """Parameters annotated with a plain name: what it names."""
        self.line: cst.CSTNode | None = None
        self.handed_lambdas: set[cst.Lambda] = set()
        """``lambda: session`` given to ``app.dependency_overrides``: no obstacle."""
        self.rebinds: list[tuple[str, int]] = []
        """Earlier values of a variable (``ALTERNATIVE``) that an assignment at the
        function's top level ends, with its line (``FunctionDb.rebinds``)."""
        """The statement line being walked."""
        self.expiries: list[tuple[str, int]] = []
        """``rollback``/``expire``/``expire_all`` calls: every object read after them
        reloads (lazily)."""
        self.flushes: list[int] = []
        """The lines of ``commit``/``flush`` calls."""
        self.queries: dict[str, list[QueryFact]] = {}
        self.handled: set[cst.CSTNode] = set()
        self.refreshes: list[Refresh] = []
        self.assigned: set[cst.CSTNode] = set()
        self._assigned_to: dict[cst.CSTNode, str] = {}
        """Query chains assigned to a variable (``q = db.query(M)``)."""
        self.shapes: dict[cst.CSTNode, Shape] = {}
        self.query_shapes: dict[str, Shape] = {}
        """For each variable holding a query: what it selects, the code of its model."""
        self.options_of: dict[cst.CSTNode, str] = {}
        self.query_options: dict[str, str] = {}
        self.filtered: dict[str, bool] = {}
        """For each variable holding a query: whether it is ``query(M)`` of one model
        with only filters after it, however often it is refined (its ``.whereclause`` is
        what a ``.delete()`` or ``.update()`` on it deletes or updates)."""
        self.var_uses: set[cst.CSTNode] = set()
        """References to query variables that are fine: the receivers of query chains and
        the targets they are assigned to."""

    # -- sessions --------------------------------------------------------------------

    def find_sessions(self) -> None:
        """The names bound to a session, before the walk that classifies their uses."""
        params = self.function.params
        for param in (*params.posonly_params, *params.params, *params.kwonly_params):
            source = self._param_source(param)
            if source:
                self.candidates[param.name.value] = source
            if source.startswith("dep:"):
                # What the dependency returns (``current_user``), unless the plan finds
                # it is a session: an object whose reads its load must cover.
                self.origins[param.name.value] = Origin(From.CALL, name=source[4:])
        held = {name for found in held_connections(self.function) for name in found.names}
        finder = _Bindings(self.qualify, frozenset(held))
        self.function.body.visit(finder)
        for name, source in finder.bound.items():
            self.candidates.setdefault(name, source)
        self.constructs = [(name, self.locate(call)) for name, call in finder.constructs]
        named = {
            p.name.value for p in (*params.posonly_params, *params.params, *params.kwonly_params)
        }
        self.rebound = named & finder.local
        self.locals = finder.local | named | {f"{name}{PARAMETER}" for name in self.rebound}
        for name in self.rebound:
            if name in self.origins:
                self.origins[f"{name}{PARAMETER}"] = self.origins[name]
        for param in (*params.posonly_params, *params.params, *params.kwonly_params):
            name = param.name.value
            if (
                name in finder.receivers | finder.handed
                and name not in self.candidates
                and param.annotation is None
                and param.default is None
            ):
                # ``def create_user(data, session)``, which calls a session's methods or
                # hands it on: a session if every call hands it one (the plan tells).
                self.candidates[name] = f"untyped:{self.qualname}:{name}"
        for name in finder.receivers - set(self.candidates) - finder.local:
            if name.startswith("self."):
                if self.owner and self._self_first():
                    # A session the object keeps (``self.db.query(...)``): the plan
                    # tells whether what the class keeps there is one.
                    self.candidates[name] = f"kept:{self.owner}.{name[5:]}"
                continue
            qualified = self.qualify_name(name)
            if qualified:
                self.candidates[name] = f"global:{qualified}"

    def _self_first(self) -> bool:
        """The method's first parameter is ``self`` (no static or class method)."""
        params = self.function.params.params
        return (
            bool(params)
            and params[0].name.value == "self"
            and not any(
                dotted(d.decorator) in ("staticmethod", "classmethod")
                for d in self.function.decorators
            )
        )

    def qualify_name(self, name: str) -> str:
        for node in names_in(self.function.body, name):
            names = self.qualify(node)
            if len(names) == 1 and "<locals>" not in names[0]:
                return names[0]
            return ""
        return ""

    def _param_source(self, param: cst.Param) -> str:
        kinds: list[cst.BaseExpression] = []
        if param.annotation is not None:
            kinds = unwrap_annotation(param.annotation.annotation, self.qualify)
        if param.default is not None:
            kinds.append(param.default)
        for node in kinds:
            if set(self.qualify(node)) & SESSION_TYPES:
                return "typed"
        annotation = param.annotation.annotation if param.annotation is not None else None
        alias = ""
        if isinstance(annotation, cst.Name | cst.Attribute):
            names = self.qualify(annotation)
            if len(names) == 1:
                self.annotated[param.name.value] = names[0]
                alias = f"alias:{names[0]}"  # perhaps an alias of Session: the plan knows
        for node in kinds:
            if (
                isinstance(node, cst.Call)
                and set(self.qualify(node.func)) & DEPENDS
                and node.args
                and node.args[0].keyword is None
            ):
                names = self.qualify(node.args[0].value)
                if len(names) == 1:
                    return f"dep:{names[0]}"
        if self.tests and not alias and param.annotation is None:
            return f"fixture:{param.name.value}"  # perhaps a fixture's session: the plan knows
        return alias

    # -- the walk --------------------------------------------------------------------

    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
        self.line = node

    def visit_SimpleStatementSuite(self, node: cst.SimpleStatementSuite) -> None:
        self.line = node

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        if node in self.handed_lambdas:
            return False  # ``lambda: session``: the session handed as it is, no I/O
        for name in self.candidates:
            for found in names_in(node, name):
                self._add(
                    name, self._site(found, "it is used in a lambda, where `await` cannot go")
                )
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        # A class body runs once, when the function defines it: no `await` there.
        for name in self.candidates:
            for found in names_in(node.body, name):
                self._add(
                    name, self._site(found, "it is used in a class body, where `await` cannot go")
                )
        return False

    def visit_GeneratorExp(self, node: cst.GeneratorExp) -> bool:
        for name in self.candidates:
            for found in names_in(node, name):
                self._add(
                    name,
                    self._site(
                        found, "it is used in a generator expression, where `await` cannot go"
                    ),
                )
        return True

    def visit_With(self, node: cst.With) -> None:
        for item in node.items:
            asname = item.asname.name if item.asname else None
            if (
                isinstance(item.item, cst.Call)
                and isinstance(asname, cst.Name)
                and self.candidates.get(asname.value, "").startswith(("made:", "direct:"))
            ):
                self.handled.add(item.item)
                self._add(asname.value, self._site(node))
                if node.asynchronous is None and len(node.items) > 1:
                    self._add(
                        asname.value,
                        self._site(node, "the `with` opens other things too: split it first"),
                    )

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if isinstance(func, cst.Name | cst.Attribute):
            self.called.add(func)
        if node in self.handled:
            return
        chain = query_chain(node)
        if chain is not None:
            receiver, calls = chain
            name = receiver_name(receiver)
            if name in self.candidates and method(calls[0]) == "query":
                self._query(name, receiver, calls, node)
            elif name in self.candidates and calls[0] is node:
                self._session_call(name, node)
            elif name in self.query_vars:
                self._query(self.query_vars[name], receiver, calls, node)
        self._orm_call(node)

    def _session_call(self, name: str, node: cst.Call) -> None:
        verb = method(node)
        if verb in AWAITED:
            self._add(name, self._site(node))
            first = node.args[0].value if len(node.args) == 1 else None
            if verb == "refresh" and isinstance(first, cst.Name):
                line = self.line
                alone = (
                    isinstance(line, cst.SimpleStatementLine)
                    and len(line.body) == 1
                    and isinstance(line.body[0], cst.Expr)
                    and line.body[0].value is node
                )
                self.refreshes.append(Refresh(first.value, self.locate(node), alone))
        elif verb not in SYNC_METHODS and verb != "query":
            self._add(name, self._site(node, f"no rewrite for `{name}.{verb}()`"))
        line_number = self.locate(node)[0]
        if verb in ("rollback", "expire", "expire_all"):
            self.expiries.append((verb, line_number))
        if verb in ("commit", "flush"):
            self.flushes.append(line_number)

    def _query(
        self, session: str, receiver: Receiver, calls: list[cst.Call], node: cst.Call
    ) -> None:
        """``node`` is the outermost call of a query chain (inner ones are marked handled)."""
        self.handled.update(calls)
        root = receiver_name(receiver)
        starts_at_query = root == session
        steps = calls[1:] if starts_at_query else calls
        last = method(steps[-1]) if steps else ""
        terminal = last if last in TERMINALS else ""
        ends = not terminal and last in STATEMENT_ENDS  # ``.subquery()``: no result
        middle = steps[:-1] if terminal or ends else steps
        entities: tuple[tuple[str, ...], ...] = ()
        options = " ".join(
            cst.Module([]).code_for_node(arg.value)
            for step in middle
            if method(step) == "options"
            for arg in step.args
        )
        model = ""
        if starts_at_query:
            entities = tuple(
                ("?",)
                if arg.keyword is not None or arg.star
                # ``func.count(Vote.id).label("votes")``: the function labelled
                else self.qualify(arg.value.func.value)
                if isinstance(arg.value, cst.Call)
                and method(arg.value) == "label"
                and isinstance(arg.value.func, cst.Attribute)
                and isinstance(arg.value.func.value, cst.Call)
                # ``db.query(db.query(M).filter(...).exists())``: a column expression
                else ("sqlalchemy.sql.expression",)
                if isinstance(arg.value, cst.Call) and method(arg.value) in STATEMENT_ENDS
                else self.qualify(arg.value)
                for arg in calls[0].args
            )
            if len(calls[0].args) == 1:
                model = cst.Module([]).code_for_node(calls[0].args[0].value)
        else:  # a query kept in a variable: what the query that made it selects
            entities, model = self.query_shapes.get(root, ((), ""))
            options = " ".join([self.query_options.get(root, ""), options])
        self.shapes[node] = (entities, model)
        self.options_of[node] = options
        if root in self.query_vars:
            self.var_uses.add(receiver)
        one_model = starts_at_query or self.filtered.get(root, False)
        problem = _query_problem(calls, steps, middle, terminal, starts_at_query, one_model)
        if not problem and not terminal and not ends and node not in self.assigned:
            problem = "a legacy query used other than assigned to a variable or run"
        span = self.locate(node)
        self.queries.setdefault(session, []).append(
            QueryFact(span, entities, terminal, model, options.strip())
        )
        self._add(session, self._site(node, problem, awaits=bool(terminal)))

    def visit_Assign(self, node: cst.Assign) -> None:
        assigned = node.targets[0].target
        value = node.value
        if (
            isinstance(assigned, cst.Subscript)
            and isinstance(assigned.value, cst.Attribute)
            and assigned.value.attr.value == "dependency_overrides"
            and isinstance(value, cst.Lambda)
            and isinstance(value.body, cst.Name)
            and value.body.value in self.candidates
        ):
            # ``app.dependency_overrides[get_db] = lambda: session``: FastAPI calls it
            # and gets the session, an ``AsyncSession`` as well after the move.
            self.handed_lambdas.add(value)
        kept = receiver_name(assigned) if isinstance(assigned, cst.Attribute) else ""
        if self.owner and len(node.targets) == 1 and kept:
            # ``self.db = db``: the object keeps a session its methods use (the plan
            # tells whether every value kept there is one).
            value = node.value
            held = value.value if isinstance(value, cst.Name) else ""
            line, column, _, _ = self.locate(assigned)
            held = held if held in self.candidates else ""
            self.keeps.append((kept.partition(".")[2], held, line, column))
            return
        if len(node.targets) != 1 or not isinstance(assigned, cst.Name):
            for each in node.targets:
                for name in self.candidates:
                    for found in names_in(each.target, name):
                        self._add(name, self._site(found, "it is stored"))
            value = node.value
            if isinstance(value, cst.Name) and value.value in self.candidates:
                self._add(value.value, self._site(value, "it is stored"))
            if len(node.targets) == 1:
                self._unpacked(assigned, value)
            return
        target = assigned.value
        value = node.value
        if self.select(value) is not None:
            self.statements.setdefault(target, []).append(value)
        chain = query_chain(value) if isinstance(value, cst.Call) else None
        if chain is not None:
            receiver, calls = chain
            root = receiver_name(receiver)
            session = (
                root
                if root in self.candidates and method(calls[0]) == "query"
                else self.query_vars.get(root, "")
            )
            if session and method(calls[-1]) not in TERMINALS | STATEMENT_ENDS.keys():
                made = root in self.candidates
                steps = calls[1:] if made else calls
                filtered = (
                    bool(steps)
                    and all(method(step) in FILTERS for step in steps)
                    and (len(calls[0].args) == 1 if made else self.filtered.get(root, False))
                )
                self.filtered[target] = filtered and self.filtered.get(target, True)
                self.query_vars[target] = session
                self.assigned.add(value)
                self._assigned_to[value] = target
                return
        ran = chain is not None and chain[1] and receiver_name(chain[0]) in self.candidates
        if (
            chain is not None
            and ran
            and len(chain[1]) == 1
            and method(chain[1][0]) in ("execute", "scalars")
        ):
            # ``result = db.execute(stmt)`` or ``db.scalars(stmt)``, read later.
            self.results[target] = chain[1][0] if target not in self.results else None
        elif target in self.results:
            self.results[target] = None
        origin = self._origin(value)
        before = self.origins.get(target)
        if origin.item_of_variable == target:
            # ``rows = rows[:10]``: items of what it held, loaded as they were.
            origin = before or UNKNOWN
        if (
            before is not None
            and before != origin
            and From.UNKNOWN not in (before.kind, origin.kind)
            and (before.loaded or origin.loaded)
        ):
            # ``rows = db.query(...)...all()`` in each branch: a read of ``rows`` reads
            # what either query loaded (``LazyLoads``), each kept under a name of its own.
            earlier = sum(name.startswith(f"{target}{ALTERNATIVE}") for name in self.origins)
            self.origins[f"{target}{ALTERNATIVE}{earlier}"] = before
            body = self.function.body
            if isinstance(body, cst.IndentedBlock) and self.line in body.body:
                # Assigned anew at the function's top level, under no condition: what it
                # held before is read only before this line (``LazyLoads._load``).
                line_number = self.locate(node)[0]
                self.rebinds.append((f"{target}{ALTERNATIVE}{earlier}", line_number))
        self.origins[target] = origin

    def _unpacked(self, target: cst.BaseExpression, value: cst.BaseExpression) -> None:
        """``a, b = x, y``: each name holds its own value; ``a, b = rows[:2]`` (or a
        call's result): each holds an item of it, whose reads its load must cover."""
        if not isinstance(target, cst.Tuple | cst.List):
            return
        if isinstance(value, cst.Tuple | cst.List) and len(value.elements) == len(target.elements):
            for element, held in zip(target.elements, value.elements, strict=True):
                if isinstance(element.value, cst.Name) and not isinstance(held, cst.StarredElement):
                    self.origins[element.value.value] = self._origin(held.value)
                else:
                    self._unpacked(element.value, held.value)
            return
        origin = self._item_of(value)
        for name in unpacked_names(target):
            self.origins[name.value] = origin

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        # ``if (todo := db.scalars(stmt).first()) is not None``: as an assignment.
        if isinstance(node.target, cst.Name):
            self.origins[node.target.value] = self._origin(node.value)

    def leave_Assign(self, original_node: cst.Assign) -> None:
        self.bound.update(
            t.target.value for t in original_node.targets if isinstance(t.target, cst.Name)
        )
        target = self._assigned_to.get(original_node.value)
        if target is not None and original_node.value in self.shapes:
            # A query refined in a branch (``if x: q = q.options(...)``): its options
            # hold from there on.
            self.query_shapes[target] = self.shapes[original_node.value]
            self.query_options[target] = " ".join(
                [self.query_options.get(target, ""), self.options_of.get(original_node.value, "")]
            ).strip()
            self.var_uses.add(original_node.targets[0].target)

    def misused_queries(self) -> None:
        """A query variable used as anything but a query (iterated, handed on, returned):
        a 2.0 statement is no result."""
        for name, session in self.query_vars.items():
            for found in names_in(self.function.body, name):
                if found not in self.var_uses:
                    self._add(
                        session,
                        self._site(
                            found,
                            Problem(Flaw.QUERY_AS_RESULT, name),
                        ),
                    )


def _query_problem(
    calls: list[cst.Call],
    steps: list[cst.Call],
    middle: list[cst.Call],
    terminal: str,
    starts_at_query: bool,
    one_model: bool,
) -> str:
    """Why a query chain has no 2.0 rewrite; ``""`` when it has one. ``steps`` are its
    calls after ``query(...)``, ``middle`` those before its terminal method;
    ``one_model``: it starts at ``query(M)``, or at a variable holding ``query(M)``
    filtered (``_Scan.filtered``)."""
    bad = [method(step) for step in middle if method(step) not in QUERY_STEPS]
    if bad:
        return f"no rewrite for the query method `.{bad[0]}()`"
    if terminal == "get" and (middle or not starts_at_query or len(calls[0].args) != 1):
        return "`.get()` after other query methods has no 2.0 twin"
    if terminal in ("delete", "update") and (
        any(method(s) not in FILTERS for s in middle)
        or not one_model
        or (starts_at_query and len(calls[0].args) != 1)
        or any(
            arg.keyword is not None and arg.keyword.value != "synchronize_session"
            for arg in steps[-1].args
        )
        or len([a for a in steps[-1].args if a.keyword is None])
        != (1 if terminal == "update" else 0)
    ):
        return f"`.{terminal}()` is rewritten only after `filter` on one model"
    return ""


FILTERS = frozenset({"filter", "filter_by", "where"})


class _Bindings(cst.CSTVisitor):
    """``db = Factory()`` and ``with Factory() as db`` in a function, the names called
    like sessions (``x.query(...)``, ``x.commit()``) and the ``self.attr`` read."""

    def __init__(self, qualify: Qualify, held: frozenset[str] = frozenset()) -> None:
        super().__init__()
        self.qualify = qualify
        self.held = held
        """The connections the function holds (``syntax.held_connections``): a session
        of a factory bound to one (``Factory(bind=connection)``) is the factory's."""
        self.bound: dict[str, str] = {}
        self.local: set[str] = set()
        self.receivers: set[str] = set()
        self.constructs: list[tuple[str, cst.Call]] = []
        """The ``Session(engine)`` calls that make a session, and the name it is bound to."""
        self.handed: set[str] = set()
        """The names handed to a call as an argument."""

    def visit_Arg(self, node: cst.Arg) -> None:
        if isinstance(node.value, cst.Name) and not node.star:
            self.handed.add(node.value.value)

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            if isinstance(target.target, cst.Name):
                self.local.add(target.target.value)
                made = self._made(node.value)
                if made:
                    self.bound[target.target.value] = made
                if made.startswith("direct:") and isinstance(node.value, cst.Call):
                    self.constructs.append((target.target.value, node.value))

    def visit_WithItem(self, node: cst.WithItem) -> None:
        if node.asname is not None and isinstance(node.asname.name, cst.Name):
            self.local.add(node.asname.name.value)
            made = self._made(node.item)
            if made:
                self.bound[node.asname.name.value] = made
            if made.startswith("direct:") and isinstance(node.item, cst.Call):
                self.constructs.append((node.asname.name.value, node.item))

    def _made(self, value: cst.BaseExpression) -> str:
        if (
            isinstance(value, cst.Call)
            and dotted(value.func)
            and all(
                arg.keyword is not None
                and arg.keyword.value == "bind"
                and isinstance(arg.value, cst.Name)
                and arg.value.value in self.held
                for arg in value.args
            )
        ):
            names = self.qualify(value.func)
            if len(names) == 1:
                return f"made:{names[0]}"
        engine = self._constructed(value)
        return f"direct:{engine}" if engine else ""

    def _constructed(self, value: cst.BaseExpression) -> str:
        """``Session(engine)`` (or ``Session(bind=engine, autoflush=False)``): the
        engine's qualified name; ``?`` for a ``Session(...)`` the migration cannot move
        (another engine, ``expire_on_commit=True``); ``""`` for anything else."""
        if not isinstance(value, cst.Call) or not set(self.qualify(value.func)) & SESSION_TYPES:
            return ""
        engine: list[str] = []
        for index, arg in enumerate(value.args):
            keyword = arg.keyword.value if arg.keyword is not None else None
            if arg.star:
                return "?"
            if (keyword is None and index == 0) or keyword == "bind":
                names = self.qualify(arg.value) if isinstance(arg.value, cst.Name) else ()
                if len(names) != 1:
                    return "?"
                engine.append(names[0])
            elif keyword == "expire_on_commit":
                if not (isinstance(arg.value, cst.Name) and arg.value.value == "False"):
                    return "?"
            elif keyword not in ("autoflush", "future"):
                return "?"
        return engine[0] if len(engine) == 1 else "?"

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if (
            isinstance(func, cst.Attribute)
            and isinstance(func.value, cst.Name)
            and (func.attr.value in AWAITED | {"query", "add", "add_all"})
        ):
            self.receivers.add(func.value.value)

    def visit_Attribute(self, node: cst.Attribute) -> None:
        # Every ``self.attr`` a method reads: a session the object may keep there.
        name = receiver_name(node)
        if "." in name:
            self.receivers.add(name)


def scan_function(
    function: cst.FunctionDef,
    qualname: str,
    qualify: Qualify,
    locate: Locate,
    tests: bool = False,
    owner: str = "",
) -> _Scan:
    scan = _Scan(function, qualify, locate, tests, owner, qualname)
    scan.find_sessions()
    function.body.visit(scan)
    scan.misused_queries()
    return scan


def function_facts(scan: _Scan, qualname: str, response: tuple[str, ...]) -> FunctionDb:
    params = scan.function.params
    names = tuple(p.name.value for p in (*params.posonly_params, *params.params))
    annotated = dict(scan.annotated)
    for name in scan.rebound & set(annotated):
        annotated[f"{name}{PARAMETER}"] = annotated[name]
    return FunctionDb(
        qualname,
        scan.locate(scan.function),
        names,
        tuple(
            SessionFacts(
                name, source, tuple(scan.sites.get(name, ())), tuple(scan.queries.get(name, ()))
            )
            for name, source in sorted(scan.candidates.items())
        ),
        tuple(sorted(scan.origins.items())),
        # ``Book.author`` on a class (a join, a loader option) loads nothing.
        tuple(t for t in scan.touches if t[0] in scan.locals or t[0] in scan.origins),
        tuple(scan.passes),
        tuple(scan.refreshes),
        tuple(scan.returns),
        response,
        tuple(sorted(annotated.items())),
        tuple(scan.expiries),
        tuple(scan.flushes),
        scan.locate(scan.function)[2],
        tuple(
            name
            for decorator in scan.function.decorators
            for name in (dotted(decorator.decorator) or "",)
            if name
        ),
        tuple(scan.selects.values()),
        tuple(scan.stores),
        tuple(scan.yields),
        tuple(scan.keeps),
        tuple(scan.constructs),
        tuple(scan.keyed),
        tuple(scan.rebinds),
    )
