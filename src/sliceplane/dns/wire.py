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

import io
import struct
from dataclasses import dataclass

import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
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
