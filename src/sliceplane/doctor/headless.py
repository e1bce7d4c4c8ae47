"""Headless Services: the names DNS will answer, and pods whose hostname cannot get one.

The answers are not predicted here: a zone is built from the live Service and slices with
:func:`sliceplane.dns.zone.zone_from_objects` and every candidate name is asked of the
pure resolver (:func:`sliceplane.dns.resolver.resolve`), the same code ``sliceplane dns``
serves with, which follows CoreDNS's kubernetes plugin. Candidates are the Service's own
name, the SRV names of its named ports, and the endpoint names (an endpoint's hostname, or
its dashed IP when it has none) under the Service.

A per-pod name (``hostname.service.namespace.svc.<zone>``) exists only when the pod sets
``spec.hostname`` and ``spec.subdomain`` is the Service's name; a pod setting one without
the other gets none, which is the usual surprise (``SubdomainMismatch``).
"""

from __future__ import annotations

import dns.rcode
import dns.rdatatype

from sliceplane.api.meta import is_deleting, name_of
from sliceplane.dns.resolver import Config, resolver_for
from sliceplane.dns.zone import zone_from_objects
from sliceplane.doctor.context import Context
from sliceplane.doctor.findings import HEADLESS_DNS_NAMES, SUBDOMAIN_MISMATCH, Finding, ref
from sliceplane.doctor.pods import MAX_OBJECTS

MAX_NAMES = 20


def _dashed(ip: str) -> str:
    if ":" in ip:
        h = ip.replace(":", "-")
        return h + "0" if h.endswith("-") else h
    return ip.replace(".", "-")


def dns_names(ctx: Context) -> list[str]:
    """``name TYPE answer, answer`` for every name DNS answers for the Service."""
    live = [es for es in ctx.snap.slices if not is_deleting(es)]
    zone = zone_from_objects(services=[ctx.service], slices=live, namespaces=[ctx.namespace])
    cfg = Config(domain=ctx.cluster_domain)
    ask = resolver_for(zone, cfg)
    base = f"{ctx.name}.{ctx.namespace}.svc.{cfg.domain}"
    names: list[tuple[str, int]] = [(base, dns.rdatatype.A), (base, dns.rdatatype.AAAA)]
    for port in ctx.spec.get("ports") or []:
        if port.get("name"):
            proto = str(port.get("protocol") or "TCP").lower()
            names.append((f"_{port['name']}._{proto}.{base}", dns.rdatatype.SRV))
    seen: set[str] = set()
    for es in live:
        for ep in es.get("endpoints") or []:
            for ip in ep.get("addresses") or []:
                host = ep.get("hostname") or _dashed(str(ip))
                if host not in seen:
                    seen.add(host)
                    names.append((f"{host}.{base}", dns.rdatatype.A))
                    names.append((f"{host}.{base}", dns.rdatatype.AAAA))
    out: list[str] = []
    for qname, qtype in names:
        result = ask(qname, qtype)
        if result.rcode != dns.rcode.NOERROR or not result.answer:
            continue
        rdtype = dns.rdatatype.to_text(dns.rdatatype.RdataType(qtype))
        answers = ", ".join(r.rdata.to_text() for r in result.answer)
        out.append(f"{qname} {rdtype} {answers}")
    return out


def check_headless(ctx: Context) -> list[Finding]:
    if not ctx.headless:
        return []
    out = _subdomains(ctx)
    names = dns_names(ctx)
    base = f"{ctx.name}.{ctx.namespace}.svc.{Config(domain=ctx.cluster_domain).domain}"
    if names:
        message = f"DNS answers {len(names)} record set(s) for the headless Service {base}"
    else:
        message = (
            f"DNS answers nothing for the headless Service {base}: it has no ready endpoints "
            "(a headless Service's name resolves to its ready pods)"
        )
    out.append(
        Finding(
            HEADLESS_DNS_NAMES,
            "info",
            message,
            (ref("service", ctx.service),),
            f"check from a pod: dig +search {ctx.name}.{ctx.namespace} (or SRV "
            f"_<port>._tcp.{base})",
            tuple(names[:MAX_NAMES]),
        )
    )
    return out


def _subdomains(ctx: Context) -> list[Finding]:
    services = {name_of(s) for s in ctx.snap.services} | {ctx.name}
    lines: list[str] = []
    pods = []
    for pod in ctx.selected:
        spec = pod.get("spec") or {}
        hostname = spec.get("hostname") or ""
        subdomain = spec.get("subdomain") or ""
        if subdomain == ctx.name and not hostname:
            lines.append(
                f"pod {name_of(pod)}: subdomain {subdomain!r} but no spec.hostname: no "
                "per-pod name, only its dashed-IP name"
            )
        elif hostname and subdomain and subdomain not in services:
            lines.append(
                f"pod {name_of(pod)}: hostname {hostname!r} with subdomain {subdomain!r}, "
                f"and no Service {subdomain!r} exists: {hostname}.{ctx.name}... is not a name"
            )
        elif hostname and not subdomain:
            lines.append(
                f"pod {name_of(pod)}: hostname {hostname!r} without subdomain: set "
                f"spec.subdomain: {ctx.name} for {hostname}.{ctx.name}.{ctx.namespace}.svc"
            )
        else:
            continue
        pods.append(pod)
    if not pods:
        return []
    return [
        Finding(
            SUBDOMAIN_MISMATCH,
            "warning",
            f"{len(pods)} pod(s) of the headless Service set a hostname or subdomain that does "
            "not give them a per-pod DNS name",
            tuple(ref("pod", p) for p in pods[:MAX_OBJECTS]),
            f"set both spec.hostname and spec.subdomain: {ctx.name} in the pod template",
            tuple(lines[:MAX_OBJECTS]),
        )
    ]
