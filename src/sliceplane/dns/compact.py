"""What ``sliceplane dns`` keeps of each API object: the fields the zone reads, nothing else.

The informers of a standalone DNS server held every Service, EndpointSlice and Namespace as
decoded whole (managedFields, annotations, timestamps, uids, status): for 10,000 Services
that was most of the process's memory, for fields the zone never reads. The functions here
are the informers' *transform* (client-go's ``SetTransform``, see
:data:`sliceplane.machinery.informer.Transform`): each object is cut down to what
:mod:`sliceplane.dns.zone` reads (``*_from_object``) plus what the informer itself needs
(name, namespace, resourceVersion) before it is stored. Strings repeated across objects
(namespaces, port names, protocols, the service-name label) are interned, so 10,000 objects
share one copy.

Pure functions; the zone built from compact objects is the zone
built from the whole ones (``tests/unit/dns/test_dns_compact.py``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from sliceplane.api.meta import Obj
from sliceplane.api.wellknown import LABEL_SERVICE_NAME

_intern = sys.intern


def _s(value: Any) -> Any:
    return _intern(value) if type(value) is str else value


def _meta(obj: Obj, *, labels: bool = False, deletion: bool = False) -> Obj:
    meta = obj.get("metadata") or {}
    out: Obj = {}
    for key in ("name", "namespace", "resourceVersion"):
        if key in meta:
            out[key] = _s(meta[key]) if key == "namespace" else meta[key]
    if labels:
        name = (meta.get("labels") or {}).get(LABEL_SERVICE_NAME)
        if name is not None:
            out["labels"] = {LABEL_SERVICE_NAME: name}
    if deletion and meta.get("deletionTimestamp"):
        out["deletionTimestamp"] = meta["deletionTimestamp"]
    return out


_shared_ports: dict[tuple[tuple[tuple[str, Any], ...], ...], list[Obj]] = {}
_SHARED_PORTS_LIMIT = 4096


def _ports(raw: Any) -> Any:
    """The ports' name, protocol and number; one shared list for each distinct set (most
    Services of a cluster have one of a handful), never changed by anyone (see the
    informer's rule that stored objects are read-only)."""
    if not raw:
        return raw
    key = tuple(
        tuple((k, p[k]) for k in ("name", "protocol", "port") if k in p)
        for p in raw
        if isinstance(p, dict)
    )
    try:
        found = _shared_ports.get(key)
    except TypeError:  # a value that cannot be a key (not what an API server sends)
        return [{k: v for k, v in port} for port in key]
    if found is None:
        found = [{k: _s(v) for k, v in port} for port in key]
        if len(_shared_ports) < _SHARED_PORTS_LIMIT:
            _shared_ports[key] = found
    return found


def compact_service(obj: Obj) -> Obj:
    spec = obj.get("spec") or {}
    small: Obj = {}
    for key in ("type", "clusterIP", "clusterIPs", "externalName"):
        if key in spec:
            small[key] = _s(spec[key]) if key == "type" else spec[key]
    if "ports" in spec:
        small["ports"] = _ports(spec["ports"])
    return {"metadata": _meta(obj), "spec": small}


def compact_slice(obj: Obj) -> Obj:
    endpoints = []
    for ep in obj.get("endpoints") or []:
        if (ep.get("conditions") or {}).get("ready") is False:
            continue  # the zone answers ready endpoints only (absent counts as ready)
        small: Obj = {"addresses": ep.get("addresses")}
        if ep.get("hostname"):
            small["hostname"] = ep["hostname"]
        target = (ep.get("targetRef") or {}).get("name")
        if target:
            small["targetRef"] = {"name": target}
        endpoints.append(small)
    out: Obj = {"metadata": _meta(obj, labels=True), "endpoints": endpoints}
    if "ports" in obj:
        out["ports"] = _ports(obj["ports"])
    return out


def compact_namespace(obj: Obj) -> Obj:
    return {"metadata": _meta(obj)}


def compact_pod(obj: Obj) -> Obj:
    status = obj.get("status") or {}
    small: Obj = {}
    if "phase" in status:
        small["phase"] = _s(status["phase"])
    if "podIPs" in status:
        small["podIPs"] = [{"ip": p.get("ip")} for p in status["podIPs"] or []]
    return {"metadata": _meta(obj, deletion=True), "status": small}


COMPACT: dict[str, Callable[[Obj], Obj]] = {
    "services": compact_service,
    "endpointslices": compact_slice,
    "namespaces": compact_namespace,
    "pods": compact_pod,
}
