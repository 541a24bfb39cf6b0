"""How the report's cost grows with what it reports: text, JSON and SARIF on one big file.

What is measured
----------------
A project of one generated file: ``import time``, then FUNCTIONS functions of five lines,
``async def f_<i>(): time.sleep(1); return <i>`` (VF100 rewrites each sleep, so the diff
has one hunk per function). For each size it runs, as subprocesses, alternating, and
keeps the fastest of ``--repeat`` rounds:

- ``diff``: ``vibefix diff`` (the unified diff, as text);
- ``diff-json``: ``vibefix diff --output-format json`` (the same diff, inside JSON);
- ``check``: ``vibefix check`` (one line per rewrite, no diff);
- ``check-json``: ``vibefix check --output-format json`` (the diff, inside JSON);
- ``check-sarif``: ``vibefix check --output-format sarif`` (one result per rewrite).

Each is run with ``--jobs 1``, stdout to a pipe that is read and thrown away. Exit code 1
(changes pending) is success; anything else stops the script with exit code 2.

Why
---
A JSON report carries the same diff as ``vibefix diff`` prints, and SARIF less: both must
cost about what the text costs, whatever the file's size. Once, the diff itself was
quadratic (difflib's longest-match search over a file with a thousand rewrites) and
JSON recomputed more per hunk; a 17,000-line file gave no JSON in 90 s.

**Target:** on the largest size, ``check-json`` and ``diff-json`` take at most 1.5x the
time of ``diff``; ``check-sarif`` at most 1.5x ``check``.

    .venv/bin/python bench/report_size.py                    # 400, 800, 3400 functions
    .venv/bin/python bench/report_size.py --functions 3400 --repeat 3
    .venv/bin/python bench/report_size.py --smoke            # 200 functions, 1 round (CI)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RATIO_TARGET = 1.5
COMMANDS = {
    "diff": ("diff",),
    "diff-json": ("diff", "--output-format", "json"),
    "check": ("check",),
    "check-json": ("check", "--output-format", "json"),
    "check-sarif": ("check", "--output-format", "sarif"),
}
"""Each command's arguments; every one ends with ``--no-cache --jobs 1 .`` (a run read
back from the cache would measure the cache, not the report)."""
PAIRS = (("diff-json", "diff"), ("check-json", "diff"), ("check-sarif", "check"))
"""(measured, reference): the ratios the target is about."""


def source(functions: int) -> str:
    """The generated module: five lines a function, each function one VF100 rewrite."""
    parts = ["import time\n\n"]
    parts.extend(
        f"\nasync def f_{i}():\n    time.sleep(1)\n    return {i}\n\n" for i in range(functions)
    )
    return "".join(parts)


def vibefix_command() -> list[str]:
    beside = Path(sys.executable).with_name("vibefix")
    if beside.is_file():
        return [str(beside)]
    return [sys.executable, "-c", "from vibefix.cli import main; main()"]


def timed(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=cwd, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    if completed.returncode != 1:
        sys.stderr.write(completed.stderr.decode(errors="replace"))
        raise SystemExit(f"{' '.join(command)} exited {completed.returncode}; expected 1")
    return elapsed


def measure(functions: int, repeat: int) -> dict[str, float]:
    """The fastest time of each command on a project of ``functions`` functions."""
    with tempfile.TemporaryDirectory(prefix="vibefix-report-size-") as folder:
        project = Path(folder)
        (project / "big.py").write_text(source(functions))
        best = dict.fromkeys(COMMANDS, float("inf"))
        for round_ in range(repeat):
            names = list(COMMANDS) if round_ % 2 == 0 else list(reversed(COMMANDS))
            for name in names:
                command = [*vibefix_command(), *COMMANDS[name], "--no-cache", "--jobs", "1", "."]
                best[name] = min(best[name], timed(command, project))
        return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--functions", type=int, nargs="+", default=[400, 800, 3400])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--smoke", action="store_true", help="200 functions, one round")
    args = parser.parse_args(argv)
    sizes = [200] if args.smoke else args.functions
    header = ["functions", "lines", *COMMANDS, *(f"{a}/{b}" for a, b in PAIRS)]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    ratios: dict[str, float] = {}
    for functions in sizes:
        best = measure(functions, 1 if args.smoke else args.repeat)
        ratios = {f"{a}/{b}": best[a] / best[b] for a, b in PAIRS}
        lines = source(functions).count("\n")
        cells = [str(functions), str(lines)]
        cells += [f"{best[name]:.2f} s" for name in COMMANDS]
        cells += [f"{ratio:.2f}" for ratio in ratios.values()]
        print("| " + " | ".join(cells) + " |", flush=True)
    worst = max(ratios.values())
    verdict = "met" if worst <= RATIO_TARGET else "MISSED"
    print(f"\nlargest size: worst ratio {worst:.2f} (target <= {RATIO_TARGET}): {verdict}")
    return 0 if worst <= RATIO_TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
