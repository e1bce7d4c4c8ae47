"""Metadata of controller-made EndpointSlices: names, owner, labels, placeholder, annotation.

These rules decide which existing slices the planner may touch (``owned_by``), when an
otherwise unchanged slice still needs a write (``slice_labels``' changed flag), and when an
empty slice already *is* the placeholder upstream would create (``placeholder_equal``), so
they are kept apart from the packing algorithm and tested on their own (reference §2.7,
§2.8e, §2.10).

Functions that build slices return fresh dicts (the trigger-time annotation is stamped by
:func:`sliceplane.endpointbase.triggertime.set_trigger_time`, on the planner's own copies).
"""

from __future__ import annotations

from collections.abc import Mapping

from sliceplane.api.meta import meta_of
from sliceplane.api.validation.names import name_is_dns_subdomain
from sliceplane.endpointslice.podendpoints import service_ip_set
from sliceplane.endpointslice.types import (
    CONTROLLER_NAME,
    LABEL_HEADLESS,
    LABEL_MANAGED_BY,
    LABEL_SERVICE_NAME,
    Obj,
)

RESERVED_LABELS = frozenset({LABEL_SERVICE_NAME, LABEL_MANAGED_BY, LABEL_HEADLESS})


def slice_name_prefix(service_name: str) -> str:
    """``<svc>-`` as generateName, or ``<svc>`` when the dash would make it invalid."""
    prefix = f"{service_name}-"
    if name_is_dns_subdomain(prefix, True):
        return service_name
    return prefix


def controller_ref(service: Obj) -> Obj:
    meta = meta_of(service)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "name": meta.get("name") or "",
        "uid": meta.get("uid") or "",
        "controller": True,
        "blockOwnerDeletion": True,
    }


def owned_by(es: Obj, service: Obj) -> bool:
    """True when some ownerReference points at this very Service (same uid)."""
    uid = meta_of(service).get("uid") or ""
    for ref in meta_of(es).get("ownerReferences") or []:
        if (
            (ref.get("uid") or "") == uid
            and ref.get("kind") == "Service"
            and ref.get("apiVersion") == "v1"
        ):
            return True
    return False


def is_reserved_label(key: str) -> bool:
    return key in RESERVED_LABELS


def slice_labels(
    es: Obj | None, service: Obj, controller_name: str = CONTROLLER_NAME
) -> tuple[dict[str, str], bool]:
    """The labels a slice of ``service`` must carry, and whether ``es`` needs them rewritten.

    Labels are the Service's minus the reserved keys, plus the headless marker when the
    Service has no cluster IP, the service-name and managed-by labels. Only non-reserved
    labels count as a change: a headless-status flip alone does not rewrite a slice.
    """
    slice_own = (
        {k: v for k, v in (meta_of(es).get("labels") or {}).items() if not is_reserved_label(k)}
        if es is not None
        else {}
    )
    svc_meta = meta_of(service)
    labels = {k: v for k, v in (svc_meta.get("labels") or {}).items() if not is_reserved_label(k)}
    changed = slice_own != labels
    if not service_ip_set(service):
        labels[LABEL_HEADLESS] = ""
    labels[LABEL_SERVICE_NAME] = svc_meta.get("name") or ""
    labels[LABEL_MANAGED_BY] = controller_name
    return labels, changed


def new_slice(
    service: Obj,
    ports: list[Obj],
    address_type: str,
    controller_name: str = CONTROLLER_NAME,
) -> Obj:
    """An empty slice ready to be created (``generateName`` set, no name).

    ``ports`` is stored as given: pass a list the slice may own.
    """
    meta = meta_of(service)
    labels, _ = slice_labels(None, service, controller_name)
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "generateName": slice_name_prefix(meta.get("name") or ""),
            "namespace": meta.get("namespace") or "",
            "labels": labels,
            "ownerReferences": [controller_ref(service)],
        },
        "addressType": address_type,
        "endpoints": [],
        "ports": ports,
    }


def placeholder_slice(
    service: Obj, address_type: str, controller_name: str = CONTROLLER_NAME
) -> Obj:
    """The slice kept for a Service with no endpoints of ``address_type``."""
    return new_slice(service, [], address_type, controller_name)


def _labels_equal(a: Mapping[str, str], b: Mapping[str, str]) -> bool:
    # Go map lookups yield "" for a missing key, so {"k": ""} equals {}.
    return all(b.get(k, "") == v for k, v in a.items()) and all(
        a.get(k, "") == v for k, v in b.items()
    )


def placeholder_equal(a: Obj | None, b: Obj | None) -> bool:
    """Upstream's ``placeholderSliceCompare``: is the existing slice the placeholder?

    Of the metadata only namespace and labels count (name, annotations, timestamps,
    ownerReferences and resourceVersion are ignored); addressType, endpoints and ports are
    compared with unset equal to empty. ``apiVersion``/``kind`` are ignored too: listed
    objects may or may not carry them.
    """
    if a is None or b is None:
        return a is None and b is None
    ma, mb = meta_of(a), meta_of(b)
    if (ma.get("namespace") or "") != (mb.get("namespace") or ""):
        return False
    if not _labels_equal(ma.get("labels") or {}, mb.get("labels") or {}):
        return False
    if (a.get("addressType") or "") != (b.get("addressType") or ""):
        return False
    return (a.get("endpoints") or []) == (b.get("endpoints") or []) and (a.get("ports") or []) == (
        b.get("ports") or []
    )
