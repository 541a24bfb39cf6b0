"""The calls family (VF100-VF104): which functions become ``async def``, which calls are
awaited, rewritten to their async twin or run in a thread, decided once over the whole
project's call graph (``plan``), and what the async codemods share while rewriting
(``rewrite``).

It imports the engine, ``vibefix.cst`` and ``vibefix.known``, and reads the HTTP family
only through its plan parts (``http.rules.HttpRules``, ``http.plan.HttpPlan``); the
families after it read it through ``plan`` (``AsyncPlan``), ``roles`` and ``rewrite``
(``AsyncCodemod``, the base of every codemod that awaits)."""
