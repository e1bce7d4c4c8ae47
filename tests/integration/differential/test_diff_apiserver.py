"""Differential test of the API server: sliceplane's against kube-apiserver.

(a) one kubectl session (get/describe/create -f/apply twice/label/annotate/scale/delete on
    namespaces, services, endpointslices, deployments and pods) run against both servers,
    outputs compared after normalising names, ages, UIDs, IPs and resourceVersions;
(b) a corpus of valid and invalid EndpointSlices and Services (upstream's validation test
    cases plus seeded random mutations of valid objects) created (dry run) through
    sliceplane's client against both: accept/reject must agree and so must the (field,
    reason) pairs of the causes. Message-only differences are recorded in
    build/differential/apiserver-report.json, not failed.

kube-apiserver runs with kube-controller-manager's garbage collector and namespace
controller only, which is what sliceplane's API server process has built in.
"""

from __future__ import annotations

import asyncio
import copy
import json
import random
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from diffkit import BINARIES, MISSING, SUPPORT_CONTROLLERS, write_report
from harness import Kubectl, ServerProcess

from sliceplane.api import errors
from sliceplane.api.meta import parse_time
from sliceplane.api.resources import BY_PLURAL
from sliceplane.client.client import Client
from sliceplane.testenv import ControlPlane

pytestmark = [pytest.mark.skipif(bool(MISSING), reason=MISSING), pytest.mark.timeout(300)]

Obj = dict[str, Any]
REPORT: dict[str, Any] = {"validation": {}, "kubectl": []}


@pytest.fixture(scope="module")
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    cp = ControlPlane(
        tmp_path_factory.mktemp("diffapi"),
        binaries=BINARIES,
        with_controller_manager=True,
        controllers=SUPPORT_CONTROLLERS,
        unsafe_no_fsync=True,
    )
    with cp:
        yield cp
    write_report("apiserver-report.json", REPORT)


@pytest.fixture
async def clients(
    kube: ControlPlane, apiserver: ServerProcess
) -> AsyncIterator[tuple[Client, Client]]:
    up = await Client.connect(kube.kubeconfig)
    sp = await Client.connect(apiserver.kubeconfig)
    try:
        yield up, sp
    finally:
        await up.close()
        await sp.close()


# --------------------------------------------------------------------------- corpus


def slice_obj(name: str = "good-slice", **over: Any) -> Obj:
    obj: Obj = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": name, "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4",
        "endpoints": [
            {
                "addresses": ["10.1.2.3"],
                "conditions": {"ready": True, "serving": True, "terminating": False},
                "hostname": "pod-1",
                "nodeName": "node-1",
                "zone": "zone-a",
                "targetRef": {"kind": "Pod", "name": "pod-1", "namespace": "default"},
            }
        ],
        "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
    }
    obj.update(over)
    return obj


def ep(**over: Any) -> Obj:
    e: Obj = {"addresses": ["10.1.2.3"]}
    e.update(over)
    return e


def port(name: str | None = "http", num: int = 80, protocol: str | None = "TCP", **kw: Any) -> Obj:
    p: Obj = {"port": num, **kw}
    if name is not None:
        p["name"] = name
    if protocol is not None:
        p["protocol"] = protocol
    return p


def service_obj(name: str = "web", **spec: Any) -> Obj:
    s: Obj = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": {"app": "web"}},
        "spec": {
            "selector": {"app": "web"},
            "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
        },
    }
    s["spec"].update(spec)
    return s


def endpointslice_cases() -> dict[str, Obj]:
    """Upstream's TestValidateEndpointSlice cases (reference §6.10), adapted to v1 JSON."""
    c: dict[str, Obj] = {}
    c["good-slice"] = slice_obj()
    c["good-ipv6"] = slice_obj(addressType="IPv6", endpoints=[ep(addresses=["fd00::1"])])
    c["good-fqdns"] = slice_obj(
        addressType="FQDN",
        endpoints=[ep(addresses=["foo.example.com", "example.com", "example.com."])],
    )
    c["all-protocols"] = slice_obj(
        ports=[port("tcp", 80, "TCP"), port("udp", 80, "UDP"), port("sctp", 80, "SCTP")]
    )
    c["app-protocols"] = slice_obj(
        ports=[
            port(f"p{i}", 80 + i, appProtocol=ap)
            for i, ap in enumerate(["HTTP", "https", "my-protocol", "example.com/custom-protocol"])
        ]
    )
    c["empty-port-name"] = slice_obj(ports=[port("", 80), port("http", 81)])
    c["long-port-name"] = slice_obj(ports=[port("a" * 63)])
    c["empty-ports-and-endpoints"] = slice_obj(ports=[], endpoints=[])
    c["max-endpoints"] = slice_obj(endpoints=[ep() for _ in range(1000)])
    c["max-ports"] = slice_obj(ports=[port(f"p{i}", 1 + i % 65535) for i in range(20000)])
    c["max-addresses"] = slice_obj(
        endpoints=[ep(addresses=[f"10.0.0.{i + 1}" for i in range(100)])]
    )
    c["max-topology-keys"] = slice_obj(
        endpoints=[ep(deprecatedTopology={f"k{i}": "v" for i in range(16)})]
    )
    c["valid-hints"] = slice_obj(endpoints=[ep(hints={"forZones": [{"name": "zone-a"}]})])
    c["duplicate-port-name"] = slice_obj(ports=[port("", 80), port("", 81)])
    c["bad-port-name-caps"] = slice_obj(ports=[port("aCapital")])
    c["bad-port-name-chars"] = slice_obj(ports=[port("almost_valid")])
    c["bad-port-name-length"] = slice_obj(ports=[port("a" * 64)])
    c["invalid-port-protocol"] = slice_obj(ports=[port("http", 80, "foo")])
    c["missing-port-protocol"] = slice_obj(ports=[port("http", 80, None)])
    c["too-many-ports"] = slice_obj(ports=[port(f"p{i}", 1 + i % 65535) for i in range(20001)])
    c["too-many-endpoints"] = slice_obj(endpoints=[ep() for _ in range(1001)])
    c["no-endpoint-addresses"] = slice_obj(endpoints=[ep(addresses=[])])
    c["too-many-addresses"] = slice_obj(
        endpoints=[ep(addresses=[f"10.0.0.{i + 1}" for i in range(101)])]
    )
    c["bad-topology-key"] = slice_obj(endpoints=[ep(deprecatedTopology={"--INVALID": "v"})])
    c["too-many-topology-keys"] = slice_obj(
        endpoints=[ep(deprecatedTopology={f"k{i}": "v" for i in range(17)})]
    )
    c["bad-hostname"] = slice_obj(endpoints=[ep(hostname="--INVALID")])
    c["bad-meta"] = slice_obj(name="*&^")
    c["bad-ip"] = slice_obj(endpoints=[ep(addresses=["123.456.789.012"])])
    c["bad-ipv4"] = slice_obj(endpoints=[ep(addresses=["123.456.789.012", "2001:db8::"])])
    c["bad-ipv6"] = slice_obj(
        addressType="IPv6", endpoints=[ep(addresses=["123.456.789.012", "10.1.2.3"])]
    )
    c["bad-fqdns"] = slice_obj(
        addressType="FQDN",
        endpoints=[
            ep(
                addresses=[
                    "foo.*",
                    "FOO.example.com",
                    "underscores_are_bad.example.com",
                    "*.example.com",
                ]
            )
        ],
    )
    c["bad-app-protocol"] = slice_obj(ports=[port("http", 80, appProtocol="--")])
    c["invalid-hints"] = slice_obj(endpoints=[ep(hints={"forZones": [{"name": "inv@lid"}]})])
    c["overlapping-hints"] = slice_obj(
        endpoints=[ep(hints={"forZones": [{"name": "zone-a"}, {"name": "zone-a"}]})]
    )
    c["too-many-hints"] = slice_obj(
        endpoints=[ep(hints={"forZones": [{"name": f"zone-{i}"} for i in range(9)]})]
    )
    c["node-hints"] = slice_obj(endpoints=[ep(hints={"forNodes": [{"name": "node-1"}]})])
    c["too-many-node-hints"] = slice_obj(
        endpoints=[ep(hints={"forNodes": [{"name": f"node-{i}"} for i in range(9)]})]
    )
    c["empty-everything"] = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {},
        "addressType": "",
        "endpoints": [ep(addresses=[])],
    }
    c["missing-address-type"] = slice_obj(addressType=None)
    c["unknown-address-type"] = slice_obj(addressType="IP")
    c["zone-key-topology"] = slice_obj(
        endpoints=[ep(deprecatedTopology={"topology.kubernetes.io/zone": "a"})]
    )
    c["bad-node-name"] = slice_obj(endpoints=[ep(nodeName="Node_1")])
    c["bad-zone"] = slice_obj(endpoints=[ep(zone="zone a")])
    for label, ip, family in [
        ("loopback-v4", "127.0.0.1", "IPv4"),
        ("link-local-v4", "169.254.1.1", "IPv4"),
        ("link-local-multicast-v4", "224.0.0.1", "IPv4"),
        ("unspecified-v4", "0.0.0.0", "IPv4"),
        ("loopback-v6", "::1", "IPv6"),
        ("link-local-v6", "fe80::1", "IPv6"),
        ("link-local-multicast-v6", "ff02::1", "IPv6"),
        ("non-canonical-v6", "fd00:0::1", "IPv6"),
        ("leading-zero-v4", "010.1.2.3", "IPv4"),
        ("v4-in-v6", "::ffff:10.1.2.3", "IPv6"),
    ]:
        c[f"special-ip-{label}"] = slice_obj(addressType=family, endpoints=[ep(addresses=[ip])])
    return c


def service_cases() -> dict[str, Obj]:
    c: dict[str, Obj] = {}
    c["good-service"] = service_obj()
    c["headless"] = service_obj(clusterIP="None")
    c["headless-no-ports"] = service_obj(clusterIP="None", ports=[])
    c["external-name"] = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "ext"},
        "spec": {"type": "ExternalName", "externalName": "example.com"},
    }
    c["external-name-missing"] = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "ext"},
        "spec": {"type": "ExternalName"},
    }
    c["external-name-bad"] = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "ext"},
        "spec": {"type": "ExternalName", "externalName": "-bad_name-"},
    }
    c["no-ports"] = service_obj(ports=[])
    c["port-zero"] = service_obj(ports=[{"port": 0}])
    c["port-too-big"] = service_obj(ports=[{"port": 70000}])
    c["target-port-too-big"] = service_obj(ports=[{"port": 80, "targetPort": 70000}])
    c["target-port-bad-name"] = service_obj(ports=[{"port": 80, "targetPort": "Bad_Name"}])
    c["duplicate-port-names"] = service_obj(
        ports=[{"name": "a", "port": 80}, {"name": "a", "port": 81}]
    )
    c["duplicate-ports"] = service_obj(ports=[{"name": "a", "port": 80}, {"name": "b", "port": 80}])
    c["unnamed-multi-ports"] = service_obj(ports=[{"port": 80}, {"port": 81}])
    c["bad-port-name"] = service_obj(ports=[{"name": "Bad", "port": 80}])
    c["bad-protocol"] = service_obj(ports=[{"port": 80, "protocol": "HTTP"}])
    c["bad-selector-key"] = service_obj(selector={"bad key": "x"})
    c["bad-selector-value"] = service_obj(selector={"app": "not valid!"})
    c["bad-cluster-ip"] = service_obj(clusterIP="10.96.0.300")
    c["cluster-ip-outside-range"] = service_obj(clusterIP="192.168.1.1")
    c["bad-type"] = service_obj(type="Magic")
    c["bad-session-affinity"] = service_obj(sessionAffinity="Sticky")
    c["node-port-out-of-range"] = service_obj(type="NodePort", ports=[{"port": 80, "nodePort": 80}])
    c["node-port-on-cluster-ip"] = service_obj(ports=[{"port": 80, "nodePort": 30080}])
    c["bad-ip-family"] = service_obj(ipFamilies=["IPv5"])
    c["bad-ip-family-policy"] = service_obj(ipFamilyPolicy="Sometimes")
    c["require-dual-stack-single-cidr"] = service_obj(ipFamilyPolicy="RequireDualStack")
    c["bad-external-traffic-policy"] = service_obj(externalTrafficPolicy="Local")
    c["bad-internal-traffic-policy"] = service_obj(internalTrafficPolicy="Nowhere")
    c["bad-traffic-distribution"] = service_obj(trafficDistribution="Anywhere")
    c["bad-name"] = service_obj(name="Web_Service")
    c["name-starting-with-digit"] = service_obj(name="1web")
    c["bad-label"] = service_obj()
    c["bad-label"]["metadata"]["labels"] = {"app": "-bad-"}
    c["bad-annotation-key"] = service_obj()
    c["bad-annotation-key"]["metadata"]["annotations"] = {"bad key": "x"}
    c["bad-external-ips"] = service_obj(externalIPs=["not-an-ip"])
    c["bad-load-balancer-source-ranges"] = service_obj(
        type="LoadBalancer", loadBalancerSourceRanges=["10.0.0.0/33"]
    )
    c["session-affinity-timeout"] = service_obj(
        sessionAffinity="ClientIP",
        sessionAffinityConfig={"clientIP": {"timeoutSeconds": 0}},
    )
    c["bad-app-protocol"] = service_obj(ports=[{"port": 80, "appProtocol": "--"}])
    return c


# --------------------------------------------------------------------------- mutations

WRONG_VALUES: list[Any] = [
    "x",
    -1,
    0,
    70000,
    True,
    None,
    [],
    {},
    ["a"],
    {"a": 1},
    "10.0.0.999",
    "::1",
    "Bad_Name",
    "a" * 70,
    1.5,
]


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if prefix == () and k in ("apiVersion", "kind"):
                continue
            out.append((*prefix, k))
            out += _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out.append((*prefix, i))
            out += _paths(v, (*prefix, i))
    return out


def _set(obj: Any, path: tuple[Any, ...], value: Any, delete: bool = False) -> None:
    for p in path[:-1]:
        obj = obj[p]
    if delete:
        if isinstance(obj, dict):
            obj.pop(path[-1], None)
        else:
            del obj[path[-1]]
    else:
        obj[path[-1]] = value


def mutate(base: Obj, rnd: random.Random) -> tuple[Obj, list[str]]:
    """1 to 3 random mutations: wrong types and values, deletions, duplicated list items."""
    obj = copy.deepcopy(base)
    what: list[str] = []
    for _ in range(rnd.randint(1, 3)):
        paths = _paths(obj)
        if not paths:
            break
        path = rnd.choice(paths)
        roll = rnd.random()
        if roll < 0.2:
            _set(obj, path, None, delete=True)
            what.append(f"delete {path}")
        elif roll < 0.3:
            parent: Any = obj
            for p in path[:-1]:
                parent = parent[p]
            if isinstance(parent, list) and parent:
                parent.extend(copy.deepcopy(parent) * rnd.choice([1, 60]))
                what.append(f"repeat items of {path[:-1]}")
                continue
            _set(obj, path, [], delete=False)
            what.append(f"{path} = []")
        else:
            value = rnd.choice(WRONG_VALUES)
            _set(obj, path, copy.deepcopy(value))
            what.append(f"{path} = {json.dumps(value)[:20]}")
    return obj, what


def mutation_cases(seed: int) -> dict[str, Obj]:
    rnd = random.Random(seed)
    out: dict[str, Obj] = {}
    for i in range(100):
        base = slice_obj() if i % 2 == 0 else service_obj()
        obj, what = mutate(base, rnd)
        out[f"mut-{seed}-{i}-{obj.get('kind')}: {'; '.join(what)}"] = obj
    return out


# --------------------------------------------------------------------------- comparison


async def outcome(c: Client, ns: str, obj: Obj) -> Obj:
    """Create for real (dry run skips upstream's node-port range check), then delete."""
    resource = "endpointslices" if obj.get("kind") == "EndpointSlice" else "services"
    try:
        created = await c.create(resource, obj, ns)
    except errors.StatusError as exc:
        causes = ((exc.details or {}).get("causes")) or []
        return {
            "accepted": False,
            "code": exc.code,
            "reason": exc.reason,
            "causes": sorted({(c.get("field", ""), c.get("reason", "")) for c in causes}),
            "messages": sorted(str(c.get("message", "")) for c in causes),
            "message": exc.message,
        }
    await c.delete(resource, created["metadata"]["name"], ns)
    return {"accepted": True}


def compare_outcomes(a: Obj, b: Obj) -> list[str]:
    if a["accepted"] != b["accepted"]:
        return [f"accepted: upstream {a['accepted']} sliceplane {b['accepted']}"]
    if a["accepted"]:
        return []
    out = []
    if (a["code"], a["reason"]) != (b["code"], b["reason"]):
        out.append(
            f"status: upstream {a['code']} {a['reason']} sliceplane {b['code']} {b['reason']}"
        )
    if a["causes"] != b["causes"]:
        out.append(f"causes: upstream {a['causes']} sliceplane {b['causes']}")
    return out


async def _run_corpus(
    clients: tuple[Client, Client], corpus: dict[str, Obj], report_key: str
) -> list[str]:
    up, sp = clients
    ns = f"v-{uuid.uuid4().hex[:6]}"
    await asyncio.gather(
        up.create("namespaces", {"metadata": {"name": ns}}),
        sp.create("namespaces", {"metadata": {"name": ns}}),
    )
    failures: list[str] = []
    report: dict[str, Any] = {}
    sem = asyncio.Semaphore(8)

    async def one(index: int, name: str, obj: Obj) -> None:
        meta = obj.get("metadata")
        if isinstance(meta, dict) and meta.get("name") in ("good-slice", "web", "ext"):
            obj = {**obj, "metadata": {**meta, "name": f"{meta['name']}-{index}"}}
        async with sem:
            a, b = await asyncio.gather(outcome(up, ns, obj), outcome(sp, ns, obj))
        problems = compare_outcomes(a, b)
        entry: Obj = {"upstream": a, "sliceplane": b}
        if problems:
            entry["divergence"] = problems
            failures.append(f"{name}: " + "; ".join(problems))
        elif not a["accepted"] and (a["messages"], a["message"]) != (b["messages"], b["message"]):
            entry["message_difference"] = True
        report[name] = entry

    await asyncio.gather(*(one(i, n, o) for i, (n, o) in enumerate(corpus.items())))
    REPORT["validation"][report_key] = report
    return failures


# Divergences that are documented in docs/upstream-differences.md (case name prefix ->
# the row there); anything else fails.
KNOWN: dict[str, str] = {
    # Service without metadata.name: kube-apiserver allocates the ClusterIP before
    # validating, and its IPAddress object (parentRef.name "") is rejected, so the only cause
    # is spec.clusterIPs; sliceplane reports metadata.name Required (and any other error).
    "Service without a name": "upstream-differences: nameless Service",
    # JSON null as a label/annotation value: Go decodes it as "" (accepted); sliceplane
    # rejects it ("must be a string").
    "null in a string map": "upstream-differences: null map values",
}


def _classify(name: str, failure: str) -> str:
    """Name the documented difference a divergence falls under, or return the failure."""
    if "spec.clusterIPs', 'FieldValueInvalid')] sliceplane [('metadata.name'" in failure:
        return "Service without a name"
    if "= null" in name and "accepted: upstream True sliceplane False" in failure:
        return "null in a string map"
    return failure


def _unexplained(failures: list[str]) -> list[str]:
    return [f for f in failures if _classify(f, f) not in KNOWN]


async def test_validation_endpointslices(clients: tuple[Client, Client]) -> None:
    failures = await _run_corpus(clients, endpointslice_cases(), "endpointslices")
    assert not _unexplained(failures), "\n".join(sorted(failures))


async def test_validation_services(clients: tuple[Client, Client]) -> None:
    failures = await _run_corpus(clients, service_cases(), "services")
    assert not _unexplained(failures), "\n".join(sorted(failures))


@pytest.mark.parametrize("seed", [4101, 4102])
async def test_validation_random_mutations(clients: tuple[Client, Client], seed: int) -> None:
    failures = await _run_corpus(clients, mutation_cases(seed), f"mutations-{seed}")
    assert not _unexplained(failures), "\n".join(sorted(failures))


# --------------------------------------------------------------------------- refusals

#: Requests no route serves as sent, and the answer each gets: a Status 404/405 with
#: empty details under a served group version, Go's plain 404 page elsewhere, 405 for a
#: method a subresource is not served for (before the object is looked up).
REFUSED = [
    ("GET", "/api/v1/namespaces/default/foos"),
    ("GET", "/api/v1/pods/x"),
    ("GET", "/api/v2/pods"),
    ("GET", "/apis/apps/v1/foo"),
    ("GET", "/apis/apps/v2/deployments"),
    ("GET", "/apis/nope/v1/things"),
    ("GET", "/apis/nope"),
    ("GET", "/nope"),
    ("GET", "/metrics/x"),
    ("GET", "/version/x"),
    ("GET", "/openapi/v2/x"),
    ("GET", "/openapi/v3/nope"),
    ("GET", "/healthz/nope"),
    ("GET", "/healthz/"),
    ("GET", "/readyz/informer-sync"),
    ("GET", "/api/v1/namespaces/default/pods/x/bogus"),
    ("GET", "/api/v1/namespaces/default/pods/x/status/extra"),
    ("GET", "/api/v1/namespaces/default/pods/x/binding"),
    ("PUT", "/api/v1/namespaces/default/pods/x/binding"),
    ("DELETE", "/api/v1/namespaces/default/pods/x/binding"),
    ("DELETE", "/api/v1/namespaces/default/pods/x/status"),
    ("DELETE", "/api/v1/namespaces/default/pods/x/log"),
    ("DELETE", "/apis/apps/v1/namespaces/default/deployments/x/scale"),
    ("POST", "/apis/apps/v1/namespaces/default/deployments/x/scale"),
    ("GET", "/api/v1/namespaces/x/finalize"),
    ("POST", "/api/v1/namespaces/default/pods/x"),
    ("PUT", "/api/v1/namespaces/default/pods"),
]


async def _refusal(c: Client, method: str, path: str) -> tuple[Any, ...]:
    # The client's own session (TLS and token from its kubeconfig), for the raw answer.
    session = c._session
    async with session.request(method, c.conn.server + path) as resp:
        ctype = resp.headers.get("Content-Type")
        text = await resp.text()
    if ctype == "application/json":
        status = json.loads(text)
        return (resp.status, ctype, status["reason"], status["message"], status.get("details"))
    return (resp.status, ctype, text)


async def test_route_refusals(clients: tuple[Client, Client]) -> None:
    up, sp = clients
    for method, path in REFUSED:
        want = await _refusal(up, method, path)
        got = await _refusal(sp, method, path)
        assert got == want, f"{method} {path}"


async def _put_missing(c: Client, ns: str) -> dict[str, int]:
    """The status of a PUT that names an object nobody created, per kind: 201 where the
    kind's strategy allows create on update, else 404."""
    bodies: dict[str, Obj] = {
        "services": {"spec": {"ports": [{"port": 80}]}},
        "endpoints": {},
        "leases": {"spec": {}},
        "events": {"involvedObject": {"kind": "Pod", "name": "p", "namespace": ns}},
        "configmaps": {},
        "endpointslices": {"addressType": "IPv4", "endpoints": []},
        "nodes": {},
    }
    out: dict[str, int] = {}
    for plural, extra in bodies.items():
        info = BY_PLURAL[plural]
        meta: Obj = {"name": "put-new"}
        if info.namespaced:
            meta["namespace"] = ns
        obj = {"apiVersion": info.api_version, "kind": info.kind, "metadata": meta, **extra}
        try:
            await c.update(plural, obj)
            out[plural] = 201
        except errors.StatusError as exc:
            out[plural] = exc.code
    return out


async def test_create_on_update(clients: tuple[Client, Client]) -> None:
    """Services, Endpoints, Leases and Events may be created by a PUT; Nodes may not."""
    up, sp = clients
    ns = f"put-{uuid.uuid4().hex[:6]}"
    for c in clients:
        await c.create("namespaces", {"metadata": {"name": ns}})
    want = await _put_missing(up, ns)
    assert want["services"] == 201 and want["nodes"] == 404  # what this test is about
    assert await _put_missing(sp, ns) == want


async def _status_writes(c: Client, ns: str) -> list[Any]:
    out: list[Any] = []
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "by-status", "namespace": ns},
        "spec": {"ports": [{"port": 80}]},
        "status": {"loadBalancer": {}},
    }
    created = await c.update("services", svc, subresource="status")  # creates, as a PUT may
    out.append((created["kind"], created["spec"]["ports"][0]["port"]))
    live = await c.get("namespaces", ns)
    for phase in ("Running", "Terminating", "Active"):
        body = {**live, "status": {"phase": phase}}
        try:
            got = await c.update("namespaces", body, subresource="status")
            out.append(("ok", got["status"]["phase"]))
        except errors.StatusError as exc:
            out.append((exc.code, exc.message))
    return out


async def test_status_writes(clients: tuple[Client, Client]) -> None:
    """A Service created by a PUT of its status; a namespace's phase must say whether its
    deletion has begun (``status.Phase``, upstream's spelling)."""
    up, sp = clients
    ns = f"status-{uuid.uuid4().hex[:6]}"
    for c in clients:
        await c.create("namespaces", {"metadata": {"name": ns}})
    assert await _status_writes(sp, ns) == await _status_writes(up, ns)


#: List and watch queries of configmaps kube-apiserver refuses (or, for the last, answers
#: with the initial events and the bookmark that ends them).
LIST_QUERIES = [
    "limit=",
    "timeoutSeconds=",
    "watch=1&limit=abc&timeoutSeconds=1",
    "watch=1&continue=abc&timeoutSeconds=1",
    "watch=1&resourceVersionMatch=Exact&timeoutSeconds=1",
    "watch=1&sendInitialEvents=true&resourceVersion=1&timeoutSeconds=1",
    "watch=1&resourceVersion=1&resourceVersionMatch=NotOlderThan&timeoutSeconds=1",
    "resourceVersionMatch=NotOlderThan&resourceVersion=0&continue=x",
    "resourceVersionMatch=Exact&resourceVersion=0",
    "watch=1&allowWatchBookmarks=true&timeoutSeconds=1",
]


async def _list_answer(c: Client, ns: str, query: str) -> tuple[Any, ...]:
    session = c._session  # the client's own TLS and token, for the raw answer
    url = f"{c.conn.server}/api/v1/namespaces/{ns}/configmaps?{query}"
    async with session.get(url) as resp:
        lines = (await resp.text()).splitlines()
    if resp.status != 200:
        status = json.loads(lines[0])
        return (resp.status, status["reason"], status["message"])
    events = [json.loads(line) for line in lines]
    seen = []
    for e in events:  # up to the end of the initial events (later bookmarks are timing)
        meta = e["object"]["metadata"]
        seen.append((e["type"], meta.get("name"), meta.get("annotations")))
        if (meta.get("annotations") or {}).get("k8s.io/initial-events-end"):
            break
    return (200, seen)


async def test_list_option_answers(clients: tuple[Client, Client]) -> None:
    up, sp = clients
    ns = f"lopts-{uuid.uuid4().hex[:6]}"
    for c in clients:
        await c.create("namespaces", {"metadata": {"name": ns}})
        await c.create("configmaps", {"metadata": {"name": "one"}}, ns)
    for query in LIST_QUERIES:
        assert await _list_answer(sp, ns, query) == await _list_answer(up, ns, query), query


# --------------------------------------------------------------------------- deletion


def _deletion_view(obj: Obj, sent: datetime) -> Obj:
    """What a DELETE left in the metadata: the deadline as seconds after the request
    (rounded; compared with a second of slack), the rest as it is."""
    meta = obj["metadata"]
    stamp = parse_time(meta.get("deletionTimestamp"))
    return {
        "generation": meta.get("generation"),
        "deletionGracePeriodSeconds": meta.get("deletionGracePeriodSeconds"),
        "deadline": None if stamp is None else round((stamp - sent).total_seconds()),
        "finalizers": meta.get("finalizers"),
    }


async def _deletion_story(c: Client, ns: str) -> list[Obj]:
    """Graceful and finalizer-held deletions, step by step, on one server."""
    out: list[Obj] = []
    await c.create("namespaces", {"metadata": {"name": ns}})

    async def step(plural: str, name: str, **kw: Any) -> None:
        before = (await c.get(plural, name, ns))["metadata"]["resourceVersion"]
        sent = datetime.now(UTC)
        obj = await c.delete(plural, name, ns, **kw)
        view = _deletion_view(obj, sent)
        live = await c.get(plural, name, ns)  # every step leaves the object in place
        view["new_revision"] = live["metadata"]["resourceVersion"] != before
        out.append({"step": f"{plural}/{name} {kw}", **view})

    spec = {
        "nodeName": "node-gone",
        "terminationGracePeriodSeconds": 30,
        "containers": [{"name": "c", "image": "registry.example/app:1"}],
    }
    for name in ("p1", "p2"):
        await c.create("pods", {"metadata": {"name": name}, "spec": spec}, ns)
    await step("pods", "p1")  # 30 s, generation 1 -> 2
    await step("pods", "p1", grace_period_seconds=60)  # longer: nothing changes
    await step("pods", "p1", grace_period_seconds=10)  # shorter: the deadline moves back
    await step("pods", "p1", propagation_policy="Orphan")  # pending: no finalizer added
    await step("pods", "p2", grace_period_seconds=-3)  # negative: one second
    labels, containers = {"app": "held"}, spec["containers"]
    deploy = {
        "metadata": {"name": "held", "finalizers": ["example.com/hold"]},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": containers}},
        },
    }
    await c.create("deployments", deploy, ns)
    await step("deployments", "held")  # marked now, generation 1 -> 2
    await step("deployments", "held")  # again: the same object, no new revision
    await c.patch("deployments", "held", {"metadata": {"finalizers": None}}, ns)
    return out


async def test_deletion_metadata(clients: tuple[Client, Client]) -> None:
    """Grace periods, deadlines, generation and finalizers that DELETEs leave, compared
    step by step with kube-apiserver's (k8s.io/apiserver ``rest.BeforeDelete``)."""
    up, sp = clients
    ns = f"deletion-{uuid.uuid4().hex[:6]}"
    want = await _deletion_story(up, ns)
    got = await _deletion_story(sp, ns)
    for w, g in zip(want, got, strict=True):
        if w.get("deadline") is not None and g.get("deadline") is not None:
            assert abs(w["deadline"] - g["deadline"]) <= 1, (w, g)
            g = {**g, "deadline": w["deadline"]}
        assert g == w


# --------------------------------------------------------------------------- kubectl

MANIFESTS: dict[str, str] = {
    "service.yaml": """apiVersion: v1
kind: Service
metadata:
  name: web
  labels: {app: web}
spec:
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: 8080}
""",
    "slice.yaml": """apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-manual
  labels: {kubernetes.io/service-name: web}
addressType: IPv4
endpoints:
- addresses: [10.244.1.5]
  conditions: {ready: true}
  nodeName: node-1
  zone: zone-a
  targetRef: {kind: Pod, name: web-0}
- addresses: [10.244.1.6]
  conditions: {ready: false}
ports:
- {name: http, port: 8080, protocol: TCP}
""",
    "deployment.yaml": """apiVersion: apps/v1
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
      - name: web
        image: registry.invalid/web:1
        ports:
        - {name: http, containerPort: 8080}
""",
    "pod.yaml": """apiVersion: v1
kind: Pod
metadata:
  name: solo
  labels: {app: solo}
spec:
  containers:
  - name: app
    image: registry.invalid/app:1
""",
}


def kubectl_session(ns: str) -> list[list[str]]:
    n = ["-n", ns]
    return [
        ["create", "-f", "namespace.yaml"],
        ["get", "namespace", ns],
        ["get", "namespace", ns, "-o", "jsonpath={.status.phase}"],
        ["create", "-f", "service.yaml", *n],
        ["get", "services", *n],
        ["get", "service", "web", *n, "-o", "yaml"],
        ["describe", "service", "web", *n],
        ["apply", "-f", "service.yaml", *n],
        ["apply", "-f", "service.yaml", *n],
        ["label", "service", "web", "tier=front", *n],
        ["label", "service", "web", "tier=back", *n],
        ["label", "service", "web", "tier=back", "--overwrite", *n],
        ["annotate", "service", "web", "note=hello", *n],
        ["get", "service", "web", *n, "--show-labels"],
        ["create", "-f", "slice.yaml", *n],
        ["create", "-f", "slice.yaml", *n],
        ["get", "endpointslices", *n],
        ["get", "endpointslices", *n, "-o", "wide"],
        ["describe", "endpointslice", "web-manual", *n],
        ["label", "endpointslice", "web-manual", "extra=1", *n],
        ["get", "endpointslice", "web-manual", *n, "-o", "json"],
        ["create", "-f", "deployment.yaml", *n],
        ["apply", "-f", "deployment.yaml", *n],
        ["scale", "deployment", "web", "--replicas=3", *n],
        ["get", "deployment", "web", *n, "-o", "jsonpath={.spec.replicas}"],
        ["get", "deployments", *n],
        ["create", "-f", "pod.yaml", *n],
        ["get", "pods", *n],
        ["get", "pod", "solo", *n, "-o", "jsonpath={.status.phase}"],
        ["annotate", "pod", "solo", "a=b", *n],
        ["get", "pod", "missing", *n],
        ["get", "services,endpointslices", *n, "-o", "name"],
        ["delete", "pod", "solo", *n],
        ["delete", "endpointslice", "web-manual", *n],
        ["delete", "deployment", "web", *n],
        ["delete", "-f", "service.yaml", *n],
        ["get", "all", *n],
        ["delete", "namespace", ns, "--wait=false"],
    ]


_NORMALISERS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "<uid>"),
    (re.compile(r'(resourceVersion"?:\s*)"?\d+"?'), r"\1<rv>"),
    (re.compile(r"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"), "<time>"),
    (re.compile(r"\b(10\.96|10\.\d+)\.\d+\.\d+\b(?!/)"), "<ip>"),
    (re.compile(r"(?<=\s)(\d+m)?\d+s(?=\s|$)|<invalid>"), "<age>"),
    (
        re.compile(r"\b(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4}"),
        "<date>",
    ),
    (re.compile(r'("generation":\s*)\d+'), r"\1<gen>"),
    (re.compile(r"(generation:\s*)\d+"), r"\1<gen>"),
]


def normalise(text: str, ns: str, port: str) -> str:
    text = text.replace(ns, "<ns>").replace(port, "<port>")
    for rx, repl in _NORMALISERS:
        text = rx.sub(repl, text)
    # managedFields are not tracked by sliceplane (documented): drop the block.
    text = re.sub(r"  managedFields:\n(?:  [ -].*\n)*", "", text)
    text = re.sub(r'"managedFields": \[[\s\S]*?\n    \],\n', "", text)
    # Column alignment follows the widest cell, which the normalisation changed.
    return "\n".join(re.sub(r"(?<=\S) {2,}", "  ", line).rstrip() for line in text.splitlines())


@pytest.mark.kubectl
def test_kubectl_session(kube: ControlPlane, apiserver: ServerProcess, tmp_path: Path) -> None:
    ns = f"k-{uuid.uuid4().hex[:6]}"
    work = tmp_path / "manifests"
    work.mkdir()
    for name, text in {
        **MANIFESTS,
        "namespace.yaml": f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n",
    }.items():
        (work / name).write_text(text)
    sides = {
        "upstream": (Kubectl(kube.kubeconfig, tmp_path / "kc-up"), kube.url.rsplit(":", 1)[1]),
        "sliceplane": (
            Kubectl(apiserver.kubeconfig, tmp_path / "kc-sp"),
            str(apiserver.port()),
        ),
    }
    failures: list[str] = []
    for cmd in kubectl_session(ns):
        out: dict[str, str] = {}
        for side, (kubectl, p) in sides.items():
            args = [str(work / a) if a.endswith(".yaml") else a for a in cmd]
            res = kubectl.run(*args, check=False)
            text = f"rc={res.returncode}\n{res.stdout}\n--stderr--\n{res.stderr}"
            out[side] = normalise(text.replace(str(work) + "/", ""), ns, p)
        entry = {"cmd": " ".join(cmd).replace(ns, "<ns>"), **out}
        if out["upstream"] != out["sliceplane"]:
            entry["differs"] = True
            failures.append(
                f"$ kubectl {entry['cmd']}\n--- upstream\n{out['upstream']}\n"
                f"--- sliceplane\n{out['sliceplane']}"
            )
        REPORT["kubectl"].append(entry)
    assert not [f for f in failures if not _known_kubectl(f)], "\n\n".join(failures)


KNOWN_KUBECTL: dict[str, str] = {}


def _known_kubectl(failure: str) -> bool:
    first = failure.splitlines()[0]
    return any(first.startswith(f"$ kubectl {k}") for k in KNOWN_KUBECTL)
