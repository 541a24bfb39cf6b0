"""vibefix: codemods that clean up AI-written FastAPI services.

The packages, bottom-up (import-linter's contracts in pyproject.toml check the rules):

- ``results``, ``config``: the values a run starts from and produces;
- ``cst``: libcst helpers; ``known``: what vibefix knows of the libraries it rewrites,
  one copy each;
- ``engine``: the pipeline, which knows no codemod and no family; ``codemod``: the
  contract a codemod fulfils;
- ``calls``, ``http``, ``sessions``, ``asyncdb``, ``boundary``: the families, the facts
  and plan parts their codemods share; a family imports the engine, ``cst`` and
  ``known``, and another family only through that family's typed plan part;
- ``codemods`` (``codemods/`` in the source tree): one module per codemod, the only
  place a rule code is written;
- ``report``, ``verify``, ``cli``: what the user sees.
"""

__version__ = "0.1.0.dev0"
