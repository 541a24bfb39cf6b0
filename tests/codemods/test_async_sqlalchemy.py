"""VF203 over a whole project: the rewrite, what it leaves, and the rewritten app run
against a real SQLite database with blockbuster watching the event loop."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import make_url
from vibefix.codemods import ALL, RECIPES

from tests.test_async_project import changed, write
from vibefix.config import Config
from vibefix.engine import run as engine
from vibefix.engine.run import RunResult

ASYNC_DB = tuple(codemod for codemod in ALL if codemod.code in RECIPES["async-db"])
DEFAULT = tuple(codemod for codemod in ALL if codemod.code in RECIPES["default"])

PROJECT = {
    "pyproject.toml": "[project]\nname = 'shop'\n",
    "shop/__init__.py": "",
    "shop/database.py": """\
import os

from sqlalchemy import create_engine
from sqlalchemy.orm import declarative_base, sessionmaker

engine = create_engine(os.environ.get("DATABASE_URL", "sqlite:///./shop.db"))
SessionLocal = sessionmaker(autoflush=False, bind=engine)
Base = declarative_base()


def get_db():
    db = SessionLocal()
    try:
        yield db
    finally:
        db.close()
""",
    "shop/models.py": """\
from sqlalchemy import Column, ForeignKey, Integer, String
from sqlalchemy.orm import relationship

from shop.database import Base


class User(Base):
    __tablename__ = "users"
    id = Column(Integer, primary_key=True)
    name = Column(String)
    orders = relationship("Order", back_populates="user")


class Order(Base):
    __tablename__ = "orders"
    id = Column(Integer, primary_key=True)
    user_id = Column(Integer, ForeignKey("users.id"))
    user = relationship("User", back_populates="orders")
""",
    "shop/main.py": """\
from fastapi import FastAPI

from shop.database import Base, engine
from shop.routers import router

# Create the tables
Base.metadata.create_all(bind=engine)

app = FastAPI()
app.include_router(router)
""",
    "shop/routers.py": """\
from typing import Optional

from fastapi import APIRouter, Depends, HTTPException
from sqlalchemy.orm import Session

from shop import models
from shop.database import get_db

router = APIRouter()


def user_dict(user: models.User) -> dict:
    return {"id": user.id, "name": user.name, "orders": [o.id for o in user.orders]}


@router.post("/users")
def create_user(payload: dict, db: Session = Depends(get_db)):
    user = models.User(name=payload["name"])
    db.add(user)
    db.commit()
    db.refresh(user)
    return user_dict(user)


@router.get("/users/{user_id}")
def get_user(user_id: int, db: Session = Depends(get_db)):
    user = db.query(models.User).filter(models.User.id == user_id).first()
    if user is None:
        raise HTTPException(404)
    return user_dict(user)


@router.get("/users")
def list_users(name: Optional[str] = None, db: Session = Depends(get_db)):
    query = db.query(models.User)
    if name:
        query = query.filter(models.User.name == name)
    return [u.name for u in query.order_by(models.User.id).all()]


@router.get("/count")
def count_users(db: Session = Depends(get_db)):
    return {"users": db.query(models.User).count()}


@router.post("/users/{user_id}/orders")
def add_order(user_id: int, db: Session = Depends(get_db)):
    db.add(models.Order(user_id=user_id))
    db.commit()
    return {"ok": True}


@router.delete("/users/{user_id}/orders")
def drop_orders(user_id: int, db: Session = Depends(get_db)):
    deleted = db.query(models.Order).filter(models.Order.user_id == user_id).delete()
    db.commit()
    return {"deleted": deleted}
""",
}


def run(root: Path, codemods=ASYNC_DB, unsafe: bool = True) -> RunResult:
    options = engine.Options(Config(root=root), codemods, 1, unsafe)
    return engine.run([root], options)


def run_app(tmp_path: Path, new: dict[str, str], check: str) -> str:
    """Write the rewritten files and run ``check`` against the app on aiosqlite; what it
    printed."""
    for name, source in new.items():
        (tmp_path / name).write_text(source, encoding="utf-8")
    (tmp_path / "check.py").write_text(check, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "check.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'shop.db'}"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def vf203(result: RunResult) -> list[str]:
    return [
        f"{f.path.name}:{f.position.line}: {f.message}"
        for f in result.findings
        if f.code == "VF203"
    ]


def test_the_project_moves_to_async_session(tmp_path):
    write(tmp_path, PROJECT)

    result = run(tmp_path)

    assert vf203(result) == []
    new = changed(result, tmp_path)
    assert sorted(new) == ["shop/database.py", "shop/main.py", "shop/routers.py"]
    database, main, routers = new["shop/database.py"], new["shop/main.py"], new["shop/routers.py"]
    assert 'engine = create_async_engine(_async_url(os.environ.get("DATABASE_URL"' in database
    assert "async_sessionmaker(autoflush=False, bind=engine, expire_on_commit=False)" in database
    assert "        await db.close()\n" in database
    assert "        await connection.run_sync(Base.metadata.create_all)\n" in main
    assert "app = FastAPI(lifespan=_db_lifespan)" in main
    assert "Base.metadata.create_all(bind=engine)" not in main
    # a relationship read by a helper is loaded by the query, or by a second refresh
    assert ".options(selectinload(models.User.orders)).limit(1))" in routers
    assert '    await db.refresh(user)\n    await db.refresh(user, ["orders"])\n' in routers
    # a query kept in a variable, a count, a bulk delete
    assert "    query = select(models.User)\n" in routers
    assert "(await db.scalars(query.order_by(models.User.id))).unique().all()" in routers
    assert "select(func.count()).select_from(select(models.User).subquery())" in routers
    assert "(await db.execute(delete(models.Order).where(" in routers
    assert "db.query(" not in routers
    for source in new.values():
        compile(source, "rewritten", "exec", dont_inherit=True)


APP_CHECK = """\
import asyncio

from blockbuster import blockbuster_ctx
from fastapi.testclient import TestClient

from shop.database import engine
from shop.main import app

with blockbuster_ctx(["shop"]), TestClient(app) as client:
    user = client.post("/users", json={"name": "ann"}).json()
    assert user == {"id": 1, "name": "ann", "orders": []}, user
    client.post("/users/1/orders")
    client.post("/users/1/orders")
    assert client.get("/users/1").json() == {"id": 1, "name": "ann", "orders": [1, 2]}
    assert client.get("/users", params={"name": "ann"}).json() == ["ann"]
    assert client.get("/users", params={"name": "bob"}).json() == []
    assert client.get("/count").json() == {"users": 1}
    assert client.get("/users/9").status_code == 404
    assert client.delete("/users/1/orders").json() == {"deleted": 2}
    assert client.get("/users/1").json()["orders"] == []
asyncio.run(engine.dispose())
print("ok")
"""


@pytest.mark.once
def test_the_rewritten_project_runs_on_aiosqlite_without_blocking_the_loop(tmp_path):
    write(tmp_path, PROJECT)
    result = run(tmp_path)

    printed = run_app(tmp_path, changed(result, tmp_path), APP_CHECK)

    assert printed == "ok\n"


@pytest.mark.once
def test_an_annotated_alias_of_session_in_the_handlers_module_becomes_async_session(tmp_path):
    routers = textwrap.dedent(PROJECT["shop/routers.py"])
    aliased = (
        routers.replace(
            "def get_user(user_id: int, db: Session = Depends(get_db)):",
            "def get_user(user_id: int, db: DbSession):",
        )
        .replace(
            "router = APIRouter()\n",
            "router = APIRouter()\nDbSession: TypeAlias = Annotated[Session, Depends(get_db)]\n",
        )
        .replace("from typing import Optional", "from typing import Annotated, Optional, TypeAlias")
    )
    write(tmp_path, {**PROJECT, "shop/routers.py": aliased})

    result = run(tmp_path)

    assert vf203(result) == []
    new = changed(result, tmp_path)
    rewritten = new["shop/routers.py"]
    assert "DbSession: TypeAlias = Annotated[AsyncSession, Depends(get_db)]\n" in rewritten
    assert "async def get_user(user_id: int, db: DbSession):" in rewritten
    assert ".options(selectinload(models.User.orders)).limit(1))" in rewritten
    assert run_app(tmp_path, new, APP_CHECK) == "ok\n"


def test_review_rewrite_needs_unsafe_and_is_reported_otherwise(tmp_path):
    write(tmp_path, PROJECT)

    result = run(tmp_path, unsafe=False)

    assert changed(result, tmp_path) == {}
    assert any("AsyncSession" in message for message in vf203(result))


def test_default_recipe_leaves_sync_sqlalchemy(tmp_path):
    write(tmp_path, PROJECT)

    result = run(tmp_path, DEFAULT)

    assert changed(result, tmp_path) == {}
    assert vf203(result) == []


def _with(tmp_path: Path, name: str, text: str) -> RunResult:
    write(tmp_path, {**PROJECT, name: text})
    return run(tmp_path)


def test_one_obstacle_anywhere_leaves_the_whole_project(tmp_path):
    # A script that reads a relationship on an object from a helper VF203 cannot follow.
    script = """\
        from shop.database import SessionLocal
        from shop import models


        def newest(db):
            return db.query(models.User).order_by(models.User.id.desc()).first()


        def report():
            db = SessionLocal()
            user = newest(db)
            return len(user.orders)
        """

    result = _with(tmp_path, "shop/report.py", script)

    assert changed(result, tmp_path) == {}
    found = vf203(result)
    # ``db`` has no annotation, but its one call hands it a session: ``newest`` would
    # be async, and the sync script holds it back.
    assert any(
        "report.py:5: `newest` uses the session but cannot become `async def`: it is called"
        " from sync code in `report` at report.py:11" in f
        for f in found
    ), found


def test_an_unknown_session_method_is_a_finding(tmp_path):
    routers = (
        PROJECT["shop/routers.py"]
        + """

@router.post("/raw")
def raw(db: Session = Depends(get_db)):
    db.connection().exec_driver_sql("SELECT 1")
    return {}
"""
    )
    result = _with(tmp_path, "shop/routers.py", routers)

    assert changed(result, tmp_path) == {}
    assert any("no rewrite for `db.connection()`" in f for f in vf203(result))


def test_expire_on_commit_true_is_a_finding(tmp_path):
    database = PROJECT["shop/database.py"].replace(
        "sessionmaker(autoflush=False, bind=engine)",
        "sessionmaker(autoflush=False, bind=engine, expire_on_commit=True)",
    )
    result = _with(tmp_path, "shop/database.py", database)

    assert changed(result, tmp_path) == {}
    assert any("`expire_on_commit` is not False" in f for f in vf203(result))


@pytest.mark.once
def test_create_all_after_the_app_moves_into_the_lifespan_and_the_app_runs(tmp_path):
    main = (
        textwrap.dedent(PROJECT["shop/main.py"]).replace(
            "# Create the tables\nBase.metadata.create_all(bind=engine)\n\n", ""
        )
        + "\n# Create the tables\nBase.metadata.create_all(bind=engine)\n"
    )
    result = _with(tmp_path, "shop/main.py", main)

    assert vf203(result) == []
    new = changed(result, tmp_path)
    rewritten = new["shop/main.py"]
    assert "Base.metadata.create_all(bind=engine)" not in rewritten
    assert rewritten.index("# Create the tables\n@contextlib.asynccontextmanager") < (
        rewritten.index("app = FastAPI(lifespan=_db_lifespan)")
    )
    assert rewritten.endswith("app.include_router(router)\n")
    assert run_app(tmp_path, new, APP_CHECK) == "ok\n"


def test_the_generated_url_helper_picks_each_database_s_async_driver(tmp_path):
    write(tmp_path, PROJECT)
    database = changed(run(tmp_path), tmp_path)["shop/database.py"]
    start = database.index("def _async_url")
    end = database.index("\n\n\n", start)
    namespace: dict[str, object] = {}
    exec(  # the helper as written, with the names it imports
        "from sqlalchemy.engine import URL, make_url\n" + database[start:end], namespace
    )
    helper = namespace["_async_url"]
    expected = {
        "sqlite:///./shop.db": "sqlite+aiosqlite:///./shop.db",
        "sqlite+pysqlite:///:memory:": "sqlite+aiosqlite:///:memory:",
        "postgresql://u:secret@db:5432/shop": "postgresql+asyncpg://u:secret@db:5432/shop",
        "postgresql+psycopg2://u@db/shop": "postgresql+asyncpg://u@db/shop",
        "postgresql+psycopg://u@db/shop": "postgresql+psycopg://u@db/shop",
        "postgresql+asyncpg://u@db/shop": "postgresql+asyncpg://u@db/shop",
        "mysql+pymysql://u@db/shop": "mysql+aiomysql://u@db/shop",
        "mssql+pyodbc://u@db/shop": "mssql+pyodbc://u@db/shop",
    }
    for url, wanted in expected.items():
        assert helper(url) == make_url(wanted), url  # type: ignore[operator]


def test_a_background_task_holds_its_session_in_async_with(tmp_path):
    tasks = """\
        from shop.database import SessionLocal
        from shop import models


        async def nightly_names():
            db = SessionLocal()
            names = [user.name for user in db.query(models.User).all()]
            db.close()
            return names
        """
    result = _with(tmp_path, "shop/tasks.py", tasks)

    assert vf203(result) == []
    new = changed(result, tmp_path)["shop/tasks.py"]
    assert (
        "    async with SessionLocal() as db:\n"
        "        names = [user.name for user in"
        " (await db.scalars(select(models.User))).unique().all()]\n"
        "    return names\n"
    ) in new


LOADS = """

class OrderOut(BaseModel):
    id: int


class UserBase(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    orders: list[OrderOut] = []


class UserOut(UserBase):
    id: int


@router.get("/eager/{user_id}")
def eager(user_id: int, db: Session = Depends(get_db)):
    user = (
        db.query(models.User)
        .options(joinedload(models.User.orders))
        .filter(models.User.id == user_id)
        .first()
    )
    return user_dict(user)


@router.get("/keyword/{user_id}")
def keyword(user_id: int, db: Session = Depends(get_db)):
    user = db.query(models.User).filter(models.User.id == user_id).one()
    return user_dict(user=user)


@router.get("/method/{user_id}")
def by_method(user_id: int, db: Session = Depends(get_db)):
    user = db.query(models.User).filter(models.User.id == user_id).one()
    return {"orders": user.order_ids()}


@router.get("/annotated/{user_id}")
def annotated(user_id: int, db: Session = Depends(get_db)) -> UserOut:
    return db.query(models.User).filter(models.User.id == user_id).one()


@router.post("/spread")
def spread(payload: dict, db: Session = Depends(get_db)):
    user = models.User(name=payload["name"])
    db.add(user)
    db.commit()
    db.refresh(
        user,
    )
    return user_dict(user)
"""

LOADS_CHECK = """\
import asyncio

from blockbuster import blockbuster_ctx
from fastapi.testclient import TestClient

from shop.database import engine
from shop.main import app

with blockbuster_ctx(["shop"]), TestClient(app) as client:
    made = client.post("/spread", json={"name": "ann"}).json()
    assert made == {"id": 1, "name": "ann", "orders": []}, made
    client.post("/users/1/orders")
    client.post("/users/1/orders")
    whole = {"id": 1, "name": "ann", "orders": [1, 2]}
    assert client.get("/eager/1").json() == whole
    assert client.get("/keyword/1").json() == whole
    assert client.get("/method/1").json() == {"orders": [1, 2]}
    assert client.get("/annotated/1").json() == {"id": 1, "orders": [{"id": 1}, {"id": 2}]}
asyncio.run(engine.dispose())
print("ok")
"""


@pytest.mark.once
def test_relationships_read_every_way_are_loaded_and_the_app_runs(tmp_path):
    routers = PROJECT["shop/routers.py"].replace(
        "from sqlalchemy.orm import Session\n",
        "from pydantic import BaseModel, ConfigDict\n"
        "from sqlalchemy.orm import Session, joinedload\n",
    )
    models = PROJECT["shop/models.py"].replace(
        '    orders = relationship("Order", back_populates="user")\n',
        '    orders = relationship("Order", back_populates="user")\n\n'
        "    def order_ids(self):\n"
        "        return [order.id for order in self.orders]\n",
    )
    write(tmp_path, {**PROJECT, "shop/routers.py": routers + LOADS, "shop/models.py": models})
    result = run(tmp_path)
    assert vf203(result) == []
    new = changed(result, tmp_path)
    routers_after = new["shop/routers.py"]
    # joinedload already loads the orders: no selectinload, and the result is uniqued
    assert ".options(joinedload(models.User.orders))" in routers_after
    assert "selectinload(models.User.orders)).options" not in routers_after
    assert ".limit(1))).unique().first()" in routers_after
    # the keyword helper, the model's method and the return annotation all read orders
    assert routers_after.count(".options(selectinload(models.User.orders))") == 4
    assert "    await db.refresh(\n        user,\n    )\n" in routers_after
    assert '    await db.refresh(\n        user,\n        ["orders"],\n    )\n' in routers_after
    run_app(tmp_path, new, LOADS_CHECK)


OBSTACLES = {
    "scoped_session": (
        "shop/database.py",
        "SessionLocal = sessionmaker(autoflush=False, bind=engine)\n",
        "SessionLocal = sessionmaker(autoflush=False, bind=engine)\n"
        "from sqlalchemy.orm import scoped_session\n"
        "ScopedSession = scoped_session(SessionLocal)\n",
        "`scoped_session` hands out one session per thread",
    ),
    "factory_begin": (
        "shop/routers.py",
        '@router.get("/count")\n',
        '@router.post("/touch")\n'
        "async def touch():\n"
        "    from shop.database import SessionLocal\n\n"
        "    with SessionLocal.begin() as db:\n"
        "        db.add(models.User(name='x'))\n"
        "    return {}\n\n\n"
        '@router.get("/count")\n',
        "the session factory's `begin` has no rewrite",
    ),
    "dependency_called": (
        "shop/routers.py",
        '@router.get("/count")\n',
        "def first_user():\n"
        "    db = next(get_db())\n"
        "    return db.query(models.User).first()\n\n\n"
        '@router.get("/count")\n',
        "the session dependency `get_db` is called directly",
    ),
    "query_iterated": (
        "shop/routers.py",
        '@router.get("/count")\n',
        '@router.get("/names")\n'
        "def names(db: Session = Depends(get_db)):\n"
        "    query = db.query(models.User)\n"
        "    return [user.name for user in query]\n\n\n"
        '@router.get("/count")\n',
        "the legacy query `query` is used as a result",
    ),
    "engine_handed_on": (
        "shop/routers.py",
        '@router.get("/count")\n',
        '@router.post("/reset")\n'
        "def reset():\n"
        "    from shop.database import Base, engine\n"
        "    Base.metadata.drop_all(engine)\n"
        "    return {}\n\n\n"
        '@router.get("/count")\n',
        "the engine is handed to `drop_all`",
    ),
    "relationship_of_relationship_of_a_new_object": (
        "shop/routers.py",
        '@router.get("/count")\n',
        '@router.post("/orders/{user_id}/siblings")\n'
        "def siblings(user_id: int, db: Session = Depends(get_db)):\n"
        "    order = models.Order(user_id=user_id)\n"
        "    db.add(order)\n"
        "    db.commit()\n"
        "    db.refresh(order)\n"
        "    return len(order.user.orders)\n\n\n"
        '@router.get("/count")\n',
        "reads a relationship of a relationship",
    ),
    "helper_result_in_response": (
        "shop/routers.py",
        '@router.get("/count")\n',
        "def load_user(db: Session, user_id: int):\n"
        "    return db.query(models.User).filter(models.User.id == user_id).one()\n\n\n"
        '@router.get("/by-helper/{user_id}")\n'
        "def by_helper(user_id: int, db: Session = Depends(get_db)):\n"
        "    return user_dict(load_user(db, user_id))\n\n\n"
        '@router.get("/count")\n',
        "a relationship (`orders`) is read on",
    ),
    "read_after_rollback": (
        "shop/routers.py",
        '@router.get("/count")\n',
        '@router.post("/rename/{user_id}")\n'
        "def rename(user_id: int, db: Session = Depends(get_db)):\n"
        "    user = db.query(models.User).filter(models.User.id == user_id).one()\n"
        "    try:\n"
        "        user.name = 'x'\n"
        "        db.commit()\n"
        "    except Exception:\n"
        "        db.rollback()\n"
        "        raise HTTPException(409, f'{user.name} is taken')\n"
        "    return {}\n\n\n"
        '@router.get("/count")\n',
        "is read after `rollback()`",
    ),
    "deferred_column": (
        "shop/models.py",
        "    name = Column(String)\n",
        "    name = deferred(Column(String))\n",
        "is a deferred column",
    ),
    "test_client_without_with": (
        "shop/main.py",
        "app.include_router(router)\n",
        "app.include_router(router)\n\n\ndef smoke():\n"
        "    from fastapi.testclient import TestClient\n\n"
        "    return TestClient(app).get('/count').status_code\n",
        "a `TestClient` not entered with `with`",
    ),
    "model_and_columns": (
        "shop/routers.py",
        '@router.get("/count")\n',
        '@router.get("/pairs")\n'
        "def pairs(db: Session = Depends(get_db)):\n"
        "    return [(u.id, n) for u, n in db.query(models.User, models.User.name).all()]\n\n\n"
        '@router.get("/count")\n',
        "a legacy query of a model and other columns",
    ),
    "session_on_app_state": (
        "shop/main.py",
        "app.include_router(router)\n",
        "app.include_router(router)\n"
        "from shop.database import SessionLocal\n"
        "app.state.db = SessionLocal()\n\n\n"
        "@app.get('/state')\n"
        "def state(request: Request):\n"
        "    return request.app.state.db.query(User).count()\n",
        "the session kept on `app.state.db` is shared by every request",
    ),
    "session_in_a_class_body": (
        "shop/routers.py",
        '@router.get("/count")\n',
        '@router.get("/klass")\n'
        "async def klass():\n"
        "    class Cached:\n"
        "        db = SessionLocal()\n"
        "        total = db.query(models.User).count()\n"
        "        db.close()\n"
        "    return {'total': Cached.total}\n\n\n"
        '@router.get("/count")\n',
        "it is used in a class body, where `await` cannot go",
    ),
    "lifespan_not_a_context_manager": (
        "shop/main.py",
        "app = FastAPI()\n",
        "async def lifespan(app):\n    yield\n\n\napp = FastAPI(lifespan=lifespan)\n",
        "is no `@asynccontextmanager`",
    ),
}


@pytest.mark.parametrize("case", sorted(OBSTACLES))
def test_an_obstacle_anywhere_leaves_the_project_and_says_why(tmp_path, case):
    name, old, new, reason = OBSTACLES[case]
    source = textwrap.dedent(PROJECT[name])
    assert old in source
    text = source.replace(old, new)
    if case == "deferred_column":
        text = text.replace("import relationship", "import deferred, relationship")
    if case == "session_in_a_class_body":
        text = "from shop.database import SessionLocal\n" + text
    if case == "session_on_app_state":
        text = text.replace("from fastapi import FastAPI", "from fastapi import FastAPI, Request")
        text = text.replace(
            "from shop.routers import router",
            "from shop.models import User\nfrom shop.routers import router",
        )
    result = _with(tmp_path, name, text)

    new = changed(result, tmp_path)
    if case == "session_on_app_state":
        # VF201 (default recipe) gives the handler the request's session; VF203 waits.
        assert list(new) == ["shop/main.py"]
        assert "Annotated[Session, Depends(get_db)]" in new["shop/main.py"]
    else:
        assert new == {}
    assert any(reason in finding for finding in vf203(result)), vf203(result)


def test_a_file_outside_the_paths_given_holds_the_migration_back(tmp_path):
    write(tmp_path, PROJECT)
    options = engine.Options(Config(root=tmp_path), ASYNC_DB, 1, True)

    result = engine.run([tmp_path / "shop" / "routers.py", tmp_path / "shop" / "main.py"], options)

    assert changed(result, tmp_path) == {}
    assert any("run it on the whole project" in f for f in vf203(result)), vf203(result)


MORE = """

class Badge(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    count: int
    lines: list[int] = Field(default=[], validation_alias="order_ids")


@router.get("/badge/{user_id}", response_model=Badge)
def badge(user_id: int, db: Session = Depends(get_db)):
    return db.query(models.User).filter(models.User.id == user_id).one()


@router.post("/users/{user_id}/rename")
def rename(user_id: int, name: str, db: Session = Depends(get_db)):
    db.query(models.User).filter(models.User.id == user_id).update(
        {"name": name}, synchronize_session=False
    )
    db.commit()
    return {"ok": True}
"""

MORE_CHECK = """\
import asyncio

from fastapi.testclient import TestClient

from shop.database import engine
from shop.main import app

with TestClient(app) as client:
    client.post("/users", json={"name": "ann"})
    client.post("/users/1/orders")
    assert client.get("/badge/1").json() == {"id": 1, "count": 1, "lines": [1]}
    assert client.post("/users/1/rename", params={"name": "bo"}).json() == {"ok": True}
    assert client.get("/users/1").json()["name"] == "bo"
asyncio.run(engine.dispose())
print("ok")
"""


@pytest.mark.once
def test_a_property_and_an_aliased_field_are_loaded_and_bulk_updates_keep_their_options(
    tmp_path,
):
    routers = PROJECT["shop/routers.py"].replace(
        "from sqlalchemy.orm import Session\n",
        "from pydantic import BaseModel, ConfigDict, Field\nfrom sqlalchemy.orm import Session\n",
    )
    models = PROJECT["shop/models.py"].replace(
        '    orders = relationship("Order", back_populates="user")\n',
        '    orders = relationship("Order", back_populates="user")\n\n'
        "    @property\n"
        "    def count(self):\n"
        "        return len(self.orders)\n\n"
        "    @property\n"
        "    def order_ids(self):\n"
        "        return [order.id for order in self.orders]\n",
    )
    write(tmp_path, {**PROJECT, "shop/routers.py": routers + MORE, "shop/models.py": models})
    result = run(tmp_path)
    assert vf203(result) == []
    new = changed(result, tmp_path)
    after = new["shop/routers.py"]
    assert (
        "(await db.scalars(select(models.User).where(models.User.id == user_id)"
        ".options(selectinload(models.User.orders)))).unique().one()"
    ) in after
    assert (
        "    await db.execute(\n        update(models.User)" in after
        or "await db.execute(update(models.User).where(models.User.id == user_id)" in after
    ), after
    # ``False`` left objects stale until the commit expired them; nothing expires now.
    assert 'execution_options(synchronize_session="fetch")' in after
    assert ").rowcount" not in after.split("def rename")[1]
    run_app(tmp_path, new, MORE_CHECK)


CRUD = """\
from sqlalchemy.orm import Session

from shop import models


def get_users(db: Session, skip: int = 0, limit: int = 100):
    return db.query(models.User).offset(skip).limit(limit).all()


def get_user(db: Session, user_id: int):
    user = db.query(models.User).filter(models.User.id == user_id).first()
    return user
"""

TUTORIAL = """

class OrderRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    orders: list[OrderRead] = []


@router.get("/tutorial/users", response_model=list[UserRead])
def read_users(skip: int = 0, limit: int = 100, db: Session = Depends(get_db)):
    return crud.get_users(db, skip, limit)


@router.get("/tutorial/users/{user_id}", response_model=UserRead)
def read_user(user_id: int, db: Session = Depends(get_db)):
    return crud.get_user(db, user_id)


@router.get("/tutorial/got/{user_id}")
def got(user_id: int, db: Session = Depends(get_db)):
    return user_dict(db.get(models.User, user_id) or models.User())


@router.get("/tutorial/got2/{user_id}")
def got2(user_id: int, db: Session = Depends(get_db)):
    user = db.get(models.User, user_id)
    return {"orders": len(user.orders)}
"""

TUTORIAL_CHECK = """\
import asyncio

from fastapi.testclient import TestClient

from shop.database import engine
from shop.main import app

with TestClient(app) as client:
    client.post("/users", json={"name": "ann"})
    client.post("/users/1/orders")
    assert client.get("/tutorial/users").json() == [{"id": 1, "orders": [{"id": 1}]}]
    assert client.get("/tutorial/users/1").json() == {"id": 1, "orders": [{"id": 1}]}
    assert client.get("/tutorial/got2/1").json() == {"orders": 1}
asyncio.run(engine.dispose())
print("ok")
"""


@pytest.mark.once
def test_the_fastapi_tutorial_shape_loads_in_the_crud_helpers(tmp_path):
    routers = (
        PROJECT["shop/routers.py"]
        .replace(
            "from sqlalchemy.orm import Session\n",
            "from pydantic import BaseModel, ConfigDict\nfrom sqlalchemy.orm import Session\n",
        )
        .replace("from shop import models\n", "from shop import crud, models\n")
    )
    write(tmp_path, {**PROJECT, "shop/routers.py": routers + TUTORIAL, "shop/crud.py": CRUD})

    result = run(tmp_path)

    # `db.get(...) or models.User()` hands an object VF203 cannot tie to a load to a
    # helper that reads its orders: the one obstacle.
    (found,) = vf203(result)
    assert "a relationship (`orders`) is read on a value handed to a helper" in found
    fixed = (routers + TUTORIAL).replace(
        "    return user_dict(db.get(models.User, user_id) or models.User())\n",
        "    return {}\n",
    )
    write(tmp_path, {"shop/routers.py": fixed})
    result = run(tmp_path)
    assert vf203(result) == []
    new = changed(result, tmp_path)
    assert (
        "(await db.scalars(select(models.User).offset(skip).limit(limit)"
        ".options(selectinload(models.User.orders)))).unique().all()"
    ) in new["shop/crud.py"]
    assert "options(selectinload(models.User.orders)).limit(1))" in new["shop/crud.py"]
    # ``get`` hands back an object the session holds already as it is: a statement on
    # the key loads what it lacks.
    assert (
        "user = await db.scalar(select(models.User).where(models.User.id == user_id)"
        ".options(selectinload(models.User.orders)))"
    ) in new["shop/routers.py"]
    run_app(tmp_path, new, TUTORIAL_CHECK)


HELPERS = """

def find_user(user_id: int):
    db = SessionLocal()
    user = db.query(models.User).filter(models.User.id == user_id).first()
    db.close()
    if user is None:
        raise HTTPException(404)
    return user


@router.get("/found/{user_id}")
def found(user_id: int):
    return {"name": find_user(user_id).name}


@router.delete("/found/{user_id}")
def forget(user_id: int):
    db = SessionLocal()
    user = find_user(user_id)
    db.delete(user)
    db.commit()
    db.close()
    return {"ok": True}
"""

HELPERS_CHECK = """\
import asyncio

from blockbuster import blockbuster_ctx
from fastapi.testclient import TestClient

from shop.database import engine
from shop.main import app

with blockbuster_ctx(["shop"]), TestClient(app) as client:
    client.post("/users", json={"name": "ann"})
    assert client.get("/found/1").json() == {"name": "ann"}
    assert client.delete("/found/1").json() == {"ok": True}
    assert client.get("/found/1").status_code == 404
asyncio.run(engine.dispose())
print("ok")
"""


@pytest.mark.once
def test_a_helper_takes_the_handlers_session_and_the_app_runs_async(tmp_path):
    routers = PROJECT["shop/routers.py"].replace(
        "from shop.database import get_db\n", "from shop.database import SessionLocal, get_db\n"
    )
    write(tmp_path, {**PROJECT, "shop/routers.py": routers + HELPERS})

    result = run(tmp_path)

    assert vf203(result) == []
    new = changed(result, tmp_path)
    after = new["shop/routers.py"]
    assert "async def find_user(user_id: int, *, db: AsyncSession):" in after
    assert '    return {"name": (await find_user(user_id, db=db)).name}\n' in after
    assert "    user = await find_user(user_id, db=db)\n" in after
    assert "SessionLocal" not in after
    run_app(tmp_path, new, HELPERS_CHECK)


def test_a_helper_in_a_module_that_names_no_session_is_read_too(tmp_path):
    # ``shop/views.py`` mentions neither SQLAlchemy nor a session: VF203 does not read it
    # at first, then asks for it because an ORM object goes to `summary`.
    views = "def summary(user):\n    return {'orders': len(user.orders)}\n"
    routers = PROJECT["shop/routers.py"].replace(
        "from shop import models\n", "from shop import models\nfrom shop.views import summary\n"
    ) + (
        '\n\n@router.get("/summary/{user_id}")\n'
        "def read_summary(user_id: int, db: Session = Depends(get_db)):\n"
        "    user = db.query(models.User).filter(models.User.id == user_id).one()\n"
        "    return summary(user)\n"
    )
    write(tmp_path, {**PROJECT, "shop/routers.py": routers, "shop/views.py": views})

    result = run(tmp_path)

    assert vf203(result) == []
    after = changed(result, tmp_path)["shop/routers.py"]
    assert (
        "(await db.scalars(select(models.User).where(models.User.id == user_id)"
        ".options(selectinload(models.User.orders)))).unique().one()"
    ) in after


DEPENDENT = """

def current_user(db: Session = Depends(get_db)) -> models.User:
    return db.query(models.User).order_by(models.User.id).first()


@router.get("/me/orders")
def my_orders(me: models.User = Depends(current_user)):
    return {"orders": [o.id for o in me.orders]}


@router.get("/me/again")
def me_again(me: models.User = Depends(current_user), db: Session = Depends(get_db)):
    user = db.get(models.User, me.id)
    return {"orders": len(user.orders)}


@router.get("/orders/{order_id}/siblings")
def siblings(order_id: int, db: Session = Depends(get_db)):
    order = db.query(models.Order).filter(models.Order.id == order_id).one()
    return {"siblings": len(order.user.orders)}
"""

DEPENDENT_CHECK = """\
import asyncio

from fastapi.testclient import TestClient

from shop.database import engine
from shop.main import app

with TestClient(app) as client:
    client.post("/users", json={"name": "ann"})
    client.post("/users/1/orders")
    client.post("/users/1/orders")
    assert client.get("/me/orders").json() == {"orders": [1, 2]}
    assert client.get("/me/again").json() == {"orders": 2}
    assert client.get("/orders/1/siblings").json() == {"siblings": 2}
asyncio.run(engine.dispose())
print("ok")
"""


@pytest.mark.once
def test_what_a_dependency_returns_and_a_relationship_of_a_relationship_are_loaded(tmp_path):
    # ``me.orders`` on what ``Depends(current_user)`` returns: its query loads them.
    # ``db.get`` of the user the dependency loaded already would hand it back as it is:
    # a statement on the key loads its orders. ``order.user.orders``: a chain.
    write(tmp_path, {**PROJECT, "shop/routers.py": PROJECT["shop/routers.py"] + DEPENDENT})

    result = run(tmp_path)

    assert vf203(result) == []
    after = changed(result, tmp_path)["shop/routers.py"]
    assert (
        "    return await db.scalar(select(models.User).order_by(models.User.id)"
        ".options(selectinload(models.User.orders)).limit(1))\n"
    ) in after
    assert (
        "    user = await db.scalar(select(models.User).where(models.User.id == me.id)"
        ".options(selectinload(models.User.orders)))\n"
    ) in after
    assert (".options(selectinload(models.Order.user).selectinload(models.User.orders))") in after
    run_app(tmp_path, changed(result, tmp_path), DEPENDENT_CHECK)


def test_a_get_of_a_model_whose_key_vf203_cannot_tell_keeps_its_options(tmp_path):
    # A composite key: ``db.get`` keeps its form, with the loader options.
    models = PROJECT["shop/models.py"].replace(
        "    name = Column(String)\n", "    name = Column(String, primary_key=True)\n"
    )
    routers = PROJECT["shop/routers.py"] + (
        "\n\n@router.get('/got/{user_id}')\n"
        "def got(user_id: int, db: Session = Depends(get_db)):\n"
        "    user = db.get(models.User, (user_id, 'ann'))\n"
        "    return {'orders': len(user.orders)}\n"
    )
    write(tmp_path, {**PROJECT, "shop/routers.py": routers, "shop/models.py": models})

    result = run(tmp_path)

    assert vf203(result) == []
    assert (
        "user = await db.get(models.User, (user_id, 'ann'),"
        " options=[selectinload(models.User.orders)])"
    ) in changed(result, tmp_path)["shop/routers.py"]


EXTENDED = """

class Ids(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    order_ids: list[int]


def all_users(db: Session):
    return db.query(models.User).all()


@router.get("/ids", response_model=list[Ids])
def ids(db: Session = Depends(get_db)):
    found = []
    found.extend(all_users(db))
    return found
"""


@pytest.mark.parametrize("lazy", ["", ', lazy="selectin"'])
def test_a_property_read_on_what_vibefix_cannot_follow_names_its_relationship(tmp_path, lazy):
    # ``found`` is filled through ``extend``: which query loads it is unknown. The
    # property reads ``orders``, which the finding names; mapped lazy="selectin" it is
    # loaded with every user, whatever loads them.
    routers = PROJECT["shop/routers.py"].replace(
        "from sqlalchemy.orm import Session\n",
        "from pydantic import BaseModel, ConfigDict\nfrom sqlalchemy.orm import Session\n",
    )
    models = PROJECT["shop/models.py"].replace(
        '    orders = relationship("Order", back_populates="user")\n',
        f'    orders = relationship("Order", back_populates="user"{lazy})\n\n'
        "    @property\n"
        "    def order_ids(self):\n"
        "        return [order.id for order in self.orders]\n",
    )
    write(tmp_path, {**PROJECT, "shop/routers.py": routers + EXTENDED, "shop/models.py": models})

    found = vf203(run(tmp_path))

    if lazy:
        assert found == []
    else:
        assert any(
            "a relationship (`order_ids`, a property that reads `orders`) is read on" in f
            and "`.options(selectinload(Model.orders))`" in f
            for f in found
        ), found
