"""Support code that codemods write, from template files.

A family keeps the code its codemods add to a project (a client factory, a lifespan, a
session dependency) as files in its package's ``templates`` folder, ``NAME.py.tmpl``:
the Python as it will be written, with ``$name`` where the codemod fills in a name the
file spells its own way (``string.Template``). A reviewer reads the generated code there,
whole, instead of assembled from string fragments.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from string import Template


@cache
def _template(package: str, name: str) -> Template:
    folder = resources.files(package).joinpath("templates")
    return Template(folder.joinpath(f"{name}.py.tmpl").read_text("utf-8"))


def render(package: str, name: str, **values: str) -> str:
    """Template ``name`` of ``package`` with ``values`` filled in; every ``$name`` it
    holds must be given (``KeyError`` otherwise)."""
    return _template(package, name).substitute(values)
