"""Differential test of ``pods/exec``, ``pods/attach`` and ``pods/portforward`` refusals:
sliceplane's API server against kube-apiserver, both driven by the real kubectl and by raw
requests.

Neither server has a kubelet to reach here, so what is compared is everything decided
before a kubelet is dialled (a container name missing or wrong, a pod with no node, a
node that does not exist: codes, reasons, messages and kubectl's words and exit codes)
and the shape of the answer when the kubelet cannot be dialled. There the dial error
itself differs on purpose: kube-apiserver says why its TCP dial failed, sliceplane says
that the node is simulated (docs/upstream-differences.md); the text around it matches.
"""

from __future__ import annotations

import json
import re
import socket
import ssl
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from diffkit import BINARIES, MISSING, write_report
from harness import Kubectl, ServerProcess

from sliceplane.testenv import ControlPlane

pytestmark = [pytest.mark.skipif(bool(MISSING), reason=MISSING), pytest.mark.timeout(300)]

REPORT: dict[str, Any] = {}


@pytest.fixture(scope="module")
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    cp = ControlPlane(
        tmp_path_factory.mktemp("diffstream"), binaries=BINARIES, unsafe_no_fsync=True
    )
    with cp:
        yield cp
    write_report("streaming-report.json", REPORT)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def raw(kubeconfig: Path, method: str, path: str, accept: str = "") -> tuple[int, dict[str, Any]]:
    cfg = yaml.safe_load(kubeconfig.read_text())
    server = cfg["clusters"][0]["cluster"]["server"]
    user = cfg["users"][0]["user"]
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    headers = {"Accept": accept} if accept else {}
    if user.get("token"):
        headers["Authorization"] = f"Bearer {user['token']}"
    if user.get("client-certificate"):
        ctx.load_cert_chain(user["client-certificate"], user["client-key"])
    req = urllib.request.Request(server + path, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def setup(k: Kubectl, ns: str, kubelet_port: int) -> None:
    docs = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
        {"apiVersion": "v1", "kind": "Node", "metadata": {"name": f"{ns}-far"}},
    ]
    for name, containers, node in [
        ("solo", ["a"], ""),
        ("duo", ["a", "b"], ""),
        ("lost", ["a"], f"{ns}-missing"),
        ("bound", ["a"], f"{ns}-far"),
    ]:
        spec: dict[str, Any] = {"containers": [{"name": c, "image": "x"} for c in containers]}
        if node:
            spec["nodeName"] = node
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": name, "namespace": ns},
                "spec": spec,
            }
        )
    k("create", "-f", "-", input="\n---\n".join(json.dumps(d) for d in docs))
    node_status = {
        "status": {
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet_port}},
        }
    }
    k("patch", "node", f"{ns}-far", "--subresource=status", "--type=merge",
      "-p", json.dumps(node_status))  # fmt: skip
    running = {"status": {"phase": "Running", "podIP": "10.9.9.9", "podIPs": [{"ip": "10.9.9.9"}]}}
    for pod in ("bound", "lost"):
        k("patch", "pod", pod, "-n", ns, "--subresource=status", "--type=merge",
          "-p", json.dumps(running))  # fmt: skip


def session(kubeconfig: Path, cache: Path) -> dict[str, Any]:
    k = Kubectl(kubeconfig, cache)
    ns = f"s-{uuid.uuid4().hex[:6]}"
    setup(k, ns, closed_port())
    out: dict[str, Any] = {}
    for label, args in [
        ("exec no host", ["exec", "-n", ns, "solo", "--", "true"]),
        ("exec wrong container", ["exec", "-n", ns, "duo", "-c", "z", "--", "true"]),
        ("exec missing node", ["exec", "-n", ns, "lost", "--", "true"]),
        ("exec unreachable kubelet", ["exec", "-n", ns, "bound", "--", "true"]),
        ("attach no host", ["attach", "-n", ns, "solo"]),
        ("attach wrong container", ["attach", "-n", ns, "duo", "-c", "z"]),
        ("attach missing node", ["attach", "-n", ns, "lost"]),
        ("attach unreachable kubelet", ["attach", "-n", ns, "bound"]),
        ("port-forward missing node", ["port-forward", "-n", ns, "pod/lost", "0:80"]),
        ("port-forward unreachable kubelet", ["port-forward", "-n", ns, "pod/bound", "0:80"]),
    ]:
        res = k.run(*args, check=False, timeout=60)
        stderr = re.sub(r"127\.0\.0\.1:\d+", "KUBELET", res.stderr.replace(ns, "NS"))
        out[label] = {"rc": res.returncode, "stderr": stderr}
    base = f"/api/v1/namespaces/{ns}/pods"
    for label, method, path in [
        ("POST exec no container", "POST", f"{base}/duo/exec?command=true&stdout=true"),
        ("POST exec not valid", "POST", f"{base}/duo/exec?command=true&container=z"),
        ("GET exec no host", "GET", f"{base}/solo/exec?command=true&stdout=true"),
        ("POST portforward no host", "POST", f"{base}/solo/portforward"),
        ("POST portforward missing pod", "POST", f"{base}/nope/portforward"),
        ("POST portforward missing node", "POST", f"{base}/lost/portforward?ports=80"),
        ("PUT exec", "PUT", f"{base}/solo/exec"),
        ("POST attach no container", "POST", f"{base}/duo/attach?stdout=true"),
        ("POST attach no stream", "POST", f"{base}/solo/attach"),
        ("GET attach not valid", "GET", f"{base}/duo/attach?container=z&stdout=1"),
        ("DELETE attach", "DELETE", f"{base}/solo/attach"),
    ]:
        code, status = raw(kubeconfig, method, path)
        status.pop("metadata", None)
        out[label] = {"code": code, "status": json.loads(json.dumps(status).replace(ns, "NS"))}
    k.run("delete", "namespace", ns, "--wait=false", check=False)
    k.run("delete", "node", f"{ns}-far", check=False)
    return out


STREAMING = ("pods/exec", "pods/attach", "pods/portforward")


def discovery(kubeconfig: Path) -> dict[str, Any]:
    """The pods subresources in both discovery documents."""
    _, legacy = raw(kubeconfig, "GET", "/api/v1")
    entries = {r["name"]: r for r in legacy["resources"] if r["name"] in STREAMING}
    accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    _, aggregated = raw(kubeconfig, "GET", "/api", accept)
    (pod,) = [
        r
        for g in aggregated["items"]
        for v in g["versions"]
        for r in v["resources"]
        if r["resource"] == "pods"
    ]
    for sub in pod.get("subresources") or []:
        if "pods/" + sub["subresource"] in STREAMING:
            entries["aggregated " + sub["subresource"]] = sub
    return entries


UNREACHABLE = (
    "exec unreachable kubelet",
    "attach unreachable kubelet",
    "port-forward unreachable kubelet",
)


def test_discovery_lists_the_streaming_subresources_as_kube_apiserver(
    kube: ControlPlane, apiserver: ServerProcess
) -> None:
    upstream = discovery(kube.kubeconfig)
    assert len(upstream) == 2 * len(STREAMING), upstream
    assert discovery(apiserver.kubeconfig) == upstream


def test_refusals_match_kube_apiserver(
    kube: ControlPlane, apiserver: ServerProcess, tmp_path: Path
) -> None:
    upstream = session(kube.kubeconfig, tmp_path / "up")
    ours = session(apiserver.kubeconfig, tmp_path / "sp")
    REPORT["upstream"], REPORT["sliceplane"] = upstream, ours
    for label in upstream:
        if label in UNREACHABLE:
            continue
        assert ours[label] == upstream[label], label
    for label in UNREACHABLE:
        up, sp = upstream[label], ours[label]
        assert sp["rc"] == up["rc"], (label, up, sp)
        # the same words up to the dial error's reason, which differs on purpose
        head = up["stderr"].split("dial tcp KUBELET: ")[0] + "dial tcp KUBELET: "
        assert sp["stderr"].startswith(head), (label, up, sp)
        assert sp["stderr"][len(head) :].startswith('node "NS-far" is simulated by sliceplane')
