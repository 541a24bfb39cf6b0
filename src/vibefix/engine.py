"""The pipeline: discover -> prefilter -> index -> plan -> transform -> check output.

Files are split into shards, one per worker process, and a shard keeps its parsed trees
(with their resolved metadata) from the index stage to the transform stage: every
candidate file is parsed once and its metadata resolved once. The main process only
discovers, prefilters, merges the index, builds the plan and collects results. Nothing
that goes wrong in one file escapes: it becomes that file's FAILED result.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import shutil
import subprocess
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

import libcst as cst
from libcst.helpers import calculate_module_and_package
from libcst.metadata import (
    MetadataWrapper,
    PositionProvider,
    ProviderT,
    ScopeProvider,
)

from vibefix.codemod import Codemod, FileContext
from vibefix.config import Config
from vibefix.discover import Prefilter, discover
from vibefix.edits import Edit, EditConflict, apply_edits
from vibefix.imports import ImportPlanner
from vibefix.index import FactCollector, ModuleFacts, ProjectIndex
from vibefix.plan import Plan, build_plan
from vibefix.results import FileResult, Finding, Position, RunResult, Safety, Status
from vibefix.sourcefile import PARSE_ERROR, SourceError, compiles, parse

Progress = Callable[[int], None]
"""Called with the number of files just finished (twice per candidate: index, transform)."""

INTERNAL_ERROR = "E902"
IN_PROCESS_BYTES = 64 * 1024
"""Below this much candidate source, worker processes cost more than they save (starting
one costs about half a second; indexing 64 KiB, metadata included, about as much)."""


@dataclass(frozen=True)
class Options:
    config: Config
    codemods: tuple[type[Codemod], ...]
    jobs: int = 1
    unsafe: bool = False
    formatter: str | None = None
    accept: frozenset[tuple[str, Position]] | None = None
    """When set, only the rewrites with these (code, position) are made; the imports
    follow from the accepted ones (``apply --interactive``)."""


def module_name(path: Path) -> tuple[str, str]:
    """The dotted module name and package of ``path``: its folders up to the first
    one without an ``__init__.py`` (works for src/ layouts and loose scripts alike)."""
    path = path.resolve()
    root = path.parent
    while (root / "__init__.py").is_file() and root.parent != root:
        root = root.parent
    result = calculate_module_and_package(str(root), str(path))
    return result.name, result.package


@dataclass(frozen=True)
class Candidate:
    """A file that passed the prefilter, with the codes of the codemods it concerns."""

    path: Path
    data: bytes
    codes: tuple[str, ...]


@dataclass
class _Parsed:
    path: Path
    data: bytes
    encoding: str
    wrapper: MetadataWrapper
    module: str
    compiled: bool
    codemods: tuple[type[Codemod], ...]


class Shard:
    """The per-file work of one process: index its files, keep their trees, transform them."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self._parsed: list[_Parsed] = []

    def index(self, candidates: Sequence[Candidate]) -> Iterator[ModuleFacts | FileResult]:
        for candidate in candidates:
            try:
                yield self._index_one(candidate)
            except SourceError as error:
                yield FileResult(
                    candidate.path, Status.FAILED, old_source=candidate.data, error=error.finding
                )
            except Exception as error:  # one file must never stop the run
                yield _internal_failure(candidate.path, candidate.data, "indexing", error)

    def _index_one(self, candidate: Candidate) -> ModuleFacts:
        path, data = candidate.path, candidate.data
        codemods = tuple(c for c in self.options.codemods if c.code in candidate.codes)
        providers: set[ProviderT] = {ScopeProvider, PositionProvider}
        providers.update(FactCollector.METADATA_DEPENDENCIES)
        for codemod in codemods:
            providers.update(codemod.get_inherited_dependencies())
        parsed = parse(path, data)
        name, package = module_name(path)
        # The tree is ours alone: no need for the defensive deep copy (half a parse).
        wrapper = MetadataWrapper(parsed.module, unsafe_skip_copy=True)
        wrapper.resolve_many(providers)
        collector = FactCollector(path, name, package)
        wrapper.visit(collector)
        context = self._context(path, name, wrapper)
        own_facts = tuple(
            (codemod.code, facts)
            for codemod in codemods
            if (facts := codemod.collect(wrapper, context)) is not None
        )
        self._parsed.append(
            _Parsed(path, data, parsed.encoding, wrapper, name, parsed.compiles, codemods)
        )
        return collector.facts(own_facts)

    def _context(self, path: Path, name: str, wrapper: MetadataWrapper) -> FileContext:
        imports = ImportPlanner(
            wrapper.module, wrapper.resolve(ScopeProvider), wrapper.resolve(PositionProvider)
        )
        return FileContext(path, name, self.options.config, imports)

    def transform(self, plan: Plan) -> Iterator[FileResult]:
        parsed, self._parsed = self._parsed, []
        for item in parsed:
            try:
                yield self._transform_one(item, plan)
            except Exception as error:  # one file must never stop the run
                yield _internal_failure(item.path, item.data, "rewriting", error)

    def _transform_one(self, item: _Parsed, plan: Plan) -> FileResult:
        context = self._context(item.path, item.module, item.wrapper)
        edits: list[Edit] = []
        for codemod in item.codemods:
            applied = codemod.safety is Safety.SAFE or self.options.unsafe
            # A codemod whose rewrites are not applied still reports; its import needs
            # go to a planner that is thrown away.
            own = context if applied else self._context(item.path, item.module, item.wrapper)
            own.edits = []
            try:
                item.wrapper.visit(codemod(own, plan))
            except Exception as error:
                raise _CodemodError(codemod.code) from error
            if applied:
                edits.extend(own.edits)
            else:
                context.findings.extend(_as_findings(item.path, own.edits))
                context.findings.extend(own.findings)
                own.findings = []
        findings = tuple(sorted(context.findings, key=lambda f: (f.position, f.code)))
        unchanged = FileResult(
            item.path, Status.UNCHANGED, item.data, encoding=item.encoding, findings=findings
        )
        accept = self.options.accept
        if accept is not None:
            edits = [edit for edit in edits if (edit.record.code, edit.record.start) in accept]
        if not edits:
            return unchanged
        edits.extend(context.imports.edits(edits))
        try:
            new_module = apply_edits(item.wrapper.module, edits)
        except EditConflict as error:
            raise _CodemodError(", ".join(sorted({e.record.code for e in edits}))) from error
        new_source = new_module.bytes
        records = tuple(sorted((edit.record for edit in edits), key=lambda r: (r.start, r.code)))
        if new_source == item.data:
            return unchanged
        problem = compiles(new_source, item.path) if item.compiled else _reparses(new_source)
        if problem is not None:
            codes = ", ".join(sorted({record.code for record in records}))
            message = f"the rewrite by {codes} would not compile ({problem}); file left as it was"
            return FileResult(
                item.path,
                Status.FAILED,
                item.data,
                encoding=item.encoding,
                findings=findings,
                error=Finding(item.path, Position(1, 1), INTERNAL_ERROR, message),
            )
        return FileResult(
            item.path,
            Status.CHANGED,
            item.data,
            new_source,
            item.encoding,
            edits=records,
            findings=findings,
        )


class _CodemodError(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def _reparses(source: bytes) -> str | None:
    try:
        cst.parse_module(source)
    except cst.ParserSyntaxError as error:
        return str(error)
    return None


def _as_findings(path: Path, edits: Sequence[Edit]) -> list[Finding]:
    return [
        Finding(path, edit.record.start, edit.record.code, f"{edit.record.reason} (with --unsafe)")
        for edit in edits
        if not edit.record.import_only
    ]


def _internal_failure(path: Path, data: bytes, stage: str, error: Exception) -> FileResult:
    where = "vibefix"
    if isinstance(error, _CodemodError):
        where = error.code
        error = error.__cause__ if isinstance(error.__cause__, Exception) else error
    frame = traceback.extract_tb(error.__traceback__)[-1] if error.__traceback__ else None
    origin = f" at {Path(frame.filename).name}:{frame.lineno}" if frame else ""
    message = (
        f"internal error in {where} while {stage}: {type(error).__name__}: {error}{origin}"
        " (please report it; the file was left as it was)"
    )
    return FileResult(
        path, Status.FAILED, data, error=Finding(path, Position(1, 1), INTERNAL_ERROR, message)
    )


# -- worker processes ------------------------------------------------------------------


def _serve(connection: Connection, options: Options) -> None:
    shard = Shard(options)
    while True:
        command, payload = connection.recv()
        if command == "index":
            for outcome in shard.index(payload):
                connection.send(("item", outcome))
        elif command == "transform":
            for result in shard.transform(payload):
                connection.send(("item", result))
        else:
            return
        connection.send(("done", None))


class _Pool:
    """Worker processes, each owning one shard of files for the whole run."""

    def __init__(self, options: Options, count: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._connections: list[Connection] = []
        self._processes = []
        for _ in range(count):
            parent, child = context.Pipe()
            process = context.Process(target=_serve, args=(child, options), daemon=True)
            process.start()
            child.close()
            self._connections.append(parent)
            self._processes.append(process)

    def run(
        self, payloads: Sequence[tuple[str, Any]], progress: Progress | None
    ) -> Iterator[tuple[int, Any]]:
        pending = {id(c): i for i, c in enumerate(self._connections)}
        for shard, (connection, payload) in enumerate(
            zip(self._connections, payloads, strict=True)
        ):
            try:
                connection.send(payload)
            except OSError:  # the worker died earlier: its files fail, the run goes on
                del pending[id(connection)]
                yield shard, None
        while pending:
            for ready in wait([c for c in self._connections if id(c) in pending]):
                assert isinstance(ready, Connection)
                shard = pending[id(ready)]
                try:
                    kind, value = ready.recv()
                except (EOFError, OSError):  # the worker died: its files fail, the run goes on
                    del pending[id(ready)]
                    yield shard, None
                    continue
                if kind == "done":
                    del pending[id(ready)]
                else:
                    if progress is not None:
                        progress(1)
                    yield shard, value

    def close(self) -> None:
        for connection in self._connections:
            with contextlib.suppress(OSError):
                connection.send(("stop", None))
        for process in self._processes:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()


def _shards(candidates: Sequence[Candidate], count: int) -> list[list[Candidate]]:
    """Split files into ``count`` shards of about equal size (largest first, greedy)."""
    shards: list[list[Candidate]] = [[] for _ in range(count)]
    sizes = [0] * count
    for candidate in sorted(candidates, key=lambda c: (-len(c.data), c.path)):
        smallest = sizes.index(min(sizes))
        shards[smallest].append(candidate)
        sizes[smallest] += len(candidate.data)
    return shards


# -- the pipeline ----------------------------------------------------------------------


def prefilter(
    files: Sequence[Path], codemods: Sequence[type[Codemod]]
) -> tuple[list[Candidate], list[FileResult]]:
    """Read every file; keep those that some selected codemod's triggers all match."""
    rules = Prefilter((codemod.code, codemod.triggers) for codemod in codemods)
    candidates: list[Candidate] = []
    others: list[FileResult] = []
    for path in files:
        try:
            data = path.read_bytes()
        except OSError as error:
            finding = Finding(path, Position(1, 1), PARSE_ERROR, f"cannot read: {error.strerror}")
            others.append(FileResult(path, Status.FAILED, error=finding))
            continue
        codes = rules.codes(data)
        if codes:
            candidates.append(Candidate(path, data, codes))
        else:
            others.append(FileResult(path, Status.SKIPPED, reason="no trigger"))
    return candidates, others


def run(
    paths: Sequence[Path],
    options: Options,
    files: Sequence[Path] | None = None,
    progress: Progress | None = None,
    on_total: Callable[[int], None] | None = None,
) -> RunResult:
    """Run the selected codemods over ``paths`` (or exactly ``files`` when given)."""
    found = discover(paths, options.config) if files is None else list(files)
    candidates, results = prefilter(found, options.codemods)
    if on_total is not None:
        on_total(2 * len(candidates))
    size = sum(len(candidate.data) for candidate in candidates)
    jobs = max(1, min(options.jobs, len(candidates)))
    if jobs == 1 or size < IN_PROCESS_BYTES:
        done, plan = _run_in_process(candidates, options, progress)
    else:
        done, plan = _run_in_workers(candidates, options, jobs, progress)
    results.extend(done)
    if options.formatter is not None:
        results = [_format(result, options.formatter) for result in results]
    results.sort(key=lambda result: str(result.path))
    findings = sorted(
        (finding for result in results for finding in result.findings),
        key=lambda f: (str(f.path), f.position, f.code),
    )
    return RunResult(results, findings, plan)


def _run_in_process(
    candidates: Sequence[Candidate],
    options: Options,
    progress: Progress | None,
    plan: Plan | None = None,
) -> tuple[list[FileResult], Plan]:
    shard = Shard(options)
    facts: list[ModuleFacts] = []
    results: list[FileResult] = []
    for outcome in shard.index(candidates):
        if isinstance(outcome, ModuleFacts):
            facts.append(outcome)
        else:
            results.append(outcome)
        if progress is not None:
            progress(1)
    if plan is None:
        plan = build_plan(ProjectIndex.merge(facts), options.config, options.codemods)
    for result in shard.transform(plan):
        results.append(result)
        if progress is not None:
            progress(1)
    return results, plan


def _run_in_workers(
    candidates: Sequence[Candidate],
    options: Options,
    jobs: int,
    progress: Progress | None,
) -> tuple[list[FileResult], Plan]:
    shards = _shards(candidates, jobs)
    pool = _Pool(options, jobs)
    try:
        facts: list[ModuleFacts] = []
        results: list[FileResult] = []
        lost: set[int] = set()
        for shard, outcome in pool.run([("index", shard) for shard in shards], progress):
            if outcome is None:
                lost.add(shard)
            elif isinstance(outcome, ModuleFacts):
                facts.append(outcome)
            else:
                results.append(outcome)
        plan = build_plan(ProjectIndex.merge(facts), options.config, options.codemods)
        done: set[Path] = {result.path for result in results}
        for shard, outcome in pool.run([("transform", plan)] * jobs, progress):
            if outcome is None:
                lost.add(shard)
            else:
                results.append(outcome)
                done.add(outcome.path)
        for shard in sorted(lost):
            for candidate in shards[shard]:
                if candidate.path not in done:
                    finding = Finding(
                        candidate.path, Position(1, 1), INTERNAL_ERROR, "the worker process died"
                    )
                    results.append(
                        FileResult(candidate.path, Status.FAILED, candidate.data, error=finding)
                    )
        return results, plan
    finally:
        pool.close()


# -- check output: optional formatting of touched files -------------------------------

FORMATTERS = {
    "ruff": ("format", "--stdin-filename", "{path}", "-"),
    "black": ("--quiet", "--stdin-filename", "{path}", "-"),
}


def formatter_command(formatter: str) -> str | None:
    """The formatter's executable: the one installed beside vibefix's Python first (an
    unactivated virtual environment), else the one on PATH; None when there is none."""
    beside = Path(sys.executable).with_name(formatter)
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which(formatter)


def _format(result: FileResult, formatter: str) -> FileResult:
    if result.status is not Status.CHANGED or result.new_source is None:
        return result
    executable = formatter_command(formatter) or formatter
    command = [executable, *(part.format(path=result.path) for part in FORMATTERS[formatter])]
    try:
        completed = subprocess.run(
            command, input=result.new_source, capture_output=True, check=False, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        message = f"{formatter} could not run: {error}; file left unformatted"
        finding = Finding(result.path, Position(1, 1), INTERNAL_ERROR, message)
        return replace(result, findings=(*result.findings, finding))
    if completed.returncode != 0:
        detail = completed.stderr.decode(errors="replace").strip().splitlines()
        message = f"{formatter} failed: {detail[-1] if detail else completed.returncode}"
        finding = Finding(result.path, Position(1, 1), INTERNAL_ERROR, message)
        return replace(result, findings=(*result.findings, finding))
    return replace(result, new_source=completed.stdout)


def default_jobs() -> int:
    return os.cpu_count() or 1


def run_source(
    source: bytes,
    codemods: Sequence[type[Codemod]],
    path: Path = Path("example.py"),
    config: Config | None = None,
    unsafe: bool = False,
) -> FileResult:
    """Run the whole per-file pipeline (index, plan, transform, check) on one source.

    For tests and embedding: the same stages as ``run``, without discovery or processes.
    """
    options = Options(config or Config(root=Path.cwd()), tuple(codemods), unsafe=unsafe)
    codes = tuple(codemod.code for codemod in codemods)
    results, _ = _run_in_process([Candidate(path, source, codes)], options, None)
    assert len(results) == 1
    return results[0]


def reapply(
    result: FileResult,
    options: Options,
    plan: Plan,
    accepted: frozenset[tuple[str, Position]],
) -> FileResult:
    """``result``'s file rewritten again with only the ``accepted`` rewrites, under the
    run's own plan: the imports follow from what was kept. For ``apply --interactive``."""
    narrowed = replace(options, accept=accepted, formatter=None)
    codes = tuple(codemod.code for codemod in options.codemods)
    results, _ = _run_in_process(
        [Candidate(result.path, result.old_source, codes)], narrowed, None, plan
    )
    return _format(results[0], options.formatter) if options.formatter else results[0]
