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
from dataclasses import dataclass, replace
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


_QR, _AA, _TC, _RD, _CD = 0x8000, 0x0400, 0x0200, 0x0100, 0x0010
_DO = 0x8000
_T_A, _T_AAAA, _T_SRV, _T_TXT, _T_SOA = 1, 28, 33, 16, 6
_T_NAME = frozenset({5, 12, 2})  # CNAME, PTR, NS: rdata is one compressible name
_RR = struct.Struct("!HHIH")
_POINTER = struct.Struct("!H")
_SRV = struct.Struct("!HHH")
_SOA_TAIL = struct.Struct("!IIIII")


@functools.lru_cache(maxsize=4096)
def _name_labels(name: str) -> tuple[bytes, ...]:
    if "\\" in name:
        raise _Unencodable
    return tuple(x.encode("ascii") for x in name.split(".") if x)


@functools.lru_cache(maxsize=4096)
def _suffixes(labels: tuple[bytes, ...]) -> tuple[bytes, ...]:
    """The compression keys of a name's suffixes, longest first (lower case: names compare
    case-insensitively, as dnspython's and miekg/dns's compression do)."""
    return tuple(b".".join(labels[i:]).lower() for i in range(len(labels)))


class _Writer:
    __slots__ = ("added", "buf", "comp")

    def __init__(self) -> None:
        self.buf = bytearray()
        self.comp: dict[bytes, int] = {}
        self.added: list[bytes] = []
        """Compression keys in the order they were added (to undo a truncated record's)."""

    def labels(self, labels: tuple[bytes, ...], compress: bool = True) -> None:
        buf = self.buf
        if not compress:
            for label in labels:
                buf.append(len(label))
                buf += label
            buf.append(0)
            return
        comp = self.comp
        for label, key in zip(labels, _suffixes(labels), strict=True):
            at = comp.get(key)
            if at is not None:
                buf += _POINTER.pack(0xC000 | at)
                return
            if len(buf) <= 0x3FFF:
                comp[key] = len(buf)
                self.added.append(key)
            buf.append(len(label))
            buf += label
        buf.append(0)

    def text(self, name: str) -> None:
        self.labels(_name_labels(name))

    def question(self, data: bytes) -> None:
        """The question's name as the request spells it (what :meth:`text` would write for
        a plain name), its suffixes registered for compression. Not through the caches:
        query names are as many as clients make up, in every letter case."""
        labels = []
        pos = 12
        n = data[pos]
        while n:
            labels.append(data[pos + 1 : pos + 1 + n])
            pos += 1 + n
            n = data[pos]
        full = b".".join(labels).lower()
        at, off = len(self.buf), 0
        for label in labels:
            key = full[off:]
            self.comp[key] = at
            self.added.append(key)
            off += len(label) + 1
            at += len(label) + 1
        self.buf += data[12 : pos + 1]

    def undo(self, size: int, added: int) -> None:
        """Back to ``size`` bytes and the first ``added`` compression keys."""
        del self.buf[size:]
        for key in self.added[added:]:
            del self.comp[key]
        del self.added[added:]

    def rdata(self, rd: dns.rdata.Rdata) -> None:
        t = rd.rdtype
        if t == _T_A:
            self.buf += _inet(socket.AF_INET, rd.address)  # type: ignore[attr-defined]
        elif t == _T_AAAA:
            self.buf += _inet(socket.AF_INET6, rd.address)  # type: ignore[attr-defined]
        elif t in _T_NAME:
            self.labels(_plain(rd.target.labels))  # type: ignore[attr-defined]
        elif t == _T_SRV:
            srv: Any = rd
            self.buf += _SRV.pack(srv.priority, srv.weight, srv.port)
            self.labels(_plain(srv.target.labels), compress=False)
        elif t == _T_TXT:
            for chunk in rd.strings:  # type: ignore[attr-defined]
                self.buf.append(len(chunk))
                self.buf += chunk
        elif t == _T_SOA:
            soa: Any = rd
            self.labels(_plain(soa.mname.labels))
            self.labels(_plain(soa.rname.labels))
            self.buf += _SOA_TAIL.pack(soa.serial, soa.refresh, soa.retry, soa.expire, soa.minimum)
        else:
            raise _Unencodable


def _plain(labels: tuple[bytes, ...]) -> tuple[bytes, ...]:
    """A dnspython name's labels without the root label."""
    return labels[:-1] if labels and not labels[-1] else labels


_inet = socket.inet_pton  # in C, as fast as a cache lookup: no cache (its memory showed)


def _own_record(rd: dns.rdata.Rdata, rdtype: int, ttl: int) -> bytes:
    """A record owned by the question's name whose rdata has no compressible name:
    ``c00c``, type, class, TTL and rdata, without the compression table. (A cache of these
    by rdata object cost more memory than it saved time once answers are remembered.)"""
    w = _Writer()
    w.rdata(rd)
    return b"\xc0\x0c" + _RR.pack(rdtype, 1, ttl, len(w.buf)) + bytes(w.buf)


def _respond_simple(data: bytes, q: _Simple, zone: Zone, cfg: Config, tcp: bool) -> Outcome | None:
    edns = q.payload >= 0
    result = resolve(q.qname, q.qtype, zone, cfg)
    size = MAX_TCP if tcp else max(MIN_UDP, q.payload if edns else MIN_UDP)
    limit = size - (_OPT_LEN if edns else 0)
    ident, rflags = struct.unpack_from("!HH", data)
    opcode = (rflags >> 11) & 0xF
    flags = _QR | (opcode << 11)
    if opcode == 0:  # QUERY
        flags |= rflags & (_RD | _CD)
    if result.authoritative:
        flags |= _AA
    flags |= result.rcode & 0xF
    w = _Writer()
    buf = w.buf
    buf += b"\x00" * 12
    qname = q.qname
    try:
        w.question(data)
        buf += struct.pack("!HH", q.qtype, 1)
        counts = [0, 0, 0]
        truncated = False
        for i, section in enumerate((result.answer, result.authority, result.additional)):
            if truncated:
                break
            for rec in section:
                start, added = len(buf), len(w.added)
                rdtype = rec.rdtype
                if rec.name == qname and rdtype not in _T_NAME and rdtype != _T_SOA:
                    buf += _own_record(rec.rdata, rdtype, rec.ttl)
                else:
                    if rec.name == qname:
                        buf += b"\xc0\x0c"
                    else:
                        w.text(rec.name)
                    buf += _RR.pack(rdtype, 1, rec.ttl, 0)
                    rstart = len(buf)
                    w.rdata(rec.rdata)
                    _POINTER.pack_into(buf, rstart - 2, len(buf) - rstart)
                if len(buf) > limit:
                    w.undo(start, added)
                    truncated = True
                    break
                counts[i] += 1
    except _Unencodable:
        return None
    arcount = counts[2]
    if edns:
        buf += b"\x00" + _RR.pack(41, q.payload, q.ednsflags & _DO, 0)
        arcount += 1
    if truncated:
        flags |= _TC
    HEADER.pack_into(buf, 0, ident, flags, 1, counts[0], counts[1], arcount)
    return Outcome(bytes(buf), result.rcode, q.qtype, _zone_of(cfg, qname), truncated)


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


# -- one answer for every letter case of a name (the server's memo, sliceplane.dns.memo) --


@dataclass(frozen=True, slots=True)
class CaseTemplate:
    """How the answer to a plain query in lower case becomes the answer in any other case:
    the question name (bytes 12 to ``end``, its terminating zero) is the request's, and so
    are the copies of the question's zone suffix (``zone_start`` to ``end`` inclusive, the
    wire form) found at ``zone_offsets`` of the answer (CoreDNS spells the zone of SRV
    targets as the query did). Every other byte is the same whatever the case."""

    end: int
    zone_start: int
    zone_offsets: tuple[int, ...]


def case_template(
    data: bytes, zone: Zone, cfg: Config, *, tcp: bool, lower: Outcome | None = None
) -> tuple[Outcome, CaseTemplate] | None:
    """For a plain query (what :func:`_parse_simple` takes): the answer to it with its name
    in lower case and the template that turns that answer into the one for any letter case.
    None for any other request, or when the upper-case query's answer is not what the
    template makes of the lower-case one (the answer depends on the case some other way).

    ``lower`` is what :func:`respond` gave for ``data`` when its name is already in lower
    case (the server answers such a query first and makes the template afterwards): that
    answer is the lower-case one, so only the upper-case query is rendered."""
    if len(data) < 12:
        return None
    _, flags, qd, an, ns, ar = HEADER.unpack_from(data)
    opcode = (flags >> 11) & 0xF
    if flags & _QR or opcode not in (0, 4) or qd != 1 or an or ns or ar > 1:
        return None  # what respond() answers without the plain-query path
    q = _parse_simple(data)
    if q is None:
        return None
    end = data.find(0, 12)
    low = data[:12] + data[12:end].lower() + data[end:]
    up = data[:12] + data[12:end].upper() + data[end:]
    # respond() would take the plain-query path for both (same header, same shape)
    if lower is not None and low == data:
        lo: Outcome | None = lower
    else:
        lo = _respond_simple(low, replace(q, qname=q.qname.lower()), zone, cfg, tcp)
    if lo is None:
        return None
    hi = lo if up == low else _respond_simple(up, replace(q, qname=q.qname.upper()), zone, cfg, tcp)
    if hi is None or lo.response is None or hi.response is None:
        return None
    if len(lo.response) != len(hi.response):
        return None
    suffix = _zone_of(cfg, q.qname)
    zone_len = sum(len(x) + 1 for x in suffix.split(".") if x) + 1 if suffix else 0
    zone_start = end + 1 - zone_len
    offsets: list[int] = []
    if suffix and zone_len > 1:
        wire_low = low[zone_start : end + 1]
        wire_up = up[zone_start : end + 1]
        at = lo.response.find(wire_low, end + 5)
        while at >= 0:
            if hi.response[at : at + zone_len] == wire_up:
                offsets.append(at)
                at += zone_len
            else:
                at += 1
            at = lo.response.find(wire_low, at)
    t = CaseTemplate(end, zone_start, tuple(offsets))
    t = _templates.setdefault(t, t) if len(_templates) < _TEMPLATES_LIMIT else t
    if apply_case(without_question(lo.response, t), t, up) != hi.response:
        return None
    return lo, t


_templates: dict[CaseTemplate, CaseTemplate] = {}
_TEMPLATES_LIMIT = 4096
"""One copy of each template: a template depends only on the name's length, its zone and
where an answer repeats the zone, so the memo's tens of thousands of answers share a few
hundred."""


def without_question(response: bytes, t: CaseTemplate) -> bytes:
    """What :func:`apply_case` needs of the answer to the lower-case query: the response
    without its ID and without the question name, which :func:`apply_case` takes from the
    request (a remembered answer need not keep its own copy)."""
    return response[2:12] + response[t.end :]


def apply_case(body: bytes, t: CaseTemplate, data: bytes) -> bytes:
    """The answer for ``data`` from ``body``, the answer to the lower-case query as
    :func:`without_question` keeps it: ``data``'s ID, question name and zone spelling."""
    end = t.end
    out = bytearray(data[:2])
    out += body[:10]
    out += data[12:end]
    out += body[10:]
    if t.zone_offsets:
        zone = data[t.zone_start : end + 1]
        n = len(zone)
        for at in t.zone_offsets:
            out[at : at + n] = zone
    return bytes(out)
