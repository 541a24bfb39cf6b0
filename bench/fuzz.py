"""Fuzz vibefix: the properties of ``tests/test_properties.py`` on thousands of inputs.

Inputs are of two kinds:

- generated: FastAPI-shaped projects built from fragments (``projects``), and
  hypothesmith's programs (``from_grammar``, ``from_node``) set before, after and inside
  trigger-bearing code (``grammar_projects``), in UTF-8, UTF-8 with a BOM, CRLF and
  latin-1 with a coding cookie; each run under the default recipe and ``--select ALL
  --unsafe``;
- mutated: a slice of the example app (``examples/vibeshop``: one to three of its modules,
  sometimes all of ``app/``) with one to three mutations (statements and lines deleted,
  duplicated and swapped, identifiers renamed, unicode identifiers, indentation changed,
  trigger words inserted, truncation, CRLF, mixed line ends, BOM, latin-1, bytes that do
  not decode, deep nesting); each run under one of the two recipes. Many do not parse:
  those files must fail alone (E999, exit 3), byte-identical.

Each input is written to a fresh folder and ``vibefix apply --output-format json`` runs on
it in process, then again on its output; ``tests/fuzzing.py`` has the properties. Workers
(``--jobs``, default 2) take chunks of inputs. Every violating input is saved under
``--out`` (the first few of each distinct violation) with the command that replays it::

    python bench/fuzz.py --inputs 2000                  # about 40 min on 2 cores
    python bench/fuzz.py --seconds 600 --out /tmp/fuzz  # stop after 10 minutes
    python bench/fuzz.py --repro /tmp/fuzz/encoding/000123 [--reduce]

``--reduce`` deletes lines and files of a saved input while the same violation stays,
and saves the smallest input found beside it (``reduced/``).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import multiprocessing
import random
import shlex
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import fuzzing  # noqa: E402  (the repository's root is on the path only now)

EXAMPLE = ROOT / "examples" / "vibeshop"
GENERATED = {"fragments": 0.6, "grammar": 0.3, "node": 0.1}
"""The share of each generator among generated inputs."""
CHUNK = 10
SAVED_PER_SIGNATURE = 3
KNOWN = {
    "encoding: crlf file became mixed": "known: CRLF file, VF101 support code has bare LF lines",
    "internal-error: vibefix indexing RecursionError": "known: deep nesting, RecursionError",
}
"""Violations of bugs already being fixed elsewhere, by the start of their signature."""


@dataclass
class Task:
    kind: str
    seed: int
    count: int


@dataclass
class Result:
    kind: str
    inputs: int = 0
    runs: int = 0
    stats: Counter[str] = field(default_factory=Counter)
    """Files changed, failed (E999) and unparseable, over all runs."""
    violations: list[tuple[str, str, str]] = field(default_factory=list)
    """(signature, property, saved folder or "") for every violation."""


def _known(signature: str) -> str:
    return next((note for start, note in KNOWN.items() if signature.startswith(start)), "")


# -- the inputs ----------------------------------------------------------------------------


def _example_slice(rng: random.Random) -> fuzzing.Project:
    app = fuzzing.read_project(EXAMPLE, None)
    modules = sorted(n for n in app if n.startswith("app/") and n.endswith(".py"))
    inits = [n for n in modules if n.endswith("__init__.py")]
    others = [n for n in modules if n not in inits]
    chosen = others if rng.random() < 0.05 else rng.sample(others, rng.randint(1, 3))
    return {name: app[name] for name in [*inits, *chosen, "requirements.txt"]}


def _mutated(seed: int) -> Iterator[tuple[fuzzing.Project, str, str]]:
    rng = random.Random(seed)
    while True:
        project = _example_slice(rng)
        targets = {n: d for n, d in project.items() if not n.endswith("__init__.py")}
        mutated, done = fuzzing.mutate_project(targets, rng)
        project.update(mutated)
        yield project, rng.choice(list(fuzzing.RECIPES)), "; ".join(done)


def _strategy(kind: str) -> object:
    if kind == "fragments":
        return fuzzing.projects()
    return fuzzing.grammar_projects(source=kind)


# -- the workers -----------------------------------------------------------------------------


class _TimeUp(Exception):
    pass


def _check(
    project: fuzzing.Project, recipes: list[str], note: str, result: Result, out: Path
) -> None:
    result.inputs += 1
    for recipe in recipes:
        result.runs += 1
        violations = fuzzing.check_project(project, recipe, stats=result.stats)
        for violation in violations:
            saved = _save(project, recipe, violation, note, out)
            result.violations.append((violation.signature, violation.prop, saved))


def _save(
    project: fuzzing.Project, recipe: str, violation: fuzzing.Violation, note: str, out: Path
) -> str:
    folder = out / violation.prop
    # A cheap, shared cap: the folders of a signature are counted by their marker files.
    marker = "".join(c if c.isalnum() else "-" for c in violation.signature)[:80]
    folder.mkdir(parents=True, exist_ok=True)
    if len(list(folder.glob(f"*/{marker}.sig"))) >= SAVED_PER_SIGNATURE:
        return ""
    target = Path(tempfile.mkdtemp(prefix="", dir=folder))
    fuzzing.write_project(target / "input", project)
    (target / f"{marker}.sig").write_text(violation.signature + "\n")
    meta = {"recipe": recipe, "signature": violation.signature, "mutations": note}
    (target / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    (target / "violation.txt").write_text(str(violation) + "\n")
    (target / "repro.txt").write_text(_repro(target) + "\n")
    return str(target)


def _repro(folder: Path) -> str:
    return f"python {shlex.quote(str(Path(__file__)))} --repro {shlex.quote(str(folder))}"


def _work(task: Task, out: Path, deadline: float) -> Result:
    from hypothesis import HealthCheck, Phase, Verbosity, given, seed, settings

    result = Result(task.kind)
    if task.kind == "mutated":
        inputs = _mutated(task.seed)
        for _ in range(task.count):
            if time.monotonic() > deadline:
                break
            project, recipe, note = next(inputs)
            _check(project, [recipe], note, result, out)
        return result

    @seed(task.seed)
    @settings(
        max_examples=task.count,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        verbosity=Verbosity.quiet,
        suppress_health_check=list(HealthCheck),
    )
    @given(_strategy(task.kind))
    def run(project: fuzzing.Project) -> None:
        if time.monotonic() > deadline or result.inputs >= task.count:
            raise _TimeUp
        _check(project, list(fuzzing.RECIPES), task.kind, result, out)

    with contextlib.suppress(_TimeUp):
        run()
    return result


def _tasks(inputs: int, mutated_share: float, seed: int) -> list[Task]:
    rng = random.Random(seed)
    mutated = round(inputs * mutated_share)
    counts = {"mutated": mutated}
    generated = inputs - mutated
    for kind, share in GENERATED.items():
        counts[kind] = round(generated * share)
    counts["fragments"] += generated - sum(counts[k] for k in GENERATED)
    tasks = []
    for kind, count in counts.items():
        while count > 0:
            tasks.append(Task(kind, rng.randrange(2**31), min(CHUNK, count)))
            count -= CHUNK
    rng.shuffle(tasks)
    return tasks


# -- replaying and reducing a saved input ------------------------------------------------


def repro(folder: Path, reduce: bool) -> int:
    meta = json.loads((folder / "meta.json").read_text())
    project = fuzzing.read_project(folder / "input")
    project.pop("pyproject.toml", None)
    violations = fuzzing.check_project(project, meta["recipe"])
    print(f"recipe {meta['recipe']}: {' '.join(fuzzing.apply_command('DIR', meta['recipe']))}")
    for violation in violations:
        print(violation)
    wanted = meta["signature"]
    if not any(v.signature == wanted for v in violations):
        print(f"not reproduced: {wanted}")
        return 1
    if reduce:
        smaller = _reduce(project, meta["recipe"], wanted)
        target = folder / "reduced"
        shutil.rmtree(target, ignore_errors=True)
        fuzzing.write_project(target, smaller)
        for name, data in sorted(smaller.items()):
            print(f"--- {name} ({len(data)} bytes)\n{data!r}")
        print(f"reduced input in {target}")
    return 0


def _reduce(project: fuzzing.Project, recipe: str, signature: str) -> fuzzing.Project:
    def fails(candidate: fuzzing.Project) -> bool:
        return any(v.signature == signature for v in fuzzing.check_project(candidate, recipe))

    for name in sorted(project, key=lambda n: -len(project[n])):
        if len(project) > 1:
            without = {n: d for n, d in project.items() if n != name}
            if fails(without):
                project = without
                continue
        lines = project[name].splitlines(True)
        chunk = max(1, len(lines) // 2)
        while chunk >= 1:
            start, progress = 0, False
            while start < len(lines):
                candidate = lines[:start] + lines[start + chunk :]
                if fails({**project, name: b"".join(candidate)}):
                    lines, progress = candidate, True
                else:
                    start += chunk
            project = {**project, name: b"".join(lines)}
            if not progress:
                chunk //= 2
    return project


# -- main ------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=int, default=2000, help="inputs to run (2000)")
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (2)")
    parser.add_argument("--mutated-share", type=float, default=0.5, help="of inputs (0.5)")
    parser.add_argument("--seed", type=int, default=0, help="for the inputs (0)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "fuzz")
    parser.add_argument("--repro", type=Path, help="replay a saved violating input")
    parser.add_argument("--reduce", action="store_true", help="with --repro: minimise it")
    args = parser.parse_args()
    if args.repro is not None:
        return repro(args.repro, args.reduce)
    args.out.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + (args.seconds if args.seconds else 10**9)
    tasks = _tasks(args.inputs, args.mutated_share, args.seed)
    started = time.monotonic()
    totals: dict[str, Result] = {}
    context = multiprocessing.get_context("spawn")
    work = functools.partial(_work, out=args.out, deadline=deadline)
    with context.Pool(args.jobs, maxtasksperchild=20) as pool:
        try:
            for done, result in enumerate(pool.imap_unordered(work, tasks), 1):
                total = totals.setdefault(result.kind, Result(result.kind))
                total.inputs += result.inputs
                total.runs += result.runs
                total.violations.extend(result.violations)
                total.stats.update(result.stats)
                if done % 10 == 0 or done == len(tasks):
                    inputs = sum(t.inputs for t in totals.values())
                    found = sum(len(t.violations) for t in totals.values())
                    elapsed = time.monotonic() - started
                    print(
                        f"  {inputs} inputs, {found} violations, {elapsed:.0f} s", file=sys.stderr
                    )
        except KeyboardInterrupt:
            print("interrupted: the inputs run so far", file=sys.stderr)
    _summary(totals, time.monotonic() - started, args.out)
    return 1 if any(t.violations for t in totals.values()) else 0


def _summary(totals: dict[str, Result], elapsed: float, out: Path) -> None:
    inputs = sum(t.inputs for t in totals.values())
    runs = sum(t.runs for t in totals.values())
    kinds = ", ".join(f"{k} {t.inputs}" for k, t in sorted(totals.items()))
    print(f"inputs run: {inputs} ({kinds}); vibefix apply runs: {runs}; {elapsed:.0f} s")
    for kind, total in sorted(totals.items()):
        counts = ", ".join(f"{key} {value}" for key, value in sorted(total.stats.items()))
        print(f"  {kind}: {counts}")
    every = [v for t in totals.values() for v in t.violations]
    by_property = Counter(prop for _, prop, _ in every)
    print("violations by property (runs that broke it):")
    for prop in fuzzing.PROPERTIES:
        print(f"  {prop:18} {by_property.get(prop, 0)}")
    print("distinct violations:")
    examples: dict[str, str] = {}
    for signature, _, saved in every:
        if saved and signature not in examples:
            examples[signature] = saved
    for signature, count in Counter(s for s, _, _ in every).most_common():
        note = _known(signature)
        print(f"  {count:5}x {signature}{f'  [{note}]' if note else ''}")
        if signature in examples:
            print(f"         {_repro(Path(examples[signature]))}")
    print(f"violating inputs saved under {out}")


if __name__ == "__main__":
    sys.exit(main())
