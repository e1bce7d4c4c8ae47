"""Objects for the doctor's table tests, shaped like what the API server lists.

``healthy()`` is a Service ``prod/web`` with three ready pods on three zoned nodes and the
slices and Endpoints the controllers' planners write for it (named, owned, as created);
each test case breaks one thing in it, spelled out in the case.
"""

from __future__ import annotations

import copy
from typing import Any

from sliceplane.api.selectors import selector_from_set
from sliceplane.doctor.snapshot import Snapshot
from sliceplane.endpoints.planner import plan_endpoints
from sliceplane.endpointslice.hints import make_hints_pass
from sliceplane.endpointslice.reconciler import ReconcilerOptions, plan_service
from sliceplane.endpointslice.topologycache import TopologyCache

Obj = dict[str, Any]
NS = "prod"


def service(
    name: str = "web",
    selector: dict[str, str] | None = None,
    ports: list[Obj] | None = None,
    cluster_ip: str = "10.96.0.10",
    **spec: Any,
) -> Obj:
    body: Obj = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": NS, "uid": f"uid-{name}"},
        "spec": {
            "selector": {"app": "web"} if selector is None else selector,
            "ports": (
                [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]
                if ports is None
                else ports
            ),
            "clusterIP": cluster_ip,
            "ipFamilies": ["IPv4"],
            "type": "ClusterIP",
        },
    }
    body["spec"].update(spec)
    if not body["spec"]["selector"]:
        del body["spec"]["selector"]
    return body


def pod(
    n: int,
    labels: dict[str, str] | None = None,
    namespace: str = NS,
    ready: bool = True,
    node: str | None = None,
    ports: list[Obj] | None = None,
    deleting: bool = False,
    phase: str = "Running",
) -> Obj:
    name = f"web-{n}"
    meta: Obj = {
        "name": name,
        "namespace": namespace,
        "uid": f"uid-{namespace}-{name}",
        "labels": {"app": "web"} if labels is None else labels,
    }
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:30Z"
        meta["deletionGracePeriodSeconds"] = 30
    ip = f"10.244.{n}.5"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {
            "nodeName": node or f"node-{n}",
            "containers": [
                {
                    "name": "app",
                    "ports": (
                        [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
                        if ports is None
                        else ports
                    ),
                }
            ],
        },
        "status": {
            "phase": phase,
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": [
                {"name": "app", "ready": ready, "restartCount": 0, "state": {"running": {}}}
            ],
        },
    }


def node(n: int, zone: str | None = "zone-a", ready: bool = True) -> Obj:
    labels = {"topology.kubernetes.io/zone": zone} if zone else {}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": f"node-{n}", "labels": labels},
        "status": {
            "conditions": [{"type": "Ready", "status": "True" if ready else "Unknown"}],
            "allocatable": {"cpu": "4"},
        },
    }


def event(kind: str, name: str, reason: str, message: str, count: int = 1) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{name}.{reason}", "namespace": NS},
        "involvedObject": {"kind": kind, "name": name, "namespace": NS},
        "reason": reason,
        "message": message,
        "count": count,
        "type": "Warning",
        "lastTimestamp": "2026-01-01T00:00:00Z",
    }


def written_slices(svc: Obj, pods: list[Obj], nodes: list[Obj]) -> list[Obj]:
    """What the EndpointSlice controller would have created: named, with a generation, and
    with the hints its hints pass sets (trafficDistribution, topology-mode Auto)."""
    by_name = {n["metadata"]["name"]: n for n in nodes}
    cache = TopologyCache()
    cache.set_nodes(nodes)
    hints = make_hints_pass(cache)
    plan = plan_service(svc, pods, by_name, [], ReconcilerOptions(), None, hints)
    out = []
    for i, action in enumerate(plan.actions):
        es = copy.deepcopy(action.slice)
        es["metadata"]["name"] = f"{svc['metadata']['name']}-{i:05d}"
        es["metadata"].pop("generateName", None)
        es["metadata"]["generation"] = 1
        out.append(es)
    return out


def written_endpoints(svc: Obj, pods: list[Obj]) -> Obj | None:
    plan = plan_endpoints(svc, pods, None, trigger_time=None)
    if plan.obj is None:
        return None
    ep = copy.deepcopy(plan.obj)
    ep["metadata"]["resourceVersion"] = "1"
    return ep


def zones(nodes: list[Obj], *names: str | None) -> list[Obj]:
    out = copy.deepcopy(nodes)
    for n, z in zip(out, names, strict=True):
        n["metadata"]["labels"] = {"topology.kubernetes.io/zone": z} if z else {}
    return out


def healthy(
    svc: Obj | None = None,
    pods: list[Obj] | None = None,
    nodes: list[Obj] | None = None,
    **extra: Any,
) -> Snapshot:
    """A consistent snapshot: the slices and Endpoints are what the planners produce."""
    svc = svc if svc is not None else service()
    pods = pods if pods is not None else [pod(1), pod(2), pod(3)]
    nodes = nodes if nodes is not None else zones([node(1), node(2), node(3)], "a", "b", "c")
    selector = svc["spec"].get("selector") or {}
    has_selector = bool(selector)
    selected = [
        p
        for p in pods
        if p["metadata"]["namespace"] == NS
        and selector_from_set(selector).matches(p["metadata"].get("labels") or {})
    ]
    fields: dict[str, Any] = {
        "namespace": NS,
        "name": svc["metadata"]["name"],
        "service": svc,
        "pods": pods,
        "nodes": nodes,
        "slices": written_slices(svc, selected, nodes) if has_selector else [],
        "endpoints": written_endpoints(svc, selected) if has_selector else None,
        "services": [svc],
    }
    fields.update(extra)
    return Snapshot(**fields)
