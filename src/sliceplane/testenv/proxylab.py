"""A laboratory for proxies: the real control plane and real proxies in network namespaces.

:class:`ProxyLab` puts upstream etcd and kube-apiserver (:class:`ControlPlane`) inside the
control-plane namespace of a :class:`~sliceplane.testenv.netns.Network` (or, with
``apiserver="sliceplane"``, sliceplane's own API server, so that upstream kube-proxy is
seen running against it: issue 10), registers one Node
object per node (its address, its zone), writes each node a kubeconfig that dials the API
server over its own link, and starts a proxy inside any node namespace: upstream's
kube-proxy or ``sliceplane proxy``, in nftables or iptables mode, with the same flags.

What a test then observes is only what a user would: the answers of the pods' name servers
to connections made from a node (:meth:`ProxyLab.reach`), and the kernel's ruleset inside
the node (:meth:`ProxyLab.dump_rules`). Objects are written with plain HTTPS requests to
the real API server, made from inside the control-plane namespace (the test process never
sends a packet out of its own loopback).
"""

from __future__ import annotations

import errno
import functools
import json
import shutil
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

from sliceplane.api.wellknown import LABEL_HOSTNAME, LABEL_OS, LABEL_ZONE
from sliceplane.testenv.controlplane import ADMIN_USER, Binaries, ControlPlane, find_binaries
from sliceplane.testenv.netns import (
    Answer,
    Member,
    NetnsError,
    Network,
    Process,
    Topology,
    http_get,
    in_netns,
    udp_get,
)
from sliceplane.testenv.sliceplane_apiserver import SliceplaneAPIServer

T = TypeVar("T")

Impl = Literal["kube-proxy", "sliceplane"]
# Which API server the control-plane namespace runs.
APIServerKind = Literal["kube-apiserver", "sliceplane"]

# Where both proxies serve /metrics by default: the node's own loopback.
METRICS_ADDRESS = "127.0.0.1:10249"
Mode = Literal["nftables", "iptables"]


class ApiError(RuntimeError):
    def __init__(self, status: int, body: str, what: str) -> None:
        super().__init__(f"{what}: HTTP {status}: {body[:500]}")
        self.status = status
        self.body = body


def proxy_argv(
    impl: Impl,
    mode: Mode,
    *,
    kubeconfig: Path,
    node: str,
    kube_proxy: Path,
    sliceplane: Path,
    min_sync_period: str = "100ms",
    sync_period: str = "30s",
    extra: Sequence[str] = (),
) -> list[str]:
    """The command line of one proxy; both get the flags they share with the same values.

    kube-proxy also gets ``--conntrack-*=0``: "leave the kernel's value", since a node
    namespace may not raise the host's conntrack table size (that is the kubelet's host's
    business, not a proxy's). ``extra`` is appended as given.
    """
    common = [
        f"--kubeconfig={kubeconfig}",
        f"--hostname-override={node}",
        f"--proxy-mode={mode}",
    ]
    if impl == "kube-proxy":
        # kube-proxy's flags for the two periods carry the iptables name in every mode but
        # IPVS (cmd/kube-proxy/app/options.go: processV1Alpha1Flags).
        return [
            str(kube_proxy),
            *common,
            f"--iptables-min-sync-period={min_sync_period}",
            f"--iptables-sync-period={sync_period}",
            "--conntrack-max-per-core=0",
            "--conntrack-tcp-timeout-established=0",
            "--conntrack-tcp-timeout-close-wait=0",
            "--v=2",
            *extra,
        ]
    return [
        str(sliceplane),
        "proxy",
        *common,
        f"--min-sync-period={min_sync_period}",
        f"--sync-period={sync_period}",
        *extra,
    ]


def rules_command(mode: Mode) -> list[str]:
    """What dumps a mode's ruleset (run inside the node)."""
    return ["nft", "list", "ruleset"] if mode == "nftables" else ["iptables-save"]


def node_object(member: Member) -> dict[str, Any]:
    """A Node as a kubelet would register it: hostname label, zone, InternalIP."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": member.name,
            "labels": {
                LABEL_HOSTNAME: member.name,
                LABEL_OS: "linux",
                LABEL_ZONE: member.zone,
            },
        },
        "status": {
            "addresses": [
                {"type": "InternalIP", "address": member.address},
                {"type": "Hostname", "address": member.name},
            ]
        },
    }


def poll(
    probe: Callable[[], T],
    done: Callable[[T], bool],
    *,
    timeout: float = 30.0,
    interval: float = 0.2,
    what: str = "condition",
) -> T:
    """Call ``probe`` until ``done(result)``; bounded in time (and so in count). Raises
    ``TimeoutError`` with the last result when it never holds."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    for _ in range(int(timeout / interval) + 2):
        last = probe()
        if done(last):
            return last
        if time.monotonic() > deadline:
            break
        time.sleep(interval)
    raise TimeoutError(f"{what} not reached in {timeout:.0f}s; last: {last!r}")


def error_kind(exc: OSError) -> str:
    """How a request failed, in the words the tests assert on."""
    if isinstance(exc, ConnectionRefusedError):
        return "refused"  # a TCP reset or an ICMP port-unreachable: a reject rule
    if isinstance(exc, PermissionError):
        # A packet this host sends that its own output hook rejects or drops: send()
        # fails with EPERM (a UDP client on the node itself sees a reject rule this way).
        return "rejected-locally"
    if isinstance(exc, TimeoutError):
        return "timeout"  # nothing came back: dropped
    if exc.errno == errno.EHOSTUNREACH:
        return "unreachable"  # ICMP host-unreachable, or no neighbour answered
    return type(exc).__name__


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one round of requests from a node got: answers by pod name, the client
    addresses the pods saw (masqueraded or not), and errors by kind."""

    answers: Counter[str]
    errors: Counter[str]
    clients: Counter[str] = field(default_factory=Counter)

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self.answers)


@dataclass
class ProxyLab:
    """A :class:`Network` with an API server in it and proxies on its nodes.

    ``apiserver`` says which: upstream etcd and kube-apiserver (the default), or
    ``sliceplane apiserver`` (its data on the lab's disk, fsync as configured by default).
    Both answer the same ``url``/``token``/``ca_file``, so the rest of the lab is the same.
    """

    network: Network
    binaries: Binaries | None = None
    sliceplane: Path = field(default_factory=lambda: Path(sys.executable).parent / "sliceplane")
    apiserver: APIServerKind = "kube-apiserver"
    controlplane: ControlPlane | SliceplaneAPIServer | None = None
    proxies: dict[str, Process] = field(default_factory=dict)
    _ssl: ssl.SSLContext | None = None

    @property
    def topology(self) -> Topology:
        return self.network.topology

    @property
    def workdir(self) -> Path:
        return self.network.workdir

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> ProxyLab:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Network, pods, control plane, Node objects: everything but the proxies."""
        self.binaries = self.binaries or find_binaries()
        self.network.up()
        self.network.start_pod_servers(sys.executable)
        # Reachable from the nodes' links, by the addresses in its certificate.
        peers = sorted({n.cp_peer for n in self.topology.nodes})
        cp: ControlPlane | SliceplaneAPIServer
        if self.apiserver == "sliceplane":
            cp = SliceplaneAPIServer(
                self.workdir / "sliceplane-apiserver",
                host="0.0.0.0",
                tls_sans=peers,
                service_cidr=self.topology.service_cidr,
                executable=self.sliceplane,
            )
        else:
            cp = ControlPlane(
                self.workdir / "k8s",
                binaries=self.binaries,
                service_cidr=self.topology.service_cidr,
                unsafe_no_fsync=True,
                apiserver_args=("--bind-address=0.0.0.0",),
                serving_ips=peers,
            )
        self.controlplane = cp
        # Started from a thread inside the namespace: the servers are born there, and the
        # readiness probes dial its loopback.
        in_netns(self.topology.controlplane.netns, cp.start)
        self._ssl = ssl.create_default_context(cafile=str(cp.ca_file))
        for node in self.topology.nodes:
            self._write_node_kubeconfig(node)
        for node in {n.name: n for n in self.topology.nodes}.values():
            self.create("/api/v1/nodes", node_object(node))

    def stop(self) -> None:
        """Proxies, then the control plane, then the network (always, in that order)."""
        try:
            for p in self.proxies.values():
                p.stop()
            self.proxies.clear()
            if self.controlplane is not None:
                self.controlplane.stop()
        finally:
            self.network.down()

    # ------------------------------------------------------------------ proxies

    def kubeconfig(self, node: Member) -> Path:
        return self.workdir / f"kubeconfig-{node.netns.removeprefix(self.topology.prefix)}"

    def _write_node_kubeconfig(self, node: Member) -> None:
        assert self.controlplane is not None
        port = self.controlplane.url.rsplit(":", 1)[1]
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "lab",
                    "cluster": {
                        "server": f"https://{node.cp_peer}:{port}",
                        "certificate-authority": str(self.controlplane.ca_file),
                    },
                }
            ],
            "users": [{"name": ADMIN_USER, "user": {"token": self.controlplane.token}}],
            "contexts": [{"name": "lab", "context": {"cluster": "lab", "user": ADMIN_USER}}],
            "current-context": "lab",
        }
        self.kubeconfig(node).write_text(yaml.safe_dump(config, sort_keys=False))

    def start_proxy(
        self,
        node: Member,
        impl: Impl,
        mode: Mode,
        *,
        extra: Sequence[str] = (),
        env: dict[str, str] | None = None,
    ) -> Process:
        """Start one proxy inside ``node`` (after clearing the node's ruleset); ``env``
        replaces the proxy's environment (a benchmark's PATH, say)."""
        assert self.binaries is not None
        self.flush_rules(node)
        argv = proxy_argv(
            impl,
            mode,
            kubeconfig=self.kubeconfig(node),
            node=node.name,
            kube_proxy=self.binaries.kube_proxy,
            sliceplane=self.sliceplane,
            extra=extra,
        )
        short = node.netns.removeprefix(self.topology.prefix)
        proc = self.network.spawn(node, argv, name=f"{short}-{impl}-{mode}", env=env)
        self.proxies[node.netns] = proc
        return proc

    def last_sync(self, node: Member) -> float:
        """The proxy's ``kubeproxy_sync_proxy_rules_last_timestamp_seconds`` (0 before its
        first sync or while its metrics server is not up); both proxies serve it on the
        node's loopback at kube-proxy's default address."""

        def get() -> str:
            with urllib.request.urlopen(f"http://{METRICS_ADDRESS}/metrics", timeout=5) as r:
                return str(r.read().decode())

        try:
            text = in_netns(node.netns, get)
        except OSError:
            return 0.0
        for line in text.splitlines():
            if line.startswith("kubeproxy_sync_proxy_rules_last_timestamp_seconds"):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    def announce_zones(self, timeout: float = 60.0) -> None:
        """Once every proxy has synced, take each Node's zone label away and give it back.

        Why: kube-proxy v1.37 may never learn its zone. Its node informer is already
        running (the NodeManager started it to read the Node) when the topology handler is
        added to it, and the proxier is registered with that handler only afterwards, so
        the replayed "add" of the Node can arrive in between: the handler then records the
        zone with nobody to tell, and ignores every later event whose zone is the same
        (cmd/kube-proxy/app/server.go, pkg/proxy/config/config.go NodeTopologyConfig).
        Zone hints are then ignored on that node until its zone label changes, which is
        what this does, after the proxies' first sync (by then both are registered).
        sliceplane's proxy reads the zone from every event of its Node and needs none of
        this; docs/upstream-differences.md says so. The window is narrow: 55 kube-proxy
        starts (one zone-a node, one endpoint hinted for each of two zones, iptables mode,
        quiet and with three busy loops on two cores) all programmed one endpoint; the
        two flakes that led here were on CI under load.
        """
        for node in self.topology.nodes:
            if node.netns in self.proxies:
                poll(
                    functools.partial(self.last_sync, node),
                    lambda t: t > 0,
                    timeout=timeout,
                    what=f"first sync of the proxy on {node.name}",
                )
        for node in {n.name: n for n in self.topology.nodes}.values():
            path = f"/api/v1/nodes/{node.name}"
            self.merge_patch(path, {"metadata": {"labels": {LABEL_ZONE: None}}})
            self.merge_patch(path, {"metadata": {"labels": {LABEL_ZONE: node.zone}}})

    def stop_proxies(self) -> None:
        for p in self.proxies.values():
            p.stop()
        self.proxies.clear()
        for node in self.topology.nodes:
            self.flush_rules(node)

    def check_proxies(self) -> None:
        """Raise, with its log, if a proxy has exited."""
        for p in self.proxies.values():
            if p.proc.poll() is not None:
                raise NetnsError(f"{p.name} exited with {p.proc.returncode}:\n{p.tail()}")

    def flush_rules(self, node: Member) -> None:
        # iptables here is iptables-nft: its tables are nftables tables, so this clears both.
        self._in_node(node, ["nft", "flush", "ruleset"])

    def dump_rules(self, node: Member, mode: Mode) -> str:
        return self._in_node(node, rules_command(mode))

    def in_node(self, node: Member, argv: list[str]) -> str:
        """Run ``argv`` inside ``node`` (what an operator would do on that host)."""
        return self._in_node(node, argv)

    def restart_proxy(
        self, node: Member, impl: Impl, mode: Mode, *, extra: Sequence[str] = ()
    ) -> Process:
        """Stop ``node``'s proxy and start another with ``extra`` flags."""
        old = self.proxies.pop(node.netns, None)
        if old is not None:
            old.stop()
        return self.start_proxy(node, impl, mode, extra=extra)

    def _in_node(self, node: Member, argv: list[str]) -> str:
        if shutil.which(argv[0]) is None:
            raise NetnsError(f"{argv[0]} is not installed (make env installs it as root)")
        proc = subprocess.run(
            ["ip", "netns", "exec", node.netns, *argv],
            capture_output=True,
            text=True,
            timeout=30,
            stdin=subprocess.DEVNULL,
        )
        if proc.returncode != 0:
            raise NetnsError(f"{' '.join(argv)} in {node.netns}: {proc.stderr.strip()}")
        return proc.stdout

    # ------------------------------------------------------------------ traffic

    def reach(
        self,
        node: Member,
        host: str,
        port: int,
        *,
        count: int = 30,
        timeout: float = 5.0,
        max_errors: int | None = None,
        protocol: str = "TCP",
    ) -> Outcome:
        """``count`` requests from ``node``, each on a new connection; the round ends early
        once ``max_errors`` requests failed (a proxy that has not synced yet makes every
        request wait for its timeout). The default timeout is generous: on two shared
        cores a pod's answer can take a while, and a slow answer is not a dropped one."""
        answers: Counter[str] = Counter()
        errors: Counter[str] = Counter()
        clients: Counter[str] = Counter()
        for _ in range(count):
            try:
                get = udp_get if protocol == "UDP" else http_get
                answer: Answer = get(node.netns, host, port, timeout=timeout)
                answers[answer.name] += 1
                clients[answer.client.rsplit(":", 1)[0]] += 1
            except OSError as exc:
                errors[error_kind(exc)] += 1
                if max_errors is not None and sum(errors.values()) >= max_errors:
                    break
        return Outcome(answers, errors, clients)

    def converge(
        self,
        node: Member,
        host: str,
        port: int,
        want: Callable[[Outcome], bool],
        *,
        count: int = 30,
        timeout: float = 45.0,
        request_timeout: float = 0.5,
        max_errors: int | None = 1,
        protocol: str = "TCP",
        what: str = "",
    ) -> Outcome:
        """Rounds of :meth:`reach` until ``want`` holds: the proxies have synced. A test
        asserts on a fresh round afterwards, never on this one."""

        def probe() -> Outcome:
            self.check_proxies()
            return self.reach(
                node,
                host,
                port,
                count=count,
                timeout=request_timeout,
                max_errors=max_errors,
                protocol=protocol,
            )

        return poll(
            probe,
            want,
            timeout=timeout,
            interval=0.1,
            what=what or f"{host}:{port} from {node.netns}",
        )

    # ------------------------------------------------------------------ the API

    def request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        """One request to the API server, made from inside the control-plane namespace."""
        assert self.controlplane is not None and self._ssl is not None
        url = self.controlplane.url + path
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.controlplane.token}")
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", content_type)
        opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=self._ssl)
        )

        def call() -> dict[str, Any]:
            try:
                with opener.open(req, timeout=30) as resp:
                    raw = resp.read()
            except urllib.error.HTTPError as exc:
                body = exc.read().decode(errors="replace")
                raise ApiError(exc.code, body, f"{method} {path}") from None
            out: dict[str, Any] = json.loads(raw) if raw else {}
            return out

        return in_netns(self.topology.controlplane.netns, call)

    def create(self, collection: str, obj: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", collection, obj)

    def get(self, path: str) -> dict[str, Any]:
        return self.request("GET", path)

    def get_eventually(self, path: str, timeout: float = 60.0) -> dict[str, Any]:
        """GET an object that the API server makes itself after it reports ready (the
        ``default/kubernetes`` Service comes from a bootstrap controller a moment later,
        later still on a busy machine); 404 means not yet, bounded by ``timeout``."""

        def probe() -> dict[str, Any] | None:
            try:
                return self.get(path)
            except ApiError as exc:
                if exc.status == 404:
                    return None
                raise

        found = poll(probe, lambda o: o is not None, timeout=timeout, what=f"GET {path}")
        assert found is not None
        return found

    def merge_patch(self, path: str, patch: dict[str, Any]) -> dict[str, Any]:
        return self.request("PATCH", path, patch, content_type="application/merge-patch+json")

    def replace(self, path: str, obj: dict[str, Any]) -> dict[str, Any]:
        return self.request("PUT", path, obj)

    def delete(self, path: str) -> None:
        try:
            self.request("DELETE", path)
        except ApiError as exc:
            if exc.status != 404:
                raise
