"""Proxy benchmark: render + apply time and memory of ``sliceplane proxy``'s kernel modes,
kube-proxy on the same workload, and the userspace mode's cost per request.

1. ``rules`` (as root): N Services x 10 endpoints (N = 1,000, 10,000, 30,000) fed straight
   into the proxier (no API server), in nftables and iptables mode, applied with the real
   ``nft -f``/``iptables-restore`` inside a network namespace made for the run. Each
   (mode, N) runs in a fresh process, so memory is that of one proxier. Figures: the full
   sync (plan + render, then the kernel's apply), the process's RSS, and with 10,000
   present, a partial sync adding one Service and one changing one endpoint.
2. ``upstream`` (as root, ``make k8s-bin``): the same workload on the real kube-apiserver
   (in a namespace of :class:`~sliceplane.testenv.proxylab.ProxyLab`), then kube-proxy and
   ``sliceplane proxy`` one after the other on one node, each read through its own
   ``kubeproxy_sync_*`` metrics (the same names on both sides): first (full) sync, adding
   one Service, changing one endpoint; RSS of each process. ``--upstream-apiserver
   sliceplane`` runs both proxies against sliceplane's API server instead (kube-proxy
   unchanged; writing the workload is much faster there, which makes 30,000 Services
   feasible).
3. ``userspace``: requests/s through a ClusterIP of the userspace mode against the pod
   directly, measured by ``wrk`` (Debian's, not ours), on loopback.

Figures only, nothing asserted.

    sudo .venv/bin/python bench/proxy.py                       # rules + userspace
    sudo .venv/bin/python bench/proxy.py --part upstream --sizes 1000,10000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import report
from procstats import load, rss_mib
from progress import phase
from sliceplane.proxy.config import RenderConfig
from sliceplane.proxy.proxier import Proxier

Obj = dict[str, Any]
ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "build" / "bench"
ENDPOINTS = 10


# -- workload -----------------------------------------------------------------------------


def service_ip(i: int) -> str:
    return (
        f"10.96.{(i >> 8) & 0xFF}.{i & 0xFF}" if i < 65536 else f"10.97.{i >> 8 & 0xFF}.{i & 0xFF}"
    )


def pod_ip(i: int, j: int) -> str:
    k = i * ENDPOINTS + j
    return f"10.{244 + (k >> 16)}.{(k >> 8) & 0xFF}.{k & 0xFF}"


def service(i: int, ns: str = "bench") -> Obj:
    ip = service_ip(i + 10)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"namespace": ns, "name": f"svc-{i}"},
        "spec": {
            "clusterIP": ip,
            "clusterIPs": [ip],
            "ipFamilies": ["IPv4"],
            "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}],
        },
    }


def endpoint_slice(i: int, ns: str = "bench", extra: int = 0) -> Obj:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "namespace": ns,
            "name": f"svc-{i}-abcde",
            "labels": {"kubernetes.io/service-name": f"svc-{i}"},
        },
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [
            {
                "addresses": [pod_ip(i, j + extra)],
                "conditions": {"ready": True},
                "nodeName": f"node-{j % 3 + 1}",
            }
            for j in range(ENDPOINTS)
        ],
    }


# -- 1. rules, in-process -----------------------------------------------------------------


class Timed:
    """Wraps a backend; adds the time spent in the kernel tool to ``apply``."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.apply = 0.0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if name not in ("run", "restore"):
            return attr

        def timed(*a: Any, **kw: Any) -> Any:
            t = time.perf_counter()
            try:
                return attr(*a, **kw)
            finally:
                self.apply += time.perf_counter() - t

        return timed


def _sync(p: Proxier, backend: Timed, *, full: bool = False) -> dict[str, float]:
    backend.apply = 0.0
    t = time.perf_counter()
    result = p.sync(full=full)
    total = time.perf_counter() - t
    return {
        "total_s": total,
        "apply_s": backend.apply,
        "render_s": total - backend.apply,
        "full": float(result.full),
    }


def inner_rules(mode: str, n: int) -> Obj:
    from sliceplane.proxy.backends import IptablesCommand, NftCommand
    from sliceplane.proxy.modes import IptablesMode, NftablesMode

    cfg = RenderConfig(cluster_cidr="10.244.0.0/14", node_ip="10.0.0.1", nodeport_ips=("10.0.0.1",))
    backend = Timed(NftCommand("ip") if mode == "nftables" else IptablesCommand(4))
    m: Any = NftablesMode(backend, cfg) if mode == "nftables" else IptablesMode(backend, cfg)
    p = Proxier("node-1", 4, m)
    base = rss_mib(os.getpid())
    t = time.perf_counter()
    for i in range(n):
        p.on_service(service(i))
        p.on_slice(endpoint_slice(i))
    ingest = time.perf_counter() - t
    out: Obj = {"mode": mode, "services": n, "ingest_s": ingest}
    out["full"] = _sync(p, backend)
    out["rss_mib"] = rss_mib(os.getpid())
    out["rss_delta_mib"] = out["rss_mib"] - base
    out["bytes"] = len(m.last_text)
    out["full_again"] = _sync(
        p, backend, full=True
    )  # the periodic full resync, state already there
    if n >= 10000:
        p.on_service(service(n))
        p.on_slice(endpoint_slice(n))
        out["add_one"] = _sync(p, backend)
        p.on_slice(endpoint_slice(0, extra=1))  # one endpoint replaced (the others move too)
        changed = endpoint_slice(0)
        changed["endpoints"][3]["addresses"] = ["10.255.255.254"]
        p.on_slice(changed)
        out["change_one_endpoint"] = _sync(p, backend)
    m.cleanup()
    return out


def run_in_netns(args: list[str]) -> Obj:
    ns = f"sp-bench-{os.getpid()}-{uuid.uuid4().hex[:4]}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"], check=True)
        res = subprocess.run(
            ["ip", "netns", "exec", ns, sys.executable, __file__, *args],
            capture_output=True,
            text=True,
            timeout=3600,
        )
        if res.returncode != 0:
            raise RuntimeError(f"inner run failed:\n{res.stderr[-3000:]}")
        out: Obj = json.loads(res.stdout.strip().splitlines()[-1])
        return out
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)


def part_rules(sizes: list[int], iptables_max: int) -> list[Obj]:
    rows = []
    runs = len(sizes) + sum(1 for n in sizes if n <= iptables_max)
    with phase("[rules] runs", runs) as tick:
        for mode in ("nftables", "iptables"):
            for n in sizes:
                _rules_one(mode, n, iptables_max, rows, tick)
    return rows


def _rules_one(mode: str, n: int, iptables_max: int, rows: list[Obj], tick: Any) -> None:
    """One mode at one size, in a fresh network namespace."""
    if mode == "iptables" and n > iptables_max:
        print(f"[rules] iptables {n}: skipped (--iptables-max {iptables_max})")
        return
    print(f"[rules] {mode} {n} services (load {load()})", flush=True)
    try:
        with phase(f"[rules] {mode}, {n} Services"):
            row = run_in_netns(["--inner-rules", mode, str(n)])
    except RuntimeError as exc:  # e.g. iptables-restore beyond its time limit
        last = str(exc).strip().splitlines()[-1]
        print(f"  failed: {last}", flush=True)
        rows.append({"mode": mode, "services": n, "error": last})
        tick()
        return
    rows.append(row)
    tick()
    f = row["full"]
    print(
        f"  full sync {f['total_s']:.2f}s (render {f['render_s']:.2f}s, apply "
        f"{f['apply_s']:.2f}s), {row['bytes'] / 1e6:.1f} MB of rules, RSS "
        f"{row['rss_mib']:.0f} MiB (+{row['rss_delta_mib']:.0f}); full again "
        f"{row['full_again']['total_s']:.2f}s",
        flush=True,
    )
    for k in ("add_one", "change_one_endpoint"):
        if k in row:
            r = row[k]
            print(
                f"  {k}: {r['total_s'] * 1000:.0f} ms (render {r['render_s'] * 1000:.0f}, "
                f"apply {r['apply_s'] * 1000:.0f})",
                flush=True,
            )


# -- 3. userspace -----------------------------------------------------------------------


def part_userspace(seconds: int = 10, connections: int = 16) -> Obj:
    wrk = shutil.which("wrk")
    if wrk is None:
        print("[userspace] wrk not installed (Debian package wrk): skipped")
        return {}
    return asyncio.run(_userspace(wrk, seconds, connections))


async def _userspace(wrk: str, seconds: int, connections: int) -> Obj:
    import socket

    def free() -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])

    pod_ip_, pod_port, svc_ip, svc_port = "127.244.200.5", free(), "127.96.200.10", free()
    body = b"hello from the pod\n"
    # the "pod": a tiny HTTP/1.1 keep-alive server in its own process
    code = (
        "import asyncio\n"
        f"B={body!r}\n"
        "R=b'HTTP/1.1 200 OK\\r\\nContent-Length: %d\\r\\n\\r\\n' % len(B) + B\n"
        "async def h(r, w):\n"
        "  try:\n"
        "    while True:\n"
        "      l = await r.readuntil(b'\\r\\n\\r\\n')\n"
        "      w.write(R); await w.drain()\n"
        "  except Exception: pass\n"
        "  w.close()\n"
        "async def main():\n"
        f"  s = await asyncio.start_server(h, {pod_ip_!r}, {pod_port})\n"
        "  await s.serve_forever()\n"
        "asyncio.run(main())\n"
    )
    pod = subprocess.Popen([sys.executable, "-c", code])
    # the proxy: a separate process too, so wrk measures what a user would see
    argv = [sys.executable, __file__, "--inner-userspace", svc_ip, str(svc_port), pod_ip_]
    proxy = subprocess.Popen([*argv, str(pod_port)])
    try:
        await asyncio.sleep(2.0)
        out: Obj = {"connections": connections, "seconds": seconds}
        for name, url in (
            ("direct", f"http://{pod_ip_}:{pod_port}/"),
            ("clusterip", f"http://{svc_ip}:{svc_port}/"),
        ):
            with phase(f"[userspace] wrk {name} ({seconds} s)"):
                res = subprocess.run(
                    [wrk, "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url],
                    capture_output=True,
                    text=True,
                    timeout=seconds + 60,
                )
            out[name] = _parse_wrk(res.stdout)
            print(f"[userspace] {name}: {out[name]}", flush=True)
        if out["direct"].get("rps") and out["clusterip"].get("rps"):
            out["ratio"] = out["clusterip"]["rps"] / out["direct"]["rps"]
        out["proxy_rss_mib"] = rss_mib(proxy.pid)
        return out
    finally:
        for proc in (pod, proxy):
            proc.terminate()
            proc.wait(timeout=10)


def inner_userspace(svc_ip: str, svc_port: int, pod: str, pod_port: int) -> None:
    from sliceplane.proxy.userspace import UserspaceMode

    async def serve() -> None:
        mode = UserspaceMode(RenderConfig())
        p = Proxier("", 4, mode)
        p.on_service(_us_service(svc_ip, svc_port))
        p.on_slice(_us_slice(pod, pod_port))
        p.sync()
        await asyncio.Event().wait()

    asyncio.run(serve())


def _us_service(ip: str, port: int) -> Obj:
    return {
        "metadata": {"namespace": "bench", "name": "web"},
        "spec": {
            "clusterIP": ip,
            "clusterIPs": [ip],
            "ipFamilies": ["IPv4"],
            "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
        },
    }


def _us_slice(ip: str, port: int) -> Obj:
    return {
        "metadata": {
            "namespace": "bench",
            "name": "web-1",
            "labels": {"kubernetes.io/service-name": "web"},
        },
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
        "endpoints": [{"addresses": [ip]}],
    }


def _parse_wrk(text: str) -> Obj:
    out: Obj = {}
    for line in text.splitlines():
        parts = line.split()
        if line.startswith("Requests/sec:"):
            out["rps"] = float(parts[1])
        elif parts[:1] == ["50%"]:
            out["p50"] = parts[1]
        elif parts[:1] == ["99%"]:
            out["p99"] = parts[1]
        elif "Non-2xx" in line or "Socket errors" in line:
            out["errors"] = line.strip()
    return out


# -- main -----------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--part", default="rules,userspace", help="rules,upstream,userspace")
    ap.add_argument("--sizes", default="1000,10000,30000")
    ap.add_argument("--inner-rules", nargs=2, metavar=("MODE", "N"), help=argparse.SUPPRESS)
    ap.add_argument("--inner-userspace", nargs=4, help=argparse.SUPPRESS)
    ap.add_argument(
        "--iptables-max",
        type=int,
        default=10000,
        help="largest N in iptables mode (iptables-nft-restore takes minutes beyond)",
    )
    ap.add_argument("--seconds", type=int, default=10, help="wrk duration per side")
    ap.add_argument(
        "--upstream-modes",
        default="nftables",
        help="modes of the upstream part, e.g. nftables,iptables",
    )
    ap.add_argument(
        "--upstream-iptables",
        choices=("legacy", "nft"),
        default="legacy",
        help="iptables tools of the upstream part's iptables mode (both proxies)",
    )
    ap.add_argument(
        "--upstream-apiserver",
        choices=("kube-apiserver", "sliceplane"),
        default="kube-apiserver",
        help="the API server both proxies of the upstream part run against",
    )
    report.add_arguments(ap)
    args = ap.parse_args()
    if args.inner_userspace:
        ip, port, pod, pod_port = args.inner_userspace
        inner_userspace(ip, int(port), pod, int(pod_port))
        return
    if args.inner_rules:
        print(json.dumps(inner_rules(args.inner_rules[0], int(args.inner_rules[1]))))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    parts = set(args.part.split(","))
    results: Obj = {
        "load_before": load(),
        "when": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }
    if "rules" in parts:
        if os.geteuid() != 0:
            sys.exit("the rules part needs root (network namespaces, nft, iptables-restore)")
        results["rules"] = part_rules(sizes, args.iptables_max)
    if "upstream" in parts:
        from proxy_upstream import figures, part_upstream  # type: ignore[import-not-found]

        table = report.Table("sliceplane proxy", "kube-proxy")
        results["upstream"] = []
        for run in report.runs(args):
            rows = part_upstream(
                sizes,
                tuple(args.upstream_modes.split(",")),
                args.upstream_iptables,
                args.upstream_apiserver,
            )
            results["upstream"].extend(rows)
            table.add(*figures(rows))
            run.note(f"API server: {args.upstream_apiserver}")
            if "iptables" in args.upstream_modes:
                run.note(f"iptables tools: {args.upstream_iptables}")
        print(table.text(), flush=True)
        report.publish(
            args,
            # one section per API server and sizes: the 1,000- and 10,000-Service runs
            # are recorded separately (their lock holds differ by minutes)
            f"proxy-upstream-{args.upstream_apiserver}-{args.sizes.replace(',', '-')}",
            f"sliceplane proxy vs kube-proxy ({args.upstream_modes}, {args.sizes} Services)",
            table,
            "bench/proxy.py --part upstream --sizes "
            f"{args.sizes} --upstream-modes {args.upstream_modes} "
            f"--upstream-apiserver {args.upstream_apiserver} --repeat {args.repeat}",
        )
    if "userspace" in parts:
        results["userspace"] = part_userspace(args.seconds)
    results["load_after"] = load()
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "proxy.json"
    path.write_text(json.dumps(results, indent=2))
    print(f"results in {path}")


if __name__ == "__main__":
    main()
