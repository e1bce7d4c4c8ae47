"""The resolver, one case per record kind and per corner of CoreDNS's kubernetes plugin
(``plugin/kubernetes/handler_test.go``, ``handler_pod_*_test.go``, ``reverse_test.go``,
``ns_test.go`` cover the same ground upstream)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from sliceplane.dns.resolver import Config, resolve
from sliceplane.dns.zone import Zone, zone_from_objects

Obj = dict[str, Any]
SOA = "cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 42 7200 1800 86400 5"


def svc(name: str, ns: str = "default", **spec: Any) -> Obj:
    return {"metadata": {"namespace": ns, "name": name}, "spec": spec}


def ep(ip: str, ready: bool | None = True, hostname: str | None = None, pod: str = "") -> Obj:
    out: Obj = {"addresses": [ip], "conditions": {} if ready is None else {"ready": ready}}
    if hostname:
        out["hostname"] = hostname
    if pod:
        out["targetRef"] = {"kind": "Pod", "name": pod, "namespace": "default"}
    return out


def eps(
    name: str, service: str, endpoints: list[Obj], ports: list[Obj] | None, ns: str = "default"
) -> Obj:
    return {
        "metadata": {
            "namespace": ns,
            "name": name,
            "labels": {"kubernetes.io/service-name": service},
        },
        "addressType": "IPv6" if ":" in endpoints[0]["addresses"][0] else "IPv4",
        "endpoints": endpoints,
        "ports": ports,
    }


HTTP = {"name": "http", "protocol": "TCP", "port": 80}
DNSU = {"name": "dns", "protocol": "UDP", "port": 53}
UNNAMED = {"protocol": "TCP", "port": 8080}

SERVICES = [
    svc("web", clusterIP="10.0.0.10", clusterIPs=["10.0.0.10"], ports=[HTTP, DNSU, UNNAMED]),
    svc("dual", clusterIP="10.0.0.11", clusterIPs=["10.0.0.11", "fd00::11"], ports=[HTTP]),
    svc("v6", clusterIP="fd00::12", clusterIPs=["fd00::12"], ports=[HTTP]),
    svc("noports", clusterIP="10.0.0.13", clusterIPs=["10.0.0.13"]),
    svc(
        "db",
        clusterIP="None",
        clusterIPs=["None"],
        ports=[{"name": "pg", "protocol": "TCP", "port": 5432}],
    ),
    svc("hl6", clusterIP="None", clusterIPs=["None"], ports=[HTTP]),
    svc("empty", clusterIP="None", clusterIPs=["None"], ports=[HTTP]),
    svc("three", clusterIP="None", clusterIPs=["None"], ports=[HTTP]),
    svc("ext", type="ExternalName", externalName="example.com"),
    svc("alias", type="ExternalName", externalName="web.default.svc.cluster.local"),
    svc("dangling", type="ExternalName", externalName="gone.default.svc.cluster.local"),
    svc("extip", type="ExternalName", externalName="1.2.3.4"),
    svc("other", ns="prod", clusterIP="10.0.1.1", clusterIPs=["10.0.1.1"], ports=[HTTP]),
]
SLICES = [
    eps(
        "db-a",
        "db",
        [
            ep("10.1.0.1", hostname="db-0", pod="db-0"),
            ep("10.1.0.2", pod="db-1"),
            ep("10.1.0.3", ready=False),
        ],
        [{"name": "pg", "protocol": "TCP", "port": 5432}],
    ),
    # a second slice repeating an address: A answers de-duplicate it
    eps(
        "db-b",
        "db",
        [ep("10.1.0.2", ready=None, pod="db-1")],
        [{"name": "pg", "protocol": "TCP", "port": 5432}],
    ),
    eps("hl6-a", "hl6", [ep("fd00::1:1"), ep("fd00:1::")], [HTTP]),
    eps("three-a", "three", [ep("10.2.0.1"), ep("10.2.0.2"), ep("10.2.0.3")], [HTTP]),
    eps("web-a", "web", [ep("10.3.0.1", pod="web-abc")], [HTTP]),
]
PODS = [
    {
        "metadata": {"namespace": "default", "name": "p1"},
        "status": {"phase": "Running", "podIPs": [{"ip": "10.4.0.1"}, {"ip": "fd00::4:1"}]},
    },
    {
        "metadata": {"namespace": "default", "name": "done"},
        "status": {"phase": "Succeeded", "podIPs": [{"ip": "10.4.0.2"}]},
    },
]


def zone() -> Zone:
    return zone_from_objects(
        services=SERVICES, slices=SLICES, namespaces=["default", "prod"], pods=PODS, serial=42
    )


def run(
    qname: str, qtype: str, cfg: Config | None = None, z: Zone | None = None
) -> tuple[str, list[str], list[str], list[str]]:
    import dns.rcode
    import dns.rdatatype

    r = resolve(qname, dns.rdatatype.from_text(qtype), z or zone(), cfg or Config())
    return (
        dns.rcode.to_text(r.rcode),
        sorted(x.to_text() for x in r.answer),
        [x.to_text() for x in r.authority],
        sorted(x.to_text() for x in r.additional),
    )


S = "default.svc.cluster.local."
V6_REV = "2.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa."


def p(
    qname: str,
    qtype: str,
    rcode: str,
    answer: list[str],
    additional: list[str] | None = None,
    *,
    id: str,
    cfg: Config | None = None,
) -> Any:
    soa = SOA
    for rz in ("in-addr.arpa.", "ip6.arpa."):
        if qname.endswith(rz):
            soa = f"{rz} 5 IN SOA ns.dns.{rz} hostmaster.{rz} 42 7200 1800 86400 5"
    authority = [soa] if not answer and rcode in ("NOERROR", "NXDOMAIN") else []
    return pytest.param(
        qname, qtype, cfg, (rcode, sorted(answer), authority, sorted(additional or [])), id=id
    )


CASES = [
    # ClusterIP Services
    p(f"web.{S}", "A", "NOERROR", [f"web.{S} 5 IN A 10.0.0.10"], id="clusterip-a"),
    p(f"web.{S}", "AAAA", "NOERROR", [], id="clusterip-v4-aaaa-nodata"),
    p(f"dual.{S}", "A", "NOERROR", [f"dual.{S} 5 IN A 10.0.0.11"], id="dual-stack-a"),
    p(f"dual.{S}", "AAAA", "NOERROR", [f"dual.{S} 5 IN AAAA fd00::11"], id="dual-stack-aaaa"),
    p(f"v6.{S}", "AAAA", "NOERROR", [f"v6.{S} 5 IN AAAA fd00::12"], id="v6-aaaa"),
    p(f"noports.{S}", "A", "NOERROR", [f"noports.{S} 5 IN A 10.0.0.13"], id="no-ports-still-a"),
    p(f"noports.{S}", "SRV", "NOERROR", [], id="no-ports-srv-nodata"),
    # SRV
    p(
        f"_http._tcp.web.{S}",
        "SRV",
        "NOERROR",
        [f"_http._tcp.web.{S} 5 IN SRV 0 100 80 web.{S}"],
        [f"web.{S} 5 IN A 10.0.0.10"],
        id="srv-clusterip-named-port",
    ),
    p(
        f"_dns._udp.web.{S}",
        "SRV",
        "NOERROR",
        [f"_dns._udp.web.{S} 5 IN SRV 0 100 53 web.{S}"],
        [f"web.{S} 5 IN A 10.0.0.10"],
        id="srv-udp-port",
    ),
    p(f"_http._udp.web.{S}", "SRV", "NXDOMAIN", [], id="srv-wrong-protocol-nxdomain"),
    p(f"_nope._tcp.web.{S}", "SRV", "NXDOMAIN", [], id="srv-unknown-port-nxdomain"),
    p(
        f"web.{S}",
        "SRV",
        "NOERROR",
        [
            f"web.{S} 5 IN SRV 0 33 80 web.{S}",
            f"web.{S} 5 IN SRV 0 33 53 web.{S}",
            f"web.{S} 5 IN SRV 0 33 8080 web.{S}",
        ],
        [f"web.{S} 5 IN A 10.0.0.10"],
        id="srv-service-name-every-port",
    ),
    p(
        f"_http._tcp.dual.{S}",
        "SRV",
        "NOERROR",
        [f"_http._tcp.dual.{S} 5 IN SRV 0 50 80 dual.{S}"],
        [f"dual.{S} 5 IN A 10.0.0.11", f"dual.{S} 5 IN AAAA fd00::11"],
        id="srv-dual-stack-one-record-two-glue",
    ),
    p(
        f"_pg._tcp.db.{S}",
        "SRV",
        "NOERROR",
        [
            f"_pg._tcp.db.{S} 5 IN SRV 0 33 5432 db-0.db.{S}",
            f"_pg._tcp.db.{S} 5 IN SRV 0 33 5432 10-1-0-2.db.{S}",
        ],
        [f"db-0.db.{S} 5 IN A 10.1.0.1", f"10-1-0-2.db.{S} 5 IN A 10.1.0.2"],
        id="srv-headless-per-endpoint",
    ),
    p(
        f"three.{S}",
        "SRV",
        "NOERROR",
        [f"three.{S} 5 IN SRV 0 33 80 10-2-0-{i}.three.{S}" for i in (1, 2, 3)],
        [f"10-2-0-{i}.three.{S} 5 IN A 10.2.0.{i}" for i in (1, 2, 3)],
        id="srv-weights-split",
    ),
    # headless
    p(
        f"db.{S}",
        "A",
        "NOERROR",
        [f"db.{S} 5 IN A 10.1.0.1", f"db.{S} 5 IN A 10.1.0.2"],
        id="headless-ready-deduplicated",
    ),
    p(f"db-0.db.{S}", "A", "NOERROR", [f"db-0.db.{S} 5 IN A 10.1.0.1"], id="headless-hostname"),
    p(
        f"10-1-0-2.db.{S}",
        "A",
        "NOERROR",
        [f"10-1-0-2.db.{S} 5 IN A 10.1.0.2"],
        id="headless-dashed-ip",
    ),
    p(f"10-1-0-3.db.{S}", "A", "NXDOMAIN", [], id="headless-not-ready-absent"),
    p(f"db-1.db.{S}", "A", "NXDOMAIN", [], id="pod-name-needs-endpoint-pod-names"),
    p(
        f"db-1.db.{S}",
        "A",
        "NOERROR",
        [f"db-1.db.{S} 5 IN A 10.1.0.2"],
        cfg=Config(endpoint_pod_names=True),
        id="endpoint-pod-names",
    ),
    p(
        f"hl6.{S}",
        "AAAA",
        "NOERROR",
        [f"hl6.{S} 5 IN AAAA fd00::1:1", f"hl6.{S} 5 IN AAAA fd00:1::"],
        id="headless-v6",
    ),
    p(
        f"fd00-1--0.hl6.{S}",
        "AAAA",
        "NOERROR",
        [f"fd00-1--0.hl6.{S} 5 IN AAAA fd00:1::"],
        id="v6-dashed-trailing-zero",
    ),
    p(f"empty.{S}", "A", "NXDOMAIN", [], id="headless-without-endpoints-nxdomain"),
    p(
        f"10-3-0-1.web.{S}",
        "A",
        "NOERROR",
        [f"10-3-0-1.web.{S} 5 IN A 10.3.0.1"],
        id="endpoint-name-of-clusterip-service",
    ),
    # ExternalName
    p(f"ext.{S}", "A", "NOERROR", [f"ext.{S} 5 IN CNAME example.com."], id="externalname-a-cname"),
    p(
        f"ext.{S}",
        "CNAME",
        "NOERROR",
        [f"ext.{S} 5 IN CNAME example.com."],
        id="externalname-cname",
    ),
    p(f"ext.{S}", "SRV", "NOERROR", [], id="externalname-srv-nodata"),
    p(f"ext.{S}", "TXT", "NOERROR", [], id="externalname-txt-nodata"),
    p(
        f"alias.{S}",
        "A",
        "NOERROR",
        [f"alias.{S} 5 IN CNAME web.{S}", f"web.{S} 5 IN A 10.0.0.10"],
        id="externalname-followed-inside-zone",
    ),
    p(f"dangling.{S}", "A", "NOERROR", [], id="externalname-to-missing-name-nodata"),
    p(f"extip.{S}", "A", "NXDOMAIN", [], id="externalname-ip-ignored"),
    p(f"_http._tcp.ext.{S}", "SRV", "NXDOMAIN", [], id="externalname-with-port-nxdomain"),
    p(f"web.{S}", "CNAME", "NOERROR", [], id="cname-of-clusterip-nodata"),
    # PTR
    p("10.0.0.0.10.in-addr.arpa.", "PTR", "NXDOMAIN", [], id="ptr-malformed-nxdomain"),
    p(
        "10.0.0.10.in-addr.arpa.",
        "PTR",
        "NOERROR",
        [f"10.0.0.10.in-addr.arpa. 5 IN PTR web.{S}"],
        id="ptr-cluster-ip",
    ),
    p(
        "2.0.1.10.in-addr.arpa.",
        "PTR",
        "NOERROR",
        [f"2.0.1.10.in-addr.arpa. 5 IN PTR 10-1-0-2.db.{S}"],
        id="ptr-endpoint-deduplicated",
    ),
    p(
        "1.0.1.10.in-addr.arpa.",
        "PTR",
        "NOERROR",
        [f"1.0.1.10.in-addr.arpa. 5 IN PTR db-0.db.{S}"],
        id="ptr-endpoint-hostname",
    ),
    p(
        V6_REV,
        "PTR",
        "NOERROR",
        [f"{V6_REV} 5 IN PTR v6.{S}"],
        id="ptr-v6-cluster-ip",
    ),
    p("9.9.9.10.in-addr.arpa.", "PTR", "NXDOMAIN", [], id="ptr-unknown-nxdomain"),
    p("10.in-addr.arpa.", "PTR", "NXDOMAIN", [], id="ptr-partial-nxdomain"),
    p(f"web.{S}", "PTR", "NOERROR", [], id="ptr-of-forward-name-nodata"),
    # pods
    p("10-4-0-1.default.pod.cluster.local.", "A", "NXDOMAIN", [], id="pods-disabled"),
    p(
        "10-4-0-9.default.pod.cluster.local.",
        "A",
        "NOERROR",
        ["10-4-0-9.default.pod.cluster.local. 5 IN A 10.4.0.9"],
        cfg=Config(pods="insecure"),
        id="pods-insecure-any-ip",
    ),
    p(
        "x-y.default.pod.cluster.local.",
        "A",
        "NXDOMAIN",
        [],
        cfg=Config(pods="insecure"),
        id="pods-insecure-not-an-ip",
    ),
    p(
        "10-4-0-9.nons.pod.cluster.local.",
        "A",
        "NXDOMAIN",
        [],
        cfg=Config(pods="insecure"),
        id="pods-insecure-missing-namespace",
    ),
    p(
        "10-4-0-1.default.pod.cluster.local.",
        "A",
        "NOERROR",
        ["10-4-0-1.default.pod.cluster.local. 5 IN A 10.4.0.1"],
        cfg=Config(pods="verified"),
        id="pods-verified",
    ),
    p(
        "10-4-0-9.default.pod.cluster.local.",
        "A",
        "NXDOMAIN",
        [],
        cfg=Config(pods="verified"),
        id="pods-verified-unknown",
    ),
    p(
        "10-4-0-1.prod.pod.cluster.local.",
        "A",
        "NXDOMAIN",
        [],
        cfg=Config(pods="verified"),
        id="pods-verified-other-namespace",
    ),
    p(
        "10-4-0-2.default.pod.cluster.local.",
        "A",
        "NXDOMAIN",
        [],
        cfg=Config(pods="verified"),
        id="pods-verified-finished-pod",
    ),
    p(
        "fd00--4-1.default.pod.cluster.local.",
        "AAAA",
        "NOERROR",
        ["fd00--4-1.default.pod.cluster.local. 5 IN AAAA fd00::4:1"],
        cfg=Config(pods="insecure"),
        id="pods-insecure-v6",
    ),
    p(
        "default.pod.cluster.local.",
        "A",
        "NOERROR",
        [],
        cfg=Config(pods="insecure"),
        id="pods-namespace-nodata",
    ),
    # TXT, SOA, NS
    p(
        "dns-version.cluster.local.",
        "TXT",
        "NOERROR",
        ['dns-version.cluster.local. 28800 IN TXT "1.1.0"'],
        id="dns-version",
    ),
    p(f"web.{S}", "TXT", "NOERROR", [], id="txt-existing-nodata"),
    p(S, "TXT", "NXDOMAIN", [], id="txt-namespace-nxdomain-as-plugin"),
    p("cluster.local.", "SOA", "NOERROR", [SOA], id="soa-apex"),
    p(f"nope.{S}", "SOA", "NOERROR", [], id="soa-below-apex-nodata-even-if-missing"),
    p("cluster.local.", "NS", "NOERROR", [], id="ns-apex-loopback-nodata"),
    p(
        "cluster.local.",
        "NS",
        "NOERROR",
        ["cluster.local. 5 IN NS ns.dns.cluster.local."],
        ["ns.dns.cluster.local. 5 IN A 192.0.2.53"],
        cfg=Config(local_ips=("192.0.2.53",)),
        id="ns-apex",
    ),
    p(
        "ns.dns.cluster.local.",
        "A",
        "NOERROR",
        ["ns.dns.cluster.local. 5 IN A 192.0.2.53"],
        cfg=Config(local_ips=("192.0.2.53",)),
        id="ns-dns-a",
    ),
    p(f"web.{S}", "MX", "NOERROR", [], id="mx-nodata"),
    p(f"nope.{S}", "MX", "NXDOMAIN", [], id="mx-missing-nxdomain"),
    p(f"web.{S}", "ANY", "NOERROR", [], id="other-type-nodata"),
    # names that do not exist, names that exist without records
    p(f"nope.{S}", "A", "NXDOMAIN", [], id="missing-service"),
    p("web.nons.svc.cluster.local.", "A", "NXDOMAIN", [], id="missing-namespace"),
    p(f"*.{S}", "A", "NXDOMAIN", [], id="wildcard-is-a-label"),
    p("any.default.svc.cluster.local.", "A", "NXDOMAIN", [], id="any-is-a-label"),
    p(S, "A", "NOERROR", [], id="namespace-nodata"),
    p("nons.svc.cluster.local.", "A", "NXDOMAIN", [], id="missing-namespace-name"),
    p("svc.cluster.local.", "A", "NOERROR", [], id="svc-nodata"),
    p("cluster.local.", "A", "NOERROR", [], id="apex-nodata"),
    p("foo.cluster.local.", "A", "NXDOMAIN", [], id="not-svc-or-pod"),
    p(f"a.b.c.web.{S}", "A", "NXDOMAIN", [], id="too-long"),
    p("web.prod.svc.cluster.local.", "A", "NXDOMAIN", [], id="other-namespace"),
    p("example.com.", "A", "REFUSED", [], id="outside-zone-refused"),
    p("cluster.local.", "AXFR", "REFUSED", [], id="axfr-refused"),
]


@pytest.mark.parametrize(("qname", "qtype", "cfg", "want"), CASES)
def test_resolve(qname: str, qtype: str, cfg: Config | None, want: Any) -> None:
    got = run(qname, qtype, cfg)
    if want[0] == "REFUSED":
        want = ("REFUSED", [], [], [])
    assert got == want


def test_query_case_kept_in_owner_and_soa() -> None:
    rcode, answer, _, _ = run("Web.Default.SVC.Cluster.Local.", "A")
    assert (rcode, answer) == ("NOERROR", ["Web.Default.SVC.Cluster.Local. 5 IN A 10.0.0.10"])
    rcode, _, authority, _ = run("Nope.Default.svc.Cluster.Local.", "A")
    assert rcode == "NXDOMAIN"
    assert authority[0].startswith("Cluster.Local. 5 IN SOA ns.dns.Cluster.Local.")


def test_not_synced_name_error_is_servfail() -> None:
    z = Zone(synced=False)
    rcode, answer, authority, _ = run(f"web.{S}", "A", z=z)
    assert (rcode, answer) == ("SERVFAIL", [])
    assert authority and "SOA" in authority[0]


def test_ttl_and_domain_configurable() -> None:
    objs = copy.deepcopy(SERVICES[0])
    z = zone_from_objects(services=[objs], namespaces=["default"], serial=1)
    rcode, answer, _, _ = run(
        "web.default.svc.example.org.", "A", Config(domain="example.org", ttl=30), z
    )
    assert (rcode, answer) == ("NOERROR", ["web.default.svc.example.org. 30 IN A 10.0.0.10"])
    rcode, _, authority, _ = run(
        "nope.default.svc.example.org.", "A", Config(domain="example.org", ttl=600), z
    )
    assert authority == [
        "example.org. 300 IN SOA ns.dns.example.org. hostmaster.example.org. 1 7200 1800 86400 600"
    ]
    assert (
        run("web.default.svc.cluster.local.", "A", Config(domain="example.org"), z)[0] == "REFUSED"
    )
