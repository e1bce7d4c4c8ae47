"""Per-pod endpoints remembered between syncs of one Service.

Turning a pod into an endpoint (conditions, addresses of a family, targetRef, zone) and
computing its identity is most of what planning a large Service costs, yet between two
syncs almost every pod is unchanged. A pod's endpoint depends only on the pod (its
``resourceVersion`` changes with any change), whether its node exists and the node's
zone, and two Service fields (``publishNotReadyAddresses`` and the name its pods'
subdomains are matched against); the memo reuses a result while all of those are the
same. Planning with and without it gives identical plans (tested).

Each plan hands out shallow copies, so the hints pass may set or drop an endpoint's
``hints`` without touching the remembered one. Entries not used by the latest plan are
dropped, so memory follows the Service's current pods.
"""

from __future__ import annotations

from typing import Any

from sliceplane.endpointslice.endpoints import EndpointKey, endpoint_key, pod_to_endpoint
from sliceplane.endpointslice.types import LABEL_ZONE, Obj

_Signature = tuple[Any, ...]


class EndpointMemo:
    """See the module docstring; one per Service, used by one plan at a time."""

    __slots__ = ("_current", "_previous", "_service", "hits", "misses")

    def __init__(self) -> None:
        self._previous: dict[tuple[Any, str], tuple[_Signature, Obj, EndpointKey]] = {}
        self._current: dict[tuple[Any, str], tuple[_Signature, Obj, EndpointKey]] = {}
        self._service: _Signature = ()
        self.hits = 0
        self.misses = 0

    def begin(self, service: Obj) -> None:
        """Start a plan: what the last plan used is what this one may reuse."""
        if self._current:
            self._previous = self._current
        self._current = {}
        meta = service.get("metadata") or {}
        self._service = (
            bool((service.get("spec") or {}).get("publishNotReadyAddresses")),
            meta.get("name"),
            meta.get("namespace"),
        )

    def endpoint(
        self, pod: Obj, node: Obj | None, service: Obj, address_type: str
    ) -> tuple[Obj, EndpointKey]:
        """The pod's endpoint for ``address_type`` (a copy of its own) and its identity."""
        meta = pod.get("metadata") or {}
        rv = meta.get("resourceVersion")
        if not rv:
            ep = pod_to_endpoint(pod, node, service, address_type)
            return ep, endpoint_key(ep)
        zone = None
        if node is not None:
            zone = ((node.get("metadata") or {}).get("labels") or {}).get(LABEL_ZONE)
        signature = (rv, node is not None, zone, self._service)
        key = (meta.get("uid") or f"{meta.get('namespace')}/{meta.get('name')}", address_type)
        found = self._current.get(key) or self._previous.get(key)
        if found is not None and found[0] == signature:
            self.hits += 1
            self._current[key] = found
            return dict(found[1]), found[2]
        self.misses += 1
        ep = pod_to_endpoint(pod, node, service, address_type)
        ident = endpoint_key(ep)
        self._current[key] = (signature, ep, ident)
        return dict(ep), ident
