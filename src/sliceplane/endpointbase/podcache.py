"""The pod fields the endpoint controllers read, and nothing else, for their pod cache.

Why: ``sliceplane controller`` caches every pod of the cluster, and a decoded pod is a
tree of some thirty dicts, lists and strings (containers with images, resources and
termination settings, tolerations, volumes, four conditions with their times, container
statuses); 10,000 pods as kube-apiserver serves them took 63 MiB of the process, more than
kube-controller-manager's whole RSS difference with us. The EndpointSlice and Endpoints
controllers (and the EndpointSlice controller's explanations) read a handful of fields:
the metadata, the node, hostname and subdomain, the container ports (app containers and
sidecars), the phase, the pod IPs and the Ready condition. :func:`compact_pod` is an
informer transform (client-go's ``SetTransform``, as kube-controller-manager's ``trim``
of managedFields) that keeps exactly those, so every reader sees the same values it would
read from the whole pod.

Label keys and values, namespaces, node names and the other short strings many pods
repeat are interned: one string object for every pod of a Deployment instead of one per
pod.

Only for a process whose pod readers are these controllers: ``sliceplane up`` shares its
pod informer with the scheduler, the workload controllers and the view, and keeps whole
pods. A reader added to the controller process that needs another field must add it here.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from sliceplane.api.meta import Obj
from sliceplane.api.podstatus import READY

_intern = sys.intern

SPEC_FIELDS = ("nodeName", "hostname", "subdomain")
"""Scalar ``spec`` fields the controllers read (kept when present)."""
STATUS_FIELDS = ("phase", "podIP", "podIPs")
"""``status`` fields kept (besides the Ready condition); the addresses are not interned
(each pod has its own)."""


def _interned(value: Any) -> Any:
    return _intern(value) if type(value) is str else value


def _container(c: Mapping[str, Any], *, init: bool) -> Obj:
    """A container as the port lookup reads it: name, ports and, for an init container,
    its restartPolicy (``Always`` makes it a sidecar whose ports count)."""
    out: Obj = {}
    name = c.get("name")
    if name is not None:
        out["name"] = _interned(name)
    ports = c.get("ports")
    if ports:
        out["ports"] = [
            {k: _interned(v) for k, v in p.items()} if isinstance(p, Mapping) else p for p in ports
        ]
    if init and "restartPolicy" in c:
        out["restartPolicy"] = _interned(c["restartPolicy"])
    return out


def _metadata(meta: Mapping[str, Any]) -> Obj:
    out: Obj = {}
    for k, v in meta.items():
        if k == "managedFields":
            continue
        if k == "labels" and isinstance(v, Mapping):
            v = {_intern(lk) if type(lk) is str else lk: _interned(lv) for lk, lv in v.items()}
        elif k in ("namespace", "generateName"):
            v = _interned(v)
        out[k] = v
    return out


def compact_pod(pod: Obj) -> Obj:
    """The pod reduced to what the endpoint controllers read (see the module docstring).

    Kept: ``apiVersion``, ``kind``, all of ``metadata`` but managedFields; from ``spec``
    the node name, hostname, subdomain, and each container's name and ports (init
    containers also their restartPolicy); from ``status`` the phase, ``podIP``,
    ``podIPs`` and the first Ready condition whole. The argument is not changed (a list
    watcher may share its objects); the result shares its leaf values."""
    out: Obj = {}
    for k in ("apiVersion", "kind"):
        if k in pod:
            out[k] = _interned(pod[k])
    meta = pod.get("metadata")
    if isinstance(meta, Mapping):
        out["metadata"] = _metadata(meta)
    spec = pod.get("spec")
    if isinstance(spec, Mapping):
        small: Obj = {}
        for k in SPEC_FIELDS:
            if k in spec:
                small[k] = _interned(spec[k])
        for k, init in (("initContainers", True), ("containers", False)):
            containers = spec.get(k)
            if isinstance(containers, list):
                small[k] = [
                    _container(c, init=init) if isinstance(c, Mapping) else c for c in containers
                ]
        out["spec"] = small
    status = pod.get("status")
    if isinstance(status, Mapping):
        kept: Obj = {}
        for k in STATUS_FIELDS:
            if k in status:
                kept[k] = _interned(status[k]) if k == "phase" else status[k]
        conditions = status.get("conditions")
        if isinstance(conditions, list):
            ready = next(
                (c for c in conditions if isinstance(c, Mapping) and c.get("type") == READY),
                None,
            )
            kept["conditions"] = [] if ready is None else [_ready_condition(ready)]
        out["status"] = kept
    return out


def _ready_condition(c: Mapping[str, Any]) -> Obj:
    return {k: _interned(v) if k in ("type", "status", "reason") else v for k, v in c.items()}
