"""The resolver: which records a name has, as CoreDNS's kubernetes plugin answers it.

:func:`resolve` is a pure function of (name, type, :class:`~sliceplane.dns.zone.Zone`,
:class:`Config`) returning a :class:`Result` (rcode, authoritative bit, the three
sections). No I/O, no clock: the server (and the doctor, to say which names DNS answers)
call it with a snapshot.

The behaviour is the plugin's (``plugin/kubernetes/kubernetes.go``, ``parse.go``,
``reverse.go``, ``ns.go``, ``handler.go`` and ``plugin/backend_lookup.go``), including
its corners, each of which a table test in ``tests/unit/dns`` pins:

* names are ``[_port._proto.|endpoint.]service.namespace.svc.<zone>`` and
  ``ip.namespace.pod.<zone>``; anything else under the zone is NXDOMAIN, a name whose
  namespace exists but that names nothing (``namespace.svc.<zone>``, the apex, ``svc.<zone>``)
  is NODATA; a namespace that does not exist makes every name under it NXDOMAIN;
* there are no wildcards: ``*`` and ``any`` are ordinary labels (the plugin removed its
  wildcard support), so ``*.default.svc.cluster.local`` is NXDOMAIN;
* NXDOMAIN and NODATA carry the zone's SOA in the authority section (``ns.dns.<zone>``,
  ``hostmaster.<zone>``, refresh 7200, retry 1800, expire 86400, minimum = TTL, TTL
  min(TTL, 300)); before the first sync, a name error is SERVFAIL instead;
* SRV weights split 100 over the matching (address, port) pairs; targets are the Service
  name (ClusterIP) or ``hostname.service...`` (headless, and ``endpoint.service`` names of
  any Service); the additional section has the targets' addresses;
* an ExternalName is a CNAME, followed inside the zone (up to 10 links) and not outside it
  (there is no forwarder: the CNAME alone is the answer);
* PTR answers a cluster IP with the Service's name, else every ready endpoint with that
  address with its ``hostname.service.namespace.svc.<zone>``;
* ``dns-version.<zone>`` TXT is the schema version ``1.1.0`` (TTL 28800);
* SOA is answered at the apex only (NODATA elsewhere, even for names that do not exist);
  NS at the apex and ``ns.dns.<zone>`` A/AAAA name the server's own non-loopback addresses.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
from dns.rdtypes.ANY.CNAME import CNAME
from dns.rdtypes.ANY.NS import NS
from dns.rdtypes.ANY.PTR import PTR
from dns.rdtypes.ANY.SOA import SOA
from dns.rdtypes.ANY.TXT import TXT
from dns.rdtypes.IN.A import A
from dns.rdtypes.IN.AAAA import AAAA
from dns.rdtypes.IN.SRV import SRV

from sliceplane.dns.zone import NO_PORT, Address, Zone

DNS_SCHEMA_VERSION = "1.1.0"
"""The Kubernetes DNS specification version served at ``dns-version.<zone>``."""
DNS_VERSION_TTL = 28800
PodMode = Literal["disabled", "insecure", "verified"]

IN = dns.rdataclass.IN
T = dns.rdatatype


# dnspython's rdata constructors are untyped, and slow (immutable objects, address
# parsing): every record is made through these, memoised (rdata are immutable, so one
# object can serve every answer that holds it). Addresses are as many as the zone's
# endpoints (37,000 for 10,000 Services: 10 MiB of cached objects), and the server
# remembers whole answers anyway, so their caches keep only the recent ones.
_memo = functools.lru_cache(maxsize=65536)
_recent = functools.lru_cache(maxsize=2048)


@_recent
def _addr(what: int, ip: str) -> dns.rdata.Rdata:
    if what == T.A:
        return A(IN, T.A, ip)  # type: ignore[no-untyped-call]
    return AAAA(IN, T.AAAA, ip)  # type: ignore[no-untyped-call]


@_memo
def _cname(target: str) -> dns.rdata.Rdata:
    return CNAME(IN, T.CNAME, dns.name.from_text(target))  # type: ignore[no-untyped-call]


@_memo
def _ptr(target: str) -> dns.rdata.Rdata:
    return PTR(IN, T.PTR, dns.name.from_text(target))  # type: ignore[no-untyped-call]


@_memo
def _ns(target: str) -> dns.rdata.Rdata:
    return NS(IN, T.NS, dns.name.from_text(target))  # type: ignore[no-untyped-call]


@_memo
def _srv(weight: int, port: int, target: str) -> dns.rdata.Rdata:
    name = dns.name.from_text(target)
    return SRV(IN, T.SRV, 0, weight, port, name)  # type: ignore[no-untyped-call]


@_memo
def _txt(text: str) -> dns.rdata.Rdata:
    return TXT(IN, T.TXT, [text])


@functools.lru_cache(maxsize=1024)  # keyed by the zone as the query spells it: keep few
def _soa(zone: str, serial: int, minimum: int) -> dns.rdata.Rdata:
    return SOA(  # type: ignore[no-untyped-call]
        IN,
        T.SOA,
        dns.name.from_text(f"ns.dns.{zone}"),
        dns.name.from_text(f"hostmaster.{zone}"),
        serial & 0xFFFFFFFF,
        7200,
        1800,
        86400,
        minimum,
    )


@dataclass(frozen=True, slots=True)
class Record:
    """One resource record: owner name as text (the query's case kept), type, TTL, data."""

    name: str
    rdtype: int
    ttl: int
    rdata: dns.rdata.Rdata

    def to_text(self) -> str:
        rdtype = T.to_text(T.RdataType(self.rdtype))
        return f"{self.name} {self.ttl} IN {rdtype} {self.rdata.to_text()}"


@dataclass(frozen=True, slots=True)
class Result:
    rcode: int
    authoritative: bool = True
    answer: tuple[Record, ...] = ()
    authority: tuple[Record, ...] = ()
    additional: tuple[Record, ...] = ()


@dataclass(frozen=True)
class Config:
    """What the server was told on its command line (see ``docs/dns.md``)."""

    domain: str = "cluster.local"
    ttl: int = 5
    pods: PodMode = "disabled"
    endpoint_pod_names: bool = False
    local_ips: tuple[str, ...] = ()
    """The server's own non-loopback addresses (NS records; CoreDNS's ``boundIPs``)."""
    reverse_zones: tuple[str, ...] = ("in-addr.arpa.", "ip6.arpa.")
    zones: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        domain = self.domain.lower().strip(".") + "."
        object.__setattr__(self, "domain", domain)
        object.__setattr__(self, "zones", (domain, *self.reverse_zones))


REFUSED = Result(rcode=dns.rcode.REFUSED, authoritative=False)


class _NameError(Exception):
    """The plugin's errNoItems / errNsNotExposed / errInvalidRequest: NXDOMAIN."""


@dataclass(frozen=True, slots=True)
class _Item:
    """The plugin's ``msg.Service``: a host (IP, name or empty), a port, the domain its
    key spells (SRV/NS targets), a text (TXT)."""

    host: str
    port: int = 0
    target: str = ""
    text: str = ""
    ttl: int = 0


@dataclass(frozen=True, slots=True)
class _Req:
    port: str = ""
    protocol: str = ""
    endpoint: str = ""
    service: str = ""
    namespace: str = ""
    pod_or_svc: str = ""


@_recent
def _host_type(host: str, text: str = "") -> tuple[int, str]:
    """``msg.Service.HostType``: A, AAAA (normalised address), CNAME or TXT."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return (T.TXT if text else T.CNAME), ""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return T.A, str(ip.ipv4_mapped)
        return T.AAAA, str(ip)
    return T.A, str(ip)


def _fqdn(name: str) -> str:
    return name if name.endswith(".") else name + "."


def _is_subdomain(parent: str, child: str) -> bool:
    """``dns.IsSubDomain``: child is parent or below it (case-insensitive)."""
    p, c = parent.lower(), child.lower()
    return p == "." or c == p or c.endswith("." + p)


def _labels(name: str) -> list[str]:
    return [x for x in name.split(".") if x]


class _Resolver:
    def __init__(self, zone: Zone, cfg: Config) -> None:
        self.z = zone
        self.cfg = cfg
        self.ttl = cfg.ttl

    # -- name parsing (parse.go) ----------------------------------------------------------

    @staticmethod
    def parse(name: str, zone: str) -> _Req:
        base = name[: len(name) - len(zone)].rstrip(".") if len(name) > len(zone) else ""
        if base in ("", "svc", "pod"):
            return _Req()
        segs = _labels(base)
        if not segs:
            return _Req()
        last = len(segs) - 1
        kind = segs[last]
        if kind not in ("svc", "pod"):
            raise _NameError
        last -= 1
        if last < 0:
            return _Req(pod_or_svc=kind)
        namespace = segs[last]
        last -= 1
        if last < 0:
            return _Req(pod_or_svc=kind, namespace=namespace)
        service = segs[last]
        last -= 1
        if last < 0:
            return _Req(pod_or_svc=kind, namespace=namespace, service=service)
        if last == 0:
            return _Req(pod_or_svc=kind, namespace=namespace, service=service, endpoint=segs[0])
        if last == 1:
            return _Req(
                pod_or_svc=kind,
                namespace=namespace,
                service=service,
                protocol=segs[1].removeprefix("_"),
                port=segs[0].removeprefix("_"),
            )
        raise _NameError

    # -- Records (kubernetes.go) ----------------------------------------------------------

    def records(self, name: str, zone: str) -> list[_Item]:
        r = self.parse(name, zone)
        if r.pod_or_svc == "":
            return []
        if name.endswith(".in-addr.arpa.") or name.endswith(".ip6.arpa."):
            raise _NameError
        if r.namespace not in self.z.namespaces:
            raise _NameError
        if r.pod_or_svc == "pod":
            return self.find_pods(r, zone)
        return self.find_services(r, zone)

    def endpoint_hostname(self, addr: Address) -> str:
        if addr.hostname:
            return addr.hostname
        if self.cfg.endpoint_pod_names and addr.target_name:
            return addr.target_name
        if "." in addr.ip:
            return addr.ip.replace(".", "-")
        if ":" in addr.ip:
            h = addr.ip.replace(":", "-")
            return h + "0" if h.endswith("-") else h
        return ""

    def find_pods(self, r: _Req, zone: str) -> list[_Item]:
        mode = self.cfg.pods
        if mode == "disabled":
            raise _NameError
        podname = r.service
        if podname == "":
            return []
        target = f"{podname}.{r.namespace}.pod.{zone}"
        if podname.count("-") == 3 and "--" not in podname:
            ip = podname.replace("-", ".")
        else:
            ip = podname.replace("-", ":")
        if mode == "insecure":
            try:
                ipaddress.ip_address(ip)
            except ValueError:
                raise _NameError from None
            return [_Item(host=ip, target=target, ttl=self.ttl)]
        items = [
            _Item(host=ip, target=target, ttl=self.ttl)
            for p in self.z.pods_by_ip.get(ip, ())
            if ip in p.ips and p.namespace == r.namespace
        ]
        if not items:
            raise _NameError
        return items

    def find_services(self, r: _Req, zone: str) -> list[_Item]:
        if r.service == "":
            return []
        svc = self.z.services.get((r.namespace, r.service))
        if svc is None:
            raise _NameError
        found = False
        items: list[_Item] = []
        base = f"{svc.name}.{svc.namespace}.svc.{zone}"
        if svc.is_external_name:
            if r.endpoint or r.port or r.protocol:
                raise _NameError
            if _host_type(svc.external_name)[0] == T.CNAME:
                return [_Item(host=svc.external_name, target=base, ttl=self.ttl)]
            raise _NameError
        if svc.headless or r.endpoint:
            for sl in self.z.slices.get((svc.namespace, svc.name), ()):
                for addr in sl.addresses:
                    hostname = self.endpoint_hostname(addr)
                    if r.endpoint and r.endpoint != hostname.lower():
                        continue
                    for p in sl.ports:
                        if not _port_matches(r, p.name, p.protocol):
                            continue
                        found = True
                        items.append(
                            _Item(
                                host=addr.ip, port=p.port, target=f"{hostname}.{base}", ttl=self.ttl
                            )
                        )
        else:
            for p in svc.ports:
                if not _port_matches(r, p.name, p.protocol):
                    continue
                found = True
                for ip in svc.cluster_ips:
                    items.append(_Item(host=ip, port=p.port, target=base, ttl=self.ttl))
        if not found:
            raise _NameError
        return items

    # -- Services (kubernetes.go) ---------------------------------------------------------

    def ns_addrs(self, zone: str) -> list[tuple[str, str]]:
        """(owner name, address) of this server (ns.go), from its own addresses: the
        Services whose endpoints are one of them, else ``ns.dns.<zone>``."""
        out: list[tuple[str, str]] = []
        found = False
        for local in self.cfg.local_ips:
            for sl in self.z.slices_by_ip.get(local, ()):
                found = True
                svc = self.z.services.get((sl.namespace, sl.service))
                if svc is None:
                    continue
                name = f"{svc.name}.{svc.namespace}.svc.{zone}"
                if svc.headless:
                    for a in sl.addresses:
                        out.append((f"{self.endpoint_hostname(a)}.{name}", a.ip))
                else:
                    out.extend((name, ip) for ip in svc.cluster_ips)
        if not found:
            out = [(f"ns.dns.{zone}", ip) for ip in self.cfg.local_ips]
        return out

    def services(self, name: str, qtype: int, zone: str) -> list[_Item]:
        if qtype == T.TXT:
            base = name[: len(name) - len(zone)].rstrip(".") if len(name) > len(zone) else ""
            if _labels(base) == ["dns-version"]:
                return [_Item(host="", text=DNS_SCHEMA_VERSION, ttl=DNS_VERSION_TTL)]
            if self.records(name, zone):
                return []
            raise _NameError
        if qtype == T.NS:
            return [_Item(host=ip, target=n, ttl=self.ttl) for n, ip in self.ns_addrs(zone)]
        if name.startswith("ns.dns.") and name.find(zone) == len("ns.dns."):
            want = T.A if qtype == T.A else T.AAAA if qtype == T.AAAA else None
            return [
                _Item(host=ip, target=name, ttl=self.ttl)
                for _, ip in self.ns_addrs(zone)
                if _host_type(ip)[0] == want
            ]
        items = self.records(name, zone)
        if qtype == T.SRV:
            items = [i for i in items if _host_type(i.host, i.text)[0] != T.CNAME]
        return items

    # -- record builders (backend_lookup.go) ----------------------------------------------

    def address(self, qname: str, qtype: int, zone: str, chain: list[Record]) -> list[Record]:
        name = qname.lower()
        items = self.services(name, qtype, zone)
        out: list[Record] = []
        seen: set[str] = set()
        for it in items:
            what, ip = _host_type(it.host, it.text)
            if what == T.CNAME:
                host = _fqdn(it.host)
                if _is_subdomain(name, host):  # a CNAME to itself or below: skipped
                    continue
                cname = Record(qname, T.CNAME, it.ttl, _cname(host))
                if len(chain) > 10:
                    continue
                if any(c.rdtype == T.CNAME and c.rdata == cname.rdata for c in chain):
                    continue
                if _is_subdomain(zone, host):
                    try:
                        nxt = self.address(host, qtype, zone, [*chain, cname])
                    except _NameError:
                        continue
                    if nxt:
                        out.append(cname)
                        out.extend(nxt)
                    continue
                out.append(cname)  # no forwarder: the target is not looked up
                continue
            if what == qtype and it.host not in seen:
                seen.add(it.host)
                rd: dns.rdata.Rdata = _addr(what, ip)
                out.append(Record(qname, what, it.ttl, rd))
        return out

    def srv(self, qname: str, zone: str) -> tuple[list[Record], list[Record]]:
        items = self.services(qname.lower(), T.SRV, zone)
        total = 100 * len(items)
        records: list[Record] = []
        extra: list[Record] = []
        seen_srv: set[tuple[str, int]] = set()
        seen_addr: set[tuple[str, str]] = set()
        for it in items:
            if it.port == NO_PORT:
                continue
            weight = int(100.0 / total * 100) or 1
            what, ip = _host_type(it.host, it.text)
            target = _fqdn(it.target)
            port = it.port & 0xFFFF
            if (target.lower(), port) not in seen_srv:
                seen_srv.add((target.lower(), port))
                records.append(
                    Record(
                        qname,
                        T.SRV,
                        it.ttl,
                        _srv(weight, port, target),
                    )
                )
            if (target.lower(), it.host) not in seen_addr:
                seen_addr.add((target.lower(), it.host))
                rd: dns.rdata.Rdata = _addr(what, ip)
                extra.append(Record(target, what, it.ttl, rd))
        return records, extra

    def ptr(self, qname: str, zone: str) -> list[Record]:
        name = qname.lower()
        ip = address_from_reverse(name)
        if ip is None:
            self.records(name, zone)
            return []
        domain = self.cfg.domain
        hosts: list[str] = []
        svcs = self.z.services_by_ip.get(ip, ())
        if svcs:
            s = svcs[0]
            hosts = [f"{s.name}.{s.namespace}.svc.{domain}"]
        else:
            for sl in self.z.slices_by_ip.get(ip, ()):
                for a in sl.addresses:
                    if a.ip == ip:
                        hosts.append(
                            f"{self.endpoint_hostname(a)}.{sl.service}.{sl.namespace}.svc.{domain}"
                        )
        if not hosts:
            raise _NameError
        out: list[Record] = []
        for h in dict.fromkeys(hosts):
            out.append(Record(qname, T.PTR, self.ttl, _ptr(h)))
        return out

    def soa(self, zone: str) -> Record:
        minimum = self.ttl
        return Record(
            zone,
            T.SOA,
            min(minimum, 300),
            _soa(zone, self.z.serial, minimum),
        )

    # -- the handler (handler.go) ---------------------------------------------------------

    def handle(self, qname: str, qtype: int) -> Result:
        zone_match = _match_zone(self.cfg.zones, qname)
        if zone_match is None:
            return REFUSED
        zone = qname[len(qname) - len(zone_match) :]  # the query's case
        name = qname.lower()
        records: list[Record] = []
        extra: list[Record] = []
        try:
            if qtype in (T.A, T.AAAA):
                records = self.address(qname, qtype, zone, [])
            elif qtype == T.TXT:
                for it in self.services(name, T.TXT, zone):
                    if it.text:
                        records.append(Record(qname, T.TXT, it.ttl, _txt(it.text)))
            elif qtype == T.CNAME:
                items = self.services(name, T.CNAME, zone)
                if items and _host_type(items[0].host, items[0].text)[0] in (T.CNAME, T.TXT):
                    cname = _cname(_fqdn(items[0].host))
                    records = [Record(qname, T.CNAME, items[0].ttl, cname)]
            elif qtype == T.PTR:
                records = self.ptr(qname, zone)
            elif qtype == T.MX:
                self.services(name, T.MX, zone)
            elif qtype == T.SRV:
                records, extra = self.srv(qname, zone)
            elif qtype == T.SOA:
                if qname == zone:
                    records = [self.soa(zone)]
            elif qtype in (T.AXFR, T.IXFR):
                return REFUSED
            elif qtype == T.NS and name == zone:
                for it in self.services(name, T.NS, zone):
                    what, ip = _host_type(it.host)
                    target = _fqdn(it.target)
                    rd: dns.rdata.Rdata = _addr(what, ip)
                    extra.append(Record(target, what, it.ttl, rd))
                    ns = Record(qname, T.NS, it.ttl, _ns(target))
                    if ns not in records:
                        records.append(ns)
            else:  # a fake A lookup tells NODATA from NXDOMAIN
                self.address(qname, T.A, zone, [])
        except _NameError:
            if not self.z.synced:
                return Result(rcode=dns.rcode.SERVFAIL, authority=(self.soa(zone),))
            return Result(rcode=dns.rcode.NXDOMAIN, authority=(self.soa(zone),))
        if not records:
            return Result(rcode=dns.rcode.NOERROR, authority=(self.soa(zone),))
        return Result(rcode=dns.rcode.NOERROR, answer=tuple(records), additional=tuple(extra))


def _port_matches(r: _Req, name: str, protocol: str) -> bool:
    return (not r.port or r.port == name.lower()) and (
        not r.protocol or r.protocol == protocol.lower()
    )


def _match_zone(zones: tuple[str, ...], qname: str) -> str | None:
    best: str | None = None
    for z in zones:
        if _is_subdomain(z, qname) and (best is None or len(z) > len(best)):
            best = z
    return best


def address_from_reverse(name: str) -> str | None:
    """The address a reverse name spells (``dnsutil.ExtractAddressFromReverse``), or None."""
    if name.endswith(".in-addr.arpa."):
        parts = name[: -len(".in-addr.arpa.")].split(".")
        text = ".".join(reversed(parts))
        try:
            return str(ipaddress.IPv4Address(text))
        except ValueError:
            return None
    if name.endswith(".ip6.arpa."):
        parts = list(reversed(name[: -len(".ip6.arpa.")].split(".")))
        groups = ["".join(parts[i * 4 : i * 4 + 4]) for i in range(len(parts) // 4)]
        try:
            ip6 = ipaddress.IPv6Address(":".join(groups))
        except ValueError:
            return None
        if ip6.ipv4_mapped is not None:
            return str(ip6.ipv4_mapped)
        return str(ip6)
    return None


def resolve(qname: str, qtype: int, zone: Zone, cfg: Config) -> Result:
    """The answer to one question. ``qname`` is absolute text (``name.``) in the case it
    was asked; owner names in the result keep that case, as the plugin's do."""
    return _Resolver(zone, cfg).handle(_fqdn(qname), qtype)


NameAnswers = Callable[[str, int], Result]


def resolver_for(zone: Zone, cfg: Config) -> NameAnswers:
    """``resolve`` bound to one zone and config (for callers asking many names)."""
    r = _Resolver(zone, cfg)
    return lambda qname, qtype: r.handle(_fqdn(qname), qtype)
