"""``bench/proxy.py --part upstream``: kube-proxy and ``sliceplane proxy`` on one workload.

A :class:`~sliceplane.testenv.proxylab.ProxyLab` (kube-apiserver and etcd in a control-plane
namespace, or with ``--upstream-apiserver sliceplane`` sliceplane's API server there; one
node namespace) gets N Services x 10 endpoints, written concurrently with
sliceplane's client from inside the control-plane namespace. Then, one after the other
(never together: two cores), kube-proxy and ``sliceplane proxy`` run in the node with the
same flags (``proxylab.proxy_argv``), and each is read through its own metrics, which have
the same names on both sides: the first sync (full, every Service), then adding one
Service (and its slice), then changing one endpoint of an existing slice; per step the
mean duration of the syncs it caused (``kubeproxy_sync_*_proxy_rules_duration_seconds``
sum and count deltas), and the proxy process's RSS.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import time
import urllib.request
from pathlib import Path
from typing import Any

from procstats import load, rss_mib
from progress import phase

Obj = dict[str, Any]
METRIC = re.compile(
    r"^(kubeproxy_sync_(full|partial)_proxy_rules_duration_seconds_(sum|count))"
    r'\{ip_family="IPv4"\} (\S+)$'
)


def _metrics(lab: Any, node: Any) -> dict[str, float]:
    from sliceplane.testenv.netns import in_netns

    def get() -> str:
        with urllib.request.urlopen("http://127.0.0.1:10249/metrics", timeout=10) as r:
            return r.read().decode()

    try:
        text = in_netns(node.netns, get)
    except OSError:
        return {}
    out: dict[str, float] = {}
    for line in text.splitlines():
        m = METRIC.match(line)
        if m:
            out[f"{m.group(2)}_{m.group(3)}"] = float(m.group(4))
    return out


def _wait(probe: Any, what: str, timeout: float = 300.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = probe()
        if got:
            return got
        time.sleep(0.2)
    raise RuntimeError(f"timed out waiting for {what}")


def _service(i: int) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"namespace": "default", "name": f"svc-{i}"},
        "spec": {"ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}]},
    }


def _slice(i: int, change: int = 0) -> Obj:
    eps = []
    for j in range(10):
        k = i * 10 + j
        eps.append(
            {
                "addresses": [f"10.{244 + (k >> 16)}.{(k >> 8) & 0xFF}.{(k & 0xFF) or 1}"],
                "conditions": {"ready": True},
                "nodeName": "node-a",
            }
        )
    if change:
        eps[3]["addresses"] = ["10.255.255.254"]
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "namespace": "default",
            "name": f"svc-{i}-abcde",
            "labels": {"kubernetes.io/service-name": f"svc-{i}"},
        },
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": eps,
    }


async def _bulk(kubeconfig: Path, first: int, n: int, concurrency: int = 24) -> None:
    from sliceplane.client.client import Client

    async with await Client.connect(str(kubeconfig)) as client:
        sem = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            async with sem:
                await client.create("services", _service(i), "default")
                await client.create("endpointslices", _slice(i), "default")
            tick()

        with phase(f"creating {n} Services + slices", n) as tick:
            await asyncio.gather(*(one(i) for i in range(first, first + n)))


def _create(lab: Any, first: int, n: int) -> float:
    from sliceplane.testenv.netns import in_netns

    t = time.perf_counter()
    in_netns(
        lab.topology.controlplane.netns,
        lambda: asyncio.run(_bulk(lab.controlplane.kubeconfig, first, n)),
    )
    return time.perf_counter() - t


def _step(lab: Any, node: Any, before: dict[str, float], action: Any) -> Obj:
    action()

    def settled() -> dict[str, float] | None:
        now = _metrics(lab, node)
        if now.get("partial_count", 0) <= before.get("partial_count", 0):
            return None
        time.sleep(0.5)  # a second sync for the same change (Service then slice) may follow
        return _metrics(lab, node)

    after = _wait(settled, "a partial sync")
    dc = after["partial_count"] - before.get("partial_count", 0)
    ds = after["partial_sum"] - before.get("partial_sum", 0)
    return {"syncs": dc, "mean_ms": 1000 * ds / dc if dc else float("nan"), "after": after}


IPTABLES_TOOLS = (
    "iptables",
    "iptables-save",
    "iptables-restore",
    "ip6tables",
    "ip6tables-save",
    "ip6tables-restore",
)


def legacy_path(workdir: Path) -> dict[str, str]:
    """An environment whose ``iptables*`` are Debian's ``iptables-legacy*``.

    Why: Debian's default ``iptables-nft-restore`` takes about 20x longer on the same input
    (minutes for 10,000 Services, for either proxy), so the iptables rows would measure
    that tool rather than the proxies. Both proxies call ``iptables*`` from PATH (the
    kube-proxy image's wrapper makes the same choice between the two), so the same
    environment switches both.
    """
    bindir = workdir / "legacy-bin"
    bindir.mkdir(parents=True, exist_ok=True)
    for tool in IPTABLES_TOOLS:
        target = shutil.which(tool.replace("tables", "tables-legacy", 1))
        if target is None:
            raise RuntimeError(f"{tool}-legacy is not installed (Debian's iptables package)")
        link = bindir / tool
        if not link.exists():
            link.symlink_to(target)
    env = dict(os.environ)
    env["PATH"] = f"{bindir}:{env.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}"
    return env


def _clear_legacy(lab: Any, node: Any) -> None:
    """What the next proxy must not inherit: every legacy table's chains and rules."""
    for table in ("nat", "filter", "mangle"):
        for flag in ("-F", "-X"):
            lab.in_node(node, ["iptables-legacy", "-w", "5", "-t", table, flag])


def measure(
    n: int,
    impls: tuple[str, ...] = ("kube-proxy", "sliceplane"),
    modes: tuple[str, ...] = ("nftables",),
    backend: str = "nft",
    apiserver: str = "kube-apiserver",
) -> list[Obj]:
    """Both proxies in each of ``modes`` over one written workload of ``n`` Services, on
    ``apiserver`` (``kube-apiserver`` or ``sliceplane``)."""
    from sliceplane.testenv.netns import Network, topology
    from sliceplane.testenv.proxylab import ProxyLab

    rows: list[Obj] = []
    workdir = Path(os.environ.get("TMPDIR", "/tmp")) / f"sp-bench-proxy-{os.getpid()}-{n}"
    topo = topology("bprx", os.getpid(), nodes=(("node-a", "zone-a"),), pods=("pod-1",),
                    service_cidr="198.19.0.0/16")  # fmt: skip
    with contextlib.ExitStack() as stack:
        with phase(f"{n} Services: starting the lab"):
            lab = stack.enter_context(
                ProxyLab(Network(topo, workdir), apiserver=apiserver)  # type: ignore[arg-type]
            )
        node = topo.nodes[0]
        created = _create(lab, 0, n)
        print(
            f"[upstream] {n} Services + slices written to {apiserver} in {created:.0f}s"
            f" (load {load()})",
            flush=True,
        )
        extra_i = n
        for mode in modes:
            legacy = mode == "iptables" and backend == "legacy"
            env = legacy_path(workdir) if legacy else None
            for impl in impls:
                if legacy:
                    _clear_legacy(lab, node)
                proc = lab.start_proxy(
                    node, impl, mode, extra=["--metrics-bind-address=127.0.0.1:10249"], env=env
                )  # type: ignore[arg-type]
                t0 = time.perf_counter()
                with phase(f"{impl}: waiting for its first sync"):
                    first = _wait(
                        lambda: (m := _metrics(lab, node)).get("full_count", 0) >= 1 and m,
                        "the first sync",
                        # kube-proxy's first nftables sync of 30,000 Services took longer
                        # than a flat 300 s here; the bound grows with the workload
                        timeout=300.0 + n / 20,
                    )
                ready = time.perf_counter() - t0
                row: Obj = {
                    "impl": impl,
                    "apiserver": apiserver,
                    "written_s": created,
                    "mode": mode,
                    "backend": backend if mode == "iptables" else "nft",
                    "services": n,
                    "first_full_ms": 1000 * first["full_sum"] / first["full_count"],
                    "first_sync_seen_s": ready,
                    "rss_mib": rss_mib(proc.proc.pid),
                }
                time.sleep(1.0)
                base = _metrics(lab, node)
                i = extra_i
                extra_i += 1
                with phase(f"{impl}: add one, change one endpoint", 2) as tick:
                    row["add_one"] = _step(lab, node, base, lambda i=i: _create(lab, i, 1))
                    tick()
                    base = _metrics(lab, node)

                    def change() -> None:
                        from sliceplane.testenv.netns import in_netns

                        async def put() -> None:
                            from sliceplane.client.client import Client

                            async with await Client.connect(str(lab.controlplane.kubeconfig)) as c:
                                cur = await c.get("endpointslices", "svc-0-abcde", "default")
                                changed = cur["endpoints"][3]["addresses"][0] == "10.255.255.254"
                                new = _slice(0) if changed else _slice(0, change=1)
                                rv = cur["metadata"]["resourceVersion"]
                                new["metadata"]["resourceVersion"] = rv
                                await c.update("endpointslices", new)

                        in_netns(lab.topology.controlplane.netns, lambda: asyncio.run(put()))

                    row["change_one_endpoint"] = _step(lab, node, base, change)
                    tick()
                row["rss_after_mib"] = rss_mib(proc.proc.pid)
                for k in ("add_one", "change_one_endpoint"):
                    row[k].pop("after", None)
                print(
                    f"  {impl} ({mode}): first sync {row['first_full_ms']:.0f} ms, add one "
                    f"{row['add_one']['mean_ms']:.1f} ms x{row['add_one']['syncs']:.0f}, "
                    "change one "
                    f"{row['change_one_endpoint']['mean_ms']:.1f} ms, "
                    f"RSS {row['rss_after_mib']:.0f} MiB",
                    flush=True,
                )
                rows.append(row)
                proc.stop()
            if legacy:
                _clear_legacy(lab, node)
    shutil.rmtree(workdir, ignore_errors=True)
    return rows


def figures(rows: list[Obj]) -> tuple[dict[str, float], dict[str, float]]:
    """One run's rows as ``bench/report.py`` figures: (sliceplane's, kube-proxy's)."""
    sides: dict[str, dict[str, float]] = {"sliceplane": {}, "kube-proxy": {}}
    for r in rows:
        side = sides.get(r["impl"])
        if side is None:
            continue
        at = f"{r['mode']} {r['services']:,}"
        side[f"{at}: first sync ms"] = r["first_full_ms"]
        side[f"{at}: rules seen after start s"] = r["first_sync_seen_s"]
        side[f"{at}: add one Service ms"] = r["add_one"]["mean_ms"]
        side[f"{at}: change one endpoint ms"] = r["change_one_endpoint"]["mean_ms"]
        side[f"{at}: RSS MiB"] = r["rss_after_mib"]
    return sides["sliceplane"], sides["kube-proxy"]


def part_upstream(
    sizes: list[int],
    modes: tuple[str, ...] = ("nftables",),
    backend: str = "legacy",
    apiserver: str = "kube-apiserver",
) -> list[Obj]:
    rows: list[Obj] = []
    runs = [(m, n) for n in sizes for m in modes]
    with phase("upstream sizes", len(sizes)) as tick:
        for n in sizes:
            rows.extend(measure(n, modes=modes, backend=backend, apiserver=apiserver))
            tick()
    by = {(r["impl"], r["mode"], r["services"]): r for r in rows}
    for mode, n in runs:
        k, s = by.get(("kube-proxy", mode, n)), by.get(("sliceplane", mode, n))
        if k and s:
            print(
                f"[upstream] {mode} {n}: sliceplane/kube-proxy first sync "
                f"{s['first_full_ms'] / k['first_full_ms']:.2f}x, add one "
                f"{s['add_one']['mean_ms'] / k['add_one']['mean_ms']:.2f}x, RSS "
                f"{s['rss_after_mib'] / k['rss_after_mib']:.2f}x",
                flush=True,
            )
    return rows
