"""VF303: a model that is both body and response, or leaks secrets -> ``XCreate``/``XRead``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import libcst as cst
from libcst.metadata import QualifiedNameProvider

from vibefix.boundary import facts as boundary
from vibefix.boundary.facts import BoundaryCodemod
from vibefix.boundary.modeledit import fields_of
from vibefix.boundary.plan import BoundaryPlan, SplitPlan
from vibefix.boundary.splits import Split
from vibefix.codemod import PlanContext
from vibefix.cst.names import fully_qualified
from vibefix.results import Safety


class SplitModels(BoundaryCodemod[SplitPlan]):
    """Split a model used as request body and response into `XCreate` and `XRead`.

    Why: one model for both directions means a response carries what a client sends
    (`password`) and a client may send what only the server sets (`id`, `is_admin`,
    `hashed_password`). AI-written code does this all the time, and the response then
    holds the password hash. `XCreate` keeps the fields the handlers read from the body;
    `XRead` keeps every field but secret ones (`password`, `hashed_password`, `secret`,
    `token`, `api_key`...), and every handler that answered with the model answers with
    `XRead`, which FastAPI uses to filter what it sends.

    Example:

        class User(BaseModel):
            email: str
            password: Optional[str] = None
            hashed_password: Optional[str] = None

        @router.post("/users", response_model=User)
        async def create_user(user: User): ...   # reads user.email, user.password

    becomes

        class UserCreate(BaseModel):
            email: str
            password: Optional[str] = None


        class UserRead(BaseModel):
            email: str

        @router.post("/users", response_model=UserRead)
        async def create_user(user: UserCreate): ...

    A model that is a response only and carries a secret field mirrored from an ORM
    column is reported, not rewritten: an endpoint may be meant to hand one out (a new
    API key). Names and secrets are set in
    `[tool.vibefix.split-models]`: `create = "{name}Create"`, `read = "{name}Read"`
    (`{name}` without a `Create`/`In`/`Schema`... it ends with), `secrets = [...]`.
    With VF300 and VF301, `XCreate` gets their edits (required fields, strict types,
    `extra="forbid"`) and `XRead` stays as the model was.

    Safety: review. Clients that sent fields the handlers never read get them ignored
    (or a 422 with VF301); responses lose the secret fields.

    Not rewritten: a model used anywhere else than in route handlers' parameters and
    response types (a helper's annotation, another model's field, `isinstance`), one the
    code builds from data, one other models derive from, one with validators or methods,
    one a handler uses whole (passes on, dumps, returns), a partial-update model, and one
    whose new names exist already: each with a finding.
    """

    code = "VF303"
    safety = Safety.REVIEW
    # Also a route module (``response_model=``): given alone, its handlers' models are
    # found by name, and a split it holds back is reported there.
    triggers = (f"{boundary.TRIGGER}|{boundary.OPTIONAL_FIELD}|\\bresponse_model[ \\t]*=",)

    @classmethod
    def plan_part(cls, context: PlanContext) -> SplitPlan:
        plan = context.part(BoundaryPlan) or BoundaryPlan()
        handlers: dict[str, list[str]] = {}
        touched: set[Path] = set()
        for qualname, split in plan.splits.items():
            touched.add(plan.models[qualname].path)
            for handler in (*split.bodies, *split.responses):
                handlers.setdefault(handler, []).append(qualname)
                touched.add(plan.handler_paths[handler])
        touched.update(plan.models[qualname].path for qualname in plan.unsplit)
        return SplitPlan(
            plan.splits,
            plan.unsplit,
            {name: tuple(models) for name, models in handlers.items()},
            frozenset(touched),
            {name: plan.models[name].path for name in plan.splits},
            {name: plan.handler_paths[name] for name in handlers},
        )

    @classmethod
    def settle(cls, part: SplitPlan | None, context: PlanContext) -> SplitPlan | None:
        """Withdraw a split whose model or handlers sit in a file that may not change
        (outside the paths given): the model and its handlers change together or not."""
        if part is None:
            return part
        writable = context.writable
        shut: dict[str, Path] = {}
        for model, split in part.splits.items():
            files = [
                part.model_paths[model],
                *(part.handler_paths[h] for h in (*split.bodies, *split.responses)),
            ]
            closed = [path for path in files if not writable(path)]
            if closed:
                shut[model] = closed[0]
        if not shut:
            return part
        unsplit = dict(part.unsplit)
        for model, path in shut.items():
            unsplit[model] = (
                f"{part.splits[model].why}, but `{path.name}` is outside the paths given (or"
                " could not be rewritten), and the model and its handlers change together"
            )
        return replace(
            part,
            splits={m: s for m, s in part.splits.items() if m not in shut},
            unsplit=unsplit,
            handlers={
                handler: kept
                for handler, models in part.handlers.items()
                if (kept := tuple(m for m in models if m not in shut))
            },
            held_handlers={
                handler: model
                for handler, models in part.handlers.items()
                for model in models
                if model in shut
            },
        )

    def visit_Module(self, node: cst.Module) -> None:
        self._plan = self.part or SplitPlan()
        module = self.file.module_name
        self._package = (
            module if self.file.path.name == "__init__.py" else module.rpartition(".")[0]
        )
        self._depth = 0

    # -- the model ---------------------------------------------------------------------

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        qualname = f"{self.file.module_name}.{node.name.value}"
        if qualname in self._plan.unsplit:
            self.report(node, f"`{node.name.value}` is not split: {self._plan.unsplit[qualname]}")
        split = self._plan.splits.get(qualname)
        if split is not None and isinstance(node.body, cst.IndentedBlock):
            self._split(node, split)
        return False

    def _split(self, node: cst.ClassDef, split: Split) -> None:
        original = node

        def change(updated: cst.ClassDef) -> Any:
            read = _with_fields(original, split.read_fields, split.read)
            create = _with_fields(updated, split.create_fields, split.create)
            read = read.with_changes(
                leading_lines=[cst.EmptyLine(indent=False), cst.EmptyLine(indent=False)]
            )
            return cst.FlattenSentinel([create, read])

        dropped = sorted({name for _, name in fields_of(node)} - set(split.read_fields))
        reason = (
            f"`{node.name.value}` {split.why}: `{split.create}` for requests"
            f" ({', '.join(split.create_fields)}), `{split.read}` for responses"
            + (f" (without {', '.join(dropped)})" if dropped else "")
        )
        self.replace(node, change, reason)

    # -- the handlers ------------------------------------------------------------------

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._depth += 1
        if self._depth != 1:
            return
        qualname = f"{self.file.module_name}.{node.name.value}"
        held = self._plan.held_handlers.get(qualname)
        if held is not None:
            why = self._plan.unsplit[held]
            self.report(node, f"`{node.name.value}` keeps `{held.rpartition('.')[2]}`: {why}")
        models = self._plan.handlers.get(qualname, ())
        if not models:
            return
        renames = {model: self._plan.splits[model] for model in models}
        for decorator in node.decorators:
            call = decorator.decorator
            if isinstance(call, cst.Call):
                for arg in call.args:
                    if arg.keyword is not None and arg.keyword.value == "response_model":
                        self._rename(arg.value, renames, read=True)
        if node.returns is not None:
            self._rename(node.returns.annotation, renames, read=True)
        for param in (*node.params.params, *node.params.kwonly_params):
            if param.annotation is not None:
                self._rename(param.annotation.annotation, renames, read=False)

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self._depth -= 1

    def _rename(
        self, expression: cst.BaseExpression, renames: Mapping[str, Split], *, read: bool
    ) -> None:
        for node in _names_and_attributes(expression):
            provider: Any = QualifiedNameProvider
            qualified = {
                fully_qualified(q, self.file.module_name, self._package)
                for q in self.get_metadata(provider, node, set())
            }
            model = next((m for m in qualified if m in renames), None)
            if model is None or len(qualified) != 1:
                continue
            split = renames[model]
            new = split.read if read else split.create
            if isinstance(node, cst.Attribute):
                self.replace(
                    node,
                    _attribute_to(new),
                    f"`{model.rpartition('.')[2]}` is split: the handler "
                    + ("answers with" if read else "takes")
                    + f" `{new}`",
                )
                continue
            assert isinstance(node, cst.Name)
            needs: tuple[str, ...] = ()
            if split.module != self.file.module_name:
                alias = self.file.imports.name_alias(node, split.module, new)
                if alias is None:
                    self.report(node, f"`{new}` means something else here: use it by hand")
                    continue
                needs = alias.needs
            self.replace(
                node,
                _name_to(new),
                f"`{model.rpartition('.')[2]}` is split: the handler "
                + ("answers with" if read else "takes")
                + f" `{new}`",
                needs=needs,
                drops=[node],
            )


def _attribute_to(new: str) -> Callable[[cst.Attribute], cst.Attribute]:
    return lambda updated: updated.with_changes(attr=cst.Name(new))


def _name_to(new: str) -> Callable[[cst.Name], cst.Name]:
    return lambda updated: updated.with_changes(value=new)


def _with_fields(node: cst.ClassDef, fields: tuple[str, ...], name: str) -> cst.ClassDef:
    """``node`` renamed, with only ``fields`` of its annotated fields."""
    assert isinstance(node.body, cst.IndentedBlock)
    kept: list[Any] = []
    blanks: list[cst.EmptyLine] = []  # a dropped field's blank lines stay
    line: Any
    for line in node.body.body:
        if isinstance(line, cst.SimpleStatementLine) and any(
            isinstance(small, cst.AnnAssign)
            and isinstance(small.target, cst.Name)
            and small.target.value != "model_config"
            and small.target.value not in fields
            for small in line.body
        ):
            blanks.extend(empty for empty in line.leading_lines if empty.comment is None)
            continue
        if blanks and not line.leading_lines:
            line = line.with_changes(leading_lines=blanks[:1])
        blanks = []
        kept.append(line)
    if not kept:
        kept.append(cst.SimpleStatementLine([cst.Pass()]))
    return node.with_changes(name=cst.Name(name), body=node.body.with_changes(body=kept))


def _names_and_attributes(node: cst.CSTNode) -> list[cst.Name | cst.Attribute]:
    found: list[cst.Name | cst.Attribute] = []

    class Finder(cst.CSTVisitor):
        def visit_Name(self, name: cst.Name) -> None:
            found.append(name)

        def visit_Attribute(self, attribute: cst.Attribute) -> bool:
            found.append(attribute)
            return False  # ``schemas.User``: the attribute is the name, not ``schemas``

    node.visit(Finder())
    return found
