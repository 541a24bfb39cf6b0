"""VF201 (shared-session): a handler using a module-level session takes the request's."""

from textwrap import dedent

import pytest
from vibefix.codemods.shared_session import SharedSession

from tests.codemods.helpers import _run, assert_transforms, assert_unchanged, findings_for, upto

HEAD = dedent(
    """\
    from fastapi import APIRouter, BackgroundTasks
    from sqlalchemy import create_engine
    from sqlalchemy.orm import sessionmaker

    SessionLocal = sessionmaker(bind=create_engine("sqlite:///./app.db"))
    db_session = SessionLocal()
    router = APIRouter()


    def get_db():
        db = SessionLocal()
        try:
            yield db
        finally:
            db.close()
    """
)
NEW_HEAD = HEAD.replace(
    "from fastapi import APIRouter, BackgroundTasks\n",
    "from typing import Annotated\n\nfrom fastapi import APIRouter, BackgroundTasks, Depends\n",
).replace(
    "from sqlalchemy.orm import sessionmaker\n",
    "from sqlalchemy.orm import Session, sessionmaker\n",
)


def case(handlers: str) -> str:
    return f"{HEAD}\n\n{dedent(handlers)}"


def test_a_handler_using_the_module_session_takes_the_requests_under_the_same_name():
    before = case(
        """\
        @router.get("/users")
        def list_users(limit: int = 100):
            return db_session.query(dict).limit(limit).all()


        @router.post("/users")
        async def add_user(name: str):
            db_session.add(name)
            db_session.commit()
        """
    )
    after = f"{NEW_HEAD}\n\n" + dedent(
        """\
        @router.get("/users")
        def list_users(limit: int = 100, *, db_session: Annotated[Session, Depends(get_db)]):
            return db_session.query(dict).limit(limit).all()


        @router.post("/users")
        async def add_user(name: str, *, db_session: Annotated[Session, Depends(get_db)]):
            db_session.add(name)
            db_session.commit()
        """
    )
    assert_transforms(SharedSession, before, after)


def test_code_outside_requests_keeps_the_module_session():
    source = case(
        """\
        def nightly():
            return db_session.query(dict).count()


        @router.get("/health")
        def health():
            return {"ok": True}
        """
    )
    assert_unchanged(SharedSession, source)
    assert findings_for(SharedSession, source) == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("return db_session", "used other than by its methods"),
        ("tasks.add_task(db_session.commit)", "`add_task`"),
        ("global db_session\n    db_session = SessionLocal()", "opens a session of its own"),
        ("return lambda: db_session.query(dict)", "in a lambda"),
    ],
)
def test_a_handler_that_keeps_the_session_beyond_the_request_is_a_finding(body, reason):
    source = (
        f"{HEAD}\n\n@router.get('/x')\ndef handler(tasks: BackgroundTasks):\n"
        f"    db_session.flush()\n    {body}\n"
    )
    assert_unchanged(SharedSession, source)
    assert any(reason in message for _, message in findings_for(SharedSession, source))


def test_no_dependency_for_the_factory_is_a_finding():
    source = (
        case(
            """\
        @router.get("/users")
        def list_users():
            return db_session.query(dict).all()
        """
        )
        .replace("def get_db():", "def open_db():")
        .replace("    yield db", "    return db")
    )
    assert_unchanged(SharedSession, source)
    assert "define `get_db`" in findings_for(SharedSession, source)[0][1]


def test_a_handler_also_called_directly_is_a_finding():
    source = case(
        """\
        @router.get("/users")
        def list_users():
            return db_session.query(dict).all()


        def report():
            return len(list_users())
        """
    )
    assert_unchanged(SharedSession, source)
    assert "also called directly" in findings_for(SharedSession, source)[0][1]


def test_a_handler_that_also_reaches_the_session_through_its_module_is_a_finding():
    # The cases run as the module ``example``: ``example.db_session`` is the same session.
    source = "import example\n" + case(
        """\
        @router.get("/mixed")
        def mixed():
            items = db_session.query(dict).all()
            example.db_session.commit()
            return items
        """
    )
    assert_unchanged(SharedSession, source)
    assert "other than by one name" in findings_for(SharedSession, source)[0][1]


def test_a_handler_that_already_takes_the_dependency_is_a_finding():
    source = case(
        """\
        @router.get("/users")
        def list_users(db=Depends(get_db)):
            return db.query(dict).all() + db_session.query(dict).all()
        """
    ).replace("APIRouter, BackgroundTasks", "APIRouter, BackgroundTasks, Depends")
    assert_unchanged(SharedSession, source)
    assert "hand it the same one twice" in findings_for(SharedSession, source)[0][1]


def test_with_no_dependency_the_one_vf200_writes_is_used():
    before = (
        case(
            """\
        @router.get("/users")
        def list_users(limit: int = 100):
            return db_session.query(dict).limit(limit).all()
        """
        )
        .replace("def get_db():", "def open_db():")
        .replace("    yield db", "    return db")
    )
    result = _run(upto(SharedSession), before)
    assert result.new_source is not None
    new = result.new_source.decode()
    assert (
        'SessionLocal = sessionmaker(bind=create_engine("sqlite:///./app.db"))\n\n\n'
        "def get_db() -> Iterator[Session]:\n"
    ) in new
    assert "\n\n\ndb_session = SessionLocal()\n" in new
    assert (
        "def list_users(limit: int = 100, *, db_session: Annotated[Session, Depends(get_db)]):"
        in new
    )


STATE_HEAD = dedent(
    """\
    from fastapi import FastAPI, Request
    from sqlalchemy import create_engine
    from sqlalchemy.orm import sessionmaker

    SessionLocal = sessionmaker(bind=create_engine("sqlite:///./app.db"))
    app = FastAPI()
    app.state.db = SessionLocal()


    def get_db():
        db = SessionLocal()
        try:
            yield db
        finally:
            db.close()
    """
)
STATE_NEW_HEAD = STATE_HEAD.replace(
    "from fastapi import FastAPI, Request\n",
    "from typing import Annotated\n\nfrom fastapi import Depends, FastAPI, Request\n",
).replace(
    "from sqlalchemy.orm import sessionmaker\n",
    "from sqlalchemy.orm import Session, sessionmaker\n",
)


def test_a_handler_using_the_session_on_app_state_takes_the_requests():
    before = STATE_HEAD + dedent(
        """\


        @app.post("/notes")
        def add_note(text: str, request: Request):
            db = request.app.state.db
            db.add(text)
            db.commit()


        @app.get("/notes")
        def list_notes(request: Request):
            return request.app.state.db.query(dict).all()
        """
    )
    after = STATE_NEW_HEAD + dedent(
        """\


        @app.post("/notes")
        def add_note(text: str, request: Request, *, db: Annotated[Session, Depends(get_db)]):
            db.add(text)
            db.commit()


        @app.get("/notes")
        def list_notes(request: Request, *, db: Annotated[Session, Depends(get_db)]):
            return db.query(dict).all()
        """
    )
    assert_transforms(SharedSession, before, after)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("    return request.app.state.db\n", "returned"),
        ("    db = 1\n    return request.app.state.db.query(db)\n", "assign"),
        (
            "    request.app.state.cache.clear()\n    return request.app.state.db.query(dict)\n",
            "",
        ),
    ],
)
def test_app_state_sessions_that_escape_or_clash_are_findings_or_left(body, reason):
    before = STATE_HEAD + "\n\n@app.get('/x')\ndef x(request: Request):\n" + body
    if not reason:
        # ``app.state.cache`` is no session: only the session's read changes.
        result = _run(SharedSession, before)
        assert result.new_source is not None
        assert "request.app.state.cache.clear()" in result.new_source.decode()
        return
    assert_unchanged(SharedSession, before)
    found = findings_for(SharedSession, before)
    assert found, found
    assert "app.state.db" in found[0][1]


def test_app_state_session_without_a_dependency_is_a_finding():
    before = (
        STATE_HEAD.replace("def get_db():", "def open_db():").replace(
            "    yield db", "    return db"
        )
        + "\n\n@app.get('/x')\ndef x(request: Request):\n"
        + "    return request.app.state.db.query(dict)\n"
    )
    assert_unchanged(SharedSession, before)
    assert "no dependency" in findings_for(SharedSession, before)[0][1]
