"""The codemods shipped with vibefix, in the order they run on a file.

``ALL`` is the only registry: order matters (sleep and HTTP rewrites come before the
pass that decides which functions become async). ``RECIPES`` name ordered selections.
"""

from __future__ import annotations

from typing import Any

from vibefix.codemods.async_endpoints import AsyncEndpoints
from vibefix.codemods.async_sleep import AsyncSleep
from vibefix.codemods.async_sqlalchemy import AsyncSqlalchemy
from vibefix.codemods.await_propagation import AwaitPropagation
from vibefix.codemods.engine_pool import EnginePool
from vibefix.codemods.field_constraints import FieldConstraints
from vibefix.codemods.offload_blocking import OffloadBlocking
from vibefix.codemods.requests_to_httpx import RequestsToHttpx
from vibefix.codemods.required_fields import RequiredFields
from vibefix.codemods.session_context import SessionContext
from vibefix.codemods.session_dependency import SessionDependency
from vibefix.codemods.shared_session import SharedSession
from vibefix.codemods.split_models import SplitModels
from vibefix.codemods.strict_models import StrictModels
from vibefix.codemods.typed_bodies import TypedBodies

from vibefix.codemod import Codemod

ALL: tuple[type[Codemod[Any]], ...] = (
    AsyncSleep,
    RequestsToHttpx,
    OffloadBlocking,
    AsyncEndpoints,
    AwaitPropagation,
    SessionDependency,
    SharedSession,
    EnginePool,
    SessionContext,
    AsyncSqlalchemy,
    RequiredFields,
    StrictModels,
    TypedBodies,
    SplitModels,
    FieldConstraints,
)

RECIPES: dict[str, tuple[str, ...]] = {
    "default": ("VF100", "VF101", "VF102", "VF103", "VF104", "VF200", "VF201", "VF202", "VF204"),
    # The default recipe and the move to AsyncSession (VF203, a REVIEW rewrite).
    "async-db": (
        *("VF100", "VF101", "VF102", "VF103", "VF104", "VF200", "VF201", "VF202", "VF203"),
        "VF204",
    ),
    # Pydantic at the API boundary: request models that reject bad data (REVIEW rewrites).
    "pydantic": ("VF300", "VF301", "VF302", "VF303", "VF304"),
}
