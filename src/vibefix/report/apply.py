"""``vibefix apply``: from a run's results to files written and a report.

The files are checked for uncommitted changes first (unless allowed); with
``--interactive`` the user accepts or skips each hunk (``report.interactive``), and the
plan's changes that span files (``PlanPart.together``) once, before any hunk; the files
are then written all together or not at all, and what is left is reported.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from vibefix.codemod import Codemod
from vibefix.engine import gitutil
from vibefix.engine.plan import Together
from vibefix.engine.run import Options, RunResult, reapply
from vibefix.engine.sourcefile import WriteError, atomic_write_all
from vibefix.report import interactive
from vibefix.report.output import OutputFormat, emit
from vibefix.report.text import display, use_colour
from vibefix.results import ExitCode, FileResult, Status

Ask = Callable[[str], str]


class ApplyError(Exception):
    """Nothing was written: the message says why, ``exit_code`` is the process's."""

    def __init__(self, message: str, exit_code: ExitCode = ExitCode.USAGE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def apply_changes(
    run: RunResult,
    options: Options,
    output: OutputFormat,
    *,
    interactive: bool = False,
    allow_dirty: bool = False,
    ask: Ask | None = None,
) -> ExitCode:
    """Write ``run``'s changes (those the user accepts, with ``interactive``: ``ask``
    takes a prompt and returns the answer, a line of stdin by default), report what is
    left in ``output`` and return the exit code. Raises ``ApplyError`` when nothing can
    be written: uncommitted changes (unless ``allow_dirty``), a file that cannot be."""
    if not allow_dirty:
        _refuse_dirty(run)
    if interactive:
        written, pending = _review(run, options, ask or _ask_stdin)
    else:
        written, pending = run.changed, False
    try:
        # All files or none: a rewrite may span files (a function made async, its awaits).
        atomic_write_all([(r.path, r.new_source) for r in written if r.new_source is not None])
    except WriteError as error:
        raise ApplyError(
            f"{display(error.path)}: cannot write: {error.error}; no file was changed",
            ExitCode.FAILED,
        ) from None
    done = {result.path for result in written}
    applied = RunResult(
        [r for r in run.files if r.status is not Status.CHANGED or r.path not in done] + written,
        run.findings,
    )
    exit_code = ExitCode.FAILED if run.failed else ExitCode.OK
    if exit_code is ExitCode.OK and (run.findings or pending):
        exit_code = ExitCode.PENDING
    emit(applied, "apply", output, options.codemods, exit_code, [r.path for r in written])
    return exit_code


def _refuse_dirty(run: RunResult) -> None:
    try:
        dirty = gitutil.dirty([result.path for result in run.changed])
    except gitutil.GitError as error:
        raise ApplyError(f"cannot ask git for uncommitted changes: {error}") from None
    if dirty:
        listed = "\n".join(f"  {display(path)}" for path in dirty)
        raise ApplyError(
            "these files have uncommitted changes; commit or stash them first, or pass"
            f" --allow-dirty:\n{listed}"
        )


def _review(run: RunResult, options: Options, ask: Ask) -> tuple[list[FileResult], bool]:
    """The files to write, each with the rewrites the user accepts, and whether any
    rewrite is left out."""
    together = run.plan.together(options.config) if run.plan is not None else ()
    codes = frozenset(codemod.code for codemod in options.codemods if codemod.linked)
    colour = use_colour(sys.stdout)
    written: list[FileResult] = []
    pending = False
    try:
        if together and not _accept_together(together, options.codemods, ask):
            raise interactive.Quit
        quitting = False
        for result in run.changed:
            linked = interactive.linked(result, together, codes)
            try:
                accepted = (
                    linked
                    if quitting
                    else interactive.choose(result, ask, sys.stdout, colour, linked)
                )
            except interactive.Quit:
                # The changes accepted together span files: the rest of them is written
                # anyway, so that no caller is left without its await.
                quitting = pending = True
                accepted = linked
            if accepted != interactive.rewrites(result):
                pending = True
                if not accepted:
                    continue
                assert run.plan is not None
                layout = replace(options, project=run.project, roots=run.roots)
                result = reapply(result, layout, run.plan, accepted)
                if result.status is not Status.CHANGED:
                    continue
            written.append(result)
    except interactive.Quit:
        pending = True
    return written, pending


def _accept_together(
    together: Sequence[Together], codemods: Sequence[type[Codemod[Any]]], ask: Ask
) -> bool:
    """Ask once about the changes that span files; on no, say which codes to ignore to
    review the rest hunk by hunk (the linked codemods that carry them out)."""
    files = {key[0] for change in together for key in change.keys}
    prompt = (
        f"{'; '.join(change.what for change in together)}: in {len(files)} files, they"
        " change together. Apply them [y,n]? "
    )
    if ask(prompt).strip().lower()[:1] == "y":
        return True
    named = {code for change in together for code in change.codes}
    codes = ",".join(c.code for c in codemods if c.linked and c.code in named)
    sys.stdout.write(f"Run again with --ignore {codes} to review the rest.\n")
    return False


def _ask_stdin(prompt: str) -> str:
    sys.stdout.write(prompt)
    sys.stdout.flush()
    line = sys.stdin.readline()
    return line if line else "q"
