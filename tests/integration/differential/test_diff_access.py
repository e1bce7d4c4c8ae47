"""Differential test of the review APIs and ``pods/log``: sliceplane's API server against
kube-apiserver v1.37.2 (``sliceplane.testenv``, AlwaysAllow, its token user
``sliceplane-admin`` in ``system:masters``, which is the identity sliceplane names).

The same raw requests go to both servers: access (self, subject, local), rules, self and
token reviews (good and malformed), their discovery, wrong methods and URLs, and
``pods/log`` up to the point where kube-apiserver would talk to a kubelet (options
validation, container choice, an unscheduled pod, a missing Node, a Node whose kubelet
cannot be reached). Answers are compared whole after normalising what differs by
construction: managedFields (sliceplane keeps none), uids, resourceVersions, timestamps,
each server's own token. The few differences kept are listed in ``KNOWN`` with the
reason, and asserted to still be differences, so the list stays true.
Then the real kubectl's ``auth can-i --list`` and ``auth whoami -o json`` are compared.
"""

from __future__ import annotations

import base64
import json
import socket
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from diffkit import BINARIES, MISSING
from harness import Kubectl, ServerProcess

from sliceplane.testenv import ControlPlane

pytestmark = [pytest.mark.skipif(bool(MISSING), reason=MISSING), pytest.mark.timeout(300)]

Obj = dict[str, Any]
AUTHZ = "/apis/authorization.k8s.io/v1"
AUTHN = "/apis/authentication.k8s.io/v1"
PODS = "/api/v1/namespaces/default/pods"
SSAR = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview"}
SSRR = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectRulesReview"}
ATTRS = {"namespace": "default", "verb": "create", "resource": "pods"}
NODE_HOST = "sim-node.invalid"

# label -> why the two answers differ (status codes always agree).
KNOWN = {
    "ssar-metadata": "upstream's bad value includes the managedFields it recorded; "
    "sliceplane keeps no managedFields",
    "ssar-bad-json": "sliceplane's JSON decoder words its syntax errors differently",
    "ssar-wrong-kind": "upstream reports a failed conversion; sliceplane an unregistered kind",
}


def requests(port: int, token: str) -> Iterator[tuple[str, str, str, Any]]:
    """(label, method, path, body) in order; setup requests are labelled ``setup-``.
    ``token`` is the server's own (for the token reviews)."""
    yield (
        "ssar",
        "POST",
        f"{AUTHZ}/selfsubjectaccessreviews",
        {
            **SSAR,
            "spec": {"resourceAttributes": ATTRS},
        },
    )
    yield (
        "ssar-subresource",
        "POST",
        f"{AUTHZ}/selfsubjectaccessreviews",
        {
            **SSAR,
            "spec": {"resourceAttributes": {**ATTRS, "verb": "get", "subresource": "log"}},
        },
    )
    yield (
        "ssar-non-resource",
        "POST",
        f"{AUTHZ}/selfsubjectaccessreviews",
        {
            **SSAR,
            "spec": {"nonResourceAttributes": {"path": "/healthz", "verb": "get"}},
        },
    )
    yield "ssar-empty-spec", "POST", f"{AUTHZ}/selfsubjectaccessreviews", {**SSAR, "spec": {}}
    yield "ssar-no-spec", "POST", f"{AUTHZ}/selfsubjectaccessreviews", dict(SSAR)
    yield (
        "ssar-both",
        "POST",
        f"{AUTHZ}/selfsubjectaccessreviews",
        {
            **SSAR,
            "spec": {
                "resourceAttributes": ATTRS,
                "nonResourceAttributes": {"path": "/x", "verb": "get"},
            },
        },
    )
    yield (
        "ssar-metadata",
        "POST",
        f"{AUTHZ}/selfsubjectaccessreviews",
        {
            **SSAR,
            "metadata": {"name": "x"},
            "spec": {"resourceAttributes": ATTRS},
        },
    )
    yield "ssar-spec-string", "POST", f"{AUTHZ}/selfsubjectaccessreviews", {**SSAR, "spec": "x"}
    yield (
        "ssar-verb-number",
        "POST",
        f"{AUTHZ}/selfsubjectaccessreviews",
        {
            **SSAR,
            "spec": {"resourceAttributes": {"verb": 3}},
        },
    )
    yield "ssar-bad-json", "POST", f"{AUTHZ}/selfsubjectaccessreviews", b"{nope"
    yield (
        "ssar-wrong-kind",
        "POST",
        f"{AUTHZ}/selfsubjectaccessreviews",
        {
            "apiVersion": "v1",
            "kind": "Pod",
        },
    )
    yield "ssar-get", "GET", f"{AUTHZ}/selfsubjectaccessreviews", None
    yield "ssar-named", "GET", f"{AUTHZ}/selfsubjectaccessreviews/x", None
    yield (
        "ssar-namespaced",
        "POST",
        f"{AUTHZ}/namespaces/default/selfsubjectaccessreviews",
        {
            **SSAR,
            "spec": {"resourceAttributes": ATTRS},
        },
    )
    yield (
        "ssrr",
        "POST",
        f"{AUTHZ}/selfsubjectrulesreviews",
        {
            **SSRR,
            "spec": {"namespace": "default"},
        },
    )
    yield "ssrr-no-namespace", "POST", f"{AUTHZ}/selfsubjectrulesreviews", {**SSRR, "spec": {}}
    yield (
        "ssr",
        "POST",
        f"{AUTHN}/selfsubjectreviews",
        {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "SelfSubjectReview",
        },
    )
    sar = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview"}
    lsar = {"apiVersion": "authorization.k8s.io/v1", "kind": "LocalSubjectAccessReview"}
    yield (
        "sar-admin",
        "POST",
        f"{AUTHZ}/subjectaccessreviews",
        {
            **sar,
            "spec": {"resourceAttributes": ATTRS, "user": "sliceplane-admin", "groups": ["g"]},
        },
    )
    yield (
        "sar-someone",
        "POST",
        f"{AUTHZ}/subjectaccessreviews",
        {
            **sar,
            "spec": {
                "nonResourceAttributes": {"path": "/x", "verb": "get"},
                "user": "bob",
                "uid": "1",
                "extra": {"k": ["v"]},
            },
        },
    )
    yield (
        "sar-no-subject",
        "POST",
        f"{AUTHZ}/subjectaccessreviews",
        {
            **sar,
            "spec": {"resourceAttributes": ATTRS},
        },
    )
    yield "sar-empty", "POST", f"{AUTHZ}/subjectaccessreviews", {**sar, "spec": {}}
    yield (
        "lsar",
        "POST",
        f"{AUTHZ}/namespaces/default/localsubjectaccessreviews",
        {
            **lsar,
            "spec": {"resourceAttributes": ATTRS, "user": "u"},
        },
    )
    yield (
        "lsar-metadata-namespace",
        "POST",
        f"{AUTHZ}/namespaces/default/localsubjectaccessreviews",
        {
            **lsar,
            "metadata": {"namespace": "default"},
            "spec": {"resourceAttributes": ATTRS, "user": "u"},
        },
    )
    yield (
        "lsar-other-namespace",
        "POST",
        f"{AUTHZ}/namespaces/other/localsubjectaccessreviews",
        {
            **lsar,
            "spec": {"resourceAttributes": ATTRS, "user": "u"},
        },
    )
    yield (
        "lsar-non-resource",
        "POST",
        f"{AUTHZ}/namespaces/default/localsubjectaccessreviews",
        {
            **lsar,
            "spec": {"nonResourceAttributes": {"path": "/x", "verb": "get"}, "user": "u"},
        },
    )
    yield (
        "lsar-cluster-url",
        "POST",
        f"{AUTHZ}/localsubjectaccessreviews",
        {
            **lsar,
            "spec": {"resourceAttributes": ATTRS, "user": "u"},
        },
    )
    tr = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview"}
    yield "tr-good", "POST", f"{AUTHN}/tokenreviews", {**tr, "spec": {"token": token}}
    yield "tr-bad", "POST", f"{AUTHN}/tokenreviews", {**tr, "spec": {"token": "nope"}}
    yield "tr-empty", "POST", f"{AUTHN}/tokenreviews", {**tr, "spec": {}}
    yield (
        "tr-audience",
        "POST",
        f"{AUTHN}/tokenreviews",
        {
            **tr,
            "spec": {"token": token, "audiences": ["elsewhere"]},
        },
    )
    yield "tr-get", "GET", f"{AUTHN}/tokenreviews", None
    yield "discovery-authorization", "GET", AUTHZ, None
    yield "discovery-authentication", "GET", AUTHN, None
    yield "discovery-authorization-group", "GET", "/apis/authorization.k8s.io", None
    # pods/log, up to the kubelet
    yield "setup-node", "POST", "/api/v1/nodes", {"metadata": {"name": "sim-node"}}
    yield (
        "setup-node-status",
        "PATCH",
        "/api/v1/nodes/sim-node/status",
        {
            "status": {
                "addresses": [
                    {"type": "InternalIP", "address": "127.0.0.1"},
                    {"type": "Hostname", "address": NODE_HOST},
                ],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
            }
        },
    )
    yield "setup-node-bare", "POST", "/api/v1/nodes", {"metadata": {"name": "bare-node"}}

    def pod(name: str, node: str | None = None, containers: int = 1) -> Obj:
        spec: Obj = {"containers": [{"name": f"c{i}", "image": "x"} for i in range(containers)]}
        if node:
            spec["nodeName"] = node
        return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}

    yield "setup-pending", "POST", PODS, pod("pending")
    yield "setup-two", "POST", PODS, pod("two", "sim-node", 2)
    yield "setup-lost", "POST", PODS, pod("lost", "ghost")
    yield "setup-bare", "POST", PODS, pod("bare", "bare-node")
    yield "setup-one", "POST", PODS, pod("one", "sim-node")
    for label, query in [
        ("unscheduled", "pending/log"),
        ("no-container", "two/log"),
        ("bad-container", "two/log?container=zz"),
        ("tail-negative", "one/log?tailLines=-1"),
        ("limit-zero", "one/log?limitBytes=0"),
        ("since-zero", "one/log?sinceSeconds=0"),
        ("since-both", "one/log?sinceSeconds=5&sinceTime=2026-01-01T00:00:00Z"),
        ("stream", "one/log?stream=Stdout"),
        ("two-errors", "one/log?tailLines=-1&limitBytes=0"),
        ("tail-not-a-number", "one/log?tailLines=abc"),
        ("since-time-garbage", "one/log?sinceTime=yesterday"),
        ("missing-node", "lost/log"),
        ("node-without-address", "bare/log"),
        ("kubelet-unreachable", "one/log?follow=maybe&tailLines=3&timestamps=true&limitBytes=7"),
        ("kubelet-unreachable-previous", "two/log?container=c1&previous=true&sinceSeconds=9"),
        ("missing-pod", "nope/log"),
    ]:
        yield f"log-{label}", "GET", f"{PODS}/{query}", None
    yield "log-post", "POST", f"{PODS}/one/log", {}
    yield "log-put", "PUT", f"{PODS}/one/log", {}


def connect(kubeconfig: Path) -> tuple[str, str, ssl.SSLContext]:
    config = yaml.safe_load(kubeconfig.read_text())
    cluster, user = config["clusters"][0]["cluster"], config["users"][0]["user"]
    if "certificate-authority-data" in cluster:
        ca = base64.b64decode(cluster["certificate-authority-data"]).decode()
        ctx = ssl.create_default_context(cadata=ca)
    else:
        ctx = ssl.create_default_context(cafile=cluster["certificate-authority"])
    return cluster["server"], user["token"], ctx


def ask(server: tuple[str, str, ssl.SSLContext], method: str, path: str, body: Any) -> Obj:
    url, token, ctx = server
    data = body if isinstance(body, bytes) else None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url + path, data=data, method=method)
    req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        ctype = "application/merge-patch+json" if method == "PATCH" else "application/json"
        req.add_header("Content-Type", ctype)
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
            code, text = resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        code, text = exc.code, exc.read().decode()
    text = text.replace(token, "<the server's token>")
    try:
        return {"code": code, "body": normalise(json.loads(text))}
    except json.JSONDecodeError:
        return {"code": code, "body": text}


def normalise(value: Any) -> Any:
    """Drop what differs by construction: managedFields, identities, versions, times, and
    the empty ``details`` upstream adds to a bare 404/405."""
    if isinstance(value, dict):
        out = {
            k: normalise(v)
            for k, v in value.items()
            if k not in ("managedFields", "uid", "resourceVersion", "creationTimestamp")
        }
        if out.get("kind") == "Status" and out.get("details") == {}:
            del out["details"]
        return out
    if isinstance(value, list):
        return [normalise(v) for v in value]
    return value


@pytest.fixture(scope="module")
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with ControlPlane(
        tmp_path_factory.mktemp("diffaccess"), binaries=BINARIES, unsafe_no_fsync=True
    ) as cp:
        yield cp


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_reviews_and_pod_logs_answer_as_kube_apiserver(
    kube: ControlPlane, apiserver: ServerProcess
) -> None:
    port = free_port()  # nothing listens there: the Node's kubelet port on both servers
    up, sp = connect(kube.kubeconfig), connect(apiserver.kubeconfig)
    same: list[str] = []
    differ: dict[str, tuple[Obj, Obj]] = {}
    for (label, method, path, body), (_, _, _, sp_body) in zip(
        requests(port, up[1]), requests(port, sp[1]), strict=True
    ):
        a, b = ask(up, method, path, body), ask(sp, method, path, sp_body)
        if label.startswith("setup-"):
            assert a["code"] < 300 and b["code"] < 300, (label, a, b)
            continue
        assert a["code"] == b["code"], (label, a, b)
        if a == b:
            same.append(label)
        else:
            differ[label] = (a, b)
    unexplained = {k: v for k, v in differ.items() if k not in KNOWN}
    assert not unexplained, json.dumps(unexplained, indent=1)[:4000]
    assert set(differ) == set(KNOWN), "a known difference is gone: update KNOWN and the docs"
    assert len(same) >= 45


def test_kubectl_auth_prints_the_same(
    kube: ControlPlane, apiserver: ServerProcess, tmp_path: Path
) -> None:
    up = Kubectl(kube.kubeconfig, tmp_path / "kc-up")
    sp = Kubectl(apiserver.kubeconfig, tmp_path / "kc-sp")
    for args in (
        ("auth", "can-i", "--list"),
        ("auth", "can-i", "create", "pods"),
        ("auth", "can-i", "get", "pods", "--subresource=log", "-n", "kube-system"),
        ("auth", "can-i", "get", "/version"),
        ("auth", "whoami"),
    ):
        a, b = up.run(*args, check=False), sp.run(*args, check=False)
        assert (a.returncode, a.stdout) == (b.returncode, b.stdout), args
    a = json.loads(up("auth", "whoami", "-o", "json"))
    b = json.loads(sp("auth", "whoami", "-o", "json"))
    assert normalise(a) == normalise(b)


def test_discovery_of_pods_log_and_the_review_groups(
    kube: ControlPlane, apiserver: ServerProcess
) -> None:
    """Legacy and aggregated discovery describe ``pods/log`` and the review groups'
    resources as kube-apiserver does."""
    up, sp = connect(kube.kubeconfig), connect(apiserver.kubeconfig)

    def legacy(server: tuple[str, str, ssl.SSLContext]) -> Obj:
        resources = ask(server, "GET", "/api/v1", None)["body"]["resources"]
        return next(r for r in resources if r["name"] == "pods/log")

    assert legacy(up) == legacy(sp)

    def aggregated(server: tuple[str, str, ssl.SSLContext], path: str) -> list[Obj]:
        url, token, ctx = server
        req = urllib.request.Request(url + path)
        req.add_header("Authorization", f"Bearer {token}")
        req.add_header(
            "Accept", "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
        )
        with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
            return list(json.loads(resp.read())["items"])

    def pods_log(items: list[Obj]) -> Obj:
        pods = next(r for r in items[0]["versions"][0]["resources"] if r["resource"] == "pods")
        return next(s for s in pods["subresources"] if s["subresource"] == "log")

    assert pods_log(aggregated(up, "/api")) == pods_log(aggregated(sp, "/api"))

    def review_groups(items: list[Obj]) -> dict[str, Any]:
        return {
            g["metadata"]["name"]: g["versions"]
            for g in items
            if g["metadata"]["name"] in ("authentication.k8s.io", "authorization.k8s.io")
        }

    assert review_groups(aggregated(up, "/apis")) == review_groups(aggregated(sp, "/apis"))
