"""``sliceplane controller`` as a process: all three controllers, leader election, CLI errors."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from harness import BIN, ServerProcess

from sliceplane.api import errors
from sliceplane.client.client import Client

Obj = dict[str, Any]


def start_controller(kubeconfig: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            str(BIN / "sliceplane"),
            "controller",
            "--kubeconfig",
            str(kubeconfig),
            "--metrics-bind-address",
            "127.0.0.1:0",
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def stop(proc: subprocess.Popen[str], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout:
        proc.stdout.close()


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met before the deadline")
        await asyncio.sleep(0.2)


@pytest.fixture
async def client(apiserver: ServerProcess) -> AsyncIterator[Client]:
    c = await Client.connect(apiserver.kubeconfig)
    yield c
    await c.close()


@pytest.fixture
async def ns(client: Client) -> AsyncIterator[str]:
    name = f"cm-{uuid.uuid4().hex[:8]}"
    await client.create("namespaces", {"metadata": {"name": name}})
    with contextlib.suppress(errors.AlreadyExists):
        await client.create("nodes", {"metadata": {"name": "node-1"}})
    yield name
    with contextlib.suppress(Exception):
        await client.delete("namespaces", name)


async def ready_pod(client: Client, ns: str, name: str, ip: str, labels: dict[str, str]) -> None:
    pod = {
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "nodeName": "node-1",
            "containers": [{"name": "c", "image": "app:1", "ports": [{"containerPort": 8080}]}],
        },
    }
    await client.create("pods", pod, ns)
    await client.patch(
        "pods",
        name,
        {
            "status": {
                "phase": "Running",
                "podIP": ip,
                "podIPs": [{"ip": ip}],
                "conditions": [{"type": "Ready", "status": "True"}],
            }
        },
        ns,
        subresource="status",
    )


def test_out_of_range_flags_are_one_line_errors(apiserver: ServerProcess) -> None:
    for args, text in (
        (
            ["--max-endpoints-per-slice", "1001"],
            "--max-endpoints-per-slice: 1001 must be between 1 and 1000",
        ),
        (["--concurrent-service-endpoint-syncs", "0"], "must be between 1 and 50"),
        (["--endpointslice-updates-batch-period", "soon"], "invalid duration"),
        (["--controllers", "endpointslice,nope"], "unknown controller 'nope'"),
        (["--kube-api-burst", "-1"], "--kube-api-burst: -1 must not be negative"),
        (["--endpointslice-write-backoff", "-1s"], "--endpointslice-write-backoff must not"),
    ):
        res = subprocess.run(
            [
                str(BIN / "sliceplane"),
                "controller",
                "--kubeconfig",
                str(apiserver.kubeconfig),
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert res.returncode == 2, res.stderr
        assert text in res.stderr
        assert len(res.stderr.strip().splitlines()) == 1
        assert "Traceback" not in res.stderr


async def test_all_three_controllers(client: Client, ns: str, apiserver: ServerProcess) -> None:
    proc = start_controller(apiserver.kubeconfig)
    try:
        await client.create(
            "services",
            {
                "metadata": {"name": "sel"},
                "spec": {"selector": {"app": "sel"}, "ports": [{"port": 80, "targetPort": 8080}]},
            },
            ns,
        )
        await ready_pod(client, ns, "sel-0", "10.7.0.1", {"app": "sel"})
        await ready_pod(client, ns, "sel-1", "10.7.0.2", {"app": "sel"})
        # A selector-less Service with hand-written Endpoints: mirrored into a slice.
        await client.create(
            "services",
            {
                "metadata": {"name": "ext"},
                "spec": {"ports": [{"port": 5432}]},
            },
            ns,
        )
        await client.create(
            "endpoints",
            {
                "metadata": {"name": "ext"},
                "subsets": [{"addresses": [{"ip": "192.0.2.10"}], "ports": [{"port": 5432}]}],
            },
            ns,
        )

        async def converged() -> bool:
            slices = (await client.list("endpointslices", ns)).items
            by_svc: dict[str, list[Obj]] = {}
            for s in slices:
                by_svc.setdefault(s["metadata"]["labels"]["kubernetes.io/service-name"], []).append(
                    s
                )
            try:
                ep = await client.get("endpoints", "sel", ns)
            except errors.NotFound:
                return False
            sel = by_svc.get("sel", [])
            ext = by_svc.get("ext", [])
            return (
                len(sel) == 1
                and len(sel[0]["endpoints"] or []) == 2
                and len(ext) == 1
                and ext[0]["endpoints"][0]["addresses"] == ["192.0.2.10"]
                and sorted(a["ip"] for a in ep["subsets"][0]["addresses"])
                == ["10.7.0.1", "10.7.0.2"]
            )

        await eventually(converged)
        slices = (await client.list("endpointslices", ns)).items
        ext = next(
            s for s in slices if s["metadata"]["labels"]["kubernetes.io/service-name"] == "ext"
        )
        assert ext["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"] == (
            "endpointslicemirroring-controller.k8s.io"
        )
        assert ext["ports"] == [{"name": "", "port": 5432, "protocol": "TCP"}]

        # Changing the Endpoints rewrites its one mirrored slice in place (the sync finds
        # it through the mirrored-Endpoints index); deleting the Endpoints removes it.
        async def mirrored() -> list[Obj]:
            return [
                s
                for s in (await client.list("endpointslices", ns)).items
                if s["metadata"]["labels"]["kubernetes.io/service-name"] == "ext"
            ]

        ep = await client.get("endpoints", "ext", ns)
        ep["subsets"][0]["addresses"] = [{"ip": "192.0.2.11"}]
        await client.update("endpoints", ep)

        async def moved() -> bool:
            now = await mirrored()
            return len(now) == 1 and now[0]["endpoints"][0]["addresses"] == ["192.0.2.11"]

        await eventually(moved)
        assert [s["metadata"]["name"] for s in await mirrored()] == [ext["metadata"]["name"]]
        await client.delete("endpoints", "ext", ns)

        async def gone() -> bool:
            return not await mirrored()

        await eventually(gone)
    finally:
        stop(proc)


async def test_leader_election_one_writer_and_handover(
    client: Client, ns: str, apiserver: ServerProcess
) -> None:
    lease_name = "sliceplane-controller-manager"
    args = ["--leader-elect", "--leader-elect-namespace", ns, "--controllers", "endpointslice"]
    a = start_controller(apiserver.kubeconfig, *args)
    b = start_controller(apiserver.kubeconfig, *args)
    try:

        async def held() -> bool:
            try:
                lease = await client.get("leases", lease_name, ns)
            except errors.NotFound:
                return False
            return bool(lease["spec"].get("holderIdentity"))

        await eventually(held)
        first = (await client.get("leases", lease_name, ns))["spec"]["holderIdentity"]
        await client.create(
            "services",
            {
                "metadata": {"name": "le"},
                "spec": {"selector": {"app": "le"}, "ports": [{"port": 80}]},
            },
            ns,
        )

        async def one_slice() -> bool:
            return len((await client.list("endpointslices", ns)).items) == 1

        await eventually(one_slice)
        # Kill whichever holds the lease; the other takes over within the lease duration.
        victim, survivor = (a, b) if a.pid and _holder_is(first, a) else (b, a)
        del survivor
        stop(victim, signal.SIGKILL)

        async def handed_over() -> bool:
            lease = await client.get("leases", lease_name, ns)
            return bool(lease["spec"].get("holderIdentity") not in (None, "", first))

        await eventually(handed_over, 60)
        lease = await client.get("leases", lease_name, ns)
        assert lease["spec"]["leaseTransitions"] >= 1
        await ready_pod(client, ns, "le-0", "10.8.0.1", {"app": "le"})

        async def new_leader_writes() -> bool:
            items = (await client.list("endpointslices", ns)).items
            return len(items) == 1 and len(items[0]["endpoints"] or []) == 1

        await eventually(new_leader_writes)
        assert len((await client.list("endpointslices", ns)).items) == 1  # never duplicated
    finally:
        stop(a)
        stop(b)


def _holder_is(identity: str, proc: subprocess.Popen[str]) -> bool:
    return f"_{proc.pid}_" in identity


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_debug_endpoint_explains_missing_pods_and_metrics(
    client: Client, ns: str, apiserver: ServerProcess
) -> None:
    import aiohttp

    port = _free_port()
    proc = subprocess.Popen(
        [
            str(BIN / "sliceplane"),
            "controller",
            "--kubeconfig",
            str(apiserver.kubeconfig),
            "--controllers",
            "endpointslice",
            "--metrics-bind-address",
            f"127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        await client.create(
            "services",
            {
                "metadata": {"name": "dbg"},
                "spec": {"selector": {"app": "dbg"}, "ports": [{"port": 80, "targetPort": 8080}]},
            },
            ns,
        )
        await ready_pod(client, ns, "good", "10.9.0.1", {"app": "dbg"})
        await ready_pod(client, ns, "typo", "10.9.0.2", {"app": "dgb"})
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as http:

            async def explained() -> bool:
                try:
                    async with http.get(f"{base}/debug/endpointslice/{ns}/dbg") as resp:
                        if resp.status != 200:
                            return False
                        doc = await resp.json()
                except aiohttp.ClientError:
                    return False
                return {p["name"] for p in doc["pods"]} == {"good", "typo"}

            await eventually(explained)
            async with http.get(f"{base}/debug/endpointslice/{ns}/dbg") as resp:
                doc = await resp.json()
            verdicts = {p["name"]: p for p in doc["pods"]}
            assert verdicts["good"]["receives_traffic"] is True
            assert verdicts["typo"]["published"] is False
            assert verdicts["typo"]["reasons"][0]["code"] == "SelectorMismatch"
            assert "app=dbg (pod has app=dgb)" in verdicts["typo"]["reasons"][0]["message"]
            async with http.get(f"{base}/metrics") as resp:
                text = await resp.text()
            assert 'endpoint_slice_controller_syncs_total{result="success"}' in text
            async with http.get(f"{base}/healthz") as resp:
                assert await resp.text() == "ok"
    finally:
        stop(proc)


async def test_sigterm_exits_0_and_releases_the_lease(
    client: Client, ns: str, apiserver: ServerProcess
) -> None:
    """SIGTERM is a clean shutdown: exit 0 and the lease handed back (holder cleared), so a
    successor need not wait out the lease duration."""
    lease_name = "sliceplane-controller-manager"
    proc = start_controller(
        apiserver.kubeconfig,
        "--leader-elect",
        "--leader-elect-namespace",
        ns,
        "--controllers",
        "endpointslice",
    )
    try:

        async def held_by_it() -> bool:
            try:
                lease = await client.get("leases", lease_name, ns)
            except errors.NotFound:
                return False
            return _holder_is(lease["spec"].get("holderIdentity") or "", proc)

        await eventually(held_by_it)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
        output = proc.stdout.read() if proc.stdout else ""
        assert code == 0, output
        assert "Traceback" not in output
        lease = await client.get("leases", lease_name, ns)
        assert not lease["spec"].get("holderIdentity"), lease["spec"]
    finally:
        stop(proc)
