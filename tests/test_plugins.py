"""Third-party codemods join through the ``vibefix.codemods`` entry-point group."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PLUGIN = '''\
"""A third-party codemod package."""

import libcst as cst

from vibefix.codemod import Codemod, PlanPart


class PrintToLogging(Codemod[PlanPart]):
    """Rename `print` calls to `log`, as a house rule.

    Why: a plugin test.
    """

    code = "VF950"
    triggers = ("print",)

    def visit_Call(self, node: cst.Call) -> None:
        if isinstance(node.func, cst.Name) and node.func.value == "print":
            self.replace(
                node.func, lambda updated: updated.with_changes(value="log"), "use the logger"
            )
'''


def install_plugin(site: Path, target: str) -> None:
    (site / "vfplugin.py").write_text(PLUGIN, encoding="utf-8")
    info = site / "vfplugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: vfplugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[vibefix.codemods]\nhouse = {target}\n")


def vibefix(*args: str, site: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(site), "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-c", "from vibefix.cli import main; main()", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


@pytest.mark.once
def test_plugin_codemod_is_listed_and_runs_after_the_builtin_ones(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    install_plugin(site, "vfplugin:PrintToLogging")
    project = tmp_path / "project"
    project.mkdir()
    (project / "app.py").write_text(
        textwrap.dedent(
            """\
            import time


            async def f():
                time.sleep(1)
                print("done")
            """
        )
    )
    listed = vibefix("list", site=site, cwd=project)
    assert listed.returncode == 0, listed.stderr
    assert "VF950" in listed.stdout
    assert listed.stdout.index("VF100") < listed.stdout.index("VF950")

    shown = vibefix("diff", "--select", "VF100,VF950", "app.py", site=site, cwd=project)
    assert shown.returncode == 1, shown.stderr
    assert "+    await asyncio.sleep(1)" in shown.stdout
    assert '+    log("done")' in shown.stdout


def test_a_broken_plugin_is_a_usage_error_naming_it(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    install_plugin(site, "vfplugin:Missing")
    result = vibefix("list", site=site, cwd=tmp_path)
    assert result.returncode == 2
    assert "vfplugin:Missing" in result.stderr
