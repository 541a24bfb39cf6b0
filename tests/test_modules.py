"""Module names as the project's own imports use them (source roots, namespace packages,
packages that shadow modules) and functions defined twice in one module, through the
real engine on projects written to a temporary folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_async_project import DEFAULT, changed, run, write
from vibefix.config import Config
from vibefix.engine import run as engine
from vibefix.engine.layout import Root, module_name, source_roots
from vibefix.results import Status

HELPER = """\
    import requests


    def get_user(uid):
        return requests.get(f"https://users.example/{uid}").json()
    """
CALM_HELPER = """\
    def get_user(uid):
        return {"id": uid}
    """


def route(module: str) -> str:
    return f"""\
        from fastapi import APIRouter

        from {module} import get_user

        router = APIRouter()


        @router.get("/users/{{uid}}")
        async def read_user(uid: int):
            return get_user(uid)
        """


def roots(project: Path) -> tuple[Root, ...]:
    files = {path: path.read_bytes() for path in project.rglob("*.py")}
    return source_roots(project.resolve(), files)


def name_of(project: Path, relative: str) -> str:
    project = project.resolve()
    return module_name(project / relative, project, roots(project))[0]


def awaited(result, root: Path, route_file: str, helper_file: str) -> bool:
    """Whether the route awaits the helper and the helper became async."""
    files = changed(result, root)
    caller, callee = files.get(route_file, ""), files.get(helper_file, "")
    return "return await get_user(uid)" in caller and "async def get_user(uid):" in callee


# -- source roots and namespace packages ------------------------------------------------


def test_namespace_packages_from_the_project_root(tmp_path):
    # No __init__.py anywhere: `uvicorn app.main:app` from the repository's root.
    write(
        tmp_path,
        {
            "pyproject.toml": "",
            "app/routers/users.py": route("app.services.user"),
            "app/services/user.py": HELPER,
        },
    )
    assert name_of(tmp_path, "app/services/user.py") == "app.services.user"

    result = run(tmp_path, ".")

    assert awaited(result, tmp_path, "app/routers/users.py", "app/services/user.py")


def test_src_imported_as_a_package(tmp_path):
    write(
        tmp_path,
        {
            "pyproject.toml": "",
            "src/routes.py": route("src.services"),
            "src/services.py": HELPER,
        },
    )
    assert name_of(tmp_path, "src/services.py") == "src.services"

    result = run(tmp_path, ".")

    assert awaited(result, tmp_path, "src/routes.py", "src/services.py")


def test_src_imported_as_a_package_from_an_app_folder(tmp_path):
    # `cd app && uvicorn src.main:app`: app/ is the root, src/ a package in it.
    write(
        tmp_path,
        {
            ".git/HEAD": "",
            "app/src/main.py": "from fastapi import FastAPI\n\nfrom src.routes import router\n",
            "app/src/routes.py": route("src.services"),
            "app/src/services.py": HELPER,
        },
    )
    assert name_of(tmp_path, "app/src/services.py") == "src.services"

    result = run(tmp_path, ".")

    assert awaited(result, tmp_path, "app/src/routes.py", "app/src/services.py")


def test_src_as_a_source_root_by_convention(tmp_path):
    write(
        tmp_path,
        {
            "pyproject.toml": "",
            "src/shop/__init__.py": "",
            "src/shop/routes.py": route("shop.services"),
            "src/shop/services.py": HELPER,
        },
    )
    assert name_of(tmp_path, "src/shop/services.py") == "shop.services"

    result = run(tmp_path, ".")

    assert awaited(result, tmp_path, "src/shop/routes.py", "src/shop/services.py")


def test_a_backend_folder_is_the_source_root_its_imports_need(tmp_path):
    write(
        tmp_path,
        {
            "pyproject.toml": "",
            "backend/app/__init__.py": "",
            "backend/app/api/users.py": route("app.services.user"),
            "backend/app/services/user.py": HELPER,
            "frontend/build.py": "print('static')\n",
        },
    )
    assert roots(tmp_path) == (Root(tmp_path.resolve() / "backend"),)
    assert name_of(tmp_path, "frontend/build.py") == "frontend.build"

    result = run(tmp_path, ".")

    assert awaited(result, tmp_path, "backend/app/api/users.py", "backend/app/services/user.py")
    assert result.roots == (Root(tmp_path.resolve() / "backend"),)  # for apply -i


@pytest.mark.parametrize("inner", ["app", "backend"])
def test_a_folder_named_like_the_package_it_holds_is_its_root(tmp_path, inner):
    # held-out round 10 (nikaera): the repository's `app/` holds the package `app/`
    # (`app/app/db.py`) and no declaration file; `from app.db import ...` resolved, by
    # its first name only, to the outer folder, and every module was misnamed.
    write(
        tmp_path,
        {
            ".git/HEAD": "",
            f"{inner}/app/__init__.py": "",
            f"{inner}/app/api/users.py": route("app.services.user"),
            f"{inner}/app/services/user.py": HELPER,
        },
    )
    assert roots(tmp_path) == (Root(tmp_path.resolve() / inner),)
    assert name_of(tmp_path, f"{inner}/app/services/user.py") == "app.services.user"

    result = run(tmp_path, ".")

    assert awaited(result, tmp_path, f"{inner}/app/api/users.py", f"{inner}/app/services/user.py")


@pytest.mark.once
@pytest.mark.parametrize(("jobs", "use_cache"), [(2, False), (1, True)])
def test_source_roots_reach_the_workers_and_the_cache(tmp_path, monkeypatch, jobs, use_cache):
    # Enough source for worker processes; a cached run gives the same names again.
    monkeypatch.setenv("VIBEFIX_CACHE_DIR", str(tmp_path / "cache"))
    write(
        tmp_path,
        {
            "pyproject.toml": "",
            "backend/app/api/users.py": route("app.services.user"),
            "backend/app/services/user.py": HELPER,
            "backend/app/filler.py": "import requests\n" + "x = 1\n" * 12000,
        },
    )
    options = engine.Options(Config(root=tmp_path), DEFAULT, jobs, use_cache=use_cache)
    for _ in range(1 + use_cache):
        result = engine.run([tmp_path], options)
        assert awaited(result, tmp_path, "backend/app/api/users.py", "backend/app/services/user.py")


@pytest.mark.parametrize("init", [{}, {"app/__init__.py": ""}])
def test_an_app_run_from_inside_its_folder(tmp_path, init):
    # `cd app && uvicorn main:app`: `from services.user import ...` resolves in app/.
    write(
        tmp_path,
        {
            **init,
            "requirements.txt": "fastapi\nrequests\n",
            "app/main.py": "from fastapi import FastAPI\n\nfrom routers import users\n",
            "app/routers/users.py": route("services.user"),
            "app/services/user.py": HELPER,
        },
    )
    assert name_of(tmp_path, "app/routers/users.py") == "routers.users"

    result = run(tmp_path, ".")

    assert awaited(result, tmp_path, "app/routers/users.py", "app/services/user.py")


def test_pytest_pythonpath_names_a_source_root(tmp_path):
    write(
        tmp_path,
        {
            "pyproject.toml": '[tool.pytest.ini_options]\npythonpath = ["backend"]\n',
            "backend/api/users.py": route("services.user"),
            "backend/services/user.py": HELPER,
        },
    )
    assert roots(tmp_path) == (Root(tmp_path.resolve() / "backend"),)

    result = run(tmp_path, ".")

    assert awaited(result, tmp_path, "backend/api/users.py", "backend/services/user.py")


def test_each_app_of_a_monorepo_has_its_source_root(tmp_path):
    write(
        tmp_path,
        {
            ".git/HEAD": "",
            "backend/app/routers/users.py": route("app.services.user"),
            "backend/app/services/user.py": HELPER,
            "worker/jobs/run.py": route("jobs.user"),
            "worker/jobs/user.py": CALM_HELPER,
        },
    )
    assert roots(tmp_path) == (
        Root(tmp_path.resolve() / "backend"),
        Root(tmp_path.resolve() / "worker"),
    )

    result = run(tmp_path, ".")

    assert awaited(result, tmp_path, "backend/app/routers/users.py", "backend/app/services/user.py")
    assert not any(name.startswith("worker/") for name in changed(result, tmp_path))


def test_two_apps_with_one_package_name_stay_unknown(tmp_path):
    # Each resolves its imports in its own folder, but both define
    # app.services.user.get_user: the index cannot tell which one a call means.
    write(
        tmp_path,
        {
            ".git/HEAD": "",
            "backend/app/routers/users.py": route("app.services.user"),
            "backend/app/services/user.py": HELPER,
            "worker/app/routers/users.py": route("app.services.user"),
            "worker/app/services/user.py": CALM_HELPER,
        },
    )
    assert name_of(tmp_path, "worker/app/services/user.py") == "app.services.user"

    result = run(tmp_path, ".")

    assert changed(result, tmp_path) == {}


def test_a_stray_import_does_not_rename_a_package_the_project_imports(tmp_path):
    # `import config` in one script does not make app/core a root: the rest of the
    # project imports app.core.config.
    write(
        tmp_path,
        {
            "pyproject.toml": "",
            "app/core/config.py": "DEBUG = False\n",
            "app/core/db.py": "from app.core.config import DEBUG\n",
            "app/main.py": "from app.core.config import DEBUG\nfrom app.core import db\n",
            "scripts/debug.py": "import config\n",
        },
    )
    assert roots(tmp_path) == ()
    assert name_of(tmp_path, "app/core/config.py") == "app.core.config"


def test_third_party_and_standard_imports_name_no_root(tmp_path):
    write(
        tmp_path,
        {
            "pyproject.toml": "",
            "app/main.py": "import json\nimport fastapi\nfrom app.lib import json as j\n",
            "app/lib/json.py": "",
            "vendor/fastapi_extra/x.py": "",
        },
    )
    assert roots(tmp_path) == ()


def test_a_module_named_like_the_library_it_wraps_names_no_root(tmp_path):
    # `import redis` in app/cache/redis.py is the library, not the module itself.
    write(
        tmp_path,
        {
            "pyproject.toml": "",
            "app/cache/redis.py": "import redis\n\nclient = redis.Redis()\n",
            "app/main.py": "from app.cache.redis import client\n",
        },
    )
    assert roots(tmp_path) == ()


def test_a_declared_dependency_is_a_library_whatever_folder_shares_its_name(tmp_path):
    write(
        tmp_path,
        {
            "requirements.txt": "fastapi>=0.110\nRedis[hiredis]==5.0  # cache\n",
            "app/integrations/redis.py": "CLIENT = None\n",
            "app/integrations/queue.py": "import redis\nimport redis.asyncio\n",
        },
    )
    assert roots(tmp_path) == ()


def test_a_folder_whose_modules_import_relatively_is_a_package_not_a_root(tmp_path):
    write(
        tmp_path,
        {
            "pyproject.toml": "",
            "lib/__init__.py": "",
            "lib/dialects/__init__.py": "",
            "lib/dialects/mysql/__init__.py": "from .base import Dialect\n",
            "lib/dialects/mysql/base.py": "Dialect = object\n",
            "lib/dialects/mysql/driver.py": "import mysql\nfrom . import base\n",
        },
    )
    assert roots(tmp_path) == ()
    assert name_of(tmp_path, "lib/dialects/mysql/base.py") == "lib.dialects.mysql.base"


def test_a_project_folder_that_is_a_package_keeps_its_name(tmp_path):
    project = tmp_path / "shop"
    write(
        project,
        {
            "setup.py": "",
            "__init__.py": "",
            "api.py": "from shop.services import get_user\n",
            "services.py": "",
        },
    )
    assert name_of(project, "services.py") == "shop.services"


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"pyproject.toml": "[tool.setuptools.packages.find]\nwhere = ['lib']\n"}, "lib"),
        ({"pyproject.toml": "[tool.setuptools]\npackage-dir = {'' = 'lib'}\n"}, "lib"),
        ({"pyproject.toml": "[tool.mypy]\nmypy_path = '$MYPY_CONFIG_FILE_DIR/lib'\n"}, "lib"),
        (
            {"pyproject.toml": "[tool.poetry]\npackages = [{include = 'shop', from = 'lib'}]\n"},
            "lib",
        ),
        (
            {"pyproject.toml": "[tool.hatch.build.targets.wheel]\npackages = ['lib/shop']\n"},
            "lib",
        ),
        ({"setup.cfg": "[options]\npackage_dir =\n    =lib\n"}, "lib"),
        ({"setup.cfg": "[options.packages.find]\nwhere = lib\n"}, "lib"),
        ({"pytest.ini": "[pytest]\npythonpath = . lib\n"}, "lib"),
        ({"setup.py": "setup(package_dir={'': 'lib'}, packages=find_packages('lib'))"}, "lib"),
        ({"setup.py": 'setup(packages=find_namespace_packages(where="lib"))'}, "lib"),
    ],
)
def test_configuration_names_source_roots(tmp_path, files, expected):
    write(tmp_path, {**files, "lib/shop/m.py": "", "tools/t.py": ""})
    assert roots(tmp_path) == (Root(tmp_path.resolve() / expected),)
    assert name_of(tmp_path, "lib/shop/m.py") == "shop.m"
    assert name_of(tmp_path, "tools/t.py") == "tools.t"


def test_package_dir_maps_a_folder_to_a_package(tmp_path):
    write(
        tmp_path,
        {
            "pyproject.toml": "[tool.setuptools]\npackage-dir = {'shop.plugins' = 'plugins'}\n",
            "plugins/mail.py": "",
        },
    )
    assert name_of(tmp_path, "plugins/mail.py") == "shop.plugins.mail"


def test_configuration_that_the_imports_contradict_is_ignored(tmp_path):
    # Tests run with src/ on the path, but the code imports src.services: src/ is a
    # package, and its modules keep the names the imports give them.
    write(
        tmp_path,
        {
            "pyproject.toml": '[tool.pytest.ini_options]\npythonpath = ["src"]\n',
            "src/routes.py": route("src.services"),
            "src/services.py": HELPER,
        },
    )
    assert roots(tmp_path) == ()

    result = run(tmp_path, ".")

    assert awaited(result, tmp_path, "src/routes.py", "src/services.py")


def test_configuration_outside_the_project_or_missing_is_ignored(tmp_path):
    write(
        tmp_path,
        {
            "pyproject.toml": "[tool.pytest.ini_options]\npythonpath = ['..', 'gone']\n",
            "app/m.py": "",
        },
    )
    assert roots(tmp_path) == ()


# -- a package beside a module of the same name -----------------------------------------


def test_a_module_shadowed_by_a_package_is_dead_code(tmp_path):
    write(
        tmp_path,
        {
            "pyproject.toml": "",
            "app/__init__.py": "",
            "app/routers.py": route("app.utils"),
            "app/utils.py": HELPER,  # never imported: the package wins
            "app/utils/__init__.py": CALM_HELPER,
        },
    )

    result = run(tmp_path, ".")

    assert changed(result, tmp_path) == {}
    assert result.findings == []
    dead = next(file for file in result.files if file.path.name == "utils.py")
    assert dead.status is Status.SKIPPED
    assert dead.reason == "dead code: the package utils/ beside it is imported instead"


def test_the_package_that_shadows_a_module_is_analysed(tmp_path):
    write(
        tmp_path,
        {
            "pyproject.toml": "",
            "app/__init__.py": "",
            "app/routers.py": route("app.utils"),
            "app/utils.py": CALM_HELPER,
            "app/utils/__init__.py": HELPER,
        },
    )

    result = run(tmp_path, ".")

    assert awaited(result, tmp_path, "app/routers.py", "app/utils/__init__.py")


def test_a_namespace_folder_beside_a_module_shadows_nothing(tmp_path):
    # Without __init__.py the module wins over the folder: it is analysed.
    write(
        tmp_path,
        {
            "pyproject.toml": "",
            "app/routers.py": route("app.utils"),
            "app/utils.py": HELPER,
            "app/utils/extra.py": "",
        },
    )

    result = run(tmp_path, ".")

    assert awaited(result, tmp_path, "app/routers.py", "app/utils.py")


# -- a function defined twice in one module ---------------------------------------------


def helpers(first: str, second: str) -> dict[str, str]:
    return {
        "pyproject.toml": "",
        "app/__init__.py": "",
        "app/routers.py": route("app.helpers"),
        "app/helpers.py": f"import requests\n\n\n{first}\n\n\n{second}\n",
    }


BLOCKING = 'def get_user(uid):\n    return requests.get(f"https://u.example/{uid}").json()'
CALM = 'def get_user(uid):\n    return {"id": uid}'


def test_the_later_of_two_definitions_is_the_one_that_runs(tmp_path):
    write(tmp_path, helpers(CALM, BLOCKING))

    result = run(tmp_path, ".")

    assert "return await get_user(uid)" in changed(result, tmp_path)["app/routers.py"]


def test_an_earlier_definition_that_blocks_is_dead_code(tmp_path):
    write(tmp_path, helpers(BLOCKING, CALM))

    result = run(tmp_path, ".")

    assert changed(result, tmp_path) == {}
    assert result.findings == []


def test_definitions_in_two_branches_stay_unknown(tmp_path):
    branches = "import os\n\nif os.environ.get('FAKE'):\n" + "\n".join(
        "    " + line for line in CALM.splitlines()
    )
    branches += "\nelse:\n" + "\n".join("    " + line for line in BLOCKING.splitlines())
    write(tmp_path, helpers(branches, ""))

    result = run(tmp_path, ".")

    assert changed(result, tmp_path) == {}


def test_a_definition_inside_try_is_not_replaced_by_one_in_except(tmp_path):
    alternatives = (
        "try:\n    import fast_users\n"
        + "\n".join("    " + line for line in BLOCKING.splitlines())
        + "\nexcept ImportError:\n"
        + "\n".join("    " + line for line in CALM.splitlines())
    )
    write(tmp_path, helpers(alternatives, ""))

    result = run(tmp_path, ".")

    assert changed(result, tmp_path) == {}


def test_a_later_definition_replaces_one_made_in_a_branch(tmp_path):
    earlier = "if True:\n" + "\n".join("    " + line for line in CALM.splitlines())
    write(tmp_path, helpers(earlier, BLOCKING))

    result = run(tmp_path, ".")

    assert "return await get_user(uid)" in changed(result, tmp_path)["app/routers.py"]


def test_two_routes_with_one_name_both_stay_registered(tmp_path):
    # The first handler is not dead: its decorator registered it, and it is rewritten.
    write(
        tmp_path,
        {
            "pyproject.toml": "",
            "app/routers.py": """\
                import time

                from fastapi import APIRouter

                router = APIRouter()


                @router.get("/users/{uid}")
                async def read_user(uid: int):
                    time.sleep(1)


                @router.get("/other")
                async def read_user():
                    return {}
                """,
        },
    )

    result = run(tmp_path, ".")

    assert "    await asyncio.sleep(1)\n" in changed(result, tmp_path)["app/routers.py"]


def test_two_methods_of_one_name_the_later_wins(tmp_path):
    write(
        tmp_path,
        {
            "pyproject.toml": "",
            "app/routers.py": route("app.helpers"),
            "app/helpers.py": """\
                import requests


                class Users:
                    def fetch(self, uid):
                        return {"id": uid}

                    def fetch(self, uid):
                        return requests.get(f"https://u.example/{uid}").json()


                def get_user(uid):
                    return Users().fetch(uid)
                """,
        },
    )

    result = run(tmp_path, ".")

    assert "return await get_user(uid)" in changed(result, tmp_path)["app/routers.py"]


@pytest.mark.parametrize(
    ("imports", "root"),
    [
        ("from services.user import get_user", "proj"),
        ("from proj.services.user import get_user", "."),
        ("from .services.user import get_user", "."),  # only a package's module can
    ],
)
def test_a_tree_with_an_init_at_its_top_holds_the_project_unless_it_imports_itself(
    tmp_path, imports, root
):
    # An exported tree (no marker anywhere) with a stray `__init__.py` at its top: its
    # neighbours are no part of it, unless its own imports name it as a package.
    write(
        tmp_path,
        {
            "proj/__init__.py": "",
            "proj/main.py": f"from fastapi import FastAPI\n\n{imports}\n",
            "proj/services/user.py": HELPER,
            "other/main.py": "import requests\n",
        },
    )
    folder = tmp_path / "proj"
    files = sorted(folder.rglob("*.py"))
    given = {path: path.read_bytes() for path in files}

    found = engine.project_root([folder], Config(root=folder), given)

    assert found == (tmp_path / root).resolve()
