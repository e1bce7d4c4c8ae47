"""Differential test of ``metadata.managedFields``: sliceplane's API server against kube-apiserver.

The same kubectl session (create, client-side apply of a new and of an existing object,
label, annotate, patch of each type, edit, replace, scale, status patches) runs against both
servers on Services, Deployments and Pods; after every step each object's managedFields
(read with ``--show-managed-fields``) must be the same on both, times normalised.
"""

from __future__ import annotations

import difflib
import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from diffkit import BINARIES, MISSING, SUPPORT_CONTROLLERS
from harness import KUBECTL, Kubectl, ServerProcess

from sliceplane.testenv import ControlPlane

pytestmark = [pytest.mark.skipif(bool(MISSING), reason=MISSING), pytest.mark.timeout(300)]

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
SERVICE_2 = """apiVersion: v1
kind: Service
metadata:
  name: web
  labels: {app: web, tier: front}
spec:
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: 8081}
  - {name: metrics, port: 9090, protocol: UDP}
"""
DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: nginx
        image: nginx:1
        ports:
        - {containerPort: 80}
        env:
        - {name: A, value: "1"}
"""
POD = """apiVersion: v1
kind: Pod
metadata:
  name: solo
  labels: {app: solo}
spec:
  containers:
  - name: c
    image: busybox
    command: [sleep, "3600"]
"""
MANIFESTS = {
    "service.yaml": SERVICE,
    "service2.yaml": SERVICE_2,
    "deployment.yaml": DEPLOYMENT,
    "pod.yaml": POD,
}

Step = tuple[str, list[str]]  # (object the step changes, kubectl arguments)


def session() -> list[Step]:
    svc, dep, pod = "service/web", "deployment/web", "pod/solo"
    return [
        (svc, ["create", "-f", "service.yaml"]),
        (svc, ["apply", "-f", "service.yaml"]),
        (svc, ["apply", "-f", "service2.yaml"]),
        (svc, ["label", "service", "web", "team=a"]),
        (svc, ["annotate", "service", "web", "note=x"]),
        (
            svc,
            [
                "patch",
                "service",
                "web",
                "--type=merge",
                "-p",
                '{"spec":{"sessionAffinity":"ClientIP"}}',
            ],
        ),
        (
            svc,
            [
                "patch",
                "service",
                "web",
                "--type=json",
                "-p",
                '[{"op":"replace","path":"/metadata/labels/team","value":"b"}]',
            ],
        ),
        (
            svc,
            ["patch", "service", "web", "-p", '{"spec":{"ports":[{"port":80,"targetPort":8082}]}}'],
        ),
        (svc, ["label", "service", "web", "team-"]),
        (
            svc,
            [
                "patch",
                "service",
                "web",
                "--subresource=status",
                "--type=merge",
                "-p",
                '{"status":{"conditions":[{"type":"Ready","status":"True","reason":"R","message":"m",'
                '"lastTransitionTime":"2026-01-01T00:00:00Z"}]}}',
            ],
        ),
        (dep, ["apply", "-f", "deployment.yaml"]),
        (dep, ["scale", "deployment", "web", "--replicas=3"]),
        (dep, ["edit", "deployment", "web"]),
        (dep, ["set", "image", "deployment/web", "nginx=nginx:3"]),
        (
            dep,
            [
                "patch",
                "deployment",
                "web",
                "-p",
                '{"spec":{"template":{"spec":{"containers":[{"name":"nginx","env":[{"name":"B","value":"2"}]}]}}}}',
            ],
        ),
        (
            dep,
            [
                "patch",
                "deployment",
                "web",
                "--subresource=status",
                "--type=merge",
                "-p",
                '{"status":{"observedGeneration":1}}',
            ],
        ),
        (dep, ["scale", "deployment", "web", "--replicas=2"]),
        (pod, ["create", "-f", "pod.yaml"]),
        (pod, ["annotate", "pod", "solo", "a=b"]),
        (pod, ["label", "pod", "solo", "x=y"]),
        (
            pod,
            [
                "patch",
                "pod",
                "solo",
                "--subresource=status",
                "--type=merge",
                "-p",
                '{"status":{"message":"hello"}}',
            ],
        ),
        (pod, ["replace", "-f", "pod.yaml"]),
    ]


@pytest.fixture(scope="module")
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    cp = ControlPlane(
        tmp_path_factory.mktemp("diffmf"),
        binaries=BINARIES,
        with_controller_manager=True,
        controllers=SUPPORT_CONTROLLERS,
        unsafe_no_fsync=True,
    )
    with cp:
        yield cp


def run(kubectl: Kubectl, args: list[str], editor: str) -> subprocess.CompletedProcess[str]:
    env = kubectl.env()
    env["KUBE_EDITOR"] = editor
    return subprocess.run(
        [KUBECTL, *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


def managed_fields(kubectl: Kubectl, ns: str, obj: str) -> list[dict[str, Any]]:
    res = run(kubectl, ["get", obj, "-n", ns, "-o", "json", "--show-managed-fields"], "true")
    assert res.returncode == 0, res.stderr
    entries: list[dict[str, Any]] = json.loads(res.stdout)["metadata"].get("managedFields", [])
    for e in entries:
        if "time" in e:
            e["time"] = "<time>"
    # Entries are ordered by time (seconds), so steps a second apart on one server only
    # may order them differently: compare by identity.
    return sorted(
        entries,
        key=lambda e: (e["operation"], e["manager"], e["apiVersion"], e.get("subresource", "")),
    )


@pytest.mark.kubectl
def test_managed_fields_follow_kubectl(
    kube: ControlPlane, apiserver: ServerProcess, tmp_path: Path
) -> None:
    ns = f"mf-{uuid.uuid4().hex[:6]}"
    work = tmp_path / "manifests"
    work.mkdir()
    for name, text in MANIFESTS.items():
        (work / name).write_text(text)
    editor = tmp_path / "editor.sh"
    editor.write_text('#!/bin/sh\nsed -i "s/nginx:1/nginx:2/" "$1"\n')
    editor.chmod(0o755)
    sides = {
        "upstream": Kubectl(kube.kubeconfig, tmp_path / "kc-up"),
        "sliceplane": Kubectl(apiserver.kubeconfig, tmp_path / "kc-sp"),
    }
    for kubectl in sides.values():
        kubectl("create", "namespace", ns)
    failures: list[str] = []
    for target, cmd in session():
        args = [str(work / a) if a.endswith(".yaml") else a for a in cmd] + ["-n", ns]
        got: dict[str, Any] = {}
        for side, kubectl in sides.items():
            res = run(kubectl, args, str(editor))
            assert res.returncode == 0, f"{side}: kubectl {' '.join(cmd)}: {res.stderr}"
            got[side] = managed_fields(kubectl, ns, target)
        if got["upstream"] != got["sliceplane"]:
            diff = difflib.unified_diff(
                json.dumps(got["upstream"], indent=1).splitlines(),
                json.dumps(got["sliceplane"], indent=1).splitlines(),
                "upstream",
                "sliceplane",
                lineterm="",
            )
            failures.append(f"$ kubectl {' '.join(cmd)}\n" + "\n".join(diff))
    for kubectl in sides.values():
        kubectl.run("delete", "namespace", ns, "--wait=false", check=False)
    assert not failures, "\n\n".join(failures)
