"""Garbage-collector settings for processes that hold large informer caches.

CPython's cyclic collector runs a young collection every 700 net container allocations
and, now and then, a full one that walks every tracked object. A controller holding
10,000 decoded pods has about a million tracked dicts and lists; every pod update
allocates a few dozen more, so during a rollout full collections came every few seconds
and each one stopped the event loop for 100-300 ms (measured on the EndpointSlice
controller's sync of a 10,000-pod Service: the slowest syncs were these pauses). The
cached objects are decoded JSON (acyclic, freed by reference counting), so collecting less
often only delays the few real cycles (tracebacks, tasks) a little.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 10_000
"""Allocations between young collections (CPython's default: 700)."""
OLDER_THRESHOLD = 20
"""Collections of one generation before the next one up is collected (default: 10)."""


def tune_for_large_caches() -> None:
    """Apply the thresholds above to this process (call once at start-up)."""
    gc.set_threshold(YOUNG_THRESHOLD, OLDER_THRESHOLD, OLDER_THRESHOLD)
