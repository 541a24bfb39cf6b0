"""The async-database family (VF203): whether the whole project can move from
``Session`` to ``AsyncSession``, and every query, load and call that the move rewrites.

All or nothing: once the engine is async, every session of it is an ``AsyncSession``,
and one call left unawaited anywhere is a bug (a coroutine never run, or
``MissingGreenlet``). So each file's facts name every place a session, a query or an ORM
object is used, and the plan migrates the project only when every one of them can be
rewritten. Otherwise nothing changes and each obstacle is a finding.

A session is a name bound to one: a parameter annotated ``Session`` or given by
``Depends(dep)`` where ``dep`` is a session dependency, ``db = SessionLocal()``, ``with
SessionLocal() as db``, or a module-level ``db = SessionLocal()``. Its I/O methods are
awaited, a legacy ``db.query(...)`` chain becomes a 2.0 statement run by ``execute``,
``scalars`` or ``scalar``. An ORM object loaded in async code cannot lazy-load a
relationship (``MissingGreenlet``): each relationship read on an object (in the
function, in a helper it is passed to, or by the handler's ``response_model``) is loaded
with the query that loads the object (``selectinload``), or by a ``refresh`` naming it;
a read the family cannot tie to a load is an obstacle.

Its modules, in the order a run uses them:

- ``names``: what it knows of SQLAlchemy (sessions, queries, URLs and drivers);
- ``syntax``: small readers of libcst trees;
- ``facts``: what the scan of one file finds (``Origin``: where an ORM object comes
  from); ``messages``: the obstacles found there whose text names the codemod;
- ``objects`` and ``scan``: the scan of one function (its ORM objects; its sessions and
  queries); ``collect``: of one file (the collector);
- ``plan``: its part of the plan (``DbPlan``), the typed surface others read;
- ``planner``: the facts of every file to the plan, with its pieces: ``orm`` (the
  project's models and schemas), ``draft`` (what is decided so far), ``checks`` (the
  obstacles across the project), ``reads`` (what each function reads on its ORM objects)
  and ``loads`` (the relationships to load with them);
- ``settle``: the plan withdrawn once the others are known;
- ``statements``: the 2.0 statements the rewrite writes for legacy queries;
- ``support``: the code the rewrite adds (a URL helper, a lifespan), from the templates
  in ``templates/`` (``NAME.py.tmpl``, package data; ``vibefix.engine.templates``).

Import rule: a family imports the engine, ``vibefix.cst`` and ``vibefix.known``, and
another family only through that family's typed plan part.
"""
