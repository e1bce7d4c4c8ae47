"""Test objects shaped like upstream's fixtures (``newServiceAndEndpointMeta``, ``newPod``).

Objects are the JSON dicts the API hands out. ``FakeCluster`` applies a planned
``Plan`` the way upstream's fake clientset reactors do (create assigns a name and
generation 1, update bumps the generation), so multi-step scenarios can feed the result
of one sync into the next.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sliceplane.endpointslice.reconciler import ReconcilerOptions, plan_service
from sliceplane.endpointslice.types import HintsPass, Obj, Plan

NS = "test"
NODE_1 = "node-1"
TRIGGER = datetime(2026, 1, 2, 3, 4, 5, 123000, tzinfo=UTC)


def pod_ip(n: int) -> str:
    """``1.2.3.<4+n>`` like upstream, carried into the next octet instead of overflowing."""
    v = 4 + n
    return f"1.2.{3 + v // 256}.{v % 256}"


def new_service(name: str = "foo", namespace: str = NS, **spec: Any) -> Obj:
    """``newServiceAndEndpointMeta``: one TCP port targeting 80, IPv4, no clusterIP."""
    svc: Obj = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "uid": f"{namespace}-{name}"},
        "spec": {
            "ports": [{"name": name, "protocol": "TCP", "targetPort": 80}],
            "selector": {"foo": "bar"},
            "ipFamilies": ["IPv4"],
        },
    }
    svc["spec"].update(spec)
    return svc


def meta_ports(name: str = "foo", port: int = 80) -> list[Obj]:
    """The endpoint ports ``newServiceAndEndpointMeta`` pairs with its Service."""
    return [{"name": name, "port": port, "protocol": "TCP"}]


def new_pod(
    n: int,
    namespace: str = NS,
    ready: bool = True,
    terminating: bool = False,
    node: str = NODE_1,
) -> Obj:
    """``newPod``: pod<n>, labels foo=bar, one IPv4 address, Ready per ``ready``."""
    meta: Obj = {
        "namespace": namespace,
        "name": f"pod{n}",
        "labels": {"foo": "bar"},
        "resourceVersion": str(n),
    }
    if terminating:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    ip = pod_ip(n)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {"containers": [{"name": "container-1"}], "nodeName": node},
        "status": {
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def new_pods(count: int, unready_every: int = 3, start: int = 0) -> list[Obj]:
    """Pods ``start..start+count-1``; every ``unready_every``-th is not ready (upstream)."""
    return [
        new_pod(i, ready=not (unready_every and i % unready_every == 0))
        for i in range(start, start + count)
    ]


def new_node(name: str = NODE_1, zone: str | None = None) -> Obj:
    labels = {"topology.kubernetes.io/zone": zone} if zone else {}
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}}


def nodes(*names: str) -> dict[str, Obj]:
    return {n: new_node(n) for n in names}


def owner_ref(svc: Obj) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "name": svc["metadata"]["name"],
        "uid": svc["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def new_empty_slice(
    n: int, svc: Obj, ports: list[Obj] | None = None, address_type: str = "IPv4"
) -> Obj:
    """``newEmptyEndpointSlice``: named ``<svc>-<n>``, owned, no labels, no endpoints."""
    return {
        "metadata": {
            "name": f"{svc['metadata']['name']}-{n}",
            "namespace": svc["metadata"]["namespace"],
            "ownerReferences": [owner_ref(svc)],
            "uid": f"uid-{svc['metadata']['name']}-{n}",
            "generation": 1,
            "resourceVersion": "1",
        },
        "addressType": address_type,
        "endpoints": [],
        "ports": meta_ports(svc["metadata"]["name"]) if ports is None else ports,
    }


def run_plan(
    svc: Obj,
    pods: Sequence[Obj],
    existing: Sequence[Obj] = (),
    node_map: dict[str, Obj] | None = None,
    max_endpoints: int = 100,
    trigger: datetime | None = TRIGGER,
    hints: HintsPass | None = None,
) -> Plan:
    return plan_service(
        svc,
        pods,
        nodes(NODE_1) if node_map is None else node_map,
        existing,
        ReconcilerOptions(max_endpoints_per_slice=max_endpoints),
        trigger,
        hints,
    )


def verbs(plan: Plan) -> list[str]:
    return [a.verb for a in plan.actions]


def lengths(slices: Sequence[Obj]) -> list[int]:
    return sorted(len(s.get("endpoints") or []) for s in slices)


class FakeCluster:
    """An in-memory slice store that applies plans like upstream's fake clientset."""

    def __init__(self, slices: Sequence[Obj] = ()) -> None:
        self._names = (f"{i:05d}" for i in itertools.count())
        self.slices: dict[str, Obj] = {}
        for es in slices:
            self.slices[es["metadata"]["name"]] = copy.deepcopy(es)

    def list(self) -> list[Obj]:
        return [copy.deepcopy(es) for es in self.slices.values()]

    def apply(self, plan: Plan) -> None:
        for action in plan.actions:
            es = copy.deepcopy(action.slice)
            meta = es.setdefault("metadata", {})
            if action.verb == "create":
                assert "name" not in meta, "creates must rely on generateName"
                name = meta.pop("generateName") + next(self._names)
                meta.update(name=name, uid=f"uid-{name}", generation=1)
                self.slices[name] = es
            elif action.verb == "update":
                name = meta["name"]
                assert name in self.slices, f"update of missing slice {name}"
                meta["generation"] = int(self.slices[name]["metadata"].get("generation", 0)) + 1
                meta.setdefault("uid", self.slices[name]["metadata"].get("uid"))
                self.slices[name] = es
            else:
                name = meta["name"]
                assert name in self.slices, f"delete of missing slice {name}"
                del self.slices[name]

    def sync(self, svc: Obj, pods: Sequence[Obj], **kwargs: Any) -> Plan:
        plan = run_plan(svc, pods, self.list(), **kwargs)
        self.apply(plan)
        return plan
