"""Which Services select a Pod, and which Pod changes matter to endpoint controllers.

Both the EndpointSlice and the Endpoints controller turn Pod events into Service keys the
same way (reference §2.2); this is that mapping, kept in one place. Selecting the pods of
one Service is the kind-agnostic :func:`sliceplane.machinery.labelindex.select`.
"""

from __future__ import annotations

from typing import Any

from sliceplane.api.meta import Obj, meta_of
from sliceplane.api.podstatus import is_ready
from sliceplane.api.selectors import LabelSelector, selector_from_set
from sliceplane.machinery.informer import Informer, object_key
from sliceplane.machinery.labelindex import pair_keys


def _pod_ips(pod: Obj) -> list[str]:
    return [p.get("ip", "") for p in (pod.get("status") or {}).get("podIPs") or []]


def pod_changed(old: Obj, new: Obj) -> bool:
    """Deletion, readiness or IP changes matter; node name and resourceVersion alone do not."""
    om, nm = meta_of(old), meta_of(new)
    if om.get("deletionTimestamp") != nm.get("deletionTimestamp"):
        return True
    if is_ready(old) != is_ready(new):
        return True
    return _pod_ips(old) != _pod_ips(new)


def pod_labels_changed(old: Obj, new: Obj) -> bool:
    """Labels, hostname or subdomain changed (they decide selection and DNS names)."""
    om, nm = meta_of(old), meta_of(new)
    if (om.get("labels") or {}) != (nm.get("labels") or {}):
        return True
    os_, ns_ = old.get("spec") or {}, new.get("spec") or {}
    return bool(
        os_.get("hostname") != ns_.get("hostname") or os_.get("subdomain") != ns_.get("subdomain")
    )


SERVICE_SELECTOR_INDEX = "service-selector"
"""Index of Services by ``namespace/key=value`` for each pair of their ``spec.selector``."""


def service_selector_index(svc: Obj) -> list[str]:
    """Why: a pod event must find the Services that may select it without looking at every
    Service of the namespace. A Service selector is a label map, i.e. a conjunction of
    equalities, so a Service can only select pods carrying each of its pairs; indexing it
    under every pair lets a pod's own labels find every candidate. No or an empty selector
    selects nothing and is indexed under nothing."""
    ns = meta_of(svc).get("namespace") or ""
    return pair_keys(ns, (svc.get("spec") or {}).get("selector") or {})


def ensure_service_selector_index(informer: Informer) -> None:
    informer.ensure_index(SERVICE_SELECTOR_INDEX, service_selector_index)


class ServiceSelectors:
    """Parsed Service selectors over a Services informer, and the Services a pod's labels
    select (through :data:`SERVICE_SELECTOR_INDEX`, which this adds to the informer)."""

    def __init__(self, services: Informer) -> None:
        self.services = services
        ensure_service_selector_index(services)
        self._cache: dict[str, tuple[Any, LabelSelector | None]] = {}

    def selector(self, svc: Obj) -> LabelSelector | None:
        """The Service's selector, parsed once per version; None (no or empty selector)
        selects nothing."""
        key = object_key(svc)
        raw = (svc.get("spec") or {}).get("selector")
        cached = self._cache.get(key)
        if cached is not None and cached[0] is raw:
            return cached[1]
        sel = selector_from_set(raw) if raw else None
        self._cache[key] = (raw, sel)
        return sel

    def services_for_pod(self, pod: Obj) -> set[str]:
        """Keys of the Services of the pod's namespace whose selector matches its labels.

        Cost: one index lookup per pod label plus a full selector match per candidate
        (a Service sharing at least one pair with the pod), independent of how many
        Services the namespace has. The informer re-indexes a Service when it changes,
        so a new selector is seen by the next pod event.
        """
        meta = meta_of(pod)
        labels = meta.get("labels") or {}
        if not labels:
            return set()  # every indexed selector has at least one pair
        ns = meta.get("namespace") or ""
        store = self.services.store
        candidates: set[str] = set()
        for value in pair_keys(ns, labels):
            candidates |= store.index_set(SERVICE_SELECTOR_INDEX, value)
        out: set[str] = set()
        for key in candidates:
            svc = store.get(key)
            if svc is None:
                continue
            sel = self.selector(svc)
            if sel is not None and sel.matches(labels):
                out.add(key)
        return out

    def services_to_sync(self, old: Obj, new: Obj) -> set[str]:
        """Service keys a Pod update should re-sync (§2.2), empty if it does not matter."""
        om, nm = meta_of(old), meta_of(new)
        if om.get("resourceVersion") == nm.get("resourceVersion"):
            return set()
        changed = pod_changed(old, new)
        labels_changed = pod_labels_changed(old, new)
        if not changed and not labels_changed:
            return set()
        new_services = self.services_for_pod(new)
        if not labels_changed:
            return new_services
        old_services = self.services_for_pod(old)
        return old_services | new_services if changed else old_services ^ new_services
