"""Per-pod planning results remembered between syncs of one Service.

Planning a large Service is dominated by per-pod work repeated on every sync: deciding
whether the pod is published, resolving its ports, turning it into an endpoint and
computing the endpoint's identity; yet between two syncs almost every pod is unchanged.
The informer replaces a pod's object whenever the pod changes, so *the same object* means
the same pod. The memo keeps, per pod object, what the last plan derived from it and
reuses it while the inputs beyond the pod are also the same: the Service fields the
results depend on (``publishNotReadyAddresses``, ports, name and namespace, which decide
hostnames) and, per address family, whether the pod's node exists and its zone.
Planning with and without the memo gives identical plans (tested).

Each plan hands out shallow copies of endpoints, so the hints pass may set or drop an
endpoint's ``hints`` without touching the remembered one. Entries not used by the latest
plan are dropped, so memory follows the Service's current pods.
"""

from __future__ import annotations

from typing import Any

from sliceplane.api.meta import labels_of, meta_of
from sliceplane.endpointslice.podendpoints import (
    EndpointKey,
    PortKey,
    endpoint_key,
    endpoint_ports,
    pod_to_endpoint,
    port_set_key,
    should_pod_be_in_endpoints,
)
from sliceplane.endpointslice.types import LABEL_ZONE, Obj

Candidate = tuple[list[Obj], PortKey] | None
"""A published pod's slice ports and their identity; ``None`` for a pod left out."""


def candidate(pod: Obj, service: Obj) -> Candidate:
    """Whether ``pod`` is published at all, and with which ports (no memo)."""
    if not should_pod_be_in_endpoints(pod, True):
        return None
    ports = endpoint_ports(service, pod)
    return ports, port_set_key(ports)


class _Entry:
    __slots__ = ("candidate", "endpoints", "pod", "service")

    def __init__(self, pod: Obj, service: object, cand: Candidate) -> None:
        self.pod = pod
        self.service = service
        self.candidate = cand
        # address type -> (node exists, zone, endpoint, identity)
        self.endpoints: dict[str, tuple[bool, Any, Obj, EndpointKey]] = {}


class EndpointMemo:
    """See the module docstring; one per Service, used by one plan at a time."""

    __slots__ = ("_current", "_previous", "_service", "hits", "misses")

    def __init__(self) -> None:
        self._previous: dict[int, _Entry] = {}
        self._current: dict[int, _Entry] = {}
        self._service: tuple[Any, ...] = ()
        self.hits = 0
        self.misses = 0

    def begin(self, service: Obj) -> None:
        """Start a plan: what the last plan used is what this one may reuse."""
        if self._current:
            self._previous = self._current
        self._current = {}
        meta = meta_of(service)
        spec = service.get("spec") or {}
        facts = (
            bool(spec.get("publishNotReadyAddresses")),
            meta.get("name"),
            meta.get("namespace"),
            spec.get("ports") or [],
        )
        if facts != self._service:
            self._service = facts  # a new object: entries made for the old one are stale

    def candidate(self, pod: Obj, service: Obj) -> Candidate:
        """:func:`candidate`, remembered for this pod object."""
        entry = self._previous.get(id(pod))
        if entry is None or entry.pod is not pod or entry.service is not self._service:
            entry = _Entry(pod, self._service, candidate(pod, service))
        self._current[id(pod)] = entry
        return entry.candidate

    def endpoint(
        self, pod: Obj, node: Obj | None, service: Obj, address_type: str
    ) -> tuple[Obj, EndpointKey]:
        """The pod's endpoint for ``address_type`` (a copy of its own) and its identity.
        Call :meth:`candidate` for the pod first in the same plan."""
        entry = self._current.get(id(pod))
        zone = None
        if node is not None:
            zone = labels_of(node).get(LABEL_ZONE)
        if entry is not None and entry.pod is pod:
            found = entry.endpoints.get(address_type)
            if found is not None and found[0] == (node is not None) and found[1] == zone:
                self.hits += 1
                return dict(found[2]), found[3]
        self.misses += 1
        ep = pod_to_endpoint(pod, node, service, address_type)
        ident = endpoint_key(ep)
        if entry is not None and entry.pod is pod:
            entry.endpoints[address_type] = (node is not None, zone, ep, ident)
        return dict(ep), ident
