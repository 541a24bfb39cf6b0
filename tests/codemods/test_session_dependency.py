"""VF200 (session-dependency): a session a route handler opens becomes `Depends(get_db)`.

The cases hold the session factory, the dependency and the handlers in one module; the
same across modules (the dependency imported where it is used) is in the example app's
end-to-end test and in ``tests/test_session_pool.py``, against a real pool."""

from textwrap import dedent

import pytest
from vibefix.codemods.session_dependency import SessionDependency

from tests.codemods.helpers import _run, assert_transforms, assert_unchanged, findings_for

HEAD = dedent(
    """\
    from fastapi import APIRouter, BackgroundTasks, HTTPException
    from sqlalchemy import create_engine
    from sqlalchemy.orm import sessionmaker

    engine = create_engine("sqlite:///./app.db")
    SessionLocal = sessionmaker(bind=engine)
    router = APIRouter()


    def get_db():
        db = SessionLocal()
        try:
            yield db
        finally:
            db.close()
    """
)
"""The module the cases append their handlers to (what every rewrite imports is added)."""

NEW_HEAD = HEAD.replace(
    "from fastapi import APIRouter, BackgroundTasks, HTTPException\n",
    "from typing import Annotated\n\n"
    "from fastapi import APIRouter, BackgroundTasks, Depends, HTTPException\n",
).replace(
    "from sqlalchemy.orm import sessionmaker\n",
    "from sqlalchemy.orm import Session, sessionmaker\n",
)


def case(handler: str) -> str:
    return f"{HEAD}\n\n{dedent(handler)}"


def rewritten(handler: str) -> str:
    return f"{NEW_HEAD}\n\n{dedent(handler)}"


NO_DEPENDENCY = (
    case(
        """\
        @router.get("/items")
        def items():
            db = SessionLocal()
            return db.query(dict).all()
        """
    )
    .replace("def get_db():", "def open_db():")
    .replace("    yield db", "    return db")
)
"""A handler that opens a session, in a module with no dependency that yields one."""


# ---------------------------------------------------------------------------------------
# Rewrites
# ---------------------------------------------------------------------------------------


def test_a_session_opened_and_closed_by_hand_comes_from_the_dependency():
    before = case(
        """\
        @router.get("/items/{item_id}")
        def read_item(item_id: int):
            db = SessionLocal()
            item = db.get(dict, item_id)
            if item is None:
                raise HTTPException(404)
            db.close()
            return item
        """
    )
    after = rewritten(
        """\
        @router.get("/items/{item_id}")
        def read_item(item_id: int, *, db: Annotated[Session, Depends(get_db)]):
            item = db.get(dict, item_id)
            if item is None:
                raise HTTPException(404)
            return item
        """
    )
    assert_transforms(SessionDependency, before, after)


def test_a_finally_that_only_closed_goes_and_the_excepts_stay():
    before = case(
        """\
        @router.post("/items")
        async def create_item(name: str):
            # One session for the whole request
            db = SessionLocal()
            try:
                db.add(name)
                db.commit()
            except Exception:
                db.rollback()
                raise
            finally:
                db.close()


        @router.delete("/items/{item_id}")
        def delete_item(item_id: int):
            db = SessionLocal()
            try:
                db.delete(item_id)
                db.commit()
            finally:
                db.close()
            return {"deleted": item_id}
        """
    )
    after = rewritten(
        """\
        @router.post("/items")
        async def create_item(name: str, *, db: Annotated[Session, Depends(get_db)]):
            # One session for the whole request
            try:
                db.add(name)
                db.commit()
            except Exception:
                db.rollback()
                raise


        @router.delete("/items/{item_id}")
        def delete_item(item_id: int, *, db: Annotated[Session, Depends(get_db)]):
            db.delete(item_id)
            db.commit()
            return {"deleted": item_id}
        """
    )
    assert_transforms(SessionDependency, before, after)


def test_a_close_alone_in_its_block_becomes_pass_and_blank_lines_stay():
    before = case(
        """\
        @router.get("/count")
        def count(fast: bool = False, *, limit: int = 10):
            if fast:
                return 0

            db = SessionLocal()
            total = db.query(dict).count()
            if total > limit:
                db.close()
            else:
                db.close()
                return limit
            return total
        """
    )
    after = rewritten(
        """\
        @router.get("/count")
        def count(fast: bool = False, *, limit: int = 10, db: Annotated[Session, Depends(get_db)]):
            if fast:
                return 0

            total = db.query(dict).count()
            if total > limit:
                pass
            else:
                return limit
            return total
        """
    )
    assert_transforms(SessionDependency, before, after)


def test_a_dependency_that_opens_its_own_session_is_given_one_too():
    before = case(
        """\
        def current_user(token: str):
            db = SessionLocal()
            user = db.query(dict).filter_by(token=token).first()
            db.close()
            return user


        @router.get("/me")
        def me(user=Depends(current_user)):
            return user
        """
    ).replace("BackgroundTasks, HTTPException", "BackgroundTasks, Depends, HTTPException")
    after = rewritten(
        """\
        def current_user(token: str, *, db: Annotated[Session, Depends(get_db)]):
            user = db.query(dict).filter_by(token=token).first()
            return user


        @router.get("/me")
        def me(user=Depends(current_user)):
            return user
        """
    )
    assert_transforms(SessionDependency, before, after)


# ---------------------------------------------------------------------------------------
# Left alone
# ---------------------------------------------------------------------------------------


def test_a_handler_that_already_uses_the_dependency_is_left_alone():
    source = case(
        """\
        @router.get("/items")
        def items(db=Depends(get_db)):
            return db.query(dict).all()
        """
    ).replace("BackgroundTasks, HTTPException", "BackgroundTasks, Depends, HTTPException")
    assert_unchanged(SessionDependency, source)
    assert findings_for(SessionDependency, source) == []


def test_a_helper_a_script_also_calls_and_the_script_are_not_vf200s():
    source = case(
        """\
        def load_items():
            db = SessionLocal()
            items = db.query(dict).all()
            db.close()
            return items


        @router.get("/items")
        def items():
            return load_items()


        def main():
            print(load_items())
        """
    )
    assert_unchanged(SessionDependency, source)
    assert findings_for(SessionDependency, source) == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("db = SessionLocal()\n    return db", "used other than by its methods"),
        ("db = SessionLocal()\n    db = SessionLocal()\n    return 1", "more than one session"),
        ("db = SessionLocal()\n    tasks.add_task(db.commit)\n    return 1", "`add_task`"),
        ("db = SessionLocal()\n    tasks.add_task(save, db)\n    return 1", "`add_task`"),
        ("db = SessionLocal()\n    return lambda: db.query(dict)", "in a lambda"),
        (
            "db = SessionLocal()\n\n    def later():\n        db.commit()\n\n"
            "    tasks.add_task(later)",
            "used in `later`, which is returned or run later",
        ),
        ("with SessionLocal() as db:\n        return db.query(dict).all()", "other than as"),
        ("if tasks:\n        db = SessionLocal()\n        db.close()", "other than as"),
        ("session = SessionLocal()\n    if session:\n        return 1", "tested"),
    ],
)
def test_a_session_that_is_not_only_the_requests_is_a_finding(body, reason):
    source = f"{HEAD}\n\n@router.post('/items')\ndef handler(tasks: BackgroundTasks):\n    {body}\n"
    assert_unchanged(SessionDependency, source)
    assert any(reason in message for _, message in findings_for(SessionDependency, source))


def test_a_parameter_of_the_same_name_is_a_finding():
    source = case(
        """\
        @router.get("/items")
        def items(db: str = "main"):
            db = SessionLocal()
            return db.query(dict).all()
        """
    )
    assert_unchanged(SessionDependency, source)
    assert "also one of its parameters" in findings_for(SessionDependency, source)[0][1]


def test_no_dependency_for_the_factory_gets_one_written_below_it():
    source = NO_DEPENDENCY
    result = _run(SessionDependency, source)
    assert result.new_source is not None
    new = result.new_source.decode()
    assert (
        "SessionLocal = sessionmaker(bind=engine)\n\n\n"
        "def get_db() -> Iterator[Session]:\n"
        '    """The request\'s session for FastAPI\'s `Depends`, closed after the response."""\n'
        "    db = SessionLocal()\n"
        "    try:\n"
        "        yield db\n"
        "    finally:\n"
        "        db.close()\n\n\n"
    ) in new
    assert "def items(*, db: Annotated[Session, Depends(get_db)]):" in new
    assert "from collections.abc import Iterator\n" in new


def test_no_dependency_and_every_name_for_one_taken_is_a_finding():
    source = (
        case(
            """\
        @router.get("/items")
        def items():
            db = SessionLocal()
            return db.query(dict).all()


        get_session = get_db_session = None
        """
        )
        .replace(
            "def get_db():",
            "def open_db():\n    pass\n\n\ndef get_db():\n    return 1\n\n\ndef _old():",
        )
        .replace("    yield db", "    return db")
    )
    assert_unchanged(SessionDependency, source)
    assert "define `get_db`" in findings_for(SessionDependency, source)[0][1]


def test_a_dependency_defined_after_the_handler_is_a_finding():
    handler = dedent(
        """\
        @router.get("/items")
        def items():
            db = SessionLocal()
            return db.query(dict).all()
        """
    )
    source = HEAD.replace("\n\ndef get_db():", f"\n\n{handler}\n\ndef get_db():")
    assert_unchanged(SessionDependency, source)
    assert "defined after the handler" in findings_for(SessionDependency, source)[0][1]


def test_comments_on_the_lines_that_go_stay():
    before = case(
        """\
        @router.get("/items")
        def items():
            db = SessionLocal()  # one per request
            try:
                rows = db.query(dict).all()
            finally:
                # always give the connection back
                db.close()
            db.close()  # twice, to be sure
            return rows
        """
    )
    after = rewritten(
        """\
        @router.get("/items")
        def items(*, db: Annotated[Session, Depends(get_db)]):
            # one per request
            try:
                rows = db.query(dict).all()
            finally:
                # always give the connection back
                db.close()
            db.close()  # twice, to be sure
            return rows
        """
    )
    assert_transforms(SessionDependency, before, after)


def test_startup_hooks_and_functions_also_called_directly_get_no_parameter():
    source = case(
        """\
        @router.on_event("startup")
        def seed():
            db = SessionLocal()
            db.add(dict())
            db.commit()
            db.close()


        def current_user(token: str = ""):
            db = SessionLocal()
            user = db.query(dict).first()
            db.close()
            return user


        @router.get("/me")
        def me(user=Depends(current_user)):
            return user


        @router.get("/admin")
        def admin():
            return current_user("admin-token")
        """
    ).replace("BackgroundTasks, HTTPException", "BackgroundTasks, Depends, HTTPException")
    assert_unchanged(SessionDependency, source)
    (found,) = findings_for(SessionDependency, source)
    assert "also called directly" in found[1]


def test_a_context_manager_or_a_generator_of_rows_is_no_dependency():
    source = case(
        """\
            @router.get("/items")
            def items():
                db = SessionLocal()
                return db.query(dict).all()
            """
    ).replace("def get_db():", "@contextlib.contextmanager\ndef get_db():").replace(
        "from fastapi", "import contextlib\n\nfrom fastapi"
    ) + dedent(
        """\


            def export_rows():
                db = SessionLocal()
                for row in db.query(dict):
                    yield row
            """
    )
    # Neither is a dependency: one is written under a name still free.
    result = _run(SessionDependency, source)
    assert result.new_source is not None
    new = result.new_source.decode()
    assert "def get_session() -> Iterator[Session]:\n" in new
    assert "def items(*, db: Annotated[Session, Depends(get_session)]):" in new
    assert "def export_rows():\n    db = SessionLocal()\n" in new


# ---------------------------------------------------------------------------------------
# Across modules: the dependency imported where the session was
# ---------------------------------------------------------------------------------------

DATABASE = """\
    from sqlalchemy import create_engine
    from sqlalchemy.orm import sessionmaker

    SessionLocal = sessionmaker(bind=create_engine("sqlite://"))


    def get_db():
        db = SessionLocal()
        try:
            yield db
        finally:
            db.close()
    """


@pytest.mark.parametrize(
    ("imports", "expected"),
    [
        # The factory's import was the last of its package: the dependency takes its place.
        (
            "from fastapi import FastAPI\nfrom app.database import SessionLocal\n",
            "from typing import Annotated\n\nfrom fastapi import Depends, FastAPI\n"
            "from sqlalchemy.orm import Session\nfrom app.database import get_db\n",
        ),
        # Relative imports: the project's absolute import goes above them, a section apart.
        (
            "import os\n\nfrom fastapi import FastAPI\n\nfrom . import models\n"
            "from .database import SessionLocal\n",
            "import os\nfrom typing import Annotated\n\nfrom fastapi import Depends, FastAPI\n"
            "from sqlalchemy.orm import Session\n\nfrom app.database import get_db\n\n"
            "from . import models\n",
        ),
    ],
)
def test_the_dependency_is_imported_where_the_factory_was(tmp_path, imports, expected):
    from tests.test_async_project import changed, run, write

    uses = ", os, models" if "models" in imports else ""
    main = (
        f'{imports}\napp = FastAPI()\n\n\n@app.get("/")\ndef home():\n'
        f"    db = SessionLocal()\n    return db.query(dict).all(){uses}\n"
    )
    write(
        tmp_path,
        {"app/__init__.py": "", "app/models.py": "", "app/database.py": DATABASE},
    )
    (tmp_path / "app/main.py").write_text(main)

    files = changed(run(tmp_path, "app"), tmp_path)

    assert sorted(files) == ["app/main.py"]
    assert files["app/main.py"].startswith(expected), files["app/main.py"]
    assert "def home(*, db: Annotated[Session, Depends(get_db)]):\n" in files["app/main.py"]


def test_a_nested_function_called_in_the_request_may_use_the_session():
    before = case(
        """\
        @router.post("/import")
        def bulk(items: list):
            db = SessionLocal()

            def save(batch):
                for item in batch:
                    db.add(item)
                db.commit()

            save(items)
            db.close()
        """
    )
    after = rewritten(
        """\
        @router.post("/import")
        def bulk(items: list, *, db: Annotated[Session, Depends(get_db)]):
            def save(batch):
                for item in batch:
                    db.add(item)
                db.commit()

            save(items)
        """
    )
    assert_transforms(SessionDependency, before, after)


# ---------------------------------------------------------------------------------------
# Helpers that open their own session take their callers' instead
# ---------------------------------------------------------------------------------------

HELPER = """\
def find_item(item_id: int):
    db = SessionLocal()
    item = db.get(dict, item_id)
    db.close()
    if item is None:
        raise HTTPException(404)
    return item
"""


def test_a_helper_takes_the_session_of_every_caller():
    before = case(
        HELPER
        + """

@router.get("/items/{item_id}")
def read_item(item_id: int):
    return find_item(item_id)


@router.delete("/items/{item_id}")
def delete_item(item_id: int):
    db = SessionLocal()
    item = find_item(item_id)
    db.delete(item)
    db.commit()
    db.close()
"""
    )
    after = rewritten(
        """\
def find_item(item_id: int, *, db: Session):
    item = db.get(dict, item_id)
    if item is None:
        raise HTTPException(404)
    return item


@router.get("/items/{item_id}")
def read_item(item_id: int, *, db: Annotated[Session, Depends(get_db)]):
    return find_item(item_id, db=db)


@router.delete("/items/{item_id}")
def delete_item(item_id: int, *, db: Annotated[Session, Depends(get_db)]):
    item = find_item(item_id, db=db)
    db.delete(item)
    db.commit()
"""
    )
    assert_transforms(SessionDependency, before, after)


def test_a_caller_that_takes_the_dependency_already_hands_that_session():
    before = (
        case(
            HELPER
            + """

@router.get("/items/{item_id}")
def read_item(item_id: int, session: Session = Depends(get_db)):
    return find_item(item_id)
"""
        )
        .replace(
            "from sqlalchemy.orm import sessionmaker",
            "from sqlalchemy.orm import Session, sessionmaker",
        )
        .replace("from fastapi import APIRouter,", "from fastapi import APIRouter, Depends,")
    )
    result = _run(SessionDependency, before)
    assert result.new_source is not None
    new = result.new_source.decode()
    assert "def find_item(item_id: int, *, db: Session):" in new
    assert "    return find_item(item_id, db=session)\n" in new
    assert "def read_item(item_id: int, session: Session = Depends(get_db)):" in new


@pytest.mark.parametrize(
    "callers",
    [
        # a script: no request, no session to hand over (VF204 holds the helper's own)
        "def nightly():\n    return find_item(1)\n",
        # a lambda: the call runs who knows when
        '@router.get("/x")\ndef x():\n    return sorted([1], key=lambda i: find_item(i))\n',
        # the name the helper's parameter takes is the caller's for something else
        '@router.get("/x")\ndef x(db: int):\n    return find_item(db)\n',
        # handed around as a value
        '@router.get("/x")\ndef x():\n    return list(map(find_item, [1]))\n',
    ],
)
def test_a_helper_with_a_caller_that_cannot_hand_it_a_session_keeps_its_own(callers):
    before = case(HELPER + "\n\n" + callers)
    result = _run(SessionDependency, before)
    new = (result.new_source or before.encode()).decode()
    assert "def find_item(item_id: int):\n    db = SessionLocal()\n" in new


@pytest.mark.parametrize(
    "helper",
    [
        # it commits: on the caller's session it would commit the caller's work too
        HELPER.replace("    db.close()\n", "    db.commit()\n    db.close()\n"),
        # a cache would keep every request's session as part of its key
        "@functools.cache\n" + HELPER,
    ],
)
def test_a_helper_that_writes_or_is_wrapped_keeps_its_own_session(helper):
    before = case(
        helper + '\n\n@router.get("/items/{item_id}")\ndef read_item(item_id: int):\n'
        "    return find_item(item_id)\n"
    ).replace("from fastapi", "import functools\n\nfrom fastapi")
    result = _run(SessionDependency, before)
    new = (result.new_source or before.encode()).decode()
    assert "def find_item(item_id: int):\n    db = SessionLocal()\n" in new


def test_a_helper_whose_caller_keeps_its_own_session_keeps_its_own_too():
    # The dependency comes after the handler: VF200 cannot give the caller the request's
    # session, so its own stays local, and it opens after the helper's call.
    handler = (
        '@router.get("/items/{item_id}")\n'
        "def read_item(item_id: int):\n"
        "    found = find_item(item_id)\n"
        "    db = SessionLocal()\n"
        "    db.close()\n"
        "    return found\n"
    )
    source = HEAD.replace("\n\ndef get_db():", f"\n\n{HELPER}\n\n{handler}\n\ndef get_db():")
    result = _run(SessionDependency, source)
    new = (result.new_source or source.encode()).decode()
    assert "def find_item(item_id: int):\n    db = SessionLocal()\n" in new
    assert "    found = find_item(item_id)\n" in new


def test_a_factory_under_an_if_gets_no_dependency_written_and_says_so():
    source = NO_DEPENDENCY.replace(
        "SessionLocal = sessionmaker(bind=engine)\n",
        "if engine:\n    SessionLocal = sessionmaker(bind=engine)\n",
    )
    assert_unchanged(SessionDependency, source)
    assert "define `get_db`" in findings_for(SessionDependency, source)[0][1]


# ---------------------------------------------------------------------------------------
# A close that hands the connection back before more work stays
# ---------------------------------------------------------------------------------------


def test_a_close_before_an_await_stays_so_the_connection_goes_back_before_it():
    # The handler gave its connection back before a 50 ms HTTP call; with the close gone
    # it would hold one for the whole request (the pool runs dry at 15 concurrent).
    before = case(
        """\
        @router.get("/price/{item_id}")
        async def price(item_id: int, client):
            db = SessionLocal()
            item = db.get(dict, item_id)
            db.close()
            rate = await client.rate()
            return item["price"] * rate
        """
    )
    after = rewritten(
        """\
        @router.get("/price/{item_id}")
        async def price(item_id: int, client, *, db: Annotated[Session, Depends(get_db)]):
            item = db.get(dict, item_id)
            db.close()
            rate = await client.rate()
            return item["price"] * rate
        """
    )
    assert_transforms(SessionDependency, before, after)


def test_a_close_before_a_call_in_a_later_block_stays():
    before = case(
        """\
        @router.get("/report")
        def report(send: bool):
            db = SessionLocal()
            rows = db.query(dict).all()
            if send:
                db.close()
            else:
                db.close()
            notify(rows)
            return rows
        """
    )
    after = rewritten(
        """\
        @router.get("/report")
        def report(send: bool, *, db: Annotated[Session, Depends(get_db)]):
            rows = db.query(dict).all()
            if send:
                db.close()
            else:
                db.close()
            notify(rows)
            return rows
        """
    )
    assert_transforms(SessionDependency, before, after)


def test_a_close_followed_only_by_the_answer_goes():
    # Building the answer (a call in the `return`) is not work to give the connection
    # back for: the dependency closes the session a moment later.
    before = case(
        """\
        @router.get("/items")
        def items():
            db = SessionLocal()
            rows = db.query(dict).all()
            db.close()
            return [dict(row) for row in rows]
        """
    )
    after = rewritten(
        """\
        @router.get("/items")
        def items(*, db: Annotated[Session, Depends(get_db)]):
            rows = db.query(dict).all()
            return [dict(row) for row in rows]
        """
    )
    assert_transforms(SessionDependency, before, after)


def test_a_close_on_a_path_that_raises_goes_though_work_follows_elsewhere():
    before = case(
        """\
        @router.get("/items/{item_id}")
        async def item(item_id: int, client):
            db = SessionLocal()
            row = db.get(dict, item_id)
            if row is None:
                db.close()
                raise HTTPException(404)
            await client.seen(item_id)
            db.close()
            return row
        """
    )
    after = rewritten(
        """\
        @router.get("/items/{item_id}")
        async def item(item_id: int, client, *, db: Annotated[Session, Depends(get_db)]):
            row = db.get(dict, item_id)
            if row is None:
                raise HTTPException(404)
            await client.seen(item_id)
            return row
        """
    )
    assert_transforms(SessionDependency, before, after)
