"""The endpoint controllers decide the same from compact pods as from whole ones.

``compact_pod`` drops what the controllers do not read; these tests feed both forms of
kube-apiserver-shaped pods (kubelet-written status, sidecars, named ports, hostnames,
IPv6, terminating and finished pods) to every pod reader of the controller process and
compare the outcomes.
"""

from __future__ import annotations

import copy
import itertools
import random
from typing import Any

import pytest

from sliceplane.api.meta import Obj
from sliceplane.endpointbase.podcache import compact_pod
from sliceplane.endpointbase.podservices import pod_changed, pod_labels_changed
from sliceplane.endpointbase.triggertime import TriggerTimeTracker
from sliceplane.endpoints.planner import plan_endpoints
from sliceplane.endpointslice.controller import _termination_deadline
from sliceplane.endpointslice.explain import explain_service
from sliceplane.endpointslice.reconciler import ReconcilerOptions, plan_service

NS = "shop"
T0 = "2026-12-04T10:00:00Z"


def _condition(type_: str, status: str, when: str = T0, **extra: str) -> Obj:
    return {"type": type_, "status": status, "lastProbeTime": None, "lastTransitionTime": when}


def kube_pod(rng: random.Random, n: int) -> Obj:
    """A pod as kube-apiserver serves it after a kubelet wrote its status."""
    ready = rng.random() < 0.7
    when = f"2026-12-04T10:00:{n % 60:02d}Z"
    v6 = rng.random() < 0.2
    ip = f"fd00::{n + 1:x}" if v6 else f"10.1.{n // 250}.{n % 250 + 1}"
    ips = [{"ip": ip}]
    if rng.random() < 0.2:
        ips.append({"ip": f"10.2.0.{n % 250 + 1}" if v6 else f"fd00:2::{n + 1:x}"})
    meta: Obj = {
        "name": f"web-{n}",
        "generateName": "web-",
        "namespace": NS,
        "uid": f"uid-{n}",
        "resourceVersion": str(1000 + n),
        "generation": 1,
        "creationTimestamp": T0,
        "labels": {"app": rng.choice(("web", "api")), "pod-template-hash": "5d9c"},
        "ownerReferences": [
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": "web-5d9c",
                "uid": "rs-uid",
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
        "managedFields": [
            {"manager": "kubelet", "operation": "Update", "fieldsV1": {"f:status": {}}}
        ],
    }
    if rng.random() < 0.15:
        meta["deletionTimestamp"] = "2026-12-04T10:05:00Z"
        meta["deletionGracePeriodSeconds"] = rng.choice((0, 30))
    if rng.random() < 0.2:
        meta["annotations"] = {"note": "x" * 40}
    containers: list[Obj] = [
        {
            "name": "app",
            "image": "registry.example/app:1",
            "ports": [
                {"name": "http", "containerPort": 8080, "protocol": "TCP"},
                {"name": "dns", "containerPort": 5353, "protocol": "UDP"},
            ],
            "resources": {"requests": {"cpu": "100m"}},
            "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "File",
            "imagePullPolicy": "IfNotPresent",
        }
    ]
    if rng.random() < 0.3:
        containers.append({"name": "log", "image": "busybox"})
    spec: Obj = {
        "containers": containers,
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 30,
        "dnsPolicy": "ClusterFirst",
        "schedulerName": "default-scheduler",
        "securityContext": {},
        "tolerations": [
            {
                "key": "node.kubernetes.io/not-ready",
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 300,
            }
        ],
        "enableServiceLinks": True,
        "priority": 0,
    }
    if rng.random() < 0.8:
        spec["nodeName"] = f"node-{n % 4}"
    if rng.random() < 0.3:
        spec["initContainers"] = [
            {
                "name": "proxy",
                "image": "proxy:1",
                "restartPolicy": rng.choice(("Always", "OnFailure")),
                "ports": [{"name": "admin", "containerPort": 9901, "protocol": "TCP"}],
            }
        ]
    if rng.random() < 0.2:
        spec["hostname"] = f"h{n}"
        spec["subdomain"] = rng.choice(("svc-a", "other"))
    status: Obj = {
        "phase": rng.choice(("Running",) * 8 + ("Succeeded", "Pending")),
        "conditions": [
            _condition("PodScheduled", "True"),
            _condition("Initialized", "True"),
            _condition("ContainersReady", "True" if ready else "False", when),
            {
                **_condition("Ready", "True" if ready else "False", when),
                **({} if ready else {"reason": "ContainersNotReady", "message": "not yet"}),
            },
        ],
        "hostIP": "192.168.0.1",
        "startTime": T0,
        "qosClass": "Burstable",
        "containerStatuses": [{"name": "app", "ready": ready, "restartCount": 0}],
    }
    if rng.random() < 0.9:
        status["podIP"] = ip
        status["podIPs"] = ips
    elif rng.random() < 0.5:
        status["podIPs"] = ips
    if rng.random() < 0.05:
        status["conditions"] = []
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status}


def services() -> list[Obj]:
    def svc(name: str, ports: list[Obj], **spec: Any) -> Obj:
        return {
            "metadata": {
                "name": name,
                "namespace": NS,
                "uid": f"uid-{name}",
                "creationTimestamp": T0,
            },
            "spec": {"selector": {"app": "web"}, "ports": ports, **spec},
        }

    return [
        svc("svc-a", [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]),
        svc(
            "svc-b",
            [
                {"name": "dns", "port": 53, "targetPort": "dns", "protocol": "UDP"},
                {"name": "admin", "port": 9901, "targetPort": "admin", "protocol": "TCP"},
                {"name": "n", "port": 81, "targetPort": 8081},
            ],
            publishNotReadyAddresses=True,
            clusterIP="None",
        ),
        svc(
            "svc-c",
            [{"name": "http", "port": 80, "targetPort": "missing"}],
            ipFamilies=["IPv6", "IPv4"],
        ),
    ]


NODES = {
    f"node-{i}": {"metadata": {"name": f"node-{i}", "labels": {"topology.kubernetes.io/zone": z}}}
    for i, z in enumerate(("a", "b", "c"))
}


def _pods(seed: int) -> list[Obj]:
    rng = random.Random(seed)
    return [kube_pod(rng, n) for n in range(40)]


@pytest.mark.parametrize("seed", range(6))
def test_plans_are_the_same_from_compact_pods(seed: int) -> None:
    whole = _pods(seed)
    compact = [compact_pod(p) for p in whole]
    opts = ReconcilerOptions(max_endpoints_per_slice=7)
    for svc in services():
        a = plan_service(svc, whole, NODES, [], opts, None, None)
        b = plan_service(svc, compact, NODES, [], opts, None, None)
        assert a.actions and [(x.verb, x.slice) for x in a.actions] == [
            (x.verb, x.slice) for x in b.actions
        ]
        assert (a.events, a.errors, a.desired_endpoints) == (
            b.events,
            b.errors,
            b.desired_endpoints,
        )
        ea = plan_endpoints(svc, whole, None, trigger_time=None)
        eb = plan_endpoints(svc, compact, None, trigger_time=None)
        assert ea == eb
        xa = explain_service(svc, whole, NODES).to_dict()
        xb = explain_service(svc, compact, NODES).to_dict()
        assert xa["pods"] and xa == xb


@pytest.mark.parametrize("seed", range(3))
def test_pod_change_decisions_are_the_same(seed: int) -> None:
    before, after = _pods(seed), _pods(seed + 100)
    for old, new in itertools.product(before[:12], after[:12]):
        co, cn = compact_pod(old), compact_pod(new)
        assert pod_changed(old, new) == pod_changed(co, cn)
        assert pod_labels_changed(old, new) == pod_labels_changed(co, cn)
        assert _termination_deadline(old, new) == _termination_deadline(co, cn)


def test_trigger_times_are_the_same() -> None:
    whole, compact = TriggerTimeTracker(), TriggerTimeTracker()
    svc = services()[0]
    for seed in range(4):
        pods = _pods(seed)
        assert whole.compute(svc, pods) == compact.compute(svc, [compact_pod(p) for p in pods])


def test_drops_what_no_reader_reads_and_leaves_the_argument_alone() -> None:
    pod = _pods(1)[3]
    kept = copy.deepcopy(pod)
    small = compact_pod(pod)
    assert pod == kept
    assert "managedFields" not in small["metadata"]
    assert set(small["spec"]) <= {
        "nodeName",
        "hostname",
        "subdomain",
        "containers",
        "initContainers",
    }
    assert [c["type"] for c in small["status"]["conditions"]] == ["Ready"]
    assert "image" not in small["spec"]["containers"][0]
    assert compact_pod(small) == small


def test_repeated_strings_are_shared() -> None:
    a, b = (compact_pod(p) for p in _pods(2)[:2])
    assert a["metadata"]["namespace"] is b["metadata"]["namespace"]
    assert (
        a["metadata"]["labels"]["pod-template-hash"] is b["metadata"]["labels"]["pod-template-hash"]
    )
    assert (
        a["spec"]["containers"][0]["ports"][0]["name"]
        is b["spec"]["containers"][0]["ports"][0]["name"]
    )
