"""Upstream's kube-controller-manager, unchanged, against sliceplane's API server (issue 10).

The endpoint controllers of the real kube-controller-manager run twice: against the real
kube-apiserver (``ControlPlane``) and against ``sliceplane apiserver``
(:class:`~sliceplane.testenv.sliceplane_apiserver.SliceplaneAPIServer`, with
:class:`~sliceplane.testenv.kcm.ControllerManager`). The same traces as the controller
differential (``test_diff_controller``: Nodes, Services, Pods with their status written
through the status subresource, hand-written Endpoints for mirroring) are applied to both
servers; after each segment the EndpointSlices and Endpoints each kube-controller-manager
wrote are compared, normalised as upstream's own tests compare them (names' random
suffixes, UIDs, resourceVersions and trigger times left out). Any difference is then the
API server's doing: what it serves the controllers (lists, watches, defaults, status
subresources, protobuf request bodies, deletes with preconditions) or how it answers their
writes.

Write counts per segment land in build/differential/upstream-kcm-report.json.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from diffkit import (
    BATCH_PERIOD,
    BINARIES,
    DUAL_STACK_ARGS,
    MISSING,
    SUPPORT_CONTROLLERS,
    UPSTREAM_CONTROLLERS,
    apply_op,
    converge,
    diff,
    request_counts,
    write_report,
    writes,
)
from test_diff_controller import Trace, deterministic_traces, random_trace

from sliceplane.client.client import Client
from sliceplane.testenv import ControlPlane
from sliceplane.testenv.kcm import ENDPOINT_CONTROLLERS, ControllerManager
from sliceplane.testenv.sliceplane_apiserver import SliceplaneAPIServer

pytestmark = [pytest.mark.skipif(bool(MISSING), reason=MISSING), pytest.mark.timeout(600)]

# The garbage collector and namespace controller run inside sliceplane's server; only the
# upstream side needs kube-controller-manager's.
assert set(UPSTREAM_CONTROLLERS) == set(ENDPOINT_CONTROLLERS) | set(SUPPORT_CONTROLLERS)
KCM_ARGS = (
    f"--endpointslice-updates-batch-period={BATCH_PERIOD:g}s",
    f"--endpoint-updates-batch-period={BATCH_PERIOD:g}s",
)
DUAL_STACK_CIDR = DUAL_STACK_ARGS[0].split("=", 1)[1]
TRACES: list[Trace] = deterministic_traces() + [random_trace(s) for s in (11, 23, 37)]
REPORT: dict[str, Any] = {}


@dataclass
class Servers:
    kube_apiserver: ControlPlane
    sliceplane: SliceplaneAPIServer
    kcm: ControllerManager


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    workdir = tmp_path_factory.mktemp("upstreamkcm")
    upstream = ControlPlane(
        workdir / "kube-apiserver",
        binaries=BINARIES,
        with_controller_manager=True,
        controllers=UPSTREAM_CONTROLLERS,
        unsafe_no_fsync=True,
        apiserver_args=DUAL_STACK_ARGS,
        controller_manager_args=KCM_ARGS,
    )
    sp = SliceplaneAPIServer(workdir / "sliceplane", service_cidr=DUAL_STACK_CIDR)
    kcm = ControllerManager(
        sp.kubeconfig, workdir / "sliceplane", binaries=BINARIES, extra_args=KCM_ARGS
    )
    try:
        upstream.start()
        sp.start()
        kcm.start()
        yield Servers(upstream, sp, kcm)
    finally:
        kcm.stop()
        sp.stop()
        upstream.stop()
        if REPORT:
            print(f"\nupstream kcm report: {write_report('upstream-kcm-report.json', REPORT)}")


@pytest.fixture
async def clients(servers: Servers) -> AsyncIterator[tuple[Client, Client]]:
    up = await Client.connect(servers.kube_apiserver.kubeconfig)
    sp = await Client.connect(servers.sliceplane.kubeconfig)
    try:
        yield up, sp
    finally:
        await up.close()
        await sp.close()


@pytest.mark.parametrize("trace", TRACES, ids=[t.name for t in TRACES])
async def test_upstream_kcm_same_slices(
    trace: Trace, servers: Servers, clients: tuple[Client, Client], tmp_path: Path
) -> None:
    up, sp = clients
    ns = f"u-{uuid.uuid4().hex[:6]}"
    await asyncio.gather(
        up.create("namespaces", {"metadata": {"name": ns}}),
        sp.create("namespaces", {"metadata": {"name": ns}}),
    )
    record: dict[str, Any] = {"segments": []}
    REPORT[trace.name] = record
    problems: list[str] = []
    try:
        for index, segment in enumerate(trace.segments):
            before = await asyncio.gather(
                request_counts(up, "endpointslices"), request_counts(sp, "endpointslices")
            )
            for op in segment:
                await asyncio.gather(apply_op(up, ns, op), apply_op(sp, ns, op))
            loose = index in trace.loose_sizes
            a, b, waited = await converge(
                up, sp, ns, aggregate_hints=trace.aggregate_hints, sizes=not loose
            )
            after = await asyncio.gather(
                request_counts(up, "endpointslices"), request_counts(sp, "endpointslices")
            )
            differences = diff(a.comparable(sizes=not loose), b.comparable(sizes=not loose))
            record["segments"].append(
                {
                    "ops": [repr(o) for o in segment],
                    "writes_on_kube_apiserver": writes(before[0], after[0]),
                    "writes_on_sliceplane": writes(before[1], after[1]),
                    "converged_after_s": round(waited, 2),
                    "differences": differences,
                }
            )
            if differences:
                problems.append(f"segment {index}: " + "\n  ".join(differences[:20]))
            # The controller must still be running: a crash would leave both sides frozen
            # and, after a segment that changes nothing, equal.
            servers.kcm.check_running()
    finally:
        for op in trace.cleanup:
            await asyncio.gather(apply_op(up, ns, op), apply_op(sp, ns, op))
    assert not problems, (
        f"trace {trace.name}: kube-controller-manager wrote different objects to "
        "kube-apiserver and to sliceplane's server (upstream = kube-apiserver):\n"
        + "\n".join(problems)
        + f"\nkube-controller-manager on sliceplane, log tail:\n{servers.kcm.tail(20)}"
    )


async def test_upstream_kcm_writes_something(clients: tuple[Client, Client]) -> None:
    """The comparison is not vacuous: on sliceplane's server kube-controller-manager (not
    sliceplane's controllers, which do not run here) writes a Service's slice and
    Endpoints, with upstream's managed-by label."""
    _, sp = clients
    ns = f"u-{uuid.uuid4().hex[:6]}"
    await sp.create("namespaces", {"metadata": {"name": ns}})
    await sp.create(
        "services",
        {
            "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]},
        },
        ns,
    )
    for _ in range(150):
        items = (await sp.list("endpointslices", ns)).items
        if items and (await sp.list("endpoints", ns)).items:
            break
        await asyncio.sleep(0.2)
    assert [s["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"] for s in items] == [
        "endpointslice-controller.k8s.io"
    ]
    assert items[0]["metadata"]["generateName"] == "web-"
