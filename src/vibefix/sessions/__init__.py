"""The sessions family (VF200, VF201, VF202, VF204): where SQLAlchemy sessions are made,
shared and closed (``plan``, ``uses``, ``shape``), and how a function is handed the
request's session (``rewrite``).

It imports the engine, ``vibefix.cst`` and ``vibefix.known``, another family only through
its plan part or codemod base (``calls.plan``, ``calls.rewrite``, ``asyncdb.plan``);
other families read it through ``plan``."""
