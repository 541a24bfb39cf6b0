"""Nothing is lost: encodings, BOMs, line endings, modes and links survive ``apply``."""

from __future__ import annotations

import codecs
import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SLEEPY, SLEEPY_FIXED, RunVibefix
from vibefix.engine.sourcefile import WriteError, atomic_write, atomic_write_all


def _apply(run_vibefix: RunVibefix, folder: Path, *paths: str) -> None:
    result = run_vibefix("apply", *(paths or (".",)), cwd=folder)
    assert result.returncode == 0, result.stderr


def test_crlf_file_keeps_crlf_everywhere_including_the_new_import(
    tmp_path: Path, run_vibefix: RunVibefix
):
    (tmp_path / "app.py").write_bytes(SLEEPY.replace("\n", "\r\n").encode())

    _apply(run_vibefix, tmp_path)

    data = (tmp_path / "app.py").read_bytes()
    assert data == SLEEPY_FIXED.replace("\n", "\r\n").encode()
    assert b"import asyncio\r\n" in data
    assert data.count(b"\n") == data.count(b"\r\n")


def test_crlf_file_with_an_added_import_keeps_crlf(tmp_path: Path, run_vibefix: RunVibefix):
    # `time` stays (time.time is still used), so `import asyncio` is a new line.
    source = "import time\n\n\nasync def f():\n    time.sleep(1)\n    return time.time()\n"
    (tmp_path / "app.py").write_bytes(source.replace("\n", "\r\n").encode())

    _apply(run_vibefix, tmp_path)

    data = (tmp_path / "app.py").read_bytes()
    assert b"import asyncio\r\nimport time\r\n" in data
    assert data.count(b"\n") == data.count(b"\r\n")


RATE_HANDLER = '''\
import requests
from fastapi import FastAPI

app = FastAPI()


@app.get("/rate")
async def rate(c: str):
    """The rate of one currency,
    as the upstream service has it."""
    r = requests.get("http://rates", params={"c": c})
    return {"rate": r.json()["rate"]}
'''
"""A handler VF101 rewrites: it adds support code whose docstrings span lines."""


def test_crlf_file_gets_crlf_in_the_multi_line_strings_of_the_support_code_vf101_adds(
    tmp_path: Path, run_vibefix: RunVibefix
):
    (tmp_path / "app.py").write_bytes(RATE_HANDLER.replace("\n", "\r\n").encode())

    _apply(run_vibefix, tmp_path)

    data = (tmp_path / "app.py").read_bytes()
    assert b'"""' in data.split(b"async def rate", 1)[0]  # support code with docstrings
    assert data.count(b"\n") == data.count(b"\r\n")
    assert all(line.endswith(b"\r\n") for line in data.splitlines(keepends=True))


def test_crlf_file_keeps_the_bare_lf_inside_its_own_string_while_new_code_gets_crlf(
    tmp_path: Path, run_vibefix: RunVibefix
):
    # The handler's docstring breaks its line with a bare LF, as an editor may leave it:
    # vibefix changes no byte of the user's own strings.
    source = RATE_HANDLER.replace("\n", "\r\n").replace("currency,\r\n", "currency,\n")
    (tmp_path / "app.py").write_bytes(source.encode())

    _apply(run_vibefix, tmp_path)

    data = (tmp_path / "app.py").read_bytes()
    assert b'"""The rate of one currency,\n    as the upstream service has it."""\r\n' in data
    assert data.count(b"\n") == data.count(b"\r\n") + 1


def test_utf8_bom_is_kept(tmp_path: Path, run_vibefix: RunVibefix):
    source = '"""Handlers."""\n' + SLEEPY
    (tmp_path / "app.py").write_bytes(codecs.BOM_UTF8 + source.encode())

    _apply(run_vibefix, tmp_path)

    expected = '"""Handlers."""\n' + SLEEPY_FIXED
    assert (tmp_path / "app.py").read_bytes() == codecs.BOM_UTF8 + expected.encode()


def test_utf8_bom_file_starting_with_import_time_is_rewritten(
    tmp_path: Path, run_vibefix: RunVibefix
):
    (tmp_path / "app.py").write_bytes(codecs.BOM_UTF8 + SLEEPY.encode())

    _apply(run_vibefix, tmp_path)

    assert (tmp_path / "app.py").read_bytes() == codecs.BOM_UTF8 + SLEEPY_FIXED.encode()


LATIN1 = """\
# -*- coding: latin-1 -*-
import time

GREETING = "Grüße aus Köln, ça va?"


async def greet():
    time.sleep(1)
    return GREETING
"""


def test_latin1_file_keeps_its_encoding_byte_for_byte(tmp_path: Path, run_vibefix: RunVibefix):
    (tmp_path / "app.py").write_bytes(LATIN1.encode("latin-1"))

    _apply(run_vibefix, tmp_path)

    expected = LATIN1.replace("import time", "import asyncio").replace(
        "    time.sleep(1)", "    await asyncio.sleep(1)"
    )
    assert (tmp_path / "app.py").read_bytes() == expected.encode("latin-1")


def test_latin1_file_diff_shows_the_text_decoded(tmp_path: Path, run_vibefix: RunVibefix):
    (tmp_path / "app.py").write_bytes(LATIN1.encode("latin-1"))

    result = run_vibefix("diff", ".", cwd=tmp_path)

    assert result.returncode == 1
    assert ' GREETING = "Grüße aus Köln, ça va?"\n' in result.stdout


def test_file_without_trailing_newline_keeps_having_none(tmp_path: Path, run_vibefix: RunVibefix):
    (tmp_path / "app.py").write_text(SLEEPY.rstrip("\n"))

    _apply(run_vibefix, tmp_path)

    assert (tmp_path / "app.py").read_text() == SLEEPY_FIXED.rstrip("\n")


def test_file_without_trailing_newline_ending_in_the_change(
    tmp_path: Path, run_vibefix: RunVibefix
):
    source = "import time\n\n\nasync def f():\n    time.sleep(1)"
    (tmp_path / "app.py").write_text(source)

    result = run_vibefix("diff", ".", cwd=tmp_path)
    _apply(run_vibefix, tmp_path)

    assert result.stdout.endswith("+    await asyncio.sleep(1)\n\\ No newline at end of file\n")
    assert (tmp_path / "app.py").read_text().endswith("    await asyncio.sleep(1)")


def test_executable_mode_is_kept(tmp_path: Path, run_vibefix: RunVibefix):
    script = tmp_path / "script.py"
    script.write_text("#!/usr/bin/env python3\n" + SLEEPY)
    script.chmod(0o755)

    _apply(run_vibefix, tmp_path)

    assert stat.S_IMODE(script.stat().st_mode) == 0o755
    assert script.read_text() == "#!/usr/bin/env python3\n" + SLEEPY_FIXED


def test_undecodable_file_is_reported_with_its_position_and_others_still_processed(
    tmp_path: Path, run_vibefix: RunVibefix
):
    bad = b'import time\n\nNAME = "caf\xe9"\n\n\nasync def f():\n    time.sleep(1)\n'
    (tmp_path / "bad.py").write_bytes(bad)
    (tmp_path / "good.py").write_text(SLEEPY)

    result = run_vibefix("apply", ".", cwd=tmp_path)

    assert result.returncode == 3
    assert re.search(r"^bad\.py:3:12: E999 cannot decode .*0xe9", result.stderr, re.M), (
        result.stderr
    )
    assert (tmp_path / "bad.py").read_bytes() == bad
    assert (tmp_path / "good.py").read_text() == SLEEPY_FIXED


def test_unparsable_file_is_reported_at_the_real_error(tmp_path: Path, run_vibefix: RunVibefix):
    (tmp_path / "broken.py").write_text("import time\n\ndef f(:\n    time.sleep(1)\n")

    result = run_vibefix("check", ".", cwd=tmp_path)

    assert result.returncode == 3
    assert re.search(r"^broken\.py:3:7: E999 syntax error", result.stderr, re.M), result.stderr


def test_unparsable_file_error_position_in_a_later_line(tmp_path: Path, run_vibefix: RunVibefix):
    source = "import time\n\n\nasync def f():\n    time.sleep(1)\n    return [1, 2\n\nx = 3\n"
    (tmp_path / "broken.py").write_text(source)

    result = run_vibefix("check", ".", cwd=tmp_path)

    assert result.returncode == 3
    assert re.search(
        r"^broken\.py:6:12: E999 syntax error: '\[' was never closed", result.stderr, re.M
    ), result.stderr


def test_syntax_error_column_counts_characters_not_bytes(tmp_path: Path, run_vibefix: RunVibefix):
    source = 'import time\nx = "éé" + (:\n\n\nasync def f():\n    time.sleep(1)\n'
    (tmp_path / "broken.py").write_text(source, encoding="utf-8")

    result = run_vibefix("check", ".", cwd=tmp_path)

    assert result.returncode == 3
    assert "broken.py:2:13: E999 syntax error" in result.stderr, result.stderr


def test_symlinked_file_is_written_through_and_stays_a_link(
    tmp_path: Path, run_vibefix: RunVibefix
):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    target = elsewhere / "real.py"
    target.write_text(SLEEPY)
    project = tmp_path / "project"
    project.mkdir()
    link = project / "link.py"
    link.symlink_to(target)

    result = run_vibefix("apply", ".", cwd=project)

    assert result.returncode == 0, result.stderr
    assert "fixed ../elsewhere/real.py (VF100)" in result.stderr  # the file written
    assert link.is_symlink()
    assert link.readlink() == target
    assert target.read_text() == SLEEPY_FIXED
    assert sorted(os.listdir(elsewhere)) == ["real.py"]


def test_symlink_and_its_target_in_the_same_project_are_processed_once(
    tmp_path: Path, run_vibefix: RunVibefix
):
    (tmp_path / "real.py").write_text(SLEEPY)
    (tmp_path / "link.py").symlink_to("real.py")

    result = run_vibefix("diff", ".", cwd=tmp_path)

    assert result.stdout.count("+++ b/") == 1, result.stdout
    assert "1 file would be changed" in result.stderr


@pytest.mark.once
def test_a_link_beside_its_target_is_reported_under_the_name_of_the_file_written(
    tmp_path: Path, run_vibefix: RunVibefix
):
    # `link.py` sorts before `ok.py`: the report named the link, and the file that
    # changed on disk, `ok.py`, appeared nowhere.
    (tmp_path / "ok.py").write_text(SLEEPY)
    (tmp_path / "link.py").symlink_to("ok.py")

    diff = run_vibefix("diff", ".", cwd=tmp_path)
    check = run_vibefix("check", ".", "--output-format", "json", cwd=tmp_path)
    apply = run_vibefix("apply", ".", cwd=tmp_path)

    assert re.findall(r"^\+\+\+ b/(.*)$", diff.stdout, re.MULTILINE) == ["ok.py"]
    document = json.loads(check.stdout)
    assert [(f["path"], f["status"]) for f in document["files"]] == [("ok.py", "changed")]
    assert apply.returncode == 0, apply.stderr
    assert apply.stderr.splitlines()[0] == "fixed ok.py (VF100)"
    assert "1 file changed" in apply.stderr
    assert (tmp_path / "link.py").is_symlink()
    assert (tmp_path / "link.py").readlink() == Path("ok.py")
    assert (tmp_path / "ok.py").read_text() == SLEEPY_FIXED
    assert sorted(set(os.listdir(tmp_path)) - {".vibefix_cache"}) == ["link.py", "ok.py"]


# ---------------------------------------------------------------------------------------
# sourcefile.atomic_write, directly
# ---------------------------------------------------------------------------------------


def test_atomic_write_replaces_content_keeps_mode_and_leaves_no_temp_file(tmp_path: Path):
    path = tmp_path / "module.py"
    path.write_bytes(b"old\n")
    path.chmod(0o640)

    atomic_write(path, b"new\r\n")

    assert path.read_bytes() == b"new\r\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert os.listdir(tmp_path) == ["module.py"]


def test_atomic_write_that_fails_keeps_the_old_file_and_leaves_no_temp_file(tmp_path: Path):
    path = tmp_path / "module.py"
    path.write_bytes(b"old\n")

    with pytest.raises(TypeError):
        atomic_write(path, "text, not bytes")  # type: ignore[arg-type]

    assert path.read_bytes() == b"old\n"
    assert os.listdir(tmp_path) == ["module.py"]


def test_atomic_write_through_a_symlink_replaces_the_target(tmp_path: Path):
    target = tmp_path / "real.py"
    target.write_bytes(b"old\n")
    link = tmp_path / "link.py"
    link.symlink_to("real.py")

    atomic_write(link, b"new\n")

    assert link.is_symlink()
    assert target.read_bytes() == b"new\n"
    assert sorted(os.listdir(tmp_path)) == ["link.py", "real.py"]


NESTED_AS_DEEP_AS_CPYTHON_COMPILES = {
    # The parser's limit is 200 nested brackets: 201 is "too many nested parentheses".
    "calls": "f(" * 200 + "1" + ")" * 200,
    "lists": "[" * 200 + "]" * 200,
    # A chain compiles up to about 2,990 links on 3.10-3.12 (the compiler's recursion
    # limit, 3 x 1,000), 9,996 on 3.13. libcst's parser takes seconds on 3,000 (and
    # ten times longer on subscripts than on attributes): 2,950 links, mostly attributes.
    "attribute and subscript chain": "a" + ".b" * 2500 + "[0]" * 450,
}


def _padding(folder: Path) -> None:
    """Three more files with a sleep, 100 KiB in all: enough for ``--jobs 2`` to start
    worker processes (``IN_PROCESS_BYTES``)."""
    notes = "".join(f"Note {line}, kept for its size.\n" for line in range(1200))
    for number in range(3):
        (folder / f"padding_{number}.py").write_text(f'"""{notes}"""\n\n{SLEEPY}')


@pytest.mark.parametrize("jobs", ["1", "2"])
@pytest.mark.parametrize("nesting", sorted(NESTED_AS_DEEP_AS_CPYTHON_COMPILES))
def test_nesting_as_deep_as_cpython_compiles_is_indexed_and_rewritten(
    nesting: str, jobs: str, tmp_path: Path, run_vibefix: RunVibefix
):
    # 190 nested calls ended in "E902 internal error ... RecursionError" while indexing.
    expression = NESTED_AS_DEEP_AS_CPYTHON_COMPILES[nesting]
    source = SLEEPY.replace('return "ok"', f"return {expression}")
    (tmp_path / "deep.py").write_text(source)
    if jobs == "2":
        _padding(tmp_path)
    compiled = subprocess.run(
        [sys.executable, "-c", "compile(open('deep.py').read(), 'deep.py', 'exec')"],
        cwd=tmp_path,
        check=False,
    )
    assert compiled.returncode == 0  # CPython takes it, at the top of its stack

    result = run_vibefix("check", ".", "--jobs", jobs, cwd=tmp_path)

    assert "E902" not in result.stderr, result.stderr
    if "chain" in nesting and sys.version_info[:2] == (3, 12):
        # 3.12 caps C recursion at a constant that no setting raises, and libcst's code
        # generation recurses through it (context managers): about 700 levels.
        assert result.returncode == 3
        assert "deep.py:1:1: E999 nested too deeply for vibefix on Python 3.12" in result.stderr
    else:
        assert result.returncode == 1, result.stderr
        assert "deep.py:5:5: VF100 time.sleep blocks the event loop" in result.stderr


def test_source_nested_too_deep_is_reported_not_crashed_on(tmp_path: Path, run_vibefix: RunVibefix):
    # libcst's native parser can exhaust its stack on this; CPython rejects it cleanly.
    (tmp_path / "deep.py").write_text("import time\nsleep = 1\nx = " + "(" * 5000 + ")" * 5000)
    (tmp_path / "app.py").write_text(SLEEPY)

    result = run_vibefix("check", ".", "-j", "1", cwd=tmp_path)

    assert result.returncode == 3, result.stderr
    assert re.search(r"^deep\.py:3:\d+: E999 syntax error: too many nested", result.stderr, re.M)
    assert "app.py:5:5: VF100" in result.stderr


def test_nul_byte_is_reported_at_its_position(tmp_path: Path, run_vibefix: RunVibefix):
    (tmp_path / "nul.py").write_bytes(b"import time\nsleep = 1\nx = 'a\0b'\n")

    result = run_vibefix("check", ".", cwd=tmp_path)

    assert result.returncode == 3
    assert "nul.py:3:7: E999 source contains a NUL byte" in result.stderr


def test_sarif_uris_are_percent_encoded(tmp_path: Path, run_vibefix: RunVibefix):
    (tmp_path / "sp ace.py").write_text(SLEEPY)

    result = run_vibefix("check", ".", "--output-format", "sarif", cwd=tmp_path)

    document = json.loads(result.stdout)
    [location] = document["runs"][0]["results"][0]["locations"]
    assert location["physicalLocation"]["artifactLocation"]["uri"] == "sp%20ace.py"


def test_a_batch_of_writes_is_all_or_nothing(tmp_path):
    first = tmp_path / "first.py"
    first.write_bytes(b"old = 1\n")
    missing = tmp_path / "gone" / "second.py"  # its folder does not exist: cannot be staged

    with pytest.raises(WriteError) as raised:
        atomic_write_all([(first, b"new = 1\n"), (missing, b"new = 2\n")])

    assert raised.value.path == missing
    assert first.read_bytes() == b"old = 1\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["first.py"]  # no temporary left


def test_a_batch_of_writes_replaces_every_file_and_keeps_modes(tmp_path):
    first, second = tmp_path / "first.py", tmp_path / "second.py"
    first.write_bytes(b"a = 1\n")
    second.write_bytes(b"b = 1\n")
    second.chmod(0o750)

    atomic_write_all([(first, b"a = 2\n"), (second, b"b = 2\n")])

    assert (first.read_bytes(), second.read_bytes()) == (b"a = 2\n", b"b = 2\n")
    assert second.stat().st_mode & 0o777 == 0o750


@pytest.mark.parametrize("workers", [False, True])
def test_a_file_left_unparsed_is_still_checked_and_its_error_reported_once(
    tmp_path: Path, run_vibefix: RunVibefix, workers: bool
):
    # VF300 parses a file of models only when a route handler reaches them; one that no
    # handler reaches is checked by Python's parser instead (in the workers when the run
    # has them), and its syntax error reported as if it had been parsed.
    sleepy = "import time\n\n\n" + "".join(
        f"async def f{n}():\n    time.sleep(1)\n\n\n" for n in range(2500 if workers else 2)
    )
    (tmp_path / "one.py").write_text(sleepy)
    (tmp_path / "two.py").write_text(sleepy)
    (tmp_path / "models.py").write_text(
        "from pydantic import BaseModel\n\n\nclass Item(BaseModel):\n    name: str = (\n"
    )
    (tmp_path / "fine.py").write_text(
        "from typing import Optional\n\nfrom pydantic import BaseModel\n\n\n"
        "class Fine(BaseModel):\n    name: Optional[str] = None\n"
    )

    result = run_vibefix(
        "check", "--no-cache", "--jobs", "2", "--select", "VF100,VF300", ".", cwd=tmp_path
    )

    assert result.returncode == 3, result.stderr
    errors = re.findall(r"^models\.py:\d+:\d+: E999 syntax error.*$", result.stderr, re.M)
    assert len(errors) == 1, result.stderr
    assert "fine.py" not in result.stderr
