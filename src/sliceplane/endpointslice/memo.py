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

Plans hand out the remembered endpoint objects themselves (copying 10,000 endpoints per
sync was a fifth of a large Service's plan); the planner copies the endpoints of the
slices it is about to write before the hints pass may set or drop their ``hints``, so a
remembered endpoint is never changed. Per existing slice object the memo also keeps its
endpoints' identities and which fresh endpoint each was last found equal to: an
unchanged pod next to an unchanged slice costs no comparison. Entries not used by the
latest plan are dropped, so memory follows the Service's current pods and slices.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
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
    __slots__ = ("candidate", "endpoints", "node_name", "pod", "service")

    def __init__(self, pod: Obj, service: object, cand: Candidate) -> None:
        self.pod = pod
        self.service = service
        self.candidate = cand
        self.node_name: str = (pod.get("spec") or {}).get("nodeName") or ""
        # address type -> [node object, endpoint, identity]; the node object seen when the
        # endpoint was made (or last confirmed: same existence, same zone).
        self.endpoints: dict[str, list[Any]] = {}


MemoCandidate = tuple[Obj, list[Obj], PortKey, _Entry]
"""A published pod, its slice ports and their identity, and its memo entry."""


class EndpointMemo:
    """See the module docstring; one per Service, used by one plan at a time."""

    __slots__ = (
        "_current",
        "_previous",
        "_service",
        "_slices_current",
        "_slices_previous",
        "hits",
        "misses",
    )

    def __init__(self) -> None:
        self._previous: dict[int, _Entry] = {}
        self._current: dict[int, _Entry] = {}
        self._service: tuple[Any, ...] = ()
        # Per existing slice object: its endpoints' identities, and per endpoint the fresh
        # endpoint found equal to it last time (None: not known equal).
        self._slices_previous: dict[int, tuple[Obj, list[EndpointKey], list[Obj | None]]] = {}
        self._slices_current: dict[int, tuple[Obj, list[EndpointKey], list[Obj | None]]] = {}
        self.hits = 0
        self.misses = 0

    def begin(self, service: Obj) -> None:
        """Start a plan: what the last plan used is what this one may reuse."""
        if self._current:
            self._previous = self._current
        self._current = {}
        if self._slices_current:
            self._slices_previous = self._slices_current
        self._slices_current = {}
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

    def end(self, replaced: Collection[str]) -> None:
        """Finish a plan: let go of what only the previous plan used, and of the slices
        named in ``replaced`` (about to be updated or deleted, so the cache will hold other
        objects for them). Otherwise a Service's memo kept the pod and slice objects its
        informers had already replaced until its next sync: at the end of a rollout of
        1,000 Services, a stale slice and a stale pod or two for each."""
        self._previous = {}
        self._slices_previous = {}
        if replaced:
            current = self._slices_current
            for key in [k for k, v in current.items() if meta_of(v[0]).get("name") in replaced]:
                del current[key]

    def _entry(self, pod: Obj, service: Obj) -> _Entry:
        entry = self._previous.get(id(pod))
        if entry is None or entry.pod is not pod or entry.service is not self._service:
            entry = _Entry(pod, self._service, candidate(pod, service))
        self._current[id(pod)] = entry
        return entry

    def candidate(self, pod: Obj, service: Obj) -> Candidate:
        """:func:`candidate`, remembered for this pod object."""
        return self._entry(pod, service).candidate

    def candidates(self, pods: Sequence[Obj], service: Obj) -> list[MemoCandidate]:
        """:meth:`candidate` for every pod, keeping the published ones (one call per plan
        instead of one per pod: this loop runs over every pod of the Service)."""
        previous, current, facts = self._previous, self._current, self._service
        out: list[MemoCandidate] = []
        for pod in pods:
            entry = previous.get(id(pod))
            if entry is None or entry.pod is not pod or entry.service is not facts:
                entry = _Entry(pod, facts, candidate(pod, service))
            current[id(pod)] = entry
            cand = entry.candidate
            if cand is not None:
                out.append((pod, cand[0], cand[1], entry))
        return out

    def endpoint(
        self, pod: Obj, node: Obj | None, service: Obj, address_type: str
    ) -> tuple[Obj, EndpointKey]:
        """The pod's endpoint for ``address_type`` and its identity. Call :meth:`candidate`
        for the pod first in the same plan. The endpoint is the remembered object itself:
        the planner never changes endpoints it did not copy (it copies the endpoints of
        the slices it writes before the hints pass may set hints on them)."""
        entry = self._current.get(id(pod))
        if entry is None or entry.pod is not pod:
            self.misses += 1
            ep = pod_to_endpoint(pod, node, service, address_type)
            return ep, endpoint_key(ep)
        found = entry.endpoints.get(address_type)
        if found is not None and found[0] is node:
            self.hits += 1
            return found[1], found[2]
        return self.endpoint_of(entry, node, service, address_type)

    def endpoint_of(
        self, entry: _Entry, node: Obj | None, service: Obj, address_type: str
    ) -> tuple[Obj, EndpointKey]:
        """:meth:`endpoint` for an entry from :meth:`candidates` whose remembered endpoint
        was made with another node object (or none yet): still valid when the node's
        existence and zone are the same."""
        found = entry.endpoints.get(address_type)
        if found is not None:
            before = found[0]
            if (before is None) == (node is None) and (
                node is None or labels_of(before).get(LABEL_ZONE) == labels_of(node).get(LABEL_ZONE)
            ):
                found[0] = node
                self.hits += 1
                return found[1], found[2]
        self.misses += 1
        ep = pod_to_endpoint(entry.pod, node, service, address_type)
        ident = endpoint_key(ep)
        entry.endpoints[address_type] = [node, ep, ident]
        return ep, ident

    def slice_endpoints(self, es: Obj) -> tuple[list[EndpointKey], list[Obj | None]]:
        """An existing slice's endpoint identities, and the fresh endpoints known equal to
        each (filled in by the planner), remembered per slice object."""
        found = self._slices_previous.get(id(es))
        if found is None or found[0] is not es:
            eps = es.get("endpoints") or []
            found = (es, [endpoint_key(ep) for ep in eps], [None] * len(eps))
        self._slices_current[id(es)] = found
        return found[1], found[2]
