"""The real kubectl against the embedded API server, asserting on what a user sees."""

from __future__ import annotations

import json
import re
import subprocess
import time

import yaml
from harness import KUBECTL, Kubectl

SLICE = """
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: example-abc
  labels:
    kubernetes.io/service-name: example
addressType: IPv4
ports:
  - name: http
    protocol: TCP
    port: 80
endpoints:
  - addresses: ["10.1.2.3"]
    conditions: {ready: true}
    hostname: pod-1
    nodeName: node-1
    zone: us-west2-a
  - addresses: ["10.1.2.4"]
    conditions: {ready: false}
    nodeName: node-2
"""

DEPLOY_AND_SERVICE = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: payments-api
  labels: {app: payments-api}
spec:
  replicas: 6
  selector:
    matchLabels: {app: payments-api}
  template:
    metadata:
      labels: {app: payments-api}
    spec:
      containers:
      - name: api
        image: registry.example/payments:1.0
        ports:
        - {containerPort: 8080, name: http}
---
apiVersion: v1
kind: Service
metadata:
  name: payments-api
spec:
  selector: {app: payments-api}
  ports:
  - {port: 80, targetPort: http}
"""


def rows(out: str) -> list[list[str]]:
    return [re.split(r"\s{2,}", line.strip()) for line in out.strip().splitlines()]


def test_system_namespaces_and_kubernetes_service(kubectl: Kubectl) -> None:
    out = rows(kubectl("get", "namespaces"))
    assert out[0] == ["NAME", "STATUS", "AGE"]
    names = {r[0] for r in out[1:]}
    system = {"default", "kube-system", "kube-public", "kube-node-lease"}
    assert system <= names
    # Other tests' namespaces may be Terminating at this point; the system ones never are.
    assert all(r[1] == "Active" for r in out[1:] if r[0] in system)
    svc = rows(kubectl("get", "svc", "kubernetes", "-n", "default"))
    assert svc[0] == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    assert svc[1][:5] == ["kubernetes", "ClusterIP", "10.96.0.1", "<none>", "443/TCP"]


def test_create_get_describe_endpointslice(kubectl: Kubectl, namespace: str) -> None:
    assert kubectl("create", "-n", namespace, "-f", "-", input=SLICE).strip() == (
        "endpointslice.discovery.k8s.io/example-abc created"
    )
    out = rows(
        kubectl(
            "get", "endpointslices", "-n", namespace, "-l", "kubernetes.io/service-name=example"
        )
    )
    assert out[0] == ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
    assert out[1][:4] == ["example-abc", "IPv4", "80", "10.1.2.3,10.1.2.4"]
    assert (
        kubectl("get", "endpointslices", "-n", namespace, "-l", "kubernetes.io/service-name=other")
        == ""
    )
    wide = rows(kubectl("get", "endpointslices", "-n", namespace, "-o", "wide"))
    assert wide[0] == ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
    name = kubectl("get", "endpointslices", "-n", namespace, "-o", "name").strip()
    assert name == "endpointslice.discovery.k8s.io/example-abc"
    labels = rows(kubectl("get", "endpointslices", "-n", namespace, "--show-labels"))
    assert labels[0][-1] == "LABELS"
    assert labels[1][-1] == "kubernetes.io/service-name=example"
    doc = yaml.safe_load(
        kubectl("get", "endpointslice", "example-abc", "-n", namespace, "-o", "yaml")
    )
    assert doc["metadata"]["generation"] == 1
    assert doc["endpoints"][0]["conditions"] == {"ready": True}
    lst = json.loads(kubectl("get", "endpointslices", "-n", namespace, "-o", "json"))
    assert lst["kind"] == "List" and len(lst["items"]) == 1
    described = kubectl("describe", "endpointslice", "example-abc", "-n", namespace)
    expected = [
        "Name:         example-abc",
        f"Namespace:    {namespace}",
        "Labels:       kubernetes.io/service-name=example",
        "Annotations:  <none>",
        "AddressType:  IPv4",
        "Ports:",
        "  Name  Port  Protocol",
        "  ----  ----  --------",
        "  http  80    TCP",
        "Endpoints:",
        "  - Addresses:  10.1.2.3",
        "    Conditions:",
        "      Ready:    true",
        "    Hostname:   pod-1",
        "    NodeName:   node-1",
        "    Zone:       us-west2-a",
        "  - Addresses:  10.1.2.4",
        "    Conditions:",
        "      Ready:   false",
        "    Hostname:  <unset>",
        "    NodeName:  node-2",
        "    Zone:      <unset>",
        "Events:        <none>",
    ]
    assert described.rstrip("\n").splitlines() == expected


def test_all_namespaces_listing(kubectl: Kubectl, namespace: str) -> None:
    kubectl("create", "-n", namespace, "-f", "-", input=SLICE)
    out = rows(kubectl("get", "endpointslices", "-A"))
    assert out[0][:2] == ["NAMESPACE", "NAME"]
    assert [namespace, "example-abc"] in [r[:2] for r in out[1:]]


def test_invalid_endpointslice_is_rejected_with_field_errors(
    kubectl: Kubectl, namespace: str
) -> None:
    bad = """
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: bad}
addressType: IPv4
ports: [{name: Bad_Name, protocol: TCP, port: 80}]
endpoints:
  - addresses: []
"""
    res = kubectl.run("create", "-n", namespace, "-f", "-", input=bad, check=False)
    assert res.returncode == 1
    assert 'The EndpointSlice "bad" is invalid:' in res.stderr
    assert "endpoints[0].addresses: Required value: must contain at least 1 address" in res.stderr
    assert 'ports[0].name: Invalid value: "Bad_Name"' in res.stderr
    assert kubectl("get", "endpointslices", "-n", namespace) == ""


def test_unknown_field_rejected_by_strict_validation(kubectl: Kubectl, namespace: str) -> None:
    doc = SLICE.replace("addressType: IPv4", "addressType: IPv4\nbogusField: 1")
    res = kubectl.run("create", "-n", namespace, "-f", "-", input=doc, check=False)
    assert res.returncode == 1
    assert 'unknown field "bogusField"' in res.stderr
    assert kubectl("get", "endpointslices", "-n", namespace) == ""


def test_apply_twice_label_annotate_scale_delete(kubectl: Kubectl, namespace: str) -> None:
    out = kubectl("apply", "-n", namespace, "-f", "-", input=DEPLOY_AND_SERVICE)
    assert out.splitlines() == [
        "deployment.apps/payments-api created",
        "service/payments-api created",
    ]
    changed = DEPLOY_AND_SERVICE.replace("replicas: 6", "replicas: 4")
    out = kubectl("apply", "-n", namespace, "-f", "-", input=changed)
    assert out.splitlines() == [
        "deployment.apps/payments-api configured",
        "service/payments-api unchanged",
    ]
    dep = json.loads(kubectl("get", "deploy", "payments-api", "-n", namespace, "-o", "json"))
    assert dep["spec"]["replicas"] == 4
    assert dep["metadata"]["generation"] == 2
    assert "kubectl.kubernetes.io/last-applied-configuration" in dep["metadata"]["annotations"]
    svc = rows(kubectl("get", "svc", "payments-api", "-n", namespace, "-o", "wide"))
    assert svc[0] == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE", "SELECTOR"]
    assert svc[1][1] == "ClusterIP"
    assert re.fullmatch(r"10\.(9[6-9]|1[01]\d)\.\d+\.\d+", svc[1][2])
    assert svc[1][4] == "80/TCP" and svc[1][6] == "app=payments-api"

    assert kubectl("label", "svc", "payments-api", "-n", namespace, "tier=backend").strip() == (
        "service/payments-api labeled"
    )
    kubectl("annotate", "svc", "payments-api", "-n", namespace, "owner=payments-team")
    labels = rows(kubectl("get", "svc", "payments-api", "-n", namespace, "--show-labels"))
    assert labels[1][-1] == "tier=backend"
    kubectl("label", "svc", "payments-api", "-n", namespace, "tier-")
    svc_doc = json.loads(kubectl("get", "svc", "payments-api", "-n", namespace, "-o", "json"))
    assert "tier" not in (svc_doc["metadata"].get("labels") or {})
    assert svc_doc["metadata"]["annotations"]["owner"] == "payments-team"

    assert kubectl(
        "scale", "deployment", "payments-api", "-n", namespace, "--replicas=9"
    ).strip() == ("deployment.apps/payments-api scaled")
    replicas = kubectl(
        "get", "deploy", "payments-api", "-n", namespace, "-o", "jsonpath={.spec.replicas}"
    )
    assert replicas == "9"
    deploy_rows = rows(kubectl("get", "deploy", "-n", namespace))
    assert deploy_rows[0] == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert deploy_rows[1][:4] == ["payments-api", "0/9", "0", "0"]

    out = kubectl("delete", "svc", "payments-api", "-n", namespace)
    assert out.startswith('service "payments-api" deleted')
    res = kubectl.run("get", "svc", "payments-api", "-n", namespace, check=False)
    assert res.returncode == 1
    assert 'Error from server (NotFound): services "payments-api" not found' in res.stderr


def test_get_watch_prints_table_rows(kubectl: Kubectl, namespace: str) -> None:
    proc = subprocess.Popen(
        [KUBECTL, "get", "endpointslices", "-n", namespace, "-w"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=kubectl.env(),
    )
    try:
        time.sleep(1.0)
        kubectl("create", "-n", namespace, "-f", "-", input=SLICE)
        assert proc.stdout is not None
        header = proc.stdout.readline()
        first = proc.stdout.readline()
    finally:
        proc.kill()
        proc.communicate()
    assert header.split() == ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
    assert first.split()[:4] == ["example-abc", "IPv4", "80", "10.1.2.3,10.1.2.4"]


def test_unauthenticated_request_is_refused(kubectl: Kubectl) -> None:
    res = kubectl.run("get", "pods", "--token=wrong", check=False)
    assert res.returncode == 1
    assert "Unauthorized" in res.stderr


def test_typed_create_commands_send_protobuf_and_work(kubectl: Kubectl, namespace: str) -> None:
    """kubectl's generators post protobuf bodies; the server must decode them."""
    assert (
        kubectl(
            "create",
            "deployment",
            "web",
            "-n",
            namespace,
            "--image=nginx:1.27",
            "--replicas=2",
            "--port=8080",
        ).strip()
        == "deployment.apps/web created"
    )
    assert (
        kubectl("create", "service", "clusterip", "web", "-n", namespace, "--tcp=80:8080").strip()
        == "service/web created"
    )
    svc = json.loads(kubectl("get", "svc", "web", "-n", namespace, "-o", "json"))
    assert svc["spec"]["ports"][0]["port"] == 80
    assert svc["spec"]["ports"][0]["targetPort"] == 8080
    assert svc["spec"]["type"] == "ClusterIP"
    dep = json.loads(kubectl("get", "deploy", "web", "-n", namespace, "-o", "json"))
    assert dep["spec"]["replicas"] == 2
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    name = f"{namespace}-x"
    assert kubectl("create", "namespace", name).strip() == f"namespace/{name} created"
    kubectl("delete", "namespace", name, "--wait=false")


def test_edit_with_an_editor(kubectl: Kubectl, namespace: str) -> None:
    """`kubectl edit` round-trips the object through $EDITOR and sends a strategic patch."""
    kubectl("apply", "-n", namespace, "-f", "-", input=DEPLOY_AND_SERVICE)
    env = kubectl.env()
    env["KUBE_EDITOR"] = "sed -i s/sessionAffinity:\\ None/sessionAffinity:\\ ClientIP/"
    res = subprocess.run(
        [KUBECTL, "edit", "svc", "payments-api", "-n", namespace],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "service/payments-api edited"
    svc = json.loads(kubectl("get", "svc", "payments-api", "-n", namespace, "-o", "json"))
    assert svc["spec"]["sessionAffinity"] == "ClientIP"
    assert svc["spec"]["sessionAffinityConfig"] == {"clientIP": {"timeoutSeconds": 10800}}


def test_delete_collection_by_label(kubectl: Kubectl, namespace: str) -> None:
    kubectl("create", "-n", namespace, "-f", "-", input=SLICE)
    other = SLICE.replace("example-abc", "other-abc").replace(
        "service-name: example", "service-name: other"
    )
    kubectl("create", "-n", namespace, "-f", "-", input=other)
    out = kubectl(
        "delete", "endpointslices", "-n", namespace, "-l", "kubernetes.io/service-name=example"
    )
    assert out.strip().startswith('endpointslice.discovery.k8s.io "example-abc" deleted')
    assert kubectl("get", "endpointslices", "-n", namespace, "-o", "name").strip() == (
        "endpointslice.discovery.k8s.io/other-abc"
    )
