"""VF204 (session-context): a session a script or helper closes by hand is held by `with`."""

from textwrap import dedent

import pytest
from vibefix.codemods.session_context import SessionContext

from tests.codemods.helpers import assert_transforms, assert_unchanged, findings_for

HEAD = dedent(
    """\
    from fastapi import FastAPI
    from sqlalchemy import create_engine
    from sqlalchemy.orm import sessionmaker

    SessionLocal = sessionmaker(bind=create_engine("sqlite:///./app.db"))
    app = FastAPI()
    """
)


def case(body: str) -> str:
    return f"{HEAD}\n\n{dedent(body)}"


def test_a_close_at_the_end_becomes_the_end_of_a_with():
    before = case(
        """\
        def report(day):
            if day is None:
                return 0

            # the orders of the day
            db = SessionLocal()

            count = db.query(dict).filter_by(day=day).count()
            db.commit()
            db.close()
            print(count)
            return count
        """
    )
    after = case(
        """\
        def report(day):
            if day is None:
                return 0

            # the orders of the day
            with SessionLocal() as db:
                count = db.query(dict).filter_by(day=day).count()
                db.commit()
            print(count)
            return count
        """
    )
    assert_transforms(SessionContext, before, after)


def test_a_finally_that_closed_becomes_the_with_and_the_excepts_stay_inside():
    before = case(
        """\
        async def send_receipts(order_ids):
            db = SessionLocal()
            try:
                for order_id in order_ids:
                    db.get(dict, order_id)
            finally:
                db.close()


        def purge():
            db = SessionLocal()
            try:
                db.query(dict).delete()
                db.commit()
            except Exception:
                db.rollback()
                raise
            finally:
                db.close()
        """
    )
    after = case(
        """\
        async def send_receipts(order_ids):
            with SessionLocal() as db:
                for order_id in order_ids:
                    db.get(dict, order_id)


        def purge():
            with SessionLocal() as db:
                try:
                    db.query(dict).delete()
                    db.commit()
                except Exception:
                    db.rollback()
                    raise
        """
    )
    assert_transforms(SessionContext, before, after)


def test_handlers_are_left_to_vf200_and_with_blocks_alone():
    source = case(
        """\
        @app.get("/count")
        def count():
            db = SessionLocal()
            total = db.query(dict).count()
            db.close()
            return total


        def report():
            with SessionLocal() as db:
                return db.query(dict).count()
        """
    )
    assert_unchanged(SessionContext, source)
    assert findings_for(SessionContext, source) == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("db = SessionLocal()\n    return db.query(dict).all()", "never closed"),
        (
            "db = SessionLocal()\n    rows = db.query(dict).all()\n    db.close()\n"
            "    db.query(dict)",
            "used after it is closed",
        ),
        (
            "db = SessionLocal()\n    if rows:\n        db.close()\n        return\n"
            "    db.commit()\n    db.close()",
            "closed in more than one place",
        ),
        ("db = SessionLocal()\n    db.close()  # done\n", "never closed"),
        ("db = SessionLocal()\n    other = SessionLocal()\n    db.close()", "more than one"),
        ("rows = SessionLocal().query(dict).all()", "other than as"),
        (
            "db = SessionLocal()\n    user = db.get(dict, 1)\n    if user:\n        return user\n"
            "    db.close()",
            "a `return` before",
        ),
        ("db = SessionLocal()\n    await db.execute(rows)\n    db.close()", "awaited"),
    ],
)
def test_a_session_a_with_cannot_hold_is_a_finding(body, reason):
    source = f"{HEAD}\n\nasync def job(rows, keep):\n    {body}\n"
    assert_unchanged(SessionContext, source)
    assert any(reason in message for _, message in findings_for(SessionContext, source))


def test_the_opening_lines_comment_stays_and_a_nested_function_is_its_own():
    before = case(
        """\
        def start(jobs):
            def work():
                db = SessionLocal()  # one per job
                db.query(dict).delete()
                db.close()

            for _ in jobs:
                work()
        """
    )
    after = case(
        """\
        def start(jobs):
            def work():
                # one per job
                with SessionLocal() as db:
                    db.query(dict).delete()

            for _ in jobs:
                work()
        """
    )
    assert_transforms(SessionContext, before, after)
    assert findings_for(SessionContext, before) == []
