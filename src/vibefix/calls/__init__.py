"""The calls family (VF100-VF104): which functions become ``async def``, which calls are
awaited, rewritten to their async twin or run in a thread, decided once over the whole
project's call graph (``plan``), and what the async codemods share while rewriting
(``rewrite``)."""
