"""Settings shared by every test directory.

hypothesis is imported here, at start-up, on purpose: when a run uses no hypothesis test,
its pytest plugin imports it only at the end, from inside the terminal-summary hook, and
CPython 3.11.7's compiler then sometimes fails the assertion-rewritten import with
"SystemError: AST constructor recursion depth mismatch", turning a green run red after the
last test passed (seen on doctor-only runs). Imported early, the import happens at a
shallow stack, as in full runs where hypothesis tests are collected first.
"""

import hypothesis  # noqa: F401
