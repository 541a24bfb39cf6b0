"""Whole-module scenarios: ``fixtures/<codemod>/<case>.before.py`` -> ``<case>.after.py``.

A case without an ``.after.py`` must be left unchanged. Each output must compile, and
running the codemods on it again must change nothing. A fixture runs with its codemod and
those before it in ``ALL``, as the default recipe would (VF104 needs VF100's rewrites).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from vibefix.codemods import ALL

from tests.codemods.helpers import default_config, upto
from vibefix.engine.run import run_source
from vibefix.results import Status

FIXTURES = Path(__file__).parent / "fixtures"
BY_MODULE = {codemod.__module__.rpartition(".")[2]: codemod for codemod in ALL}
CASES = sorted(FIXTURES.glob("*/*.before.py"))


@pytest.mark.parametrize(
    "before", CASES, ids=lambda path: f"{path.parent.name}/{path.name[: -len('.before.py')]}"
)
def test_fixture(before):
    codemods = upto(BY_MODULE[before.parent.name])
    after = before.with_name(before.name.replace(".before.py", ".after.py"))
    config = default_config()
    result = run_source(
        before.read_bytes(), codemods, path=before, config=config, unsafe=True, known=ALL
    )
    assert result.status is not Status.FAILED, result.error
    if not after.exists():
        assert result.status is Status.UNCHANGED, result.new_source
        return
    assert result.status is Status.CHANGED
    assert result.new_source is not None
    assert result.new_source.decode() == after.read_text(encoding="utf-8")
    compile(result.new_source, str(after), "exec", dont_inherit=True)
    again = run_source(
        result.new_source, codemods, path=after, config=config, unsafe=True, known=ALL
    )
    assert again.status is Status.UNCHANGED
