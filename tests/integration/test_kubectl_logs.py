"""``kubectl logs`` against ``sliceplane up --runtime process`` (and a pod of a node with
no kubelet, on the bare API server), with the real kubectl.

One :class:`LocalCluster` with the process runtime serves the module (one event loop);
kubectl runs in threads. Convergence is polled, never slept for; the crash back-off is
short (1-2 s).
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, TypeVar

import pytest
import pytest_asyncio
from harness import KUBECTL, Kubectl
from waiting import eventually

from sliceplane.client.client import Client
from sliceplane.cluster.up import ClusterConfig, LocalCluster
from sliceplane.workloads.kubelet.processoptions import ProcessRuntimeOptions

Obj = dict[str, Any]
T = TypeVar("T")
STAMP = re.compile(rb"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z ")

# A container that counts its runs in a file of the pod directory (its working
# directory), prints three lines and one to stderr, runs a little, then fails.
CRASHER = (
    "n=$(cat runs 2>/dev/null || echo 0); echo $((n+1)) > runs; "
    'echo "run $n line 1"; echo "run $n line 2"; echo "run $n oops" >&2; sleep 0.2; '
    'echo "run $n line 3"; sleep 1.5; exit 3'
)
TICKER = 'echo "side up"; i=0; while true; do i=$((i+1)); echo "tick $i"; sleep 0.2; done'


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def cluster(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalCluster]:
    config = ClusterConfig(
        data_dir=tmp_path_factory.mktemp("logs-up"),
        listen="127.0.0.1:0",
        nodes=1,
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
    client = _client(cluster)
    name = f"logs-{uuid.uuid4().hex[:8]}"
    await client.create("namespaces", {"metadata": {"name": name}})
    yield name
    await client.delete("namespaces", name)


def _client(cluster: LocalCluster) -> Client:
    assert cluster.client is not None
    return cluster.client


def _kubectl(cluster: LocalCluster, tmp: Any) -> Kubectl:
    return Kubectl(cluster.kubeconfig, tmp)


def shell(name: str, script: str) -> Obj:
    return {"name": name, "image": "busybox", "command": ["/bin/sh", "-c", script]}


async def run(k: Kubectl, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(k.run, *args, check=False)


async def container_status(client: Client, ns: str, pod: str, name: str) -> Obj | None:
    obj: Obj = await client.get("pods", pod, ns)
    for cs in (obj.get("status") or {}).get("containerStatuses") or []:
        if cs["name"] == name:
            return dict(cs)
    return None


@pytest.mark.asyncio(loop_scope="module")
async def test_logs_of_a_crashing_pod_and_its_sidecar(
    cluster: LocalCluster, ns: str, tmp_path: Any
) -> None:
    client = _client(cluster)
    k = _kubectl(cluster, tmp_path)
    pod = {
        "metadata": {"name": "talker"},
        "spec": {"containers": [shell("main", CRASHER), shell("side", TICKER)]},
    }
    await client.create("pods", pod, ns)

    async def printed() -> str | None:
        res = await run(k, "logs", "talker", "-c", "main", "-n", ns)
        return res.stdout if res.returncode == 0 and "line 3" in res.stdout else None

    out = await eventually(printed, what="main's three lines")
    # stdout and stderr both; each stream in order (two pipes, as a container runtime
    # has, so lines of different streams may swap places).
    lines = out.splitlines()
    assert [x for x in lines if "line" in x] == ["run 0 line 1", "run 0 line 2", "run 0 line 3"]
    assert "run 0 oops" in lines

    # No -c: kubectl picks the first container itself and says so; the API alone refuses.
    res = await run(k, "logs", "talker", "-n", ns)
    assert res.returncode == 0 and "run 0 line 1" in res.stdout
    assert 'Defaulted container "main" out of: main, side' in res.stderr
    res = await run(k, "get", "--raw", f"/api/v1/namespaces/{ns}/pods/talker/log")
    assert res.returncode == 1
    assert (
        "a container name must be specified for pod talker, choose one of: [main side]"
        in res.stderr
    )

    res = await run(k, "logs", "talker", "-c", "main", "-n", ns, "--tail", "1")
    assert res.stdout == "run 0 line 3\n"
    res = await run(k, "logs", "talker", "-c", "main", "-n", ns, "--limit-bytes", "9")
    assert res.stdout == "run 0 lin"
    res = await run(k, "logs", "talker", "-c", "main", "-n", ns, "--timestamps")
    lines = res.stdout.encode().splitlines()
    assert lines and all(STAMP.match(line) for line in lines), lines
    res = await run(
        k, "logs", "talker", "-c", "main", "-n", ns, "--since-time", "2099-01-01T00:00:00Z"
    )
    assert (res.returncode, res.stdout) == (0, "")
    res = await run(k, "logs", "talker", "-c", "main", "-n", ns, "--since", "1h")
    assert "run 0 line 1" in res.stdout

    # The sidecar never restarted: no previous run.
    res = await run(k, "logs", "talker", "-c", "side", "-n", ns, "--previous")
    assert res.returncode == 1
    assert (
        'Error from server (BadRequest): previous terminated container "side" in pod '
        '"talker" not found' in res.stderr
    )
    res = await run(k, "logs", "talker", "-c", "nope", "-n", ns)
    assert res.returncode == 1 and "container nope is not valid for pod talker" in res.stderr

    # After restarts, --previous is the run before (the last one while waiting to restart).
    async def settled() -> tuple[Obj, str, str] | None:
        before = await container_status(client, ns, "talker", "main")
        if not before or before["restartCount"] < 2:
            return None
        now = await run(k, "logs", "talker", "-c", "main", "-n", ns)
        prev = await run(k, "logs", "talker", "-c", "main", "-n", ns, "--previous")
        after = await container_status(client, ns, "talker", "main")
        if after is None or (after["restartCount"], list(after["state"])) != (
            before["restartCount"],
            list(before["state"]),
        ):
            return None  # it moved on while we asked; ask again
        if "line 3" not in now.stdout or now.returncode or prev.returncode:
            return None
        return before, now.stdout, prev.stdout

    status, now_out, prev_out = await eventually(settled, timeout=40, what="a restarted main")
    count = status["restartCount"]
    previous = count - 1 if "running" in status["state"] else count
    assert now_out.splitlines()[0] == f"run {count} line 1"
    assert prev_out.splitlines()[0] == f"run {previous} line 1"


@pytest.mark.asyncio(loop_scope="module")
async def test_follow_streams_until_the_client_leaves_or_the_process_ends(
    cluster: LocalCluster, ns: str, tmp_path: Any
) -> None:
    client = _client(cluster)
    k = _kubectl(cluster, tmp_path)
    await client.create(
        "pods", {"metadata": {"name": "ticker"}, "spec": {"containers": [shell("t", TICKER)]}}, ns
    )
    script = "echo first; sleep 1.5; echo second; exit 0"
    await client.create(
        "pods",
        {
            "metadata": {"name": "oneshot"},
            "spec": {"restartPolicy": "Never", "containers": [shell("o", script)]},
        },
        ns,
    )

    async def running(pod: str) -> bool:
        obj: Obj = await client.get("pods", pod, ns)
        statuses = (obj.get("status") or {}).get("containerStatuses") or []
        return bool(statuses) and "running" in statuses[0]["state"]

    await eventually(lambda: running("ticker"), what="ticker running")

    def follow_three() -> list[str]:
        proc = subprocess.Popen(
            [KUBECTL, "logs", "-f", "ticker", "-n", ns],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=k.env(),
        )
        assert proc.stdout is not None
        try:
            got: list[str] = []
            deadline = time.monotonic() + 20
            while len(got) < 8 and time.monotonic() < deadline:
                got.append(proc.stdout.readline().rstrip("\n"))
            return got
        finally:
            proc.terminate()
            proc.wait(timeout=10)

    got = await asyncio.to_thread(follow_three)
    ticks = [int(line.split()[1]) for line in got if line.startswith("tick ")]
    assert got[0] == "side up"
    # Lines printed after kubectl started arrived while it listened, in order.
    assert ticks == list(range(ticks[0], ticks[0] + len(ticks))) and len(ticks) == 7

    await eventually(lambda: running("oneshot"), what="oneshot running")
    started = time.monotonic()
    res = await asyncio.to_thread(k.run, "logs", "-f", "oneshot", "-n", ns, timeout=30)
    assert res.stdout == "first\nsecond\n"
    assert time.monotonic() - started < 20  # it ended with the process, not a timeout


@pytest.mark.asyncio(loop_scope="module")
async def test_a_container_that_cannot_start_has_no_logs_yet(
    cluster: LocalCluster, ns: str, tmp_path: Any
) -> None:
    client = _client(cluster)
    k = _kubectl(cluster, tmp_path)
    pod = {"metadata": {"name": "nocmd"}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
    await client.create("pods", pod, ns)

    async def waiting() -> bool:
        cs = await container_status(client, ns, "nocmd", "c")
        return (
            bool(cs)
            and "waiting" in cs["state"]
            and cs["state"]["waiting"].get("reason") == "RunContainerError"
        )

    await eventually(waiting, what="nocmd waiting")
    res = await run(k, "logs", "nocmd", "-n", ns)
    assert res.returncode == 1
    assert res.stderr.strip() == (
        'Error from server (BadRequest): container "c" in pod "nocmd" is waiting to start: '
        "RunContainerError"
    )
    # A pod bound to a Node that does not exist: upstream's (odd) 404 names a pod.
    await client.create(
        "pods",
        {
            "metadata": {"name": "lost"},
            "spec": {"nodeName": "ghost", "containers": [shell("c", "true")]},
        },
        ns,
    )
    res = await run(k, "logs", "lost", "-n", ns)
    assert res.returncode == 1
    assert 'Error from server (NotFound): pods "ghost" not found' in res.stderr


def test_a_node_without_kubelet_answers_as_kube_apiserver_does(
    kubectl: Kubectl, namespace: str
) -> None:
    """Simulated nodes run no kubelet: the failed connection is the answer, in Go's words."""
    kubectl(
        "create",
        "-f",
        "-",
        input="apiVersion: v1\nkind: Node\nmetadata: {name: sim-1}\n",
    )
    try:
        kubectl(
            "patch",
            "node",
            "sim-1",
            "--subresource=status",
            "--type=merge",
            "-p",
            '{"status":{"addresses":[{"type":"Hostname","address":"sim-1.invalid"}],'
            '"daemonEndpoints":{"kubeletEndpoint":{"Port":10250}}}}',
        )
        kubectl(
            "create",
            "-n",
            namespace,
            "-f",
            "-",
            input=(
                "apiVersion: v1\nkind: Pod\nmetadata: {name: sim}\n"
                "spec: {nodeName: sim-1, containers: [{name: c, image: nginx}]}\n"
            ),
        )
        res = kubectl.run("logs", "sim", "-n", namespace, "--tail", "5", check=False)
        assert res.returncode == 1
        prefix = (
            f'Error from server: Get "https://sim-1.invalid:10250/containerLogs/{namespace}/sim/c'
            '?tailLines=5": dial tcp: lookup sim-1.invalid'
        )
        assert res.stderr.startswith(prefix), res.stderr
        assert res.stderr.rstrip().endswith(": no such host")
        # An unscheduled pod has nowhere to read from: 204, nothing printed.
        kubectl(
            "create",
            "-n",
            namespace,
            "-f",
            "-",
            input=(
                "apiVersion: v1\nkind: Pod\nmetadata: {name: pending}\n"
                "spec: {containers: [{name: c, image: nginx}]}\n"
            ),
        )
        res = kubectl.run("logs", "pending", "-n", namespace, check=False)
        assert (res.returncode, res.stdout) == (0, "")
    finally:
        kubectl.run("delete", "node", "sim-1", check=False)
