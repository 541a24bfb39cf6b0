"""The pipeline: discover -> prefilter -> index -> plan -> transform -> check output.

Files are split into shards, one per worker process, and a shard keeps its parsed trees
(with their resolved metadata) from the index stage to the transform stage: every
candidate file is parsed once and its metadata resolved once. The main process only
discovers, prefilters, merges the index, builds the plan and collects results. Nothing
that goes wrong in one file escapes: it becomes that file's FAILED result.
"""

from __future__ import annotations

import ast
import codecs
import contextlib
import hashlib
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

import libcst as cst
from libcst.metadata import (
    MetadataWrapper,
    PositionProvider,
    ProviderT,
    ScopeProvider,
)

from vibefix.codemod import Codemod, FileContext, NeededName
from vibefix.config import Config, declared_python
from vibefix.engine import syntax
from vibefix.engine.batch import Batch
from vibefix.engine.cache import Cache, digest, fingerprint
from vibefix.engine.context import Collector
from vibefix.engine.discover import discover
from vibefix.engine.edits import Edit, EditConflict, apply_edits
from vibefix.engine.fastindex import Refused, fast_facts
from vibefix.engine.imports import ImportPlanner
from vibefix.engine.index import FactCollector, ModuleFacts, ProjectIndex
from vibefix.engine.layout import Root, module_name, other_names, shadowed, source_roots
from vibefix.engine.metadata import resolve
from vibefix.engine.plan import Plan, build_plan
from vibefix.engine.prefilter import Prefilter
from vibefix.engine.sourcefile import (
    PARSE_ERROR,
    SourceError,
    compiles,
    declared_encoding,
    in_deep_stack,
    parse,
    syntax_ok,
)
from vibefix.engine.unused import unimported
from vibefix.known.packaging import Declarations, declarations
from vibefix.results import ExitCode, FileResult, Finding, Position, Safety, Status

Progress = Callable[[int], None]
"""Called with the number of files just finished (twice per candidate: index, transform)."""

INTERNAL_ERROR = "E902"
_ASYNC_CODE = re.compile(rb"\basync[ \t]+def\b")
IN_PROCESS_BYTES = 64 * 1024
"""Below this much candidate source, worker processes cost more than they save (starting
one costs about half a second; indexing 64 KiB, metadata included, about as much)."""


@dataclass(frozen=True)
class Options:
    config: Config
    codemods: tuple[type[Codemod[Any]], ...]
    jobs: int = 1
    unsafe: bool = False
    formatter: str | None = None
    project: Path | None = None
    """The project's root, where module names start (see ``module_name``)."""
    roots: tuple[Root, ...] = ()
    """The project's other source roots (``layout.source_roots``), found once a run."""
    accept: frozenset[tuple[str, Position]] | None = None
    """When set, only the rewrites with these (code, position) are made; the imports
    follow from the accepted ones (``apply --interactive``)."""
    in_project: frozenset[str] = frozenset()
    """The codes whose ``project_trigger`` matches a file of the project (VF203: an
    engine is made somewhere): their ``collector`` runs at all only then."""
    dead: frozenset[Path] = frozenset()
    """The project's modules that nothing imports or runs (``unused``)."""
    known: tuple[type[Codemod[Any]], ...] = ()
    """Every codemod the command line knows (the registry's), selected or not: the plan
    names one that is not selected by its class attributes. Empty: the selected ones."""
    use_cache: bool = False
    """Whether to read and keep facts and results in the project's cache (the command
    line's default; ``--no-cache``)."""
    cache: Cache = field(default_factory=lambda: Cache(None))
    fingerprint: str = ""
    """What the cache's entries of this run depend on besides their files."""


@dataclass
class RunResult:
    """Everything a run found, files sorted by path so that output is deterministic."""

    files: list[FileResult] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    plan: Plan | None = None
    """The run's plan, for rewriting a file again with fewer edits."""
    project: Path | None = None
    roots: tuple[Root, ...] = ()
    """The run's project root and source roots: a file rewritten again under its plan
    keeps the module name it had (``reapply``)."""
    dead: dict[Path, str] = field(default_factory=dict)
    """The files given that are dead code (``unused``), each with why: the event-loop
    analysis neither starts in them nor reports them."""

    def by_status(self, status: Status) -> list[FileResult]:
        return [result for result in self.files if result.status is status]

    @property
    def changed(self) -> list[FileResult]:
        return self.by_status(Status.CHANGED)

    @property
    def failed(self) -> list[FileResult]:
        return self.by_status(Status.FAILED)

    def exit_code(self) -> ExitCode:
        """3 when a file failed (it wins), 1 when changes or findings are pending, else 0."""
        if self.failed:
            return ExitCode.FAILED
        if self.changed or self.findings:
            return ExitCode.PENDING
        return ExitCode.OK


@dataclass(frozen=True)
class Candidate:
    """A file that passed the prefilter, with the codes of the codemods it concerns."""

    path: Path
    data: bytes
    codes: tuple[str, ...]
    writable: bool = True
    """False for a file of the project outside the paths given: it is indexed (its calls
    and definitions count in the plan) but never rewritten or reported."""
    keep: bool = True
    """Whether to keep its tree for the transform stage. Files the plan asked for are
    parsed again there only if the plan changes or reports something in them."""
    check: bool = False
    """A file left unparsed unless the plan asks for it, only checked by Python's parser
    (``syntax_ok``): it is indexed, to report its error, only if that fails."""


@dataclass
class _Parsed:
    path: Path
    data: bytes
    encoding: str
    wrapper: MetadataWrapper
    module: str
    compiled: bool
    codemods: tuple[type[Codemod[Any]], ...]
    writable: bool


def _walk_only(kind: type[Collector[Any]]) -> bool:
    """Whether ``kind`` tells its facts by its walk only (``Collector.facts_from_ast`` not
    overridden)."""
    return next(k for k in kind.__mro__ if "facts_from_ast" in vars(k)) is Collector


class Shard:
    """The per-file work of one process: index its files, keep their trees, transform them."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.cache = options.cache
        self._target = declared_python(options.config.root, options.config.target_version)
        """The oldest Python the project says it runs on: newer syntax fails a file."""
        self._parsed: list[_Parsed] = []
        self._pending: list[Candidate] = []
        """Files to rewrite whose facts came from the cache: parsed when rewritten."""
        self._deferred: list[Candidate] = []

    def index(self, candidates: Sequence[Candidate]) -> Iterator[ModuleFacts | FileResult]:
        for candidate in candidates:
            if candidate.check:
                if self.cache.syntax_ok(candidate.data):
                    continue
                candidate = replace(candidate, check=False)
            key = self._facts_key(candidate)
            cached = self.cache.get("facts", key) if key else None
            if isinstance(cached, ModuleFacts):
                self._keep(candidate, None)
                yield cached
                continue
            if isinstance(cached, FileResult):
                if candidate.writable:
                    yield cached
                continue
            try:
                facts = in_deep_stack(candidate.path, self._index_one, candidate)
            except SourceError as error:
                failed = FileResult(
                    candidate.path, Status.FAILED, old_source=candidate.data, error=error.finding
                )
                if key:
                    self.cache.put("facts", key, failed)
                if candidate.writable:
                    yield failed
                continue
            except Exception as error:  # one file must never stop the run
                if candidate.writable:
                    yield _internal_failure(candidate.path, candidate.data, "indexing", error)
                continue
            if key:
                self.cache.put("facts", key, facts)
            yield facts

    def _facts_key(self, candidate: Candidate) -> str:
        if not self.cache.enabled:
            return ""
        name, package = module_name(candidate.path, self.options.project, self.options.roots)
        return digest(
            self.options.fingerprint,
            str(candidate.path),
            name,
            package,
            ",".join(candidate.codes),
            ",".join(sorted(self.options.in_project)),
            candidate.data,
        )

    def _load(self, candidate: Candidate) -> _Parsed:
        """The file parsed, with the metadata its codemods and collectors declare."""
        path, data = candidate.path, candidate.data
        codemods = tuple(c for c in self.options.codemods if c.code in candidate.codes)
        providers: set[ProviderT] = {ScopeProvider, PositionProvider}
        providers.update(FactCollector.METADATA_DEPENDENCIES)
        for codemod in codemods:
            providers.update(codemod.get_inherited_dependencies())
            for collector in codemod.collectors:
                providers.update(collector.get_inherited_dependencies())
        parsed = parse(path, data, self._target)
        name, _ = module_name(path, self.options.project, self.options.roots)
        # The tree is ours alone: no need for the defensive deep copy (half a parse).
        wrapper = MetadataWrapper(parsed.module, unsafe_skip_copy=True)
        resolve(wrapper, providers)
        return _Parsed(
            path,
            data,
            parsed.encoding,
            wrapper,
            name,
            parsed.compiles,
            codemods,
            candidate.writable,
        )

    def _keep(self, candidate: Candidate, item: _Parsed | None) -> None:
        if candidate.writable and not candidate.keep:
            self._deferred.append(candidate)
        elif candidate.writable and item is not None:
            self._parsed.append(item)
        elif candidate.writable:
            self._pending.append(candidate)

    def _index_one(self, candidate: Candidate) -> ModuleFacts:
        if not candidate.keep:
            fast = self._index_fast(candidate)
            if fast is not None:
                self._keep(candidate, None)
                return self._aliased(candidate.path, fast)
        item = self._load(candidate)
        path, wrapper, name = item.path, item.wrapper, item.module
        package = module_name(path, self.options.project, self.options.roots)[1]
        context = self._context(path, name, wrapper)
        context.in_project = self.options.in_project
        context.package = package
        needed = needed_names(self.options)
        collector = FactCollector(path, name, package, context.imports, needed)
        # Each collector once, however many of the file's codemods share it; none for a
        # codemod whose project trigger matches no file of the project.
        kinds = dict.fromkeys(
            kind
            for codemod in item.codemods
            if codemod.project_trigger is None or codemod.code in context.in_project
            for kind in codemod.collectors
        )
        collectors = [kind(context) for kind in kinds]
        Batch([collector, *collectors]).walk(wrapper)
        collected = tuple(
            (type(found), facts) for found in collectors if (facts := found.facts()) is not None
        )
        self._keep(candidate, item)
        return self._aliased(path, collector.facts(collected))

    def _aliased(self, path: Path, facts: ModuleFacts) -> ModuleFacts:
        """``facts`` with the module's other names: a module the project imports by
        another name too, that name means this one."""
        aliases = other_names(path, self.options.project, self.options.roots)
        if aliases:
            objects = (*facts.objects, *((a, facts.module) for a in aliases))
            facts = replace(facts, objects=objects)
        return facts

    def _index_fast(self, candidate: Candidate) -> ModuleFacts | None:
        """The facts of a file read only for reach, from ``ast`` (``engine.fastindex``);
        None when only libcst can tell them, or tell why the file fails."""
        path, data = candidate.path, candidate.data
        if data.startswith(codecs.BOM_UTF8) or b"\0" in data:
            return None
        name, package = module_name(path, self.options.project, self.options.roots)
        kinds = dict.fromkeys(
            kind
            for codemod in self.options.codemods
            if codemod.code in candidate.codes
            and (codemod.project_trigger is None or codemod.code in self.options.in_project)
            for kind in codemod.collectors
        )
        if any(_walk_only(kind) for kind in kinds):
            return None  # a collector that only its walk can tell: no use parsing twice
        try:
            text = data.decode(declared_encoding(data))
            tree = ast.parse(text)
            # What CPython does not compile (``await`` outside async code, blocks nested
            # too deep) or the project's Python does not parse, libcst's path judges.
            compile(tree, str(path), "exec", dont_inherit=True)
            if self._target is not None and syntax.by_grammar(text, self._target) is not None:
                return None
            collected = tuple(
                (kind, found)
                for kind in kinds
                if (found := kind.facts_from_ast(tree, data)) is not None
            )
            facts = fast_facts(path, text, name, package, needed_names(self.options), tree)
        except (Refused, NotImplementedError, SyntaxError, ValueError, LookupError):
            return None
        except (RecursionError, MemoryError):  # too deep for ast: libcst's path decides
            return None
        return replace(facts, collected=collected)

    def _context(self, path: Path, name: str, wrapper: MetadataWrapper) -> FileContext:
        imports = ImportPlanner(
            wrapper.module, wrapper.resolve(ScopeProvider), wrapper.resolve(PositionProvider)
        )
        return FileContext(path, name, self.options.config, imports)

    def transform(self, plan: Plan) -> Iterator[FileResult]:
        """Every kept file rewritten under ``plan``; the trees stay, so that a run can
        transform again under a corrected plan."""
        touched = plan.touched
        deferred, self._deferred = self._deferred, []
        for candidate in deferred:
            if candidate.path in touched:
                yield from (
                    outcome
                    for outcome in self.index([replace(candidate, keep=True)])
                    if isinstance(outcome, FileResult)
                )
            else:
                self._deferred.append(candidate)
        pending, self._pending = self._pending, []
        for candidate in pending:
            try:
                self._parsed.append(in_deep_stack(candidate.path, self._load, candidate))
            except Exception as error:  # it parsed when it was indexed: a bug of ours
                yield _internal_failure(candidate.path, candidate.data, "rewriting", error)
        for item in self._parsed:
            try:
                yield in_deep_stack(item.path, self._transform_one, item, plan)
            except Exception as error:  # one file must never stop the run
                yield _internal_failure(item.path, item.data, "rewriting", error)

    def _transform_one(self, item: _Parsed, plan: Plan) -> FileResult:
        context = self._context(item.path, item.module, item.wrapper)
        context.imports.imported_elsewhere = plan.imported_from.get(item.module, frozenset())
        context.imports.first_party = plan.first_party
        visitors: list[Codemod[Any]] = []
        for codemod in item.codemods:
            applied = codemod.safety is Safety.SAFE or self.options.unsafe
            # Applied codemods share the file's import planner, findings and notes, each
            # with edits of its own. One whose rewrites are not applied still reports;
            # its import needs go to a planner that is thrown away.
            own = (
                replace(context, edits=[])
                if applied
                else self._context(item.path, item.module, item.wrapper)
            )
            visitors.append(codemod(own, plan))
        batch = Batch(visitors)
        try:
            batch.walk(item.wrapper)
        except Exception as error:
            raise _CodemodError(item.codemods[batch.current].code) from error
        edits: list[Edit] = []
        for visitor in visitors:
            if visitor.file.imports is context.imports:
                edits.extend(visitor.file.edits)
            else:
                context.findings.extend(_as_findings(item.path, visitor.file.edits))
                context.findings.extend(visitor.file.findings)
        context.findings.extend(plan.findings_for(item.path))
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
        self, work: Callable[[int], tuple[str, Any] | None], progress: Progress | None
    ) -> Iterator[tuple[int, Any]]:
        """What the workers send back, by worker number (None: the worker died), while
        ``work(number)`` gives each worker that is free its next payload (None: none)."""
        pending: dict[int, int] = {}
        dead: list[int] = []

        def give(shard: int) -> None:
            payload = work(shard)
            if payload is None:
                return
            connection = self._connections[shard]
            try:
                connection.send(payload)
            except OSError:  # the worker died earlier: its files fail, the run goes on
                dead.append(shard)
                return
            pending[id(connection)] = shard

        for shard in range(len(self._connections)):
            give(shard)
        while pending or dead:
            while dead:
                yield dead.pop(), None
            if not pending:
                break
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
                    give(shard)
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


def _chunks(candidates: Sequence[Candidate], workers: int) -> deque[list[Candidate]]:
    """Files in chunks, largest first, about an eighth of a worker's share each: a worker
    that is free takes the next one, so that none waits for another to finish (the cost
    of a file is only roughly its size)."""
    ordered = sorted(candidates, key=lambda c: (-_cost(c), c.path))
    target = max(1, sum(map(_cost, ordered)) // (8 * workers))
    chunks: deque[list[Candidate]] = deque()
    chunk: list[Candidate] = []
    cost = 0
    for candidate in ordered:
        chunk.append(candidate)
        cost += _cost(candidate)
        if cost >= target:
            chunks.append(chunk)
            chunk, cost = [], 0
    if chunk:
        chunks.append(chunk)
    return chunks


def _handing_out(
    chunks: deque[list[Candidate]], owned: list[list[Candidate]], lost: set[int]
) -> Callable[[int], tuple[str, Any] | None]:
    """The next chunk to index for a worker that is free, noted as that worker's own (its
    trees stay there for the transform)."""

    def next_chunk(number: int) -> tuple[str, Any] | None:
        if not chunks or number in lost:
            return None
        chunk = chunks.popleft()
        owned[number].extend(chunk)
        return ("index", chunk)

    return next_chunk


def _once_each(payload: tuple[str, Any], lost: set[int]) -> Callable[[int], tuple[str, Any] | None]:
    """``payload`` for every live worker, once."""
    told: set[int] = set()

    def give(number: int) -> tuple[str, Any] | None:
        if number in told or number in lost:
            return None
        told.add(number)
        return payload

    return give


def _cost(candidate: Candidate) -> int:
    """About what indexing a file costs: Python's parser alone takes a tenth of libcst's."""
    return len(candidate.data) // 10 if candidate.check else len(candidate.data)


# -- the pipeline ----------------------------------------------------------------------


def read(files: Sequence[Path]) -> tuple[dict[Path, bytes], list[FileResult]]:
    """Every file's bytes, in order, and a failure for each that cannot be read."""
    texts: dict[Path, bytes] = {}
    failed: list[FileResult] = []
    for path in files:
        try:
            texts[path] = path.read_bytes()
        except OSError as error:
            finding = Finding(path, Position(1, 1), PARSE_ERROR, f"cannot read: {error.strerror}")
            failed.append(FileResult(path, Status.FAILED, error=finding))
    return texts, failed


def prefilter(
    texts: Mapping[Path, bytes],
    codemods: Sequence[type[Codemod[Any]]],
    left: dict[Path, bytes] | None = None,
    waiting: dict[Path, bytes] | None = None,
    parses: Callable[[bytes], bool] = syntax_ok,
) -> tuple[list[Candidate], list[FileResult]]:
    """Keep the files that some selected codemod's triggers all match. The text of the
    others goes to ``left``, for the plan to ask for later; so does, into ``waiting``,
    that of files whose codemods all have seeds the file does not match (reported
    unchanged unless the plan asks for them), if Python's parser takes them (``parses``)."""
    rules = Prefilter(
        (codemod.code, codemod.triggers)
        for codemod in codemods
        if codemod.triggers or not codemod.follows_plan
    )
    seeds = Prefilter(
        (codemod.code, codemod.seeds) for codemod in codemods if codemod.seeds is not None
    )
    seeded = frozenset(codemod.code for codemod in codemods if codemod.seeds is not None)
    followers = tuple(codemod.code for codemod in codemods if codemod.follows_plan)
    candidates: list[Candidate] = []
    others: list[FileResult] = []
    for path, data in texts.items():
        codes = rules.codes(data)
        if (
            waiting is not None
            and codes
            and set(codes) <= seeded
            and not seeds.codes(data)
            and parses(data)
        ):
            # A file that does not parse is a candidate: its error is reported as ever.
            waiting[path] = data
            others.append(FileResult(path, Status.UNCHANGED, data))
        elif codes:
            candidates.append(Candidate(path, data, tuple(dict.fromkeys((*codes, *followers)))))
        else:
            others.append(FileResult(path, Status.SKIPPED, reason="no trigger"))
            if left is not None:
                left[path] = data
    return candidates, others


def _unwait(
    waiting: dict[Path, bytes],
    candidates: list[Candidate],
    results: list[FileResult],
    parses: Callable[[bytes], bool],
    codemods: Sequence[type[Codemod[Any]]],
) -> list[Path]:
    """The waiting files Python's parser refuses become candidates (the index reports
    their error) and leave ``waiting`` and ``results``; returns them."""
    failing = [path for path, data in waiting.items() if not parses(data)]
    if failing:
        found = prefilter({path: waiting.pop(path) for path in failing}, codemods)[0]
        candidates.extend(found)
        gone = set(failing)
        results[:] = [result for result in results if result.path not in gone]
    return failing


class _Rounds:
    """The files the plan asks for after each round of indexing.

    The first round indexes the files that some codemod's triggers matched. The plan may
    then need more of the project: the modules that define what an indexed file calls
    (``SessionLocal`` in ``app/database.py``), and every file that may call a function
    that becomes async (found by its name). Those files are indexed next, the plan is
    made again, and so on until it asks for nothing new. Files of the project outside the
    paths given are indexed too, read-only: a caller there holds a change back.
    """

    def __init__(
        self,
        skipped: dict[Path, bytes],
        outside: Mapping[Path, bytes | None],
        codemods: Sequence[type[Codemod[Any]]],
        project: Path | None,
        indexed: Sequence[Path] = (),
        waiting: Mapping[Path, bytes] | None = None,
        roots: Sequence[Root] = (),
        dead: Iterable[Path] = (),
    ) -> None:
        self._project = project
        self._roots = tuple(roots)
        self._indexed = list(indexed)
        self._texts: dict[Path, bytes | None] = {
            **skipped,
            **(waiting or {}),
            **outside,
        }
        self._writable = {*skipped, *(waiting or {})}
        self._codes = tuple(codemod.code for codemod in codemods if codemod.follows_plan)
        self._seeds = Prefilter(
            (codemod.code, codemod.seeds) for codemod in codemods if codemod.seeds is not None
        )
        self._waiting = frozenset(waiting or ())
        self._dead = frozenset(dead)
        """Modules nothing imports or runs (``unused``): never where an analysis starts."""
        self._modules: dict[str, Path] | None = None
        self._names_asked: frozenset[str] = frozenset()
        self._modules_asked: frozenset[str] = frozenset()
        self._first_asked = False

    def forget(self, paths: Iterable[Path]) -> None:
        """Files indexed on their own account (a waiting file that does not parse): the
        plan never asks for them."""
        for path in paths:
            self._texts.pop(path, None)

    def seeds(self) -> list[Candidate]:
        """The files, in the paths given or not, where a codemod's analysis starts
        (``Codemod.seeds``), indexed with the first round as the plan's files are."""
        if not self._codes:
            return []
        chosen = [
            path
            for path in sorted(self._texts)
            if path not in self._waiting
            and path not in self._dead
            and self._seeds.codes(self._data(path))
        ]
        return self._take(chosen)

    def next(self, plan: Plan) -> list[Candidate]:
        # The modules that the first round's files call into, one level deep: enough to
        # know a session factory or a helper, without indexing the whole project. The
        # modules a codemod's part asks for, in every round.
        modules = set(plan.wanted_modules - self._modules_asked)
        if not self._first_asked:
            modules |= plan.neighbours
        names = plan.wanted_names - self._names_asked
        self._first_asked = True
        self._modules_asked |= modules
        self._names_asked |= names
        if not self._codes or not (modules or names) or not self._texts:
            return []
        chosen: set[Path] = set()
        if modules:
            if self._modules is None:
                self._modules = {
                    name: path
                    for path in [*self._indexed, *self._texts]
                    for name in (
                        *other_names(path, self._project, self._roots),
                        module_name(path, self._project, self._roots)[0],
                    )
                }
            for dotted in modules:
                # The longest prefix that is a module of the project defines the name:
                # ``app.db`` for ``app.db.SessionLocal``, not ``app/__init__.py``; when
                # that module is indexed already, there is nothing more to read.
                parts = dotted.split(".")
                for end in range(len(parts), 0, -1):
                    path = self._modules.get(".".join(parts[:end]))
                    if path is not None:
                        if path in self._texts:
                            chosen.add(path)
                        break
        if names:
            pattern = re.compile(
                rb"\b(?:" + b"|".join(re.escape(n.encode()) for n in sorted(names)) + rb")\b"
            )
            chosen.update(path for path in self._texts if pattern.search(self._data(path)))
        return self._take(sorted(chosen))

    def _take(self, paths: Sequence[Path]) -> list[Candidate]:
        batch = []
        for path in paths:
            data = self._data(path)
            del self._texts[path]
            batch.append(Candidate(path, data, self._codes, path in self._writable, keep=False))
        return batch

    def _data(self, path: Path) -> bytes:
        data = self._texts.get(path)
        if data is None:
            try:
                data = path.read_bytes()
            except OSError:
                data = b""
            self._texts[path] = data
        return data


def project_root(
    paths: Sequence[Path], config: Config, texts: Mapping[Path, bytes] | None = None
) -> Path | None:
    """The folder of the configuration file, else the nearest folder above the paths
    that looks like a project's root (``pyproject.toml``, ``setup.py``,
    ``requirements.txt``, ``.git``)."""
    return config.root if config.source is not None else _project_root(paths, texts)


def project_files(root: Path | None, config: Config, found: Sequence[Path]) -> list[Path]:
    """The project's Python files outside ``found``."""
    if root is None:
        return []
    inside = {path.resolve() for path in found}
    return [path for path in discover([root], config) if path.resolve() not in inside]


PROJECT_MARKERS = ("pyproject.toml", "setup.py", "setup.cfg", "requirements.txt", ".git")


def _project_root(paths: Sequence[Path], texts: Mapping[Path, bytes] | None) -> Path | None:
    resolved = [path.resolve() for path in paths]
    folders = [path if path.is_dir() else path.parent for path in resolved]
    common = Path(os.path.commonpath(folders)) if folders else None
    if common is None:
        return None
    for folder in (common, *common.parents):
        if any((folder / marker).exists() for marker in PROJECT_MARKERS):
            return folder
    # No marker (an exported tree, no .git): the folder given is the project, as
    # ``uvicorn app.main:app`` run from there sees it; or, when that folder is a
    # package its own modules import by name (``from app.db import``), the folder that
    # holds it. A stray ``__init__.py`` at the top of a tree that imports
    # ``from services import ...`` keeps the folder given: its neighbours are no part of it.
    if not any(path.is_dir() for path in resolved):
        return None
    while (
        (common / "__init__.py").is_file()
        and common.parent != common
        and (texts is None or _imports_itself(common.name, texts.values()))
    ):
        common = common.parent
    return common


def _imports_itself(package: str, texts: Iterable[bytes]) -> bool:
    """Whether some text imports ``package`` by its name, or relatively (``from . import
    models``: only a package's modules can)."""
    name = re.escape(package.encode())
    pattern = re.compile(rb"^[ \t]*(?:(?:from|import)[ \t]+" + name + rb"\b|from[ \t]+\.)", re.M)
    return any(pattern.search(text) for text in texts)


def run(
    paths: Sequence[Path],
    options: Options,
    files: Sequence[Path] | None = None,
    progress: Progress | None = None,
    on_total: Callable[[int], None] | None = None,
) -> RunResult:
    """Run the selected codemods over ``paths`` (or exactly ``files`` when given)."""
    found = discover(paths, options.config) if files is None else list(files)
    given, unreadable = read(found)
    hidden = _hide_shadowed(given)
    root = project_root(paths, options.config, given)
    options = replace(options, project=root.resolve() if root is not None else None)
    cache = Cache(None)
    if options.use_cache and options.accept is None:
        cache = Cache.open(root if root is not None else options.config.root)
    key = ""
    outside: dict[Path, bytes | None] = {}
    if cache.enabled:
        # Nothing changed since a run with these settings: its results, without a parse.
        options = replace(options, cache=cache, fingerprint=_fingerprint(options))
        outside = {path: _read(path) for path in project_files(root, options.config, found)}
        _hide_shadowed(outside)
        options = replace(options, roots=_roots(options.project, given, outside))
        key = _run_key(options, given, unreadable, outside)
        again = cache.get("runs", key)
        if isinstance(again, RunResult):
            return again
    skipped: dict[Path, bytes] = {}
    waiting: dict[Path, bytes] = {}
    # Whether a waiting file parses is asked of Python's parser: in the workers, alongside
    # the first round, when there are workers (it costs a tenth of a libcst parse).
    candidates, results = prefilter(given, options.codemods, skipped, waiting, lambda data: True)
    size = sum(len(candidate.data) for candidate in candidates)
    deferred = options.jobs > 1 and len(candidates) > 1 and size >= IN_PROCESS_BYTES
    if not deferred:
        _unwait(waiting, candidates, results, cache.syntax_ok, options.codemods)
    results = unreadable + hidden + results
    seeded = any(codemod.seeds is not None for codemod in options.codemods)
    if not cache.enabled and (candidates or waiting or seeded):
        outside = dict.fromkeys(project_files(root, options.config, found))
        _hide_shadowed(outside)
        options = replace(options, roots=_roots(options.project, given, outside))
    dead: dict[Path, str] = {}
    if options.project is not None and (cache.enabled or candidates or waiting or seeded):
        explicit = [path for path in paths if path.is_file()]
        dead = _hide_unimported(options.project, given, outside, explicit)
        # Not where the event-loop analysis starts, nor what it reaches (``unused``);
        # every other codemod reads them as ever (a dead script that uses the session
        # factory still holds its migration back).
        options = replace(options, dead=frozenset(dead))
    texts = outside
    options = replace(
        options,
        in_project=_in_project(options.codemods, candidates, {**skipped, **waiting}, texts),
    )
    rounds = _Rounds(
        skipped,
        texts,
        options.codemods,
        options.project,
        [c.path for c in candidates],
        waiting,
        options.roots,
        dead,
    )
    candidates.extend(rounds.seeds())
    writable = frozenset(found)
    if on_total is not None:
        on_total(2 * len(candidates))
    size = sum(len(candidate.data) for candidate in candidates)
    jobs = max(1, min(options.jobs, len(candidates)))
    if jobs == 1 or size < IN_PROCESS_BYTES:
        if deferred:
            failing = _unwait(waiting, candidates, results, cache.syntax_ok, options.codemods)
            rounds.forget(failing)
        done, plan = _run_in_process(
            candidates, options, progress, rounds=rounds, writable=writable
        )
    else:
        checks = [Candidate(path, data, (), check=True) for path, data in waiting.items()]
        done, plan = _run_in_workers(
            [*candidates, *(checks if deferred else [])], options, jobs, progress, rounds, writable
        )
    results = [result for result in results if result.path not in done.paths]
    results.extend(done.results)
    if options.formatter is not None:
        results = [_format(result, options.formatter) for result in results]
    results.sort(key=lambda result: str(result.path))
    findings = sorted(
        (finding for result in results for finding in result.findings),
        key=lambda f: (str(f.path), f.position, f.code),
    )
    # Named where something is left out: a dead file with async code of its own, given.
    left_out = plan.dead if plan is not None else frozenset()
    dead = {
        path: reason
        for path, reason in dead.items()
        if path in left_out and _ASYNC_CODE.search(given.get(path, b""))
    }
    done_run = RunResult(results, findings, plan, options.project, options.roots, dead)
    if key:
        cache.put("runs", key, done_run)
    return done_run


def _hide_shadowed(texts: dict[Path, Any]) -> list[FileResult]:
    """The modules of ``texts`` that a package of the same name hides (``app/utils.py``
    beside ``app/utils/__init__.py``: Python imports the package), taken out of
    ``texts``: dead code, neither indexed nor reported; each skipped, with why."""
    hidden: list[FileResult] = []
    for path in list(texts):
        package = shadowed(path)
        if package is not None:
            del texts[path]
            reason = f"dead code: the package {package.name}/ beside it is imported instead"
            hidden.append(FileResult(path, Status.SKIPPED, reason=reason))
    return hidden


def _hide_unimported(
    project: Path,
    given: Mapping[Path, bytes],
    outside: Mapping[Path, bytes | None],
    explicit: Sequence[Path],
) -> dict[Path, str]:
    """The modules of an application that nothing imports or runs (``unused``), each
    with why."""
    texts = {**given}
    texts.update((path, data) for path, data in outside.items() if data is not None)
    return unimported(texts, project, explicit)


def _roots(
    project: Path | None, given: Mapping[Path, bytes], outside: dict[Path, bytes | None]
) -> tuple[Root, ...]:
    """The project's source roots, from all its files (those outside the paths given are
    read here, once, for the rounds to come)."""
    if project is None:
        return ()
    for path, data in outside.items():
        if data is None:
            outside[path] = _read(path) or b""
    texts: dict[Path, bytes] = {**given}
    texts.update((path, data or b"") for path, data in outside.items())
    return source_roots(project, texts)


def needed_names(options: Options) -> tuple[NeededName, ...]:
    """The names the codemods' rewrites write into functions (``Codemod.needed_names``),
    each once: of every codemod known, so that a function's facts do not depend on the
    selection (a plan names codemods that are not selected)."""
    codemods = options.known or options.codemods
    names = (name for codemod in codemods for name in codemod.needed_names(options.config))
    return tuple(dict.fromkeys(names))


def _fingerprint(options: Options) -> str:
    """What every cache entry of this run depends on besides its files."""
    codemods = [(c.__module__, c.__qualname__, c.code) for c in options.codemods]
    collectors = [kind for c in options.codemods for kind in c.collectors]
    target = declared_python(options.config.root, options.config.target_version)
    needed = needed_names(options)
    settings = repr((options.config, target, codemods, needed, options.unsafe, options.formatter))
    modules = [c.__module__ for c in options.codemods] + [c.__module__ for c in collectors]
    return fingerprint(settings, modules)


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _run_key(
    options: Options,
    given: Mapping[Path, bytes],
    unreadable: Sequence[FileResult],
    outside: Mapping[Path, bytes | None],
) -> str:
    """The key of a whole run: its fingerprint and options, and the content of every
    file it reads or may read (the paths given, the rest of the project, and the files
    that declare the project's Python and dependencies, which some plans read)."""
    folders = {path.parent for path in [*given, *outside]} | {options.config.root}
    parts: list[bytes | str] = [options.fingerprint, str(options.project), repr(options.roots)]
    parts += sorted(str(result.path) for result in unreadable)
    for group in (given, outside, declarations(folders)):
        for path in sorted(group):
            data = group[path]
            parts += [str(path), hashlib.sha256(data).digest() if data is not None else b"-"]
        parts.append("|")
    return digest(*parts)


def _in_project(
    codemods: Sequence[type[Codemod[Any]]],
    candidates: Sequence[Candidate],
    skipped: Mapping[Path, bytes],
    outside: Mapping[Path, bytes | None],
) -> frozenset[str]:
    """The codes whose ``project_trigger`` matches a file given or of the project (the
    text of those outside the paths given is read here when ``outside`` has none)."""
    found: set[str] = set()
    for codemod in codemods:
        pattern = codemod.project_trigger
        if pattern is None:
            continue
        compiled = re.compile(pattern.encode())
        texts = [c.data for c in candidates] + list(skipped.values())
        if any(compiled.search(text) for text in texts):
            found.add(codemod.code)
            continue
        for path, data in outside.items():
            text = data if data is not None else _read(path)
            if text is not None and compiled.search(text):
                found.add(codemod.code)
                break
    return frozenset(found)


@dataclass
class _Done:
    results: list[FileResult]

    @property
    def paths(self) -> set[Path]:
        return {result.path for result in self.results}


def _plan(facts: Sequence[ModuleFacts], options: Options, writable: frozenset[Path] | None) -> Plan:
    index = ProjectIndex.merge(facts)
    config = options.config
    declared = Declarations.read(
        {module.path.parent for module in index.modules},
        declared_python(config.root, config.target_version),
    )
    return build_plan(
        index,
        config,
        options.codemods,
        writable,
        options.unsafe,
        options.known,
        declared,
        options.dead,
    )


def _run_in_process(
    candidates: Sequence[Candidate],
    options: Options,
    progress: Progress | None,
    given: Plan | None = None,
    rounds: _Rounds | None = None,
    writable: frozenset[Path] | None = None,
) -> tuple[_Done, Plan]:
    shard = Shard(options)
    facts: list[ModuleFacts] = []
    results: list[FileResult] = []
    batch: Sequence[Candidate] = candidates
    while True:
        for outcome in shard.index(batch):
            if isinstance(outcome, ModuleFacts):
                facts.append(outcome)
            else:
                results.append(outcome)
            if progress is not None:
                progress(1)
        if given is not None:
            plan = given
            break
        plan = _plan(facts, options, writable)
        batch = rounds.next(plan) if rounds is not None else []
        if not batch:
            break
    failures: dict[Path, FileResult] = {}
    while True:
        transformed = list(shard.transform(plan))
        broken = _broken(transformed, plan)
        # A plan made without the broken files that still touches them (a codemod whose
        # part does not follow ``writable``) would fail them again: stop there.
        if given is not None or not broken or (writable is not None and not broken & writable):
            break
        failures.update((r.path, r) for r in transformed if r.path in broken)
        writable = (writable or frozenset(c.path for c in candidates)) - broken
        plan = _plan(facts, options, writable)
    for result in (failures.get(r.path, r) for r in transformed):
        results.append(result)
        if progress is not None:
            progress(1)
    return _Done(results), plan


def _broken(results: Sequence[FileResult], plan: Plan) -> frozenset[Path]:
    """Files whose rewrite failed although the plan changes or reports something in them.
    The plan's other files count on those changes (an ``await`` of a function made async
    there): the plan is made again with these files left as they are, and they are
    reported as failed."""
    touched = plan.touched
    return frozenset(
        result.path
        for result in results
        if result.status is Status.FAILED and result.error is not None and result.path in touched
    )


def _run_in_workers(
    candidates: Sequence[Candidate],
    options: Options,
    jobs: int,
    progress: Progress | None,
    rounds: _Rounds,
    writable: frozenset[Path],
) -> tuple[_Done, Plan]:
    pool = _Pool(options, jobs)
    try:
        facts: list[ModuleFacts] = []
        results: list[FileResult] = []
        lost: set[int] = set()
        owned: list[list[Candidate]] = [[] for _ in range(jobs)]
        batch: Sequence[Candidate] = candidates
        while True:
            work = _handing_out(_chunks(batch, jobs), owned, lost)
            for number, outcome in pool.run(work, progress):
                if outcome is None:
                    lost.add(number)
                elif isinstance(outcome, ModuleFacts):
                    facts.append(outcome)
                else:
                    results.append(outcome)
            rounds.forget(result.path for result in results)  # a waiting file that fails
            plan = _plan(facts, options, writable)
            batch = rounds.next(plan)
            if not batch:
                break
        done: set[Path] = {result.path for result in results}
        failures: dict[Path, FileResult] = {}
        while True:
            transformed: list[FileResult] = []
            for number, outcome in pool.run(_once_each(("transform", plan), lost), None):
                if outcome is None:
                    lost.add(number)
                else:
                    transformed.append(outcome)
            broken = _broken(transformed, plan)
            if not broken & writable:  # see _run_in_process
                break
            failures.update((r.path, r) for r in transformed if r.path in broken)
            writable -= broken
            plan = _plan(facts, options, writable)
        for outcome in (failures.get(r.path, r) for r in transformed):
            results.append(outcome)
            done.add(outcome.path)
            if progress is not None:
                progress(1)
        for number in sorted(lost):
            for candidate in owned[number]:
                if candidate.path not in done and candidate.writable:
                    finding = Finding(
                        candidate.path, Position(1, 1), INTERNAL_ERROR, "the worker process died"
                    )
                    results.append(
                        FileResult(candidate.path, Status.FAILED, candidate.data, error=finding)
                    )
        return _Done(results), plan
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
    codemods: Sequence[type[Codemod[Any]]],
    path: Path = Path("example.py"),
    config: Config | None = None,
    unsafe: bool = False,
    known: Sequence[type[Codemod[Any]]] = (),
) -> FileResult:
    """Run the whole per-file pipeline (index, plan, transform, check) on one source.

    For tests and embedding: the same stages as ``run``, without discovery or processes.
    ``known``: every codemod there is (see ``Options.known``).
    """
    options = Options(
        config or Config(root=Path.cwd()), tuple(codemods), unsafe=unsafe, known=tuple(known)
    )
    codes = tuple(codemod.code for codemod in codemods)
    candidate = Candidate(path, source, codes)
    options = replace(options, in_project=_in_project(codemods, [candidate], {}, {}))
    done, _ = _run_in_process([candidate], options, None)
    assert len(done.results) == 1
    return done.results[0]


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
    done, _ = _run_in_process(
        [Candidate(result.path, result.old_source, codes)], narrowed, None, plan
    )
    again = done.results[0]
    return _format(again, options.formatter) if options.formatter else again
