"""The fast indexer gives ``FactCollector``'s facts: file by file on the fixtures, the
examples and FastAPI's own sources (``bench/index_parity.py`` runs the whole library
corpus), on snippets of what libcst's scope rules make subtle, and it refuses what it
cannot index exactly."""

from __future__ import annotations

import ast
import importlib.util
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper
from vibefix.codemods import ALL, RECIPES

from vibefix.config import Config
from vibefix.engine import run
from vibefix.engine.context import FileContext
from vibefix.engine.fastindex import Refused, fast_facts
from vibefix.engine.imports import ImportPlanner
from vibefix.sessions.facts import ModuleNames

ROOT = Path(__file__).resolve().parents[1]


def _parity_module() -> ModuleType:
    script = ROOT / "bench" / "index_parity.py"
    spec = importlib.util.spec_from_file_location("index_parity", script)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


parity = _parity_module()
NEEDED = parity.needed()


def _sample() -> list[Path]:
    folders = [ROOT / "tests" / "fixtures", ROOT / "examples"]
    fastapi = importlib.util.find_spec("fastapi")
    if fastapi is not None and fastapi.origin is not None:
        folders.append(Path(fastapi.origin).parent)
    return parity.files(folders)


@pytest.mark.parametrize("path", _sample(), ids=str)
def test_same_facts_as_libcst(path: Path) -> None:
    outcome = parity.compare(path, NEEDED)
    assert outcome.mismatch == ""


SNIPPETS = {
    "imports_and_aliases": """
        import os.path
        import httpx as hx
        from . import sibling
        from ..pkg import thing as other
        from .mod import *

        def f():
            os.path.join("a")
            hx.get("u")
            sibling.run()
            other()
    """,
    "locals_and_types": """
        import requests

        class Repo:
            def __init__(self):
                self.client = requests.Session()

            def get(self, key: "str | None" = None):
                session = self.client
                for session in range(3):
                    pass
                return session.get(key), super().get(key)

        repo = Repo()
    """,
    "closures_comprehensions_lambdas": """
        from fastapi import Depends, FastAPI
        app = FastAPI(lifespan=None, **{})

        def get_db(x=1):
            db = make()
            yield db

        @app.get("/")
        async def handler(db=Depends(get_db), *args, **kwargs):
            items = [str(i) for i in db.all() if i]
            sort = lambda y, z=items: y.key(z)
            def inner():
                nonlocal items
                items = other(items)
            try:
                await db.flush()
            except ValueError as error:
                print(error)
            return (await db.fetch()), {k: v for k, v in kwargs.items()}
    """,
    "annotations_and_globals": """
        from typing import Annotated, Optional, cast
        import typing as t
        counter = 0

        def bump(a: Annotated[Optional["Client"], "doc"], b: t.Literal["x"] = None) -> "Client":
            global counter
            counter += 1
            c = cast("Client", a)
            return c.send(f"{a.name!r:>{counter}}", b"bytes", 1.5, True)

        class Client:
            pass
    """,
    "types_through_aliases": """
        from typing import Annotated, Any, ClassVar, Iterator, Optional, TypeAlias, Union
        from fastapi import Depends, Security
        from sqlalchemy.orm import Mapped, Session, sessionmaker
        from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
        import httpx

        SessionLocal = sessionmaker(class_=AsyncSession)
        AsyncLocal = async_sessionmaker()
        Plain = sessionmaker()
        DB = Session
        MaybeDB = Session | None
        Un = Union[Session, None]
        Dep: TypeAlias = Annotated[Session, Depends(lambda: 1)]
        FLAG = True

        def get_db() -> Iterator[Session]:
            db = SessionLocal()
            try:
                yield db
            finally:
                db.close()

        def get_gen():
            db = Plain()
            yield db

        SessionDep = Annotated[Session, Depends(get_db)]
        AnyDep = Annotated[Any, Depends(dependency=get_gen)]
        SecDep = Annotated[object, Security(get_gen, scopes=["x"])]

        class Repo:
            session: Session
            count: ClassVar[int]
            created: Mapped[httpx.Client]
            other: "Session"
            twin: Session
            twin: httpx.Client

            def __init__(self, db: Session, client=None):
                self.db = db
                self.client = client

            @property
            def prop(self) -> Session:
                return self.db

            @staticmethod
            def make():
                return httpx.Client()

            def first(self, dep: SessionDep, d2=Depends(get_gen), d3: Any = Depends()):
                s: Optional[Session] = None
                if dep:
                    s = get_db()
                else:
                    s = Plain()
                s.query()
                return s

            def many(self):
                a = httpx.Client()
                a = httpx.AsyncClient()
                a.get()
                if a: return None
                return a
    """,
    "duplicate_definitions_and_star_imports": """
        import sys
        from .other import *

        if sys.version_info > (3, 8):
            def twice():
                return unbound()
        elif sys.platform == "win32":
            def twice(): return 1
        else:
            if True:
                def twice(): pass

        try:
            import ujson
        except ImportError:  # a comment
            def ujson(): pass
        finally:
            pass

        for i in range(3): pass
        else:
            def in_else():
                return {}

        def twice():
            return StarClient()
    """,
    "parenthesized_subscript_elements": """
        from typing import Annotated, Optional, Union
        from fastapi import Depends
        from sqlalchemy.orm import Session

        def get_db():
            return Session()

        A = Annotated[(Session), Depends(get_db)]
        B = Annotated[(Session, int)]
        C = Union[(Session), None]
        D = Optional[(Session)]
        F = Annotated[
            (Session),
            Depends(get_db),
        ]
        G = Annotated[("(", Session)]
        H = Annotated[((Session), int)]

        def f(x: Annotated[(Session), "m"], y=(Depends(get_db))):
            return x
    """,
    "dependency_overrides": """
        from fastapi import FastAPI

        app = FastAPI()

        def get_db():
            yield 1

        def override_get_db():
            yield 2

        app.dependency_overrides[get_db] = override_get_db
        app.dependency_overrides[get_db, 1] = get_db
        app.state.x[get_db] = override_get_db
        app.dependency_overrides = {get_db: override_get_db, **{}}
        app.overrides = {get_db: override_get_db}
    """,
    "statement_refined_in_steps": """
        from sqlalchemy import select
        from sqlalchemy.orm import Session

        def search(db: Session, a, b, c):
            query = select(int)
            if a:
                query = query.where(a)
            if b:
                query = query.where(b).order_by(b)
            if c:
                query = query.join(c)
            query.limit(1)
            other = select(int)
            other = other.where(a)
            other = len(other)
            return db.scalars(query).all(), other.bit_length()
    """,
    "names_assigned_anew": """
        class Item:
            def dump(self): ...

        class Row:
            def __init__(self, **kw): ...

        def add(body: Item, rows: list[Item]):
            body = Row(**body.dump())
            first, (second, *rest) = body.dump(), (1, 2)
            item = Item()
            for row in rows:
                item.dump()
                item = Row()
            while rows:
                rows.pop().dump()
                rows = []
            return first, second, rest
    """,
    "except_as": """
        import pydantic
        from pydantic import ValidationError

        def f(data):
            try:
                return pydantic.TypeAdapter(int).validate_python(data)
            except ValidationError as e:
                return e.json()
            except (KeyError, ValueError) as error:
                return error.args
            except pydantic.PydanticUserError as wrong:
                return wrong.code
    """,
    "non_ascii_columns": """
        def é(ü="ß"):
            return "ä".join(ü) + é.__name__.upper()
    """,
}


@pytest.mark.parametrize("name", sorted(SNIPPETS))
def test_snippet_gives_the_same_facts(name: str, tmp_path: Path) -> None:
    path = tmp_path / "pkg" / "mod.py"
    path.parent.mkdir()
    (path.parent / "__init__.py").write_text("")
    path.write_text(textwrap.dedent(SNIPPETS[name]), encoding="utf-8")
    outcome = parity.compare(path, NEEDED)
    assert outcome.refused == ""
    assert outcome.mismatch == ""


@pytest.mark.parametrize(
    "source",
    ["match x:\n    case 1:\n        pass\n", "x = 1\ry = 2\r"],
    ids=["match", "lone_carriage_return"],
)
def test_refuses_what_it_cannot_index_exactly(source: str) -> None:
    with pytest.raises(Refused):
        fast_facts(Path("m.py"), source, "m", "")


def test_module_names_from_ast_are_those_of_the_walk() -> None:
    source = textwrap.dedent(
        """
        from sqlalchemy.orm import Session
        from typing import Iterator as It, Any
        from .x import *
        SessionLocal = sessionmaker()
        engine: Engine = create_engine("sqlite://")
        a, b = 1, 2
        def AsyncSession(): ...
        if True:
            hidden = 1
        """
    )
    module = cst.parse_module(source)
    wrapper = MetadataWrapper(module)
    context = FileContext(Path("m.py"), "m", Config(root=Path(".")), ImportPlanner(module, {}, {}))
    collector = ModuleNames(context)
    wrapper.visit(collector)
    assert ModuleNames.facts_from_ast(ast.parse(source), source.encode()) == collector.facts()


ENGINE_PROJECT = {
    "app/__init__.py": "",
    "app/db.py": """
        from sqlalchemy.orm import sessionmaker
        SessionLocal = sessionmaker()

        def get_db():
            db = SessionLocal()
            yield db
    """,
    "app/main.py": """
        import time
        from fastapi import Depends, FastAPI
        from .db import get_db
        app = FastAPI()

        @app.get("/")
        async def root(db=Depends(get_db)):
            time.sleep(1)
            return db.query(1).all()
    """,
    "app/client.py": """
        import requests

        def fetch(url):
            return requests.get(url).json()
    """,
}


def test_shard_indexes_a_reach_only_file_as_libcst_does(tmp_path: Path) -> None:
    for name, text in ENGINE_PROJECT.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    codemods = tuple(c for c in ALL if c.code in RECIPES["default"])
    options = run.Options(Config(root=tmp_path), codemods, project=tmp_path, known=ALL)
    codes = tuple(c.code for c in codemods if c.follows_plan)
    fast, slow = run.Shard(options), run.Shard(options)
    slow._index_fast = lambda candidate: None  # type: ignore[method-assign]
    for name in ("app/db.py", "app/main.py"):
        path = tmp_path / name
        candidate = run.Candidate(path, path.read_bytes(), codes, keep=False)
        assert fast._index_fast(candidate) is not None
        assert list(fast.index([candidate])) == list(slow.index([candidate]))
    client = tmp_path / "app" / "client.py"
    importing_requests = run.Candidate(client, client.read_bytes(), codes, keep=False)
    assert fast._index_fast(importing_requests) is None  # HttpCollector needs the walk


def test_windows_line_endings_give_the_same_facts(tmp_path: Path) -> None:
    path = tmp_path / "mod.py"
    source = textwrap.dedent(SNIPPETS["closures_comprehensions_lambdas"])
    path.write_bytes(source.replace("\n", "\r\n").encode())
    outcome = parity.compare(path, NEEDED)
    assert outcome.refused == ""
    assert outcome.mismatch == ""


def test_a_call_before_a_local_is_assigned_anew_is_of_what_it_held(tmp_path: Path) -> None:
    # ``body = Row(**body.dump())`` calls the parameter's ``dump``; in a loop, a call
    # before the assignment may be of either, and is of an unknown object.
    path = tmp_path / "pkg" / "mod.py"
    path.parent.mkdir()
    source = textwrap.dedent(SNIPPETS["names_assigned_anew"])
    facts = fast_facts(path, source, "pkg.mod", "pkg")
    (add,) = [f for f in facts.functions if f.qualname == "pkg.mod.add"]
    dumps = {call.line: call.targets for call in add.calls if call.targets[0].endswith(".dump")}

    assert dumps[9] == ("pkg.mod.Item().dump",)
    assert all(target.startswith("?") for target in dumps[13])


def test_an_exception_caught_by_its_class_is_an_instance_of_it(tmp_path: Path) -> None:
    path = tmp_path / "pkg" / "mod.py"
    path.parent.mkdir()
    facts = fast_facts(path, textwrap.dedent(SNIPPETS["except_as"]), "pkg.mod", "pkg")
    (f,) = [f for f in facts.functions if f.qualname == "pkg.mod.f"]
    targets = {call.line: call.targets for call in f.calls}

    assert targets[9] == ("pydantic.ValidationError().json",)
    # A tuple of classes, or a name bound to two of them: no one class.
    # ``error.args``, ``wrong.code``: attributes read, no calls.
    assert sorted(targets) == [7, 9]
