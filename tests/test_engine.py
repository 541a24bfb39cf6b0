"""The engine's stages on real files: discovery, prefilter, index and plan, transform."""

from __future__ import annotations

import textwrap
from pathlib import Path

import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper, QualifiedNameProvider
from vibefix.codemods import ALL, RECIPES

from tests.sample_codemods import (
    BreaksTouched,
    Conflicts,
    CountFunctions,
    Explodes,
    KillsWorker,
    RenameTodo,
)
from vibefix.calls.plan import AsyncPlan
from vibefix.config import Config, ConfigError, load_config
from vibefix.engine import run as engine
from vibefix.engine.batch import Batch
from vibefix.engine.discover import discover
from vibefix.engine.index import ProjectIndex
from vibefix.engine.metadata import resolve
from vibefix.engine.plan import PlanContext
from vibefix.results import Status


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")


def names(root: Path, paths: list[Path]) -> list[str]:
    return [path.relative_to(root).as_posix() for path in paths]


# -- discovery -----------------------------------------------------------------------


def test_discover_skips_gitignored_venvs_and_build_folders(tmp_path):
    (tmp_path / ".git").mkdir()
    write(
        tmp_path,
        {
            ".gitignore": "generated/\n*_pb2.py\n",
            "app/main.py": "",
            "app/api_pb2.py": "",
            "app/sub/.gitignore": "local.py\n",
            "app/sub/local.py": "",
            "app/sub/kept.py": "",
            "generated/models.py": "",
            ".venv/lib/site.py": "",
            "env/pyvenv.cfg": "",
            "env/lib/x.py": "",
            "build/lib/app.py": "",
            "notes.txt": "",
        },
    )
    found = discover([tmp_path], Config(root=tmp_path))
    assert names(tmp_path, found) == ["app/main.py", "app/sub/kept.py"]


def test_gitignore_above_the_given_folder_applies(tmp_path):
    (tmp_path / ".git").mkdir()
    write(tmp_path, {".gitignore": "app/legacy.py\n", "app/legacy.py": "", "app/new.py": ""})
    found = discover([tmp_path / "app"], Config(root=tmp_path))
    assert names(tmp_path, found) == ["app/new.py"]


def test_a_folder_named_explicitly_is_searched_even_when_ignored_above(tmp_path):
    (tmp_path / ".git").mkdir()
    write(
        tmp_path,
        {
            ".gitignore": "vendor/\n",
            "vendor/lib/.gitignore": "skip.py\n",
            "vendor/lib/mod.py": "",
            "vendor/lib/skip.py": "",
        },
    )
    assert discover([tmp_path], Config(root=tmp_path)) == []
    found = discover([tmp_path / "vendor" / "lib"], Config(root=tmp_path))
    assert names(tmp_path, found) == ["vendor/lib/mod.py"]


def test_config_include_and_exclude_globs(tmp_path):
    write(
        tmp_path,
        {
            "pyproject.toml": (
                '[tool.vibefix]\ninclude = ["app/**"]\nexclude = ["app/migrations/"]\n'
            ),
            "app/main.py": "",
            "app/migrations/0001.py": "",
            "scripts/run.py": "",
        },
    )
    found = discover([tmp_path], load_config([tmp_path]))
    assert names(tmp_path, found) == ["app/main.py"]


def test_a_file_named_explicitly_is_taken_even_when_ignored(tmp_path):
    (tmp_path / ".git").mkdir()
    write(tmp_path, {".gitignore": "*.py\n", "app.py": ""})
    assert discover([tmp_path / "app.py"], Config(root=tmp_path)) == [tmp_path / "app.py"]
    assert discover([tmp_path], Config(root=tmp_path)) == []


def test_unknown_config_key_is_an_error_naming_the_file(tmp_path):
    write(tmp_path, {"pyproject.toml": "[tool.vibefix]\nselct = ['VF100']\n"})
    with pytest.raises(ConfigError, match=r"pyproject\.toml: unknown key 'selct'"):
        load_config([tmp_path])


@pytest.mark.parametrize(
    ("setting", "expected"),
    [('"py311"', (3, 11)), ('"3.12"', (3, 12))],
)
def test_target_version_is_read_in_either_spelling(tmp_path, setting, expected):
    write(tmp_path, {"pyproject.toml": f"[tool.vibefix]\ntarget-version = {setting}\n"})
    assert load_config([tmp_path]).target_version == expected


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('target-version = "3"', r"target-version must be a Python version such as \"py311\""),
        ("target-version = 311", "target-version must be a Python version"),
        (
            '[tool.vibefix.requests-to-httpx]\nbackend = "urllib3"',
            "backend must be one of aiohttp, httpx2, httpx, httpx-aiohttp",
        ),
        ("[tool.vibefix.requests-to-httpx]\nclient = 1", "unknown key 'client'"),
        ('[tool.vibefix.engine-pool]\npool-size = "10"', "pool-size must be an integer"),
        ("[tool.vibefix.engine-pool]\npool-pre-ping = 1", "pool-pre-ping must be true or false"),
        ("[tool.vibefix.engine-pool]\npool_size = 10", "unknown key 'pool_size'"),
    ],
)
def test_bad_codemod_and_target_settings_are_errors_naming_the_file(tmp_path, table, message):
    write(tmp_path, {"pyproject.toml": f"[tool.vibefix]\n{table}\n"})
    with pytest.raises(ConfigError, match=rf"pyproject\.toml: .*{message}"):
        load_config([tmp_path])


# -- prefilter -----------------------------------------------------------------------


def test_file_without_trigger_is_skipped_and_never_parsed(tmp_path):
    # A syntax error would fail the file if it were parsed.
    write(tmp_path, {"broken.py": "def f(:\n    pass\n", "asleep.py": "import os\n"})
    default = tuple(codemod for codemod in ALL if codemod.code in RECIPES["default"])
    options = engine.Options(Config(root=tmp_path), default)
    run = engine.run([tmp_path], options)
    assert [result.status for result in run.files] == [Status.SKIPPED, Status.SKIPPED]


def test_a_codemod_visits_only_the_files_it_triggers_on(tmp_path):
    write(tmp_path, {"a.py": "todo = 1\n", "b.py": "def f():\n    pass\n"})
    options = engine.Options(Config(root=tmp_path), (CountFunctions, RenameTodo), unsafe=True)
    run = engine.run([tmp_path], options)
    by_name = {result.path.name: result for result in run.files}
    assert by_name["a.py"].status is Status.CHANGED
    assert [finding.code for finding in by_name["a.py"].findings] == []
    assert [finding.code for finding in by_name["b.py"].findings] == ["VF901"]


# -- index and plan ------------------------------------------------------------------

PROJECT = {
    "shop/__init__.py": "",
    "shop/main.py": """\
        from fastapi import FastAPI

        from shop.routers import users

        app = FastAPI()
        app.include_router(users.router)


        @app.get("/health")
        async def health():
            return {"ok": True}
        """,
    "shop/routers/__init__.py": "",
    "shop/routers/base.py": """\
        import fastapi

        router = fastapi.APIRouter()
        """,
    "shop/routers/users.py": """\
        from ..services import lookup
        from .base import router


        @router.get("/users/{user_id}")
        def get_user(user_id: int):
            return lookup(user_id)


        def not_a_route():
            return lookup(0)
        """,
    "shop/services.py": """\
        def lookup(user_id):
            return {"id": user_id}
        """,
}


def index_of(root: Path) -> ProjectIndex:
    options = engine.Options(Config(root=root), (CountFunctions,))
    shard = engine.Shard(options)
    files = sorted(root.rglob("*.py"))
    candidates = [engine.Candidate(path, path.read_bytes(), ("VF901",)) for path in files]
    facts = [outcome for outcome in shard.index(candidates) if not hasattr(outcome, "status")]
    return ProjectIndex.merge(facts)  # type: ignore[arg-type]


def test_index_qualifies_functions_across_modules(tmp_path):
    write(tmp_path, PROJECT)
    index = index_of(tmp_path)
    assert set(index.functions) == {
        "shop.main.health",
        "shop.routers.users.get_user",
        "shop.routers.users.not_a_route",
        "shop.services.lookup",
    }
    assert index.functions["shop.main.health"].is_async
    assert index.applications == {
        "shop.main.app": "fastapi.FastAPI",
        "shop.routers.base.router": "fastapi.APIRouter",
    }


def calls_plan(root: Path) -> AsyncPlan:
    """The calls family's part of the plan of the project at ``root``."""
    context = PlanContext(index_of(root), Config(root=root), (), frozenset(), lambda path: True)
    found = context.part(AsyncPlan)
    assert found is not None
    return found


def test_plan_finds_route_handlers_through_an_imported_router(tmp_path):
    write(tmp_path, PROJECT)
    plan = calls_plan(tmp_path)
    assert plan.handlers == {"shop.main.health", "shop.routers.users.get_user"}


def test_plan_call_graph_resolves_relative_imports(tmp_path):
    write(tmp_path, PROJECT)
    plan = calls_plan(tmp_path)
    assert plan.callers["shop.services.lookup"] == {
        "shop.routers.users.get_user",
        "shop.routers.users.not_a_route",
    }


def test_codemod_facts_reach_the_plan_and_every_file(tmp_path):
    write(tmp_path, PROJECT)
    options = engine.Options(Config(root=tmp_path), (CountFunctions,))
    run = engine.run([tmp_path], options)
    messages = {finding.message for finding in run.findings}
    assert messages == {"the project defines 4 functions"}
    assert len(run.findings) == 3  # the three files that define a function


def test_worker_processes_give_the_same_results(tmp_path, monkeypatch):
    write(tmp_path, PROJECT)
    write(tmp_path, {"shop/todo.py": "todo = 1\n", "shop/broken.py": "def todo(:\n"})
    codemods = (CountFunctions, RenameTodo)
    alone = engine.run([tmp_path], engine.Options(Config(root=tmp_path), codemods, 1, True))
    monkeypatch.setattr(engine, "IN_PROCESS_BYTES", 0)
    pooled = engine.run([tmp_path], engine.Options(Config(root=tmp_path), codemods, 2, True))
    assert pooled.files == alone.files
    assert pooled.findings == alone.findings
    assert {result.status for result in pooled.files} == {
        Status.CHANGED,
        Status.UNCHANGED,
        Status.SKIPPED,
        Status.FAILED,
    }


@pytest.mark.parametrize("stage", ["die_indexing", "die_rewriting"])
def test_a_dying_worker_fails_its_files_and_the_run_goes_on(tmp_path, monkeypatch, stage):
    write(tmp_path, {"a.py": f"{stage} = 1\n", "b.py": "todo = 1\n"})
    monkeypatch.setattr(engine, "IN_PROCESS_BYTES", 0)
    options = engine.Options(Config(root=tmp_path), (KillsWorker, RenameTodo), 2, unsafe=True)
    run = engine.run([tmp_path], options)
    a, b = run.files
    assert a.status is Status.FAILED
    assert a.error is not None
    assert "worker process died" in a.error.message
    assert b.status is Status.CHANGED


# -- transform -----------------------------------------------------------------------


def test_review_rewrites_are_findings_without_unsafe():
    result = engine.run_source(b"todo = 1\n", [RenameTodo])
    assert result.status is Status.UNCHANGED
    assert [finding.message for finding in result.findings] == ["todo is done (with --unsafe)"]
    applied = engine.run_source(b"todo = 1\n", [RenameTodo], unsafe=True)
    assert applied.new_source == b"done = 1\n"


def test_a_codemod_that_raises_fails_only_that_file_and_is_named(tmp_path):
    write(tmp_path, {"a.py": "explode = 1\n", "b.py": "todo = 1\n"})
    options = engine.Options(Config(root=tmp_path), (RenameTodo, Explodes), unsafe=True)
    run = engine.run([tmp_path], options)
    a, b = run.files
    assert a.status is Status.FAILED
    assert a.error is not None
    assert "internal error in VF903" in a.error.message
    assert "RuntimeError: boom" in a.error.message
    assert b.status is Status.CHANGED


def test_conflicting_edits_fail_the_file_instead_of_guessing():
    result = engine.run_source(b"conflict = 1\n", [Conflicts])
    assert result.status is Status.FAILED
    assert result.error is not None
    assert "EditConflict" in result.error.message


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_plan_that_keeps_touching_a_file_whose_rewrite_fails_ends(tmp_path, jobs):
    # The engine plans again without the failed file; a codemod's part that ignores
    # that must not make it try forever.
    write(tmp_path, {"a.py": "break_me = 1\n" * 2000, "b.py": "x = 1\n"})
    options = engine.Options(Config(root=tmp_path), (BreaksTouched,), jobs)
    result = engine.run([tmp_path], options)
    statuses = {r.path.name: r.status for r in result.files}
    assert statuses == {"a.py": Status.FAILED, "b.py": Status.SKIPPED}


def test_module_names_follow_init_files(tmp_path):
    write(
        tmp_path, {"src/pkg/__init__.py": "", "src/pkg/sub/__init__.py": "", "src/pkg/sub/m.py": ""}
    )
    assert engine.module_name(tmp_path / "src/pkg/sub/m.py") == ("pkg.sub.m", "pkg.sub")
    write(tmp_path, {"script.py": ""})
    assert engine.module_name(tmp_path / "script.py") == ("script", "")


def test_syntax_newer_than_the_running_python_is_still_rewritten(tmp_path: Path):
    # PEP 695 (3.12): compile() rejects it before 3.12, libcst parses it; the output is
    # then checked by parsing it again instead of compiling it. The project targets 3.12
    # (a project on 3.11 would have the file fail: test_cli.py).
    source = b"import time\ntype Alias = int\n\n\nasync def f():\n    time.sleep(1)\n"
    config = Config(root=tmp_path, target_version=(3, 12))
    result = engine.run_source(source, ALL, config=config)
    assert result.status is Status.CHANGED, result.error
    assert result.new_source is not None
    assert b"type Alias = int\n" in result.new_source
    assert b"await asyncio.sleep(1)" in result.new_source


# -- one walk for several visitors ----------------------------------------------------


class _Recorder(cst.CSTVisitor):
    def __init__(self, skip_functions: bool) -> None:
        super().__init__()
        self.skip_functions = skip_functions
        self.events: list[str] = []

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        self.events.append(f"def {node.name.value}")
        return not self.skip_functions

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self.events.append(f"end {original_node.name.value}")

    def visit_FunctionDef_body(self, node: cst.FunctionDef) -> None:
        self.events.append(f"body {node.name.value}")

    def visit_Call(self, node: cst.Call) -> None:
        self.events.append(f"call {cst.Module([]).code_for_node(node.func)}")


def test_one_walk_hides_children_only_from_the_visitor_that_declined_them():
    module = cst.parse_module("def f():\n    g()\n\n\ndef h():\n    pass\n\n\nk()\n")
    declines, reads = _Recorder(skip_functions=True), _Recorder(skip_functions=False)
    Batch([declines, reads]).walk(MetadataWrapper(module))

    alone = _Recorder(skip_functions=False)
    module.visit(alone)
    assert reads.events == alone.events
    assert declines.events == ["def f", "end f", "def h", "end h", "call k"]
    assert reads.events == [
        *("def f", "body f", "call g", "end f", "def h", "body h", "end h", "call k"),
    ]


def test_qualified_names_resolved_lazily_are_those_libcst_gives_every_node():
    source = textwrap.dedent(
        """\
        import os.path as p
        from . import sibling
        from .pkg import thing as other
        try:
            import json
        except ImportError:
            json = None


        class C(sibling.Base):
            attr: other.T = p.join("a")

            def method(self, x: int) -> None:
                y = [json.dumps(v) for v in x]
                lambda z: z + y
        """
    )
    eager = MetadataWrapper(cst.parse_module(source)).resolve(QualifiedNameProvider)
    wrapper = MetadataWrapper(cst.parse_module(source))
    resolve(wrapper, [QualifiedNameProvider])
    lazy = wrapper.resolve(QualifiedNameProvider)
    eager_names = [
        sorted(map(str, value() if callable(value) else value)) for value in eager.values()
    ]
    # The nodes of the two trees, in the same order.
    lazy_names = [sorted(map(str, lazy.get(node, set()))) for node in _nodes(wrapper.module)]
    assert lazy_names == eager_names
    assert sum(1 for names in lazy_names if names) > 10


def _nodes(module: cst.Module) -> list[cst.CSTNode]:
    found: list[cst.CSTNode] = []

    class Every(cst.CSTVisitor):
        def on_visit(self, node: cst.CSTNode) -> bool:
            found.append(node)
            return True

    module.visit(Every())
    return found
