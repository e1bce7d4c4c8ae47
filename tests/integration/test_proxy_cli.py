"""``sliceplane proxy`` as users run it: the real command, the real API server, real
kubectl; ``--dry-run`` output, one-line errors, and (as root) rules applied with the real
``nft``/``iptables-restore`` inside a network namespace this test creates, checked with real
packets, left in place by SIGTERM and removed by ``--cleanup``."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import BIN, Kubectl, ServerProcess

SLICEPLANE = str(BIN / "sliceplane")

OBJECTS = """
apiVersion: v1
kind: Node
metadata: {name: node-1, labels: {topology.kubernetes.io/zone: zone-a}}
status: {addresses: [{type: InternalIP, address: 10.0.0.1}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: NS}
spec: {clusterIP: 10.96.0.50, ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: empty, namespace: NS}
spec: {clusterIP: 10.96.0.51, ports: [{name: http, port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: NS, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: http, port: 8080, protocol: TCP}]
endpoints:
- addresses: [10.244.1.5]
  nodeName: node-1
- addresses: [10.244.1.6]
  nodeName: node-1
- addresses: [10.244.1.7]
  nodeName: node-1
  conditions: {ready: false}
"""


def proxy(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SLICEPLANE, "proxy", *args], capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def objects(kubectl: Kubectl, namespace: str) -> str:
    """OBJECTS in a fresh namespace, on a Node of its own (``node-<namespace>``): the API
    server is shared by the whole session, and a ``node-1`` made by another test without
    addresses would keep them out (apply never writes a Node's status)."""
    manifest = OBJECTS.replace("NS", namespace).replace("node-1", node_of(namespace))
    kubectl("apply", "-f", "-", input=manifest)
    return namespace


def node_of(namespace: str) -> str:
    return f"node-{namespace}"


@pytest.mark.parametrize("mode", ["nftables", "iptables", "ipvs"])
def test_dry_run_prints_the_ruleset(apiserver: ServerProcess, objects: str, mode: str) -> None:
    res = proxy(
        "--kubeconfig", str(apiserver.kubeconfig), "--hostname-override", node_of(objects),
        "--proxy-mode", mode, "--cluster-cidr", "10.244.0.0/16", "--dry-run",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    out = res.stdout
    if mode == "nftables":
        assert "add table ip kube-proxy" in out
        assert "numgen random mod 2 map { 0 : 10.244.1.5 . 8080 , 1 : 10.244.1.6 . 8080 }" in out
        assert f'10.96.0.51 . tcp . 80 comment "{objects}/empty:http" : goto reject-chain' in out
        assert "add element ip kube-proxy nodeport-ips { 10.0.0.1 }" in out
    elif mode == "iptables":
        assert out.startswith("*filter\n") and out.rstrip().endswith("COMMIT")
        assert f'"{objects}/empty:http has no endpoints"' in out
        assert "--to-destination 10.244.1.6:8080" in out
        assert "10.244.1.7" not in out  # not ready
    else:
        assert "-A -t 10.96.0.50:80 -s rr" in out and "-r 10.244.1.5:8080 -m -w 1" in out
        assert "# iptables-restore" in out and "KUBE-CLUSTER-IP" in out


def test_dry_run_dual_stack_iptables(apiserver: ServerProcess, objects: str) -> None:
    res = proxy(
        "--kubeconfig", str(apiserver.kubeconfig), "--hostname-override", node_of(objects),
        "--proxy-mode", "iptables", "--cluster-cidr", "10.244.0.0/16,fd00:10:244::/56",
        "--dry-run",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    v4, sep, v6 = res.stdout.partition("# ip6tables-restore\n")
    assert sep and "10.96.0.50" in v4 and "10.96.0.50" not in v6
    assert "! -d ::1/128" in v6 and v6.startswith("*filter")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        pytest.param(["--proxy-mode", "bogus"], "--proxy-mode", id="bad mode"),
        pytest.param(["--sync-period", "soon"], "--sync-period", id="bad duration"),
        pytest.param(["--cluster-cidr", "10.0.0.0/33"], "--cluster-cidr", id="bad cidr"),
        pytest.param(["--no-such-flag"], "no-such-flag", id="unknown flag"),
        pytest.param([], "--hostname-override", id="no node name"),
        pytest.param(["--healthz-bind-address", "nowhere"], "HOST:PORT", id="bad address"),
    ],
)
def test_usage_errors_are_one_line(args: list[str], needle: str, tmp_path: Path) -> None:
    extra = [] if "--no-such-flag" in args or not args else ["--hostname-override", "n"]
    res = proxy(*args, *extra)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], res.stderr
    assert "Traceback" not in res.stderr


def test_unreachable_api_server_is_one_line(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: c, cluster: {server: 'http://127.0.0.1:9'}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\n"
        "users: [{name: u, user: {}}]\n"
    )
    res = proxy("--kubeconfig", str(kubeconfig), "--hostname-override", "n", "--dry-run")
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot reach the API server" in lines[0], res.stderr


# -- as root, in a network namespace of our own ------------------------------------------

needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("nft") is None or shutil.which("ip") is None,
    reason="needs root, nft and ip (CI runs as root)",
)


class Netns:
    def __init__(self) -> None:
        self.name = f"sp-proxy-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.procs: list[subprocess.Popen[str]] = []

    def run(self, *cmd: str, check: bool = True, **kw: object) -> subprocess.CompletedProcess[str]:
        res = subprocess.run(
            ["ip", "netns", "exec", self.name, *cmd],
            capture_output=True,
            text=True,
            timeout=60,
            **kw,  # type: ignore[call-overload]
        )
        if check and res.returncode != 0:
            raise AssertionError(f"{cmd}: {res.returncode}\n{res.stdout}\n{res.stderr}")
        return res

    def spawn(self, *cmd: str, log: Path) -> subprocess.Popen[str]:
        fh = open(log, "w")  # noqa: SIM115 - the child owns it
        p = subprocess.Popen(
            ["ip", "netns", "exec", self.name, *cmd], stdout=fh, stderr=subprocess.STDOUT, text=True
        )
        self.procs.append(p)
        return p

    def close(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait(timeout=10)
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True, check=False)


@pytest.fixture
def netns() -> Iterator[Netns]:
    ns = Netns()
    subprocess.run(["ip", "netns", "add", ns.name], check=True)
    try:
        ns.run("ip", "link", "set", "lo", "up")
        # a node address on a veth pair gives the namespace a default route (ClusterIPs are
        # not local addresses; without a route the kernel refuses before the NAT hook)
        ns.run("ip", "link", "add", "veth0", "type", "veth", "peer", "name", "veth1")
        ns.run("ip", "addr", "add", "10.0.0.1/24", "dev", "veth0")
        ns.run("ip", "link", "set", "veth0", "up")
        ns.run("ip", "link", "set", "veth1", "up")
        ns.run("ip", "route", "add", "default", "dev", "veth0")
        for ip in ("10.244.1.5", "10.244.1.6", "10.244.1.7"):
            ns.run("ip", "addr", "add", f"{ip}/32", "dev", "lo")
        yield ns
    finally:
        ns.close()


def _wait(pred: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached")


def _pods(ns: Netns, tmp: Path) -> None:
    for ip in ("10.244.1.5", "10.244.1.6", "10.244.1.7"):
        root = tmp / ip
        root.mkdir()
        (root / "index.html").write_text(ip)
        ns.spawn(
            sys.executable, "-m", "http.server", "8080", "--bind", ip, "--directory", str(root),
            log=tmp / f"pod-{ip}.log",
        )  # fmt: skip
    _wait(lambda: ns.run("ss", "-ltn").stdout.count(":8080") == 3)


@needs_root
@pytest.mark.parametrize("mode", ["nftables", "iptables"])
def test_rules_route_real_packets(netns: Netns, tmp_path: Path, mode: str) -> None:
    data = tmp_path / "api"
    netns.spawn(
        SLICEPLANE, "apiserver", "--data-dir", str(data), "--listen", "127.0.0.1:6443",
        log=tmp_path / "apiserver.log",
    )  # fmt: skip
    _wait(
        lambda: (
            (data / "kubeconfig").exists()
            and "listening" in (tmp_path / "apiserver.log").read_text()
        )
    )
    kubeconfig = str(data / "kubeconfig")
    kube = [str(BIN / "kubectl"), "--kubeconfig", kubeconfig]
    _wait(lambda: netns.run(*kube, "get", "ns", "default", check=False).returncode == 0)
    netns.run(*kube, "apply", "-f", "-", input=OBJECTS.replace("NS", "default"))
    _pods(netns, tmp_path)
    p = netns.spawn(
        SLICEPLANE, "proxy", "--kubeconfig", kubeconfig, "--hostname-override", "node-1",
        "--proxy-mode", mode, "--cluster-cidr", "10.244.0.0/16",
        log=tmp_path / "proxy.log",
    )  # fmt: skip
    _wait(lambda: netns.run("curl", "-s", "-m", "1", "http://127.0.0.1:10256/healthz",
                            check=False).returncode == 0)  # fmt: skip

    def get(url: str) -> subprocess.CompletedProcess[str]:
        return netns.run("curl", "-s", "-m", "2", url, check=False)

    _wait(lambda: get("http://10.96.0.50/").returncode == 0)
    seen = Counter(get("http://10.96.0.50/").stdout for _ in range(30))
    assert set(seen) == {"10.244.1.5", "10.244.1.6"}, seen  # never the unready one
    refused = get("http://10.96.0.51/")
    assert refused.returncode == 7  # connection refused at once, not a timeout
    metrics = get("http://127.0.0.1:10249/metrics").stdout
    assert 'kubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family="IPv4"}' in metrics

    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=20) == 0
    assert get("http://10.96.0.50/").stdout in {"10.244.1.5", "10.244.1.6"}  # rules stay

    res = netns.run(SLICEPLANE, "proxy", "--cleanup", check=False)
    assert res.returncode == 0, res.stderr
    assert get("http://10.96.0.50/").returncode != 0  # gone
    if mode == "nftables":
        assert netns.run("nft", "list", "table", "ip", "kube-proxy", check=False).returncode != 0
    else:
        assert "KUBE-SERVICES" not in netns.run("iptables-save", "-t", "nat").stdout
