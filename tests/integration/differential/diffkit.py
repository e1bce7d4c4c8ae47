"""Shared helpers of the differential tests (issue #4): sliceplane against real Kubernetes.

* control planes: :func:`start_pair` starts two kube-apiservers (etcd + kube-apiserver +
  kube-controller-manager each): ``upstream`` runs kube-controller-manager's own endpoint
  controllers, ``sliceplane`` runs kube-controller-manager without them plus sliceplane's
  :class:`~sliceplane.manager.manager.Manager` in a thread of this process.
* traces: a trace is a list of :class:`Op` (plain data, so random traces are data too),
  applied in the same order to both API servers.
* normalisation: :func:`snapshot` turns a namespace's EndpointSlices and Endpoints into a
  comparable structure, the way upstream's own tests compare (counts and sizes, sets of
  ports, endpoints keyed by the Pod they point at), ignoring names, UIDs and timestamps.
* write counts: :func:`endpointslice_writes` scrapes ``apiserver_request_total``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from sliceplane.api import errors
from sliceplane.client.client import Client
from sliceplane.machinery.clock import RealClock
from sliceplane.manager.manager import Manager, ManagerConfig
from sliceplane.testenv import BinariesNotFound, ControlPlane, find_binaries

Obj = dict[str, Any]

try:
    BINARIES = find_binaries()
    MISSING = ""
except BinariesNotFound as exc:  # the Makefile builds them before the tests
    MISSING = f"real Kubernetes binaries missing: {exc}"

LABEL_SERVICE_NAME = "kubernetes.io/service-name"
LABEL_MANAGED_BY = "endpointslice.kubernetes.io/managed-by"
ES_CONTROLLER = "endpointslice-controller.k8s.io"
MIRROR_CONTROLLER = "endpointslicemirroring-controller.k8s.io"
TRIGGER_TIME = "endpoints.kubernetes.io/last-change-trigger-time"
REPORT_DIR = Path(__file__).resolve().parents[3] / "build" / "differential"

# Pod-triggered syncs are batched by both sides alike, so that a burst of pod writes made
# by one trace step (well under a second) reaches both controllers as one sync and the
# packing of endpoints into slices does not depend on which controller was faster.
BATCH_PERIOD = 1.0

# kube-controller-manager's controller names (cmd/kube-controller-manager/names).
UPSTREAM_CONTROLLERS = (
    "endpointslice-controller",
    "endpointslice-mirroring-controller",
    "endpoints-controller",
    "garbage-collector-controller",
    "namespace-controller",
)
SUPPORT_CONTROLLERS = ("garbage-collector-controller", "namespace-controller")

# Dual-stack service ranges: kube-apiserver takes the last --service-cluster-ip-range it is
# given, so this overrides the single-stack one ControlPlane writes (used for its PKI).
DUAL_STACK_ARGS = ("--service-cluster-ip-range=10.96.0.0/16,fd00:10:96::/112",)


# --------------------------------------------------------------------------- processes


class ManagerThread:
    """sliceplane's controllers (``Manager``) on an event loop of their own, in a thread."""

    def __init__(self, kubeconfig: Path, config: ManagerConfig) -> None:
        self.kubeconfig = kubeconfig
        self.config = config
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="sliceplane-manager", daemon=True)
        self._task: asyncio.Task[None] | None = None
        self._started = threading.Event()
        self.error: BaseException | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._main())
        except asyncio.CancelledError:
            pass
        except BaseException as exc:  # reported by the fixture
            self.error = exc
        finally:
            self._started.set()
            self.loop.close()

    async def _main(self) -> None:
        self._task = asyncio.current_task()  # type: ignore[assignment]
        client = await Client.connect(self.kubeconfig)
        try:
            manager = Manager(self.config, client, RealClock())
            self._started.set()
            await manager.run_controllers()
        finally:
            await client.close()

    def start(self) -> None:
        self.thread.start()
        self._started.wait(30)

    def stop(self) -> None:
        if self._task is not None and not self.loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(self._task.cancel)
        self.thread.join(15)


@dataclass
class Pair:
    upstream: ControlPlane
    sliceplane: ControlPlane
    manager: ManagerThread


def start_pair(workdir: Path, *, dual_stack: bool = True) -> Pair:
    extra = DUAL_STACK_ARGS if dual_stack else ()
    kcm_args = (
        f"--endpointslice-updates-batch-period={BATCH_PERIOD:g}s",
        f"--endpoint-updates-batch-period={BATCH_PERIOD:g}s",
    )
    up = ControlPlane(
        workdir / "upstream",
        binaries=BINARIES,
        with_controller_manager=True,
        controllers=UPSTREAM_CONTROLLERS,
        unsafe_no_fsync=True,
        apiserver_args=extra,
        controller_manager_args=kcm_args,
    )
    sp = ControlPlane(
        workdir / "sliceplane",
        binaries=BINARIES,
        with_controller_manager=True,
        controllers=SUPPORT_CONTROLLERS,
        unsafe_no_fsync=True,
        apiserver_args=extra,
    )
    up.start()
    try:
        sp.start()
    except BaseException:
        up.stop()
        raise
    manager = ManagerThread(
        sp.kubeconfig,
        ManagerConfig(
            kubeconfig=sp.kubeconfig,
            endpointslice_updates_batch_period=BATCH_PERIOD,
            metrics_bind_address=None,
        ),
    )
    manager.start()
    return Pair(up, sp, manager)


def stop_pair(pair: Pair) -> None:
    pair.manager.stop()
    pair.sliceplane.stop()
    pair.upstream.stop()


# --------------------------------------------------------------------------- metrics


WRITE_VERBS = ("POST", "PUT", "PATCH", "DELETE")


async def request_counts(client: Client, resource: str) -> Counter[str]:
    """``apiserver_request_total`` of ``resource`` by verb, successful requests only (all
    subresources). A DELETE answered 404 (the garbage collector and a controller racing to
    remove the same slice, on either side) changed nothing and is not a write.

    kube-apiserver's /metrics is megabytes of text: only the one family's lines are parsed.
    """
    text = (await client.request("GET", "/metrics")).decode()
    wanted = f'resource="{resource}"'
    lines = [
        line
        for line in text.splitlines()
        if line.startswith("apiserver_request_total{") and wanted in line
    ]
    out: Counter[str] = Counter()
    for family in text_string_to_metric_families("\n".join(lines) + "\n"):
        for sample in family.samples:
            if sample.labels.get("resource") == resource and str(
                sample.labels.get("code", "")
            ).startswith("2"):
                out[sample.labels.get("verb", "")] += int(sample.value)
    return out


def writes(before: Counter[str], after: Counter[str]) -> int:
    return sum(after[v] - before[v] for v in WRITE_VERBS)


# --------------------------------------------------------------------------- trace ops


@dataclass(frozen=True)
class Op:
    """One step of a trace. ``kind`` selects the action, ``args`` its parameters."""

    kind: str
    args: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:  # short, for failure messages
        return f"{self.kind}({json.dumps(self.args, sort_keys=True)[:120]})"


def node_name(ns: str, name: str) -> str:
    """Nodes are cluster-scoped: every trace gets its own names."""
    return f"{ns}-{name}"


def make_pod(ns: str, name: str, a: dict[str, Any]) -> Obj:
    ports = a.get("ports", [{"name": "http", "containerPort": 8080}])
    spec: Obj = {
        "containers": [{"name": "app", "image": "registry.invalid/app:1", "ports": ports}],
        "terminationGracePeriodSeconds": 30,
    }
    if a.get("node") is not None:
        spec["nodeName"] = node_name(ns, a["node"])
    for key in ("hostname", "subdomain"):
        if a.get(key):
            spec[key] = a[key]
    return {"metadata": {"name": name, "labels": a.get("labels", {})}, "spec": spec}


def pod_status(a: dict[str, Any]) -> Obj:
    ips = a.get("ips", [])
    status: Obj = {
        "phase": a.get("phase", "Running"),
        "conditions": [
            {
                "type": "Ready",
                "status": "True" if a.get("ready", True) else "False",
                "lastTransitionTime": a.get("ltt", "2026-01-01T00:00:00Z"),
            }
        ],
    }
    if ips:
        status["podIP"] = ips[0]
        status["podIPs"] = [{"ip": ip} for ip in ips]
    return status


def make_node(ns: str, name: str, a: dict[str, Any]) -> Obj:
    labels = dict(a.get("labels", {}))
    if a.get("zone"):
        labels["topology.kubernetes.io/zone"] = a["zone"]
    return {"metadata": {"name": node_name(ns, name), "labels": labels}}


def node_status(a: dict[str, Any]) -> Obj:
    status: Obj = {}
    if a.get("ready"):
        status["conditions"] = [
            {
                "type": "Ready",
                "status": "True",
                "reason": "KubeletReady",
                "message": "ready",
                "lastHeartbeatTime": "2026-01-01T00:00:00Z",
                "lastTransitionTime": "2026-01-01T00:00:00Z",
            }
        ]
    if a.get("cpu"):
        status["capacity"] = {"cpu": a["cpu"], "memory": "8Gi", "pods": "110"}
        status["allocatable"] = {"cpu": a["cpu"], "memory": "8Gi", "pods": "110"}
    return status


def make_service(name: str, a: dict[str, Any]) -> Obj:
    spec: Obj = {"ports": a.get("ports", [{"name": "http", "port": 80, "targetPort": 8080}])}
    if a.get("selector") is not None:
        spec["selector"] = a["selector"]
    for key in (
        "clusterIP",
        "publishNotReadyAddresses",
        "ipFamilyPolicy",
        "ipFamilies",
        "trafficDistribution",
        "type",
        "externalName",
    ):
        if key in a:
            spec[key] = a[key]
    meta: Obj = {"name": name, "labels": a.get("labels", {})}
    if a.get("annotations"):
        meta["annotations"] = a["annotations"]
    return {"metadata": meta, "spec": spec}


async def _gather_limited(calls: Sequence[Callable[[], Any]], limit: int = 24) -> None:
    sem = asyncio.Semaphore(limit)

    async def one(call: Callable[[], Any]) -> None:
        async with sem:
            await call()

    await asyncio.gather(*(one(c) for c in calls))


async def apply_op(c: Client, ns: str, op: Op) -> None:
    """Apply one step to one API server (the same requests on both sides)."""
    a = op.args
    k = op.kind
    if k == "node":
        await c.create("nodes", make_node(ns, a["name"], a))
        status = node_status(a)
        if status:
            await c.patch(
                "nodes", node_name(ns, a["name"]), {"status": status}, subresource="status"
            )
    elif k == "del_node":
        await c.delete("nodes", node_name(ns, a["name"]))
    elif k == "pods":
        # {"pods": [{name, labels, node, ips, ready, ...}, ...]} created concurrently.
        async def create(p: dict[str, Any]) -> None:
            await c.create("pods", make_pod(ns, p["name"], p), ns)
            if p.get("ips") or "ready" in p or "phase" in p:
                await c.patch(
                    "pods", p["name"], {"status": pod_status(p)}, ns, subresource="status"
                )

        await _gather_limited([lambda p=p: create(p) for p in a["pods"]])
    elif k == "pod_status":
        # {"names": [...], and pod_status fields}
        await _gather_limited(
            [
                lambda n=n: c.patch("pods", n, {"status": pod_status(a)}, ns, subresource="status")
                for n in a["names"]
            ]
        )
    elif k == "pod_patch":
        await _gather_limited([lambda n=n: c.patch("pods", n, a["patch"], ns) for n in a["names"]])
    elif k == "del_pods":
        grace = a.get("grace")
        await _gather_limited(
            [lambda n=n: c.delete("pods", n, ns, grace_period_seconds=grace) for n in a["names"]]
        )
    elif k == "svc":
        await c.create("services", make_service(a["name"], a), ns)
    elif k == "svc_patch":
        await c.patch(
            "services", a["name"], a["patch"], ns, patch_type=a.get("patch_type", "merge")
        )
    elif k == "del_svc":
        await c.delete("services", a["name"], ns)
    elif k == "endpoints":
        body = {
            "metadata": {
                "name": a["name"],
                "labels": a.get("labels", {}),
                "annotations": a.get("annotations", {}),
            },
            "subsets": a["subsets"],
        }
        if a.get("update"):
            cur = await c.get("endpoints", a["name"], ns)
            body["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"]
            body["metadata"]["namespace"] = ns
            await c.update("endpoints", body)
        else:
            await c.create("endpoints", body, ns)
    elif k == "del_endpoints":
        await c.delete("endpoints", a["name"], ns)
    elif k == "sleep":
        await asyncio.sleep(a["seconds"])
    else:
        raise ValueError(f"unknown op {k}")


# --------------------------------------------------------------------------- snapshots


def _owner(o: Obj) -> tuple[Any, ...]:
    return (
        o.get("apiVersion"),
        o.get("kind"),
        o.get("name"),
        o.get("controller"),
        o.get("blockOwnerDeletion"),
    )


def _port(p: Obj) -> tuple[Any, ...]:
    return (p.get("name"), p.get("port"), p.get("protocol"), p.get("appProtocol"))


def _hints(h: Obj | None) -> Any:
    if not h:
        return None
    return (
        tuple(sorted(z.get("name") for z in h.get("forZones") or [])),
        tuple(sorted(n.get("name") for n in h.get("forNodes") or [])),
    )


def _endpoint_key(e: Obj) -> str:
    ref = e.get("targetRef") or {}
    return str(ref.get("name") or ",".join(e.get("addresses") or []))


def normalize_slices(items: list[Obj], *, aggregate_hints: bool = False) -> dict[str, Any]:
    """Per (manager, service, addressType): what upstream's tests compare."""
    groups: dict[str, list[Obj]] = {}
    for s in items:
        labels = s["metadata"].get("labels") or {}
        key = f"{labels.get(LABEL_MANAGED_BY)}|{labels.get(LABEL_SERVICE_NAME)}|{s['addressType']}"
        groups.setdefault(key, []).append(s)
    out: dict[str, Any] = {}
    for key, slices in sorted(groups.items()):
        endpoints: dict[str, Any] = {}
        hint_counts: Counter[str] = Counter()
        dup: list[str] = []
        for s in slices:
            for e in s.get("endpoints") or []:
                k = _endpoint_key(e)
                if k in endpoints:
                    dup.append(k)
                cond = e.get("conditions") or {}
                rec = {
                    "addresses": sorted(e.get("addresses") or []),
                    "conditions": {c: cond.get(c) for c in ("ready", "serving", "terminating")},
                    "nodeName": e.get("nodeName"),
                    "zone": e.get("zone"),
                    "hostname": e.get("hostname"),
                    "ports": sorted(_port(p) for p in s.get("ports") or []),
                }
                if aggregate_hints:
                    for z in (e.get("hints") or {}).get("forZones") or []:
                        hint_counts[z.get("name")] += 1
                    rec["hinted"] = bool(e.get("hints"))
                else:
                    rec["hints"] = _hints(e.get("hints"))
                endpoints[k] = rec
        annotations = [
            {k: v for k, v in (s["metadata"].get("annotations") or {}).items() if k != TRIGGER_TIME}
            for s in slices
        ]
        out[key] = {
            "count": len(slices),
            "sizes": sorted(len(s.get("endpoints") or []) for s in slices),
            "labels": sorted(
                json.dumps(s["metadata"].get("labels") or {}, sort_keys=True) for s in slices
            ),
            "annotations": sorted(json.dumps(a, sort_keys=True) for a in annotations),
            "owners": sorted(
                json.dumps([_owner(o) for o in s["metadata"].get("ownerReferences") or []])
                for s in slices
            ),
            "ports": sorted({_port(p) for s in slices for p in s.get("ports") or []}, key=repr),
            "port_sets": sorted(
                json.dumps(sorted((_port(p) for p in s.get("ports") or []), key=repr))
                for s in slices
            ),
            "endpoints": endpoints,
            "duplicate_endpoints": sorted(dup),
        }
        if aggregate_hints:
            out[key]["hint_zones"] = dict(sorted(hint_counts.items()))
    return out


def _address(a: Obj) -> tuple[Any, ...]:
    ref = a.get("targetRef") or {}
    return (a.get("ip"), a.get("hostname"), a.get("nodeName"), ref.get("kind"), ref.get("name"))


def normalize_endpoints(items: list[Obj]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for ep in items:
        meta = ep["metadata"]
        subsets = []
        for ss in ep.get("subsets") or []:
            subsets.append(
                {
                    "addresses": sorted(_address(a) for a in ss.get("addresses") or []),
                    "notReadyAddresses": sorted(
                        _address(a) for a in ss.get("notReadyAddresses") or []
                    ),
                    "ports": sorted(_port(p) for p in ss.get("ports") or []),
                }
            )
        out[meta["name"]] = {
            "labels": meta.get("labels") or {},
            "annotations": {
                k: v for k, v in (meta.get("annotations") or {}).items() if k != TRIGGER_TIME
            },
            "subsets": sorted(subsets, key=lambda s: json.dumps(s, sort_keys=True)),
        }
    return out


@dataclass
class Snapshot:
    slices: dict[str, Any]
    endpoints: dict[str, Any]
    versions: frozenset[str]

    def comparable(self, *, sizes: bool = True) -> dict[str, Any]:
        slices = self.slices
        if not sizes:
            slices = {k: {**v, "sizes": None} for k, v in slices.items()}
        return {"slices": slices, "endpoints": self.endpoints}


async def snapshot(c: Client, ns: str, *, aggregate_hints: bool = False) -> Snapshot:
    slices = (await c.list("endpointslices", ns)).items
    eps = (await c.list("endpoints", ns)).items
    versions = frozenset(
        f"{o['metadata']['uid']}@{o['metadata']['resourceVersion']}" for o in [*slices, *eps]
    )
    return Snapshot(
        normalize_slices(slices, aggregate_hints=aggregate_hints),
        normalize_endpoints(eps),
        versions,
    )


async def converge(
    up: Client,
    sp: Client,
    ns: str,
    *,
    aggregate_hints: bool = False,
    min_wait: float = BATCH_PERIOD + 0.6,
    quiet: float = 1.0,
    timeout: float = 25.0,
    ready: Callable[[Snapshot], bool] | None = None,
    sizes: bool = True,
) -> tuple[Snapshot, Snapshot, float]:
    """Poll both sides until each has not changed for ``quiet`` seconds (and, when given,
    ``ready`` holds on both) and they agree, or until ``timeout``; return the last views
    and the time waited."""
    start = time.monotonic()
    last: list[Snapshot | None] = [None, None]
    since = [start, start]
    while True:
        views = await asyncio.gather(
            snapshot(up, ns, aggregate_hints=aggregate_hints),
            snapshot(sp, ns, aggregate_hints=aggregate_hints),
        )
        now = time.monotonic()
        for i, v in enumerate(views):
            prev = last[i]
            if prev is None or prev.versions != v.versions:
                since[i] = now
            last[i] = v
        stable = all(now - s >= quiet for s in since)
        ok = ready is None or all(ready(v) for v in views)
        same = views[0].comparable(sizes=sizes) == views[1].comparable(sizes=sizes)
        if now - start >= min_wait and stable and ok and same:
            return views[0], views[1], now - start
        if now - start > timeout:
            return views[0], views[1], now - start
        await asyncio.sleep(0.2)


def diff(a: Any, b: Any, path: str = "") -> list[str]:
    """Readable differences between two normalised structures (upstream vs sliceplane)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for k in sorted(set(a) | set(b), key=str):
            p = f"{path}.{k}" if path else str(k)
            if k not in a:
                out.append(f"{p}: only sliceplane: {json.dumps(b[k], default=str)[:300]}")
            elif k not in b:
                out.append(f"{p}: only upstream: {json.dumps(a[k], default=str)[:300]}")
            else:
                out += diff(a[k], b[k], p)
        return out
    if a != b:
        return [
            f"{path}: upstream {json.dumps(a, default=str)[:300]} "
            f"!= sliceplane {json.dumps(b, default=str)[:300]}"
        ]
    return []


def write_report(name: str, data: Any) -> Path:
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    path = REPORT_DIR / name
    path.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    return path


async def safe_delete_ns(c: Client, ns: str) -> None:
    with contextlib.suppress(errors.StatusError):
        await c.delete("namespaces", ns)
