"""The fast indexer (``vibefix.engine.fastindex``) against ``FactCollector``, file by file.

For every ``.py`` file under the folders given (by default the installed fastapi,
starlette, pydantic, sqlalchemy and httpx, and vibefix's own fixtures and examples),
both indexers index the file as a file read only for reach (``Candidate.keep`` false):
the facts must be equal, collectors aside. Prints each mismatch (the first field that
differs), the files the fast indexer refuses (with why: the engine indexes them with
libcst), and the time each indexer takes per file. The shipped collectors that tell their
facts from ``ast`` (``Collector.facts_from_ast``) are checked against their walk too:
equal, or they say only the walk can tell.

    .venv/bin/python bench/index_parity.py [FOLDER ...] [--limit N]

Exit code 1 when some file's facts differ.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from libcst.metadata import MetadataWrapper, PositionProvider, ScopeProvider
from vibefix.codemods import ALL

from vibefix.config import Config
from vibefix.engine.batch import Batch
from vibefix.engine.context import Collector, FileContext, NeededName
from vibefix.engine.fastindex import Refused, fast_facts
from vibefix.engine.imports import ImportPlanner
from vibefix.engine.index import FactCollector, ModuleFacts
from vibefix.engine.metadata import resolve
from vibefix.engine.run import module_name
from vibefix.engine.sourcefile import SourceError, declared_encoding, parse

LIBRARIES = ("fastapi", "starlette", "pydantic", "sqlalchemy", "httpx")
HERE = Path(__file__).resolve().parent


def needed() -> tuple[NeededName, ...]:
    """Every shipped codemod's needed names, as the engine gives them to the index."""
    config = Config(root=Path.cwd())
    return tuple(dict.fromkeys(n for codemod in ALL for n in codemod.needed_names(config)))


def default_folders() -> list[Path]:
    folders = []
    for name in LIBRARIES:
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.origin is not None:
            folders.append(Path(spec.origin).parent)
    return [*folders, HERE.parent / "tests" / "fixtures", HERE.parent / "examples"]


def collectors() -> tuple[type[Collector[Any]], ...]:
    """The shipped collectors that may tell their facts from ``ast``."""
    kinds = dict.fromkeys(kind for codemod in ALL for kind in codemod.collectors)
    return tuple(kind for kind in kinds if "facts_from_ast" in kind.__dict__)


def libcst_facts(
    path: Path, data: bytes, names: tuple[NeededName, ...], kinds: Sequence[type[Collector[Any]]]
) -> ModuleFacts:
    """What the engine's libcst indexer finds in a file (``Shard._index_one``), with the
    facts of the collectors ``kinds``."""
    module, package = module_name(path)
    parsed = parse(path, data)
    wrapper = MetadataWrapper(parsed.module, unsafe_skip_copy=True)
    providers = {ScopeProvider, PositionProvider, *FactCollector.METADATA_DEPENDENCIES}
    for kind in kinds:
        providers.update(kind.get_inherited_dependencies())
    resolve(wrapper, providers)
    imports = ImportPlanner(
        wrapper.module, wrapper.resolve(ScopeProvider), wrapper.resolve(PositionProvider)
    )
    collector = FactCollector(path, module, package, imports, names)
    context = FileContext(path, module, Config(root=path.parent), imports, package=package)
    found = [kind(context) for kind in kinds]
    Batch([collector, *found]).walk(wrapper)
    collected = tuple((type(c), facts) for c in found if (facts := c.facts()) is not None)
    return collector.facts(collected)


def ast_facts(path: Path, data: bytes, names: tuple[NeededName, ...]) -> ModuleFacts:
    module, package = module_name(path)
    text = data.decode(declared_encoding(data))
    return fast_facts(path, text, module, package, names)


def collector_difference(path: Path, data: bytes, expected: ModuleFacts) -> str:
    """Where a collector's ``facts_from_ast`` differs from its walk; "" if nowhere."""
    walked = dict(expected.collected)
    tree = ast.parse(data)
    for kind in collectors():
        try:
            told = kind.facts_from_ast(tree, data)
        except NotImplementedError:
            continue
        if told != walked.get(kind):
            return f"{kind.__name__}: {walked.get(kind)!r} != {told!r}"
    return ""


def difference(expected: ModuleFacts, found: ModuleFacts) -> str:
    """The first field where ``found`` differs from ``expected``, shortly; "" if none."""
    return _difference(expected, found, "")


def _difference(expected: object, found: object, where: str) -> str:
    if expected == found:
        return ""
    if type(expected) is not type(found):
        return f"{where}: {expected!r} != {found!r}"
    if isinstance(expected, tuple) and isinstance(found, tuple):
        for index, (a, b) in enumerate(zip(expected, found, strict=False)):
            if a != b:
                return _difference(a, b, f"{where}[{index}]")
        extra = expected[len(found) :] or found[len(expected) :]
        side = "missing" if len(expected) > len(found) else "extra"
        return f"{where}: {side} {extra[0]!r}"
    if hasattr(expected, "__dataclass_fields__"):
        for item in fields(expected):  # type: ignore[arg-type]
            a, b = getattr(expected, item.name), getattr(found, item.name)
            if a != b:
                return _difference(a, b, f"{where}.{item.name}")
    return f"{where}: {expected!r} != {found!r}"


@dataclass
class Outcome:
    path: Path
    mismatch: str = ""
    refused: str = ""
    skipped: str = ""
    libcst_seconds: float = 0.0
    ast_seconds: float = 0.0


def compare(path: Path, names: tuple[NeededName, ...]) -> Outcome:
    data = path.read_bytes()
    try:
        ast.parse(data)
    except (SyntaxError, ValueError) as error:
        return Outcome(path, skipped=f"does not parse: {error}")
    start = time.perf_counter()
    try:
        walked = libcst_facts(path, data, names, collectors())
    except SourceError as error:
        return Outcome(path, skipped=f"libcst fails: {error.finding.message}")
    middle = time.perf_counter()
    try:
        found = ast_facts(path, data, names)
    except Refused as error:
        return Outcome(path, refused=str(error), libcst_seconds=middle - start)
    end = time.perf_counter()
    mismatch = difference(replace(walked, collected=()), found)
    mismatch = mismatch or collector_difference(path, data, walked)
    return Outcome(path, mismatch, "", "", middle - start, end - middle)


def files(folders: Iterable[Path]) -> list[Path]:
    return sorted({path for folder in folders for path in folder.rglob("*.py")})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("folders", nargs="*", type=Path)
    parser.add_argument("--limit", type=int, default=0, help="compare at most N files")
    args = parser.parse_args(argv)
    paths = files(args.folders or default_folders())
    if args.limit:
        paths = paths[: args.limit]
    names = needed()
    outcomes = [compare(path, names) for path in paths]
    mismatched = [o for o in outcomes if o.mismatch]
    refused = [o for o in outcomes if o.refused]
    skipped = [o for o in outcomes if o.skipped]
    for outcome in mismatched:
        print(f"MISMATCH {outcome.path}: {outcome.mismatch[:300]}")
    for outcome in refused:
        print(f"refused {outcome.path}: {outcome.refused}")
    timed = [o for o in outcomes if o.ast_seconds]
    libcst_time = sum(o.libcst_seconds for o in timed)
    ast_time = sum(o.ast_seconds for o in timed)
    reasons = Counter(o.refused for o in refused)
    print(
        f"{len(outcomes)} files: {len(timed) - len(mismatched)} equal, {len(mismatched)} "
        f"mismatched, {len(refused)} refused, {len(skipped)} skipped (not parsed)"
    )
    for reason, count in reasons.most_common():
        print(f"  refused, {reason}: {count}")
    if timed:
        print(
            f"per file: libcst {1000 * libcst_time / len(timed):.1f} ms, "
            f"ast {1000 * ast_time / len(timed):.1f} ms "
            f"({libcst_time / max(ast_time, 1e-9):.1f}x)"
        )
    return 1 if mismatched else 0


if __name__ == "__main__":
    sys.exit(main())
