"""``vibefix verify``: run a project's own tests and report what blocked its event loops.

The tests run in a subprocess of the project's interpreter, with ``verify_plugin`` loaded
(see there for what it detects). Nothing is written in the project: no pytest cache, no
bytecode, no package installed; the plugin (and blockbuster, when the project's
interpreter lacks it) are copied to a temporary folder put on ``PYTHONPATH``.

The plugin says what kind of blocking call it saw (``Blocking``); which codemod fixes
it, and how, comes from the codemods' ``verifies`` and ``verify_hint`` (``fixes_from``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vibefix.results import Blocking, Finding, Position

if TYPE_CHECKING:
    from vibefix.codemod import Codemod

PLUGIN = "vibefix_verify_plugin"


@dataclass(frozen=True)
class Fix:
    """The codemod that fixes a kind of blocking call: its code, and what to do."""

    code: str
    hint: str = ""


def fixes_from(codemods: Iterable[type[Codemod[Any]]]) -> dict[Blocking, Fix]:
    """For each kind of blocking call, the first of ``codemods`` that ``verifies`` it."""
    found: dict[Blocking, Fix] = {}
    for codemod in codemods:
        if codemod.verifies is not None and codemod.verifies not in found:
            found[codemod.verifies] = Fix(codemod.code, codemod.verify_hint)
    return found


class VerifyError(Exception):
    """The tests could not be run: the message says why."""


@dataclass
class Verified:
    """What a run of the project's tests showed."""

    findings: list[Finding] = field(default_factory=list)
    tests: dict[str, int] = field(default_factory=dict)
    returncode: int = 0
    python: str = ""


def project_python(root: Path) -> str:
    """The project's own virtualenv interpreter when it has one, else the running one."""
    for folder in (".venv", "venv", "env"):
        for candidate in (
            root / folder / "bin" / "python",
            root / folder / "Scripts" / "python.exe",
        ):
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
    return sys.executable


def _has_module(python: str, module: str, env: dict[str, str]) -> bool:
    probe = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({module!r}) is None)"
    return subprocess.run([python, "-c", probe], env=env, capture_output=True).returncode == 0


def _copy_module(name: str, into: Path) -> None:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise VerifyError(f"{name} is not installed beside vibefix; pip install {name}")
    origin = Path(spec.origin)
    if origin.name == "__init__.py":
        shutil.copytree(origin.parent, into / name, ignore=shutil.ignore_patterns("__pycache__"))
    else:
        shutil.copy2(origin, into / origin.name)


def _finding(record: dict[str, Any], code: str, message: str) -> Finding:
    return Finding(
        Path(record["path"]),
        Position(int(record["line"]), int(record["column"])),
        code,
        message,
    )


def _seen(record: dict[str, Any]) -> str:
    tests = [test or "collection" for test in record["tests"]]
    times = int(record["count"])
    others = len(tests) - 1
    shown = f"seen at runtime in {tests[0]}"
    if others:
        shown += f" and {others} other test{'s' * (others > 1)}"
    return shown + (f", {times} times" if times > 1 else "")


def findings_from(document: dict[str, Any], fixes: Mapping[Blocking, Fix]) -> list[Finding]:
    """The plugin's JSON as findings, one per place, in file order; a kind of blocking
    call no codemod ``verifies`` is reported as ``Blocking.OTHER``."""
    other = fixes[Blocking.OTHER]
    found = []
    for record in document.get("blocking", []):
        inside = f" in {record['in']}()" if record.get("in") else ""
        functions = list(record["functions"])
        calls = "a blocking call" if len(functions) == 1 else "blocking calls"
        fix = fixes.get(Blocking(record["kind"]), other)
        found.append(
            _finding(
                record,
                fix.code,
                f"{calls} on the event loop{inside}: {', '.join(functions)}"
                f" ({_seen(record)}){'; ' + fix.hint if fix.hint else ''}",
            )
        )
    for record in document.get("slow", []):
        where = f"{record['in']}() held" if record.get("in") else "a callback held"
        found.append(
            _finding(
                record,
                other.code,
                f"{where} the event loop for {record['ms']} ms in the step that ends here,"
                f" with no blocking call vibefix knows ({_seen(record)}): CPU-bound work?"
                " run it in a worker thread",
            )
        )
    return sorted(found, key=lambda f: (str(f.path), f.position.line, f.position.column))


def _environment(
    python: str, folder: Path, root: Path, out: Path, slow_ms: float
) -> dict[str, str]:
    """The tests' environment: the plugin's settings, and ``folder`` (where the plugin
    is, and blockbuster when ``python`` lacks it) on ``PYTHONPATH``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"PYTEST_ADDOPTS", "PYTEST_PLUGINS"}
    }
    if not _has_module(python, "blockbuster", env):
        for module in ("blockbuster", "forbiddenfruit"):
            _copy_module(module, folder)
    env.update(
        PYTHONPATH=os.pathsep.join(filter(None, [str(folder), env.get("PYTHONPATH")])),
        PYTHONDONTWRITEBYTECODE="1",
        VIBEFIX_VERIFY_ROOT=str(root),
        VIBEFIX_VERIFY_OUT=str(out),
        VIBEFIX_VERIFY_SLOW_MS=str(slow_ms),
    )
    return env


def verify(
    root: Path,
    pytest_args: list[str],
    *,
    fixes: Mapping[Blocking, Fix],
    python: str | None = None,
    slow_ms: float = 50.0,
    echo: Any = None,
) -> Verified:
    """Run the tests under ``root`` and collect what blocked an event loop.

    ``fixes`` names the codemod that fixes each kind of blocking call (one for
    ``Blocking.OTHER`` at least: slow steps and unclaimed kinds are reported as such).
    ``echo`` (a text stream) receives pytest's output as it comes. Raises ``VerifyError``
    when the tests cannot be collected or run.
    """
    if Blocking.OTHER not in fixes:
        raise VerifyError(
            "no codemod fixes blocking calls in general (`verifies = Blocking.OTHER`)"
        )
    root = root.resolve()
    if not root.is_dir():
        raise VerifyError(f"{root}: not a folder (verify runs the tests of a project folder)")
    python = python or project_python(root)
    with tempfile.TemporaryDirectory(prefix="vibefix-verify-") as scratch:
        folder = Path(scratch)
        shutil.copy2(Path(__file__).with_name("plugin.py"), folder / f"{PLUGIN}.py")
        out = folder / "verify.json"
        env = _environment(python, folder, root, out, slow_ms)
        command = [python, "-m", "pytest", "-p", PLUGIN, "-p", "no:cacheprovider", *pytest_args]
        try:
            process = subprocess.Popen(
                command,
                cwd=root,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
            )
        except OSError as error:
            raise VerifyError(f"cannot run {python}: {error.strerror}") from None
        lines: list[str] = []
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if echo is not None:
                echo.write(line)
                echo.flush()
        returncode = process.wait()
        tail = "".join(lines[-15:]).rstrip()
        if returncode in (2, 3, 4) or not out.is_file():
            raise VerifyError(
                f"the tests of {root} could not be collected or run"
                f" ({python} -m pytest exited with {returncode}):\n{tail}"
            )
        document = json.loads(out.read_text(encoding="utf-8"))
    if document.get("error"):
        raise VerifyError(str(document["error"]))
    if returncode == 5:
        raise VerifyError(f"no tests were collected under {root}:\n{tail}")
    found = findings_from(document, fixes)
    return Verified(found, dict(document["tests"]), returncode, python)
