"""Health check node ports, the pure part (kube-proxy's ``pkg/proxy/healthcheck``).

A cloud load balancer in front of a ``type: LoadBalancer`` Service with
``externalTrafficPolicy: Local`` must not send traffic to a node without a local endpoint
(the node would drop it: Local policy never forwards to another node). So kube-proxy
answers an HTTP probe on ``spec.healthCheckNodePort`` saying whether this node has local
ready endpoints. What is decided here, without sockets, so tables can test it:

* which Services get a health server (:func:`health_check_ports`): those whose Service
  ports carry a non-zero health check node port, which the Service reader sets only for
  LoadBalancer + Local (upstream's ``NeedsHealthCheck``; a NodePort Service never gets
  one, even with the field set);
* how many local ready endpoints a Service has (:func:`local_ready_endpoints`): distinct
  IPs, so a pod behind two ports counts once; terminating endpoints are not ready and do
  not count, so a node whose pods are all shutting down fails the probe and the balancer
  drains it;
* the bookkeeping of :class:`HealthTable`, upstream's ``SyncServices``/``SyncEndpoints``:
  a Service whose port changed starts again at 0 endpoints, counts for Services without
  a health server are dropped, a Service missing from a count update goes to 0;
* the answer (:func:`answer`): 200 when the count is non-zero and the proxy itself is
  healthy, else 503 (a proxy whose rules are stale must not attract traffic either), with
  upstream's headers and its exact body text;
* the addresses to listen on (:func:`bind_hosts`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sliceplane.proxy.model import Endpoint, Family, ServiceName, ServicePort, ServicePortName

WILDCARD: dict[Family, str] = {4: "0.0.0.0", 6: "::"}


def health_check_ports(ports: Iterable[ServicePort]) -> dict[ServiceName, int]:
    """Service → health check node port, for every Service port that has one
    (upstream's ``ServicePortMap.HealthCheckNodePorts``)."""
    return {sp.name.service: sp.health_check_node_port for sp in ports if sp.health_check_node_port}


def local_ready_endpoints(
    endpoints: Mapping[ServicePortName, Iterable[Endpoint]],
    services: Iterable[ServiceName] | None = None,
) -> dict[ServiceName, int]:
    """Service → number of distinct local ready endpoint IPs (``LocalReadyEndpoints``).

    ``services`` limits the result (the
    caller passes the health-checked ones: counting the rest is wasted work)."""
    wanted = None if services is None else set(services)
    ips: dict[ServiceName, set[str]] = {}
    for spn, eps in endpoints.items():
        svc = spn.service
        if wanted is not None and svc not in wanted:
            continue
        for ep in eps:
            if ep.ready and ep.is_local:
                ips.setdefault(svc, set()).add(ep.ip)
    return {svc: len(found) for svc, found in ips.items()}


@dataclass(frozen=True, slots=True)
class HealthAnswer:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: str


def answer(service: ServiceName, local_endpoints: int, proxy_healthy: bool) -> HealthAnswer:
    """The reply to any request on a Service's health check port.

    The body is upstream's text byte for byte (tab-indented JSON, no trailing newline);
    ``X-Load-Balancing-Endpoint-Weight`` lets a balancer weigh nodes by their endpoints."""
    doc = {
        "service": {"namespace": service.namespace, "name": service.name},
        "localEndpoints": local_endpoints,
        "serviceProxyHealthy": proxy_healthy,
    }
    return HealthAnswer(
        status=200 if local_endpoints and proxy_healthy else 503,
        headers=(
            ("Content-Type", "application/json"),
            ("X-Content-Type-Options", "nosniff"),
            ("X-Load-Balancing-Endpoint-Weight", str(local_endpoints)),
        ),
        body=json.dumps(doc, indent="\t"),
    )


def bind_hosts(
    mode: str, family: Family, nodeport_ips: tuple[str, ...], node_ip: str
) -> tuple[str, ...]:
    """Where a health check port listens: where this mode's NodePorts answer.

    Upstream listens on every address (``0.0.0.0``/``::`` of the family) unless
    ``--nodeport-addresses`` narrows NodePorts, then on the matching node addresses.
    sliceplane has no flag but upstream's defaults: nftables ``primary`` (the Node's IP,
    or every address when the Node has none), iptables and IPVS ``all``. Userspace mode
    (not upstream) listens where its NodePort listeners do: the node IP, else loopback."""
    if mode == "userspace":
        return (node_ip or ("::1" if family == 6 else "127.0.0.1"),)
    if mode == "nftables" and nodeport_ips:
        return nodeport_ips
    return (WILDCARD[family],)


@dataclass
class HealthTable:
    """Which Services have a health server on which port, and their endpoint counts.

    The I/O layer opens a listener for every entry of :attr:`ports` and closes the rest;
    when a listener cannot be opened it calls :meth:`forget`, so the next
    :meth:`sync_services` offers it again (upstream retries a failed listen each sync)."""

    ports: dict[ServiceName, int] = field(default_factory=dict)
    endpoints: dict[ServiceName, int] = field(default_factory=dict)

    def sync_services(
        self, new: Mapping[ServiceName, int]
    ) -> tuple[dict[ServiceName, int], dict[ServiceName, int]]:
        """Make ``new`` the set of health servers; returns (closed, opened), each
        Service → port. A changed port is a close and an open, with the count reset."""
        closed = {s: p for s, p in self.ports.items() if new.get(s) != p}
        opened = {s: p for s, p in new.items() if self.ports.get(s) != p}
        for svc in closed:
            del self.ports[svc]
            self.endpoints.pop(svc, None)
        for svc, port in opened.items():
            self.ports[svc] = port
            self.endpoints[svc] = 0
        return closed, opened

    def sync_endpoints(self, counts: Mapping[ServiceName, int]) -> None:
        """Set every health-checked Service's count; absent means 0, unknown is dropped."""
        self.endpoints = {svc: int(counts.get(svc, 0)) for svc in self.ports}

    def forget(self, svc: ServiceName, port: int) -> None:
        """A listener for ``svc`` on ``port`` could not be opened: drop it (retried at the
        next sync), unless the Service has moved to another port meanwhile."""
        if self.ports.get(svc) == port:
            del self.ports[svc]
            self.endpoints.pop(svc, None)

    def answer(self, svc: ServiceName, proxy_healthy: bool) -> HealthAnswer:
        """The reply for ``svc``; one whose server is closing counts 0 endpoints (upstream
        writes nothing then, which Go sends as an empty 200)."""
        return answer(svc, self.endpoints.get(svc, 0), proxy_healthy)
