"""The command line: options in, one engine call, one report, an exit code out."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markdown import Markdown
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from vibefix import __version__, registry, report, verify
from vibefix.codemod import Codemod
from vibefix.codemods import ALL, RECIPES
from vibefix.config import Config, ConfigError, load_config
from vibefix.engine import gitutil
from vibefix.engine import run as engine
from vibefix.engine.discover import discover
from vibefix.engine.run import RunResult
from vibefix.report import OutputFormat
from vibefix.results import ExitCode

app = typer.Typer(
    name="vibefix",
    help=(
        "Clean up AI-written FastAPI services: unblock the event loop, stop leaking"
        " sessions, tighten models. Shows the diff before it writes.\n\n"
        "Exit codes: 0 nothing to change, 1 changes or findings pending, 2 usage error,"
        " 3 some file could not be processed."
    ),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)

stderr = Console(stderr=True, highlight=False, soft_wrap=True)

_EXAMPLE = ALL[0]
"""The codemod the help's examples name: the first one registered."""


class Formatter(str, Enum):
    ruff = "ruff"
    black = "black"


Paths = Annotated[
    list[Path],
    typer.Argument(
        metavar="PATH", help="Files or folders to process (folders are searched for .py files)."
    ),
]
Select = Annotated[
    list[str] | None,
    typer.Option(
        "--select",
        "-s",
        metavar="CODE",
        help=f"Codes, code prefixes ({_EXAMPLE.code[:3]}), names or ALL; replaces the recipe.",
    ),
]
Ignore = Annotated[
    list[str] | None, typer.Option("--ignore", metavar="CODE", help="Codes or names to skip.")
]
Recipe = Annotated[
    str | None,
    typer.Option(
        "--recipe", metavar="NAME", help="A named selection of codemods (default: default)."
    ),
]
Jobs = Annotated[
    int | None,
    typer.Option("--jobs", "-j", min=1, metavar="N", help="Worker processes (default: CPUs)."),
]
Output = Annotated[OutputFormat, typer.Option("--output-format", help="How to report results.")]
Format = Annotated[
    Formatter | None,
    typer.Option("--format", help="Run this formatter over the files vibefix touches."),
]
Unsafe = Annotated[
    bool, typer.Option("--unsafe", help="Also apply rewrites that need review (REVIEW safety).")
]
Since = Annotated[
    str | None,
    typer.Option(
        "--since",
        metavar="REF",
        help="Only files changed since this git ref (plus untracked ones).",
    ),
]
NoCache = Annotated[
    bool,
    typer.Option(
        "--no-cache",
        help="Neither read nor write the cache (.vibefix_cache/ at the project's root, or"
        " $VIBEFIX_CACHE_DIR).",
    ),
]
ConfigPath = Annotated[
    Path | None,
    typer.Option("--config", metavar="FILE", help="A pyproject.toml to read [tool.vibefix] from."),
]
ProjectPath = Annotated[
    str, typer.Argument(metavar="PATH", help="The project folder whose tests to run.")
]
PytestArgs = Annotated[
    list[str] | None,
    typer.Argument(
        metavar="-- PYTEST_ARGS", help="Passed to pytest as they are.", show_default=False
    ),
]
SlowMs = Annotated[
    float,
    typer.Option(
        "--slow-ms",
        min=1,
        metavar="MS",
        help="Report a loop step that ran longer than this (asyncio debug mode).",
    ),
]
Python = Annotated[
    str | None,
    typer.Option(
        "--python",
        metavar="PYTHON",
        help="The interpreter that runs the tests (default: the project's .venv, else"
        " vibefix's own).",
    ),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Do not show pytest's own output.")]


def _fail(message: str, code: ExitCode = ExitCode.USAGE) -> NoReturn:
    stderr.print(f"[bold red]error[/]: {escape(message)}", markup=True)
    raise typer.Exit(int(code))


def _version(value: bool) -> None:
    if value:
        typer.echo(f"vibefix {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Entry point for the command group."""


def _codemods() -> tuple[type[Codemod[Any]], ...]:
    try:
        return registry.with_plugins(ALL)
    except registry.SelectionError as error:
        _fail(str(error))


def _split(values: list[str] | None) -> list[str]:
    return [part for value in values or () for part in value.split(",") if part.strip()]


def _options(
    paths: list[Path],
    select: list[str] | None,
    ignore: list[str] | None,
    recipe: str | None,
    jobs: int | None,
    unsafe: bool,
    formatter: Formatter | None,
    config_path: Path | None,
    no_cache: bool,
) -> engine.Options:
    missing = [str(path) for path in paths if not path.exists()]
    if missing:
        _fail(f"no such file or folder: {', '.join(missing)}")
    try:
        config = load_config(paths, config_path)
    except ConfigError as error:
        _fail(str(error))
    ignored = _split(ignore) or list(config.ignore)
    try:
        chosen = registry.select(
            _codemods(),
            RECIPES,
            recipe=recipe or config.recipe,
            selected=_split(select) or list(config.select),
            ignored=ignored,
        )
        # The plan reads the codes ignored: a blocking call one of them would fix is
        # not reported (the user knows of it).
        config = replace(config, ignore=tuple(sorted(registry.codes(_codemods(), ignored))))
    except registry.SelectionError as error:
        _fail(str(error))
    format_name = formatter.value if formatter is not None else config.format
    if format_name is not None:
        if format_name not in engine.FORMATTERS:
            _fail(f"unknown formatter {format_name!r} (known: ruff, black)")
        if engine.formatter_command(format_name) is None:
            _fail(
                f"--format {format_name}: {format_name} is not installed"
                f" (pip install 'vibefix[format]')"
            )
    return engine.Options(
        config=config,
        codemods=chosen,
        jobs=jobs or config.jobs or engine.default_jobs(),
        unsafe=unsafe or config.unsafe,
        formatter=format_name,
        use_cache=not no_cache,
        known=_codemods(),
    )


@contextmanager
def _progress(enabled: bool) -> Iterator[tuple[Callable[[int], None], Callable[[int], None]]]:
    """A progress bar on stderr that appears only if the run lasts over half a second."""
    if not enabled or not stderr.is_terminal:
        yield (lambda _: None), (lambda _: None)
        return
    bar = Progress(
        TextColumn("vibefix"), BarColumn(), MofNCompleteColumn(), console=stderr, transient=True
    )
    task = bar.add_task("files", total=None)
    started = time.monotonic()
    shown = False

    def advance(count: int) -> None:
        nonlocal shown
        bar.advance(task, count)
        if not shown and time.monotonic() - started > 0.5:
            bar.start()
            shown = True

    try:
        yield advance, (lambda total: bar.update(task, total=total))
    finally:
        if shown:
            bar.stop()


def _run(
    paths: list[Path], options: engine.Options, since: str | None, show_progress: bool
) -> RunResult:
    files = None
    if since is not None:
        try:
            changed = gitutil.changed_since(since, paths[0])
        except gitutil.GitError as error:
            _fail(str(error))
        files = [path for path in discover(paths, options.config) if path.resolve() in changed]
    with _progress(show_progress) as (advance, total):
        run = engine.run(paths, options, files=files, progress=advance, on_total=total)
    if not run.files:
        where = ", ".join(str(path) for path in paths)
        stderr.print(f"warning: no Python files found under {where}")
    return run


def _preview(
    command: str,
    paths: list[Path],
    options: engine.Options,
    since: str | None,
    output_format: OutputFormat,
) -> NoReturn:
    """Run, report, and exit with the run's code: what ``diff`` and ``check`` share."""
    run = _run(paths, options, since, output_format is OutputFormat.text)
    exit_code = run.exit_code()
    report.emit(run, command, output_format, options.codemods, exit_code)
    raise typer.Exit(int(exit_code))


@app.command()
def diff(
    paths: Paths,
    select: Select = None,
    ignore: Ignore = None,
    recipe: Recipe = None,
    jobs: Jobs = None,
    output_format: Output = OutputFormat.text,
    format: Format = None,
    unsafe: Unsafe = False,
    since: Since = None,
    config: ConfigPath = None,
    no_cache: NoCache = False,
) -> None:
    """Show what vibefix would change, as a unified diff. Writes nothing.

    Exits 1 when there is something to change or a finding to read.
    """
    options = _options(paths, select, ignore, recipe, jobs, unsafe, format, config, no_cache)
    _preview("diff", paths, options, since, output_format)


@app.command()
def check(
    paths: Paths,
    select: Select = None,
    ignore: Ignore = None,
    recipe: Recipe = None,
    jobs: Jobs = None,
    output_format: Output = OutputFormat.text,
    unsafe: Unsafe = False,
    since: Since = None,
    config: ConfigPath = None,
    no_cache: NoCache = False,
) -> None:
    """For CI: list what would change and every finding; exit 1 if there is any."""
    options = _options(paths, select, ignore, recipe, jobs, unsafe, None, config, no_cache)
    _preview("check", paths, options, since, output_format)


@app.command()
def apply(
    paths: Paths,
    select: Select = None,
    ignore: Ignore = None,
    recipe: Recipe = None,
    jobs: Jobs = None,
    output_format: Output = OutputFormat.text,
    format: Format = None,
    unsafe: Unsafe = False,
    since: Since = None,
    config: ConfigPath = None,
    no_cache: NoCache = False,
    interactive_: Annotated[
        bool,
        typer.Option("--interactive", "-i", help="Ask for each hunk: y, n, a, d, q (git add -p)."),
    ] = False,
    allow_dirty: Annotated[
        bool,
        typer.Option("--allow-dirty", help="Write even over files with uncommitted git changes."),
    ] = False,
) -> None:
    """Rewrite the files in place (atomically), then report what is left.

    Refuses to touch files with uncommitted git changes unless --allow-dirty is given.
    Exits 0 when everything was fixed, 1 when findings (or skipped hunks) remain.
    """
    if interactive_ and output_format is not OutputFormat.text:
        _fail("--interactive asks on the terminal; it cannot be combined with --output-format")
    options = _options(paths, select, ignore, recipe, jobs, unsafe, format, config, no_cache)
    run = _run(paths, options, since, output_format is OutputFormat.text and not interactive_)
    try:
        exit_code = report.apply_changes(
            run, options, output_format, interactive=interactive_, allow_dirty=allow_dirty
        )
    except report.ApplyError as error:
        _fail(str(error), error.exit_code)
    raise typer.Exit(int(exit_code))


@app.command(name="list")
def list_(
    recipe: Recipe = None,
) -> None:
    """List the codemods: code, name, safety, recipes and summary."""
    codemods = _codemods()
    if recipe is not None and recipe not in RECIPES:
        _fail(f"unknown recipe {recipe!r} (known: {', '.join(sorted(RECIPES))})")
    table = Table(box=None, pad_edge=False)
    for column in ("code", "name", "safety", "recipes", "summary"):
        table.add_column(column, overflow="fold")
    for codemod in codemods:
        recipes = [name for name, codes in RECIPES.items() if codemod.code in codes]
        if recipe is not None and recipe not in recipes:
            continue
        table.add_row(
            codemod.code, codemod.name, codemod.safety.value, ", ".join(recipes), codemod.summary()
        )
    Console(highlight=False).print(table)


@app.command()
def explain(
    code: Annotated[
        str,
        typer.Argument(help=f"A code ({_EXAMPLE.code}) or a name ({_EXAMPLE.name})."),
    ],
) -> None:
    """Show a codemod's documentation: why, example, safety, what it leaves alone."""
    try:
        codemod = registry.find(_codemods(), code)
    except registry.SelectionError as error:
        _fail(str(error))
    console = Console(highlight=False)
    console.print(f"{codemod.code} {codemod.name} ({codemod.safety.value})", style="bold")
    console.print(Markdown(codemod.documentation()))


@app.command(
    name="verify",
    epilog=(
        "Examples: vibefix verify; vibefix verify services/api -- -k orders -x;"
        " vibefix verify --output-format sarif > verify.sarif"
    ),
)
def verify_(
    path: ProjectPath = ".",
    pytest_args: PytestArgs = None,
    slow_ms: SlowMs = 50.0,
    python: Python = None,
    output_format: Output = OutputFormat.text,
    quiet: Quiet = False,
) -> None:
    """Run the project's tests and report every blocking call made on an event loop.

    Each call is reported where the project made it, with the codemod that fixes it.
    The tests run under blockbuster (blocking calls are recorded, not raised, so the
    tests behave as usual) with every loop in asyncio debug mode; nothing is written
    in the project. Exit codes: 0 nothing blocked and every test passed, 1 blocking
    calls or failed tests, 2 the tests could not be collected or run.
    """
    extra = list(pytest_args or [])
    if path.startswith("-"):  # `vibefix verify -- -k x`: no PATH, the rest is pytest's
        extra.insert(0, path)
        path = "."
    root = Path(path)
    if not root.exists():
        _fail(f"{path}: no such file or folder")
    codemods = _codemods()
    try:
        result = verify.verify(
            root,
            extra,
            fixes=verify.fixes_from(codemods),
            python=python,
            slow_ms=slow_ms,
            echo=None if quiet or output_format is not OutputFormat.text else sys.stderr,
        )
    except verify.VerifyError as error:
        _fail(str(error))
    exit_code = report.emit_verified(result.findings, result.tests, output_format, codemods)
    raise typer.Exit(int(exit_code))


def main() -> None:
    """Console-script entry point."""
    app()


__all__ = ["Config", "app", "main"]
