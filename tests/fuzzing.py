"""Generated projects and the properties every vibefix run keeps, shared by
``tests/test_properties.py`` (a small budget, in CI) and ``bench/fuzz.py`` (a long one).

A project is a mapping of POSIX paths to bytes. ``check_project`` writes it to a fresh
folder, runs ``vibefix apply`` twice (in process through typer's ``CliRunner``, or the
real CLI in a subprocess) and returns every broken property as a ``Violation``:

- ``crash``: a traceback, an exit code other than 0, 1 or 3, or no JSON document;
- ``internal-error``: a finding or file error with code E902;
- ``exit-code``: the exit code disagrees with the files and findings reported;
- ``failure-report``: a file that neither CPython nor libcst parses and that some
  codemod's triggers match is not reported as failed with E999, or a file that both
  parse is;
- ``compile``: a rewritten file does not compile although its input did;
- ``encoding``: a rewritten file lost its encoding, BOM, line endings or final newline;
- ``unreported-write``: the files whose bytes changed are not the files reported changed;
- ``idempotence``: a second ``apply`` on the output changes something.

The generators are Hypothesis strategies: FastAPI-shaped modules and projects built from
fragments (``projects``), and hypothesmith's programs set among trigger-bearing code
(``grammar_projects``). ``mutate`` (for the benchmark) damages copies of a real project.
"""

from __future__ import annotations

import codecs
import functools
import hashlib
import io
import json
import keyword
import os
import random
import re
import subprocess
import sys
import tempfile
import tokenize
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hypothesmith
import libcst as cst
from hypothesis import strategies as st

Project = dict[str, bytes]

RECIPES: dict[str, tuple[str, ...]] = {
    "default": (),
    "all": ("--select", "ALL", "--unsafe"),
}
PROPERTIES = (
    "crash",
    "internal-error",
    "exit-code",
    "failure-report",
    "compile",
    "encoding",
    "unreported-write",
    "idempotence",
)
PYPROJECT = b'[project]\nname = "fuzzed"\nversion = "0"\n'
"""Every generated project has one, so that its folder is the project's root. It names no
``requires-python``: the target is the Python that runs vibefix."""


@dataclass(frozen=True)
class Violation:
    prop: str
    recipe: str
    path: str | None
    detail: str
    signature: str = ""
    """What tells distinct bugs apart: the property and a short, input-independent key."""

    def __str__(self) -> str:
        where = f" {self.path}" if self.path else ""
        return f"[{self.prop}] ({self.recipe}){where}: {self.detail}"


# -- the properties ----------------------------------------------------------------------


def compiles(data: bytes, name: str = "<fuzz>") -> bool:
    try:
        compile(data, name, "exec", dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
        return False
    return True


def libcst_parses(data: bytes) -> bool:
    try:
        cst.parse_module(data)
    except Exception:
        return False
    return True


def source_encoding(data: bytes) -> str | None:
    """The encoding CPython reads ``data`` with (BOM, then cookie, then UTF-8)."""
    try:
        return tokenize.detect_encoding(io.BytesIO(data).readline)[0]
    except SyntaxError:
        return None


def line_endings(data: bytes) -> str | None:
    """``lf``, ``crlf``, ``mixed``, or None for a file of one line."""
    lf, crlf, cr = data.count(b"\n"), data.count(b"\r\n"), data.count(b"\r")
    if lf == 0 and cr == 0:
        return None
    if cr == 0:
        return "lf"
    if lf == crlf == cr:
        return "crlf"
    return "mixed"


def encoding_problems(old: bytes, new: bytes) -> list[str]:
    problems = []
    if old.startswith(codecs.BOM_UTF8) != new.startswith(codecs.BOM_UTF8):
        problems.append("BOM added or lost")
    before, after = source_encoding(old), source_encoding(new)
    if before != after:
        problems.append(f"encoding {before} became {after}")
    elif after is not None:
        try:
            new.decode(after)
        except UnicodeDecodeError as error:
            problems.append(f"does not decode as {after}: {error.reason} at {error.start}")
    eol_before, eol_after = line_endings(old), line_endings(new)
    if eol_before in ("lf", "crlf") and eol_after not in (None, eol_before):
        bare = [
            number
            for number, line in enumerate(new.split(b"\n")[:-1], 1)
            if line.endswith(b"\r") != (eol_before == "crlf")
        ]
        problems.append(f"{eol_before} file became {eol_after} (lines {_lines(bare)})")
    if old and old.endswith(b"\n") != new.endswith(b"\n"):
        problems.append("final newline added or lost")
    return problems


def _lines(numbers: Sequence[int]) -> str:
    shown = ", ".join(map(str, numbers[:6]))
    return shown + (f" and {len(numbers) - 6} more" if len(numbers) > 6 else "")


def manifest(folder: Path) -> dict[str, str]:
    """The SHA-256 of every file under ``folder``, by POSIX path (vibefix's cache, not a
    file of the project, aside)."""
    found = {}
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if d not in ("__pycache__", ".vibefix_cache")]
        for name in files:
            path = Path(root, name)
            found[path.relative_to(folder).as_posix()] = hashlib.sha256(
                path.read_bytes()
            ).hexdigest()
    return found


def write_project(folder: Path, project: Mapping[str, bytes]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    files = dict(project)
    files.setdefault("pyproject.toml", PYPROJECT)
    for name, data in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


@dataclass
class Outcome:
    """One ``vibefix apply --output-format json`` run."""

    exit_code: int
    document: dict[str, Any] | None
    crash: str | None = None
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The JSON document's file entries by POSIX path below the project's folder."""


def apply_in_process(folder: Path, recipe: str) -> Outcome:
    from typer.testing import CliRunner

    from vibefix.cli import app

    args = ["apply", "--allow-dirty", "--output-format", "json", "-j", "1"]
    result = CliRunner().invoke(app, [*args, *RECIPES[recipe], str(folder)], env={"NO_COLOR": "1"})
    crash = None
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        assert result.exc_info is not None
        crash = "".join(traceback.format_exception(*result.exc_info))
    return _outcome(folder, result.exit_code, result.stdout, result.stderr, crash)


def vibefix_command() -> list[str]:
    script = Path(sys.executable).with_name("vibefix")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "from vibefix.cli import main; main()"]


def apply_command(folder: Path | str, recipe: str) -> list[str]:
    args = ["apply", "--allow-dirty", "--output-format", "json", *RECIPES[recipe], str(folder)]
    return [*vibefix_command(), *args]


def apply_in_subprocess(folder: Path, recipe: str) -> Outcome:
    completed = subprocess.run(
        apply_command(folder, recipe),
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
        env={**os.environ, "NO_COLOR": "1"},
    )
    return _outcome(folder, completed.returncode, completed.stdout, completed.stderr, None)


def _outcome(folder: Path, code: int, stdout: str, stderr: str, crash: str | None) -> Outcome:
    if crash is None and "Traceback (most recent call last)" in stdout + stderr:
        crash = stderr[-3000:]
    document = None
    try:
        document = json.loads(stdout)
    except ValueError:
        if crash is None:
            crash = f"no JSON document on stdout (exit {code}): {(stdout + stderr)[-2000:]}"
    outcome = Outcome(code, document, crash)
    if isinstance(document, dict):
        base = Path(os.path.abspath(folder))
        for entry in document.get("files", []):
            path = Path(os.path.abspath(entry["path"]))
            with_root = path.relative_to(base).as_posix() if base in path.parents else entry["path"]
            outcome.files[with_root] = entry
    return outcome


Runner = Callable[[Path, str], Outcome]


def _candidates(project: Mapping[str, bytes], recipe: str) -> set[str]:
    """The files some selected codemod's triggers match: those vibefix must parse."""
    from vibefix.codemods import ALL
    from vibefix.codemods import RECIPES as VIBEFIX_RECIPES

    from vibefix.engine.prefilter import Prefilter

    codes = VIBEFIX_RECIPES["default"] if recipe == "default" else tuple(c.code for c in ALL)
    rules = Prefilter((c.code, c.triggers) for c in ALL if c.code in codes and c.triggers)
    return {name for name, data in project.items() if rules.codes(data)}


def _run_checks(
    recipe: str, outcome: Outcome, run: str, violations: list[Violation]
) -> dict[str, dict[str, Any]]:
    def add(prop: str, path: str | None, detail: str, key: str) -> None:
        violations.append(Violation(prop, recipe, path, f"{run}: {detail}", f"{prop}: {key}"))

    if outcome.crash is not None:
        last = outcome.crash.strip().splitlines()[-1] if outcome.crash.strip() else "?"
        add("crash", None, outcome.crash, last[:120])
        return {}
    if outcome.exit_code not in (0, 1, 3):
        add("crash", None, f"exit code {outcome.exit_code}", f"exit {outcome.exit_code}")
    document = outcome.document or {}
    findings = document.get("findings", [])
    for finding in findings:
        if finding["code"] == "E902":
            add("internal-error", finding["path"], finding["message"], _e902_key(finding))
    failed = False
    for name, entry in outcome.files.items():
        error = entry.get("error")
        if entry["status"] == "failed":
            failed = True
        if error and error["code"] == "E902":
            add("internal-error", name, error["message"], _e902_key(error))
    expected = 3 if failed else 1 if findings else 0
    if outcome.exit_code in (0, 1, 3) and outcome.exit_code != expected:
        add(
            "exit-code",
            None,
            f"exit {outcome.exit_code}, expected {expected} (failed files: {failed},"
            f" findings: {len(findings)})",
            f"{outcome.exit_code} for {expected}",
        )
    return outcome.files


_NUMBERS = re.compile(r"\d+")


def _e902_key(finding: Mapping[str, Any]) -> str:
    message = str(finding["message"])
    match = re.search(r"internal error in (\S+) while (\w+): (\w+)", message)
    if match:
        where = re.findall(r" at ([\w.]+\.py):\d+", message)
        key = f"{match.group(1)} {match.group(2)} {match.group(3)}"
        return key + (f" at {where[-1]}" if where else "")
    match = re.search(r"would not compile \(\d+:\d+: (.*)\); file", message)
    if match:
        return f"a rewrite would not compile: {_NUMBERS.sub('N', match.group(1))}"
    return _NUMBERS.sub("N", message)[:100]


def check_project(
    project: Mapping[str, bytes],
    recipe: str,
    workdir: Path | None = None,
    runner: Runner = apply_in_process,
    stats: Counter[str] | None = None,
) -> list[Violation]:
    """Every property broken by ``vibefix apply`` (then again on its output) on ``project``;
    ``stats`` counts the files changed, failed and unparseable."""
    with tempfile.TemporaryDirectory(prefix="vibefix-fuzz-", dir=workdir) as tmp:
        folder = Path(tmp) / "project"
        write_project(folder, project)
        return _check_folder(folder, project, recipe, runner, Counter() if stats is None else stats)


def _check_folder(
    folder: Path,
    project: Mapping[str, bytes],
    recipe: str,
    runner: Runner,
    stats: Counter[str],
) -> list[Violation]:
    violations: list[Violation] = []

    def add(prop: str, path: str | None, detail: str, key: str) -> None:
        violations.append(Violation(prop, recipe, path, detail, f"{prop}: {key}"))

    before = manifest(folder)
    first = runner(folder, recipe)
    reported = _run_checks(recipe, first, "first apply", violations)
    after = manifest(folder)
    if first.crash is not None:
        if after != before:
            add("unreported-write", None, "files changed by a run that crashed", "crashed run")
        return violations
    changed = {name for name in before.keys() | after.keys() if before.get(name) != after.get(name)}
    said = {name for name, entry in reported.items() if entry["status"] == "changed"}
    if changed != said:
        add(
            "unreported-write",
            None,
            f"written but not reported: {sorted(changed - said)};"
            f" reported but not written: {sorted(said - changed)}",
            "written != reported",
        )
    candidates = _candidates(project, recipe)
    stats["files changed"] += len(changed)
    stats["files failed"] += sum(entry["status"] == "failed" for entry in reported.values())
    for name, old in project.items():
        if not name.endswith(".py"):
            continue
        entry = reported.get(name)
        status = entry["status"] if entry else "skipped"
        error_code = entry["error"]["code"] if entry and entry.get("error") else None
        readable = compiles(old, name) or libcst_parses(old)
        stats["files unparseable"] += not readable
        if not readable and name in candidates and (status != "failed" or error_code != "E999"):
            add(
                "failure-report",
                name,
                f"unparseable file ended {status} (error {error_code}), expected failed E999",
                f"unparseable -> {status}",
            )
        # CPython may accept what libcst cannot (tabs after spaces, bad UTF-8 in a comment
        # before 3.12): E999 is wrong only when both read the file.
        if error_code == "E999" and compiles(old, name) and libcst_parses(old):
            add(
                "failure-report",
                name,
                f"a file CPython and libcst both parse failed: {entry and entry['error']}",
                "parseable -> E999",
            )
        if name not in changed:
            continue
        new = (folder / name).read_bytes()
        codes = ",".join(entry["codes"]) if entry else "?"
        if compiles(old, name) and not compiles(new, name):
            problem = "?"
            try:
                compile(new, name, "exec", dont_inherit=True)
            except Exception as error:
                problem = f"{type(error).__name__}: {error}"
            key = _NUMBERS.sub("N", problem.split(" (")[0])
            add("compile", name, f"rewrite by {codes} does not compile: {problem}", key)
        for problem in encoding_problems(old, new):
            key = re.sub(r" \(lines .*\)$", "", problem)
            add("encoding", name, f"rewrite by {codes}: {problem}", _NUMBERS.sub("N", key))
    if not changed or violations:
        return violations
    second = runner(folder, recipe)
    again = _run_checks(recipe, second, "second apply", violations)
    final = manifest(folder)
    moved = {name for name in after.keys() | final.keys() if after.get(name) != final.get(name)}
    more = {name: entry for name, entry in again.items() if entry["status"] == "changed"}
    if moved or more:
        codes = sorted({code for entry in more.values() for code in entry["codes"]})
        add(
            "idempotence",
            ",".join(sorted(moved | more.keys())),
            f"a second apply changed {sorted(moved | more.keys())} ({', '.join(codes)}):\n"
            + "\n".join(str(entry.get("diff")) for entry in more.values()),
            ",".join(codes),
        )
    return violations


# -- encodings ---------------------------------------------------------------------------

VARIANTS = ("utf-8", "utf-8-sig", "crlf", "utf-8-sig-crlf", "latin-1")

# Constructs that trigger a known bug, which a generator leaves out when asked to (the
# property tests do, each bug having a test of its own; bench/fuzz.py does not).
CRLF_REQUESTS = "a requests call in a project with a CRLF file"
DIGIT_HANDLER = "a handler named _ and a digit (_1_get)"
SESSION_IN_CLASS = "a session opened in a class body inside an async function"
FORM_FEED = "a form feed in indentation"
KNOWN_BUGS: frozenset[str] = frozenset()
"""The constructs of the bugs found and not fixed yet (none open: each was fixed; the
names above stay, for the generators to leave them out again should one come back)."""
LATIN1_COOKIE = "# -*- coding: latin-1 -*-\n"


def encode(text: str, variant: str) -> bytes:
    """``text`` as a file of ``variant``; UTF-8 when latin-1 cannot hold it."""
    if "crlf" in variant and "\r" not in text:
        text = text.replace("\n", "\r\n")
    if variant == "latin-1":
        try:
            return (LATIN1_COOKIE + text).encode("latin-1")
        except UnicodeEncodeError:
            return text.encode("utf-8")
    data = text.encode("utf-8", errors="surrogatepass")
    return codecs.BOM_UTF8 + data if variant.startswith("utf-8-sig") else data


# -- FastAPI-shaped modules from fragments -----------------------------------------------

_ASCII_NAMES = st.from_regex(r"[a-z_][a-z0-9_]{0,7}", fullmatch=True).filter(
    lambda name: not keyword.iskeyword(name) and name not in _RESERVED
)
_UNICODE_NAMES = st.sampled_from(["données", "ñame", "größe", "résumé", "データ", "café_2"])
_RESERVED = frozenset(
    {"app", "router", "engine", "db", "time", "requests", "asyncio", "subprocess", "sleep"}
    | {"SessionLocal", "Base", "get_db", "rq", "t", "snooze", "get", "Session", "print"}
    | {"open", "range", "str", "int", "dict", "len", "Path", "json", "Optional", "Field"}
)
NAMES = st.one_of(_ASCII_NAMES, _UNICODE_NAMES)
MODEL_NAMES = st.sampled_from(["Item", "User", "Order", "Produit", "Größe", "Payload"])
URLS = st.sampled_from(['"http://rates.example/x"', "URL", 'f"http://x/{1}"', "url"])


@dataclass
class Module:
    """A module being built: its import lines (kept in order, once) and its body."""

    imports: dict[str, None] = field(default_factory=dict)
    body: list[str] = field(default_factory=list)
    requests: bool = True
    """Whether ``requests`` calls may be generated."""
    avoid: frozenset[str] = frozenset()

    def need(self, *lines: str) -> None:
        self.imports.update(dict.fromkeys(lines))

    def text(self, order: Sequence[int] | None = None) -> str:
        imports = list(self.imports)
        if order is not None:
            imports = [imports[i % len(imports)] for i in order if imports] + imports
            imports = list(dict.fromkeys(imports))
        return "\n".join([*imports, "", "", *self.body]) + "\n"


_SLEEPS = {
    "time.sleep({n})": "import time",
    "sleep({n})": "from time import sleep",
    "t.sleep({n})": "import time as t",
    "snooze({n})": "from time import sleep as snooze",
}
_REQUESTS = {
    "{v} = requests.get({url})": "import requests",
    "{v} = requests.post({url}, json={{'k': 1}}, timeout=5)": "import requests",
    "{v} = rq.get({url}, params={{'q': 1}})": "import requests as rq",
    "{v} = get({url})": "from requests import get",
    "{v} = requests.request('PUT', {url}, data=b'x')": "import requests",
}
_USES = ["{v}.json()", "{v}.status_code", "{v}.text", "{v}.raise_for_status()", "{v}.content"]


@st.composite
def statement(
    draw: st.DrawFn,
    module: Module,
    in_async: bool,
    depth: int,
    helpers: list[str],
    in_class: bool = False,
) -> str:
    """One statement (maybe a compound one) as lines indented by 4 for each ``depth``."""
    pad = "    " * depth
    kind = draw(
        st.sampled_from(
            ["sleep", "blocking", "helper", "plain", "dict", "nest"]
            + ([] if in_class and SESSION_IN_CLASS in module.avoid else ["session"])
            + (["await"] if in_async else [])
            + (["requests"] if module.requests else [])
        )
    )
    name = draw(NAMES)
    if kind == "sleep":
        template = draw(st.sampled_from(sorted(_SLEEPS)))
        module.need(_SLEEPS[template])
        number = draw(st.sampled_from(["1", "0.5", "name", "delay()"]))
        if number == "name":
            number = name
        elif number == "delay()":
            module.body.insert(0, "def delay():\n    return 1\n\n")
        return pad + template.format(n=number)
    if kind == "requests":
        template = draw(st.sampled_from(sorted(_REQUESTS)))
        module.need(_REQUESTS[template])
        url = draw(URLS)
        if url == "URL":
            module.need('URL = "http://example.test"')
        elif url == "url":
            url = '"http://u"'
        line = pad + template.format(v=name, url=url)
        if draw(st.booleans()):
            line += "\n" + pad + draw(st.sampled_from(_USES)).format(v=name)
        return line
    if kind == "session":
        module.need("from app.database import SessionLocal")
        form = draw(st.sampled_from(["open-close", "try-finally", "with", "query", "bare"]))
        if form == "open-close":
            return f"{pad}{name} = SessionLocal()\n{pad}{name}.commit()\n{pad}{name}.close()"
        if form == "try-finally":
            return (
                f"{pad}{name} = SessionLocal()\n{pad}try:\n{pad}    {name}.add(object())\n"
                f"{pad}    {name}.commit()\n{pad}finally:\n{pad}    {name}.close()"
            )
        if form == "with":
            return f"{pad}with SessionLocal() as {name}:\n{pad}    {name}.execute('select 1')"
        if form == "query":
            return f"{pad}{name} = SessionLocal()\n{pad}rows = {name}.query(int).all()"
        return f"{pad}{name} = SessionLocal()"
    if kind == "blocking":
        form = draw(st.sampled_from(["open", "subprocess", "path"]))
        if form == "open":
            return f"{pad}{name} = open('data.txt').read()"
        if form == "subprocess":
            module.need("import subprocess")
            return f"{pad}subprocess.run(['true'], check=False)"
        module.need("from pathlib import Path")
        return f"{pad}{name} = Path('x').read_text()"
    if kind == "helper" and helpers:
        return f"{pad}{name} = {draw(st.sampled_from(helpers))}()"
    if kind == "await":
        module.need("import asyncio")
        return f"{pad}await asyncio.sleep(0)"
    if kind == "dict":
        return f"{pad}{name} = {{'k': 1}}\n{pad}{name}.get('k', 2)"
    if kind == "nest" and depth < 6:
        return draw(block(module, in_async, depth, helpers, in_class))
    return f"{pad}{name} = {draw(st.integers(0, 9))}"


@st.composite
def block(
    draw: st.DrawFn,
    module: Module,
    in_async: bool,
    depth: int,
    helpers: list[str],
    in_class: bool = False,
) -> str:
    """A compound statement around a few statements one level deeper."""
    pad = "    " * depth
    head = draw(
        st.sampled_from(
            ["if", "for", "while", "try", "with", "def", "async def", "lambda", "class"]
        )
    )
    inner_async = {"def": False, "async def": True, "class": False}.get(head, in_async)
    inner_class = head == "class" or (in_class and head not in ("def", "async def"))
    body = draw(
        st.lists(
            statement(module, inner_async, depth + 1, helpers, inner_class),
            min_size=1,
            max_size=3,
        )
    )
    text = "\n".join(body)
    name = draw(NAMES)
    if head == "if":
        return f"{pad}if {name}:\n{text}\n{pad}else:\n{pad}    pass"
    if head == "for":
        return f"{pad}for {name} in range(2):\n{text}"
    if head == "while":
        return f"{pad}while False:\n{text}"
    if head == "try":
        return f"{pad}try:\n{text}\n{pad}except Exception:\n{pad}    raise"
    if head == "with":
        module.need("import contextlib")
        return f"{pad}with contextlib.suppress(ValueError):\n{text}"
    if head in ("def", "async def"):
        return f"{pad}{head} inner_{name}():\n{text}\n{pad}inner_{name}"
    if head == "lambda":
        module.need("import time")
        return f"{pad}later = lambda: time.sleep(1)\n{pad}if later:\n{text}"
    return f"{pad}class K_{name}:\n{text}"


_METHODS = ["get", "post", "put", "delete", "patch"]


@st.composite
def handler(draw: st.DrawFn, module: Module, owner: str, helpers: list[str]) -> str:
    is_async = draw(st.booleans() | st.just(True))
    method = draw(st.sampled_from(_METHODS))
    name = draw(NAMES)
    if DIGIT_HANDLER in module.avoid and re.match(r"_+\d", name):
        name = "h" + name
    model = draw(MODEL_NAMES)
    path = draw(st.sampled_from(["/", "/items", "/items/{item_id}", "/x/{name}"]))
    extra = ""
    if draw(st.booleans()):
        extra = f", response_model={model}"
    params = draw(
        st.sampled_from(
            [
                "",
                f"body: {model}",
                "payload: dict",
                "item_id: int",
                "db: Session = Depends(get_db)",
                "request: Request",
            ]
        )
    )
    if "Session" in params:
        module.need("from fastapi import Depends", "from sqlalchemy.orm import Session")
        module.need("from app.database import get_db")
    if "Request" in params:
        module.need("from fastapi import Request")
    statements = draw(st.lists(statement(module, is_async, 1, helpers), min_size=1, max_size=5))
    if params.startswith("payload"):
        statements.append("    x = payload['k']\n    y = payload.get('z', 3)")
    if params.startswith("request") and is_async:
        statements.append("    data = await request.json()\n    value = data['key']")
    ret = draw(st.sampled_from(["return {'ok': True}", "return None", "return body", "pass"]))
    if "body" in ret and not params.startswith("body"):
        ret = "return {}"
    decorator = f'@{owner}.{method}("{path}"{extra})'
    definition = "async def" if is_async else "def"
    return (
        f"{decorator}\n{definition} {name}_{method}({params}):\n"
        + "\n".join(statements)
        + f"\n    {ret}\n"
    )


@st.composite
def helper(draw: st.DrawFn, module: Module, name: str) -> str:
    is_async = draw(st.booleans())
    statements = draw(st.lists(statement(module, is_async, 1, []), min_size=1, max_size=3))
    definition = "async def" if is_async else "def"
    return f"{definition} {name}():\n" + "\n".join(statements) + "\n    return 1\n"


@st.composite
def model(draw: st.DrawFn, module: Module) -> str:
    module.need("from pydantic import BaseModel")
    name = draw(MODEL_NAMES)
    lines = [f"class {name}(BaseModel):"]
    for _ in range(draw(st.integers(1, 4))):
        field_name = draw(_ASCII_NAMES)
        form = draw(st.sampled_from(["optional", "union", "plain", "field", "list"]))
        if form == "optional":
            module.need("from typing import Optional")
            lines.append(f"    {field_name}: Optional[int] = None")
        elif form == "union":
            lines.append(f"    {field_name}: str | None = None")
        elif form == "field":
            module.need("from typing import Optional", "from pydantic import Field")
            lines.append(f"    {field_name}: Optional[str] = Field(None, max_length=5)")
        elif form == "list":
            lines.append(f"    {field_name}: list[str] = []")
        else:
            lines.append(f"    {field_name}: {draw(st.sampled_from(['int', 'str', 'float']))}")
    if draw(st.booleans()):
        lines.append("\n    class Config:\n        orm_mode = True")
    return "\n".join(lines) + "\n"


DATABASE = """\
from sqlalchemy import Column, Integer, String, create_engine
from sqlalchemy.orm import declarative_base, sessionmaker

engine = create_engine("sqlite:///./fuzz.db", connect_args={"check_same_thread": False})
SessionLocal = sessionmaker(autocommit=False, autoflush=False, bind=engine)
Base = declarative_base()
db_session = SessionLocal()


class Item(Base):
    __tablename__ = "items"
    id = Column(Integer, primary_key=True)
    name = Column(String(50), nullable=False)


def get_db():
    db = SessionLocal()
    try:
        yield db
    finally:
        db.close()
"""


@st.composite
def fastapi_module(
    draw: st.DrawFn,
    helpers_module: str | None = None,
    requests: bool = True,
    avoid: frozenset[str] = frozenset(),
) -> str:
    """A FastAPI app module: an app or router, models, helpers and handlers."""
    module = Module(requests=requests, avoid=avoid)
    module.need("from fastapi import FastAPI" if draw(st.booleans()) else "import fastapi")
    owner = draw(st.sampled_from(["app", "router"]))
    top = []
    if "import fastapi" in module.imports:
        top.append("app = fastapi.FastAPI()")
    else:
        top.append("app = FastAPI()")
    if owner == "router":
        module.need("from fastapi import APIRouter")
        top.append("router = APIRouter()")
    if draw(st.booleans()):
        module.need("from app.database import db_session")
        top.append("shared = db_session")
    helpers: list[str] = []
    parts: list[str] = []
    if helpers_module is not None:
        helpers.append("fetch_remote")
        module.need(f"from {helpers_module} import fetch_remote")
    for number in range(draw(st.integers(0, 2))):
        name = f"helper_{number}"
        parts.append(draw(helper(module, name)))
        helpers.append(name)
    for _ in range(draw(st.integers(0, 2))):
        parts.append(draw(model(module)))
    for _ in range(draw(st.integers(1, 3))):
        parts.append(draw(handler(module, owner, helpers)))
    if draw(st.booleans()):
        module.need("from app.database import SessionLocal")
        parts.append(
            'if __name__ == "__main__":\n    db = SessionLocal()\n    db.commit()\n    db.close()\n'
        )
    parts = draw(st.permutations(parts))
    module.body = [*module.body, "\n".join(top) + "\n\n", *("\n\n" + part for part in parts)]
    order = draw(st.lists(st.integers(0, 20), max_size=6))
    return module.text(order)


@st.composite
def helpers_module(
    draw: st.DrawFn, requests: bool = True, avoid: frozenset[str] = frozenset()
) -> str:
    module = Module(requests=requests, avoid=avoid)
    module.body.append(draw(helper(module, "fetch_remote")))
    return module.text()


@st.composite
def projects(
    draw: st.DrawFn, variants: Sequence[str] = VARIANTS, avoid: frozenset[str] = frozenset()
) -> Project:
    """One to three files: ``app/main.py``, maybe ``app/database.py`` and
    ``app/remote.py`` (helpers that ``main`` calls), each in one of ``variants``; without
    the constructs in ``avoid`` (see ``KNOWN_BUGS``)."""
    names = ["app/__init__.py", "app/main.py", "app/database.py", "app/remote.py"]
    chosen = {name: draw(st.sampled_from(variants)) for name in names}
    crlf = any("crlf" in variant for variant in chosen.values())
    requests = not (crlf and CRLF_REQUESTS in avoid)
    with_helpers = draw(st.booleans())
    texts = {"app/__init__.py": ""}
    texts["app/main.py"] = draw(
        fastapi_module("app.remote" if with_helpers else None, requests=requests, avoid=avoid)
    )
    if draw(st.booleans()):
        texts["app/database.py"] = DATABASE
    if with_helpers:
        texts["app/remote.py"] = draw(helpers_module(requests=requests, avoid=avoid))
    return {name: encode(text, chosen[name]) for name, text in texts.items()}


# -- hypothesmith's programs among trigger-bearing code ------------------------------------

PRELUDE = """\
import time
import requests
from typing import Optional
from fastapi import FastAPI
from pydantic import BaseModel
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

engine = create_engine("sqlite:///x.db")
SessionLocal = sessionmaker(bind=engine)
app = FastAPI()


class M(BaseModel):
    x: Optional[int] = None
"""
HANDLER = """\


@app.post("/h")
async def h(m: M):
    time.sleep(1)
    r = requests.get("http://u")
    db = SessionLocal()
    db.close()
{body}
    return r.json()
"""
HELPER = """\


def helper():
    time.sleep(1)
{body}
    return requests.get("http://u").json()


@app.get("/g")
async def g():
    return helper()
"""


@functools.cache
def _grammar() -> st.SearchStrategy[str]:
    # Made once: building the grammar's parser takes seconds.
    return hypothesmith.from_grammar()


@functools.cache
def _nodes() -> st.SearchStrategy[str]:
    return hypothesmith.from_node()


def _indent(text: str) -> str:
    # Split at "\n" alone: str.splitlines also splits at form feeds and other characters
    # that Python's tokenizer does not take for line ends.
    return "\n".join("    " + line if line.strip() else line for line in text.split("\n"))


@st.composite
def grammar_projects(
    draw: st.DrawFn,
    variants: Sequence[str] = VARIANTS,
    avoid: frozenset[str] = frozenset(),
    source: str = "grammar",
) -> Project:
    """A hypothesmith program (``from_grammar``, or ``from_node`` for ``source="node"``)
    set before, after or inside code that every recipe rewrites."""
    program = draw(_grammar() if source == "grammar" else _nodes())
    if FORM_FEED in avoid:
        program = program.replace("\x0c", " ")
    if program and not program.endswith("\n"):
        program += "\n"
    place = draw(st.sampled_from(["before", "after", "handler", "helper"]))
    if place == "before":
        text = program + PRELUDE + HANDLER.format(body="")
    elif place == "after":
        text = PRELUDE + HANDLER.format(body="") + "\n\n" + program
    else:
        template = HANDLER if place == "handler" else HELPER
        text = PRELUDE + template.format(body=_indent(program) or "    pass")
    variant = draw(st.sampled_from(variants))
    if "crlf" in variant and CRLF_REQUESTS in avoid:
        text = _without_requests(text)
    return {"app.py": encode(text, variant)}


def _without_requests(text: str) -> str:
    text = text.replace("import requests\n", "")
    text = text.replace('r = requests.get("http://u")', 'r = {"ok": 1}')
    text = text.replace('return requests.get("http://u").json()', "return {}")
    return text.replace("return r.json()", "return r")


# -- mutations of a real project ---------------------------------------------------------

MUTATIONS = (
    "delete-line",
    "delete-block",
    "duplicate-line",
    "duplicate-block",
    "swap-lines",
    "swap-blocks",
    "rename",
    "unicode-rename",
    "indent",
    "reindent",
    "insert-trigger",
    "truncate",
    "crlf",
    "mixed-eol",
    "bom",
    "latin-1",
    "bad-bytes",
    "deep-nesting",
)
TRIGGER_LINES = (
    "time.sleep(1)",
    "import time",
    "import requests",
    "requests.get('http://u').json()",
    "r = requests.post(URL, json={})",
    "db = SessionLocal()",
    "db.close()",
    "x: Optional[int] = None",
    "from fastapi import FastAPI",
    "app = FastAPI()",
    "engine = create_engine('sqlite://')",
    "SessionLocal = sessionmaker(bind=engine)",
    "async def h():",
    "@router.post('/z')",
    "class Z(BaseModel):",
    "await asyncio.sleep(0)",
    "open('f').read()",
)
_IDENTIFIER = re.compile(r"\b[A-Za-z_]\w*\b")


def _blocks(lines: list[str]) -> list[tuple[int, int]]:
    """Line ranges [start, end) of statements: a line at some indentation and the more
    indented lines after it."""
    blocks = []
    for start, line in enumerate(lines):
        if not line.strip():
            continue
        depth = len(line) - len(line.lstrip())
        end = start + 1
        while end < len(lines) and (
            not lines[end].strip() or len(lines[end]) - len(lines[end].lstrip()) > depth
        ):
            end += 1
        blocks.append((start, end))
    return blocks


def mutate(data: bytes, rng: random.Random, kind: str) -> bytes:
    """``data`` damaged by one mutation ``kind`` (one of ``MUTATIONS``)."""
    text = data.decode("utf-8", errors="surrogateescape")
    lines = text.splitlines(True)
    if not lines:
        lines = ["\n"]
    pick = rng.randrange
    if kind == "delete-line":
        del lines[pick(len(lines))]
    elif kind == "duplicate-line":
        i = pick(len(lines))
        lines.insert(i, lines[i])
    elif kind == "swap-lines":
        i, j = pick(len(lines)), pick(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
    elif kind in ("delete-block", "duplicate-block", "swap-blocks"):
        blocks = _blocks(lines) or [(0, len(lines))]
        start, end = blocks[pick(len(blocks))]
        chunk = lines[start:end]
        if kind == "delete-block":
            del lines[start:end]
        elif kind == "duplicate-block":
            lines[end:end] = chunk
        else:
            other_start, other_end = blocks[pick(len(blocks))]
            if other_end <= start or other_start >= end:
                first, second = sorted([(start, end), (other_start, other_end)])
                a, b = lines[first[0] : first[1]], lines[second[0] : second[1]]
                lines = [
                    *lines[: first[0]],
                    *b,
                    *lines[first[1] : second[0]],
                    *a,
                    *lines[second[1] :],
                ]
    elif kind in ("rename", "unicode-rename"):
        names = sorted(set(_IDENTIFIER.findall(text))) or ["x"]
        old = names[pick(len(names))]
        if kind == "rename":
            new = rng.choice([*names, "requests", "time", "sleep", "db", "app", "async", "x_1"])
        else:
            new = rng.choice(["données", "ñame_", "größe", "データ", "π", "café"]) + old[:3]
        text = re.sub(rf"\b{re.escape(old)}\b", new, text)
        lines = text.splitlines(True)
    elif kind == "indent":
        i = pick(len(lines))
        lines[i] = rng.choice([" ", "    ", "\t", ""]) + lines[i].lstrip(" " * pick(2))
    elif kind == "reindent":
        unit = rng.choice(["  ", "\t", "        ", " "])
        lines = [
            re.sub(r"^((?:    )+)", lambda m: unit * (len(m.group(1)) // 4), line) for line in lines
        ]
    elif kind == "insert-trigger":
        i = pick(len(lines) + 1)
        near = lines[min(i, len(lines) - 1)]
        pad = near[: len(near) - len(near.lstrip())] if near.strip() else ""
        lines.insert(i, pad + rng.choice(TRIGGER_LINES) + "\n")
    elif kind == "truncate":
        return data[: pick(len(data) + 1)]
    elif kind == "crlf":
        return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    elif kind == "mixed-eol":
        return b"".join(
            line.replace(b"\n", b"\r\n") if rng.random() < 0.5 else line
            for line in data.splitlines(True)
        )
    elif kind == "bom":
        return data if data.startswith(codecs.BOM_UTF8) else codecs.BOM_UTF8 + data
    elif kind == "latin-1":
        try:
            decoded = data.decode("utf-8")
            return (LATIN1_COOKIE + decoded + '\nGREETING = "Grüße, ça va"\n').encode("latin-1")
        except (UnicodeDecodeError, UnicodeEncodeError):
            return data
    elif kind == "bad-bytes":
        i = pick(len(data) + 1)
        return data[:i] + rng.choice([b"\xff", b"\x00", b"\xc3(", b"\x80"]) + data[i:]
    elif kind == "deep-nesting":
        depth = rng.choice([20, 50, 90, 120, 150, 190])
        form = rng.choice(["call", "list", "binop", "if"])
        if form == "call":
            expression = "f(" * depth + "1" + ")" * depth
        elif form == "list":
            expression = "[" * depth + "1" + "]" * depth
        elif form == "binop":
            expression = " + ".join(["1"] * depth * 3)
        else:
            nested = "".join(" " * (level + 1) + "if True:\n" for level in range(min(depth, 98)))
            lines.append(f"\n\nasync def deep():\n{nested}{' ' * 99}time.sleep(1)\n")
            return "".join(lines).encode("utf-8", errors="surrogateescape")
        lines.append(f"\n\nasync def deep():\n    time.sleep(1)\n    return {expression}\n")
    return "".join(lines).encode("utf-8", errors="surrogateescape")


def mutate_project(
    project: Mapping[str, bytes], rng: random.Random, count: int | None = None
) -> tuple[Project, list[str]]:
    """A copy of ``project`` with one to three mutations on its Python files, and what
    they were (``path: kind``)."""
    result = dict(project)
    names = sorted(name for name in result if name.endswith(".py") and result[name].strip())
    done = []
    for _ in range(count or rng.choice([1, 1, 1, 2, 3])):
        name = rng.choice(names)
        kind = rng.choice(MUTATIONS)
        result[name] = mutate(result[name], rng, kind)
        done.append(f"{name}: {kind}")
    return result, done


def read_project(folder: Path, names: Iterable[str] | None = None) -> Project:
    """The files of ``folder`` (all of them, or ``names``) by POSIX path."""
    if names is None:
        names = sorted(
            path.relative_to(folder).as_posix()
            for path in folder.rglob("*")
            if path.is_file() and not {"__pycache__", ".vibefix_cache"} & set(path.parts)
        )
    return {name: (folder / name).read_bytes() for name in names}
