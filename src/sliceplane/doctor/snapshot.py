"""The live objects one diagnosis looks at, listed once and then only read.

Checks are pure functions of a :class:`Snapshot`, so every finding can be table-tested
with objects written out, and the same checks run against ``sliceplane up`` and a real
kube-apiserver. :mod:`sliceplane.doctor.gather` fills snapshots from the API (get/list
only); :func:`split_namespace` cuts one namespace-wide listing into per-Service
snapshots, so ``doctor namespace`` costs a handful of lists, not a handful per Service.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sliceplane.api.meta import Obj, labels_of, meta_of, namespace_of
from sliceplane.api.selectors import selector_from_set
from sliceplane.api.wellknown import LABEL_SERVICE_NAME


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything known about one Service; objects are the API's JSON dicts."""

    namespace: str
    name: str
    service: Obj | None
    """The Service, or None when it does not exist."""
    pods: Sequence[Obj] = ()
    """Every pod of the Service's namespace."""
    nodes: Sequence[Obj] = ()
    """Every node (empty when nodes cannot be listed)."""
    slices: Sequence[Obj] = ()
    """EndpointSlices of the namespace labelled ``kubernetes.io/service-name: NAME``."""
    endpoints: Obj | None = None
    """The legacy Endpoints object of the same name, if any."""
    events: Sequence[Obj] = ()
    """Events of the namespace (only those about the Service, its pods and slices are used)."""
    services: Sequence[Obj] = ()
    """The namespace's Services (for near names when the Service is missing)."""
    elsewhere_pods: Sequence[Obj] = ()
    """Pods of other namespaces whose labels the Service's selector matches."""
    same_name_elsewhere: Sequence[str] = ()
    """Namespaces that hold a Service of this name (when it is missing here)."""


def split_namespace(
    namespace: str,
    services: Sequence[Obj],
    pods: Sequence[Obj],
    nodes: Sequence[Obj],
    slices: Sequence[Obj],
    endpoints: Sequence[Obj],
    events: Sequence[Obj],
    other_pods: Sequence[Obj] = (),
) -> list[Snapshot]:
    """One snapshot per Service of ``namespace``, sorted by name.

    ``other_pods`` are pods of other namespaces (any, the selector filters them).
    """
    slices_by_service: dict[str, list[Obj]] = {}
    for es in slices:
        service_name = labels_of(es).get(LABEL_SERVICE_NAME)
        if service_name:
            slices_by_service.setdefault(str(service_name), []).append(es)
    endpoints_by_name = {str(meta_of(ep).get("name")): ep for ep in endpoints}
    out = []
    for svc in sorted(services, key=lambda s: str(meta_of(s).get("name"))):
        name = str(meta_of(svc).get("name"))
        selector = (svc.get("spec") or {}).get("selector") or {}
        sel = selector_from_set(selector)
        elsewhere = (
            [p for p in other_pods if namespace_of(p) != namespace and sel.matches(labels_of(p))]
            if selector
            else []
        )
        out.append(
            Snapshot(
                namespace=namespace,
                name=name,
                service=svc,
                pods=pods,
                nodes=nodes,
                slices=slices_by_service.get(name, []),
                endpoints=endpoints_by_name.get(name),
                events=events,
                services=services,
                elsewhere_pods=elsewhere,
            )
        )
    return out
