"""VF203 on the shapes real FastAPI + SQLAlchemy projects take (issue 16): ``SessionDep``
aliases across modules, ``Mapped[...]`` relationships loaded by their mapping, 2.0
``select()`` statements, and the test suite's own engine (``StaticPool``), its
``create_all``/``drop_all`` and its ``get_db`` override. The project's own suite runs
before and after ``vibefix apply`` (the real CLI), on SQLite through aiosqlite."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import RunVibefix
from tests.test_async_project import write

DATABASE = """\
    from typing import Annotated

    from fastapi import Depends
    from sqlalchemy import create_engine
    from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

    SQLALCHEMY_DATABASE_URL = "sqlite:///./todo.db"

    engine = create_engine(SQLALCHEMY_DATABASE_URL, connect_args={"check_same_thread": False})
    SessionLocal = sessionmaker(autoflush=False, bind=engine)


    class Base(DeclarativeBase):
        pass


    def get_db():
        db = SessionLocal()
        try:
            yield db
        finally:
            db.close()


    SessionDep = Annotated[Session, Depends(get_db)]
    """

MODELS = """\
    from sqlalchemy import Column, ForeignKey, String, Table
    from sqlalchemy.orm import Mapped, mapped_column, relationship

    from app.database import Base

    todo_tags = Table(
        "todo_tags",
        Base.metadata,
        Column("todo_id", ForeignKey("todos.id"), primary_key=True),
        Column("tag_id", ForeignKey("tags.id"), primary_key=True),
    )


    class User(Base):
        __tablename__ = "users"
        id: Mapped[int] = mapped_column(primary_key=True)
        name: Mapped[str] = mapped_column(String(50))
        todos: Mapped[list["Todo"]] = relationship(back_populates="owner", lazy="selectin")


    class Todo(Base):
        __tablename__ = "todos"
        id: Mapped[int] = mapped_column(primary_key=True)
        title: Mapped[str] = mapped_column(String(100))
        owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
        owner: Mapped["User"] = relationship(back_populates="todos", lazy="joined")
        tags: Mapped[list["Tag"]] = relationship(secondary=todo_tags)


    class Tag(Base):
        __tablename__ = "tags"
        id: Mapped[int] = mapped_column(primary_key=True)
        label: Mapped[str] = mapped_column(String(20))
    """

MAIN = """\
    from fastapi import FastAPI, HTTPException
    from pydantic import BaseModel
    from sqlalchemy import select
    from sqlalchemy.orm import selectinload

    from app.database import Base, SessionDep, engine
    from app.models import Tag, Todo, User

    Base.metadata.create_all(bind=engine)

    app = FastAPI()


    class UserIn(BaseModel):
        name: str


    class TodoIn(BaseModel):
        title: str
        tags: list[str] = []


    @app.post("/users")
    def create_user(body: UserIn, db: SessionDep):
        user = User(name=body.name)
        db.add(user)
        db.commit()
        db.refresh(user)
        return {"id": user.id, "name": user.name}


    @app.post("/users/{user_id}/todos")
    def create_todo(user_id: int, body: TodoIn, db: SessionDep):
        user = db.get(User, user_id)
        if user is None:
            raise HTTPException(status_code=404, detail="no such user")
        todo = Todo(title=body.title, owner_id=user.id)
        todo.tags = [Tag(label=label) for label in body.tags]
        db.add(todo)
        db.commit()
        db.refresh(todo)
        # ``owner`` is mapped lazy="joined": the refresh loads it, and its column with it
        return {"id": todo.id, "title": todo.title, "owner": todo.owner.name}


    @app.get("/users/{user_id}")
    def read_user(user_id: int, db: SessionDep):
        stmt = select(User).where(User.id == user_id).options(selectinload(User.todos))
        user = db.scalars(stmt).first()
        if user is None:
            raise HTTPException(status_code=404, detail="no such user")
        return {"name": user.name, "todos": [t.title for t in user.todos]}


    @app.get("/todos")
    def list_todos(db: SessionDep):
        todos = db.scalars(select(Todo).order_by(Todo.id)).all()
        return [
            {"title": t.title, "owner": t.owner.name, "tags": [tag.label for tag in t.tags]}
            for t in todos
        ]


    @app.get("/todos/{todo_id}")
    def read_todo(todo_id: int, db: SessionDep):
        todo = db.execute(select(Todo).where(Todo.id == todo_id)).scalar_one_or_none()
        if todo is None:
            raise HTTPException(status_code=404, detail="no such todo")
        return {"title": todo.title, "tags": [tag.label for tag in todo.tags]}
    """

CONFTEST = """\
    import pytest
    from fastapi.testclient import TestClient
    from sqlalchemy import create_engine
    from sqlalchemy.orm import sessionmaker
    from sqlalchemy.pool import StaticPool

    from app.database import Base, get_db
    from app.main import app

    engine = create_engine(
        "sqlite://", connect_args={"check_same_thread": False}, poolclass=StaticPool
    )
    TestingSessionLocal = sessionmaker(autoflush=False, bind=engine)


    def override_get_db():
        db = TestingSessionLocal()
        try:
            yield db
        finally:
            db.close()


    @pytest.fixture
    def client():
        Base.metadata.create_all(bind=engine)
        app.dependency_overrides[get_db] = override_get_db
        with TestClient(app) as c:
            yield c
        app.dependency_overrides.clear()
        Base.metadata.drop_all(bind=engine)
    """

TESTS = """\
    def test_a_user_and_todos(client):
        user = client.post("/users", json={"name": "ada"}).json()
        resp = client.post(f"/users/{user['id']}/todos", json={"title": "write", "tags": ["a"]})
        assert resp.status_code == 200, resp.text
        assert resp.json()["owner"] == "ada"
        assert client.get(f"/users/{user['id']}").json() == {"name": "ada", "todos": ["write"]}
        todos = client.get("/todos").json()
        assert todos == [{"title": "write", "owner": "ada", "tags": ["a"]}]
        todo = client.get(f"/todos/{resp.json()['id']}").json()
        assert todo == {"title": "write", "tags": ["a"]}


    def test_missing_rows_are_404s(client):
        assert client.get("/users/99").status_code == 404
        assert client.get("/todos/99").status_code == 404
    """

PROJECT = {
    "pyproject.toml": "[project]\nname = 'todo'\n",
    "app/__init__.py": "",
    "app/database.py": DATABASE,
    "app/models.py": MODELS,
    "app/main.py": MAIN,
    "tests/__init__.py": "",
    "tests/conftest.py": CONFTEST,
    "tests/test_todos.py": TESTS,
}


def suite(root: Path) -> subprocess.CompletedProcess[str]:
    """The project's own tests, in a subprocess (its ``todo.db`` in its folder)."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "PYTHONPATH": str(root)},
    )


def test_the_usual_project_and_its_test_suite_move_to_async_session(
    tmp_path: Path, run_vibefix: RunVibefix
) -> None:
    write(tmp_path, PROJECT)
    before = suite(tmp_path)
    assert "2 passed" in before.stdout, before.stdout + before.stderr

    applied = run_vibefix("apply", "--recipe", "async-db", "--unsafe", ".", cwd=tmp_path)

    assert "VF203" in applied.stderr, applied.stderr
    assert "`SessionDep`" not in applied.stderr
    read = {name: (tmp_path / name).read_text(encoding="utf-8") for name in PROJECT}
    # The alias moves with the sessions it annotates, in its own module.
    assert "SessionDep = Annotated[AsyncSession, Depends(get_db)]" in read["app/database.py"]
    main = read["app/main.py"]
    assert "async def create_user(body: UserIn, db: SessionDep):" in main
    # 2.0 statements: awaited where they run; a relationship read later is loaded by the
    # statement (kept in a variable or inline); one loaded by its mapping is left.
    assert "user = (await db.scalars(stmt)).first()" in main
    assert "select(Todo).order_by(Todo.id).options(selectinload(Todo.tags))" in main
    assert "select(Todo).where(Todo.id == todo_id).options(selectinload(Todo.tags))" in main
    assert "selectinload(User.todos)).options" not in main
    assert "selectinload(Todo.owner)" not in main
    # The test suite's engine keeps its pool; its tables are made on the async engine.
    conftest = read["tests/conftest.py"]
    assert '"sqlite+aiosqlite://", connect_args={"check_same_thread": False},' in conftest
    assert "poolclass=StaticPool" in conftest
    assert "    _run_sync(engine, Base.metadata.create_all)\n" in conftest
    assert "    _run_sync(engine, Base.metadata.drop_all)\n" in conftest
    assert conftest.count("def _run_sync(") == 1
    assert "async def override_get_db():" in conftest
    assert "        await db.close()\n" in conftest

    after = suite(tmp_path)
    assert "2 passed" in after.stdout, after.stdout + after.stderr
    again = run_vibefix("diff", "--recipe", "async-db", "--unsafe", ".", cwd=tmp_path)
    assert again.stdout == ""


@pytest.mark.parametrize(
    ("name", "old", "new", "reason"),
    [
        (
            "tests/conftest.py",
            "poolclass=StaticPool",
            "poolclass=QueuePool",
            "`poolclass=` would need an async twin",
        ),
        (
            "tests/conftest.py",
            "@pytest.fixture\n    def client():",
            "@pytest.fixture\n    async def client():",
            "the engine is handed to `create_all`, which would get an AsyncEngine",
        ),
        (
            "app/main.py",
            "Base.metadata.create_all(bind=engine)\n",
            "\n\n    def init_db():\n        Base.metadata.create_all(bind=engine)\n",
            "the engine is handed to `create_all`, which would get an AsyncEngine",
        ),
        (
            "app/main.py",
            '        return {"name": user.name, "todos": [t.title for t in user.todos]}',
            '        return {"todos": [t.owner.todos[0].title for t in user.todos]}',
            "a relationship (`owner`) is read on `t`, which raises MissingGreenlet",
        ),
    ],
    ids=["queue-pool", "async-fixture", "app-code-create-all", "item-of-a-relationship"],
)
def test_what_still_holds_the_migration_back(
    tmp_path: Path, run_vibefix: RunVibefix, name: str, old: str, new: str, reason: str
) -> None:
    source = PROJECT[name]
    assert old in source
    write(tmp_path, {**PROJECT, name: source.replace(old, new)})

    found = run_vibefix("diff", "--recipe", "async-db", "--unsafe", ".", cwd=tmp_path)

    # All or nothing: no VF203 rewrite anywhere (the default recipe's may be there).
    assert "create_async_engine" not in found.stdout
    assert "AsyncSession" not in found.stdout
    assert reason in found.stderr, found.stderr


def test_an_annotated_alias_of_another_class_is_no_session(
    tmp_path: Path, run_vibefix: RunVibefix
) -> None:
    # ``CurrentUser`` stands for a model, not a session: its parameter is left as it is.
    main = (
        PROJECT["app/main.py"]
        .replace(
            '    @app.get("/todos")\n',
            "    def current_user() -> User:\n"
            '        return User(name="me")\n\n\n'
            "    CurrentUser = Annotated[User, Depends(current_user)]\n\n\n"
            '    @app.get("/me")\n'
            "    def me(user: CurrentUser):\n"
            '        return {"name": user.name}\n\n\n'
            '    @app.get("/todos")\n',
        )
        .replace(
            "from fastapi import FastAPI, HTTPException",
            "from typing import Annotated\n\n"
            "    from fastapi import Depends, FastAPI, HTTPException",
        )
    )
    write(tmp_path, {**PROJECT, "app/main.py": main})

    applied = run_vibefix("apply", "--recipe", "async-db", "--unsafe", ".", cwd=tmp_path)

    rewritten = (tmp_path / "app" / "main.py").read_text(encoding="utf-8")
    assert "CurrentUser = Annotated[User, Depends(current_user)]" in rewritten
    assert "def me(user: CurrentUser):" in rewritten, applied.stderr
    assert "async def create_user(" in rewritten
