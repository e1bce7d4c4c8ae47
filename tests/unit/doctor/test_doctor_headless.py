"""Headless Services: the names the DNS resolver answers, and hostname/subdomain mistakes."""

from __future__ import annotations

from typing import Any

import pytest
from doctor_objects import healthy, pod, service

from sliceplane.doctor.diagnose import diagnose
from sliceplane.doctor.findings import Finding

Obj = dict[str, Any]


def named(n: int, hostname: str | None, subdomain: str | None) -> Obj:
    p = pod(n)
    if hostname is not None:
        p["spec"]["hostname"] = hostname
    if subdomain is not None:
        p["spec"]["subdomain"] = subdomain
    return p


def findings(pods: list[Obj], domain: str = "cluster.local", **spec: Any) -> list[Finding]:
    svc = service(cluster_ip="None", **spec)
    return list(diagnose(healthy(svc, pods=pods), cluster_domain=domain).findings)


def one(found: list[Finding], code: str) -> Finding:
    (f,) = [f for f in found if f.code == code]
    return f


def test_names_dns_answers() -> None:
    f = one(findings([named(1, "db-0", "web"), named(2, "db-1", "web")]), "HeadlessDnsNames")
    assert f.severity == "info" and f.objects == ("service/prod/web",)
    assert f.evidence == (
        "web.prod.svc.cluster.local. A 10.244.1.5, 10.244.2.5",
        "_http._tcp.web.prod.svc.cluster.local. SRV 0 50 8080 db-0.web.prod.svc.cluster.local., "
        "0 50 8080 db-1.web.prod.svc.cluster.local.",
        "db-0.web.prod.svc.cluster.local. A 10.244.1.5",
        "db-1.web.prod.svc.cluster.local. A 10.244.2.5",
    )


def test_endpoint_without_hostname_is_named_by_its_ip_and_other_domain() -> None:
    f = one(findings([pod(1)], domain="corp.example"), "HeadlessDnsNames")
    assert "10-244-1-5.web.prod.svc.corp.example. A 10.244.1.5" in f.evidence


def test_not_ready_pods_are_not_answered() -> None:
    f = one(findings([pod(1, ready=False)]), "HeadlessDnsNames")
    assert f.evidence == () and "answers nothing" in f.message


def test_publish_not_ready_answers_them() -> None:
    found = findings([pod(1, ready=False)], publishNotReadyAddresses=True)
    assert "web.prod.svc.cluster.local. A 10.244.1.5" in one(found, "HeadlessDnsNames").evidence


def test_cluster_ip_service_has_no_dns_finding() -> None:
    assert diagnose(healthy()).findings == []


@pytest.mark.parametrize(
    ("hostname", "subdomain", "needle"),
    [
        pytest.param(None, "web", "no spec.hostname", id="subdomain-without-hostname"),
        pytest.param("db-0", "dbs", "no Service 'dbs' exists", id="subdomain-of-no-service"),
        pytest.param("db-0", None, "without subdomain", id="hostname-without-subdomain"),
    ],
)
def test_subdomain_mismatch(hostname: str | None, subdomain: str | None, needle: str) -> None:
    f = one(findings([named(1, hostname, subdomain)]), "SubdomainMismatch")
    assert f.severity == "warning" and f.objects == ("pod/prod/web-1",)
    assert needle in f.evidence[0] and "spec.subdomain: web" in f.fix


def test_matching_hostname_and_subdomain_is_fine() -> None:
    assert "SubdomainMismatch" not in [f.code for f in findings([named(1, "db-0", "web")])]
