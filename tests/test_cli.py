"""The real command line in a subprocess: every command, option and exit code."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import CLEAN, SLEEPY, SLEEPY_FIXED, Git, RunVibefix

# ---------------------------------------------------------------------------------------
# diff, check, apply: exit codes 0 and 1
# ---------------------------------------------------------------------------------------


def test_diff_shows_the_hunk_and_writes_nothing(project: Path, run_vibefix: RunVibefix):
    before = (project / "app.py").read_bytes()

    result = run_vibefix("diff", ".", cwd=project)

    assert result.returncode == 1, result.stderr
    assert result.stdout.startswith("--- a/app.py\n+++ b/app.py\n")
    assert re.search(r"^@@ -\d+(,\d+)? \+\d+(,\d+)? @@ VF100$", result.stdout, re.M)
    assert "-    time.sleep(1)\n+    await asyncio.sleep(1)\n" in result.stdout
    assert "clean.py" not in result.stdout
    assert (project / "app.py").read_bytes() == before
    assert "1 file would be changed (VF100 x1)" in result.stderr


def test_diff_on_a_clean_project_exits_0_with_empty_stdout(
    clean_project: Path, run_vibefix: RunVibefix
):
    result = run_vibefix("diff", ".", cwd=clean_project)

    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert "0 files would be changed" in result.stderr


def test_check_lists_each_rewrite_as_path_line_col_and_writes_nothing(
    project: Path, run_vibefix: RunVibefix
):
    result = run_vibefix("check", ".", cwd=project)

    assert result.returncode == 1
    assert result.stdout == ""
    assert re.search(r"^app\.py:5:5: VF100 \S.*$", result.stderr, re.M), result.stderr
    assert (project / "app.py").read_text() == SLEEPY


def test_check_on_a_clean_project_exits_0(clean_project: Path, run_vibefix: RunVibefix):
    result = run_vibefix("check", ".", cwd=clean_project)

    assert result.returncode == 0, result.stderr
    assert "VF100" not in result.stderr


def test_apply_writes_then_check_passes_and_a_second_apply_changes_nothing(
    project: Path, run_vibefix: RunVibefix
):
    first = run_vibefix("apply", ".", cwd=project)

    assert first.returncode == 0, first.stderr
    assert (project / "app.py").read_text() == SLEEPY_FIXED
    assert (project / "clean.py").read_text() == CLEAN
    assert "fixed app.py (VF100)" in first.stderr
    assert run_vibefix("check", ".", cwd=project).returncode == 0

    second = run_vibefix("apply", ".", cwd=project)

    assert second.returncode == 0, second.stderr
    assert (project / "app.py").read_text() == SLEEPY_FIXED
    assert "fixed" not in second.stderr
    assert "0 files changed" in second.stderr


# ---------------------------------------------------------------------------------------
# Exit code 2: usage errors
# ---------------------------------------------------------------------------------------


def test_missing_path_is_a_usage_error(project: Path, run_vibefix: RunVibefix):
    result = run_vibefix("diff", "app.py", "nowhere.py", cwd=project)

    assert result.returncode == 2
    assert "nowhere.py" in result.stderr
    assert result.stdout == ""


def test_unknown_code_in_select_is_a_usage_error(project: Path, run_vibefix: RunVibefix):
    result = run_vibefix("diff", ".", "--select", "VF999", cwd=project)

    assert result.returncode == 2
    assert "VF999" in result.stderr


def test_unknown_recipe_is_a_usage_error(project: Path, run_vibefix: RunVibefix):
    result = run_vibefix("diff", ".", "--recipe", "no-such-recipe", cwd=project)

    assert result.returncode == 2
    assert "no-such-recipe" in result.stderr
    assert "default" in result.stderr  # the known recipes are listed


def test_unknown_config_key_is_a_usage_error_naming_the_file(
    project: Path, run_vibefix: RunVibefix
):
    (project / "pyproject.toml").write_text('[tool.vibefix]\nselekt = ["VF100"]\n')

    result = run_vibefix("diff", ".", cwd=project)

    assert result.returncode == 2
    assert "pyproject.toml" in result.stderr
    assert "selekt" in result.stderr
    assert (project / "app.py").read_text() == SLEEPY


def test_config_error_message_names_the_table(project: Path, run_vibefix: RunVibefix):
    (project / "pyproject.toml").write_text('[tool.vibefix]\nselekt = ["VF100"]\n')

    result = run_vibefix("diff", ".", cwd=project)

    assert result.returncode == 2
    assert "unknown key 'selekt' in [tool.vibefix]" in result.stderr


def test_config_value_of_the_wrong_type_is_a_usage_error_naming_the_file(
    project: Path, run_vibefix: RunVibefix
):
    (project / "pyproject.toml").write_text('[tool.vibefix]\nexclude = "legacy/**"\n')

    result = run_vibefix("check", ".", cwd=project)

    assert result.returncode == 2
    assert "pyproject.toml" in result.stderr
    assert "exclude" in result.stderr


def test_explain_unknown_code_is_a_usage_error(run_vibefix: RunVibefix):
    result = run_vibefix("explain", "VF999")

    assert result.returncode == 2
    assert "VF999" in result.stderr


# ---------------------------------------------------------------------------------------
# Exit code 3: a file that cannot be processed (wins over 1)
# ---------------------------------------------------------------------------------------

BROKEN = "import time\n\n\nasync def f(:\n    time.sleep(1)\n"


@pytest.fixture
def broken_project(project: Path) -> Path:
    (project / "broken.py").write_text(BROKEN)
    return project


def test_unparsable_file_fails_with_exit_3_and_the_fixable_file_is_still_diffed(
    broken_project: Path, run_vibefix: RunVibefix
):
    result = run_vibefix("diff", ".", cwd=broken_project)

    assert result.returncode == 3
    assert re.search(r"^broken\.py:4:\d+: E999 \S", result.stderr, re.M), result.stderr
    assert "--- a/app.py" in result.stdout
    assert "+    await asyncio.sleep(1)" in result.stdout
    assert "1 failed" in result.stderr


def test_check_with_an_unparsable_file_exits_3(broken_project: Path, run_vibefix: RunVibefix):
    result = run_vibefix("check", ".", cwd=broken_project)

    assert result.returncode == 3
    assert re.search(r"^app\.py:5:5: VF100 ", result.stderr, re.M)
    assert re.search(r"^broken\.py:4:\d+: E999 ", result.stderr, re.M)


def test_apply_writes_the_fixable_file_and_leaves_the_unparsable_one_byte_identical(
    broken_project: Path, run_vibefix: RunVibefix
):
    broken_before = (broken_project / "broken.py").read_bytes()

    result = run_vibefix("apply", ".", cwd=broken_project)

    assert result.returncode == 3
    assert (broken_project / "app.py").read_text() == SLEEPY_FIXED
    assert (broken_project / "broken.py").read_bytes() == broken_before


TYPE_STATEMENT = SLEEPY.replace("\n\nasync def", "\ntype Money = int\n\n\nasync def")
"""A file with a sleep to rewrite and a ``type`` statement (Python 3.12) on line 3."""


def test_syntax_newer_than_the_target_version_fails_the_file_and_the_run_goes_on(
    project: Path, run_vibefix: RunVibefix
):
    # Whether the Python running vibefix parses a type statement (3.12+) or not (3.10,
    # 3.11), the project's target decides.
    (project / "pyproject.toml").write_text('[tool.vibefix]\ntarget-version = "py311"\n')
    (project / "money.py").write_text(TYPE_STATEMENT)

    check = run_vibefix("check", ".", cwd=project)
    apply = run_vibefix("apply", ".", cwd=project)

    assert check.returncode == 3, check.stderr
    assert (
        "money.py:3:1: E999 uses syntax of Python 3.12 (type statement),"
        " newer than the project's target 3.11"
    ) in check.stderr
    assert "app.py:5:5: VF100" in check.stderr
    assert apply.returncode == 3
    assert (project / "money.py").read_text() == TYPE_STATEMENT
    assert (project / "app.py").read_text() == SLEEPY_FIXED


def test_the_target_version_can_come_from_requires_python(project: Path, run_vibefix: RunVibefix):
    (project / "pyproject.toml").write_text('[project]\nrequires-python = ">=3.11"\n')
    generic = SLEEPY.replace("async def handler():", "async def handler[T](value: T) -> T:")
    (project / "generic.py").write_text(generic)

    result = run_vibefix("check", ".", "--output-format", "json", cwd=project)

    assert result.returncode == 3, result.stderr
    (failed,) = [f for f in json.loads(result.stdout)["files"] if f["status"] == "failed"]
    assert failed["path"] == "generic.py"
    assert (failed["error"]["line"], failed["error"]["column"]) == (4, 18)
    assert failed["error"]["message"] == (
        "uses syntax of Python 3.12 (type parameter lists), newer than the project's target 3.11"
    )


def test_syntax_the_target_version_has_is_rewritten_whatever_python_runs_vibefix(
    project: Path, run_vibefix: RunVibefix
):
    (project / "pyproject.toml").write_text('[project]\nrequires-python = ">=3.12"\n')
    (project / "money.py").write_text(TYPE_STATEMENT)

    result = run_vibefix("check", ".", cwd=project)

    assert result.returncode == 1, result.stderr
    assert "money.py:7:5: VF100" in result.stderr


# ---------------------------------------------------------------------------------------
# Selecting codemods
# ---------------------------------------------------------------------------------------


def test_ignoring_vf100_leaves_nothing_to_do(project: Path, run_vibefix: RunVibefix):
    result = run_vibefix("diff", ".", "--ignore", "VF100", cwd=project)

    # The sleep the user chose not to rewrite is theirs: not reported either.
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""


def test_select_by_name_runs_that_codemod(project: Path, run_vibefix: RunVibefix):
    result = run_vibefix("diff", ".", "--select", "async-sleep", cwd=project)

    assert result.returncode == 1
    assert "@@ VF100" in result.stdout


def test_select_by_code_prefix_runs_matching_codemods(project: Path, run_vibefix: RunVibefix):
    result = run_vibefix("check", ".", "--select", "VF1", cwd=project)

    assert result.returncode == 1
    assert "app.py:5:5: VF100" in result.stderr


def test_config_ignore_is_honoured(project: Path, run_vibefix: RunVibefix):
    (project / "pyproject.toml").write_text('[tool.vibefix]\nignore = ["async-sleep"]\n')

    result = run_vibefix("check", ".", cwd=project)

    assert result.returncode == 0, result.stderr


# ---------------------------------------------------------------------------------------
# Output formats
# ---------------------------------------------------------------------------------------


def test_json_output_describes_files_edits_and_exit_code(project: Path, run_vibefix: RunVibefix):
    result = run_vibefix("diff", ".", "--output-format", "json", cwd=project)

    assert result.returncode == 1
    document = json.loads(result.stdout)
    assert document["command"] == "diff"
    assert document["exit_code"] == 1
    assert document["findings"] == []
    by_path = {entry["path"]: entry for entry in document["files"]}
    app = by_path["app.py"]
    assert app["status"] == "changed"
    assert app["codes"] == ["VF100"]
    rewrites = [edit for edit in app["edits"] if not edit["import"]]
    assert [(e["code"], e["line"], e["column"]) for e in rewrites] == [("VF100", 5, 5)]
    assert "+    await asyncio.sleep(1)" in app["diff"]
    assert by_path["clean.py"]["status"] == "unchanged"


def test_json_output_reports_a_failed_file_with_exit_code_3(
    broken_project: Path, run_vibefix: RunVibefix
):
    result = run_vibefix("check", ".", "--output-format", "json", cwd=broken_project)

    assert result.returncode == 3
    document = json.loads(result.stdout)
    assert document["exit_code"] == 3
    broken = next(entry for entry in document["files"] if entry["path"] == "broken.py")
    assert broken["status"] == "failed"
    assert broken["error"]["code"] == "E999"
    assert broken["error"]["line"] == 4


@pytest.mark.once
def test_json_of_a_file_with_a_thousand_rewrites_has_a_hunk_for_each(
    tmp_path: Path, run_vibefix: RunVibefix
):
    # Seven unchanged lines between two sleeps: more than twice the context, so each
    # rewrite is a hunk of its own. difflib alone took minutes over this file (its
    # longest-match search walks every blank line for every hunk): past the CLI
    # fixture's timeout.
    functions = 1000
    body = "    time.sleep(1)\n    a = 1\n    b = 2\n    c = 3\n"
    (tmp_path / "big.py").write_text(
        "import time\n"
        + "".join(f"\n\nasync def f_{i}():\n{body}    return {i}\n" for i in range(functions))
    )

    result = run_vibefix("check", ".", "--output-format", "json", "--jobs", "1", cwd=tmp_path)

    assert result.returncode == 1, result.stderr
    (entry,) = json.loads(result.stdout)["files"]
    headers = re.findall(r"^@@ .* @@(.*)$", entry["diff"], re.MULTILINE)
    assert headers == [" VF100"] * functions
    rewrites = [edit["line"] for edit in entry["edits"] if not edit["import"]]
    assert rewrites == [5 + 8 * i for i in range(functions)]
    assert entry["diff"].count("\n+    await asyncio.sleep(1)\n") == functions


def test_sarif_output_names_rules_and_locates_results(project: Path, run_vibefix: RunVibefix):
    result = run_vibefix("check", ".", "--output-format", "sarif", cwd=project)

    assert result.returncode == 1
    document = json.loads(result.stdout)
    assert document["version"] == "2.1.0"
    (sarif_run,) = document["runs"]
    assert "VF100" in [rule["id"] for rule in sarif_run["tool"]["driver"]["rules"]]
    (finding,) = sarif_run["results"]
    assert finding["ruleId"] == "VF100"
    location = finding["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "app.py"
    assert location["region"] == {"startLine": 5, "startColumn": 5}


# ---------------------------------------------------------------------------------------
# list, explain, --version
# ---------------------------------------------------------------------------------------


def test_list_shows_code_and_name(run_vibefix: RunVibefix):
    result = run_vibefix("list")

    assert result.returncode == 0, result.stderr
    assert re.search(r"^VF100\s+async-sleep\s+safe\b", result.stdout, re.M), result.stdout


@pytest.mark.parametrize("code", ["VF100", "async-sleep", "vf100"])
def test_explain_shows_the_documentation(code: str, run_vibefix: RunVibefix):
    result = run_vibefix("explain", code)

    assert result.returncode == 0, result.stderr
    assert "VF100 async-sleep (safe)" in result.stdout
    assert "asyncio.sleep" in result.stdout
    assert "Not rewritten" in result.stdout


def test_version_is_printed(run_vibefix: RunVibefix):
    from vibefix import __version__

    result = run_vibefix("--version")

    assert result.returncode == 0
    assert result.stdout == f"vibefix {__version__}\n"


# ---------------------------------------------------------------------------------------
# --jobs: worker processes give the same output
# ---------------------------------------------------------------------------------------


def _big_project(root: Path) -> Path:
    """40 files of about 15 KiB each: enough source for the engine to start workers.

    The bulk is a docstring, which is cheap to parse, so the test stays fast.
    """
    root.mkdir()
    for number in range(40):
        notes = "".join(
            f"Note {line} on module {number}, kept for its size.\n" for line in range(320)
        )
        handlers = "".join(
            f"\n\nasync def handler_{index}(value):\n    time.sleep(0.{index})\n    return value\n"
            for index in range(5)
        )
        (root / f"module_{number:02}.py").write_text(f'"""{notes}"""\n\nimport time\n{handlers}')
    return root


@pytest.mark.once
def test_jobs_2_gives_byte_identical_output_to_jobs_1(tmp_path: Path, run_vibefix: RunVibefix):
    root = _big_project(tmp_path / "big")
    assert sum(path.stat().st_size for path in root.iterdir()) >= 512 * 1024

    one = run_vibefix("diff", ".", "--jobs", "1", cwd=root)
    two = run_vibefix("diff", ".", "--jobs", "2", cwd=root)

    assert one.returncode == two.returncode == 1
    assert one.stdout.count("+++ b/module_") == 40
    assert two.stdout == one.stdout
    assert two.stderr == one.stderr


@pytest.mark.once
def test_jobs_2_apply_writes_the_same_files_as_jobs_1(tmp_path: Path, run_vibefix: RunVibefix):
    one = _big_project(tmp_path / "one")
    two = _big_project(tmp_path / "two")

    assert run_vibefix("apply", ".", "-j", "1", cwd=one).returncode == 0
    assert run_vibefix("apply", ".", "-j", "2", cwd=two).returncode == 0

    for path in sorted(one.iterdir()):
        if path.name == ".vibefix_cache":  # each run's own cache
            continue
        assert (two / path.name).read_bytes() == path.read_bytes(), path.name


# ---------------------------------------------------------------------------------------
# apply in a git work tree: uncommitted changes are not overwritten
# ---------------------------------------------------------------------------------------


def test_apply_refuses_a_file_with_uncommitted_changes(git_project: Path, run_vibefix: RunVibefix):
    dirty = SLEEPY + "\n# work in progress\n"
    (git_project / "app.py").write_text(dirty)

    result = run_vibefix("apply", ".", cwd=git_project)

    assert result.returncode == 2
    assert "uncommitted changes" in result.stderr
    assert "  app.py" in result.stderr
    assert "--allow-dirty" in result.stderr
    assert (git_project / "app.py").read_text() == dirty


def test_apply_refuses_an_untracked_file(git_project: Path, run_vibefix: RunVibefix):
    (git_project / "new.py").write_text(SLEEPY)

    result = run_vibefix("apply", ".", cwd=git_project)

    assert result.returncode == 2
    assert "  new.py" in result.stderr
    assert (git_project / "new.py").read_text() == SLEEPY
    assert (git_project / "app.py").read_text() == SLEEPY


def test_apply_allow_dirty_writes_over_uncommitted_changes(
    git_project: Path, run_vibefix: RunVibefix
):
    (git_project / "app.py").write_text(SLEEPY + "\n# work in progress\n")

    result = run_vibefix("apply", ".", "--allow-dirty", cwd=git_project)

    assert result.returncode == 0, result.stderr
    assert (git_project / "app.py").read_text() == SLEEPY_FIXED + "\n# work in progress\n"


def test_apply_ignores_uncommitted_changes_in_files_it_does_not_touch(
    git_project: Path, run_vibefix: RunVibefix
):
    (git_project / "clean.py").write_text(CLEAN + "\n# work in progress\n")
    (git_project / "notes.txt").write_text("untracked\n")

    result = run_vibefix("apply", ".", cwd=git_project)

    assert result.returncode == 0, result.stderr
    assert (git_project / "app.py").read_text() == SLEEPY_FIXED


def test_apply_outside_git_just_writes(project: Path, run_vibefix: RunVibefix):
    assert not (project / ".git").exists()

    result = run_vibefix("apply", "app.py", cwd=project)

    assert result.returncode == 0, result.stderr
    assert (project / "app.py").read_text() == SLEEPY_FIXED


# ---------------------------------------------------------------------------------------
# --since REF
# ---------------------------------------------------------------------------------------


def test_since_processes_only_files_changed_since_the_ref(
    git_project: Path, git: Git, run_vibefix: RunVibefix
):
    (git_project / "old.py").write_text(SLEEPY)
    git("add", "old.py", cwd=git_project)
    git("commit", "-q", "-m", "old", cwd=git_project)
    git("tag", "base", cwd=git_project)
    (git_project / "committed_later.py").write_text(SLEEPY)
    git("add", "committed_later.py", cwd=git_project)
    git("commit", "-q", "-m", "later", cwd=git_project)
    (git_project / "app.py").write_text(SLEEPY + "\n# edited, not committed\n")
    (git_project / "untracked.py").write_text(SLEEPY)

    result = run_vibefix("check", ".", "--since", "base", cwd=git_project)

    assert result.returncode == 1
    flagged = set(re.findall(r"^(\S+\.py):\d+:\d+: VF100", result.stderr, re.M))
    assert flagged == {"app.py", "committed_later.py", "untracked.py"}


def test_since_head_with_nothing_changed_processes_nothing(
    git_project: Path, run_vibefix: RunVibefix
):
    result = run_vibefix("check", ".", "--since", "HEAD", cwd=git_project)

    assert result.returncode == 0, result.stderr
    assert "VF100" not in result.stderr


def test_since_an_unknown_ref_is_a_usage_error(git_project: Path, run_vibefix: RunVibefix):
    result = run_vibefix("check", ".", "--since", "no-such-ref", cwd=git_project)

    assert result.returncode == 2
    assert "no-such-ref" in result.stderr


def test_since_outside_git_is_a_usage_error(project: Path, run_vibefix: RunVibefix):
    result = run_vibefix("check", ".", "--since", "HEAD", cwd=project)

    assert result.returncode == 2
    assert "git" in result.stderr


# ---------------------------------------------------------------------------------------
# apply --interactive, fed through stdin
# ---------------------------------------------------------------------------------------

TWO_SLEEPS = """\
import time

RETRIES = 3


def first_helper():
    return 1


async def first():
    time.sleep(0)


def second_helper():
    return 2


def third_helper():
    return 3


async def second():
    time.sleep(0)
"""
"""Two sleeps far enough apart (and from the imports) to be separate hunks."""


def test_interactive_yes_applies_the_hunk(project: Path, run_vibefix: RunVibefix):
    result = run_vibefix("apply", "--interactive", "app.py", cwd=project, input="y\n")

    assert result.returncode == 0, result.stderr
    assert "Apply this hunk" in result.stdout
    assert (project / "app.py").read_text() == SLEEPY_FIXED


def test_interactive_no_leaves_the_file_unchanged(project: Path, run_vibefix: RunVibefix):
    result = run_vibefix("apply", "--interactive", "app.py", cwd=project, input="n\n")

    assert result.returncode == 1
    assert (project / "app.py").read_text() == SLEEPY


def test_interactive_quit_writes_nothing(tmp_path: Path, run_vibefix: RunVibefix):
    (tmp_path / "first.py").write_text(SLEEPY)
    (tmp_path / "second.py").write_text(SLEEPY)

    result = run_vibefix("apply", "-i", ".", cwd=tmp_path, input="q\n")

    assert result.returncode == 1
    assert (tmp_path / "first.py").read_text() == SLEEPY
    assert (tmp_path / "second.py").read_text() == SLEEPY


def test_interactive_end_of_input_counts_as_quit(project: Path, run_vibefix: RunVibefix):
    result = run_vibefix("apply", "-i", "app.py", cwd=project, input="")

    assert result.returncode == 1
    assert (project / "app.py").read_text() == SLEEPY


def test_interactive_all_applies_every_hunk(tmp_path: Path, run_vibefix: RunVibefix):
    (tmp_path / "two.py").write_text(TWO_SLEEPS)

    result = run_vibefix("apply", "-i", "two.py", cwd=tmp_path, input="a\n")

    assert result.returncode == 0, result.stderr
    text = (tmp_path / "two.py").read_text()
    assert text.count("await asyncio.sleep(0)") == 2
    assert "import time" not in text
    compile(text, "two.py", "exec", dont_inherit=True)


def test_interactive_yes_then_no_adds_asyncio_and_keeps_time(
    tmp_path: Path, run_vibefix: RunVibefix
):
    (tmp_path / "two.py").write_text(TWO_SLEEPS)

    result = run_vibefix("apply", "-i", "two.py", cwd=tmp_path, input="y\nn\n")

    assert result.returncode == 1
    text = (tmp_path / "two.py").read_text()
    compile(text, "two.py", "exec", dont_inherit=True)
    assert "async def first():\n    await asyncio.sleep(0)\n" in text
    assert "async def second():\n    time.sleep(0)\n" in text
    assert "import time\n" in text  # the skipped hunk still uses it
    assert "import asyncio\n" in text


def test_interactive_yes_then_no_keeps_time_when_the_sleep_is_next_to_the_imports(
    tmp_path: Path, run_vibefix: RunVibefix
):
    source = TWO_SLEEPS.replace("RETRIES = 3\n\n\ndef first_helper():\n    return 1\n\n\n", "\n")
    (tmp_path / "two.py").write_text(source)

    result = run_vibefix("apply", "-i", "two.py", cwd=tmp_path, input="y\nn\n")

    assert result.returncode == 1
    text = (tmp_path / "two.py").read_text()
    compile(text, "two.py", "exec", dont_inherit=True)
    assert "    await asyncio.sleep(0)\n" in text
    assert "async def second():\n    time.sleep(0)\n" in text
    assert "import time\n" in text
    assert "import asyncio\n" in text


# ---------------------------------------------------------------------------------------
# Which files are looked at
# ---------------------------------------------------------------------------------------


def _changed_files(result: subprocess.CompletedProcess[str]) -> set[str]:
    return set(re.findall(r"^\+\+\+ b/(\S+)$", result.stdout, re.M))


def test_config_exclude_skips_a_folder(project: Path, run_vibefix: RunVibefix):
    (project / "legacy").mkdir()
    (project / "legacy" / "old.py").write_text(SLEEPY)
    (project / "pyproject.toml").write_text('[tool.vibefix]\nexclude = ["legacy/**"]\n')

    result = run_vibefix("diff", ".", cwd=project)

    assert _changed_files(result) == {"app.py"}


def test_config_exclude_applies_when_run_from_a_subfolder(project: Path, run_vibefix: RunVibefix):
    (project / "legacy").mkdir()
    (project / "legacy" / "old.py").write_text(SLEEPY)
    (project / "pyproject.toml").write_text('[tool.vibefix]\nexclude = ["legacy/**"]\n')

    result = run_vibefix("diff", "..", cwd=project / "legacy")

    assert result.returncode == 1
    assert _changed_files(result) == {"../app.py"}


def test_gitignored_file_is_skipped(git_project: Path, run_vibefix: RunVibefix):
    (git_project / ".gitignore").write_text("generated.py\n")
    (git_project / "generated.py").write_text(SLEEPY)

    result = run_vibefix("diff", ".", cwd=git_project)

    assert _changed_files(result) == {"app.py"}


def test_gitignored_file_given_explicitly_is_processed(git_project: Path, run_vibefix: RunVibefix):
    (git_project / ".gitignore").write_text("generated.py\n")
    (git_project / "generated.py").write_text(SLEEPY)

    result = run_vibefix("diff", "generated.py", cwd=git_project)

    assert result.returncode == 1
    assert _changed_files(result) == {"generated.py"}


def test_virtualenv_folders_are_skipped(project: Path, run_vibefix: RunVibefix):
    (project / ".venv" / "lib").mkdir(parents=True)
    (project / ".venv" / "lib" / "dep.py").write_text(SLEEPY)
    (project / "customenv").mkdir()
    (project / "customenv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (project / "customenv" / "dep.py").write_text(SLEEPY)

    result = run_vibefix("diff", ".", cwd=project)

    assert _changed_files(result) == {"app.py"}


# ---------------------------------------------------------------------------------------
# --format ruff
# ---------------------------------------------------------------------------------------

UGLY = """\
import time
async def handler( value ):
    time.sleep( 1 )
    return {'value':value}
"""


def _ruff_bin() -> str:
    ruff = pytest.importorskip("ruff", reason="ruff is not installed; --format ruff needs it")
    return ruff.find_ruff_bin()


def test_format_ruff_formats_the_touched_files(tmp_path: Path, run_vibefix: RunVibefix):
    ruff = _ruff_bin()
    (tmp_path / "ugly.py").write_text(UGLY)
    (tmp_path / "untouched.py").write_text("x = {'a':1}\n")
    # vibefix runs `ruff` from PATH, as an activated virtualenv provides it.
    path = os.pathsep.join([str(Path(ruff).parent), os.environ.get("PATH", "")])

    result = run_vibefix("apply", ".", "--format", "ruff", cwd=tmp_path, env={"PATH": path})

    assert result.returncode == 0, result.stderr
    text = (tmp_path / "ugly.py").read_text()
    formatted = subprocess.run(
        [ruff, "format", "--isolated", "-"], input=text, capture_output=True, text=True
    ).stdout
    assert text == formatted
    assert "await asyncio.sleep(1)" in text
    assert 'return {"value": value}' in text
    assert (tmp_path / "untouched.py").read_text() == "x = {'a':1}\n"


def test_format_ruff_finds_the_ruff_installed_next_to_vibefix(
    tmp_path: Path, run_vibefix: RunVibefix
):
    _ruff_bin()
    (tmp_path / "ugly.py").write_text(UGLY)
    path = os.pathsep.join(
        folder
        for folder in os.environ.get("PATH", "").split(os.pathsep)
        if folder and not shutil.which("ruff", path=folder)
    )

    result = run_vibefix("apply", ".", "--format", "ruff", cwd=tmp_path, env={"PATH": path})

    assert result.returncode == 0, result.stderr
    assert 'return {"value": value}' in (tmp_path / "ugly.py").read_text()


# apply --interactive: the plan's async conversions change together

HELPER = """\
import time


def pause():
    time.sleep(0.1)
"""
CALLER = """\
import subprocess

from helper import pause


async def handler():
    pause()
    subprocess.run(["true"])
"""


def _two_modules(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "helper.py").write_text(HELPER)
    (tmp_path / "caller.py").write_text(CALLER)
    return tmp_path


def test_interactive_async_conversions_are_applied_together_and_not_asked_per_hunk(
    tmp_path: Path, run_vibefix: RunVibefix
):
    root = _two_modules(tmp_path)

    # Yes to the conversions, then no to the one hunk left to ask (the offload).
    result = run_vibefix("apply", "-i", ".", cwd=root, input="y\nn\n")

    assert "1 functions become async, with their awaits: in 2 files" in result.stdout
    assert result.stdout.count("Apply this hunk") == 1
    helper = (root / "helper.py").read_text()
    caller = (root / "caller.py").read_text()
    assert "async def pause():\n    await asyncio.sleep(0.1)" in helper
    assert "    await pause()\n" in caller
    assert "run_in_threadpool" not in caller
    compile(caller, "caller.py", "exec", dont_inherit=True)


def test_interactive_no_to_the_async_conversions_writes_nothing(
    tmp_path: Path, run_vibefix: RunVibefix
):
    root = _two_modules(tmp_path)

    result = run_vibefix("apply", "-i", ".", cwd=root, input="n\n")

    assert result.returncode == 1
    assert "--ignore VF103,VF104" in result.stdout
    assert (root / "helper.py").read_text() == HELPER
    assert (root / "caller.py").read_text() == CALLER


def test_interactive_quit_still_writes_the_async_conversions_of_later_files(
    tmp_path: Path, run_vibefix: RunVibefix
):
    root = _two_modules(tmp_path)

    # caller.py comes first: quit at its offload hunk; helper.py is still made async.
    result = run_vibefix("apply", "-i", ".", cwd=root, input="y\nq\n")

    assert result.returncode == 1
    assert "    await pause()\n" in (root / "caller.py").read_text()
    assert "async def pause():" in (root / "helper.py").read_text()


SHOP_APP = """\
from fastapi import FastAPI

from routes import router

app = FastAPI()
app.include_router(router)
"""
SHOP_ROUTES = """\
import requests
from fastapi import APIRouter

router = APIRouter()


@router.get("/rate")
async def rate():
    return requests.get("http://rates").json()
"""


def _shop(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text('[tool.vibefix]\ntarget-version = "py311"\n')
    (tmp_path / "main.py").write_text(SHOP_APP)
    (tmp_path / "routes.py").write_text(SHOP_ROUTES)
    return tmp_path


def test_interactive_the_shared_http_client_is_one_question_across_files(
    tmp_path: Path, run_vibefix: RunVibefix
):
    root = _shop(tmp_path)

    result = run_vibefix("apply", "-i", ".", cwd=root, input="y\n")

    assert (
        "1 requests calls become aiohttp calls; 1 functions take the application's HTTP"
        " client: in 2 files" in result.stdout
    )
    assert "Apply this hunk" not in result.stdout
    main = (root / "main.py").read_text()
    routes = (root / "routes.py").read_text()
    assert "app = FastAPI(lifespan=_http_client_lifespan)" in main
    assert "Depends(_get_http_client)" in routes
    assert "await _http_read(http_client.get(" in routes
    for name, text in (("main.py", main), ("routes.py", routes)):
        compile(text, name, "exec", dont_inherit=True)


def test_interactive_no_to_the_shared_http_client_writes_nothing(
    tmp_path: Path, run_vibefix: RunVibefix
):
    root = _shop(tmp_path)

    result = run_vibefix("apply", "-i", ".", cwd=root, input="n\n")

    assert "--ignore VF101,VF103,VF104" in result.stdout
    assert (root / "main.py").read_text() == SHOP_APP
    assert (root / "routes.py").read_text() == SHOP_ROUTES


def test_interactive_a_requests_rewrite_is_taken_whole_or_not_at_all(
    tmp_path: Path, run_vibefix: RunVibefix
):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.vibefix]\ntarget-version = "py311"\n'
        '[tool.vibefix.requests-to-httpx]\nbackend = "httpx2"\n'
    )
    source = (
        "import requests\n\n\nasync def f(u):\n    s = requests.Session()\n"
        + "    x = 1\n" * 12
        + "    r = s.get(u)\n"
        + "    x = 2\n" * 12
        + "    s.close()\n    return r.ok\n"
    )
    (tmp_path / "client.py").write_text(source)

    declined = run_vibefix("apply", "-i", ".", cwd=tmp_path, input="n\n")
    assert (tmp_path / "client.py").read_text() == source
    assert "Apply this hunk" not in declined.stdout

    run_vibefix("apply", "-i", ".", cwd=tmp_path, input="y\n")
    text = (tmp_path / "client.py").read_text()
    assert "s = _http_client()" in text
    assert "await s.aclose()" in text
    assert "return not r.is_error" in text
