"""VF203 and a test suite's ``TestClient``: once the tables are made by the app's lifespan
(``create_all`` moved off import), a client no ``with`` enters finds none. The client is
entered where its shape allows, and said where it does not."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.conftest import RunVibefix
from tests.test_async_project import write
from tests.test_asyncdb_shapes import PROJECT, migrate, migrated, suite

APP = {name: text for name, text in PROJECT.items() if not name.startswith("tests/")}
"""The app, whose tables are made at import, and no test suite."""

SAID = "a `TestClient` not entered with `with`"

USES = """\
    def test_a_user(client):
        made = client.post("/users", json={"name": "ada"}).json()
        assert client.get(f"/users/{made['id']}").json() == {"name": "ada", "todos": []}
    """


def suite_of(conftest: str, tests: str = USES, **more: str) -> dict[str, str]:
    """The app with a test suite that makes no tables of its own."""
    return {
        **APP,
        "tests/__init__.py": "",
        "tests/conftest.py": conftest,
        "tests/test_users.py": tests,
        **more,
    }


# ---------------------------------------------------------------------------------------
# Entered by a ``with``
# ---------------------------------------------------------------------------------------


def test_a_fixture_that_keeps_its_client_in_a_variable_enters_it(tmp_path: Path) -> None:
    conftest = """\
        import pytest
        from fastapi.testclient import TestClient

        from app.main import app


        @pytest.fixture(scope="session")
        def client():
            client = TestClient(app)  # one for the session
            yield client
            app.dependency_overrides.clear()
        """
    new, findings = migrate(tmp_path, suite_of(conftest))

    assert migrated(new)
    assert findings == []
    assert new["tests/conftest.py"] == textwrap.dedent(
        """\
        import pytest
        from fastapi.testclient import TestClient

        from app.main import app


        @pytest.fixture(scope="session")
        def client():
            with TestClient(app) as client:  # one for the session
                yield client
                app.dependency_overrides.clear()
        """
    )


def test_a_fixture_that_returns_its_client_yields_it_from_a_with(tmp_path: Path) -> None:
    conftest = """\
        import pytest
        from fastapi.testclient import TestClient

        from app.main import app


        @pytest.fixture
        def client() -> TestClient:
            # the app, as it is
            return TestClient(app)
        """
    new, findings = migrate(tmp_path, suite_of(conftest))

    assert findings == []
    assert new["tests/conftest.py"] == textwrap.dedent(
        """\
        from collections.abc import Iterator

        import pytest
        from fastapi.testclient import TestClient

        from app.main import app


        @pytest.fixture
        def client() -> Iterator[TestClient]:
            # the app, as it is
            with TestClient(app) as client:
                yield client
        """
    )


def test_a_fixture_that_makes_then_returns_its_client_yields_it(tmp_path: Path) -> None:
    conftest = """\
        from pytest import fixture
        from fastapi.testclient import TestClient

        from app.main import app


        @fixture
        def client():
            made = TestClient(app)
            made.headers["X-Test"] = "1"
            return made
        """
    new, findings = migrate(tmp_path, suite_of(conftest))

    assert findings == []
    assert new["tests/conftest.py"].endswith(
        "def client():\n"
        "    with TestClient(app) as made:\n"
        '        made.headers["X-Test"] = "1"\n'
        "        yield made\n"
    )


def test_a_test_that_makes_its_own_client_uses_it_in_a_with(tmp_path: Path) -> None:
    tests = """\
        from fastapi.testclient import TestClient

        from app.main import app


        def test_a_user():
            client = TestClient(app)
            made = client.post("/users", json={"name": "ada"}).json()
            assert made["name"] == "ada"
        """
    files = {**APP, "tests/__init__.py": "", "tests/test_users.py": tests}
    new, findings = migrate(tmp_path, files)

    assert findings == []
    assert new["tests/test_users.py"].endswith(
        "def test_a_user():\n"
        "    with TestClient(app) as client:\n"
        '        made = client.post("/users", json={"name": "ada"}).json()\n'
        '        assert made["name"] == "ada"\n'
    )


def test_a_client_at_a_test_modules_top_level_is_entered_by_an_autouse_fixture(
    tmp_path: Path,
) -> None:
    tests = """\
        from fastapi.testclient import TestClient

        from app.main import app

        client = TestClient(app)
        HEADERS = {"X-Test": "1"}


        def test_a_user():
            made = client.post("/users", json={"name": "ada"}, headers=HEADERS).json()
            assert made["name"] == "ada"
        """
    files = {**APP, "tests/__init__.py": "", "tests/test_users.py": tests}
    new, findings = migrate(tmp_path, files)

    assert findings == []
    assert new["tests/test_users.py"] == textwrap.dedent(
        """\
        import pytest
        from fastapi.testclient import TestClient

        from app.main import app

        client = TestClient(app)


        # The app's lifespan makes the database tables: it runs around these tests.
        @pytest.fixture(autouse=True, scope="module")
        def _app_lifespan():
            with client:
                yield


        HEADERS = {"X-Test": "1"}


        def test_a_user():
            made = client.post("/users", json={"name": "ada"}, headers=HEADERS).json()
            assert made["name"] == "ada"
        """
    )


def test_the_autouse_fixture_is_typed_where_the_module_types_its_functions(
    tmp_path: Path,
) -> None:
    conftest = """\
        import pytest
        from fastapi.testclient import TestClient

        from app.main import app

        client = TestClient(app)


        @pytest.fixture
        def anyio_backend() -> str:
            return "asyncio"
        """
    tests = "from tests.conftest import client\n\n\n" + textwrap.dedent(USES).replace(
        "(client)", "()"
    )
    new, findings = migrate(tmp_path, suite_of(conftest, tests))

    assert findings == []
    assert new["tests/conftest.py"] == textwrap.dedent(
        """\
        from collections.abc import Iterator

        import pytest
        from fastapi.testclient import TestClient

        from app.main import app

        client = TestClient(app)


        # The app's lifespan makes the database tables: it runs around each test module.
        @pytest.fixture(autouse=True, scope="module")
        def _app_lifespan() -> Iterator[None]:
            with client:
                yield


        @pytest.fixture
        def anyio_backend() -> str:
            return "asyncio"
        """
    )
    assert "tests/test_users.py" not in new


# ---------------------------------------------------------------------------------------
# Left alone, and said
# ---------------------------------------------------------------------------------------

HELD = [
    pytest.param(
        {
            "tests/helpers.py": (
                "from fastapi.testclient import TestClient\n\nfrom app.main import app\n\n"
                "client = TestClient(app)\n"
            ),
            "tests/test_users.py": (
                "from tests.helpers import client\n\n\n"
                "def test_a_user():\n    assert client.get('/users/1').status_code == 404\n"
            ),
        },
        "tests/helpers.py:5:",
        id="module-level-in-a-helper-pytest-does-not-collect",
    ),
    pytest.param(
        {
            "tests/test_users.py": (
                "import pytest\nfrom fastapi.testclient import TestClient\n\n"
                "from app.main import app\n\n\n"
                "@pytest.fixture(autouse=True)\ndef client(request):\n"
                "    request.cls.client = TestClient(app)\n\n\n"
                "class TestUsers:\n    def test_a_user(self):\n"
                "        assert self.client.get('/users/1').status_code == 404\n"
            ),
        },
        "tests/test_users.py:9:",
        id="kept-on-an-attribute",
    ),
    pytest.param(
        {
            "tests/test_users.py": (
                "from fastapi.testclient import TestClient\n\nfrom app.main import app\n\n\n"
                "def make_client():\n    return TestClient(app)\n\n\n"
                "def test_a_user():\n"
                "    assert make_client().get('/users/1').status_code == 404\n"
            ),
        },
        "tests/test_users.py:7:",
        id="returned-by-a-helper-that-is-no-fixture",
    ),
    pytest.param(
        {
            "tests/conftest.py": (
                "import pytest\nfrom fastapi.testclient import TestClient\n\n"
                "from app.main import app\n\nCLIENTS = []\n\n\n"
                "@pytest.fixture(autouse=True)\ndef client():\n"
                "    made = TestClient(app)\n    CLIENTS.append(made)\n"
            ),
            "tests/test_users.py": (
                "from tests.conftest import CLIENTS\n\n\n"
                "def test_a_user():\n    assert CLIENTS[-1].get('/users/1').status_code == 404\n"
            ),
        },
        "tests/conftest.py:11:",
        id="a-fixture-that-neither-yields-nor-returns-it",
    ),
    pytest.param(
        {
            "tests/test_users.py": (
                "from fastapi.testclient import TestClient\n\nfrom app.main import app\n\n"
                "client = TestClient(app)\n\n\n"
                "def test_a_user():\n    with client:\n"
                "        assert client.get('/users/1').status_code == 404\n\n\n"
                "def test_another():\n    assert client.get('/users/2').status_code == 404\n"
            ),
        },
        "tests/test_users.py:5:",
        id="module-level-entered-by-one-test-only",
    ),
    pytest.param(
        {
            "tests/conftest.py": (
                "import pytest\nfrom fastapi.testclient import TestClient\n\n"
                "from app.main import app\n\n\n"
                "@pytest.fixture\ndef client(request):\n"
                "    if request.param:\n        return TestClient(app)\n"
                "    return TestClient(app, base_url='http://other')\n"
            ),
        },
        "tests/conftest.py:10:",
        id="returned-in-one-branch-of-several",
    ),
]


@pytest.mark.parametrize(("files", "where"), HELD)
def test_a_client_no_with_can_enter_is_an_obstacle_at_its_line(
    tmp_path: Path, files: dict[str, str], where: str
) -> None:
    project = {**APP, "tests/__init__.py": "", **files}
    new, findings = migrate(tmp_path, project)

    assert not migrated(new)
    said = [f for f in findings if SAID in f]
    assert said, findings
    assert said[0].startswith(where), said


@pytest.mark.parametrize(
    "made",
    [
        "    with TestClient(app) as client:\n        yield client\n",
        "    Base.metadata.create_all(bind=engine)\n    client = TestClient(app)\n"
        "    yield client\n",
    ],
    ids=["entered-already", "the-suite-makes-its-tables"],
)
def test_a_client_that_needs_no_with_is_left_as_it_is(tmp_path: Path, made: str) -> None:
    conftest = (
        "import pytest\nfrom fastapi.testclient import TestClient\nfrom sqlalchemy import"
        " create_engine\n\nfrom app.database import Base\nfrom app.main import app\n\n"
        'engine = create_engine("sqlite:///./todo.db")\n\n\n'
        "@pytest.fixture\ndef client():\n" + made
    )
    new, findings = migrate(tmp_path, suite_of(conftest))

    assert migrated(new)
    assert findings == []
    kept = [line for line in made.splitlines() if "client" in line]
    assert all(f"\n{line}\n" in new["tests/conftest.py"] for line in kept)


# ---------------------------------------------------------------------------------------
# The suite, run before and after
# ---------------------------------------------------------------------------------------


@pytest.mark.once  # an app's suite run end to end (with the shapes' in test_asyncdb_shapes)
def test_the_suites_clients_entered_by_the_move_find_their_tables(
    tmp_path: Path, run_vibefix: RunVibefix
) -> None:
    # Three shapes real suites use, with the app's own database: a session fixture that
    # yields its client, a module's client, a test's own client.
    conftest = """\
        import pytest
        from fastapi.testclient import TestClient

        from app.main import app


        @pytest.fixture(scope="session")
        def client():
            client = TestClient(app)
            yield client
        """
    module = """\
        from fastapi.testclient import TestClient

        from app.main import app

        client = TestClient(app)


        def test_a_user_of_the_module():
            made = client.post("/users", json={"name": "grace"}).json()
            assert client.get(f"/users/{made['id']}").json()["name"] == "grace"


        def test_its_own_client():
            own = TestClient(app)
            assert own.get("/users/999").status_code == 404
        """
    files = suite_of(conftest, **{"tests/test_module.py": module})
    write(tmp_path, files)
    before = suite(tmp_path)
    assert "3 passed" in before.stdout, before.stdout + before.stderr
    (tmp_path / "todo.db").unlink()

    applied = run_vibefix("apply", "--recipe", "async-db", "--unsafe", ".", cwd=tmp_path)

    assert "VF203" in applied.stderr, applied.stderr
    assert SAID not in applied.stderr
    read = {name: (tmp_path / name).read_text(encoding="utf-8") for name in files}
    assert "create_async_engine" in read["app/database.py"]
    assert (
        "    with TestClient(app) as client:\n        yield client\n" in read["tests/conftest.py"]
    )
    assert "def _app_lifespan():\n    with client:\n        yield\n" in read["tests/test_module.py"]
    assert "    with TestClient(app) as own:\n" in read["tests/test_module.py"]
    after = suite(tmp_path)
    assert "3 passed" in after.stdout, after.stdout + after.stderr
