"""The golden set: what ``diff``, ``check --output-format json`` and ``apply`` print and
write, byte for byte, on the example app and on every fixture folder taken as a project,
under each recipe and with every codemod at once. Refactoring the engine must not change
one byte of it.

The outputs live in ``tests/golden/<project>/<recipe>/``: ``diff.out`` and ``diff.err``
(stdout and stderr of ``vibefix diff .``), ``check.json``, ``apply.err`` and ``apply.tree``
(the SHA-256 of every file after ``vibefix apply .``), each beginning with the exit code.
A change that is meant to alter output regenerates them with
``VIBEFIX_REGENERATE_GOLDEN=1 pytest tests/test_golden.py`` and shows the new files in its
commit, where a reviewer reads what changed.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vibefix.cli import app

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).parent / "golden"
FIXTURES = Path(__file__).parent / "fixtures"
RECIPES = {
    "default": (),
    "async-db": ("--recipe", "async-db", "--unsafe"),
    "pydantic": ("--recipe", "pydantic", "--unsafe"),
    "all": ("--select", "ALL", "--unsafe"),
}
PROJECTS = ["vibeshop", *sorted(path.name for path in FIXTURES.iterdir() if path.is_dir())]
REGENERATE = os.environ.get("VIBEFIX_REGENERATE_GOLDEN") == "1"
_VERSION = re.compile(r'"version": "[^"]*"')


def _copy(project: str, destination: Path) -> Path:
    """The project in a fresh folder: the example app as it is; a fixture folder's
    ``<case>.before.py`` files as ``<case>.py``."""
    target = destination / project
    if project == "vibeshop":
        shutil.copytree(ROOT / "examples" / "vibeshop", target)
        return target
    target.mkdir()
    for before in sorted((FIXTURES / project).glob("*.before.py")):
        shutil.copyfile(before, target / before.name.replace(".before.py", ".py"))
    return target


def _tree(folder: Path) -> str:
    lines = []
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not {"__pycache__", ".vibefix_cache"} & set(path.parts):
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            lines.append(f"{digest}  {path.relative_to(folder).as_posix()}")
    return "\n".join(lines) + "\n"


def _outputs(project: Path, recipe: tuple[str, ...]) -> dict[str, str]:
    runner = CliRunner()
    env = {"NO_COLOR": "1", "COLUMNS": "200", "FORCE_COLOR": None}
    outputs: dict[str, str] = {}
    cwd = Path.cwd()
    os.chdir(project)
    try:
        diff = runner.invoke(app, ["diff", *recipe, "."], env=env)
        outputs["diff.out"] = f"exit {diff.exit_code}\n{diff.stdout}"
        outputs["diff.err"] = f"exit {diff.exit_code}\n{diff.stderr}"
        check = runner.invoke(app, ["check", *recipe, "--output-format", "json", "."], env=env)
        outputs["check.json"] = f"exit {check.exit_code}\n" + _VERSION.sub(
            '"version": "-"', check.stdout
        )
        apply = runner.invoke(app, ["apply", *recipe, "."], env=env)
        outputs["apply.err"] = f"exit {apply.exit_code}\n{apply.stderr}"
        outputs["apply.tree"] = f"exit {apply.exit_code}\n{_tree(project)}"
    finally:
        os.chdir(cwd)
    return outputs


@pytest.mark.parametrize("recipe", sorted(RECIPES))
@pytest.mark.parametrize("project", PROJECTS)
def test_output_is_byte_identical_to_the_golden_set(
    project: str, recipe: str, tmp_path: Path
) -> None:
    outputs = _outputs(_copy(project, tmp_path), RECIPES[recipe])
    folder = GOLDEN / project / recipe
    if REGENERATE:
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in outputs.items():
            (folder / name).write_bytes(text.encode("utf-8"))
    for name, text in outputs.items():
        expected = (folder / name).read_bytes().decode("utf-8")
        assert text == expected, f"{project}/{recipe}/{name} differs from the golden set"
