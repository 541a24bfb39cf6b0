"""VF100 (async-sleep) written as a plain libcst codemod, for ``throughput.py --peers``.

What a team would write with libcst's own tooling instead of vibefix, run by
``python -m libcst.tool codemod -x peer_async_sleep.AsyncSleepCommand``: in an
``async def`` (not in a function nested in it), a call whose qualified name is
``time.sleep`` becomes ``await asyncio.sleep(...)``; ``import asyncio`` is added and an
``import time`` left unused goes. It has no prefilter and no project index: libcst's
tool parses every file and resolves qualified names in each, which is the cost compared.
"""

from __future__ import annotations

import libcst as cst
from libcst.codemod import CodemodContext, VisitorBasedCodemodCommand
from libcst.codemod.visitors import AddImportsVisitor, RemoveImportsVisitor
from libcst.metadata import QualifiedNameProvider


class AsyncSleepCommand(VisitorBasedCodemodCommand):
    DESCRIPTION = "time.sleep in async def -> await asyncio.sleep"
    METADATA_DEPENDENCIES = (QualifiedNameProvider,)

    def __init__(self, context: CodemodContext) -> None:
        super().__init__(context)
        self.asyncs: list[bool] = []

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.asyncs.append(node.asynchronous is not None)

    def leave_FunctionDef(
        self, original_node: cst.FunctionDef, updated_node: cst.FunctionDef
    ) -> cst.FunctionDef:
        self.asyncs.pop()
        return updated_node

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        if not self.asyncs or not self.asyncs[-1]:
            return updated_node
        names = self.get_metadata(QualifiedNameProvider, original_node, set())
        if not any(name.name == "time.sleep" for name in names):
            return updated_node
        AddImportsVisitor.add_needed_import(self.context, "asyncio")
        RemoveImportsVisitor.remove_unused_import(self.context, "time")
        call = updated_node.with_changes(func=cst.Attribute(cst.Name("asyncio"), cst.Name("sleep")))
        return cst.Await(call)
