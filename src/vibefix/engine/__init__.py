"""The engine: discover -> prefilter -> index -> plan -> transform -> check output.

It knows no codemod and no family of codemods: the command line hands it the chosen
codemod classes, and everything it learns of them comes from their class attributes and
hooks (``vibefix.codemod``). It imports ``vibefix.cst`` and ``vibefix.known``, never a
family package (``calls``, ``http``, ``sessions``, ``asyncdb``, ``boundary``) nor
``vibefix.codemods``.

In ``vibefix.engine.run``: ``run`` is the whole pipeline over paths, ``run_source`` the same
stages on one source (tests, embedding), ``reapply`` one file again with fewer rewrites.
"""
