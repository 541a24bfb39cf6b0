"""The house rules of vibefix's own code (DESIGN.md, the package docstrings):

- no import cycle among vibefix's modules, ``TYPE_CHECKING`` imports counted;
- no rule code (``VF101``) written outside ``codemods/``: the engine, the report and the
  families take codes from codemod class attributes, so that a codemod can be renamed,
  renumbered or replaced by a plugin without touching them.

The import rules between packages (the engine names no family...) are import-linter's
contracts in pyproject.toml, run by .ci/run.
"""

from __future__ import annotations

import ast
import itertools
import re
from pathlib import Path

import grimp

SOURCE = Path(__file__).resolve().parents[1] / "src" / "vibefix"
CODE = re.compile(r"VF\d{3}")


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_cycle():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(edges) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_among_vibefixs_modules():
    graph = grimp.build_graph("vibefix", exclude_type_checking_imports=False)
    edges = {
        module: set(graph.find_modules_directly_imported_by(module)) for module in graph.modules
    }
    assert len(edges) > 50  # the whole package was read
    assert _cycles(edges) == []


def _docstrings(tree: ast.AST) -> set[int]:
    """The ids of the string constants that document: a module's, class's or function's
    docstring, and the string right after an assignment (an attribute's)."""
    found: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if not isinstance(body, list) or not body:
            continue
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
        for before, after in itertools.pairwise(body):
            if (
                isinstance(before, ast.Assign | ast.AnnAssign)
                and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
            ):
                found.add(id(after.value))
    return found


def test_the_literal_finder_sees_code_and_skips_docstrings(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text('"""VF100 in a docstring."""\nCODES = ("VF101",)\nX = 1\n"""VF102"""\n')
    found = [line.split(": ", 1)[1] for line in _code_literals_at(sample, tmp_path)]
    assert found == ["'VF101'"]


def _code_literals_at(path: Path, root: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    documenting = _docstrings(tree)
    return [
        f"{path.relative_to(root)}:{node.lineno}: {node.value!r}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in documenting
        and CODE.search(node.value)
    ]


def test_no_rule_code_written_outside_the_codemods():
    paths = sorted(SOURCE.rglob("*.py"))
    assert len(paths) > 50
    found = [line for path in paths for line in _code_literals_at(path, SOURCE.parent)]
    assert found == []
