"""VF202 (engine-pool): `create_engine` for a server database gets explicit pool settings."""

from textwrap import dedent

import pytest
from vibefix.codemods.engine_pool import EnginePool

from tests.codemods.helpers import (
    _run,
    assert_transforms,
    assert_unchanged,
    config_with,
    findings_for,
)

SETTINGS = "pool_size=10, max_overflow=30, pool_recycle=1800, pool_pre_ping=True"

# ---------------------------------------------------------------------------------------
# Rewrites
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("imports", "call"),
    [
        ("from sqlalchemy import create_engine", "create_engine"),
        ("import sqlalchemy as sa", "sa.create_engine"),
        ("from sqlalchemy.engine import create_engine as make", "make"),
        ("from sqlalchemy.ext.asyncio import create_async_engine", "create_async_engine"),
    ],
)
def test_a_server_url_written_in_the_call_gets_pool_settings(imports, call):
    before = f'{imports}\n\nengine = {call}("postgresql://app@db/shop", echo=True)\n'
    after = f'{imports}\n\nengine = {call}("postgresql://app@db/shop", echo=True, {SETTINGS})\n'
    assert_transforms(EnginePool, before, after)


@pytest.mark.parametrize(
    "url",
    ['"mysql+pymysql://app@db/shop"', "'mariadb://db/x'", 'f"postgresql://{user}@db/shop"'],
)
def test_every_server_dialect_and_spelling_of_the_url(url):
    before = f"from sqlalchemy import create_engine\n\nuser = 'a'\nengine = create_engine({url})\n"
    after = before.replace(f"create_engine({url})", f"create_engine({url}, {SETTINGS})")
    assert_transforms(EnginePool, before, after)


def test_a_url_assigned_to_a_module_constant_and_a_multiline_call():
    before = dedent(
        """\
        from sqlalchemy import create_engine

        URL = "postgresql://app@db/shop"
        engine = create_engine(
            URL,
            echo=True,
        )
        """
    )
    after = dedent(
        """\
        from sqlalchemy import create_engine

        URL = "postgresql://app@db/shop"
        engine = create_engine(
            URL,
            echo=True,
            pool_size=10,
            max_overflow=30,
            pool_recycle=1800,
            pool_pre_ping=True,
        )
        """
    )
    assert_transforms(EnginePool, before, after)


def test_the_settings_come_from_the_configuration():
    config = config_with(**{"engine-pool": {"pool-size": 4, "pool-pre-ping": False}})
    before = 'from sqlalchemy import create_engine\n\nengine = create_engine("postgresql://db/x")\n'
    output = _run(EnginePool, before, config).new_source
    assert output is not None
    assert output.decode().endswith(
        'create_engine("postgresql://db/x", pool_size=4, max_overflow=30, pool_recycle=1800,'
        " pool_pre_ping=False)\n"
    )


# ---------------------------------------------------------------------------------------
# Left alone
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        'create_engine("sqlite:///./app.db")',  # SQLite: no server
        'create_engine("sqlite://")',
        'create_engine("postgresql://db/x", pool_size=20)',  # the pool was thought about
        'create_engine("postgresql://db/x", poolclass=NullPool)',
        'create_engine("postgresql://db/x", pool_pre_ping=True)',
        'create_engine("postgresql://db/x", **options)',  # unknown arguments
        "create_engine()",
    ],
)
def test_an_engine_with_no_server_or_with_pool_settings_is_left_alone(call):
    source = (
        "from sqlalchemy import create_engine\nfrom sqlalchemy.pool import NullPool\n\n"
        f"options = {{}}\nengine = {call}\n"
    )
    assert_unchanged(EnginePool, source)
    assert findings_for(EnginePool, source) == []


def test_another_create_engine_is_not_sqlalchemys():
    source = dedent(
        """\
        def create_engine(url):
            return url


        engine = create_engine("postgresql://db/x")
        """
    )
    assert_unchanged(EnginePool, source)


@pytest.mark.parametrize(
    "url",
    ['os.environ["DATABASE_URL"]', "settings.DATABASE_URL", 'os.getenv("DB", "sqlite://")'],
)
def test_a_url_read_at_run_time_is_a_finding_naming_the_settings(url):
    source = (
        "import os\n\nfrom sqlalchemy import create_engine\n\nfrom app.config import settings\n\n"
        f"engine = create_engine({url})\n"
    )
    assert_unchanged(EnginePool, source)
    ((_, message),) = findings_for(EnginePool, source)
    assert "read at run time" in message
    assert SETTINGS in message


def test_a_constant_bound_more_than_once_or_shadowed_is_read_at_run_time():
    source = dedent(
        """\
        import os

        from sqlalchemy import create_engine

        URL = "postgresql://app@db/shop"
        if os.getenv("TESTING"):
            URL = "sqlite://"
        engine = create_engine(URL)
        PG = "postgresql://app@db/shop"


        def make(PG):
            return create_engine(PG)
        """
    )
    assert_unchanged(EnginePool, source)
    assert len(findings_for(EnginePool, source)) == 2


def test_comments_stay_on_their_arguments():
    before = dedent(
        """\
        from sqlalchemy import create_engine

        one = create_engine(
            "postgresql://app@db/shop",  # primary
        )
        two = create_engine(
            "postgresql://app@db/shop"  # primary
        )
        """
    )
    after = dedent(
        """\
        from sqlalchemy import create_engine

        one = create_engine(
            "postgresql://app@db/shop",  # primary
            pool_size=10,
            max_overflow=30,
            pool_recycle=1800,
            pool_pre_ping=True,
        )
        two = create_engine(
            "postgresql://app@db/shop",  # primary
            pool_size=10,
            max_overflow=30,
            pool_recycle=1800,
            pool_pre_ping=True
        )
        """
    )
    assert_transforms(EnginePool, before, after)


@pytest.mark.parametrize(
    ("path", "pooled"),
    [("app/db.py", True), ("tests/conftest.py", False), ("test_app.py", False)],
)
def test_a_test_suites_engine_is_left_alone(tmp_path, run_vibefix, path, pooled):
    # A test suite's engine serves no load; after `--recipe async-db` it gets
    # `poolclass=NullPool`, which pool sizes would contradict (create_engine refuses).
    engine = 'from sqlalchemy import create_engine\n\nengine = create_engine("postgresql://db/x")\n'
    (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / path).write_text(engine, encoding="utf-8")

    run_vibefix("apply", "--select", "VF202", "--unsafe", ".", cwd=tmp_path)

    written = (tmp_path / path).read_text(encoding="utf-8")
    assert ("pool_size=10" in written) is pooled, written
