"""Properties every run keeps, on generated inputs: no crash and no internal error, output
that compiles, a second run that changes nothing, encodings, BOMs and line endings kept,
and nothing written that is not reported (``tests/fuzzing.py`` says each precisely).

The inputs are FastAPI-shaped projects built from fragments, hypothesmith's programs set
among code that every recipe rewrites, and damaged copies of generated projects; each is
applied under the default recipe and ``--select ALL --unsafe``, in process (the real CLI
in a subprocess for a few). The budget is small and the examples fixed (``derandomize``)
so that CI stays fast and repeatable; ``bench/fuzz.py`` runs the same properties on
thousands of inputs.

Each bug these properties found has a test of its own at the end. A bug found and not yet
fixed gets a strict ``xfail`` there, and the generators leave its construct out
(``fuzzing.KNOWN_BUGS``) until it is fixed: the test then fails as XPASS, and its mark and
the construct's exclusion go.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import fuzzing
from tests.fuzzing import KNOWN_BUGS, check_project, encode, grammar_projects, projects


def _budget(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
            HealthCheck.large_base_example,
        ],
    )


def assert_keeps_every_property(
    project: fuzzing.Project,
    recipes: tuple[str, ...] = tuple(fuzzing.RECIPES),
    runner: fuzzing.Runner = fuzzing.apply_in_process,
) -> None:
    violations = [v for recipe in recipes for v in check_project(project, recipe, runner=runner)]
    assert not violations, "\n".join(map(str, violations))


# Every generator below leaves out the constructs of the known bugs (KNOWN_BUGS, empty
# while none is open), each named by a strict xfail test at the end of this file.


@_budget(12)
@given(projects(avoid=KNOWN_BUGS))
def test_generated_fastapi_projects_keep_every_property(project: fuzzing.Project) -> None:
    assert_keeps_every_property(project)


@_budget(10)
@given(grammar_projects(avoid=KNOWN_BUGS))
def test_hypothesmith_programs_among_trigger_code_keep_every_property(
    project: fuzzing.Project,
) -> None:
    assert_keeps_every_property(project)


@_budget(3)
@given(grammar_projects(avoid=KNOWN_BUGS, source="node"))
def test_hypothesmith_node_programs_among_trigger_code_keep_every_property(
    project: fuzzing.Project,
) -> None:
    assert_keeps_every_property(project)


# Left out: "crlf" and "mixed-eol" (test_crlf_file_keeps_crlf_in_vf101_support_code) and
# "deep-nesting" (test_deeply_nested_expression_is_not_an_internal_error).
CI_MUTATIONS = sorted(set(fuzzing.MUTATIONS) - {"crlf", "mixed-eol", "deep-nesting"})


@_budget(10)
@given(
    projects(avoid=KNOWN_BUGS),
    st.lists(st.sampled_from(CI_MUTATIONS), min_size=1, max_size=3),
    st.randoms(use_true_random=False),
)
def test_damaged_projects_fail_alone_and_are_left_as_they_were(
    project: fuzzing.Project, kinds: list[str], rng: random.Random
) -> None:
    for kind in kinds:
        project["app/main.py"] = fuzzing.mutate(project["app/main.py"], rng, kind)
    assert_keeps_every_property(project, (rng.choice(list(fuzzing.RECIPES)),))


@_budget(2)
@given(projects(avoid=KNOWN_BUGS))
def test_the_real_cli_in_a_subprocess_keeps_every_property(project: fuzzing.Project) -> None:
    assert_keeps_every_property(project, ("all",), fuzzing.apply_in_subprocess)


SLEEPY_APP = """\
import time
from fastapi import FastAPI

app = FastAPI()


@app.get("/")
async def index():
    time.sleep(1)
    return {}
"""


def test_a_file_that_does_not_parse_fails_alone_and_the_run_goes_on(tmp_path: Path) -> None:
    project = {
        "app/main.py": SLEEPY_APP.encode(),
        "app/broken.py": b"import time\n\nasync def h(:\n    time.sleep(1)\n",
    }
    assert_keeps_every_property(project)
    fuzzing.write_project(tmp_path, project)

    outcome = fuzzing.apply_in_process(tmp_path, "default")

    assert outcome.exit_code == 3
    assert outcome.files["app/broken.py"]["status"] == "failed"
    assert outcome.files["app/main.py"]["status"] == "changed"
    assert (tmp_path / "app/broken.py").read_bytes() == project["app/broken.py"]


@pytest.mark.parametrize("variant", ["utf-8-sig", "crlf", "utf-8-sig-crlf", "latin-1"])
def test_encoding_variants_of_a_sleepy_app_keep_every_property(variant: str) -> None:
    text = SLEEPY_APP.replace("return {}", 'return {"greeting": "Grüße, ça va"}')
    assert_keeps_every_property({"app/main.py": encode(text, variant)})


# -- bugs these properties found (fixed), each kept as a test of its own ----------------------


def test_crlf_file_keeps_crlf_in_vf101_support_code() -> None:
    source = """\
import requests
from fastapi import FastAPI

app = FastAPI()


@app.get("/")
async def h():
    return requests.get("http://x").json()
"""
    assert_keeps_every_property({"app.py": encode(source, "crlf")}, ("default",))


def test_deeply_nested_expression_is_not_an_internal_error() -> None:
    nested = "f(" * 190 + "1" + ")" * 190
    source = f"import time\n\n\nasync def h():\n    time.sleep(1)\n    return {nested}\n"
    assert_keeps_every_property({"app.py": source.encode()}, ("default",))


def test_python_312_syntax_is_left_alone_for_a_311_target(tmp_path: Path) -> None:
    source = b"import time\n\ntype Seconds = float\n\n\nasync def h():\n    time.sleep(1)\n"
    (tmp_path / "pyproject.toml").write_text('[tool.vibefix]\ntarget-version = "py311"\n')
    (tmp_path / "app.py").write_bytes(source)

    outcome = fuzzing.apply_in_process(tmp_path, "default")

    assert outcome.exit_code != 0
    assert (tmp_path / "app.py").read_bytes() == source


def test_handler_named_underscore_digit_gets_a_body_model_with_a_valid_name() -> None:
    source = """\
from fastapi import FastAPI, Request

app = FastAPI()


@app.post("/x")
async def _1_h(request: Request):
    data = await request.json()
    return data["key"]
"""
    assert_keeps_every_property({"app.py": source.encode()}, ("all",))


def test_session_in_a_class_body_inside_an_async_function_is_not_awaited() -> None:
    database = """\
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

engine = create_engine("sqlite://")
SessionLocal = sessionmaker(bind=engine)
"""
    main = """\
from app.database import SessionLocal


async def h():
    class K:
        db = SessionLocal()
        db.close()
"""
    project = {
        "app/__init__.py": b"",
        "app/database.py": database.encode(),
        "app/main.py": main.encode(),
    }
    assert_keeps_every_property(project, ("all",))


def test_form_feed_in_the_first_indentation_keeps_vf101_support_code_compiling() -> None:
    source = """\
import requests
from fastapi import FastAPI


def f():
\x0c    pass


app = FastAPI()


@app.get("/")
async def h():
    return requests.get("http://u").json()
"""
    assert_keeps_every_property({"app.py": source.encode()}, ("default",))
