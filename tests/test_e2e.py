"""End to end: the vibeshop example rewritten through the real CLI, its own tests run."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from tests.conftest import RunVibefix

EXAMPLE = Path(__file__).parents[1] / "examples" / "vibeshop"
REWRITTEN = [
    "app/external/rates.py",
    "app/main.py",  # the lifespan that makes the shared HTTP client (aiohttp's session)
    "app/routers/orders.py",
    "app/routers/products.py",
    "app/routers/users.py",
]
SLEEP_CALLS = {("time", "sleep"), ("t", "sleep")}


def _example_tests(
    folder: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, **(env or {})},
    )


def _is_sleep_call(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    if isinstance(func, ast.Name):
        return func.id == "sleep"
    return (
        isinstance(func, ast.Attribute)
        and isinstance(func.value, ast.Name)
        and (func.value.id, func.attr) in SLEEP_CALLS
    )


def _own_nodes(function: ast.AsyncFunctionDef) -> Iterator[ast.AST]:
    """The nodes of ``function``'s body, not descending into nested scopes."""
    stack: list[ast.AST] = list(function.body)
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            continue
        stack.extend(ast.iter_child_nodes(node))


def _in_async_defs(root: Path, wanted: Callable[[ast.AST], bool]) -> list[str]:
    """``path:line`` of every node called directly in an async def that ``wanted`` picks."""
    found = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_bytes(), str(path))
        for function in ast.walk(tree):
            if isinstance(function, ast.AsyncFunctionDef):
                found.extend(
                    f"{path.relative_to(root).as_posix()}:{node.lineno}"
                    for node in _own_nodes(function)
                    if wanted(node)
                )
    return sorted(found)


def blocking_sleeps_in_async_defs(root: Path) -> list[str]:
    """Every time.sleep / t.sleep / sleep called directly in an async def."""
    return _in_async_defs(root, _is_sleep_call)


def test_vibeshop_is_rewritten_and_its_own_tests_still_pass(
    vibeshop: Path, run_vibefix: RunVibefix
):
    before = _example_tests(vibeshop)
    assert before.returncode == 0, before.stdout + before.stderr
    assert blocking_sleeps_in_async_defs(vibeshop / "app"), "the example has nothing to fix"

    diff = run_vibefix("diff", ".", cwd=vibeshop)

    assert diff.returncode == 1, diff.stderr
    diffed = [
        line.removeprefix("+++ b/")
        for line in diff.stdout.splitlines()
        if line.startswith("+++ b/")
    ]
    assert diffed == REWRITTEN
    assert "@@ VF100" in diff.stdout

    applied = run_vibefix("apply", ".", cwd=vibeshop)

    # What is left are findings (sync SQLAlchemy in async handlers), not rewrites.
    assert applied.returncode == 1, applied.stderr
    again = run_vibefix("diff", ".", cwd=vibeshop)
    assert again.stdout == ""
    assert again.returncode == 1
    assert "0 files would be changed" in again.stderr
    # Each blocking call is reported at its own line, once.
    stuck = re.findall(
        r"^app/routers/orders.py:(\d+):\d+: VF103 `[^`]+` blocks the event loop in"
        r" `async def create_order`; vibefix has no rewrite for it",
        again.stderr,
        re.M,
    )
    assert len(stuck) > 1
    assert len(set(stuck)) == len(stuck)
    after = _example_tests(vibeshop)
    assert after.returncode == 0, after.stdout + after.stderr
    assert blocking_sleeps_in_async_defs(vibeshop / "app") == []
    for name in REWRITTEN:
        compile((vibeshop / name).read_bytes(), name, "exec", dont_inherit=True)


def _sleeps_in(path: Path, function_name: str) -> int:
    """How many sleep calls the (sync or async) function ``function_name`` makes."""
    tree = ast.parse(path.read_bytes(), str(path))
    (function,) = (
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == function_name
    )
    return sum(1 for node in ast.walk(function) if _is_sleep_call(node))


def test_vibeshop_sync_code_keeps_its_blocking_sleeps(vibeshop: Path, run_vibefix: RunVibefix):
    result = run_vibefix("apply", ".", cwd=vibeshop)

    assert result.returncode == 1, result.stderr
    products = vibeshop / "app" / "routers" / "products.py"
    # A plain `def` handler runs in FastAPI's thread pool: blocking there is right.
    assert _sleeps_in(products, "restock_product") == 1
    # A sync `def` nested in an async handler keeps its sleep, and the handler runs it in
    # a thread: it also commits on a sync session, so it cannot become async.
    assert _sleeps_in(products, "save_batch") == 1
    assert "            await run_in_threadpool(save_batch, batch)\n" in products.read_text()
    assert "import time\n" in products.read_text()
    rates = vibeshop / "app" / "external" / "rates.py"
    assert _sleeps_in(rates, "get_exchange_rate") == 1
    assert _sleeps_in(rates, "get_exchange_rate_async") == 0


def _ruff_async(folder: Path) -> subprocess.CompletedProcess[str]:
    ruff = Path(sys.executable).with_name("ruff")
    return subprocess.run(
        [str(ruff), "check", "--isolated", "--no-cache", "--select", "ASYNC", "."],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
    )


def _blocking_calls(folder: Path, allow: str = "") -> tuple[int, set[str]]:
    """The example's tests run with blockbuster on the event loop: their exit code and the
    blocking functions it caught (``allow``: prefixes let through)."""
    done = _example_tests(
        folder, {"VIBESHOP_BLOCKBUSTER": "1", "VIBESHOP_BLOCKBUSTER_ALLOW": allow}
    )
    return done.returncode, set(re.findall(r"BlockingError: Blocking call to (\S+)", done.stdout))


def _requests_calls_in_async_defs(root: Path) -> list[str]:
    return _in_async_defs(
        root,
        lambda node: (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "requests"
        ),
    )


def test_vibeshop_after_apply_blocks_the_event_loop_only_in_sync_sqlalchemy(
    vibeshop: Path, run_vibefix: RunVibefix
):
    # Before: ruff's ASYNC rules and blockbuster both see the blocking calls.
    assert _ruff_async(vibeshop).returncode == 1
    code, caught = _blocking_calls(vibeshop, allow="sqlite3.")
    assert code != 0
    assert "time.sleep" in caught

    applied = run_vibefix("apply", ".", cwd=vibeshop)
    assert applied.returncode == 1, applied.stderr  # findings: sync SQLAlchemy

    ruff = _ruff_async(vibeshop)
    assert ruff.returncode == 0, ruff.stdout
    # Every blocking call left on the event loop is sync SQLAlchemy's sqlite3, which
    # the async-db recipe (VF203) is for; let through, nothing else blocks.
    code, caught = _blocking_calls(vibeshop)
    assert caught
    assert all(name.startswith("sqlite3.") for name in caught), caught
    assert _blocking_calls(vibeshop, allow="sqlite3.") == (0, set())
    # requests calls became aiohttp calls (VF101's default backend, Python 3.9 or newer).
    assert _requests_calls_in_async_defs(vibeshop / "app") == []
    assert "import aiohttp" in (vibeshop / "app/routers/orders.py").read_text()


def test_vibeshop_after_async_db_passes_its_tests_with_nothing_blocking_the_loop(
    vibeshop: Path, run_vibefix: RunVibefix
):
    applied = run_vibefix("apply", "--recipe", "async-db", "--unsafe", ".", cwd=vibeshop)

    # What is left is a finding: VF202's on the URL read at run time.
    assert applied.returncode == 1, applied.stderr
    codes = set(re.findall(r"^\S+: (VF\d+) ", applied.stderr, re.M))
    assert codes == {"VF202"}, codes
    again = run_vibefix("diff", "--recipe", "async-db", "--unsafe", ".", cwd=vibeshop)
    assert again.stdout == ""
    database = (vibeshop / "app/database.py").read_text()
    assert "engine = create_async_engine(_async_url(DATABASE_URL)" in database
    assert "async_sessionmaker(" in database
    for path in sorted((vibeshop / "app").rglob("*.py")):
        assert ".query(" not in path.read_text(), path
    # Blockbuster lets nothing through: sqlite3 runs in aiosqlite's thread now.
    assert _blocking_calls(vibeshop) == (0, set())


def test_vibefix_verify_sees_the_example_block_its_loop_and_nothing_after_async_db(
    vibeshop: Path, run_vibefix: RunVibefix
):
    # The blocking calls are what this test is about. The slow-step timing (VF102) is wall
    # clock: on a loaded CI runner (3.13, 86 ms) the first flush of a DELETE, which the
    # AsyncSession runs on the loop's thread, went over the 50 ms default. A threshold of
    # 1 s keeps the timing out of it; test_verify covers VF102 with a 300 ms step.
    before = run_vibefix("verify", "-q", "--slow-ms", "1000", ".", cwd=vibeshop)

    assert before.returncode == 1, before.stderr
    found = re.findall(r"^(\S+?):(\d+):\d+: (VF\d+) ", before.stderr, re.M)
    assert found, before.stderr
    assert all(path.startswith("app/") for path, _, _ in found), before.stderr
    seen = {(f"{path}:{line}", code) for path, line, code in found}
    # Every time.sleep and requests call the handlers make, each at its own line, and
    # the sync SQLAlchemy calls (the async-db recipe's).
    app = vibeshop / "app"
    sleeps = {(f"app/{where}", "VF100") for where in blocking_sleeps_in_async_defs(app)}
    calls = {
        (f"app/{where}", "VF101")
        for where in _in_async_defs(
            app,
            lambda node: (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "requests"
            ),
        )
    }
    # The one sleep the tests never reach: create_order's retry after a failed rate call.
    retry = ("app/routers/orders.py:101", "VF100")
    assert retry in sleeps
    assert calls
    assert (sleeps - {retry}) | calls <= seen, sorted((sleeps | calls) - seen)
    assert {code for _, code in seen} == {"VF100", "VF101", "VF203"}
    assert "30 tests: 30 passed" in before.stderr

    applied = run_vibefix("apply", "--recipe", "async-db", "--unsafe", ".", cwd=vibeshop)
    assert applied.returncode == 1, applied.stderr  # VF202's finding is left
    after = run_vibefix("verify", "-q", "--slow-ms", "1000", ".", cwd=vibeshop)
    assert after.returncode == 0, after.stderr
    assert "30 tests: 30 passed; nothing blocked the event loop." in after.stderr


BOUNDARY_PROBE = '''\
"""What the pydantic recipe promises of the example app (written by vibefix's e2e test)."""


def test_a_product_without_a_name_or_price_is_a_422_naming_them(client):
    resp = client.post("/products/", json={"description": "no name, no price"})
    assert resp.status_code == 422, resp.text
    missing = {tuple(e["loc"]) for e in resp.json()["detail"] if e["type"] == "missing"}
    assert missing == {("body", "name"), ("body", "price")}


def test_unknown_keys_and_numbers_sent_as_strings_are_a_422(client):
    resp = client.post("/products/", json={"name": "Pen", "price": 2.5, "is_featured": True})
    assert resp.status_code == 422, resp.text
    assert resp.json()["detail"][0]["type"] == "extra_forbidden"
    resp = client.post("/products/", json={"name": "Pen", "price": "2.5"})
    assert resp.status_code == 422, resp.text
    assert resp.json()["detail"][0]["type"] == "float_type"


def test_a_name_the_database_would_refuse_or_the_handler_did_is_a_422(client):
    for name, error in (("", "string_too_short"), ("x" * 101, "string_too_long")):
        resp = client.post("/products/", json={"name": name, "price": 2.5})
        assert resp.status_code == 422, resp.text
        assert resp.json()["detail"][0]["type"] == error


def test_the_openapi_schema_marks_the_required_fields(client):
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert sorted(schemas["ProductCreate"]["required"]) == ["name", "price"]
    assert schemas["ProductCreate"]["additionalProperties"] is False
    assert sorted(schemas["UserCreate"]["required"]) == ["email", "password"]
    # The dict bodies the handlers read by literal keys have a schema now.
    assert sorted(schemas["CreateOrderBody"]["properties"]) == ["currency", "items", "user_id"]


def test_no_answer_carries_the_password_or_its_hash(client):
    resp = client.post("/users/", json={"email": "ada@example.com", "password": "hunter22"})
    assert resp.status_code == 200, resp.text
    user = resp.json()
    for answer in (user, client.get(f"/users/{user['id']}").json(), *client.get("/users/").json()):
        assert "hashed_password" not in answer
        assert "password" not in answer
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert "hashed_password" not in schemas["UserRead"]["properties"]


def test_a_user_without_an_email_is_a_422(client):
    resp = client.post("/users/", json={"password": "hunter22"})
    assert resp.status_code == 422, resp.text
    assert resp.json()["detail"][0]["loc"] == ["body", "email"]
'''


def test_vibeshop_after_the_pydantic_recipe_rejects_bad_bodies_with_a_422(
    vibeshop: Path, run_vibefix: RunVibefix
):
    probe = vibeshop / "tests" / "test_boundary_probe.py"
    probe.write_text(BOUNDARY_PROBE, encoding="utf-8")
    before = _example_tests(vibeshop)
    # Before: a missing or empty name or email is the handler's own 400, unknown keys,
    # "2.5" and a name too long pass, and POST /users/ answers with the password's hash.
    assert before.returncode == 1
    assert "6 failed, 30 passed" in before.stdout, before.stdout

    applied = run_vibefix("apply", "--recipe", "pydantic", "--unsafe", ".", cwd=vibeshop)

    # Findings: `email` would be an EmailStr, but the example has no email-validator.
    assert applied.returncode == 1, applied.stderr
    assert "4 files changed (VF300 x4, VF301 x13, VF302 x10, VF303 x6, VF304 x2)" in applied.stderr
    assert applied.stderr.count("VF304 `email` holds an email address") == 2
    after = _example_tests(vibeshop)
    assert after.returncode == 0, after.stdout + after.stderr
    again = run_vibefix("diff", "--recipe", "pydantic", "--unsafe", ".", cwd=vibeshop)
    assert again.stdout == ""
