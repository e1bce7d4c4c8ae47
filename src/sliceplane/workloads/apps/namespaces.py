"""Is a write refused because its namespace is being deleted?

Both apps controllers stop creating (and say so in an event) rather than retrying when the
namespace is terminating; the API server says it either with a ``NamespaceTerminating``
cause or, from older servers, a Forbidden message (upstream ``apierrors.HasStatusCause``
and the namespace lifecycle admission plugin).
"""

from __future__ import annotations

from sliceplane.api import errors


def namespace_terminating(exc: errors.StatusError) -> bool:
    causes = (exc.details or {}).get("causes") or []
    if any(c.get("reason") == "NamespaceTerminating" for c in causes):
        return True
    return isinstance(exc, errors.Forbidden) and "being terminated" in exc.message
