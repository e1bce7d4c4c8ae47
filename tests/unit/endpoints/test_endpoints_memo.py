"""The Endpoints planner with an ``EndpointsMemo`` plans exactly what it plans without one,
over a sequence of syncs in which pods, the Service and the existing object change (as
informer objects: replaced, never edited)."""

from __future__ import annotations

import copy
import random
from datetime import UTC, datetime
from typing import Any

from sliceplane.endpoints.planner import EndpointsMemo, _normalized, plan_endpoints

Obj = dict[str, Any]


def _pod(n: int, rng: random.Random) -> Obj:
    ready = rng.random() < 0.7
    meta: Obj = {"name": f"p{n}", "namespace": "ns", "uid": f"u{n}", "labels": {"app": "web"}}
    if rng.random() < 0.1:
        meta["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    if rng.random() < 0.1:
        meta["labels"] = {"app": "other"}
    status: Obj = {
        "phase": rng.choice(["Running", "Running", "Running", "Succeeded"]),
        "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
    }
    if rng.random() < 0.9:
        ip = f"10.0.{n // 200}.{n % 200 + 1}"
        status["podIP"] = ip
        status["podIPs"] = [{"ip": ip}]
    return {
        "metadata": meta,
        "spec": {
            "nodeName": f"node-{n % 3}",
            "containers": [{"name": "c", "ports": [{"name": "http", "containerPort": 8080}]}],
        },
        "status": status,
    }


def _service(rng: random.Random) -> Obj:
    ports = [{"name": "a", "port": 80, "protocol": "TCP", "targetPort": 8080}]
    if rng.random() < 0.5:
        ports.append({"name": "b", "port": 81, "protocol": "TCP", "targetPort": "http"})
    spec: Obj = {"clusterIP": "10.96.0.1", "selector": {"app": "web"}, "ports": ports}
    if rng.random() < 0.3:
        spec["publishNotReadyAddresses"] = True
    return {"metadata": {"name": "web", "namespace": "ns"}, "spec": spec}


def test_memo_plans_as_without() -> None:
    rng = random.Random(7)
    memo = EndpointsMemo()
    pods = [_pod(n, rng) for n in range(40)]
    svc = _service(rng)
    existing: Obj | None = None
    when = datetime(2024, 1, 1, tzinfo=UTC)
    writes = 0
    for step in range(300):
        for _ in range(rng.randint(0, 3)):
            pods[rng.randrange(len(pods))] = _pod(rng.randrange(60), rng)
        if step % 50 == 49:
            svc = _service(rng)
        plain = plan_endpoints(svc, pods, existing, trigger_time=when)
        snapshot = copy.deepcopy((svc, pods, existing))
        memoized = plan_endpoints(svc, pods, existing, trigger_time=when, memo=memo)
        assert memoized == plain
        assert (svc, pods, existing) == snapshot  # inputs untouched
        if plain.verb in ("create", "update") and plain.obj is not None:
            writes += 1
            stored = copy.deepcopy(plain.obj)
            stored["metadata"]["resourceVersion"] = str(step + 1)
            existing = stored
    assert writes > 20  # the sequence did exercise updates


def test_normalized_drops_empty_and_target_ref_versions() -> None:
    value = {
        "addresses": [
            {
                "ip": "1.2.3.4",
                "hostname": None,
                "nodeName": "",
                "targetRef": {"kind": "Pod", "resourceVersion": "5"},
                "extra": {"a": None, "b": []},
            }
        ],
        "ports": [],
        "notReadyAddresses": None,
    }
    assert _normalized(value) == {
        "addresses": [{"ip": "1.2.3.4", "nodeName": "", "targetRef": {"kind": "Pod"}}]
    }
