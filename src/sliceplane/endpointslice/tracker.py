"""Knowing our own writes: expected slice generations per Service (reference §2.11).

The controller plans from informer caches. Right after it writes, the cache may still hold
the old slices; planning against them would undo or duplicate the write. The tracker
remembers, per Service, the generation each slice had when this controller last wrote it
(or that a deletion is expected), so that

* ``stale_slices`` can refuse a sync whose cache lags behind (the caller raises a typed
  error and retries), and
* ``should_sync`` / ``handle_deletion`` can ignore the watch echoes of our own writes.

The API server bumps ``metadata.generation`` on every spec or label change, which is what
makes generations a reliable marker. Services are keyed by namespace and the slice's
``kubernetes.io/service-name`` label; slices by uid.
"""

from __future__ import annotations

from collections.abc import Sequence

from sliceplane.api.meta import meta_of, uid_of
from sliceplane.endpointslice.types import LABEL_SERVICE_NAME, Obj

DELETION_EXPECTED = -1

_ServiceKey = tuple[str, str]


def _slice_service(es: Obj) -> _ServiceKey:
    meta = meta_of(es)
    labels = meta.get("labels") or {}
    return str(meta.get("namespace") or ""), str(labels.get(LABEL_SERVICE_NAME) or "")


def _uid(obj: Obj) -> str:
    return uid_of(obj)


def _generation(es: Obj) -> int:
    return int(meta_of(es).get("generation") or 0)


class EndpointSliceTracker:
    """Expected generation per slice uid, grouped by owning Service."""

    def __init__(self) -> None:
        self._generations: dict[_ServiceKey, dict[str, int]] = {}
        self._service_uids: dict[_ServiceKey, str] = {}

    def _gens(self, es: Obj) -> dict[str, int] | None:
        return self._generations.get(_slice_service(es))

    def has(self, es: Obj) -> bool:
        """Whether this slice (by uid, under its Service) is tracked at all."""
        gens = self._gens(es)
        return gens is not None and _uid(es) in gens

    def should_sync(self, es: Obj) -> bool:
        """True unless the slice is a known write of ours (or older)."""
        gens = self._gens(es)
        if gens is None:
            return True
        expected = gens.get(_uid(es))
        return expected is None or _generation(es) > expected

    def update(self, es: Obj) -> None:
        """Record a slice as returned by a create or update."""
        self._generations.setdefault(_slice_service(es), {})[_uid(es)] = _generation(es)

    def expect_deletion(self, es: Obj) -> None:
        """Record that we deleted this slice; its presence in a list now means a stale cache."""
        self._generations.setdefault(_slice_service(es), {})[_uid(es)] = DELETION_EXPECTED

    def handle_deletion(self, es: Obj) -> bool:
        """Forget a deleted slice; False only for a deletion we did not expect (resync)."""
        gens = self._gens(es)
        if gens is not None:
            expected = gens.pop(_uid(es), None)
            if expected is not None and expected != DELETION_EXPECTED:
                return False
        return True

    def stale_slices(self, service: Obj, slices: Sequence[Obj]) -> bool:
        """Whether the listed slices lag behind what this controller wrote.

        Stale if a listed slice is expected to be deleted or is older than written, or a
        slice we wrote is missing from the list. A recreated Service (new uid) starts clean:
        writes made for the old one no longer say anything about the cache.
        """
        meta = meta_of(service)
        key = (str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        uid = str(meta.get("uid") or "")
        known_uid = self._service_uids.get(key, "")
        if known_uid and uid and known_uid != uid:
            self._generations.pop(key, None)
        self._service_uids[key] = uid

        gens = self._generations.get(key)
        if gens is None:
            return False
        listed: set[str] = set()
        for es in slices:
            slice_uid = _uid(es)
            listed.add(slice_uid)
            expected = gens.get(slice_uid)
            if expected is not None and (
                expected == DELETION_EXPECTED or expected > _generation(es)
            ):
                return True
        return any(
            g != DELETION_EXPECTED and slice_uid not in listed for slice_uid, g in gens.items()
        )

    def delete_service(self, namespace: str, name: str) -> None:
        """Drop everything known about a Service."""
        self._generations.pop((namespace, name), None)
        self._service_uids.pop((namespace, name), None)
