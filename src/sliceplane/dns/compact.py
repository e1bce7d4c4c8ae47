"""What ``sliceplane dns`` keeps of each API object: the fields the zone reads, nothing else.

The informers of a standalone DNS server held every Service, EndpointSlice and Namespace as
decoded whole (managedFields, annotations, timestamps, uids, status): for 10,000 Services
that was most of the process's memory, for fields the zone never reads. The functions here
are the informers' *transform* (client-go's ``SetTransform``, see
:data:`sliceplane.machinery.informer.Transform`): each object is cut down to what the
informer itself reads (name, namespace, resourceVersion) and the record the zone keeps of
it (:data:`sliceplane.dns.zone.RECORD`: the frozen ``Service``, ``Slice`` or ``Pod`` of
:mod:`sliceplane.dns.zone`, made once, here). The zone builder takes that record as it is,
so the informer's copy and the zone share one record rather than holding the same
addresses twice, once as decoded JSON. Namespaces and Service types are interned, and the
zone shares one tuple for each distinct set of ports.

Pure functions; the zone built from compact objects is the zone built from the whole ones
(``tests/unit/dns/test_dns_compact.py``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from sliceplane.api.meta import Obj
from sliceplane.dns.zone import RECORD, pod_from_object, service_from_object, slice_from_object

_intern = sys.intern


def _s(value: Any) -> Any:
    return _intern(value) if type(value) is str else value


def _meta(obj: Obj) -> Obj:
    """What the informer reads: name, namespace (interned) and resourceVersion."""
    meta = obj.get("metadata") or {}
    out: Obj = {}
    for key in ("name", "namespace", "resourceVersion"):
        if key in meta:
            out[key] = _s(meta[key]) if key == "namespace" else meta[key]
    return out


def _with_meta(obj: Obj, meta: Obj) -> Obj:
    """``obj`` with the cut-down metadata's (interned) values over its own, for the record
    to be made from (which also reads labels and the deletion timestamp)."""
    return {**obj, "metadata": {**(obj.get("metadata") or {}), **meta}}


def compact_service(obj: Obj) -> Obj:
    meta = _meta(obj)
    spec = obj.get("spec") or {}
    if type(spec.get("type")) is str:
        spec = {**spec, "type": _intern(spec["type"])}
    record = service_from_object({"metadata": meta, "spec": spec})
    return {"metadata": meta, RECORD: record}


def compact_slice(obj: Obj) -> Obj:
    meta = _meta(obj)
    return {"metadata": meta, RECORD: slice_from_object(_with_meta(obj, meta))}


def compact_namespace(obj: Obj) -> Obj:
    return {"metadata": _meta(obj)}


def compact_pod(obj: Obj) -> Obj:
    meta = _meta(obj)
    return {"metadata": meta, RECORD: pod_from_object(_with_meta(obj, meta))}


COMPACT: dict[str, Callable[[Obj], Obj]] = {
    "services": compact_service,
    "endpointslices": compact_slice,
    "namespaces": compact_namespace,
    "pods": compact_pod,
}
