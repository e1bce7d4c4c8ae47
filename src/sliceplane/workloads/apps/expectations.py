"""Expectations: what a controller has asked for and not yet seen in its informer cache.

Why: the ReplicaSet controller plans from its pod cache, and right after it creates five
pods the cache still shows none of them. Planning again then would create five more.
Upstream's ``ControllerExpectations`` (``UIDTrackingControllerExpectations`` for deletions)
solves this by recording "I expect N adds and these deletions" per controller key and
refusing to manage replicas for that key until the informer has delivered them, or until
the record is so old (5 minutes) that something must have been missed.

This version is per key: a counter of creations still to be observed and the set of pod
keys whose deletion is still to be observed. Observations of deletions are idempotent (a
pod seen as "deletion requested" and later as "deleted" lowers the count once), and
lowering below zero is harmless. Time comes from the injected clock.

The same problem for a controller's own writes of the objects it syncs is
:class:`WrittenVersions`: a sync that finds its cache older than its last write raises
:class:`StaleCache` and is retried.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sliceplane.machinery.clock import Clock

STALE_CACHE_RETRY = 1.0
"""Seconds after which a sync skipped for a lagging cache runs anyway (a safety net: the
echo of our own write normally re-queues the key much sooner)."""


class StaleCache(Exception):
    """The informer cache has not yet delivered this controller's own last write (see
    :class:`WrittenVersions`); the sync is retried."""


EXPECTATIONS_TIMEOUT = 300.0
"""``ExpectationsTimeout``: after this long an unmet expectation is treated as met."""


@dataclass(slots=True)
class _Record:
    adds: int = 0
    deletes: set[str] = field(default_factory=set)
    timestamp: float = 0.0


class ControllerExpectations:
    """Per-key outstanding creations and deletions (see the module docstring)."""

    def __init__(self, clock: Clock, timeout: float = EXPECTATIONS_TIMEOUT) -> None:
        self._clock = clock
        self._timeout = timeout
        self._records: dict[str, _Record] = {}

    def satisfied(self, key: str) -> bool:
        """True when nothing is outstanding for ``key``, nothing was ever recorded, or the
        record has expired (``SatisfiedExpectations``)."""
        rec = self._records.get(key)
        if rec is None:
            return True
        if rec.adds <= 0 and not rec.deletes:
            return True
        return self._clock.now() - rec.timestamp > self._timeout

    def expect_creations(self, key: str, count: int) -> None:
        """Replace the record for ``key`` with ``count`` pending creations."""
        self._records[key] = _Record(adds=count, timestamp=self._clock.now())

    def expect_deletions(self, key: str, pod_keys: Iterable[str]) -> None:
        """Replace the record for ``key`` with these pending deletions."""
        self._records[key] = _Record(deletes=set(pod_keys), timestamp=self._clock.now())

    def creation_observed(self, key: str) -> None:
        rec = self._records.get(key)
        if rec is not None:
            rec.adds -= 1

    def deletion_observed(self, key: str, pod_key: str) -> None:
        rec = self._records.get(key)
        if rec is not None:
            rec.deletes.discard(pod_key)

    def delete(self, key: str) -> None:
        """Forget ``key`` (its controller object is gone)."""
        self._records.pop(key, None)

    def pending(self, key: str) -> tuple[int, int]:
        """(creations, deletions) still outstanding, for tests and diagnostics."""
        rec = self._records.get(key)
        return (0, 0) if rec is None else (max(rec.adds, 0), len(rec.deletes))


class WrittenVersions:
    """The resourceVersions of this controller's own latest writes, per object key.

    Why: planning from a cache that has not yet delivered our own last write means planning
    against state we already changed (upstream's deployment controller then burns a
    Conflict per attempt). :meth:`lagging` tells the sync to back off instead. Versions
    are compared as integers when both are decimal (the embedded server's and etcd's
    are); otherwise a differing version is not treated as lagging, since opaque versions
    cannot be ordered.
    """

    def __init__(self) -> None:
        self._written: dict[str, str] = {}

    def wrote(self, key: str, resource_version: str) -> None:
        if resource_version:
            self._written[key] = resource_version

    def lagging(self, key: str, cached_version: str) -> bool:
        """Whether the cached object predates our last write of it."""
        mine = self._written.get(key)
        if mine is None or mine == cached_version:
            return False
        if mine.isdigit() and cached_version.isdigit():
            return int(cached_version) < int(mine)
        return False

    def forget(self, key: str) -> None:
        self._written.pop(key, None)
