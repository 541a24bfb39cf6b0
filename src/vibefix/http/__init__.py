"""The HTTP family (VF101): requests' calls in async code made awaited client calls.

- ``mapping``: what each call of requests' API does and how it maps onto the chosen
  async backend, or why it cannot (the analysis of one function);
- ``facts``: what the index keeps of that analysis per file (``HttpCollector``);
- ``rules``: the family part the calls family reads (``HttpRules``: which requests
  calls VF101 leaves, and why);
- ``plan``: which functions share the application's client (``HttpPlan``);
- ``support``, ``templates/``: the code VF101 adds to a module; ``shapes``: the pieces
  of its rewrite that need no state.

Like every family it imports the engine, ``vibefix.cst`` and ``vibefix.known``, and no
other family; the calls family reads it through ``rules`` and ``plan`` only.
"""
