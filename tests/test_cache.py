"""The cache: what a run learnt is read back, and only what is still true.

Runs go through the real command line, in a subprocess, over a small project; what each
test says of the cache it reads off the cache folder itself (which entries exist, which
were written by a run) and off the output, which must never depend on the cache.
"""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.conftest import VIBEFIX, RunVibefix
from vibefix.engine.cache import FOLDER, package_files

# The cache's plumbing is the same on every interpreter; CI runs it on the default one.
pytestmark = pytest.mark.once

PROJECT = {
    "pyproject.toml": "[project]\nname = 'shop'\n",
    "shop/__init__.py": "",
    "shop/api.py": """\
        import time

        from fastapi import FastAPI

        from shop.jobs import nightly
        from shop.services import lookup

        app = FastAPI()
        app.state.nightly = nightly


        @app.get("/items/{item_id}")
        async def item(item_id: int):
            time.sleep(0.1)
            return lookup(item_id)
        """,
    "shop/services.py": """\
        import time


        def lookup(item_id):
            time.sleep(0.1)
            return {"id": item_id}
        """,
    "shop/jobs.py": """\
        import time


        async def nightly():
            time.sleep(5)
        """,
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    for name, text in PROJECT.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def entries(root: Path, kind: str) -> dict[str, int]:
    folder = root / FOLDER / kind
    if not folder.is_dir():
        return {}
    return {path.name: path.stat().st_mtime_ns for path in folder.iterdir()}


def check(run_vibefix: RunVibefix, root: Path, *args: str) -> tuple[int, str, str]:
    done = run_vibefix("check", "--output-format", "json", *args, ".", cwd=root)
    return done.returncode, done.stdout, done.stderr


def test_a_second_run_is_read_back_whole_and_says_the_same(project: Path, run_vibefix):
    first = check(run_vibefix, project)
    facts = entries(project, "facts")
    runs = entries(project, "runs")
    assert first[0] == 1
    assert len(facts) == 3  # the three files that sleep
    assert len(runs) == 1

    second = check(run_vibefix, project)

    assert second == first
    assert entries(project, "facts") == facts  # nothing read again, nothing written
    assert entries(project, "runs") == runs
    assert (project / FOLDER / ".gitignore").read_text().splitlines()[-1] == "*"


def test_a_changed_file_misses_its_own_facts_and_nothing_more(project: Path, run_vibefix):
    check(run_vibefix, project)
    before = entries(project, "facts")
    jobs = project / "shop/jobs.py"
    jobs.write_text(jobs.read_text() + "\n\nasync def weekly():\n    time.sleep(7)\n")
    line = jobs.read_text().splitlines().index("    time.sleep(7)") + 1

    code, out, _ = check(run_vibefix, project)

    after = entries(project, "facts")
    new = set(after) - set(before)
    assert len(new) == 1  # jobs.py's new content
    assert {name: after[name] for name in before} == before  # the others, untouched
    assert code == 1
    assert f'"line": {line},' in out  # the new sleep is reported
    assert out == check(run_vibefix, project, "--no-cache")[1]


def test_a_changed_configuration_misses_every_entry(project: Path, run_vibefix):
    check(run_vibefix, project)
    before = entries(project, "facts")
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + "\n[tool.vibefix]\ntarget-version = 'py311'\n")

    check(run_vibefix, project)

    after = entries(project, "facts")
    assert len(after) == 2 * len(before)
    assert set(before) <= set(after)


def test_a_new_vibefix_misses_every_entry(project: Path, run_vibefix, monkeypatch):
    check(run_vibefix, project)
    before = entries(project, "facts")
    # A different vibefix: the same code under another version number.
    monkeypatch.setenv("PYTHONPATH", str(_patched_version(project.parent)))

    code, out, _ = check(run_vibefix, project)

    after = entries(project, "facts")
    assert len(after) == 2 * len(before)
    assert code == 1
    assert out == check(run_vibefix, project, "--no-cache")[1]


def _patched_version(folder: Path) -> Path:
    """A ``sitecustomize`` that gives vibefix another version number."""
    site = folder / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import vibefix\nvibefix.__version__ = '9999.0'\n", encoding="utf-8"
    )
    return site


def test_a_corrupt_or_foreign_entry_is_ignored_and_written_anew(project: Path, run_vibefix):
    first = check(run_vibefix, project)
    facts = project / FOLDER / "facts"
    runs = project / FOLDER / "runs"
    victim = sorted(facts.iterdir())[0]
    good = victim.read_bytes()
    victim.write_bytes(good[:-10] + b"0123456789")  # the payload changed: the signature fails
    for run in runs.iterdir():
        run.write_bytes(b"not a cache entry at all")

    second = check(run_vibefix, project)

    assert second == first
    assert victim.read_bytes() != good[:-10] + b"0123456789"  # written anew
    written = {**entries(project, "facts"), **entries(project, "runs")}
    assert check(run_vibefix, project) == first
    assert {**entries(project, "facts"), **entries(project, "runs")} == written  # read back


def test_an_entry_signed_with_another_key_is_never_unpickled(
    project: Path, run_vibefix, tmp_path: Path
):
    first = check(run_vibefix, project)
    # Another user's cache: the same entries, signed with their own key.
    other = {"XDG_CACHE_HOME": str(tmp_path / "someone-else")}
    done = run_vibefix("check", "--output-format", "json", ".", cwd=project, env=other)
    assert (done.returncode, done.stdout) == first[:2]
    written = entries(project, "runs")

    again = run_vibefix("check", "--output-format", "json", ".", cwd=project, env=other)

    assert again.stdout == first[1]
    assert entries(project, "runs") == written  # their own entries, read back this time


def test_two_runs_at_once_both_succeed(project: Path):
    env = {**os.environ, "NO_COLOR": "1"}
    runs = [
        subprocess.Popen(
            [*VIBEFIX, "check", "--output-format", "json", "."],
            cwd=project,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [1, 1]
    assert outputs[0][0] == outputs[1][0]
    assert len(entries(project, "runs")) == 1


def test_a_cache_folder_that_cannot_be_made_means_no_cache(project: Path, run_vibefix):
    blocker = project.parent / "a-file"
    blocker.write_text("not a folder")
    env = {"VIBEFIX_CACHE_DIR": str(blocker / "cache")}

    done = run_vibefix("check", "--output-format", "json", ".", cwd=project, env=env)

    assert done.returncode == 1
    assert done.stderr == ""
    assert not (project / FOLDER).exists()


def test_the_cache_folder_can_be_moved_or_not_used(project: Path, run_vibefix, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    run_vibefix("check", ".", cwd=project, env={"VIBEFIX_CACHE_DIR": str(elsewhere)})
    assert (elsewhere / "runs").is_dir()
    assert not (project / FOLDER).exists()

    run_vibefix("check", "--no-cache", ".", cwd=project)
    assert not (project / FOLDER).exists()


def test_what_the_code_depends_on_counts_templates_and_tables_not_bytecode(tmp_path: Path):
    # Editing a template of the code a codemod writes, or the blocking-call table, must
    # invalidate the cache as editing a module does.
    package = tmp_path / "pkg"
    (package / "templates").mkdir(parents=True)
    (package / "__pycache__").mkdir()
    for name in ("mod.py", "table.toml", "templates/client.py.tmpl", "__pycache__/mod.pyc"):
        (package / name).write_text("x", encoding="utf-8")
    found = [path.relative_to(package).as_posix() for path in package_files(package)]
    assert found == ["mod.py", "table.toml", "templates/client.py.tmpl"]
