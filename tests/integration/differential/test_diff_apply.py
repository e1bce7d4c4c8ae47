"""Differential test of server-side apply: sliceplane's API server against kube-apiserver.

(a) A corpus of apply sequences by two or three managers (fields shared, taken over,
    released, list-map items by key, atomic lists, forced, mixed with Update writers, on
    ``/status``, dry runs) and of bad apply requests, sent as raw requests to both servers:
    after every step the answer (success, or the Status: code, reason, message, causes), the
    resulting object and its managedFields (times normalised) must be the same.
(b) real kubectl: ``apply --server-side`` (create, no-op, change), ``--force-conflicts``,
    ``--dry-run=server`` and the client-side -> server-side migration kubectl performs.
"""

from __future__ import annotations

import copy
import difflib
import json
import re
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from diffkit import BINARIES, MISSING, SUPPORT_CONTROLLERS, write_report
from harness import KUBECTL, Kubectl, ServerProcess

from sliceplane.api import errors
from sliceplane.client.client import Client
from sliceplane.testenv import ControlPlane

pytestmark = [pytest.mark.skipif(bool(MISSING), reason=MISSING), pytest.mark.timeout(300)]

Obj = dict[str, Any]
APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"
REPORT: dict[str, Any] = {"sequences": {}}


@pytest.fixture(scope="module")
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    cp = ControlPlane(
        tmp_path_factory.mktemp("diffapply"),
        binaries=BINARIES,
        with_controller_manager=True,
        controllers=SUPPORT_CONTROLLERS,
        unsafe_no_fsync=True,
    )
    with cp:
        yield cp
    write_report("apply-report.json", REPORT)


@pytest.fixture
async def clients(kube: ControlPlane, apiserver: ServerProcess) -> AsyncIterator[dict[str, Client]]:
    up = await Client.connect(kube.kubeconfig)
    sp = await Client.connect(apiserver.kubeconfig)
    try:
        yield {"upstream": up, "sliceplane": sp}
    finally:
        await up.close()
        await sp.close()


# --------------------------------------------------------------------------- corpus


@dataclass
class Step:
    manager: str | None
    body: Any
    force: bool = False
    content_type: str = APPLY
    subresource: str = ""
    params: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None


@dataclass
class Sequence:
    resource: str  # "services", "deployments", ...
    kind: str
    api_version: str
    steps: list[Step]


def svc(labels: dict[str, str] | None = None, **spec: Any) -> Obj:
    obj: Obj = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "NAME"}}
    if labels is not None:
        obj["metadata"]["labels"] = labels
    if spec:
        obj["spec"] = spec
    return obj


def dep(containers: list[Obj] | None = None, **spec: Any) -> Obj:
    obj: Obj = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "NAME"}}
    s: Obj = dict(spec)
    if containers is not None:
        s.setdefault("selector", {"matchLabels": {"app": "x"}})
        s["template"] = {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": containers}}
    obj["spec"] = s
    return obj


def eps(endpoints: list[Obj] | None = None, **extra: Any) -> Obj:
    obj: Obj = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": "NAME"},
        "addressType": "IPv4",
    }
    if endpoints is not None:
        obj["endpoints"] = endpoints
    obj.update(extra)
    return obj


def pod(
    labels: dict[str, str] | None = None,
    *,
    finalizers: list[str] | None = None,
    annotations: dict[str, str] | None = None,
    **spec: Any,
) -> Obj:
    obj: Obj = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "NAME"}}
    meta = obj["metadata"]
    if labels is not None:
        meta["labels"] = labels
    if finalizers is not None:
        meta["finalizers"] = finalizers
    if annotations is not None:
        meta["annotations"] = annotations
    obj["spec"] = {"containers": [{"name": "c", "image": "busybox"}], **spec}
    return obj


def cond(kind: str, status: str) -> Obj:
    return {
        "type": kind,
        "status": status,
        "reason": "R",
        "message": "m",
        "lastUpdateTime": "2026-01-01T00:00:00Z",
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    }


def dep_status(conditions: list[Obj], **status: Any) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "NAME"},
        "status": {"conditions": conditions, **status},
    }


PORT80 = {"name": "http", "port": 80, "targetPort": 8080}


DUPLICATE = b"""apiVersion: v1
kind: Service
metadata:
  name: NAME
  labels: {a: "1"}
  labels: {b: "2"}
spec:
  ports: [{port: 80}]
"""


def sequences() -> dict[str, Sequence]:
    s: dict[str, Sequence] = {}
    s["shared-taken-released"] = Sequence(
        "services",
        "Service",
        "v1",
        [
            Step("a", svc({"a": "1"}, selector={"app": "x"}, ports=[PORT80])),
            Step("a", svc({"a": "1"}, selector={"app": "x"}, ports=[PORT80])),  # no-op
            Step("b", svc({"b": "2"})),
            Step("b", svc({"a": "1"})),  # same value: shared, no conflict
            Step("a", svc(selector={"app": "x"}, ports=[PORT80])),  # releases a (b keeps it)
            Step("b", svc({"a": "1"}, ports=[{"port": 80, "targetPort": 9090}])),  # conflict
            Step("b", svc({"a": "1"}, ports=[{"port": 80, "targetPort": 9090}]), force=True),
            Step("a", svc(selector={"app": "x"}, ports=[PORT80])),  # conflict back
            Step("b", svc()),  # b releases everything
            Step("c", svc({"c": "3"}, sessionAffinity="ClientIP")),
            Step("a", svc(selector={"app": "x"}, ports=[PORT80], sessionAffinity="None")),
        ],
    )
    s["list-map-items"] = Sequence(
        "deployments",
        "Deployment",
        "apps/v1",
        [
            Step("a", dep([{"name": "c1", "image": "i:1", "env": [{"name": "X", "value": "1"}]}])),
            Step("b", dep([{"name": "c1", "env": [{"name": "Y", "value": "2"}]}])),
            Step("b", dep([{"name": "c2", "image": "j:1"}])),  # b drops c1's Y, adds c2
            Step("a", dep([{"name": "c1", "image": "i:2"}])),  # a drops X
            Step("b", dep([{"name": "c1", "image": "i:3"}, {"name": "c2", "image": "j:1"}])),
            Step("c", dep(replicas=3)),
            Step("a", dep([{"name": "c1", "image": "i:2"}], replicas=1)),  # conflicts b and c
            Step(
                "a",
                dep([{"name": "c0", "image": "z"}, {"name": "c1", "image": "i:2"}], replicas=1),
                force=True,
            ),
        ],
    )
    s["atomic-lists"] = Sequence(
        "endpointslices",
        "EndpointSlice",
        "discovery.k8s.io/v1",
        [
            Step("a", eps([{"addresses": ["10.0.0.1"]}], ports=[{"name": "p", "port": 80}])),
            Step("b", eps([{"addresses": ["10.0.0.2"]}])),
            Step("b", eps([{"addresses": ["10.0.0.2"]}]), force=True),
            Step("a", eps(ports=[{"name": "p", "port": 80}])),
            Step("a", eps()),
        ],
    )
    s["update-then-apply"] = Sequence(
        "services",
        "Service",
        "v1",
        [
            Step("a", svc({"a": "1"}, selector={"app": "x"}, ports=[PORT80])),
            Step("editor", {"metadata": {"labels": {"a": "2", "e": "1"}}}, content_type=MERGE),
            Step("a", svc({"a": "1"}, selector={"app": "x"}, ports=[PORT80])),
            Step("a", svc({"a": "1"}, selector={"app": "y"}, ports=[PORT80]), force=True),
            Step(
                "status-writer",
                svc(),
                subresource="status",
            ),
            Step(
                "status-writer",
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": {"name": "NAME"},
                    "status": {
                        "conditions": [
                            {
                                "type": "Ready",
                                "status": "True",
                                "reason": "R",
                                "message": "m",
                                "lastTransitionTime": "2026-01-01T00:00:00Z",
                            }
                        ]
                    },
                },
                subresource="status",
            ),
        ],
    )
    s["dry-run"] = Sequence(
        "services",
        "Service",
        "v1",
        [
            Step("a", svc({"a": "1"}, ports=[PORT80]), params={"dryRun": "All"}),
            Step("a", svc({"a": "1"}, ports=[PORT80])),
            Step("b", svc({"a": "2"}), params={"dryRun": "All"}),
            Step("b", svc({"a": "2"}), params={"dryRun": "All"}, force=True),
        ],
    )
    s["sets-and-maps"] = Sequence(
        "pods",
        "Pod",
        "v1",
        [
            Step(
                "a", pod({"l1": "x"}, finalizers=["ex.com/a", "ex.com/s"], nodeSelector={"z": "1"})
            ),
            Step("b", pod({"l2": "y"}, finalizers=["ex.com/b", "ex.com/s"])),
            Step("b", pod(nodeSelector={"z": "2"})),  # atomic map owned by a: conflict
            Step("a", pod({"l1": "x"}, finalizers=["ex.com/s"], nodeSelector={"z": "1"})),
            Step("b", pod({"l2": "y"}, finalizers=[])),  # b releases its set items
            Step("c", pod(annotations={"n": "1"}, finalizers=["ex.com/c"])),
            Step("a", pod(finalizers=["ex.com/s"])),
        ],
    )
    s["three-managers"] = Sequence(
        "deployments",
        "Deployment",
        "apps/v1",
        [
            Step("a", dep([{"name": "c", "image": "i:1"}], replicas=2)),
            Step("b", dep([{"name": "c", "env": [{"name": "E", "value": "1"}]}], paused=True)),
            Step("c", dep(replicas=5)),
            Step("c", dep(replicas=5), force=True),
            Step("a", dep([{"name": "c", "image": "i:1"}])),  # a releases replicas, c keeps it
            # an Update takes over what it changes (to a non-zero value: Go's omitempty drops
            # false, 0 and "" from objects, which sliceplane does not do everywhere)
            Step("editor", {"spec": {"minReadySeconds": 7, "paused": True}}, content_type=MERGE),
            Step("b", dep([{"name": "c", "env": [{"name": "E", "value": "1"}]}], paused=True)),
            Step("b", dep()),
            Step("c", dep()),
            Step("a", dep([{"name": "c", "image": "i:2"}])),
        ],
    )
    s["status-apply"] = Sequence(
        "deployments",
        "Deployment",
        "apps/v1",
        [
            Step("owner", dep([{"name": "c", "image": "i:1"}])),
            Step(
                "ctl",
                dep_status([cond("Available", "True")], observedGeneration=1),
                subresource="status",
            ),
            Step("other", dep_status([cond("Available", "False")]), subresource="status"),
            Step("other", dep_status([cond("Progressing", "True")]), subresource="status"),
            Step(
                "other", dep_status([cond("Available", "False")]), subresource="status", force=True
            ),
            Step("ctl", dep_status([], observedGeneration=2), subresource="status"),
            Step("owner", dep([{"name": "c", "image": "i:1"}], replicas=4)),
        ],
    )
    stale = svc({"a": "1"}, ports=[PORT80])
    stale["metadata"]["resourceVersion"] = "1"
    with_status = svc({"a": "1"}, ports=[PORT80])
    with_status["status"] = {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}}
    nulls = svc({"a": "1"}, ports=[PORT80])
    nulls["metadata"]["annotations"] = {"n": None}
    nulls["spec"]["sessionAffinity"] = None
    s["edges"] = Sequence(
        "services",
        "Service",
        "v1",
        [
            Step("a", svc({"a": "1"}, ports=[PORT80])),
            Step("a", stale),  # a stale resourceVersion: 409 modified
            Step("a", with_status),  # status is not the main resource's to apply
            Step("b", svc({}, ports=[])),  # explicit empties
            Step("c", nulls),
            Step("d", svc(ports=[{"targetPort": 1}])),  # list-map item without its key
            Step("d", svc(ports=[{"port": 5}, {"port": 5}])),  # duplicate keys
            Step("a", svc({"a": "1"}, ports=[PORT80], type="ExternalName")),  # invalid: 422
        ],
    )
    s["immutable"] = Sequence(
        "endpointslices",
        "EndpointSlice",
        "discovery.k8s.io/v1",
        [
            Step("a", eps([{"addresses": ["10.0.0.1"]}])),
            Step("a", {**eps([{"addresses": ["fd00::1"]}]), "addressType": "IPv6"}),
        ],
    )

    def c(*ports: tuple[int, str], env: tuple[str, ...] = ()) -> Obj:
        out: Obj = {"name": "app", "image": "i:1"}
        if ports:
            out["ports"] = [{"containerPort": p, "protocol": proto} for p, proto in ports]
        if env:
            out["env"] = [{"name": e, "value": "v"} for e in env]
        return out

    s["nested-list-maps"] = Sequence(
        "deployments",
        "Deployment",
        "apps/v1",
        [
            Step("a", dep([c((80, "TCP"), (80, "UDP"), env=("A", "B"))])),
            Step(
                "b",
                dep(
                    [
                        {
                            "name": "app",
                            "ports": [{"containerPort": 80, "protocol": "UDP", "name": "dns"}],
                        }
                    ]
                ),
            ),
            Step(
                "b",
                dep(
                    [
                        {
                            "name": "app",
                            "ports": [{"containerPort": 80, "protocol": "UDP", "name": "dns2"}],
                        }
                    ]
                ),
            ),
            Step("a", dep([c((80, "TCP"), env=("B", "A", "C"))])),  # drops UDP, reorders env
            Step(
                "c",
                {
                    **dep(),
                    "spec": {
                        "template": {
                            "spec": {
                                "volumes": [{"name": "v1", "emptyDir": {}}],
                                "topologySpreadConstraints": [
                                    {
                                        "maxSkew": 1,
                                        "topologyKey": "zone",
                                        "whenUnsatisfiable": "DoNotSchedule",
                                    },
                                    {
                                        "maxSkew": 2,
                                        "topologyKey": "zone",
                                        "whenUnsatisfiable": "ScheduleAnyway",
                                    },
                                ],
                                "tolerations": [{"key": "k", "operator": "Exists"}],
                            }
                        }
                    },
                },
            ),
            Step("a", dep([c((81, "TCP"))])),
        ],
    )
    ns_obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "NAME"}}
    s["cluster-scoped"] = Sequence(
        "namespaces",
        "Namespace",
        "v1",
        [
            Step("a", {**ns_obj, "metadata": {"name": "NAME", "labels": {"team": "a"}}}),
            Step("b", {**ns_obj, "metadata": {"name": "NAME", "labels": {"team": "b"}}}),
            Step("b", {**ns_obj, "metadata": {"name": "NAME", "annotations": {"x": "1"}}}),
            Step("a", ns_obj),
        ],
    )
    s["pod-status"] = Sequence(
        "pods",
        "Pod",
        "v1",
        [
            Step("owner", pod({"app": "p"})),
            Step(
                "kubelet",
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": "NAME"},
                    "status": {
                        "phase": "Running",
                        "podIP": "10.1.0.5",
                        "podIPs": [{"ip": "10.1.0.5"}],
                        "conditions": [
                            {
                                "type": "Ready",
                                "status": "True",
                                # Go always writes a zero metav1.Time as null; sent as the
                                # kubelet sends it (sliceplane does not add it)
                                "lastProbeTime": None,
                                "lastTransitionTime": "2026-01-01T00:00:00Z",
                            }
                        ],
                    },
                },
                subresource="status",
            ),
            Step("owner", pod({"app": "p", "extra": "1"})),
            Step(
                "other",
                {
                    "status": {
                        "conditions": [
                            {
                                "type": "Ready",
                                "status": "False",
                                "lastProbeTime": None,
                                "lastTransitionTime": "2026-01-01T00:00:05Z",
                            }
                        ]
                    }
                },
                content_type=MERGE,
                subresource="status",
            ),
            Step(
                "kubelet",
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": "NAME"},
                    "status": {"phase": "Running"},
                },
                subresource="status",
            ),
        ],
    )
    good = svc({"a": "1"}, ports=[PORT80])
    bad_kind = copy.deepcopy(good)
    bad_kind["kind"] = "Pod"
    bad_version = copy.deepcopy(good)
    bad_version["apiVersion"] = "v2"
    unknown = copy.deepcopy(good)
    unknown["spec"]["bogus"] = 1
    other_name = copy.deepcopy(good)
    other_name["metadata"]["name"] = "someone-else"
    other_ns = copy.deepcopy(good)
    other_ns["metadata"]["namespace"] = "elsewhere"
    with_mf = copy.deepcopy(good)
    with_mf["metadata"]["managedFields"] = [{"manager": "x"}]
    s["bad-bodies"] = Sequence(
        "services",
        "Service",
        "v1",
        [
            Step(None, good),  # no fieldManager
            Step("a", None, raw=b"metadata: [unclosed\n"),
            Step("a", bad_kind),
            Step("a", bad_version),
            Step("a", unknown, params={"fieldValidation": "Strict"}),
            Step("a", with_mf),
            Step("a", {"metadata": {"labels": {"x": "1"}}}, content_type=MERGE, force=True),
            Step("a", other_name),
            Step(
                "a",
                {"apiVersion": "v1", "kind": "Service", "spec": {"ports": [{"port": 1}]}},
                params={"dryRun": "All"},
            ),
            Step("a", other_ns),
            Step("a", None, raw=DUPLICATE, params={"fieldValidation": "Strict"}),
            Step("a", None, raw=DUPLICATE, params={"fieldValidation": "Ignore"}),
            Step("a", good),  # then a good one still works
        ],
    )
    return s


# --------------------------------------------------------------------------- running


async def send(client: Client, seq: Sequence, name: str, ns: str, step: Step) -> Any:
    group_path = "/api/v1" if seq.api_version == "v1" else f"/apis/{seq.api_version}"
    path = (
        f"{group_path}/{seq.resource}/{name}"
        if seq.resource == "namespaces"
        else f"{group_path}/namespaces/{ns}/{seq.resource}/{name}"
    )
    if step.subresource:
        path += "/" + step.subresource
    params = dict(step.params)
    if step.manager is not None:
        params["fieldManager"] = step.manager
    if step.force:
        params["force"] = "true"
    if step.raw is not None:
        body: bytes = step.raw.replace(b"NAME", name.encode())
    else:
        body = json.dumps(step.body).replace("NAME", name).encode()
    try:
        await client.request(
            "PATCH", path, params=params, body=body, content_type=step.content_type
        )
        return "ok"
    except errors.StatusError as exc:
        status = exc.to_status()
        status.pop("metadata", None)
        return json.loads(json.dumps(status).replace(name, "NAME").replace(ns, "NS"))


_DROP_META = ("uid", "resourceVersion", "creationTimestamp", "generation")


def normalise(obj: Obj | None, name: str, ns: str) -> Obj | None:
    if obj is None:
        return None
    obj = json.loads(json.dumps(obj).replace(name, "NAME").replace(ns, "NS"))
    meta = obj["metadata"]
    for k in _DROP_META:
        meta.pop(k, None)
    for e in meta.get("managedFields", []):
        if "time" in e:
            e["time"] = "<time>"
    meta["managedFields"] = sorted(
        meta.get("managedFields", []),
        key=lambda e: (e["operation"], e["manager"], e.get("subresource", "")),
    )
    spec = obj.get("spec") or {}
    for k in ("clusterIP", "clusterIPs"):
        if k in spec:
            spec[k] = "<ip>"
    return obj


async def read(client: Client, seq: Sequence, name: str, ns: str) -> Obj | None:
    try:
        got: Obj = await client.get(
            seq.resource, name, None if seq.resource == "namespaces" else ns
        )
    except errors.NotFound:
        return None
    return got


async def ensure_namespace(client: Client, ns: str) -> None:
    try:
        await client.create("namespaces", {"metadata": {"name": ns}})
    except errors.AlreadyExists:
        pass


_IMMUTABLE = re.compile(r"Invalid value: \S+: field")


def _known_differences(got: dict[str, Any]) -> None:
    """Documented deviations (docs/upstream-differences.md), normalised away."""
    up, sp = got["upstream"]["answer"], got["sliceplane"]["answer"]
    if not (isinstance(up, dict) and isinstance(sp, dict)):
        return
    if "pod updates may not change fields" in str(up.get("message")):
        # the pod update message: first line only, without upstream's Go diff
        for side in (up, sp):
            side["message"] = str(side["message"]).split("\n", 1)[0]
            for cause in (side.get("details") or {}).get("causes", []):
                cause["message"] = str(cause["message"]).split("\n", 1)[0]
    if "field is immutable" in str(up.get("message")):
        # upstream prints the new value as null in this message (a validation wording)
        for side in (up, sp):
            side["message"] = _IMMUTABLE.sub("Invalid value: X: field", str(side["message"]))
            for cause in (side.get("details") or {}).get("causes", []):
                cause["message"] = _IMMUTABLE.sub("Invalid value: X: field", str(cause["message"]))
    typed = str(up.get("message")).startswith("failed to create typed")
    if (
        typed
        and up.get("code") == 500
        and (sp.get("code"), sp.get("reason")) == (400, "BadRequest")
    ):
        # an unknown field in an apply: upstream's 500, a 400 with the same message here
        sp["code"], sp["reason"] = 500, "InternalError"
    if str(up.get("message")).startswith("error encoding patch: yaml:") and str(
        sp.get("message")
    ).startswith("error encoding patch: yaml:"):
        # the YAML parser's own wording (go-yaml vs PyYAML)
        up["message"] = sp["message"] = "error encoding patch: yaml: <detail>"


@pytest.mark.parametrize("case", sorted(sequences()))
async def test_apply_sequences(clients: dict[str, Client], case: str) -> None:
    seq = sequences()[case]
    ns = f"ap-{uuid.uuid4().hex[:6]}"
    name = f"o-{uuid.uuid4().hex[:6]}"
    for c in clients.values():
        await ensure_namespace(c, ns)
    failures: list[str] = []
    trail: list[Obj] = []
    last_rv: dict[str, str | None] = {side: None for side in clients}
    for i, step in enumerate(seq.steps):
        got: dict[str, Any] = {}
        for side, c in clients.items():
            answer = await send(c, seq, name, ns, step)
            live = await read(c, seq, name, ns)
            rv = None if live is None else live["metadata"]["resourceVersion"]
            got[side] = {
                "answer": answer,
                "object": normalise(live, name, ns),
                # whether the step wrote (a no-op apply must not take a revision)
                "wrote": rv != last_rv[side],
            }
            last_rv[side] = rv
        trail.append({"step": i, **got})
        _known_differences(got)
        if got["upstream"] != got["sliceplane"]:
            diff = difflib.unified_diff(
                json.dumps(got["upstream"], indent=1, sort_keys=True).splitlines(),
                json.dumps(got["sliceplane"], indent=1, sort_keys=True).splitlines(),
                "upstream",
                "sliceplane",
                lineterm="",
            )
            failures.append(f"step {i} ({step.manager}):\n" + "\n".join(diff))
    REPORT["sequences"][case] = trail
    assert not failures, "\n\n".join(failures)


# --------------------------------------------------------------------------- kubectl


SERVICE = """apiVersion: v1
kind: Service
metadata:
  name: web
  labels: {app: web}
spec:
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: 8080}
"""


DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - {name: nginx, image: "nginx:1"}
"""


def kubectl_steps() -> list[tuple[str, list[str]]]:
    return [
        (SERVICE, ["apply", "--server-side", "-f", "-"]),
        (SERVICE, ["apply", "--server-side", "-f", "-"]),
        (SERVICE.replace("8080", "8081"), ["apply", "--server-side", "-f", "-"]),
        ("", ["label", "service", "web", "app=other", "--overwrite"]),
        (SERVICE, ["apply", "--server-side", "-f", "-"]),
        (SERVICE, ["apply", "--server-side", "--force-conflicts", "-f", "-"]),
        (
            SERVICE.replace("8080", "9999"),
            ["apply", "--server-side", "--dry-run=server", "-f", "-"],
        ),
        (SERVICE.replace("web", "csa"), ["apply", "-f", "-"]),
        (SERVICE.replace("web", "csa").replace("8080", "8082"), ["apply", "-f", "-"]),
        (
            SERVICE.replace("web", "csa").replace("8080", "8083"),
            ["apply", "--server-side", "-f", "-"],
        ),
        (SERVICE.replace("web", "csa").replace("8080", "8084"), ["apply", "-f", "-"]),
        (DEPLOYMENT, ["apply", "--server-side", "-f", "-"]),
        ("", ["scale", "deployment", "web", "--replicas=5"]),
        (DEPLOYMENT, ["apply", "--server-side", "-f", "-"]),  # conflicts with the scale
        (DEPLOYMENT.replace("replicas: 2\n", ""), ["apply", "--server-side", "-f", "-"]),
        (
            DEPLOYMENT.replace("nginx:1", "nginx:2"),
            ["apply", "--server-side", "--force-conflicts", "-f", "-"],
        ),
    ]


def _kubectl(k: Kubectl, args: list[str], stdin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [KUBECTL, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=k.env(),
        timeout=60,
        check=False,
    )


@pytest.mark.kubectl
def test_kubectl_server_side_apply(
    kube: ControlPlane, apiserver: ServerProcess, tmp_path: Path
) -> None:
    ns = f"ka-{uuid.uuid4().hex[:6]}"
    sides = {
        "upstream": Kubectl(kube.kubeconfig, tmp_path / "kc-up"),
        "sliceplane": Kubectl(apiserver.kubeconfig, tmp_path / "kc-sp"),
    }
    for k in sides.values():
        k("create", "namespace", ns)
    failures = []
    seen: list[dict[str, Any]] = []
    for stdin, args in kubectl_steps():
        got: dict[str, Any] = {}
        for side, k in sides.items():
            res = _kubectl(k, [*args, "-n", ns], stdin)
            objs = {}
            for kind, obj in (("service", "web"), ("service", "csa"), ("deployment", "web")):
                out = _kubectl(
                    k, ["get", kind, obj, "-n", ns, "-o", "json", "--show-managed-fields"], ""
                )
                objs[f"{kind}/{obj}"] = (
                    normalise(json.loads(out.stdout), obj + "-x", ns)
                    if out.returncode == 0
                    else None
                )
            text = (res.stdout + res.stderr).replace(ns, "NS")
            got[side] = {"rc": res.returncode, "out": text, "objects": objs}
        seen.append(got["sliceplane"])
        if got["upstream"] != got["sliceplane"]:
            diff = difflib.unified_diff(
                json.dumps(got["upstream"], indent=1, sort_keys=True).splitlines(),
                json.dumps(got["sliceplane"], indent=1, sort_keys=True).splitlines(),
                "upstream",
                "sliceplane",
                lineterm="",
            )
            failures.append(f"$ kubectl {' '.join(args)}\n" + "\n".join(diff))
    for k in sides.values():
        k.run("delete", "namespace", ns, "--wait=false", check=False)
    assert not failures, "\n\n".join(failures)
    # The session did what it says: a conflict refused, then forced; the dry run changed
    # nothing; the migrated object is owned by kubectl's Apply entry.
    assert seen[4]["rc"] == 1 and "conflict" in seen[4]["out"], seen[4]
    assert seen[5]["rc"] == 0
    web = seen[6]["objects"]["service/web"]
    assert web is not None and web["spec"]["ports"][0]["targetPort"] == 8080
    csa = seen[9]["objects"]["service/csa"]
    assert csa is not None
    managers = {(e["manager"], e["operation"]) for e in csa["metadata"]["managedFields"]}
    assert ("kubectl", "Apply") in managers, managers
    assert csa["spec"]["ports"][0]["targetPort"] == 8083
    assert seen[13]["rc"] == 1 and 'subresource "scale"' in seen[13]["out"], seen[13]["out"]
