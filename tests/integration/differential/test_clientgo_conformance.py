"""client-go's list/watch machinery against sliceplane's API server (issue 10, part 5).

``tools/clientgo-check`` (our Go program on client-go v0.37.2, the version the pinned
Kubernetes uses; ``make clientgo-check-bin``) runs named checks against a kubeconfig and
prints one JSON line per check. It runs against the real kube-apiserver
(``sliceplane.testenv.ControlPlane``) and against ``sliceplane apiserver``
(``SliceplaneAPIServer``), at the same time; every check must pass on both and report the
same detail (the program already leaves resourceVersions, uids and times out).

For the two 410 checks, resourceVersion 1 must become too old within seconds on both:
kube-apiserver compacts etcd every second (``--etcd-compaction-interval=1s``; the checks use
Events, which have no watch cache upstream, so their watches reach etcd), sliceplane keeps
a 50-event history window (``--history-window=50``). What is allowed to differ, and is
checked on its own: the answer's content type for a protobuf client (sliceplane answers
JSON, docs/upstream-differences.md) and the words of the 410 message (etcd's on one side,
the watch cache's on the other).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from diffkit import BINARIES, MISSING

from sliceplane.testenv import ControlPlane
from sliceplane.testenv.sliceplane_apiserver import SliceplaneAPIServer

CACHE = Path(
    os.environ.get("SLICEPLANE_CLIENTGO_CHECK_CACHE")
    or Path.home() / ".cache" / "sliceplane" / "clientgo-check"
)


def _program() -> Path | None:
    try:
        path = CACHE / (CACHE / "current").read_text().strip() / "clientgo-check"
    except OSError:
        return None
    return path if os.access(path, os.X_OK) else None


PROGRAM = _program()
NO_PROGRAM = "" if PROGRAM else "clientgo-check not built (make clientgo-check-bin)"
pytestmark = [
    pytest.mark.skipif(bool(MISSING or NO_PROGRAM), reason=MISSING or NO_PROGRAM),
    pytest.mark.timeout(600),
]

CHECKS = (
    "list-pagination",
    "informer-pods",
    "informer-endpointslices",
    "watch-from-resourceversion",
    "watch-bookmarks",
    "watch-too-old-resourceversion",
    "reflector-resume-after-close",
    "reflector-relist-on-gone",
    "watchlist-stream",
    "selectors-list",
    "selectors-watch",
    "protobuf-negotiation",
    "update-conflict",
)
# Detail keys allowed to differ, each asserted per side in its own test below.
OWN_KEYS = {
    "protobuf-negotiation": ("responseContentTypes",),
    "watch-too-old-resourceversion": ("message",),
}

Results = dict[str, dict[str, Any]]


def _run(kubeconfig: Path) -> tuple[Results, str, float]:
    assert PROGRAM is not None
    started = time.monotonic()
    proc = subprocess.run(
        [str(PROGRAM), "-kubeconfig", str(kubeconfig), "-timeout", "60s"],
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    return {r["check"]: r for r in lines}, proc.stderr[-4000:], time.monotonic() - started


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Results]]:
    workdir = tmp_path_factory.mktemp("clientgo")
    upstream = ControlPlane(
        workdir / "kube-apiserver",
        binaries=BINARIES,
        unsafe_no_fsync=True,
        apiserver_args=("--etcd-compaction-interval=1s",),
    )
    sp = SliceplaneAPIServer(workdir / "sliceplane", extra_args=("--history-window=50",))
    started: list[Any] = []
    try:
        for server in (upstream, sp):
            server.start()
            started.append(server)
        with ThreadPoolExecutor(2) as pool:
            runs = list(pool.map(_run, (upstream.kubeconfig, sp.kubeconfig)))
        out: dict[str, Results] = {}
        for name, (res, stderr, took) in zip(("kube-apiserver", "sliceplane"), runs, strict=True):
            print(f"clientgo-check against {name}: {len(res)} checks in {took:.1f} s")
            missing = [c for c in CHECKS if c not in res]
            assert not missing, f"{name}: no result for {missing}; stderr:\n{stderr}"
            out[name] = res
        yield out
    finally:
        for thing in reversed(started):
            thing.stop()


def _comparable(check: str, result: dict[str, Any]) -> dict[str, Any]:
    detail = dict(result["detail"])
    for key in OWN_KEYS.get(check, ()):
        detail.pop(key, None)
    return detail


@pytest.mark.parametrize("check", CHECKS)
def test_check_passes_on_both_and_agrees(results: dict[str, Results], check: str) -> None:
    upstream, sp = results["kube-apiserver"][check], results["sliceplane"][check]
    assert upstream["ok"], f"kube-apiserver failed {check}: {upstream['detail']}"
    assert sp["ok"], f"sliceplane failed {check}: {sp['detail']}"
    assert _comparable(check, sp) == _comparable(check, upstream)


def test_informers_streamed_their_initial_list(results: dict[str, Results]) -> None:
    """WatchListClient is on by default in client-go 0.37: the informer must have used a
    sendInitialEvents watch on both servers, not fallen back to a list."""
    for name in results:
        detail = results[name]["informer-pods"]["detail"]
        assert detail["watchListClientGate"] is True, name
        assert detail["streamedInitialList"] is True, name
        assert detail["fellBackToList"] is False, name


def test_protobuf_client_gets_protobuf_upstream_and_json_here(
    results: dict[str, Results],
) -> None:
    up = results["kube-apiserver"]["protobuf-negotiation"]["detail"]["responseContentTypes"]
    sp = results["sliceplane"]["protobuf-negotiation"]["detail"]["responseContentTypes"]
    assert up == ["application/vnd.kubernetes.protobuf"]
    assert sp == ["application/json"]


def test_too_old_messages(results: dict[str, Results]) -> None:
    """etcd's words on kube-apiserver (Events bypass its watch cache); sliceplane answers
    with the watch cache's, which upstream gives for every cached resource."""
    up = results["kube-apiserver"]["watch-too-old-resourceversion"]["detail"]["message"]
    sp = results["sliceplane"]["watch-too-old-resourceversion"]["detail"]["message"]
    assert up == "The resourceVersion for the provided watch is too old."
    assert sp == "too old resource version: N (N)"
