"""What VF200 and VF201 share: giving a function FastAPI injects the request's session,
``name: Annotated[Session, Depends(get_db)]``, with the imports that takes."""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
from libcst.metadata import PositionProvider

from vibefix.asyncdb.plan import DbPlan
from vibefix.calls.rewrite import AsyncCodemod
from vibefix.codemod import PartT
from vibefix.sessions.plan import SessionPlan


class SessionCodemod(AsyncCodemod[PartT]):
    """A codemod that hands functions the session of the project's dependency."""

    def visit_Module(self, node: cst.Module) -> None:
        self._module = node

    def give_session(
        self,
        function: cst.FunctionDef,
        name: str,
        dependency: str,
        at: cst.CSTNode,
        drops: Sequence[cst.CSTNode] = (),
    ) -> bool:
        """Record that ``function`` takes ``name`` from ``Depends(dependency)`` (a
        qualified name); False, with a finding at ``at``, when it cannot."""
        spelling = self._spelling(function, dependency)
        if isinstance(spelling, str):
            self.report(at, spelling)
            return False
        spelled, needs, (annotated, depends, session) = spelling
        annotation = cst.parse_expression(f"{annotated}[{session}, {depends}({spelled})]")
        param = cst.Param(cst.Name(name), cst.Annotation(annotation))

        def take(updated: cst.FunctionDef) -> cst.FunctionDef:
            params = updated.params
            star = params.star_arg
            if isinstance(star, cst.MaybeSentinel):
                star = cst.ParamStar()
            body = updated.body
            if isinstance(body, cst.IndentedBlock) and not body.body:
                body = body.with_changes(body=[cst.SimpleStatementLine([cst.Pass()])])
            return updated.with_changes(
                params=params.with_changes(
                    star_arg=star, kwonly_params=[*params.kwonly_params, param]
                ),
                body=body,
            )

        self.replace(
            function,
            take,
            f"FastAPI hands it the request's session and closes it: `{spelled}`",
            needs=needs,
            drops=drops,
        )
        return True

    def can_give_session(self, function: cst.FunctionDef, dependency: str) -> bool:
        """Whether ``give_session`` would succeed for ``function`` (nothing recorded)."""
        return not isinstance(self._spelling(function, dependency), str)

    def _spelling(
        self, function: cst.FunctionDef, dependency: str
    ) -> tuple[str, list[str], tuple[str, str, str]] | str:
        """How ``function`` spells the dependency, ``Annotated``, ``Depends`` and the
        session class, and the imports that takes; why it cannot, as a string."""
        module, _, short = dependency.rpartition(".")
        if module == self.file.module_name:
            if not (
                self._defined_before(short, function) or self._created_before(dependency, function)
            ):
                return (
                    f"`{short}` is defined after the handler: FastAPI reads `Depends({short})`"
                    " when the handler is defined; move it up, then use it"
                )
            spelled, needs = short, []
        else:
            alias = self.file.imports.name_alias(function, module, short)
            if alias is None:
                return f"the name `{short}` means something else here"
            spelled, needs = alias.name, list(alias.needs)
        names = []
        for source, imported in (
            ("typing", "Annotated"),
            ("fastapi", "Depends"),
            self._session_class(),
        ):
            alias = self.file.imports.name_alias(function, source, imported)
            if alias is None:
                return f"the name `{imported}` means something else here"
            names.append(alias.name)
            needs += alias.needs
        return spelled, needs, (names[0], names[1], names[2])

    def _session_class(self) -> tuple[str, str]:
        """``AsyncSession`` once VF203 moves the project to it in this run."""
        db = self.plan.applied_part(DbPlan)
        if db is not None and db.migrates:
            return ("sqlalchemy.ext.asyncio", "AsyncSession")
        return ("sqlalchemy.orm", "Session")

    def _created_before(self, dependency: str, function: cst.FunctionDef) -> bool:
        """Whether ``dependency`` is one VF200 writes below its factory, and the factory
        comes before ``function``."""
        sessions = self.plan.applied_part(SessionPlan)
        if sessions is None:
            return False
        factories = [f for f, d in sessions.created.items() if d == dependency]
        if not factories:
            return False
        short = factories[0].rpartition(".")[2]
        line = self.get_metadata(PositionProvider, function).start.line
        for statement in self._module.body:
            if isinstance(statement, cst.SimpleStatementLine) and any(
                isinstance(small, cst.Assign)
                and any(
                    isinstance(t.target, cst.Name) and t.target.value == short
                    for t in small.targets
                )
                for small in statement.body
            ):
                return self.get_metadata(PositionProvider, statement).start.line < line
        return False

    def _defined_before(self, name: str, function: cst.FunctionDef) -> bool:
        line = self.get_metadata(PositionProvider, function).start.line
        for statement in self._module.body:
            if isinstance(statement, cst.FunctionDef) and statement.name.value == name:
                return self.get_metadata(PositionProvider, statement).start.line < line
        return False
