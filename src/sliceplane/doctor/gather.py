"""The doctor's only I/O: list what a diagnosis needs, with get and list, never writes.

Everything read is a standard object (Service, Pod, Node, EndpointSlice, Endpoints,
Event), so the same gathering works against ``sliceplane up`` and a real kube-apiserver.
Lists run concurrently. Nodes and Events are optional evidence: a user allowed to read
the namespace but not the cluster's nodes still gets a diagnosis (nodes are then
reconstructed from what the slices say about them).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from sliceplane.api import errors
from sliceplane.api.meta import Obj, labels_of, name_of, namespace_of
from sliceplane.api.selectors import format_label_set, selector_from_set
from sliceplane.api.wellknown import LABEL_SERVICE_NAME, LABEL_ZONE
from sliceplane.client.client import Client
from sliceplane.doctor.snapshot import Snapshot, split_namespace


async def _optional_list(client: Client, resource: str, namespace: str | None) -> list[Obj] | None:
    """The items, or None when listing is forbidden."""
    try:
        return list((await client.list_all(resource, namespace)).items)
    except (errors.Forbidden, errors.Unauthorized):
        return None


def nodes_from_slices(slices: Sequence[Obj], pods: Sequence[Obj]) -> list[Obj]:
    """Stand-in Node objects when nodes cannot be listed: names from pods and endpoints,
    zones from endpoints, assumed Ready (the doctor cannot tell otherwise)."""
    zones: dict[str, str | None] = {}
    for pod in pods:
        name = (pod.get("spec") or {}).get("nodeName")
        if name:
            zones.setdefault(str(name), None)
    for es in slices:
        for ep in es.get("endpoints") or []:
            if ep.get("nodeName"):
                zones[str(ep["nodeName"])] = ep.get("zone") or zones.get(str(ep["nodeName"]))
    return [
        {
            "metadata": {"name": name, "labels": {LABEL_ZONE: zone} if zone else {}},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]},
        }
        for name, zone in sorted(zones.items())
    ]


async def _elsewhere(client: Client, namespace: str, selector: dict[str, Any]) -> list[Obj]:
    """Pods of other namespaces the selector matches (a server-side label query)."""
    try:
        page = await client.list_all("pods", None, label_selector=format_label_set(selector))
    except (errors.Forbidden, errors.Unauthorized):
        return []
    return [p for p in page.items if namespace_of(p) != namespace]


async def gather_service(client: Client, namespace: str, name: str) -> Snapshot:
    """A snapshot of one Service, or of its absence (with near names and namespaces).

    The namespace's Service list (needed for near names anyway) also answers whether the
    Service exists, so there is no separate GET.
    """
    services = (await client.list_all("services", namespace)).items
    service = next((s for s in services if name_of(s) == name), None)
    if service is None:
        same = await _optional_list_by_name(client, name)
        return Snapshot(
            namespace,
            name,
            None,
            services=services,
            same_name_elsewhere=sorted(
                namespace_of(s) for s in same if namespace_of(s) != namespace
            ),
        )
    pods, nodes, slices, endpoints, events = await asyncio.gather(
        client.list_all("pods", namespace),
        _optional_list(client, "nodes", None),
        client.list_all("endpointslices", namespace, label_selector=f"{LABEL_SERVICE_NAME}={name}"),
        _get_optional(client, "endpoints", name, namespace),
        _optional_list(client, "events", namespace),
    )
    elsewhere: list[Obj] = []
    if _selects_nothing(service, pods.items):
        elsewhere = await _elsewhere(client, namespace, service["spec"]["selector"])
    return Snapshot(
        namespace,
        name,
        service,
        pods=pods.items,
        nodes=nodes if nodes is not None else nodes_from_slices(slices.items, pods.items),
        slices=slices.items,
        endpoints=endpoints,
        events=events or [],
        services=services,
        elsewhere_pods=elsewhere,
    )


async def _optional_list_by_name(client: Client, name: str) -> list[Obj]:
    try:
        page = await client.list_all("services", None, field_selector=f"metadata.name={name}")
    except (errors.Forbidden, errors.Unauthorized):
        return []
    return list(page.items)


async def _get_optional(client: Client, resource: str, name: str, namespace: str) -> Obj | None:
    try:
        obj: Obj = await client.get(resource, name, namespace)
    except errors.NotFound:
        return None
    return obj


async def gather_namespaces(client: Client, namespace: str | None) -> list[Snapshot]:
    """Snapshots of every Service of ``namespace`` (every namespace when None), from one
    list per kind, ordered by namespace and name."""
    services, pods, nodes, slices, endpoints, events = await asyncio.gather(
        client.list_all("services", namespace),
        client.list_all("pods", namespace),
        _optional_list(client, "nodes", None),
        client.list_all("endpointslices", namespace),
        client.list_all("endpoints", namespace),
        _optional_list(client, "events", namespace),
    )

    def by_ns(items: Sequence[Obj]) -> dict[str, list[Obj]]:
        out: dict[str, list[Obj]] = {}
        for item in items:
            out.setdefault(namespace_of(item), []).append(item)
        return out

    services_ns = by_ns(services.items)
    pods_ns, slices_ns = by_ns(pods.items), by_ns(slices.items)
    endpoints_ns, events_ns = by_ns(endpoints.items), by_ns(events or [])
    all_nodes = nodes if nodes is not None else nodes_from_slices(slices.items, pods.items)
    # Every namespace listed: the pod list already holds the other namespaces' pods.
    # One namespace: one cluster-wide pod list serves every Service that selects nothing
    # there (split_namespace keeps, per Service, the other namespaces' pods it matches).
    other_pods: list[Obj] = list(pods.items) if namespace is None else []
    if namespace is not None and any(
        _selects_nothing(svc, pods_ns.get(namespace, [])) for svc in services_ns.get(namespace, [])
    ):
        other_pods = await _optional_list(client, "pods", None) or []
    snapshots: list[Snapshot] = []
    for ns in sorted(services_ns):
        snapshots += split_namespace(
            ns,
            services_ns[ns],
            pods_ns.get(ns, []),
            all_nodes,
            slices_ns.get(ns, []),
            endpoints_ns.get(ns, []),
            events_ns.get(ns, []),
            other_pods,
        )
    return snapshots


def _selects_nothing(service: Obj, pods: Sequence[Obj]) -> bool:
    """Whether the Service has a selector that no pod of ``pods`` matches."""
    selector = (service.get("spec") or {}).get("selector") or {}
    if not selector:
        return False
    sel = selector_from_set(selector)
    return not any(sel.matches(labels_of(p)) for p in pods)
