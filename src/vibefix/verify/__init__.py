"""``vibefix verify``: the project's own tests, run with every blocking call on an event
loop recorded and reported at the project's line with the codemod that fixes it.

``runner`` starts pytest in the project's interpreter; ``plugin`` is the pytest plugin it
loads there, a file that imports nothing of vibefix (it runs where vibefix may not be
installed).
"""

from vibefix.verify.runner import VerifyError, verify

__all__ = ["VerifyError", "verify"]
