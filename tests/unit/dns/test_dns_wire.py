"""Framing, EDNS0, truncation and bad packets (``respond`` is pure: bytes in, bytes out)."""

from __future__ import annotations

import random
import struct
from typing import Any

import dns.edns
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import pytest

from sliceplane.dns.resolver import Config
from sliceplane.dns.wire import respond
from sliceplane.dns.zone import Zone, zone_from_objects

CFG = Config()


def big_zone(n: int = 200) -> Zone:
    svc = {
        "metadata": {"namespace": "default", "name": "big"},
        "spec": {
            "clusterIP": "None",
            "clusterIPs": ["None"],
            "ports": [{"name": "http", "protocol": "TCP", "port": 80}],
        },
    }
    sl: dict[str, Any] = {
        "metadata": {
            "namespace": "default",
            "name": "big-a",
            "labels": {"kubernetes.io/service-name": "big"},
        },
        "addressType": "IPv4",
        "ports": [{"name": "http", "protocol": "TCP", "port": 80}],
        "endpoints": [
            {"addresses": [f"10.9.{i // 250}.{i % 250 + 1}"], "conditions": {"ready": True}}
            for i in range(n)
        ],
    }
    return zone_from_objects(services=[svc], slices=[sl], namespaces=["default"], serial=3)


def query(name: str, qtype: str = "A", **kw: Any) -> dns.message.Message:
    q = dns.message.make_query(name, qtype, **kw)
    q.id = 4242
    return q


def ask(q: dns.message.Message | bytes, z: Zone, *, tcp: bool = False) -> dns.message.Message:
    data = q if isinstance(q, bytes) else q.to_wire()
    out = respond(data, z, CFG, tcp=tcp)
    assert out.response is not None
    return dns.message.from_wire(out.response)


NAME = "big.default.svc.cluster.local."


def test_udp_without_edns_truncates_at_512_and_tcp_has_everything() -> None:
    z = big_zone()
    r = ask(query(NAME), z)
    assert r.flags & dns.flags.TC
    assert 0 < len(r.answer[0]) < 200
    assert len(respond(query(NAME).to_wire(), z, CFG, tcp=False).response or b"") <= 512
    full = ask(query(NAME), z, tcp=True)
    assert not full.flags & dns.flags.TC
    assert len(full.answer[0]) == 200


def test_edns_buffer_size_is_honoured_and_echoed() -> None:
    z = big_zone()
    q = query(NAME, use_edns=0, payload=4096)
    wire = respond(q.to_wire(), z, CFG, tcp=False).response or b""
    r = dns.message.from_wire(wire)
    assert not r.flags & dns.flags.TC
    assert len(r.answer[0]) == 200
    assert 512 < len(wire) <= 4096
    assert r.edns == 0 and r.payload == 4096
    small = ask(query(NAME, use_edns=0, payload=1232), z)
    assert small.flags & dns.flags.TC and small.edns == 0
    assert 0 < len(small.answer[0]) < 200


def test_edns_below_512_counts_as_512() -> None:
    z = big_zone(10)
    r = ask(query(NAME, use_edns=0, payload=100), z)
    assert not r.flags & dns.flags.TC and len(r.answer[0]) == 10


def test_edns_do_bit_copied_options_dropped() -> None:
    z = big_zone(1)
    q = query(
        NAME, use_edns=0, ednsflags=dns.flags.DO, options=[dns.edns.GenericOption(65001, b"x")]
    )
    r = ask(q, z)
    assert r.ednsflags & dns.flags.DO
    assert r.options == ()


def test_no_edns_in_request_no_opt_in_response() -> None:
    r = ask(query(NAME), big_zone(1))
    assert r.edns == -1


def test_bad_edns_version_badvers() -> None:
    r = ask(query(NAME, use_edns=1), big_zone(1))
    assert r.rcode() == dns.rcode.BADVERS
    assert not r.answer


def test_header_bits() -> None:
    r = ask(query(NAME), big_zone(1))
    assert r.id == 4242
    assert r.flags & dns.flags.QR and r.flags & dns.flags.AA and r.flags & dns.flags.RD
    assert not r.flags & dns.flags.RA
    refused = ask(query("example.com."), big_zone(1))
    assert refused.rcode() == dns.rcode.REFUSED and not refused.flags & dns.flags.AA


def test_class_other_than_in_refused() -> None:
    r = ask(query(NAME, rdclass="CH"), big_zone(1))
    assert r.rcode() == dns.rcode.REFUSED


@pytest.mark.parametrize(
    ("data", "expect"),
    [
        pytest.param(b"", None, id="empty-dropped"),
        pytest.param(b"\x12\x34\x01", None, id="short-dropped"),
        pytest.param(struct.pack("!HHHHHH", 1, 0x8000, 1, 0, 0, 0), None, id="response-dropped"),
        pytest.param(
            struct.pack("!HHHHHH", 1, 0x2800, 1, 0, 0, 0), dns.rcode.NOTIMP, id="update-notimp"
        ),
        pytest.param(
            struct.pack("!HHHHHH", 1, 0x0100, 0, 0, 0, 0), dns.rcode.FORMERR, id="no-question"
        ),
        pytest.param(
            struct.pack("!HHHHHH", 1, 0x0100, 2, 0, 0, 0), dns.rcode.FORMERR, id="two-questions"
        ),
        pytest.param(
            struct.pack("!HHHHHH", 1, 0x0100, 1, 0, 0, 0) + b"\x05ab",
            dns.rcode.FORMERR,
            id="cut-name",
        ),
        pytest.param(
            struct.pack("!HHHHHH", 1, 0x0100, 1, 0, 0, 0) + b"\xc0\x0c\x00\x01\x00\x01",
            dns.rcode.FORMERR,
            id="pointer-loop",
        ),
    ],
)
def test_bad_packets(data: bytes, expect: int | None) -> None:
    out = respond(data, big_zone(1), CFG, tcp=False)
    if expect is None:
        assert out.response is None
        return
    assert out.response is not None and len(out.response) == 12
    ident, flags, qd, an, ns, ar = struct.unpack("!HHHHHH", out.response)
    assert (
        ident == 1 and flags & 0x8000 and flags & 0xF == expect and (qd, an, ns, ar) == (0, 0, 0, 0)
    )


def test_random_and_mutated_packets_never_raise() -> None:
    rng = random.Random(14)
    z = big_zone(20)
    seeds = [
        query(NAME).to_wire(),
        query(NAME, "SRV", use_edns=0).to_wire(),
        query("x.cluster.local.").to_wire(),
    ]
    for i in range(3000):
        if i % 3 == 0:
            data = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 80)))
        else:
            b = bytearray(rng.choice(seeds))
            for _ in range(rng.randrange(1, 6)):
                b[rng.randrange(len(b))] = rng.randrange(256)
            if rng.random() < 0.3:
                b = b[: rng.randrange(len(b))]
            data = bytes(b)
        out = respond(data, z, CFG, tcp=bool(i % 2))
        if out.response is not None:
            dns.message.from_wire(out.response)  # whatever we send parses
    assert ask(query(NAME), z).rcode() == dns.rcode.NOERROR


@pytest.mark.parametrize(
    ("name", "qtype", "kw", "tcp"),
    [
        pytest.param(NAME, "A", {}, False, id="a-truncated-512"),
        pytest.param(NAME, "A", {"use_edns": 0, "payload": 1232}, False, id="a-edns-1232"),
        pytest.param(NAME, "A", {}, True, id="a-tcp"),
        pytest.param(NAME, "SRV", {}, False, id="srv-truncated"),
        pytest.param(
            NAME, "SRV", {"use_edns": 0, "payload": 4096, "ednsflags": 0x8000}, False, id="srv-do"
        ),
        pytest.param("nope.default.svc.cluster.local.", "A", {}, False, id="nxdomain-soa"),
        pytest.param("Big.Default.SVC.cluster.local.", "A", {}, True, id="mixed-case"),
        pytest.param("10-9-0-1.big.default.svc.cluster.local.", "A", {}, False, id="endpoint"),
        pytest.param("1.0.9.10.in-addr.arpa.", "PTR", {}, False, id="ptr"),
        pytest.param("dns-version.cluster.local.", "TXT", {}, False, id="txt"),
        pytest.param("cluster.local.", "SOA", {}, False, id="soa"),
        pytest.param("example.com.", "A", {}, False, id="refused"),
        pytest.param(".", "NS", {}, False, id="root"),
    ],
)
def test_simple_path_same_bytes_as_general_path(
    name: str, qtype: str, kw: dict[str, Any], tcp: bool
) -> None:
    """The dnspython-free path for plain queries writes exactly what the general one does."""
    from sliceplane.dns import wire

    z = big_zone()
    data = query(name, qtype, **kw).to_wire()
    simple = wire._parse_simple(data)
    assert simple is not None
    fast = wire._respond_simple(data, simple, z, CFG, tcp)
    assert fast is not None
    general = wire._respond_general(data, z, CFG, tcp)
    assert fast == general
