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

import contextlib
import gc
from collections.abc import Iterator

YOUNG_THRESHOLD = 10_000
"""Allocations between young collections (CPython's default: 700)."""
OLDER_THRESHOLD = 20
"""Collections of one generation before the next one up is collected (default: 10)."""


def tune_for_large_caches() -> None:
    """Apply the thresholds above to this process (call once at start-up)."""
    gc.set_threshold(YOUNG_THRESHOLD, OLDER_THRESHOLD, OLDER_THRESHOLD)


@contextlib.contextmanager
def collection_paused() -> Iterator[None]:
    """No cyclic collection inside the block; the collector's state is restored after.

    For a burst of allocations that are freed by reference counting (a proxy's sync:
    plans, endpoint records, rule text). At 10,000 Services a first sync allocated enough
    containers for two dozen young collections and an older one, each walking whatever
    the sync had built so far: 150 ms of CPU of a 700 ms render (measured in-process).
    Whatever cycles the block leaves are collected by the next collection after it."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
