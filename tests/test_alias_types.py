"""Types the index sees through aliases, dependencies and factories, over real projects:
``SessionDep = Annotated[Session, Depends(get_db)]`` and its kin, ``Depends(get_db)``
without an annotation, helpers that return a connection, session factories made with
``class_=AsyncSession``; and as many cases where nothing may be claimed."""

from __future__ import annotations

import textwrap

import libcst
import pytest

from tests.test_async_project import changed, run, write

DB = """\
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session, sessionmaker

    engine = create_engine("sqlite://")
    SessionLocal = sessionmaker(bind=engine)


    def get_db():
        db = SessionLocal()
        try:
            yield db
        finally:
            db.close()
    """

MODELS = """\
    class User:
        pass
    """


def findings(tmp_path, files: dict[str, str]) -> list[tuple[str, int, str]]:
    """Where ``vibefix check`` reports something about the event loop (VF1xx) in the
    project: (file, line, code), each once."""
    write(tmp_path, {"pyproject.toml": "[project]\nname = 'app'\n", "app/__init__.py": ""})
    write(tmp_path, {"app/db.py": DB, "app/models.py": MODELS})
    write(tmp_path, files)
    for path in tmp_path.rglob("*.py"):  # a case that does not parse proves nothing
        libcst.parse_module(path.read_text(encoding="utf-8"))
    result = run(tmp_path, "app")
    return sorted(
        {(f.path.name, f.position.line, f.code) for f in result.findings if f.code < "VF2"}
    )


def route(annotation: str, imports: str = "from app.deps import SessionDep") -> str:
    """An async route that queries ``db``, annotated with ``annotation``: the query is on
    line 11 when ``imports`` is one line."""
    return (
        f"from fastapi import FastAPI\n\nfrom app.models import User\n{imports}\n\n"
        "app = FastAPI()\n\n\n"
        '@app.get("/users")\n'
        f"async def users(db: {annotation}):\n"
        "    return db.query(User).first()\n"
    )


DEPS = """\
    from typing import Annotated

    from fastapi import Depends
    from sqlalchemy.orm import Session

    from app.db import get_db

    SessionDep = Annotated[Session, Depends(get_db)]
    """


def test_annotated_alias_imported_from_another_module_is_a_session(tmp_path):
    found = findings(tmp_path, {"app/deps.py": DEPS, "app/main.py": route("SessionDep")})
    assert found == [("main.py", 11, "VF103")]


def test_annotated_alias_re_exported_through_a_package_init_is_a_session(tmp_path):
    files = {
        "app/deps/__init__.py": "from .database import db_dependency\n",
        "app/deps/database.py": DEPS.replace("SessionDep", "db_dependency"),
        "app/main.py": route("db_dependency", "from app.deps import db_dependency"),
    }
    assert findings(tmp_path, files) == [("main.py", 11, "VF103")]


@pytest.mark.parametrize(
    "alias",
    [
        "SessionDep: TypeAlias = Session",
        "SessionDep: TypeAlias = Annotated[Session, Depends(get_db)]",
        "SessionDep = Session",
        "SessionDep = Optional[Annotated[Session, Depends(get_db)]]",
        "SessionDep = Union[Session, None]",
        "SessionDep = Annotated[Any, Depends(get_db)]",
    ],
)
def test_alias_forms_are_sessions(tmp_path, alias):
    deps = f"""\
        from typing import Annotated, Any, Optional, TypeAlias, Union

        from fastapi import Depends
        from sqlalchemy.orm import Session

        from app.db import get_db

        {alias}
        """
    found = findings(tmp_path, {"app/deps.py": deps, "app/main.py": route("SessionDep")})
    assert found == [("main.py", 11, "VF103")]


def test_an_alias_named_through_its_module_is_a_session(tmp_path):
    files = {"app/deps.py": DEPS, "app/main.py": route("deps.SessionDep", "from app import deps")}
    assert findings(tmp_path, files) == [("main.py", 11, "VF103")]


@pytest.mark.parametrize("annotation", ["SessionDep | None", "Optional[SessionDep]"])
def test_an_optional_alias_is_a_session(tmp_path, annotation):
    imports = "from typing import Optional\n\nfrom app.deps import SessionDep"
    files = {"app/deps.py": DEPS, "app/main.py": route(annotation, imports)}
    assert findings(tmp_path, files) == [("main.py", 13, "VF103")]


def test_pep_695_type_statement_alias_is_a_session(tmp_path):
    files = {
        "pyproject.toml": "[project]\nname = 'app'\nrequires-python = '>=3.12'\n",
        "app/deps.py": DEPS.replace("SessionDep = ", "type SessionDep = "),
        "app/main.py": route("SessionDep"),
    }
    assert findings(tmp_path, files) == [("main.py", 11, "VF103")]


# -- Depends without an annotation -----------------------------------------------------


@pytest.mark.parametrize(
    "parameter",
    ["db=Depends(get_db)", "db: Any = Depends(get_db)", "db: Annotated[Any, Depends(get_db)]"],
)
def test_a_dependency_without_a_type_is_what_it_yields(tmp_path, parameter):
    main = f"""\
        from typing import Annotated, Any

        from fastapi import Depends, FastAPI

        from app.db import get_db
        from app.models import User

        app = FastAPI()


        @app.get("/users")
        async def users({parameter}):
            return db.query(User).first()
        """
    assert findings(tmp_path, {"app/main.py": main}) == [("main.py", 13, "VF103")]


@pytest.mark.parametrize(
    "returns",
    [
        "Generator[Session, None, None]",
        "Iterator[Session]",
        "collections.abc.Iterator[Session]",
        "Session",
    ],
)
def test_a_dependency_annotated_with_what_it_yields(tmp_path, returns):
    deps = f"""\
        import collections.abc
        from typing import Generator, Iterator

        from sqlalchemy.orm import Session

        from app.db import engine


        def get_session() -> {returns}:
            with make() as session:
                yield session


        def make():
            return what_nobody_knows(engine)
        """
    main = """\
        from fastapi import Depends, FastAPI

        from app.deps import get_session
        from app.models import User

        app = FastAPI()


        @app.get("/users")
        async def users(db=Depends(get_session)):
            return db.query(User).first()
        """
    found = findings(tmp_path, {"app/deps.py": deps, "app/main.py": main})
    assert found == [("main.py", 11, "VF103")]


def test_an_async_generator_dependency_of_an_async_session_is_not_reported(tmp_path):
    deps = """\
        from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

        AsyncSessionLocal = async_sessionmaker(create_async_engine("sqlite+aiosqlite://"))


        async def get_db():
            async with AsyncSessionLocal() as session:
                yield session
        """
    main = """\
        from fastapi import Depends, FastAPI
        from sqlalchemy import select

        from app.deps import get_db
        from app.models import User

        app = FastAPI()


        @app.get("/users")
        async def users(db=Depends(get_db)):
            async with db.begin():
                return (await db.execute(select(User))).first()
        """
    assert findings(tmp_path, {"app/deps.py": deps, "app/main.py": main}) == []


# -- factories and helpers -------------------------------------------------------------

CONNECTIONS = """\
    import psycopg2


    def get_conn():
        return psycopg2.connect("dbname=app")
    """


def test_a_connection_returned_by_a_helper_blocks_where_it_is_used(tmp_path):
    main = """\
        from fastapi import FastAPI

        from app.connections import get_conn

        app = FastAPI()


        @app.get("/users")
        async def users():
            conn = get_conn()
            cur = conn.cursor()
            cur.execute("select 1")
            return cur.fetchone()
        """
    found = findings(tmp_path, {"app/connections.py": CONNECTIONS, "app/main.py": main})
    # Whether making the cursor is I/O is the blocking table's to say; running it is.
    # The helper that connects is not offloaded alone (what it returns blocks in turn):
    # it is reported at its call.
    assert {(path, code) for path, _, code in found} == {("main.py", "VF103"), ("main.py", "VF102")}
    assert {line for _, line, code in found if code == "VF102"} == {10}
    assert {line for _, line, code in found if code == "VF103"} <= {11, 12, 13}


def test_a_helper_returning_different_types_in_different_branches_is_unknown(tmp_path):
    connections = """\
        import sqlite3

        import psycopg2

        from app.config import LOCAL


        def get_conn():
            if LOCAL:
                return sqlite3.connect("app.db")
            return psycopg2.connect("dbname=app")
        """
    main = """\
        from fastapi import FastAPI

        from app.connections import get_conn

        app = FastAPI()


        @app.get("/users")
        async def users():
            return get_conn().cursor().execute("select 1")
        """
    files = {"app/connections.py": connections, "app/main.py": main, "app/config.py": "LOCAL = 1\n"}
    assert findings(tmp_path, files) == []


def test_a_session_a_method_returns_blocks_where_it_is_used(tmp_path):
    repository = """\
        from fastapi import APIRouter
        from sqlalchemy.orm import Session

        from app.db import SessionLocal

        router = APIRouter()


        class Repository:
            def __init__(self):
                self.session = SessionLocal()

            def get_session(self) -> Session:
                return self.session


        class Service:
            def __init__(self):
                self.repo = Repository()

            async def first_user(self, model):
                return self.repo.get_session().query(model).first()


        @router.get("/")
        async def first():
            return await Service().first_user(None)
        """
    assert findings(tmp_path, {"app/repository.py": repository}) == [("repository.py", 22, "VF102")]


def test_a_session_a_property_returns_blocks_where_it_is_used(tmp_path):
    repository = """\
        from fastapi import APIRouter

        from app.db import SessionLocal

        router = APIRouter()


        class Repository:
            @property
            def session(self):
                return SessionLocal()

            async def first_user(self, model):
                return self.session.query(model).first()


        @router.get("/")
        async def first():
            return await Repository().first_user(None)
        """
    assert findings(tmp_path, {"app/repository.py": repository}) == [("repository.py", 14, "VF102")]


def test_a_session_a_static_method_returns_through_its_value(tmp_path):
    repository = """\
        from fastapi import APIRouter

        from app.db import SessionLocal

        router = APIRouter()


        class Sessions:
            @staticmethod
            def open():
                session = SessionLocal()
                return session


        @router.get("/")
        async def first(model):
            return Sessions.open().query(model).first()
        """
    assert findings(tmp_path, {"app/repository.py": repository}) == [("repository.py", 17, "VF103")]


# -- async sessions, and what is no session --------------------------------------------

ASYNC_ROUTE = """\
    from fastapi import Depends, FastAPI
    from sqlalchemy import select

    from app.async_db import AsyncSession, get_session
    from app.models import User

    app = FastAPI()


    @app.get("/users")
    async def users(session: AsyncSession = Depends(get_session)):
        async with session.begin():
            return (await session.execute(select(User))).first()
    """


def test_a_sessionmaker_of_async_sessions_named_async_session_makes_no_blocking_call(tmp_path):
    async_db = """\
        from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
        from sqlalchemy.orm import sessionmaker

        engine = create_async_engine("sqlite+aiosqlite://")
        AsyncSession = sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


        async def get_session():
            async with AsyncSession() as session:
                yield session
        """
    assert findings(tmp_path, {"app/async_db.py": async_db, "app/main.py": ASYNC_ROUTE}) == []


@pytest.mark.parametrize(
    "factory",
    [
        "sessionmaker(class_=AsyncSession, bind=engine)",
        "async_sessionmaker(engine)",
        "async_sessionmaker(engine, class_=AsyncSession)",
    ],
)
def test_a_factory_of_async_sessions_makes_no_blocking_call(tmp_path, factory):
    async_db = f"""\
        from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
        from sqlalchemy.orm import sessionmaker

        engine = create_async_engine("sqlite+aiosqlite://")
        SessionLocal = {factory}


        async def get_session():
            session = SessionLocal()
            try:
                yield session
            finally:
                await session.close()
        """
    assert findings(tmp_path, {"app/async_db.py": async_db, "app/main.py": ASYNC_ROUTE}) == []


def test_an_annotated_alias_of_an_async_session_is_not_reported(tmp_path):
    deps = """\
        from typing import Annotated

        from fastapi import Depends
        from sqlalchemy.ext.asyncio import AsyncSession

        from app.async_db import get_session

        SessionDep = Annotated[AsyncSession, Depends(get_session)]
        """
    main = ASYNC_ROUTE.replace(
        "from app.async_db import AsyncSession, get_session", "from app.deps import SessionDep"
    ).replace("session: AsyncSession = Depends(get_session)", "session: SessionDep")
    files = {"app/deps.py": deps, "app/main.py": main, "app/async_db.py": "get_session = None\n"}
    assert findings(tmp_path, files) == []


def test_an_annotated_alias_of_a_query_parameter_is_no_session(tmp_path):
    deps = """\
        from typing import Annotated

        from fastapi import Query

        Search = Annotated[str, Query(max_length=50)]
        """
    main = route("Search", "from app.deps import Search").replace(
        "db.query(User).first()", "db.strip().lower()"
    )
    assert findings(tmp_path, {"app/deps.py": deps, "app/main.py": main}) == []


def test_an_alias_assigned_two_types_is_unknown(tmp_path):
    deps = """\
        import os
        from typing import Annotated

        from fastapi import Depends
        from sqlalchemy.ext.asyncio import AsyncSession
        from sqlalchemy.orm import Session

        from app.db import get_db

        if os.environ.get("ASYNC"):
            SessionDep = Annotated[AsyncSession, Depends(get_db)]
        else:
            SessionDep = Annotated[Session, Depends(get_db)]
        """
    assert findings(tmp_path, {"app/deps.py": deps, "app/main.py": route("SessionDep")}) == []


def test_a_sync_handler_using_the_alias_is_left_alone(tmp_path):
    main = route("SessionDep").replace("async def users", "def users")
    assert findings(tmp_path, {"app/deps.py": DEPS, "app/main.py": main}) == []


@pytest.mark.parametrize(
    ("imports", "factory"),
    [
        (
            "from sqlalchemy.ext.asyncio import AsyncSession",
            "SessionLocal = sessionmaker(engine, class_=AsyncSession)",
        ),
        (
            "from sqlalchemy.ext import asyncio",
            "AsyncSession = sessionmaker(engine, class_=asyncio.AsyncSession)",
        ),
        (
            "from sqlalchemy.ext.asyncio import AsyncSession as _AsyncSession",
            "AsyncSession = sessionmaker(engine, class_=_AsyncSession)",
        ),
    ],
)
def test_sessions_of_a_sessionmaker_of_async_sessions_do_not_block(tmp_path, imports, factory):
    async_db = f"""\
        from sqlalchemy.ext.asyncio import create_async_engine
        from sqlalchemy.orm import sessionmaker
        {imports}

        engine = create_async_engine("sqlite+aiosqlite://")
        {factory}
        """
    name = factory.partition(" ")[0]
    main = f"""\
        from fastapi import FastAPI
        from sqlalchemy import select

        from app.async_db import {name}
        from app.models import User

        app = FastAPI()


        @app.get("/users")
        async def users():
            async with {name}() as session, session.begin():
                session.add(User())
                return (await session.execute(select(User))).first()
        """
    assert findings(tmp_path, {"app/async_db.py": async_db, "app/main.py": main}) == []


def test_a_session_a_service_keeps_from_its_constructor_blocks_where_it_is_used(tmp_path):
    service = """\
        from fastapi import APIRouter, Depends
        from sqlalchemy.orm import Session

        from app.db import get_db
        from app.models import User

        router = APIRouter()


        class UserService:
            def __init__(self, db: Session = Depends(get_db)):
                self.db = db

            async def first(self):
                return self.db.query(User).first()


        @router.get("/users")
        async def users(service: UserService = Depends()):
            return await service.first()
        """
    assert findings(tmp_path, {"app/service.py": service}) == [("service.py", 15, "VF102")]


def test_a_session_declared_on_the_class_blocks_where_it_is_used(tmp_path):
    repository = """\
        from dataclasses import dataclass, field

        from fastapi import APIRouter
        from sqlalchemy.orm import Session

        from app.db import SessionLocal

        router = APIRouter()


        @dataclass
        class Repository:
            session: Session = field(default_factory=SessionLocal)

            async def first_user(self, model):
                return self.session.query(model).first()


        @router.get("/")
        async def first():
            return await Repository().first_user(None)
        """
    assert findings(tmp_path, {"app/repository.py": repository}) == [("repository.py", 16, "VF102")]


def test_a_class_attribute_set_again_by_a_method_is_what_the_method_sets(tmp_path):
    repository = """\
        from fastapi import APIRouter
        from sqlalchemy.ext.asyncio import AsyncSession
        from sqlalchemy.orm import Session

        from app.db import SessionLocal

        router = APIRouter()


        class Repository:
            session: Session | None = None

            def __init__(self, session: AsyncSession):
                self.session = session

            async def first_user(self, query):
                if not self.session.in_transaction():
                    return (await self.session.execute(query)).first()


        @router.get("/")
        async def first():
            return await Repository(SessionLocal()).first_user(None)
        """
    assert findings(tmp_path, {"app/repository.py": repository}) == []


def test_a_session_a_base_class_keeps_blocks_in_its_subclasses(tmp_path):
    repository = """\
        from fastapi import APIRouter
        from sqlalchemy.orm import Session

        from app.db import SessionLocal

        router = APIRouter()


        class BaseRepository:
            def __init__(self, db: Session):
                self.db = db

            def session(self):
                return self.db


        class UserRepository(BaseRepository):
            async def first(self, model):
                return self.db.query(model).first()

            async def last(self, model):
                return self.session().query(model).all()


        @router.get("/")
        async def first():
            repo = UserRepository(SessionLocal())
            return await repo.first(None), await repo.last(None)
        """
    assert findings(tmp_path, {"app/repository.py": repository}) == [
        ("repository.py", 19, "VF102"),
        ("repository.py", 22, "VF102"),
    ]


SERVICE = """\
    from typing import Optional

    from fastapi import APIRouter
    from sqlalchemy.orm import Session

    from app.db import engine
    from app.models import User

    router = APIRouter()


    def open_session() -> Session:
        return Session(bind=engine)


    async def first_user(db: Optional[Session] = None):
        if db is None:
            db = {fallback}
        return db.query(User).first()


    @router.get("/")
    async def first():
        return await first_user()
    """


def test_a_local_given_the_same_type_by_a_helper_is_that_type(tmp_path):
    service = SERVICE.format(fallback="open_session()")
    assert findings(tmp_path, {"app/service.py": service}) == [("service.py", 19, "VF102")]


@pytest.mark.parametrize(
    "fallback", ["make_session()", "sessionmaker(bind=engine)()", "AsyncSession(engine)"]
)
def test_a_local_given_another_or_an_unknown_type_is_unknown(tmp_path, fallback):
    service = SERVICE.format(fallback=fallback).replace(
        "from sqlalchemy.orm import Session",
        "from sqlalchemy.ext.asyncio import AsyncSession\n"
        "    from sqlalchemy.orm import Session, sessionmaker\n"
        "    from vendor.sessions import make_session",
    )
    assert findings(tmp_path, {"app/service.py": service}) == []


GENERIC_REPOSITORY = """\
    from typing import Generic, TypeVar

    from fastapi import APIRouter
    from sqlalchemy.orm import Session

    from app.db import SessionLocal
    from app.models import User

    T = TypeVar("T")
    router = APIRouter()


    class BaseRepository(Generic[T]):
        def __init__(self, db: {session}):
            self.db = db


    class UserRepository(BaseRepository[User]):
        async def first(self):
            return self.db.query(User).first()


    @router.get("/")
    async def first():
        return await UserRepository(SessionLocal()).first()
    """


def test_a_session_a_subscripted_generic_base_keeps_blocks_in_its_subclasses(tmp_path):
    repository = GENERIC_REPOSITORY.format(session="Session")
    assert findings(tmp_path, {"app/repository.py": repository}) == [("repository.py", 20, "VF102")]


def test_an_async_session_a_subscripted_generic_base_keeps_is_left_alone(tmp_path):
    repository = GENERIC_REPOSITORY.format(session="AsyncSession").replace(
        "from sqlalchemy.orm import Session",
        "from sqlalchemy.ext.asyncio import AsyncSession",
    )
    assert findings(tmp_path, {"app/repository.py": repository}) == []


HANDED_DOWN = """\
    from fastapi import APIRouter
    from sqlalchemy.orm import Session

    from app.db import SessionLocal
    from app.models import User

    router = APIRouter()


    class UserRepository:
        def __init__(self, db: Session):
            self.db = db

        def first(self):
            return self.db.query(User).first()


    class CachedRepository:
        async def first(self):
            return None


    class BaseService:
        def __init__(self, repository):
            self.repository = repository


    class UserService(BaseService):
        def __init__(self, db: Session):
            super().__init__({handed})

        async def first(self):
            return self.repository.first()


    @router.get("/")
    async def first():
        return await UserService(SessionLocal()).first()
    """


def offloaded(tmp_path, files: dict[str, str]) -> list[str]:
    """The lines ``vibefix`` rewrites to run a blocking call in a thread, stripped."""
    findings(tmp_path, files)
    result = run(tmp_path, "app")
    return [
        line.strip()
        for source in changed(result, tmp_path).values()
        for line in source.splitlines()
        if "await run_in_threadpool(" in line
    ]


@pytest.mark.parametrize("handed", ["UserRepository(db)", "repository=UserRepository(db)"])
def test_what_a_subclass_hands_its_base_init_is_the_type_of_the_base_attribute(tmp_path, handed):
    service = HANDED_DOWN.format(handed=handed)
    lines = offloaded(tmp_path, {"app/service.py": service})
    assert lines == ["return await run_in_threadpool(self.repository.first)"]


@pytest.mark.parametrize("handed", ["CachedRepository()", "make_repository(db)"])
def test_a_value_of_another_or_unknown_type_handed_to_the_base_init_is_left_alone(tmp_path, handed):
    service = HANDED_DOWN.format(handed=handed).replace(
        "from app.db import SessionLocal",
        "from app.db import SessionLocal\n    from vendor.repositories import make_repository",
    )
    assert findings(tmp_path, {"app/service.py": service}) == []
    assert offloaded(tmp_path, {"app/service.py": service}) == []


HASHING = """\
    from fastapi import APIRouter
    from passlib.context import CryptContext

    router = APIRouter()


    class AuthService:
        pwd_context = CryptContext(schemes=["bcrypt"])

        async def hash(self, password: str) -> str:
            return self.pwd_context.hash(password)


    @router.post("/register")
    async def register(password: str):
        return await AuthService().hash(password)
    """


def test_a_class_attribute_of_a_plain_class_is_what_its_instances_hold(tmp_path):
    lines = offloaded(tmp_path, {"app/auth.py": HASHING})
    assert lines == ["return await run_in_threadpool(self.pwd_context.hash, password)"]


def test_a_class_attribute_of_an_orm_model_is_no_value_of_its_own(tmp_path):
    models = """\
        from fastapi import APIRouter
        from sqlalchemy import Column, DateTime, Integer, select
        from sqlalchemy.ext.asyncio import AsyncSession
        from sqlalchemy.orm import declarative_base

        Base = declarative_base()
        router = APIRouter()


        class Order(Base):
            __tablename__ = "orders"
            id = Column(Integer, primary_key=True)
            created_at = Column(DateTime)


        @router.get("/")
        async def latest(session: AsyncSession):
            query = select(Order).order_by(Order.created_at.desc())
            return (await session.execute(query)).scalars().first()
        """
    assert findings(tmp_path, {"app/orders.py": models}) == []
    assert offloaded(tmp_path, {"app/orders.py": models}) == []


def test_a_class_attribute_of_a_pydantic_model_is_no_value_of_its_instances(tmp_path):
    model = HASHING.replace("class AuthService:", "class AuthService(BaseModel):").replace(
        "from fastapi import APIRouter",
        "from fastapi import APIRouter\n    from pydantic import BaseModel",
    )
    assert findings(tmp_path, {"app/auth.py": model}) == []
    assert offloaded(tmp_path, {"app/auth.py": model}) == []


KEPT_SESSION = """\
    from fastapi import APIRouter
    from sqlalchemy.orm import Session

    from app.db import SessionLocal
    from app.models import User

    router = APIRouter()


    class Search:
        def __init__(self, session: {session}):
            self.session = session

        def count(self):
            session = self.{attribute}
            return session.query(User).count()


    @router.get("/")
    async def count():
        return Search(SessionLocal()).count()
    """


def test_a_local_copied_from_an_attribute_is_what_the_attribute_is(tmp_path):
    search = KEPT_SESSION.format(session="Session", attribute="session")
    lines = offloaded(tmp_path, {"app/search.py": search})
    assert lines == ["return await run_in_threadpool(Search(SessionLocal()).count)"]


@pytest.mark.parametrize(
    ("session", "attribute"), [("Session", "other"), ("AsyncSession", "session")]
)
def test_a_local_copied_from_an_unknown_or_async_attribute_is_left_alone(
    tmp_path, session, attribute
):
    search = KEPT_SESSION.format(session=session, attribute=attribute).replace(
        "from sqlalchemy.orm import Session",
        "from sqlalchemy.ext.asyncio import AsyncSession\n    from sqlalchemy.orm import Session",
    )
    assert findings(tmp_path, {"app/search.py": search}) == []
    assert offloaded(tmp_path, {"app/search.py": search}) == []


CLIENTS = """\
    import boto3

    cognito = boto3.client("cognito-idp")
    REGION = "eu-west-1"
    """


@pytest.mark.parametrize(
    ("parameter", "offloads"),
    [
        ("client=cognito", True),
        ("client=clients.cognito", True),
        ("client: BaseClient = cognito", True),
        ("client: Any = cognito", True),
        ("client=REGION", False),
        ("client=None", False),
        ("client=make_client()", False),
    ],
)
def test_an_unannotated_parameter_is_the_module_object_its_default_names(
    tmp_path, parameter, offloads
):
    auth = f"""\
        from typing import Any

        from botocore.client import BaseClient
        from fastapi import APIRouter

        from app import clients
        from app.clients import REGION, cognito
        from vendor import make_client

        router = APIRouter()


        def sign_in(user, {parameter}):
            return client.initiate_auth(AuthFlow="USER_PASSWORD_AUTH", user=user)


        @router.post("/login")
        async def login(user: str):
            return sign_in(user)
        """
    lines = offloaded(tmp_path, {"app/clients.py": CLIENTS, "app/auth.py": auth})
    assert lines == (["return await run_in_threadpool(sign_in, user)"] if offloads else [])


AWAITED = """\
    import bcrypt
    from fastapi import APIRouter

    router = APIRouter()


    class User:
        def check(self, password: str) -> bool:
            return bcrypt.checkpw(password.encode(), b"hash")


    async def load_user(name: str){returns}:
        return {made}


    @router.post("/login")
    async def login(name: str, password: str):
        user = await load_user(name)
        return user.check(password)
    """


@pytest.mark.parametrize(("returns", "made"), [(" -> User", "registry.find(name)"), ("", "User()")])
def test_what_an_awaited_coroutine_gives_is_its_return_annotation_or_value(tmp_path, returns, made):
    auth = AWAITED.format(returns=returns, made=made)
    auth = auth.replace("import bcrypt", "import bcrypt\n    from vendor import registry")
    lines = offloaded(tmp_path, {"app/auth.py": auth})
    assert lines == ["return await run_in_threadpool(user.check, password)"]


@pytest.mark.parametrize("returns", ["", " -> object", " -> None"])
def test_an_awaited_coroutine_of_no_known_return_is_left_alone(tmp_path, returns):
    auth = AWAITED.format(returns=returns, made="registry.find(name)")
    auth = auth.replace("import bcrypt", "import bcrypt\n    from vendor import registry")
    assert offloaded(tmp_path, {"app/auth.py": auth}) == []


TABLES = """\
    from contextlib import asynccontextmanager

    from fastapi import FastAPI
    from sqlalchemy import Column, Integer, create_engine
    from sqlalchemy.orm import DeclarativeBase, declarative_base

    engine = create_engine("sqlite://")
    {base}


    class User(Base):
        __tablename__ = "users"
        id = Column(Integer, primary_key=True)


    def create_tables():
        {statement}


    @asynccontextmanager
    async def lifespan(app):
        create_tables()
        yield


    app = FastAPI(lifespan=lifespan)
    """


@pytest.mark.parametrize(
    "base",
    [
        "Base = declarative_base()",
        "class Base(DeclarativeBase):\n        pass",
    ],
)
@pytest.mark.parametrize(
    "statement", ["User.metadata.create_all(engine)", "Base.metadata.create_all(engine)"]
)
def test_metadata_read_through_a_model_or_a_declarative_base_creates_tables(
    tmp_path, base, statement
):
    main = TABLES.format(base=base, statement=statement)
    assert offloaded(tmp_path, {"app/main.py": main}) == ["await run_in_threadpool(create_tables)"]


@pytest.mark.parametrize(
    "statement",
    [
        "return User.id.desc()",  # a column the model's body assigns
        "return User.__tablename__.upper()",
        "return User.metadata.tables",  # no call
    ],
)
def test_what_a_model_class_defines_or_only_reads_is_left_alone(tmp_path, statement):
    main = TABLES.format(base="Base = declarative_base()", statement=statement)
    assert offloaded(tmp_path, {"app/main.py": main}) == []


INTERFACE = """\
    from abc import ABC, abstractmethod
    from typing import Protocol

    import boto3
    from fastapi import APIRouter

    router = APIRouter()
    s3 = boto3.client("s3")


    class Uploader({base}):
        {decorator}
        def upload(self, data: bytes) -> str:
            ...


    class S3Uploader(Uploader):
        def upload(self, data: bytes) -> str:
            s3.put_object(Bucket="b", Key="k", Body=data)
            return "k"
    {more}

    async def store(uploader: Uploader, data: bytes):
        return uploader.upload(data)


    @router.post("/")
    async def post():
        return await store(S3Uploader(), b"x")
    """


@pytest.mark.parametrize(("base", "decorator"), [("ABC", "@abstractmethod"), ("Protocol", "")])
def test_a_call_through_an_interface_runs_its_one_implementation(tmp_path, base, decorator):
    upload = INTERFACE.format(base=base, decorator=decorator, more="")
    lines = offloaded(tmp_path, {"app/upload.py": upload})
    assert lines == ["return await run_in_threadpool(uploader.upload, data)"]


MEMORY = """\

    class MemoryUploader(Uploader):
        def upload(self, data: bytes) -> str:
            return "memory"
    """


@pytest.mark.parametrize(
    ("base", "decorator", "more"),
    [
        ("ABC", "@abstractmethod", MEMORY),  # two implementations: which one runs?
        ("ABC", "", ""),  # not abstract: the base's own method runs
        ("object", "", ""),
    ],
)
def test_a_call_through_an_interface_of_several_or_no_implementations_is_left_alone(
    tmp_path, base, decorator, more
):
    upload = INTERFACE.format(base=base, decorator=decorator, more=more)
    assert offloaded(tmp_path, {"app/upload.py": upload}) == []


ROWS = """\
    from fastapi import APIRouter, Depends
    from sqlalchemy import select
    from sqlalchemy.orm import Mapped, Session, mapped_column

    from app.db import get_db
    from app.models import Base

    router = APIRouter()


    class Category(Base):
        __tablename__ = "categories"
        id: Mapped[int] = mapped_column(primary_key=True)
        views: Mapped[int] = mapped_column(default=0)

        def to_dict(self) -> dict:
            return {{"id": self.id, "views": self.views}}

        def increment_views(self, db: Session) -> None:
            self.views += 1
            db.commit()


    def get_category(cid: int, db: Session):
        return {query}


    @router.get("/{{cid}}")
    async def read(cid: int, db: Session = Depends(get_db)):
        category = get_category(cid, db)
        category.{method}
        return None
    """

ROW_QUERIES = [
    "db.query(Category).filter(Category.id == cid).first()",
    "db.scalars(select(Category).where(Category.id == cid)).one()",
    "db.execute(select(Category)).scalars().first()",
    "db.get(Category, cid)",
]


def _rows(tmp_path, query: str, method: str) -> list[object]:
    """What is reported in the route's module, and the lines offloaded to a thread there
    but the helper's own query."""
    models = (
        "from sqlalchemy.orm import DeclarativeBase\n\n\nclass Base(DeclarativeBase):\n    pass\n"
    )
    categories = ROWS.format(query=query, method=method)
    files = {"app/models.py": models, "app/categories.py": categories}
    lines = offloaded(tmp_path, files)
    assert "category = await run_in_threadpool(get_category, cid, db)" in lines
    reported = [where for where in findings(tmp_path, files) if where[0] == "categories.py"]
    return [*reported, *(line for line in lines if "get_category" not in line)]


@pytest.mark.parametrize("query", ROW_QUERIES)
def test_a_row_method_that_reads_loaded_columns_does_not_block(tmp_path, query):
    assert _rows(tmp_path, query, "to_dict()") == []


@pytest.mark.parametrize("query", ROW_QUERIES)
def test_a_row_method_that_commits_blocks_where_it_is_called(tmp_path, query):
    lines = _rows(tmp_path, query, "increment_views(db)")
    assert lines == ["await run_in_threadpool(category.increment_views, db)"]


LOOPS = """\
    import requests
    from fastapi import APIRouter, Depends
    from sqlalchemy.orm import Session

    from app.db import get_db
    from app.models import User

    router = APIRouter()


    def active(db: Session):
        return db.query(User).filter(User.id > 0)


    def everyone(db: Session):
        return db.query(User).all()


    def names() -> list:
        return ["a", "b"]


    @router.get("/")
    async def users(db: Session = Depends(get_db)):
        found = []
        {loop}
        return found
    """


@pytest.mark.parametrize(
    "loop",
    [
        "for user in db.query(User).order_by(User.id):\n            found.append(user)",
        "for user in active(db):\n            found.append(user)",
        "found = [user for user in active(db)]",
        "query = db.query(User)\n        for user in query:\n            found.append(user)",
    ],
)
def test_iterating_a_lazy_query_blocks_where_the_loop_is(tmp_path, loop):
    findings(tmp_path, {"app/users.py": LOOPS.format(loop=loop)})
    result = run(tmp_path, "app")
    reported = [f for f in result.findings if "for ... in" in f.message]
    assert [(f.code, f.path.name) for f in reported] == [("VF103", "users.py")]
    assert "for ... in Session().query()" in reported[0].message
    assert reported[0].blocking is not None
    assert reported[0].blocking.kind == "db"


@pytest.mark.parametrize(
    "loop",
    [
        "for name in names():\n            found.append(name)",
        "for name in ['a', 'b']:\n            found.append(name)",
        "for item in requests.get('http://x').json():\n            found.append(item)",
        "for user in everyone(db):\n            found.append(user)",  # blocks at the call
        "for user in db.query(User).all():\n            found.append(user)",  # likewise
    ],
)
def test_iterating_what_is_in_memory_already_is_left_alone(tmp_path, loop):
    findings(tmp_path, {"app/users.py": LOOPS.format(loop=loop)})
    result = run(tmp_path, "app")
    assert [f.message for f in result.findings if "for ... in" in f.message] == []


HANDED_ON = """\
    from fastapi import APIRouter, Depends
    from sqlalchemy.orm import Session

    from app.db import get_db
    from app.models import User

    router = APIRouter()


    def find(db, name):
        return db.query(User).filter(User.name == name).first()


    {helper}
    @router.get("/{{name}}")
    async def user(name: str, db: Session = Depends(get_db)):
        return {call}
    """


@pytest.mark.parametrize("call", ["find(db, name)", "find(name=name, db=db)", "lookup(db, name)"])
def test_an_untyped_parameter_is_what_every_call_passes_it(tmp_path, call):
    helper = "def lookup(db, name):\n        return find(db, name)\n\n\n"
    service = HANDED_ON.format(call=call, helper=helper if "lookup" in call else "")
    lines = offloaded(tmp_path, {"app/users.py": service})
    assert lines == [f"return await run_in_threadpool({call.replace('(', ', ', 1)}"]


@pytest.mark.parametrize(
    ("call", "elsewhere"),
    [
        # Another caller passes something else: which one is it?
        ("find(db, name)", "def other():\n    c = redis.Redis()\n    return find(c, 'x')\n"),
        # Another caller passes something unknown.
        ("find(db, name)", "def other(x):\n    return find(x.db, 'x')\n"),
        # It is passed around as a value: its callers are not all the project's.
        ("find(db, name)", "def other():\n    return map(find, [1], ['x'])\n"),
    ],
)
def test_an_untyped_parameter_with_callers_that_disagree_is_left_alone(tmp_path, call, elsewhere):
    service = HANDED_ON.format(call=call, helper="")
    service += "\n\n" + textwrap.indent(elsewhere, "    ")
    service = service.replace(
        "from app.models import User", "from app.models import User\n    import redis"
    )
    assert offloaded(tmp_path, {"app/users.py": service}) == []


def test_an_untyped_parameter_the_function_rebinds_is_left_alone(tmp_path):
    service = HANDED_ON.format(call="find(db, name)", helper="").replace(
        "    def find(db, name):\n", "    def find(db, name):\n        db = make_db()\n"
    )
    service = service.replace(
        "from app.db import get_db", "from app.db import get_db\n    from vendor import make_db"
    )
    assert offloaded(tmp_path, {"app/users.py": service}) == []


def test_a_query_refined_step_by_step_blocks_where_it_runs(tmp_path):
    service = """\
        from fastapi import APIRouter, Depends
        from sqlalchemy.orm import Session

        from app.db import get_db
        from app.models import User

        router = APIRouter()


        def find(db: Session, name, active):
            query = db.query(User).filter(User.id > 0)
            if name:
                query = query.filter(User.name == name)
            if active:
                query = query.filter(User.active).order_by(User.id)
            return query.all()


        @router.get("/")
        async def users(name: str, db: Session = Depends(get_db)):
            return find(db, name, True)
        """
    findings(tmp_path, {"app/users.py": service})
    result = run(tmp_path, "app")
    chains = [edit.blocking for f in result.files for edit in f.edits if edit.blocking]
    assert [chain.chain[-1].line for chain in chains] == [16]


SHARED = """\
    import psycopg2
    import requests as http


    class Ledger:
        def __init__(self):
            self.cursor = psycopg2.connect(dbname="x").cursor()

        def balance(self, user_id):
            self.cursor.execute("select balance from users where id = %s", (user_id,))
            return self.cursor.fetchone()


    ledger = Ledger()
    conn = psycopg2.connect(dbname="x")
    """


ROUTE_USING = """\
    from fastapi import APIRouter

    {imports}

    router = APIRouter()


    @router.get("/")
    async def balance(user_id: str):
        {body}
    """


@pytest.mark.parametrize(
    ("imports", "body"),
    [
        ("from app.shared import *", "return ledger.balance(user_id)"),
        ("from app.shared import *", "return conn.cursor().fetchall()"),
        ("from app.shared import *", "return psycopg2.connect().cursor().fetchall()"),
        ("from app.shared import http", "return http.get('http://x').json()"),
        ("from app import shared", "return shared.http.get('http://x').json()"),
    ],
)
def test_objects_and_modules_another_module_hands_on_are_followed(tmp_path, imports, body):
    route = ROUTE_USING.format(imports=imports, body=body)
    findings(tmp_path, {"app/shared.py": SHARED, "app/routes.py": route})
    result = run(tmp_path, "app")
    reached = [
        record.blocking.call
        for file in result.files
        if file.path.name == "routes.py"
        for record in (*file.edits, *file.findings)
        if record.blocking is not None
    ] + [f.blocking.call for f in result.findings if f.path.name == "routes.py" and f.blocking]
    assert reached, result.findings
    assert all(call.startswith(("psycopg2.", "requests.")) for call in reached)


@pytest.mark.parametrize(
    ("imports", "body"),
    [
        ("from app.shared import *", "return ledger"),  # no call
        ("from app.shared import *", "return len(user_id)"),
        ("from app.shared import Ledger", "return Ledger"),
    ],
)
def test_what_a_star_import_brings_and_nothing_calls_is_left_alone(tmp_path, imports, body):
    route = ROUTE_USING.format(imports=imports, body=body)
    assert findings(tmp_path, {"app/shared.py": SHARED, "app/routes.py": route}) == []


APP_STATE = """\
    from contextlib import asynccontextmanager

    from fastapi import FastAPI, Request
    from openai import OpenAI


    class Embedder:
        def __init__(self):
            self.client = OpenAI(api_key="x")

        def embed(self, text: str):
            return self.client.embeddings.create(model="m", input=[text])


    @asynccontextmanager
    async def lifespan(app: FastAPI):
        {setup}
        yield


    app = FastAPI(lifespan=lifespan)


    @app.post("/search")
    async def search(request: Request, q: str):
        return {read}.embed(q)
    """


@pytest.mark.parametrize(
    ("setup", "read"),
    [
        ("app.state.embedder = Embedder()", "request.app.state.embedder"),
        ("app.state.embedder = Embedder()", "app.state.embedder"),
        ("app.embedder = Embedder()", "request.app.embedder"),
    ],
)
def test_what_the_app_holds_is_followed_through_the_request(tmp_path, setup, read):
    main = APP_STATE.format(setup=setup, read=read)
    assert offloaded(tmp_path, {"app/main.py": main}) == [
        f"return await run_in_threadpool({read}.embed, q)"
    ]


@pytest.mark.parametrize(
    ("setup", "read"),
    [
        ("app.state.embedder = Embedder()", "request.app.state.other"),  # never set
        ("app.state.embedder = make_embedder()", "request.app.state.embedder"),  # unknown
    ],
)
def test_what_the_app_holds_of_no_known_type_is_left_alone(tmp_path, setup, read):
    main = APP_STATE.format(setup=setup, read=read).replace(
        "from openai import OpenAI",
        "from openai import OpenAI\n    from vendor import make_embedder",
    )
    assert offloaded(tmp_path, {"app/main.py": main}) == []


def test_a_module_level_attribute_of_a_client_is_what_it_names(tmp_path):
    main = """\
        from fastapi import FastAPI
        from pymongo import MongoClient

        app = FastAPI()
        client = MongoClient("mongodb://localhost")
        songs = client.music.songs
        name = client.address


        @app.get("/")
        async def first():
            return songs.find_one({}), name
        """
    assert offloaded(tmp_path, {"app/main.py": main}) == [
        "return await run_in_threadpool(songs.find_one, {}), name"
    ]


SHARED_CONNECTION = """\
    import sqlite3

    import psycopg2
    from fastapi import FastAPI

    app = FastAPI()
    {made}


    def count_users():
        {use}


    def report():
        return count_users()


    @app.get("/")
    async def users():
        return {{"n": {call}}}
    """


@pytest.mark.parametrize("call", ["count_users()", "report()"])
@pytest.mark.parametrize(
    ("made", "use"),
    [
        ('conn = sqlite3.connect("shop.db")', 'return conn.execute("select 1").fetchone()'),
        ('cur = psycopg2.connect("dbname=x").cursor()', 'cur.execute("select 1")'),
    ],
)
def test_a_connection_made_at_import_for_every_request_is_not_sent_to_a_thread(
    tmp_path, made, use, call
):
    main = SHARED_CONNECTION.format(made=made, use=use, call=call)
    assert offloaded(tmp_path, {"app/main.py": main}) == []
    findings(tmp_path, {"app/main.py": main})
    messages = [f.message for f in run(tmp_path, "app").findings]
    assert any("made once at import for every request" in m for m in messages), messages


@pytest.mark.parametrize(
    ("made", "use"),
    [
        # A connection of its own, in the thread that uses it.
        ("", 'return sqlite3.connect("shop.db").execute("select 1").fetchone()'),
        # psycopg2's connections are thread-safe; each call takes its own cursor.
        ('conn = psycopg2.connect("dbname=x")', 'conn.cursor().execute("select 1")'),
    ],
)
def test_a_connection_a_thread_may_use_is_sent_to_one(tmp_path, made, use):
    main = SHARED_CONNECTION.format(made=made, use=use, call="count_users()")
    lines = offloaded(tmp_path, {"app/main.py": main})
    assert lines == ['return {"n": await run_in_threadpool(count_users)}']
