"""``vibefix verify``: the project's own tests, run with every blocking call on an event
loop recorded and reported at the project's line with the codemod that fixes it.

``runner`` starts pytest in the project's interpreter; ``plugin`` is the pytest plugin it
loads there, a file that imports nothing of vibefix (it runs where vibefix may not be
installed): it says what kind of blocking call it saw, and the runner which codemod fixes
it (the codemods' ``verifies``, handed over as ``fixes``).
"""

from vibefix.verify.runner import Fix, VerifyError, fixes_from, verify

__all__ = ["Fix", "VerifyError", "fixes_from", "verify"]
