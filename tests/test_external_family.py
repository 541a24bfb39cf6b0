"""A codemod family from outside vibefix does what VF101 does, with the engine knowing
nothing of it: installed through the ``vibefix.codemods`` entry point (in a site folder
of its own, run by the real CLI in a subprocess), it collects facts of its own in the
index walk, makes a family part of the plan from them and the engine's index across
modules, reports findings from the plan in a file it does not rewrite, rewrites call
sites in another module with an import, and holds one back where a name its rewrite
needs means something else (``Codemod.needed_names`` -> ``FunctionFact.shadowed``)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from tests.test_plugins import vibefix

SOURCE = Path(__file__).resolve().parents[1] / "src" / "vibefix"

PLUGIN = '''\
"""urlopen, reached from async code across modules: a family of one codemod."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import libcst as cst
from libcst.metadata import PositionProvider

from vibefix.codemod import Codemod, Collector, FileContext, NeededName, PlanContext, PlanPart
from vibefix.config import Config
from vibefix.engine.index import NodeKey, node_key
from vibefix.results import Finding, Position

URLOPEN = "urllib.request.urlopen"


@dataclass(frozen=True)
class Opens:
    """The functions of a file that call urlopen, and where."""

    calls: tuple[tuple[str, int, int], ...]


class OpensCollector(Collector[Opens]):
    def __init__(self, file: FileContext) -> None:
        super().__init__(file)
        self.functions: list[str] = []
        self.found: list[tuple[str, int, int]] = []

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        names = self.qualified(node.name) or (f"{self.module}.{node.name.value}",)
        self.functions.append(names[0])

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self.functions.pop()

    def visit_Call(self, node: cst.Call) -> None:
        if self.functions and URLOPEN in self.qualified(node.func):
            where = self.get_metadata(PositionProvider, node).start
            self.found.append((self.functions[-1], where.line, where.column + 1))

    def facts(self) -> Opens | None:
        return Opens(tuple(self.found)) if self.found else None


@dataclass(frozen=True)
class Reach(PlanPart):
    """The calls in async functions of functions that open URLs, project-wide."""

    offload: Mapping[NodeKey, str] = field(default_factory=dict)
    """Call site -> the callee, to run in a thread."""
    findings: tuple[Finding, ...] = ()
    touched: frozenset[Path] = frozenset()

    @classmethod
    def make(cls, context: PlanContext) -> Reach:
        code = next(c.code for c in context.codemods if c.uses == (Reach,))
        opens = {
            name: (path, line, column)
            for path, facts in context.index.facts(OpensCollector).items()
            for name, line, column in facts.calls
        }
        offload: dict[NodeKey, str] = {}
        findings: list[Finding] = []
        for function in context.index.functions.values():
            if not function.is_async:
                continue
            for call in function.calls:
                resolved = [context.index.resolve(target) for target in call.targets]
                callee = next((name for name in resolved if name in opens), None)
                if callee is None or call.awaited:
                    continue
                path, line, column = opens[callee]
                if "asyncio" in function.shadowed:
                    findings.append(
                        Finding(
                            function.path,
                            Position(call.line, call.column),
                            code,
                            f"`{callee}` opens a URL, but `asyncio` means something else here",
                        )
                    )
                    continue
                offload[node_key(function.path, call)] = callee
                findings.append(
                    Finding(
                        path,
                        Position(line, column),
                        code,
                        f"`urlopen` blocks the event loop of `async def {function.qualname}`",
                    )
                )
        touched = frozenset(key[0] for key in offload) | {f.path for f in findings}
        return cls(offload, tuple(findings), touched)


class OffloadOpeners(Codemod[PlanPart]):
    """Run the project's URL-opening functions in a thread where async code calls them.

    Why: a plugin test of a whole-program family.
    """

    code = "VF960"
    triggers = (r"urlopen|async\\s+def",)
    collectors = (OpensCollector,)
    uses = (Reach,)

    @classmethod
    def needed_names(cls, config: Config) -> tuple[NeededName, ...]:
        return (NeededName("asyncio", "asyncio"),)

    def visit_Call(self, node: cst.Call) -> None:
        where = self.get_metadata(PositionProvider, node)
        key = (self.file.path, where.start.line, where.start.column + 1,
               where.end.line, where.end.column + 1)
        reach = self.plan.part(Reach)
        if reach is None or key not in reach.offload:
            return
        asyncio = self.file.imports.module_alias(node, "asyncio")
        if asyncio is None:
            return

        def offloaded(updated: cst.Call) -> cst.BaseExpression:
            runner = cst.parse_expression(f"{asyncio.name}.to_thread")
            return cst.Await(
                updated.with_changes(func=runner, args=[cst.Arg(updated.func), *updated.args])
            )

        self.replace(node, offloaded, "run it in a thread", needs=asyncio.needs)
'''

PROJECT = {
    "app/__init__.py": "",
    "app/net.py": """\
        from urllib.request import urlopen


        def fetch(url):
            with urlopen(url) as response:
                return response.read()
        """,
    "app/routes.py": """\
        from app.net import fetch


        async def handler(url):
            body = fetch(url)
            return len(body)


        async def shadowed(url):
            asyncio = "not the module"
            return fetch(url), asyncio


        def sync_caller(url):
            return fetch(url)
        """,
}


def install(site: Path) -> None:
    (site / "vfnet.py").write_text(PLUGIN, encoding="utf-8")
    info = site / "vfnet-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: vfnet\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[vibefix.codemods]\nnet = vfnet:OffloadOpeners\n")


def make_project(root: Path) -> None:
    for name, text in PROJECT.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")


@pytest.mark.once
def test_an_external_family_collects_plans_reports_and_rewrites(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    install(site)
    project = tmp_path / "project"
    make_project(project)

    checked = vibefix(
        "check",
        "--no-cache",
        "--select",
        "VF960",
        "--output-format",
        "json",
        ".",
        site=site,
        cwd=project,
    )
    assert checked.returncode == 1, checked.stderr
    report = json.loads(checked.stdout)
    findings = sorted((f["path"], f["line"], f["code"], f["message"]) for f in report["findings"])
    assert findings == [
        (
            "app/net.py",
            5,
            "VF960",
            "`urlopen` blocks the event loop of `async def app.routes.handler`",
        ),
        (
            "app/routes.py",
            11,
            "VF960",
            "`app.net.fetch` opens a URL, but `asyncio` means something else here",
        ),
    ]

    applied = vibefix("apply", "--no-cache", "--select", "VF960", ".", site=site, cwd=project)
    assert applied.returncode in (0, 1), applied.stderr
    routes = (project / "app" / "routes.py").read_text(encoding="utf-8")
    assert routes.startswith("import asyncio\n")
    assert "    body = await asyncio.to_thread(fetch, url)\n" in routes
    assert "    return fetch(url), asyncio\n" in routes  # held back: the name is taken
    assert "def sync_caller(url):\n    return fetch(url)\n" in routes  # sync: left alone
    assert (project / "app" / "net.py").read_text(encoding="utf-8") == textwrap.dedent(
        PROJECT["app/net.py"]
    )


def test_the_engine_knows_nothing_of_the_external_family():
    for path in SOURCE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "VF960" not in text, path
        assert "vfnet" not in text, path
