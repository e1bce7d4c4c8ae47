"""``sliceplane up --runtime process``: pods run as real local processes.

One :class:`LocalCluster` (API server subprocess, controllers, scheduler, nodes and the
process runtime) serves the whole module, in one event loop. Every test uses its own
namespace. Convergence is awaited by polling the API (or the process table), never by
sleeping a fixed time; probe periods and the crash back-off are short (1 s).
"""

from __future__ import annotations

import asyncio
import os
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import pytest_asyncio
from waiting import eventually

from sliceplane.api import errors
from sliceplane.client.client import Client
from sliceplane.cluster.up import ClusterConfig, LocalCluster
from sliceplane.workloads.kubelet.processoptions import ProcessRuntimeOptions

Obj = dict[str, Any]
T = TypeVar("T")

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def cluster(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalCluster]:
    config = ClusterConfig(
        data_dir=tmp_path_factory.mktemp("up"),
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


@pytest_asyncio.fixture(loop_scope="module")
async def ns(cluster: LocalCluster) -> AsyncIterator[str]:
    client = cluster.client
    assert client is not None
    name = f"proc-{uuid.uuid4().hex[:8]}"
    await client.create("namespaces", {"metadata": {"name": name}})
    yield name
    for pod in (await client.list_all("pods", name)).items:
        try:
            await client.delete("pods", pod["metadata"]["name"], name, grace_period_seconds=0)
        except errors.NotFound:
            pass


def _client(cluster: LocalCluster) -> Client:
    assert cluster.client is not None
    return cluster.client


def http_server(name: str, *, path: str = "/", labels: dict[str, str] | None = None) -> Obj:
    """A pod running ``python -m http.server $(PORT) --bind $(POD_IP)`` with a readiness
    probe on ``path``."""
    return {
        "metadata": {"name": name, "labels": labels or {"app": name}},
        "spec": {
            "terminationGracePeriodSeconds": 5,
            "containers": [
                {
                    "name": "web",
                    "image": "python:3",
                    "command": [sys.executable, "-m", "http.server"],
                    "args": ["$(PORT)", "--bind", "$(POD_IP)"],
                    "ports": [{"name": "http", "containerPort": 8080}],
                    "readinessProbe": {
                        "httpGet": {"path": path, "port": "http"},
                        "periodSeconds": 1,
                        "failureThreshold": 1,
                    },
                }
            ],
        },
    }


def condition(pod: Obj, type_: str) -> str | None:
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c.get("type") == type_:
            return str(c.get("status"))
    return None


def fetch(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=2) as resp:
        return int(resp.status), bytes(resp.read())


def status_of(url: str) -> int | None:
    """The HTTP status of GET ``url``, None while nothing listens."""
    try:
        return fetch(url)[0]
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return None


def pid_of(pod: Obj) -> int:
    cid = str(pod["status"]["containerStatuses"][0]["containerID"])
    assert cid.startswith("process://"), cid
    return int(cid.removeprefix("process://"))


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rpartition(")")[2].split()[0] == "Z")


async def test_deployment_pods_become_ready_and_answer(cluster: LocalCluster, ns: str) -> None:
    client = _client(cluster)
    template = http_server("web")
    await client.create(
        "deployments",
        {
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": template["spec"]},
            },
        },
        ns,
    )

    async def ready() -> list[Obj] | None:
        pods = (await client.list_all("pods", ns, label_selector="app=web")).items
        ok = [p for p in pods if condition(p, "Ready") == "True"]
        return ok if len(ok) == 2 else None

    pods = await eventually(ready, what="2 pods Ready")
    ips = {p["status"]["podIP"] for p in pods}
    assert len(ips) == 2  # one address per pod, the same port on each
    for pod in pods:
        ip = pod["status"]["podIP"]
        assert pod["status"]["phase"] == "Running"
        assert pod["status"]["podIPs"] == [{"ip": ip}]
        assert ip.startswith(("127.", "10.244."))
        status, _ = await asyncio.to_thread(fetch, f"http://{ip}:8080/")
        assert status == 200
        cs = pod["status"]["containerStatuses"][0]
        assert cs["ready"] is True and cs["started"] is True and cs["restartCount"] == 0
        meta = pod["metadata"]
        pod_dir = cluster.config.data_dir / "pods" / f"{ns}_{meta['name']}_{meta['uid']}"
        log = pod_dir / "web" / "0.log"  # the kubelet's <container>/<restartCount>.log
        await eventually(
            lambda log=log: asyncio.to_thread(
                lambda: log.exists() and b"GET / HTTP/1.1" in log.read_bytes()
            ),
            what="probe requests in the container log",
        )


async def test_wrong_readiness_path_stays_not_ready(cluster: LocalCluster, ns: str) -> None:
    client = _client(cluster)
    await client.create("pods", http_server("bad", path="/nope"), ns)

    async def running() -> Obj | None:
        pod: Obj = await client.get("pods", "bad", ns)
        cs = (pod.get("status") or {}).get("containerStatuses") or []
        return pod if cs and "running" in cs[0]["state"] else None

    pod = await eventually(running, what="container running")
    ip = pod["status"]["podIP"]
    # The server answers (so the probe really reaches it and gets a 404) ...
    await eventually(
        lambda: asyncio.to_thread(status_of, f"http://{ip}:8080/nope"),
        what="the server answering",
    )
    assert await asyncio.to_thread(status_of, f"http://{ip}:8080/nope") == 404
    # ... and the pod stays not ready over several probe periods.
    for _ in range(3):
        await asyncio.sleep(1.0)
        pod = await client.get("pods", "bad", ns)
        assert condition(pod, "Ready") == "False"
        assert pod["status"]["containerStatuses"][0]["ready"] is False
    assert condition(pod, "ContainersReady") == "False"


async def test_endpointslice_shows_not_ready(cluster: LocalCluster, ns: str) -> None:
    # With loopback pod addresses this relies on the API server's
    # --allow-loopback-endpoints, which `sliceplane up --runtime process` turns on.
    assert cluster.runtime is not None
    client = _client(cluster)
    await client.create("pods", http_server("bad", path="/nope"), ns)
    await client.create(
        "services",
        {
            "metadata": {"name": "bad"},
            "spec": {"selector": {"app": "bad"}, "ports": [{"port": 80, "targetPort": "http"}]},
        },
        ns,
    )

    async def endpoints() -> list[Obj] | None:
        slices = await client.list_all(
            "endpointslices", ns, label_selector="kubernetes.io/service-name=bad"
        )
        eps = [e for s in slices.items for e in s.get("endpoints") or []]
        return eps if eps else None

    eps = await eventually(endpoints, what="endpoint in the slice")
    pod = await client.get("pods", "bad", ns)
    assert eps[0]["addresses"] == [pod["status"]["podIP"]]
    assert eps[0]["conditions"]["ready"] is False
    await asyncio.sleep(2.0)  # a few probe periods later: still not ready
    eps = await endpoints()
    assert eps is not None and eps[0]["conditions"]["ready"] is False


async def test_exiting_process_restarts_with_backoff(cluster: LocalCluster, ns: str) -> None:
    client = _client(cluster)
    pod = {
        "metadata": {"name": "crash"},
        "spec": {
            "containers": [
                {
                    "name": "crash",
                    "image": "busybox",
                    "command": [sys.executable, "-c", "import sys; sys.exit(3)"],
                }
            ]
        },
    }
    await client.create("pods", pod, ns)

    async def restarted() -> Obj | None:
        got: Obj = await client.get("pods", "crash", ns)
        cs = (got.get("status") or {}).get("containerStatuses") or []
        return got if cs and cs[0]["restartCount"] >= 2 else None

    got = await eventually(restarted, what="restartCount >= 2")
    cs = got["status"]["containerStatuses"][0]
    assert cs["lastState"]["terminated"]["exitCode"] == 3
    assert cs["lastState"]["terminated"]["reason"] == "Error"

    async def backing_off() -> Obj | None:
        got: Obj = await client.get("pods", "crash", ns)
        waiting = got["status"]["containerStatuses"][0]["state"].get("waiting") or {}
        return got if waiting.get("reason") == "CrashLoopBackOff" else None

    await eventually(backing_off, what="CrashLoopBackOff")


async def test_container_without_command_is_not_runnable(cluster: LocalCluster, ns: str) -> None:
    client = _client(cluster)
    pod = {"metadata": {"name": "img"}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
    await client.create("pods", pod, ns)

    async def waiting() -> Obj | None:
        got: Obj = await client.get("pods", "img", ns)
        cs = (got.get("status") or {}).get("containerStatuses") or []
        w = cs[0]["state"].get("waiting") if cs else None
        return w if w and w.get("reason") == "RunContainerError" else None

    w = await eventually(waiting, what="RunContainerError")
    assert w["message"] == "sliceplane process runtime: container has no command"
    got = await client.get("pods", "img", ns)
    assert got["status"]["phase"] == "Pending"


async def test_liveness_failure_restarts(cluster: LocalCluster, ns: str) -> None:
    client = _client(cluster)
    pod = http_server("live")
    container = pod["spec"]["containers"][0]
    del container["readinessProbe"]
    container["livenessProbe"] = {
        "tcpSocket": {"port": 9},  # nothing listens there
        "periodSeconds": 1,
        "failureThreshold": 2,
    }
    pod["spec"]["terminationGracePeriodSeconds"] = 1
    await client.create("pods", pod, ns)

    async def restarted() -> Obj | None:
        got: Obj = await client.get("pods", "live", ns)
        cs = (got.get("status") or {}).get("containerStatuses") or []
        return got if cs and cs[0]["restartCount"] >= 1 else None

    got = await eventually(restarted, what="liveness restart")
    last = got["status"]["containerStatuses"][0]["lastState"]["terminated"]
    assert last["reason"] == "Error"  # killed by SIGTERM: 143


async def test_delete_kills_the_process(cluster: LocalCluster, ns: str) -> None:
    client = _client(cluster)
    await client.create("pods", http_server("gone"), ns)

    async def ready() -> Obj | None:
        pod: Obj = await client.get("pods", "gone", ns)
        return pod if condition(pod, "Ready") == "True" else None

    pod = await eventually(ready, what="pod Ready")
    pid = pid_of(pod)
    assert alive(pid)
    await client.delete("pods", "gone", ns)  # graceful: the runtime confirms it

    async def gone() -> bool:
        try:
            await client.get("pods", "gone", ns)
        except errors.NotFound:
            return True
        return False

    await eventually(gone, what="pod deleted")
    assert not alive(pid)


async def test_restart_of_up_restarts_pod_processes(tmp_path: Path) -> None:
    """Stopping ``up`` kills the pod processes; starting it again on the same data
    directory runs them again. A port of its own: the module's cluster hands out the
    same loopback addresses."""
    config = ClusterConfig(
        data_dir=tmp_path / "up", listen="127.0.0.1:0", nodes=1, runtime="process"
    )
    pod = http_server("again")
    pod["spec"]["containers"][0]["ports"][0]["containerPort"] = 8097

    async def ready_pod(client: Client, old_pid: int = 0) -> Obj | None:
        got: Obj = await client.get("pods", "again", "default")
        if condition(got, "Ready") != "True" or pid_of(got) == old_pid:
            return None
        return got

    first = LocalCluster(config)
    await first.start()
    try:
        client = _client(first)
        await client.create("pods", pod, "default")
        got = await eventually(lambda: ready_pod(client), what="pod Ready")
        pid = pid_of(got)
        assert alive(pid)
    finally:
        await first.stop()
    assert not alive(pid)
    second = LocalCluster(config)
    await second.start()
    try:
        client = _client(second)
        again = await eventually(lambda: ready_pod(client, pid), what="pod Ready again")
        ip = again["status"]["podIP"]
        assert ip == got["status"]["podIP"]
        assert await asyncio.to_thread(status_of, f"http://{ip}:8097/") == 200
        new_pid = pid_of(again)
    finally:
        await second.stop()
    assert not alive(new_pid)
