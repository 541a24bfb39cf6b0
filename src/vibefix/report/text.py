"""A run's results as text: diffs on stdout; findings, per-file lines and the summary on
stderr, in the form ``path:line:col: CODE message`` that terminals and editors turn into
links."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from vibefix.engine.run import RunResult
from vibefix.report.diffing import unified_diff
from vibefix.results import BlockingCall, FileResult, Finding, Status

_COLOURS = {"-": "\x1b[31m", "+": "\x1b[32m", "@": "\x1b[36m", "header": "\x1b[1m"}
_RESET = "\x1b[0m"


def display(path: Path) -> str:
    """``path`` relative to the working folder when it is below it, POSIX-style."""
    # Not resolve(): a folder given through a symlink keeps the name it was given (a
    # symlinked file is reported under its target's name already, see discover.own_name).
    absolute = Path(os.path.abspath(path))
    try:
        return absolute.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return path.as_posix()


def use_colour(stream: TextIO) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return stream.isatty()


def colour_diff(text: str) -> str:
    out = []
    for line in text.splitlines(keepends=True):
        if line.startswith(("---", "+++")):
            out.append(_COLOURS["header"] + line.rstrip("\n") + _RESET + "\n")
        elif line[:1] in _COLOURS:
            out.append(_COLOURS[line[0]] + line.rstrip("\n") + _RESET + "\n")
        else:
            out.append(line)
    return "".join(out)


def finding_line(finding: Finding) -> str:
    where = f"{display(finding.path)}:{finding.position.line}:{finding.position.column}"
    return f"{where}: {finding.code} {finding.message}{_via(finding.blocking)}"


def edit_lines(result: FileResult) -> list[str]:
    """One ``path:line:col: CODE reason`` line per rewrite (imports follow their rewrite)."""
    return [
        f"{display(result.path)}:{edit.start.line}:{edit.start.column}: {edit.code}"
        f" {edit.reason}{_via(edit.blocking)}"
        for edit in result.edits
        if not edit.import_only
    ]


def _via(blocking: BlockingCall | None) -> str:
    """`` (via get_user() -> load(): `requests.get` at repo.py:5)``: how async code
    reaches the blocking call, when it does through other functions."""
    if blocking is None or len(blocking.chain) < 2:
        return ""
    last = blocking.chain[-1]
    call = blocking.call.removeprefix("builtins.")
    return f" (via {blocking.via()}: `{call}` at {display(last.path)}:{last.line})"


def summary(
    run: RunResult, verb: str, changed: Sequence[FileResult] | None = None, not_applied: int = 0
) -> str:
    """``3 files would be changed (VF100 x6), 1 finding, 12 left alone, 1 failed.``"""
    changed_files = run.changed if changed is None else changed
    codes = Counter(
        edit.code for result in changed_files for edit in result.edits if not edit.import_only
    )
    parts = []
    count = len(changed_files)
    code_text = ", ".join(f"{code} x{number}" for code, number in sorted(codes.items()))
    noun = "file" if count == 1 else "files"
    parts.append(f"{count} {noun} {verb}" + (f" ({code_text})" if code_text else ""))
    if not_applied:
        parts.append(f"{not_applied} not applied")
    if run.findings:
        parts.append(f"{len(run.findings)} finding{'s' if len(run.findings) != 1 else ''}")
    blocking = blocking_left(run)
    if blocking:
        calls = "call" if blocking == 1 else "calls"
        parts.append(f"{blocking} blocking {calls} left on the event loop")
    left = len(run.by_status(Status.UNCHANGED)) + len(run.by_status(Status.SKIPPED))
    parts.append(f"{left} left alone")
    if run.failed:
        parts.append(f"{len(run.failed)} failed")
    return ", ".join(parts) + "."


def dead_code(run: RunResult) -> list[tuple[Path, str]]:
    """The files given that are dead code, with why: those skipped (a module a package of
    the same name hides) and those the event-loop analysis leaves out (a module nothing
    imports or runs). The report says so: nothing is left out silently."""
    skipped = [
        (result.path, result.reason)
        for result in run.by_status(Status.SKIPPED)
        if result.reason is not None and result.reason.startswith("dead code")
    ]
    return sorted([*skipped, *run.dead.items()], key=lambda item: str(item[0]))


def blocking_left(run: RunResult) -> int:
    """The blocking calls that stay on the event loop after the run's rewrites: its
    findings about one."""
    return sum(1 for finding in run.findings if finding.blocking is not None)


def text_report(
    run: RunResult, command: str, stdout: TextIO, stderr: TextIO, written: Sequence[Path] = ()
) -> None:
    colour = use_colour(stdout)
    if command == "diff":
        for result in run.changed:
            text = unified_diff(result, display(result.path))
            stdout.write(colour_diff(text) if colour else text)
    elif command == "check":
        for result in run.changed:
            for line in edit_lines(result):
                stderr.write(line + "\n")
    elif command == "apply":
        for result in run.changed:
            if result.path in written:
                stderr.write(f"fixed {display(result.path)} ({', '.join(result.codes)})\n")
    for result in run.failed:
        if result.error is not None:
            stderr.write(finding_line(result.error) + "\n")
    for path, reason in dead_code(run):
        stderr.write(f"{display(path)}: {reason}\n")
    for finding in run.findings:
        stderr.write(finding_line(finding) + "\n")
    if command == "apply":
        applied = [result for result in run.changed if result.path in written]
        not_applied = len(run.changed) - len(applied)
        stderr.write(summary(run, "changed", applied, not_applied) + "\n")
    else:
        stderr.write(summary(run, "would be changed") + "\n")


def verify_summary(findings: Sequence[Finding], tests: dict[str, int]) -> str:
    """``30 tests passed, 1 failed; 4 blocking calls on the event loop (VF101 x3, VF203 x1).``"""
    ran = ", ".join(f"{number} {state}" for state, number in tests.items() if number)
    count = sum(tests.values())
    head = f"{count} test{'s' * (count != 1)}: {ran}" if count else "no tests ran"
    if not findings:
        return f"{head}; nothing blocked the event loop."
    codes = Counter(finding.code for finding in findings)
    code_text = ", ".join(f"{code} x{number}" for code, number in sorted(codes.items()))
    noun = "place" if len(findings) == 1 else "places"
    return f"{head}; {len(findings)} {noun} blocked the event loop ({code_text})."
