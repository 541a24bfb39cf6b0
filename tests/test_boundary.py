"""The API boundary across a project: models, ORM classes and handlers in their own
modules, found by the plan when the run covers only part of the project."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from vibefix.codemods import ALL, RECIPES

from tests.conftest import RunVibefix
from vibefix.boundary.plan import pydantic_1
from vibefix.config import Config
from vibefix.engine import run as engine
from vibefix.engine.run import RunResult

PYDANTIC = tuple(codemod for codemod in ALL if codemod.code in RECIPES["pydantic"])

PROJECT = {
    "pyproject.toml": "[project]\nname = 'shop'\n",
    "shop/__init__.py": "",
    "shop/db.py": """\
        from sqlalchemy.orm import declarative_base

        Base = declarative_base()
        """,
    "shop/models.py": """\
        from sqlalchemy import Column, Integer, String

        from shop.db import Base


        class Customer(Base):
            __tablename__ = "customers"
            id = Column(Integer, primary_key=True)
            email = Column(String(200), nullable=False)
            phone = Column(String(20))
        """,
    "shop/schemas/__init__.py": "from shop.schemas.customer import CustomerIn as CustomerIn\n",
    "shop/schemas/base.py": """\
        import pydantic


        class Schema(pydantic.BaseModel):
            pass
        """,
    "shop/schemas/customer.py": """\
        from typing import Optional

        from shop.schemas.base import Schema


        class CustomerIn(Schema):
            email: Optional[str] = None
            phone: Optional[str] = None
        """,
    "shop/api.py": """\
        import time

        from fastapi import APIRouter

        from shop import schemas

        router = APIRouter()


        @router.post("/customers")
        async def add(customer: schemas.CustomerIn):
            time.sleep(0.1)
            return {"email": customer.email}
        """,
}


CUSTOMER_AFTER = """\
from typing import Optional

from pydantic import ConfigDict, Field, StrictStr

from shop.schemas.base import Schema


class CustomerIn(Schema):
    model_config = ConfigDict(extra="forbid")

    email: StrictStr = Field(max_length=200)
    phone: Optional[StrictStr] = Field(default=None, max_length=20)
"""


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")


def run(root: Path, *paths: str) -> RunResult:
    options = engine.Options(Config(root=root), PYDANTIC, 1, True)
    return engine.run([root / path for path in paths], options)


def test_a_model_its_handler_and_its_orm_class_in_three_modules(tmp_path):
    write(tmp_path, PROJECT)
    result = run(tmp_path, ".")
    changed = {
        r.path.relative_to(tmp_path).as_posix(): r.new_source.decode()
        for r in result.files
        if r.new_source is not None
    }
    assert list(changed) == ["shop/schemas/customer.py"]
    assert changed["shop/schemas/customer.py"] == CUSTOMER_AFTER
    # A run about models says nothing of the event loop (`time.sleep` in async code); the
    # one finding is VF304's: `email` would be an EmailStr with email-validator declared.
    assert [f.code for r in result.files for f in r.findings] == ["VF304"]


def test_a_run_over_the_schemas_alone_finds_the_handlers_and_columns_elsewhere(tmp_path):
    write(tmp_path, PROJECT)
    result = run(tmp_path, "shop/schemas/customer.py")
    [only] = result.files
    assert only.new_source is not None
    assert only.new_source.decode() == CUSTOMER_AFTER


SPLIT_PROJECT = {
    "pyproject.toml": "[project]\nname = 'club'\n",
    "club/__init__.py": "",
    "club/schemas.py": """\
        from typing import Optional

        from pydantic import BaseModel


        class Member(BaseModel):
            id: Optional[int] = None
            name: Optional[str] = None
            password: Optional[str] = None
        """,
    "club/api.py": """\
        from fastapi import APIRouter

        from club.schemas import Member

        router = APIRouter()


        @router.post("/members", response_model=Member)
        async def join(member: Member):
            return {"id": 1, "name": member.name, "password": member.password}


        @router.get("/members/{mid}", response_model=Member)
        async def read(mid: int):
            return {"id": mid}
        """,
}


def test_a_split_model_is_imported_under_its_new_names_where_handlers_use_it(tmp_path):
    write(tmp_path, SPLIT_PROJECT)
    result = run(tmp_path, ".")
    changed = {
        r.path.relative_to(tmp_path).as_posix(): r.new_source.decode()
        for r in result.files
        if r.new_source is not None
    }
    assert sorted(changed) == ["club/api.py", "club/schemas.py"]
    api = changed["club/api.py"]
    assert "from club.schemas import MemberCreate, MemberRead\n" in api
    assert (
        '@router.post("/members", response_model=MemberRead)\nasync def join(member: MemberCreate):'
    ) in api
    assert '@router.get("/members/{mid}", response_model=MemberRead)' in api
    schemas = changed["club/schemas.py"]
    assert "class MemberCreate(BaseModel):" in schemas
    assert "class MemberRead(BaseModel):\n    id: Optional[int] = None\n    name:" in schemas


def test_a_split_whose_model_is_outside_the_paths_given_is_not_made(tmp_path):
    # The handlers and the model change together or not at all.
    write(tmp_path, SPLIT_PROJECT)
    result = run(tmp_path, "club/api.py")
    [api] = result.files
    assert api.new_source is None
    assert [(f.position.line, f.message) for f in api.findings] == [
        (
            9,
            "`join` keeps `Member`: it is both a request body and a response, but"
            " `schemas.py` is outside the paths given (or could not be rewritten), and the"
            " model and its handlers change together",
        ),
        (
            14,
            "`read` keeps `Member`: it is both a request body and a response, but"
            " `schemas.py` is outside the paths given (or could not be rewritten), and the"
            " model and its handlers change together",
        ),
    ]


def test_a_dict_body_gets_its_model_beside_the_project_schemas(tmp_path):
    write(
        tmp_path,
        {
            **SPLIT_PROJECT,
            "club/events.py": """\
                from fastapi import APIRouter

                router = APIRouter()


                @router.post("/events")
                async def add(event: dict):
                    return {"title": event["title"], "seats": event.get("seats", 10)}
                """,
        },
    )
    result = run(tmp_path, "club/events.py", "club/schemas.py")
    changed = {
        r.path.relative_to(tmp_path).as_posix(): r.new_source.decode()
        for r in result.files
        if r.new_source is not None
    }
    events = changed["club/events.py"]
    assert "from club.schemas import AddBody\n" in events
    assert "async def add(event: AddBody):" in events
    assert 'return {"title": event.title, "seats": event.seats}' in events
    assert changed["club/schemas.py"].endswith(
        "class AddBody(BaseModel):\n"
        '    """The body `add` takes (written by vibefix from the keys it reads)."""\n\n'
        '    model_config = ConfigDict(extra="forbid")\n\n'
        "    seats: int | float = 10\n"
        "    title: Any\n"
    )


def test_a_model_a_package_re_exports_is_not_split(tmp_path):
    files = dict(SPLIT_PROJECT)
    files["club/schemas/__init__.py"] = "from club.schemas.member import Member\n"
    files["club/schemas/member.py"] = files.pop("club/schemas.py")
    write(tmp_path, files)
    result = run(tmp_path, ".")
    assert [r.path.name for r in result.files if r.new_source is not None] == []
    [finding] = [f for r in result.files for f in r.findings if f.code == "VF303"]
    assert finding.message.endswith("but it is used elsewhere too (__init__.py:1)")


def test_dict_bodies_of_handlers_called_alike_get_a_model_each_beside_them(tmp_path):
    handler = """\
        from fastapi import APIRouter

        router = APIRouter()


        @router.post("/")
        async def create(payload: dict):
            return {"name": payload["name"]}
        """
    write(
        tmp_path,
        {
            **SPLIT_PROJECT,
            # A module with models that imports the routers: never the models' home.
            "club/main.py": """\
                from fastapi import FastAPI
                from pydantic import BaseModel

                from club import items, users


                class Health(BaseModel):
                    ok: bool


                app = FastAPI()
                """,
            "club/users.py": handler,
            "club/items.py": handler,
        },
    )
    result = run(tmp_path, "club/users.py", "club/items.py", "club/main.py")
    changed = {
        r.path.relative_to(tmp_path).as_posix(): r.new_source.decode()
        for r in result.files
        if r.new_source is not None
    }
    assert sorted(changed) == ["club/items.py", "club/users.py"]
    for text in changed.values():
        assert "class CreateBody(BaseModel):" in text
        assert "async def create(payload: CreateBody):" in text


LIBRARY = {
    "shop/library.py": """\
        from typing import Optional

        from pydantic import BaseModel

        from shop.vendor import Vendored


        class Unused(BaseModel):
            note: Optional[str] = None


        class AlsoUnused(Vendored):
            size: Optional[int] = None
        """,
    "shop/vendor.py": """\
        from pydantic import BaseModel


        class Vendored(BaseModel):
            pass
        """,
}


def test_models_no_route_handler_reaches_are_reported_unchanged_and_never_parsed(
    tmp_path, monkeypatch
):
    write(tmp_path, {**PROJECT, **LIBRARY})
    parsed: list[str] = []
    real = engine.parse

    def recording(path: Path, data: bytes, *args: object) -> object:
        parsed.append(path.relative_to(tmp_path).as_posix())
        return real(path, data, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(engine, "parse", recording)
    result = run(tmp_path, ".")

    statuses = {r.path.relative_to(tmp_path).as_posix(): r.status.value for r in result.files}
    assert statuses["shop/library.py"] == "unchanged"
    assert statuses["shop/schemas/customer.py"] == "changed"
    # The route module, the models it reaches with their base, the ORM class they mirror.
    assert "shop/library.py" not in parsed
    assert "shop/vendor.py" not in parsed
    assert {"shop/api.py", "shop/schemas/customer.py", "shop/schemas/base.py"} <= set(parsed)


def test_a_model_file_that_does_not_parse_is_a_failure_though_no_handler_reaches_it(
    tmp_path,
):
    write(tmp_path, {**PROJECT, "shop/broken.py": "from pydantic import BaseModel\n\nclass B(:\n"})
    result = run(tmp_path, ".")
    [failed] = result.failed
    assert failed.path == tmp_path / "shop/broken.py"
    assert failed.error is not None
    assert failed.error.code == "E999"


STRINGS_APP = {
    "pyproject.toml": "[project]\nname = 'catalog'\n",
    "catalog/__init__.py": "",
    "catalog/main.py": """\
        from typing import Annotated, Optional

        from fastapi import Depends, FastAPI, Form, Query
        from pydantic import BaseModel

        app = FastAPI()


        class Filters(BaseModel):
            min_price: Optional[float] = None
            in_stock: Optional[bool] = None


        class Signup(BaseModel):
            name: str
            age: int


        class Paging(BaseModel):
            page: int = 1


        class Product(BaseModel):
            name: str
            price: float


        @app.get("/products")
        async def products(
            filters: Annotated[Filters, Query()], paging: Paging = Depends()
        ):
            return {"min_price": filters.min_price, "page": paging.page}


        @app.post("/signup")
        async def signup(form: Annotated[Signup, Form()]):
            return {"name": form.name, "age": form.age}


        @app.post("/products")
        async def add(product: Product):
            return {"name": product.name}
        """,
    "tests/test_catalog.py": """\
        from fastapi.testclient import TestClient

        from catalog.main import app

        client = TestClient(app)


        def test_query_string_values_arrive_as_strings():
            resp = client.get("/products?min_price=2.5&in_stock=true&page=2")
            assert resp.status_code == 200, resp.text
            assert resp.json() == {"min_price": 2.5, "page": 2}


        def test_a_form_post():
            resp = client.post("/signup", data={"name": "Ada", "age": "30"})
            assert resp.status_code == 200, resp.text
            assert resp.json() == {"name": "Ada", "age": 30}


        def test_a_json_body():
            resp = client.post("/products", json={"name": "Pen", "price": 2.5})
            assert resp.status_code == 200, resp.text
        """,
}


@pytest.mark.once
def test_models_from_query_strings_and_forms_keep_answering_after_the_pydantic_recipe(
    tmp_path: Path, run_vibefix: RunVibefix
) -> None:
    write(tmp_path, STRINGS_APP)

    def suite() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env={**os.environ, "PYTHONPATH": str(tmp_path)},
        )

    before = suite()
    assert "3 passed" in before.stdout, before.stdout + before.stderr
    applied = run_vibefix("apply", "--recipe", "pydantic", "--unsafe", ".", cwd=tmp_path)
    assert applied.returncode == 0, applied.stderr
    main = (tmp_path / "catalog" / "main.py").read_text(encoding="utf-8")
    # The JSON body is made strict; the models filled from strings are left alone.
    assert "    name: StrictStr\n    price: StrictFloat\n" in main
    assert "min_price: Optional[float] = None" in main
    assert "    name: str\n    age: int\n" in main
    assert "    page: int = 1\n" in main
    after = suite()
    assert "3 passed" in after.stdout, after.stdout + after.stderr
    strict = run_vibefix("diff", "--recipe", "pydantic", "--unsafe", ".", cwd=tmp_path)
    assert strict.stdout == ""


@pytest.mark.once
def test_a_project_on_pydantic_1_is_left_alone_with_a_finding_at_each_request_model(
    tmp_path: Path, run_vibefix: RunVibefix
) -> None:
    app = """\
        from fastapi import FastAPI
        from pydantic import BaseModel

        app = FastAPI()


        class UserBase(BaseModel):
            name: str

            class Config:
                orm_mode = True


        class UserCreate(UserBase):
            password: str


        @app.post("/users")
        def create(body: UserCreate):
            return body.dict()
        """
    write(tmp_path, {"requirements.txt": "fastapi==0.92.0\npydantic==1.10.5\n", "main.py": app})

    checked = run_vibefix("diff", "--recipe", "pydantic", "--unsafe", ".", cwd=tmp_path)

    assert checked.stdout == ""
    assert (
        "main.py:14:1: VF301 `UserCreate` is left as it is: the project is on Pydantic 1.10.5,"
        " and the pydantic recipe writes Pydantic 2 (`model_config`, `ConfigDict`): upgrade"
        " Pydantic first"
    ) in checked.stderr
    # FastAPI before 0.100 requires Pydantic 1, and so does ``pydantic<2``.
    for pins, said in (
        ("fastapi==0.58.1\nSQLAlchemy==1.3.18\n", "Pydantic 1 (through fastapi==0.58.1)"),
        ("fastapi\npydantic>=1.8,<2.0\n", "Pydantic 1,"),
    ):
        write(tmp_path, {"requirements.txt": pins})
        old = run_vibefix("diff", "--recipe", "pydantic", "--unsafe", ".", cwd=tmp_path)
        assert old.stdout == ""
        assert f"the project is on {said}" in old.stderr
    write(tmp_path, {"requirements.txt": "fastapi==0.110.0\npydantic>=2\n"})
    upgraded = run_vibefix("diff", "--recipe", "pydantic", "--unsafe", ".", cwd=tmp_path)
    assert 'model_config = ConfigDict(extra="forbid")' in upgraded.stdout
    # Nothing pinned, but settings on Pydantic 1's ``BaseSettings``: on Pydantic 1.
    settings = (
        "from pydantic import BaseSettings\n\n\nclass Settings(BaseSettings):\n    url: str\n"
    )
    imported = "from settings import Settings\n" + textwrap.dedent(app)
    files = {
        "requirements.txt": "fastapi\npydantic\n",
        "settings.py": settings,
        "main.py": imported,
    }
    write(tmp_path, files)
    unpinned = run_vibefix("diff", "--recipe", "pydantic", "--unsafe", ".", cwd=tmp_path)
    assert unpinned.stdout == ""
    assert "its `Settings` derives from `pydantic.BaseSettings`" in unpinned.stderr
    # Pydantic 2's own, from pydantic-settings: the recipe goes on.
    write(tmp_path, {"settings.py": settings.replace("from pydantic ", "from pydantic_settings ")})
    moved = run_vibefix("diff", "--recipe", "pydantic", "--unsafe", ".", cwd=tmp_path)
    assert 'model_config = ConfigDict(extra="forbid")' in moved.stdout


@pytest.mark.parametrize(
    ("declared", "said"),
    [
        ('[tool.poetry.dependencies]\nfastapi = "0.90.0"\n', "1 (through fastapi = 0.90.0)"),
        ('[tool.poetry.dependencies]\npydantic = "^1.10.2"\n', "1.10.2"),
        ('[tool.poetry.dependencies]\npydantic = {version = "~1.9", extras = ["email"]}\n', "1.9"),
        ('[project]\ndependencies = ["fastapi>=0.68,<0.99"]\n', "1 (through fastapi>=0.68,<0.99)"),
        ("fastapi==0.58.1\n", "1 (through fastapi==0.58.1)"),
        ('[tool.poetry.dependencies]\nfastapi = "^0.110.0"\npydantic = "^2.5"\n', ""),
        ('[tool.poetry.dependencies]\nfastapi = ">=0.90"\n', ""),
        ('[tool.poetry.dependencies]\npydantic-settings = "^1.0"\nfastapi-utils = "0.2.1"\n', ""),
        ('[project]\ndependencies = ["pydantic>=1.10", "fastapi>=0.100"]\n', ""),
    ],
    ids=[
        "poetry-fastapi",
        "poetry-pydantic",
        "poetry-table",
        "pep621-upper-bound",
        "requirement",
        "poetry-pydantic-2",
        "poetry-lower-bound",
        "other-distributions",
        "pep621-lower-bounds",
    ],
)
def test_pydantic_1_is_read_from_every_way_a_project_declares_it(declared: str, said: str) -> None:
    assert pydantic_1(declared.encode()) == said
