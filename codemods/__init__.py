"""The codemods shipped with vibefix, in the order they run on a file.

``ALL`` is the only registry: order matters (sleep and HTTP rewrites come before the
pass that decides which functions become async). ``RECIPES`` name ordered selections.
"""

from __future__ import annotations

from vibefix.codemods.async_sleep import AsyncSleep

from vibefix.codemod import Codemod

ALL: tuple[type[Codemod], ...] = (AsyncSleep,)

RECIPES: dict[str, tuple[str, ...]] = {
    "default": ("VF100",),
}
