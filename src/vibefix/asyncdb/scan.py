"""The scan of one function: the names bound to a session, each use of them, the legacy
queries, and where the ORM objects in its variables come from and go."""

from __future__ import annotations

import libcst as cst

from vibefix.asyncdb.facts import (
    HANDED,
    UNKNOWN,
    From,
    FunctionDb,
    Origin,
    Pass,
    QueryFact,
    SessionFacts,
    Site,
    Span,
)
from vibefix.asyncdb.names import (
    AWAITED,
    DEPENDS,
    JOINS,
    LOADS,
    QUERY_STEPS,
    SESSION_TYPES,
    SYNC_ATTRIBUTES,
    SYNC_METHODS,
    TERMINALS,
)
from vibefix.asyncdb.syntax import (
    Locate,
    Qualify,
    dotted,
    method,
    names_in,
    query_chain,
    unwrap_annotation,
)


class _Scan(cst.CSTVisitor):
    """Sessions, queries and ORM objects in one top-level function."""

    def __init__(self, function: cst.FunctionDef, qualify: Qualify, locate: Locate) -> None:
        super().__init__()
        self.qualify = qualify
        self.locate = locate
        self.function = function
        self.defs: list[cst.FunctionDef] = []
        self.candidates: dict[str, str] = {}
        self.annotated: dict[str, str] = {}
        """Parameters annotated with a plain name: what it names."""
        self.line: cst.CSTNode | None = None
        """The statement line being walked."""
        self.expiries: list[tuple[str, int]] = []
        """``rollback``/``expire``/``expire_all`` calls: every object read after them
        reloads (lazily)."""
        self.flushes: list[int] = []
        """The lines of ``commit``/``flush`` calls."""
        self.locals: set[str] = set()
        self.sites: dict[str, list[Site]] = {}
        self.queries: dict[str, list[QueryFact]] = {}
        self.query_vars: dict[str, str] = {}
        """Variables holding a legacy query: the session that made it."""
        self.handled: set[cst.CSTNode] = set()
        self.origins: dict[str, Origin] = {}
        self.touches: list[tuple[str, str, int, int]] = []
        self.passes: list[Pass] = []
        self.refreshes: list[tuple[str, Span]] = []
        self.returns: list[str | Origin] = []
        self.called: set[cst.CSTNode] = set()
        self.assigned: set[cst.CSTNode] = set()
        self._assigned_to: dict[cst.CSTNode, str] = {}
        """Query chains assigned to a variable (``q = db.query(M)``)."""
        self.shapes: dict[cst.CSTNode, tuple[tuple[tuple[str, ...], ...], bool, str]] = {}
        self.query_shapes: dict[str, tuple[tuple[tuple[str, ...], ...], bool, str]] = {}
        """For each variable holding a query: what it selects, whether it joins, the
        code of its model."""
        self.options_of: dict[cst.CSTNode, str] = {}
        self.query_options: dict[str, str] = {}
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
        finder = _Bindings(self.qualify)
        self.function.body.visit(finder)
        for name, source in finder.bound.items():
            self.candidates.setdefault(name, source)
        self.locals = finder.local | {
            p.name.value for p in (*params.posonly_params, *params.params, *params.kwonly_params)
        }
        for name in finder.receivers - set(self.candidates) - finder.local:
            qualified = self.qualify_name(name)
            if qualified:
                self.candidates[name] = f"global:{qualified}"

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
        if isinstance(annotation, cst.Name | cst.Attribute):
            names = self.qualify(annotation)
            if len(names) == 1:
                self.annotated[param.name.value] = names[0]  # perhaps an alias of Session
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
        return ""

    # -- the walk --------------------------------------------------------------------

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.defs.append(node)

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self.defs.pop()

    def _site(self, node: cst.CSTNode, problem: str = "", awaits: bool = True) -> Site:
        span = self.locate(node)
        inner = self.defs[-1] if self.defs else self.function
        return Site(span, self.locate(inner), awaits, problem)

    def _add(self, name: str, site: Site) -> None:
        self.sites.setdefault(name, []).append(site)

    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
        self.line = node

    def visit_SimpleStatementSuite(self, node: cst.SimpleStatementSuite) -> None:
        self.line = node

    def visit_Lambda(self, node: cst.Lambda) -> bool:
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
                and self.candidates.get(asname.value, "").startswith("made:")
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
            name = receiver.value
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
                # A refresh VF203 can follow with a second one only as a line of its own.
                marker = "" if alone else "!"
                self.refreshes.append((f"{marker}{first.value}", self.locate(node)))
        elif verb not in SYNC_METHODS and verb != "query":
            self._add(name, self._site(node, f"no rewrite for `{name}.{verb}()`"))
        line_number = self.locate(node)[0]
        if verb in ("rollback", "expire", "expire_all"):
            self.expiries.append((verb, line_number))
        if verb in ("commit", "flush"):
            self.flushes.append(line_number)

    def _query(
        self, session: str, receiver: cst.Name, calls: list[cst.Call], node: cst.Call
    ) -> None:
        """``node`` is the outermost call of a query chain (inner ones are marked handled)."""
        self.handled.update(calls)
        starts_at_query = receiver.value == session
        steps = calls[1:] if starts_at_query else calls
        last = method(steps[-1]) if steps else ""
        terminal = last if last in TERMINALS else ""
        middle = steps[:-1] if terminal else steps
        entities: tuple[tuple[str, ...], ...] = ()
        joined = any(method(step) in JOINS for step in middle)
        options = " ".join(
            cst.Module([]).code_for_node(arg.value)
            for step in middle
            if method(step) == "options"
            for arg in step.args
        )
        model = ""
        if starts_at_query:
            entities = tuple(
                self.qualify(arg.value) if arg.keyword is None and not arg.star else ("?",)
                for arg in calls[0].args
            )
            if len(calls[0].args) == 1:
                model = cst.Module([]).code_for_node(calls[0].args[0].value)
        else:  # a query kept in a variable: what the query that made it selects
            entities, was_joined, model = self.query_shapes.get(receiver.value, ((), False, ""))
            joined = joined or was_joined
            options = " ".join([self.query_options.get(receiver.value, ""), options])
        self.shapes[node] = (entities, joined, model)
        self.options_of[node] = options
        if receiver.value in self.query_vars:
            self.var_uses.add(receiver)
        bad = [method(step) for step in middle if method(step) not in QUERY_STEPS]
        problem = ""
        if bad:
            problem = f"no rewrite for the query method `.{bad[0]}()`"
        elif terminal == "get" and (middle or not starts_at_query or len(calls[0].args) != 1):
            problem = "`.get()` after other query methods has no 2.0 twin"
        elif terminal in ("delete", "update") and (
            any(method(s) not in ("filter", "filter_by", "where") for s in middle)
            or not starts_at_query
            or len(calls[0].args) != 1
            or any(
                arg.keyword is not None and arg.keyword.value != "synchronize_session"
                for arg in steps[-1].args
            )
            or len([a for a in steps[-1].args if a.keyword is None])
            != (1 if terminal == "update" else 0)
        ):
            problem = f"`.{terminal}()` is rewritten only after `filter` on one model"
        elif not terminal and node not in self.assigned:
            problem = "a legacy query used other than assigned to a variable or run"
        span = self.locate(node)
        self.queries.setdefault(session, []).append(
            QueryFact(span, session, entities, terminal, joined, model, options.strip())
        )
        self._add(session, self._site(node, problem, awaits=bool(terminal)))

    def visit_Assign(self, node: cst.Assign) -> None:
        assigned = node.targets[0].target
        if len(node.targets) != 1 or not isinstance(assigned, cst.Name):
            for each in node.targets:
                for name in self.candidates:
                    for found in names_in(each.target, name):
                        self._add(name, self._site(found, "it is stored"))
            return
        target = assigned.value
        value = node.value
        chain = query_chain(value) if isinstance(value, cst.Call) else None
        if chain is not None:
            receiver, calls = chain
            root = receiver.value
            session = (
                root
                if root in self.candidates and method(calls[0]) == "query"
                else self.query_vars.get(root, "")
            )
            if session and method(calls[-1]) not in TERMINALS:
                self.query_vars[target] = session
                self.assigned.add(value)
                self._assigned_to[value] = target
                return
        self.origins[target] = self._origin(value)

    def leave_Assign(self, original_node: cst.Assign) -> None:
        target = self._assigned_to.get(original_node.value)
        if target is not None and original_node.value in self.shapes:
            entities, joined, model = self.shapes[original_node.value]
            # A query refined in a branch (``if x: q = q.join(...)``): what any
            # assignment says holds from there on.
            _, was_joined, _ = self.query_shapes.get(target, ((), False, ""))
            self.query_shapes[target] = (entities, joined or was_joined, model)
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
                            f"the legacy query `{name}` is used as a result (iterated,"
                            " handed on or returned): VF203 rewrites only queries that"
                            " a call like `.all()` runs",
                        ),
                    )

    def _origin(self, value: cst.BaseExpression) -> Origin:
        if isinstance(value, cst.Await):
            value = value.expression
        if isinstance(value, cst.Call):
            chain = query_chain(value)
            if chain is not None:
                receiver, calls = chain
                root = receiver.value
                last = method(calls[-1])
                line, column, _, _ = self.locate(value)
                if (root in self.candidates and method(calls[0]) == "query") or (
                    root in self.query_vars
                ):
                    if last == "all":
                        return Origin(From.LIST, (line, column))
                    if last in LOADS:
                        return Origin(From.QUERY, (line, column))
                elif root in self.candidates and len(calls) == 1 and last in ("get", "get_one"):
                    names = self.qualify(value.args[0].value) if value.args else ()
                    if len(names) == 1:
                        return Origin(From.GET, (line, column), names[0])
            names = self.qualify(value.func)
            if len(names) == 1:
                return Origin(From.CALL, name=names[0])
        return UNKNOWN

    def visit_For(self, node: cst.For) -> None:
        self._item(node.target, node.iter)

    def visit_CompFor(self, node: cst.CompFor) -> None:
        self._item(node.target, node.iter)

    def _item(self, target: cst.BaseExpression, source: cst.BaseExpression) -> None:
        """``for target in source``: ``target`` is an item of ``source``."""
        if not isinstance(target, cst.Name):
            return
        if isinstance(source, cst.Name):
            self.origins[target.value] = Origin(From.ITEM, name=source.value)
        elif isinstance(source, cst.Attribute) and isinstance(source.value, cst.Name):
            iterated = f"{source.value.value}.{source.attr.value}"
            self.origins[target.value] = Origin(From.ITEM, name=iterated)
        else:
            self.origins[target.value] = UNKNOWN

    def visit_Return(self, node: cst.Return) -> None:
        value = node.value
        if isinstance(value, cst.Await):
            value = value.expression
        if value is None or (isinstance(value, cst.Name) and value.value == "None"):
            return
        if isinstance(value, cst.Name):
            self.returns.append(value.value)
        elif isinstance(value, cst.Call):
            origin = self._origin(value)
            if origin.kind is From.CALL:
                self.returns.append(origin)  # what a helper returns, handed on
            else:
                line, column, _, _ = self.locate(value)
                self.returns.append(Origin(From.QUERY, (line, column)))
        else:
            self.returns.append(UNKNOWN)

    def visit_Attribute(self, node: cst.Attribute) -> None:
        inner = node.value
        if (
            isinstance(inner, cst.Attribute)
            and isinstance(inner.value, cst.Name)
            and node not in self.called
        ):
            # ``order.user.orders``: a relationship of a relationship.
            line, column, _, _ = self.locate(node)
            self.touches.append(
                (inner.value.value, f"{inner.attr.value}.{node.attr.value}", line, column)
            )
        if not isinstance(node.value, cst.Name):
            return
        name = node.value.value
        attr = node.attr.value
        if node in self.called:
            return
        if name in self.candidates:
            if attr not in SYNC_ATTRIBUTES:
                self._add(name, self._site(node, f"no rewrite for `{name}.{attr}`"))
            return
        line, column, _, _ = self.locate(node)
        self.touches.append((name, attr, line, column))

    def _orm_call(self, node: cst.Call) -> None:
        names = self.qualify(node.func) if isinstance(node.func, cst.Name | cst.Attribute) else ()
        func = node.func
        root = func
        while isinstance(root, cst.Attribute):
            root = root.value
        if isinstance(root, cst.Name) and (
            root.value in self.locals or root.value in self.origins or root.value in self.candidates
        ):
            names = ()  # a method of a local object (``db.add``, ``items.append``)
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name):
            # ``order.to_dict()``: ``order`` is ``self`` of a method of its model.
            line, column, _, _ = self.locate(func.value)
            callee = f"method:{func.attr.value}"
            self.passes.append(Pass((callee,), 0, func.value.value, line, column))
        for index, arg in enumerate(node.args):
            value = arg.value
            if not isinstance(value, cst.Name):
                # Anything else handed on (``f(load(db))``): what it holds is unknown.
                line, column, _, _ = self.locate(value)
                keyed = names
                if arg.keyword is not None:
                    keyed = tuple(f"{n}:{arg.keyword.value}" for n in names)
                position = -2 if arg.keyword is not None else (-1 if arg.star else index)
                self.passes.append(Pass(keyed, position, HANDED, line, column))
                continue
            keyed = names
            if arg.star:
                index = -1
            elif arg.keyword is not None:
                keyed = tuple(f"{n}:{arg.keyword.value}" for n in names)
                index = -2
            line, column, _, _ = self.locate(value)
            if value.value in self.candidates and not (
                isinstance(node.func, cst.Attribute)
                and isinstance(node.func.value, cst.Name)
                and node.func.value.value in self.candidates
            ):
                # A session handed on: a helper that takes it as ``Session`` is rewritten
                # with it; anything else would get an AsyncSession it cannot use.
                self._add(
                    value.value,
                    self._site(
                        value,
                        ""
                        if names
                        else f"`{value.value}` is handed to something VF203 cannot follow",
                        awaits=False,
                    ),
                )
                self.passes.append(Pass(keyed, index, value.value, line, column, session=True))
            self.passes.append(Pass(keyed, index, value.value, line, column))


class _Bindings(cst.CSTVisitor):
    """``db = Factory()`` and ``with Factory() as db`` in a function, and the names
    called like sessions (``x.query(...)``, ``x.commit()``)."""

    def __init__(self, qualify: Qualify) -> None:
        super().__init__()
        self.qualify = qualify
        self.bound: dict[str, str] = {}
        self.local: set[str] = set()
        self.receivers: set[str] = set()

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            if isinstance(target.target, cst.Name):
                self.local.add(target.target.value)
                made = self._made(node.value)
                if made:
                    self.bound[target.target.value] = made

    def visit_WithItem(self, node: cst.WithItem) -> None:
        if node.asname is not None and isinstance(node.asname.name, cst.Name):
            self.local.add(node.asname.name.value)
            made = self._made(node.item)
            if made:
                self.bound[node.asname.name.value] = made

    def _made(self, value: cst.BaseExpression) -> str:
        if isinstance(value, cst.Call) and not value.args and dotted(value.func):
            names = self.qualify(value.func)
            if len(names) == 1:
                return f"made:{names[0]}"
        return ""

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if (
            isinstance(func, cst.Attribute)
            and isinstance(func.value, cst.Name)
            and (func.attr.value in AWAITED | {"query", "add", "add_all"})
        ):
            self.receivers.add(func.value.value)


def scan_function(
    function: cst.FunctionDef, qualname: str, qualify: Qualify, locate: Locate
) -> _Scan:
    scan = _Scan(function, qualify, locate)
    scan.find_sessions()
    function.body.visit(scan)
    scan.misused_queries()
    return scan


def function_facts(scan: _Scan, qualname: str, response: tuple[str, ...]) -> FunctionDb:
    params = scan.function.params
    names = tuple(p.name.value for p in (*params.posonly_params, *params.params))
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
        tuple(sorted(scan.annotated.items())),
        tuple(scan.expiries),
        tuple(scan.flushes),
        scan.locate(scan.function)[2],
        tuple(
            name
            for decorator in scan.function.decorators
            for name in (dotted(decorator.decorator) or "",)
            if name
        ),
    )
