"""``vibefix verify``: the real CLI runs small projects' own tests in a subprocess."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest

from tests.conftest import RunVibefix

APP = """\
import asyncio
import sqlite3
import time

import requests


async def nap():
    time.sleep(0.01)
    return "slept"


async def fetch(url):
    return requests.get(url, timeout=5).text


async def count_rows(path):
    connection = sqlite3.connect(path)
    try:
        return connection.execute("select count(*) from t").fetchone()[0]
    finally:
        connection.close()


async def crunch():
    end = time.perf_counter() + 0.3
    while time.perf_counter() < end:
        pass
    await asyncio.sleep(0)
    return "done"


async def polite():
    await asyncio.sleep(0.01)
    return "awake"


def sync_nap():
    time.sleep(0.01)
    return "slept"
"""

CONFTEST = """\
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class Hello(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "5")
        self.end_headers()
        self.wfile.write(b"hello")


@pytest.fixture(scope="session")
def server_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()
"""

BLOCKING_TESTS = """\
import asyncio
import sqlite3

import app


def test_nap():
    assert asyncio.run(app.nap()) == "slept"


def test_fetch(server_url):
    assert asyncio.run(app.fetch(server_url)) == "hello"


def test_count_rows(tmp_path):
    path = tmp_path / "rows.db"
    with sqlite3.connect(path) as connection:
        connection.execute("create table t (x)")
        connection.execute("insert into t values (1)")
    assert asyncio.run(app.count_rows(path)) == 1


def test_crunch():
    assert asyncio.run(app.crunch()) == "done"
"""

CLEAN_TESTS = """\
import asyncio

import app


def test_polite():
    assert asyncio.run(app.polite()) == "awake"


def test_sync_nap():
    assert app.sync_nap() == "slept"
"""


def _project(root: Path, tests: str, *, extra: dict[str, str] | None = None) -> Path:
    files = {"app.py": APP, "tests/conftest.py": CONFTEST, "tests/test_app.py": tests}
    files["pytest.ini"] = "[pytest]\npythonpath = .\ntestpaths = tests\n"
    files.update(extra or {})
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def _line(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_verify_reports_each_blocking_call_where_the_project_made_it(
    tmp_path: Path, run_vibefix: RunVibefix
):
    project = _project(tmp_path / "blocking", BLOCKING_TESTS)
    before = _snapshot(project)

    # crunch() holds the loop 300 ms; 200 ms keeps a loaded runner's slow steps out.
    done = run_vibefix("verify", "-q", "--slow-ms", "200", ".", cwd=project)

    assert done.returncode == 1, done.stderr
    found = re.findall(r"^app\.py:(\d+):\d+: (VF\d+) (.*)$", done.stderr, re.M)
    where = {(int(line), code) for line, code, _ in found}
    assert where == {
        (_line(APP, "time.sleep(0.01)"), "VF100"),
        (_line(APP, "requests.get"), "VF101"),
        (_line(APP, "connection.execute"), "VF203"),
        (_line(APP, "await asyncio.sleep(0)"), "VF102"),
    }, done.stderr
    messages = {int(line): message for line, _, message in found}
    assert "time.sleep" in messages[_line(APP, "time.sleep(0.01)")]
    assert "tests/test_app.py::test_nap" in messages[_line(APP, "time.sleep(0.01)")]
    assert "socket.socket.connect" in messages[_line(APP, "requests.get")]
    assert "sqlite3.Connection.execute" in messages[_line(APP, "connection.execute")]
    assert re.search(r"crunch\(\) held the event loop for \d+ ms", done.stderr)
    assert "4 tests: 4 passed; 4 places blocked the event loop" in done.stderr
    # Nothing written in the project: no cache, no bytecode.
    assert _snapshot(project) == before


def test_verify_passes_a_clean_project_and_hands_pytest_its_arguments(
    tmp_path: Path, run_vibefix: RunVibefix
):
    clean = _project(tmp_path / "clean", CLEAN_TESTS)
    done = run_vibefix("verify", str(clean))
    assert done.returncode == 0, done.stderr
    assert "2 passed" in done.stderr  # pytest's own output is shown
    assert done.stderr.rstrip().endswith("2 tests: 2 passed; nothing blocked the event loop.")

    blocking = _project(tmp_path / "blocking", BLOCKING_TESTS)
    only_nap = run_vibefix("verify", "-q", "--", "-k", "nap", cwd=blocking)
    assert only_nap.returncode == 1
    assert re.findall(r"^app\.py:\d+:\d+: (VF\d+)", only_nap.stderr, re.M) == ["VF100"]


def test_verify_writes_json_and_sarif(tmp_path: Path, run_vibefix: RunVibefix):
    project = _project(tmp_path / "blocking", BLOCKING_TESTS)
    # A loaded machine may take over 50 ms for a step: this test is about the documents.
    done = run_vibefix(
        "verify",
        "--output-format",
        "json",
        "--slow-ms",
        "2000",
        "--",
        "-k",
        "nap or fetch",
        cwd=project,
    )
    assert done.returncode == 1
    document = json.loads(done.stdout)
    assert document["command"] == "verify"
    assert document["exit_code"] == 1
    assert document["tests"]["passed"] == 2
    assert [(f["path"], f["code"]) for f in document["findings"]] == [
        ("app.py", "VF100"),
        ("app.py", "VF101"),
    ]

    sarif = run_vibefix(
        "verify", "--output-format", "sarif", "--slow-ms", "2000", "--", "-k", "nap", cwd=project
    )
    results = json.loads(sarif.stdout)["runs"][0]["results"]
    assert [r["ruleId"] for r in results] == ["VF100"]
    region = results[0]["locations"][0]["physicalLocation"]["region"]
    assert region["startLine"] == _line(APP, "time.sleep(0.01)")


def test_verify_a_slow_step_counts_only_above_the_threshold(
    tmp_path: Path, run_vibefix: RunVibefix
):
    project = _project(tmp_path / "blocking", BLOCKING_TESTS)
    done = run_vibefix("verify", "-q", "--slow-ms", "5000", "--", "-k", "crunch", cwd=project)
    assert done.returncode == 0, done.stderr


def test_verify_counts_failed_tests(tmp_path: Path, run_vibefix: RunVibefix):
    failing = CLEAN_TESTS + "\n\ndef test_wrong():\n    assert app.sync_nap() == 'awake'\n"
    project = _project(tmp_path / "failing", failing)
    done = run_vibefix("verify", "-q", ".", cwd=project)
    assert done.returncode == 1
    assert "3 tests: 2 passed, 1 failed; nothing blocked the event loop." in done.stderr


@pytest.mark.parametrize(
    ("tests", "expected"),
    [
        ("import not_a_module_anywhere\n\ndef test_x():\n    pass\n", "not_a_module_anywhere"),
        ("def helper():\n    pass\n", "no tests were collected"),
    ],
    ids=["import-error", "no-tests"],
)
def test_verify_fails_clearly_when_the_tests_cannot_be_collected(
    tmp_path: Path, run_vibefix: RunVibefix, tests: str, expected: str
):
    project = _project(tmp_path / "broken", tests)
    done = run_vibefix("verify", ".", cwd=project)
    assert done.returncode == 2
    assert "error" in done.stderr
    assert expected in done.stderr


def test_verify_refuses_a_missing_folder(tmp_path: Path, run_vibefix: RunVibefix):
    done = run_vibefix("verify", str(tmp_path / "nowhere"))
    assert done.returncode == 2
    assert "nowhere: no such file or folder" in done.stderr
