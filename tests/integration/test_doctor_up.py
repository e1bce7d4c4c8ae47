"""``sliceplane doctor`` against ``sliceplane up``: each finding, broken as a user would.

One local cluster for the module (API server subprocess, controllers, scheduler, two
nodes, the process runtime: pods are real ``python -m http.server`` processes with real
readiness probes). Each test works in namespaces of its own, breaks one thing the way a
user does (a selector typo, a probe on a path the app does not serve, a wrong port name,
pods in another namespace, a slice written by hand, a node's zone label taken away, a
hand-written Endpoints edited, the controller stopped) and runs the
installed ``sliceplane doctor`` command, asserting the code, the objects and the exit
code. The controller is stopped by the last test, so it must stay last.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from doctor_harness import (
    BIN,
    check_broken_services,
    codes,
    doctor_json,
    eventually,
    finding,
    hand_made_slice,
    hand_written_endpoints,
    run_doctor,
    selectorless_service,
    until_finding,
    until_ok,
    web_service,
)

from sliceplane.api import errors
from sliceplane.client.client import Client
from sliceplane.cluster.up import ClusterConfig, LocalCluster
from sliceplane.doctor.diagnose import diagnose
from sliceplane.doctor.findings import Report
from sliceplane.doctor.gather import gather_service
from sliceplane.workloads.kubelet.processoptions import ProcessRuntimeOptions

Obj = dict[str, Any]

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def cluster(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalCluster]:
    config = ClusterConfig(
        data_dir=tmp_path_factory.mktemp("doctor-up"),
        listen="127.0.0.1:0",
        nodes=2,
        runtime="process",
        process=ProcessRuntimeOptions(backoff_initial=1.0, backoff_max=2.0, orphan_grace=1.0),
    )
    c = LocalCluster(config)
    await c.start()
    try:
        yield c
    finally:
        await c.stop()


def _client(cluster: LocalCluster) -> Client:
    assert cluster.client is not None
    return cluster.client


async def new_namespace(cluster: LocalCluster) -> str:
    name = f"doc-{uuid.uuid4().hex[:8]}"
    await _client(cluster).create("namespaces", {"metadata": {"name": name}})
    return name


@pytest_asyncio.fixture(loop_scope="module")
async def ns(cluster: LocalCluster) -> AsyncIterator[str]:
    name = await new_namespace(cluster)
    yield name
    await _delete_namespace(cluster, name)


async def _delete_namespace(cluster: LocalCluster, name: str) -> None:
    """Stop the namespace's pod processes (they would keep probing until the module ends).
    Housekeeping only: on a starved machine a slow answer is not a test failure, and
    every process dies with the cluster anyway."""
    client = _client(cluster)
    with contextlib.suppress(TimeoutError, errors.NotFound):
        for pod in (await client.list_all("pods", name)).items:
            await client.delete("pods", pod["metadata"]["name"], name, grace_period_seconds=0)


def web_pod(name: str, labels: dict[str, str], probe_path: str = "/") -> Obj:
    """``python -m http.server`` on the pod IP, port ``http`` (8080), a readiness probe."""
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "terminationGracePeriodSeconds": 2,
            "containers": [
                {
                    "name": "web",
                    "image": "python:3",
                    "command": [sys.executable, "-m", "http.server"],
                    "args": ["$(PORT)", "--bind", "$(POD_IP)"],
                    "ports": [{"name": "http", "containerPort": 8080}],
                    "readinessProbe": {
                        "httpGet": {"path": probe_path, "port": "http"},
                        "periodSeconds": 1,
                        "failureThreshold": 1,
                    },
                }
            ],
        },
    }


async def ready_pods(client: Client, ns: str, count: int) -> list[Obj]:
    async def probe() -> list[Obj] | None:
        pods = (await client.list_all("pods", ns)).items
        ok = [
            p
            for p in pods
            if any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in (p.get("status") or {}).get("conditions") or []
            )
        ]
        return ok if len(ok) >= count else None

    return await eventually(probe, 30, f"{count} ready pods in {ns}")


async def test_healthy_service_exits_0(cluster: LocalCluster, ns: str) -> None:
    client = _client(cluster)
    for i in (1, 2):
        await client.create("pods", web_pod(f"web-{i}", {"app": "web"}), ns)
    await client.create("services", web_service("web", {"app": "web"}), ns)
    await ready_pods(client, ns, 2)
    code, doc = await until_ok(client, cluster.kubeconfig, ns, "web")
    assert code == 0 and codes(doc, "error") == []
    assert doc["summary"] == {"selectedPods": 2, "readyPods": 2, "slices": 1, "readyEndpoints": 2}

    # The same through kubectl's plugin mechanism: kubectl finds kubectl-sliceplane on PATH,
    # KUBECONFIG names the cluster, -n the namespace.
    env = {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}"}
    env["KUBECONFIG"] = str(cluster.kubeconfig)
    proc = await asyncio.to_thread(
        subprocess.run,
        [str(BIN / "kubectl"), "sliceplane", "doctor", "service", "web", "-n", ns],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == f"service {ns}/web: OK: traffic can flow"

    # A namespace summary: one row for the Service, nothing wrong.
    code, out, err = await asyncio.to_thread(
        run_doctor, "namespace", ns, kubeconfig=cluster.kubeconfig
    )
    assert (code, err) == (0, "")
    assert out.splitlines()[1].split() == [ns, "web", "ok", "2/2", "-"]


async def test_selector_typo(cluster: LocalCluster, ns: str) -> None:
    client = _client(cluster)
    await client.create("pods", web_pod("payments-1", {"app": "payments-api"}), ns)
    await client.create("services", web_service("payments", {"app": "payment-api"}), ns)
    code, doc = await until_finding(
        client, cluster.kubeconfig, ns, "payments", "SelectorMatchesNoPods"
    )
    assert code == 1
    f = finding(doc, "SelectorMatchesNoPods")
    assert f["severity"] == "error"
    assert f["objects"] == [f"service/{ns}/payments", f"pod/{ns}/payments-1"]
    assert "app=payment-api (pod has app=payments-api)" in f["evidence"][0]
    assert '{"spec":{"selector":{"app":"payments-api"}}}' in f["fix"]


async def test_failing_readiness_probe(cluster: LocalCluster, ns: str) -> None:
    client = _client(cluster)
    await client.create("pods", web_pod("web-1", {"app": "web"}, probe_path="/healthz"), ns)
    await client.create("services", web_service("web", {"app": "web"}), ns)

    async def probed() -> Report | None:
        report = diagnose(await gather_service(client, ns, "web"))
        found = [f for f in report.findings if f.code == "PodsNotReady"]
        # The first probe may run before the pod's server listens (connection refused, most
        # often on a loaded machine); wait for the failure the wrong path causes, a 404.
        return (
            report
            if found
            and any("Readiness probe failed" in e and "404" in e for e in found[0].evidence)
            else None
        )

    await eventually(probed, 30, "the probe's 404 in the doctor's evidence")
    code, doc = await doctor_json(cluster.kubeconfig, ns, "web")
    assert code == 1
    f = finding(doc, "PodsNotReady")
    assert f["severity"] == "error" and f["objects"] == [f"pod/{ns}/web-1"]
    assert any("404" in e for e in f["evidence"]), f["evidence"]
    assert f"kubectl logs web-1 -n {ns}" in f["fix"]


async def test_wrong_named_port(cluster: LocalCluster, ns: str) -> None:
    client = _client(cluster)
    await client.create("pods", web_pod("web-1", {"app": "web"}), ns)
    await client.create("services", web_service("web", {"app": "web"}, target="htttp"), ns)
    await ready_pods(client, ns, 1)
    code, doc = await until_finding(client, cluster.kubeconfig, ns, "web", "NamedTargetPortMissing")
    assert code == 1
    f = finding(doc, "NamedTargetPortMissing")
    assert f["severity"] == "error"
    assert f["objects"] == [f"service/{ns}/web", f"pod/{ns}/web-1"]
    assert "did you mean 'http'?" in f["fix"]


async def test_pods_in_another_namespace(cluster: LocalCluster, ns: str) -> None:
    client = _client(cluster)
    other = await new_namespace(cluster)
    try:
        await client.create("pods", web_pod("api-1", {"app": "api"}), other)
        await client.create("services", web_service("api", {"app": "api"}), ns)
        code, doc = await until_finding(
            client, cluster.kubeconfig, ns, "api", "PodsInOtherNamespace"
        )
        assert code == 1
        f = finding(doc, "PodsInOtherNamespace")
        assert f["objects"] == [f"pod/{other}/api-1"]
        assert codes(doc)[:2] == ["PodsInOtherNamespace", "SelectorMatchesNoPods"]
    finally:
        await _delete_namespace(cluster, other)


async def test_slice_written_by_hand(cluster: LocalCluster, ns: str) -> None:
    client = _client(cluster)
    await client.create("pods", web_pod("web-1", {"app": "web"}), ns)
    await client.create("services", web_service("web", {"app": "web"}), ns)
    await ready_pods(client, ns, 1)
    await until_ok(client, cluster.kubeconfig, ns, "web")
    await client.create("endpointslices", hand_made_slice("web-manual", "web", "127.0.0.250"), ns)
    code, doc = await until_finding(client, cluster.kubeconfig, ns, "web", "SliceNotManaged")
    assert code == 1
    f = finding(doc, "SliceNotManaged")
    assert f["severity"] == "error" and f["objects"] == [f"endpointslice/{ns}/web-manual"]
    assert any("127.0.0.250" in e for e in f["evidence"])


async def test_more_breaks_in_one_namespace(cluster: LocalCluster, ns: str) -> None:
    client = _client(cluster)
    await client.create("pods", web_pod("web-1", {"app": "web"}), ns)
    # A pod that ignores SIGTERM and has a minute to go: terminating for that long.
    stubborn = {
        "metadata": {"name": "term-1", "labels": {"app": "term"}},
        "spec": {
            "terminationGracePeriodSeconds": 60,
            "containers": [
                {
                    "name": "app",
                    "image": "python:3",
                    "command": [
                        sys.executable,
                        "-c",
                        "import signal,time\n"
                        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\ntime.sleep(3600)",
                    ],
                    "ports": [{"containerPort": 8080}],
                }
            ],
        },
    }
    await client.create("pods", stubborn, ns)
    await client.create("services", web_service("term", {"app": "term"}, target=8080), ns)
    await ready_pods(client, ns, 2)
    await client.delete("pods", "term-1", ns)
    doc = await check_broken_services(client, cluster.kubeconfig, ns, {"term": "PodsTerminating"})
    term = next(s for s in doc["services"] if s["service"]["name"] == "term")
    assert finding(term, "PodsTerminating")["objects"] == [f"pod/{ns}/term-1"]
    await client.delete("pods", "term-1", ns, grace_period_seconds=0)

    async def gone() -> bool | None:
        pods = (await client.list_all("pods", ns)).items
        return not any(p["metadata"]["name"] == "term-1" for p in pods) or None

    await eventually(gone, 30, "the stubborn pod to be gone")


async def test_headless_dns_names(cluster: LocalCluster, ns: str) -> None:
    client = _client(cluster)
    pod = web_pod("db-0", {"app": "db"})
    pod["spec"].update(hostname="db-0", subdomain="db")
    await client.create("pods", pod, ns)
    loner = web_pod("db-x", {"app": "db"})
    loner["spec"]["subdomain"] = "db"  # no hostname: no per-pod name
    await client.create("pods", loner, ns)
    svc = web_service("db", {"app": "db"})
    svc["spec"]["clusterIP"] = "None"
    await client.create("services", svc, ns)
    (ready, _) = sorted(await ready_pods(client, ns, 2), key=lambda p: p["metadata"]["name"])
    ip = ready["status"]["podIP"]
    await until_ok_but_info(client, ns)
    code, doc = await until_finding(client, cluster.kubeconfig, ns, "db", "HeadlessDnsNames")
    assert code == 0
    names = finding(doc, "HeadlessDnsNames")["evidence"]
    assert f"db-0.db.{ns}.svc.cluster.local. A {ip}" in names
    assert any(n.startswith(f"db.{ns}.svc.cluster.local. A ") and ip in n for n in names)
    mismatch = finding(doc, "SubdomainMismatch")
    assert mismatch["severity"] == "warning" and mismatch["objects"] == [f"pod/{ns}/db-x"]


async def until_ok_but_info(client: Client, ns: str) -> None:
    async def probe() -> bool | None:
        report = diagnose(await gather_service(client, ns, "db"))
        return {f.code for f in report.findings if f.severity != "info"} == {
            "SubdomainMismatch"
        } or None

    await eventually(probe, 30, "slices of the headless Service")


ZONE = "topology.kubernetes.io/zone"


async def _set_zone(client: Client, node: str, zone: str | None) -> None:
    """``kubectl label node NODE topology.kubernetes.io/zone=ZONE`` (``None``: ``zone-``)."""
    await client.patch("nodes", node, {"metadata": {"labels": {ZONE: zone}}})


async def _slices(client: Client, ns: str, service: str) -> list[Obj]:
    return (
        await client.list_all(
            "endpointslices", ns, label_selector=f"kubernetes.io/service-name={service}"
        )
    ).items


async def test_node_without_zone_and_hints_dropped(cluster: LocalCluster, ns: str) -> None:
    """A user labels the nodes by hand and forgets one: node-2 has no zone when the pods
    land on it. The PreferSameZone Service cannot prefer anything, the topology-mode Auto
    Service gets no hints; both still serve (warnings, exit 0). Then the label comes back:
    the controller re-adds hints only when the Service or its pods change (upstream's
    topology cache re-queues only Services that still have hints), so the live slices stay
    without them and the doctor says so."""
    client = _client(cluster)
    await _set_zone(client, "node-2", None)
    try:
        for i, node in ((1, "node-1"), (2, "node-2")):
            pod = web_pod(f"web-{i}", {"app": "web"})
            pod["spec"]["nodeName"] = node
            await client.create("pods", pod, ns)
        close = web_service("close", {"app": "web"})
        close["spec"]["trafficDistribution"] = "PreferSameZone"
        await client.create("services", close, ns)
        auto = web_service("auto", {"app": "web"})
        auto["metadata"]["annotations"] = {"service.kubernetes.io/topology-mode": "Auto"}
        await client.create("services", auto, ns)
        await ready_pods(client, ns, 2)

        code, doc = await until_finding(
            client, cluster.kubeconfig, ns, "close", "TrafficDistributionIneffective"
        )
        assert code == 0 and codes(doc, "error") == []
        zoneless = finding(doc, "NodeWithoutZone")
        assert zoneless["severity"] == "warning" and zoneless["objects"] == ["node/node-2"]
        assert f"kubectl label node node-2 {ZONE}=" in zoneless["fix"]
        assert (
            "1 ready endpoint(s) have no zone"
            in finding(doc, "TrafficDistributionIneffective")["message"]
        )
        assert sorted(codes(doc)) == ["NodeWithoutZone", "TrafficDistributionIneffective"]

        code, doc = await until_finding(client, cluster.kubeconfig, ns, "auto", "HintsDropped")
        assert code == 0 and codes(doc, "error") == []
        dropped = finding(doc, "HintsDropped")
        assert "Insufficient Node information" in dropped["message"], dropped
        assert dropped["objects"][0] == f"service/{ns}/auto"
        assert any(o.startswith(f"endpointslice/{ns}/auto-") for o in dropped["objects"][1:])
        assert finding(doc, "NodeWithoutZone")["objects"] == ["node/node-2"]
        assert not [
            ep
            for es in await _slices(client, ns, "auto")
            for ep in es["endpoints"]
            if ep.get("hints")
        ]
    finally:
        await _set_zone(client, "node-2", "zone-b")

    # The zone is back; the allocator would hint both endpoints now, the live slices have
    # none (the controller was never told to look again), seconds later still.
    await asyncio.sleep(2)
    code, doc = await until_finding(client, cluster.kubeconfig, ns, "auto", "HintsDropped")
    dropped = finding(doc, "HintsDropped")
    assert (
        code == 0 and "2 ready endpoint(s) in the live slices have no hints" in dropped["message"]
    ), dropped
    assert "NodeWithoutZone" not in codes(doc)
    assert "kubectl annotate service auto" in dropped["fix"]
    # The PreferSameZone Service's slice still says web-2 has no zone and no hint: kube-proxy
    # ignores every hint of the Service until the controller rewrites it.
    code, doc = await until_finding(
        client, cluster.kubeconfig, ns, "close", "TrafficDistributionIneffective"
    )
    assert code == 0
    lag = finding(doc, "TrafficDistributionIneffective")
    assert "1 ready endpoint(s) in the live slices have no zone hint (web-2)" in lag["message"]
    assert "kubectl annotate service close" in lag["fix"]
    stale = finding(doc, "SlicesStale")
    assert stale["severity"] == "warning"
    assert any("(pod web-2)" in e and "zone=None, should be zone-b" in e for e in stale["evidence"])
    assert "does not rewrite endpoints on node changes" in stale["fix"]
    assert sorted(codes(doc)) == ["SlicesStale", "TrafficDistributionIneffective"]

    # Touching the Services (what the fixes suggest) makes the controller write them.
    for name in ("auto", "close"):
        await client.patch(
            "services", name, {"metadata": {"annotations": {"example.com/touch": "1"}}}, ns
        )
        await until_ok(client, cluster.kubeconfig, ns, name)
        hinted = [
            ep
            for es in await _slices(client, ns, name)
            for ep in es["endpoints"]
            if (ep.get("hints") or {}).get("forZones")
        ]
        assert len(hinted) == 2, name


async def test_controller_stopped_is_the_last_test(cluster: LocalCluster, ns: str) -> None:
    client = _client(cluster)
    await client.create("pods", web_pod("web-1", {"app": "web"}), ns)
    await client.create("services", web_service("web", {"app": "web"}), ns)
    (web1,) = await ready_pods(client, ns, 1)
    # A selector-less Service whose Endpoints a user writes by hand, pointing at web-1;
    # the mirroring controller copies it into a slice.
    await client.create("services", selectorless_service("legacy"), ns)
    await client.create("endpoints", hand_written_endpoints("legacy", web1["status"]["podIP"]), ns)
    await until_ok(client, cluster.kubeconfig, ns, "web")
    await until_ok(client, cluster.kubeconfig, ns, "legacy")

    await cluster.stop_part("endpoint-controllers")
    # A second pod of the old Service: its slices fall behind.
    await client.create("pods", web_pod("web-2", {"app": "web"}), ns)
    web2 = next(p for p in await ready_pods(client, ns, 2) if p["metadata"]["name"] == "web-2")
    code, doc = await until_finding(client, cluster.kubeconfig, ns, "web", "SlicesStale")
    assert code == 1
    stale = finding(doc, "SlicesStale")
    assert stale["severity"] == "error" and f"endpointslice/{ns}/" in stale["objects"][1]
    assert any(e.startswith("missing: ") and "(pod web-2)" in e for e in stale["evidence"])

    # A new Service: nobody writes its slices at all.
    await client.create("services", web_service("fresh", {"app": "web"}), ns)
    code, doc = await until_finding(client, cluster.kubeconfig, ns, "fresh", "SlicesMissing")
    assert code == 1
    assert finding(doc, "SlicesMissing")["objects"] == [f"service/{ns}/fresh"]
    assert "EndpointsStale" in codes(doc)  # the Endpoints controller is gone too

    # The user moves the hand-written Endpoints to web-2: the mirrored slice still sends
    # every connection to web-1, traffic to the wrong place.
    old_ip, new_ip = web1["status"]["podIP"], web2["status"]["podIP"]
    moved = {"subsets": hand_written_endpoints("legacy", new_ip)["subsets"]}
    await client.patch("endpoints", "legacy", moved, ns)  # a merge patch replaces the list
    code, doc = await until_finding(client, cluster.kubeconfig, ns, "legacy", "SlicesStale")
    assert code == 1
    stale = finding(doc, "SlicesStale")
    assert stale["severity"] == "error"
    assert stale["objects"][:2] == [f"service/{ns}/legacy", f"endpoints/{ns}/legacy"]
    assert stale["objects"][2].startswith(f"endpointslice/{ns}/legacy-")
    assert f"missing: {new_ip}, should be ready=true" in stale["evidence"]
    assert any(e.startswith(f"extra: {old_ip} in legacy-") for e in stale["evidence"])
    assert "endpointslice-mirroring-controller" in stale["fix"]

    # A new hand-written Endpoints: nothing mirrors it at all.
    await client.create("services", selectorless_service("legacy-new"), ns)
    await client.create("endpoints", hand_written_endpoints("legacy-new", new_ip), ns)
    code, doc = await until_finding(client, cluster.kubeconfig, ns, "legacy-new", "SlicesMissing")
    assert code == 1
    assert finding(doc, "SlicesMissing")["objects"] == [
        f"service/{ns}/legacy-new",
        f"endpoints/{ns}/legacy-new",
    ]
