"""CoreDNS's request series as ``/metrics`` shows them, summed from the per-answer tallies."""

from __future__ import annotations

import re

from prometheus_client import generate_latest

from sliceplane.dns.server import Metrics
from sliceplane.dns.wire import Outcome


def _sample(body: str, name: str, **labels: str) -> float:
    for line in body.splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line[: line.rindex("}")]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no {name} {labels} in:\n{body}")


def test_series_sum_the_kinds_of_answer_they_cover() -> None:
    m = Metrics()
    ok = Outcome(b"x", 0, 1, "cluster.local.")
    nx = Outcome(b"x", 3, 1, "cluster.local.")
    srv = Outcome(b"x", 0, 33, "cluster.local.")
    for _ in range(3):
        m.observe("dns://:53", "udp", "1", ok, 0.0001)
    m.observe("dns://:53", "udp", "1", nx, 0.003)
    m.observe("dns://:53", "tcp", "1", srv, 10.0)
    m.observe("dns://:53", "udp", "1", Outcome(None, -1), 0.1)  # dropped: not counted
    body = generate_latest(m.registry).decode()
    req = "coredns_dns_requests_total"
    assert _sample(body, req, proto="udp", type="A", zone="cluster.local.") == 4
    assert _sample(body, req, proto="tcp", type="SRV") == 1
    resp = "coredns_dns_responses_total"
    assert _sample(body, resp, rcode="NOERROR", plugin="kubernetes") == 4
    assert _sample(body, resp, rcode="NXDOMAIN") == 1
    hist = "coredns_dns_request_duration_seconds"
    assert _sample(body, hist + "_bucket", type="A", le="0.00025") == 3
    assert _sample(body, hist + "_bucket", type="A", le="0.002") == 3
    assert _sample(body, hist + "_bucket", type="A", le="0.004") == 4
    assert _sample(body, hist + "_bucket", type="A", le="+Inf") == 4
    assert _sample(body, hist + "_count", type="A") == 4
    assert abs(_sample(body, hist + "_sum", type="A") - 0.0033) < 1e-9
    assert _sample(body, hist + "_bucket", type="SRV", le="8.192") == 0
    assert _sample(body, hist + "_bucket", type="SRV", le="+Inf") == 1


def test_a_bound_counts_in_its_own_bucket() -> None:
    """Prometheus buckets are ``le``: an observation equal to a bound is inside it."""
    m = Metrics()
    m.observe("s", "udp", "1", Outcome(b"x", 0, 1, "cluster.local."), 0.001)
    body = generate_latest(m.registry).decode()
    hist = "coredns_dns_request_duration_seconds_bucket"
    assert _sample(body, hist, le="0.0005") == 0
    assert _sample(body, hist, le="0.001") == 1
