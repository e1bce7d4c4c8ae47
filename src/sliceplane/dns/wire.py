"""Wire format: request bytes in, response bytes out, for one zone snapshot. Pure.

dnspython parses requests and encodes names and record data (it is typed, kept, and the
tests use it as their client too); the message framing and truncation are ours, so that
they follow what CoreDNS (miekg/dns underneath) does:

* fewer than 12 bytes, or a message with QR set: dropped (no answer can be used to
  amplify; ``server.go`` in miekg/dns);
* an opcode other than QUERY or NOTIFY: NOTIMP (NOTIFY is answered as a query, with
  its opcode, as CoreDNS's server does); not exactly one question, more than one answer or
  authority record, more than two additional records, or anything that does not parse:
  FORMERR, header only (miekg/dns ``acceptfunc.go``);
* a class other than IN: REFUSED; an EDNS version other than 0: BADVERS (CoreDNS
  ``core/dnsserver/server.go``, ``plugin/pkg/edns``);
* a request with EDNS gets an OPT back: version 0, the request's UDP size, only the DO
  flag copied, no options (CoreDNS ``request.SizeAndDo``);
* over UDP a response is cut to the client's size (512 without EDNS, at least 512 with),
  keeping whole records in order and setting TC when any was left out; over TCP the limit
  is 65535 (miekg/dns ``Msg.Truncate``, CoreDNS ``request.Scrub``).
"""

from __future__ import annotations

import functools
import io
import socket
import struct
from dataclasses import dataclass
from typing import Any

import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype

from sliceplane.dns.resolver import Config, Record, Result, resolve
from sliceplane.dns.zone import Zone

HEADER = struct.Struct("!HHHHHH")
MIN_UDP = 512
MAX_TCP = 65535
_OPT_LEN = 11  # root name, type, class, ttl, rdlength: an OPT without options


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one request (for metrics and logs)."""

    response: bytes | None
    rcode: int
    qtype: int = 0
    zone: str = ""
    truncated: bool = False


def _header_only(data: bytes, rcode: int, opcode: int) -> bytes:
    ident, flags = struct.unpack_from("!HH", data)
    # keep RD, CD, AD, TC as sent; set QR; clear AA and Z; opcode and rcode ours
    keep = flags & (dns.flags.RD | dns.flags.CD | dns.flags.AD | dns.flags.TC | dns.flags.RA)
    flags = keep | dns.flags.QR | (opcode << 11) | (rcode & 0xF)
    return HEADER.pack(ident, flags, 0, 0, 0, 0)


def respond(data: bytes, zone: Zone, cfg: Config, *, tcp: bool) -> Outcome:
    """The response to one request (None: drop it). Never raises for any input."""
    if len(data) < 12:
        return Outcome(None, -1)
    _, flags, qd, an, ns, ar = HEADER.unpack_from(data)
    if flags & dns.flags.QR:
        return Outcome(None, -1)
    opcode = (flags >> 11) & 0xF
    if opcode not in (dns.opcode.QUERY, dns.opcode.NOTIFY):
        return Outcome(_header_only(data, dns.rcode.NOTIMP, opcode), dns.rcode.NOTIMP)
    if qd != 1 or an > 1 or ns > 1 or ar > 2:
        return Outcome(_header_only(data, dns.rcode.FORMERR, 0), dns.rcode.FORMERR)
    fast = _parse_simple(data) if an == 0 and ns == 0 and ar <= 1 else None
    if fast is not None:
        out = _respond_simple(data, fast, zone, cfg, tcp)
        if out is not None:
            return out
    return _respond_general(data, zone, cfg, tcp)


def _respond_general(data: bytes, zone: Zone, cfg: Config, tcp: bool) -> Outcome:
    """Any request that passed the header checks, through dnspython's parser."""
    try:
        req = dns.message.from_wire(data, ignore_trailing=False)
    except Exception:  # dnspython raises many kinds for malformed input
        return Outcome(_header_only(data, dns.rcode.FORMERR, 0), dns.rcode.FORMERR)
    if len(req.question) != 1:
        return Outcome(_header_only(data, dns.rcode.FORMERR, 0), dns.rcode.FORMERR)
    q = req.question[0]
    edns = req.edns >= 0
    if edns and req.edns != 0:
        return _badvers(req)
    if q.rdclass != dns.rdataclass.IN:
        result = Result(rcode=dns.rcode.REFUSED, authoritative=False)
    else:
        result = resolve(q.name.to_text(), q.rdtype, zone, cfg)
    size = MAX_TCP if tcp else max(MIN_UDP, req.payload if edns else MIN_UDP)
    wire, truncated = render(req, result, size)
    return Outcome(wire, result.rcode, q.rdtype, _zone_of(cfg, q.name.to_text()), truncated)


# -- the common case without dnspython's message objects ------------------------------------
#
# A query with one question of plain labels (letters, digits, '-', '_', '*'), class IN, and
# at most an OPT record without options is parsed and answered here; anything else takes
# the general path above (dnspython), which gives the same answers for these queries (the
# differential test runs both against CoreDNS). The encoder compresses names as dnspython
# does (case-insensitively, owner names and the names inside CNAME, NS, PTR and SOA, not
# SRV targets).

_PLAIN = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_*")


@dataclass(frozen=True, slots=True)
class _Simple:
    qname: str
    qtype: int
    payload: int
    """The OPT's UDP size; -1 without EDNS."""
    ednsflags: int


def _parse_simple(data: bytes) -> _Simple | None:
    pos, labels, n = 12, [], len(data)
    while True:
        if pos >= n:
            return None
        length = data[pos]
        if length == 0:
            pos += 1
            break
        if length > 63 or pos + 1 + length > n:
            return None
        label = data[pos + 1 : pos + 1 + length]
        if not _PLAIN.issuperset(label):
            return None
        labels.append(label.decode("ascii"))
        pos += 1 + length
    if pos - 12 > 255 or pos + 4 > n:
        return None
    qtype, qclass = struct.unpack_from("!HH", data, pos)
    pos += 4
    if qclass != dns.rdataclass.IN or qtype in (dns.rdatatype.OPT, dns.rdatatype.TSIG):
        return None
    payload, ednsflags = -1, 0
    if pos < n:  # the header said one additional record: it must be a bare OPT
        if pos + 11 != n or data[pos] != 0:
            return None
        rtype, payload, ttl, rdlen = struct.unpack_from("!HHIH", data, pos + 1)
        if rtype != dns.rdatatype.OPT or rdlen != 0 or (ttl >> 16) & 0xFF != 0:
            return None
        ednsflags = ttl & 0xFFFF
    qname = ".".join(labels) + "." if labels else "."
    return _Simple(qname, qtype, payload, ednsflags)


class _Unencodable(Exception):
    """A name the simple encoder does not handle: take the general path."""


class _Writer:
    def __init__(self) -> None:
        self.buf = bytearray()
        self.comp: dict[bytes, int] = {}

    def labels(self, labels: tuple[bytes, ...] | list[bytes], compress: bool = True) -> None:
        labels = [x for x in labels if x]
        for i in range(len(labels)):
            key = b".".join(labels[i:]).lower()
            if compress:
                at = self.comp.get(key)
                if at is not None:
                    self.buf += struct.pack("!H", 0xC000 | at)
                    return
                if len(self.buf) <= 0x3FFF:
                    self.comp[key] = len(self.buf)
            self.buf.append(len(labels[i]))
            self.buf += labels[i]
        self.buf.append(0)

    def text(self, name: str) -> None:
        if "\\" in name:
            raise _Unencodable
        self.labels([x.encode("ascii") for x in name.split(".") if x])

    def rdata(self, rd: dns.rdata.Rdata) -> None:
        t = rd.rdtype
        if t == dns.rdatatype.A:
            self.buf += _inet(socket.AF_INET, rd.address)  # type: ignore[attr-defined]
        elif t == dns.rdatatype.AAAA:
            self.buf += _inet(socket.AF_INET6, rd.address)  # type: ignore[attr-defined]
        elif t in (dns.rdatatype.CNAME, dns.rdatatype.PTR, dns.rdatatype.NS):
            self.labels(rd.target.labels)  # type: ignore[attr-defined]
        elif t == dns.rdatatype.SRV:
            srv: Any = rd
            self.buf += struct.pack("!HHH", srv.priority, srv.weight, srv.port)
            self.labels(srv.target.labels, compress=False)
        elif t == dns.rdatatype.TXT:
            for chunk in rd.strings:  # type: ignore[attr-defined]
                self.buf.append(len(chunk))
                self.buf += chunk
        elif t == dns.rdatatype.SOA:
            soa: Any = rd
            self.labels(soa.mname.labels)
            self.labels(soa.rname.labels)
            self.buf += struct.pack(
                "!IIIII", soa.serial, soa.refresh, soa.retry, soa.expire, soa.minimum
            )
        else:
            raise _Unencodable


@functools.lru_cache(maxsize=65536)
def _inet(family: int, text: str) -> bytes:
    return socket.inet_pton(family, text)


def _respond_simple(data: bytes, q: _Simple, zone: Zone, cfg: Config, tcp: bool) -> Outcome | None:
    edns = q.payload >= 0
    result = resolve(q.qname, q.qtype, zone, cfg)
    size = MAX_TCP if tcp else max(MIN_UDP, q.payload if edns else MIN_UDP)
    limit = size - (_OPT_LEN if edns else 0)
    ident, rflags = struct.unpack_from("!HH", data)
    opcode = (rflags >> 11) & 0xF
    flags = dns.flags.QR | (opcode << 11)
    if opcode == dns.opcode.QUERY:
        flags |= rflags & (dns.flags.RD | dns.flags.CD)
    if result.authoritative:
        flags |= dns.flags.AA
    flags |= result.rcode & 0xF
    w = _Writer()
    w.buf += b"\x00" * 12
    try:
        w.text(q.qname)
        w.buf += struct.pack("!HH", q.qtype, dns.rdataclass.IN)
        counts = [0, 0, 0]
        truncated = False
        for i, section in enumerate((result.answer, result.authority, result.additional)):
            if truncated:
                break
            for rec in section:
                start, saved = len(w.buf), dict(w.comp)
                if rec.name == q.qname:
                    w.buf += b"\xc0\x0c"
                else:
                    w.text(rec.name)
                w.buf += struct.pack("!HHIH", rec.rdtype, dns.rdataclass.IN, rec.ttl, 0)
                rstart = len(w.buf)
                w.rdata(rec.rdata)
                struct.pack_into("!H", w.buf, rstart - 2, len(w.buf) - rstart)
                if len(w.buf) > limit:
                    del w.buf[start:]
                    w.comp = saved
                    truncated = True
                    break
                counts[i] += 1
    except _Unencodable:
        return None
    arcount = counts[2]
    if edns:
        w.buf += b"\x00" + struct.pack("!HHIH", 41, q.payload, q.ednsflags & dns.flags.DO, 0)
        arcount += 1
    if truncated:
        flags |= dns.flags.TC
    HEADER.pack_into(w.buf, 0, ident, flags, 1, counts[0], counts[1], arcount)
    return Outcome(bytes(w.buf), result.rcode, q.qtype, _zone_of(cfg, q.qname), truncated)


def _zone_of(cfg: Config, qname: str) -> str:
    low = qname.lower()
    best = ""
    for z in cfg.zones:
        if (low == z or low.endswith("." + z)) and len(z) > len(best):
            best = z
    return best


def _badvers(req: dns.message.Message) -> Outcome:
    out = io.BytesIO()
    flags = dns.flags.QR | (req.flags & (dns.flags.RD | dns.flags.CD))
    q = req.question[0]
    out.write(HEADER.pack(req.id, flags, 1, 0, 0, 1))
    q.name.to_wire(out)
    out.write(struct.pack("!HH", q.rdtype, q.rdclass))
    # OPT: root, type 41, UDP size 0 (a fresh OPT in edns.Version), extended rcode 1
    # (BADVERS = 16 = 1 << 4 with rcode 0 in the header), version 0
    out.write(b"\x00" + struct.pack("!HHIH", 41, 0, 1 << 24, 0))
    return Outcome(out.getvalue(), dns.rcode.BADVERS, q.rdtype)


def render(req: dns.message.Message, result: Result, size: int) -> tuple[bytes, bool]:
    """Encode the response, cut at ``size`` bytes on whole records; (wire, truncated)."""
    q = req.question[0]
    edns = req.edns >= 0
    flags = dns.flags.QR | (req.opcode() << 11)
    if req.opcode() == dns.opcode.QUERY:  # miekg/dns SetReply copies RD and CD for QUERY only
        flags |= req.flags & (dns.flags.RD | dns.flags.CD)
    if result.authoritative:
        flags |= dns.flags.AA
    flags |= result.rcode & 0xF
    limit = size - (_OPT_LEN if edns else 0)
    out = io.BytesIO()
    out.write(b"\x00" * 12)
    compress: dict[dns.name.Name, int] = {}
    q.name.to_wire(out, compress)
    qtext = q.name.to_text()
    out.write(struct.pack("!HH", q.rdtype, q.rdclass))
    counts = [0, 0, 0]
    truncated = False
    sections = (result.answer, result.authority, result.additional)
    names: dict[str, dns.name.Name] = {}
    for i, section in enumerate(sections):
        if truncated:
            break
        for rec in section:
            start = out.tell()
            _write_record(out, compress, rec, names, qtext)
            if out.tell() > limit:
                out.seek(start)
                out.truncate()
                for k in [k for k, v in compress.items() if v >= start]:
                    del compress[k]
                truncated = True
                break
            counts[i] += 1
    arcount = counts[2]
    if edns:
        ednsflags = req.ednsflags & dns.flags.DO
        out.write(b"\x00" + struct.pack("!HHIH", 41, req.payload & 0xFFFF, ednsflags, 0))
        arcount += 1
    if truncated:
        flags |= dns.flags.TC
    out.seek(0)
    out.write(HEADER.pack(req.id, flags, 1, counts[0], counts[1], arcount))
    return out.getvalue(), truncated


def _write_record(
    out: io.BytesIO,
    compress: dict[dns.name.Name, int],
    rec: Record,
    names: dict[str, dns.name.Name],
    qtext: str,
) -> None:
    if rec.name == qtext:
        out.write(b"\xc0\x0c")  # the question's name, at offset 12: what compression gives
    else:
        name = names.get(rec.name)
        if name is None:
            name = names[rec.name] = dns.name.from_text(rec.name)
        name.to_wire(out, compress)
    out.write(struct.pack("!HHIH", rec.rdtype, dns.rdataclass.IN, rec.ttl, 0))
    start = out.tell()
    rec.rdata.to_wire(out, compress)
    end = out.tell()
    out.seek(start - 2)
    out.write(struct.pack("!H", end - start))
    out.seek(end)
