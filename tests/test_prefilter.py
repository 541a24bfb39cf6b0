"""The prefilter answers as the triggers' regular expressions would, only faster."""

from __future__ import annotations

import re

import pytest
from vibefix.codemods import ALL

from vibefix.engine.prefilter import Prefilter, alternatives, required


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (r"a|b(c|d)", ["a", "b(c|d)"]),
        (r"(?m:^a|b)|c", ["(?m:^a|b)", "c"]),
        (r"[|]|z", ["[|]", "z"]),
        (r"[]|]x|q", ["[]|]x", "q"]),
        (r"[^]|]x|q", ["[^]|]x", "q"]),
        (r"\|a|b", [r"\|a", "b"]),
        (r"abc", ["abc"]),
        (r"(?m)^x|y", ["(?m)^x|y"]),  # a global flag belongs to every alternative
        (r"a||b", ["a||b"]),  # an empty alternative matches anywhere: kept whole
    ],
)
def test_alternatives_are_the_top_level_ones(pattern: str, expected: list[str]) -> None:
    assert alternatives(pattern) == expected


SAMPLES = [
    b"import time\n\nasync def f():\n    time.sleep(1)\n",
    b"from pydantic import BaseModel\n\nclass A(BaseModel):\n    x: int | None = None\n",
    b"class B:\n    y: Optional[int] = None\n",
    b"import requests\napp = FastAPI()\n",
    b"\xef\xbb\xbfimport subprocess\nasync def g():\n    open('x')\n",
    b"db = SessionLocal()\nengine = create_engine(url)\n",
    b"x = 1\n",
]


def test_the_shipped_triggers_answer_as_their_regular_expressions_do() -> None:
    prefilter = Prefilter((codemod.code, codemod.triggers) for codemod in ALL)
    for data in SAMPLES:
        text = data.removeprefix(b"\xef\xbb\xbf")
        expected = tuple(
            codemod.code
            for codemod in ALL
            if all(re.search(p.encode(), text) for p in codemod.triggers)
        )
        assert prefilter.codes(data) == expected, data
    assert any(prefilter.codes(data) for data in SAMPLES)


def test_required_literals_are_in_every_match() -> None:
    assert required(r"\bsleep\b") == frozenset({b"sleep"})
    assert required(r"(?i:session)") is None
