"""What vibefix knows of FastAPI: its applications and routers, its route decorators, its
dependency injection, and the shape of a dependency that yields what it made (``get_db``).
One copy, for the engine and every family."""

from __future__ import annotations

import libcst as cst

FASTAPI_APPS = frozenset({"fastapi.FastAPI", "fastapi.applications.FastAPI"})
FASTAPI_ROUTERS = frozenset({"fastapi.APIRouter", "fastapi.routing.APIRouter"})
ROUTE_METHODS = frozenset(
    {"get", "post", "put", "patch", "delete", "head", "options", "trace", "api_route", "websocket"}
)
"""An application's or router's methods that register a route handler (as decorators)."""
ROUTE_REGISTRATIONS = frozenset({"add_api_route", "add_api_websocket_route"})
"""An application's or router's methods that register a route handler given to them."""
FRAMEWORK_DECORATORS = frozenset({"on_event", "exception_handler", "middleware"})
"""An application's methods whose decorated functions FastAPI (Starlette) calls."""
DEPENDS = frozenset({"fastapi.Depends", "fastapi.Security", "fastapi.params.Depends"})
"""What marks a parameter FastAPI fills by calling a dependency (``Security`` is
``Depends`` with scopes)."""
BACKGROUND_TASKS = frozenset(
    {
        "fastapi.BackgroundTasks()",
        "fastapi.background.BackgroundTasks()",
        "starlette.background.BackgroundTasks()",
    }
)
"""A background-task queue: what it is given is called after the response is sent."""

PYDANTIC_VALIDATORS = frozenset(
    {
        "pydantic.field_validator",
        "pydantic.model_validator",
        "pydantic.validator",
        "pydantic.root_validator",
        "pydantic.functional_validators.field_validator",
        "pydantic.functional_validators.model_validator",
        "pydantic.class_validators.validator",
        "pydantic.class_validators.root_validator",
    }
)
"""The decorators of a Pydantic model's validators: FastAPI runs them while it reads a
request's body (on the event loop), and for an ``async def`` handler while it checks
the response too."""


def in_pytest_file(path: str) -> bool:
    """``test_*.py`` and ``conftest.py``: their generators are pytest's fixtures."""
    file = path.replace("\\", "/").rpartition("/")[2]
    return file.startswith("test_") or file == "conftest.py"


def dependency_shaped(function: cst.FunctionDef) -> bool:
    """Whether a module-level generator ``function`` is shaped as a dependency that
    yields what it made (``get_db``):
    not decorated (a ``@contextmanager`` is no dependency), no parameter without a
    default, and one ``yield`` that yields what the function made by a call (``db =
    SessionLocal()`` or ``with SessionLocal() as db``)."""
    params = function.params
    if function.decorators or any(
        p.default is None for p in (*params.posonly_params, *params.params, *params.kwonly_params)
    ):
        return False
    finder = _Yields()
    function.body.visit(finder)
    return len(finder.yields) == 1 and finder.yields[0] in finder.made


class _Yields(cst.CSTVisitor):
    def __init__(self) -> None:
        super().__init__()
        self.yields: list[str | None] = []
        self.made: set[str] = set()

    def visit_Yield(self, node: cst.Yield) -> None:
        value = node.value
        self.yields.append(value.value if isinstance(value, cst.Name) else None)

    def visit_Assign(self, node: cst.Assign) -> None:
        if isinstance(node.value, cst.Call):
            for target in node.targets:
                if isinstance(target.target, cst.Name):
                    self.made.add(target.target.value)

    def visit_WithItem(self, node: cst.WithItem) -> None:
        if isinstance(node.item, cst.Call) and node.asname is not None:
            name = node.asname.name
            if isinstance(name, cst.Name):
                self.made.add(name.value)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False
