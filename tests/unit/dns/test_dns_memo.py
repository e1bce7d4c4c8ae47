"""The answer memo gives exactly what ``respond`` gives, for every letter case of a name.

Every query of a corpus (each record type the resolver answers, positive and negative,
SRV with its zone spelled in the targets, reverse names, EDNS, TCP and truncated UDP) is
asked in many random letter cases through a :class:`Memo`, and each remembered answer must
be byte for byte what :func:`respond` computes for that very request.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import dns.message
import pytest

from sliceplane.dns.memo import Memo, folded_key, patched
from sliceplane.dns.resolver import Config
from sliceplane.dns.wire import case_template, respond
from sliceplane.dns.zone import Zone, zone_from_objects

CFG = Config(pods="insecure")


def zone() -> Zone:
    services: list[dict[str, Any]] = [
        {
            "metadata": {"namespace": "default", "name": "web"},
            "spec": {
                "clusterIP": "10.96.0.10",
                "ports": [{"name": "http", "protocol": "TCP", "port": 80}],
            },
        },
        {
            "metadata": {"namespace": "default", "name": "db"},
            "spec": {
                "clusterIP": "None",
                "ports": [{"name": "pg", "protocol": "TCP", "port": 5432}],
            },
        },
        {
            "metadata": {"namespace": "default", "name": "ext"},
            "spec": {"type": "ExternalName", "externalName": "Example.COM"},
        },
        {
            "metadata": {"namespace": "default", "name": "alias"},
            "spec": {"type": "ExternalName", "externalName": "web.default.svc.cluster.local"},
        },
    ]
    slices: list[dict[str, Any]] = [
        {
            "metadata": {
                "namespace": "default",
                "name": "db-a",
                "labels": {"kubernetes.io/service-name": "db"},
            },
            "addressType": "IPv4",
            "ports": [{"name": "pg", "protocol": "TCP", "port": 5432}],
            "endpoints": [
                {"addresses": [f"10.1.0.{i}"], "conditions": {"ready": True}, "hostname": h}
                for i, h in ((1, "db-0"), (2, ""), *((k, "") for k in range(3, 80)))
            ],
        }
    ]
    return zone_from_objects(services=services, slices=slices, namespaces=["default"], serial=7)


CORPUS = [
    ("web.default.svc.cluster.local.", "A", {}),
    ("web.default.svc.cluster.local.", "AAAA", {}),
    ("web.default.svc.cluster.local.", "SRV", {}),
    ("_http._tcp.web.default.svc.cluster.local.", "SRV", {}),
    ("_http._tcp.web.default.svc.cluster.local.", "SRV", {"use_edns": 0, "payload": 1232}),
    ("db.default.svc.cluster.local.", "A", {}),
    ("db.default.svc.cluster.local.", "A", {"use_edns": 0, "payload": 4096}),
    ("db.default.svc.cluster.local.", "SRV", {}),
    ("db-0.db.default.svc.cluster.local.", "A", {}),
    ("ext.default.svc.cluster.local.", "A", {}),
    ("ext.default.svc.cluster.local.", "CNAME", {}),
    ("alias.default.svc.cluster.local.", "A", {}),
    ("missing.default.svc.cluster.local.", "A", {}),
    ("missing.nowhere.svc.cluster.local.", "A", {}),
    ("default.svc.cluster.local.", "A", {}),
    ("cluster.local.", "SOA", {}),
    ("cluster.local.", "NS", {}),
    ("dns-version.cluster.local.", "TXT", {}),
    ("10-1-2-3.default.pod.cluster.local.", "A", {}),
    ("10.0.96.10.in-addr.arpa.", "PTR", {}),
    ("1.0.1.10.in-addr.arpa.", "PTR", {}),
    ("example.com.", "A", {}),
    ("web.default.svc.cluster.local.", "MX", {}),
]


def cased(name: str, rng: random.Random) -> str:
    return "".join(c.upper() if rng.random() < 0.5 else c.lower() for c in name)


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_every_letter_case_gets_what_respond_gives(tcp: bool) -> None:
    rng = random.Random(20)
    z = zone()
    memo = Memo()
    memo.for_zone(z)
    for name, qtype, kw in CORPUS:
        for i in range(12):
            spelled = name.lower() if i == 0 else name.upper() if i == 1 else cased(name, rng)
            q = dns.message.make_query(spelled, qtype, **kw)
            q.id = rng.randrange(65536)
            data = q.to_wire()
            want = respond(data, z, CFG, tcp=tcp).response
            entry = memo.get(data)
            if entry is None:
                folded = case_template(data, z, CFG, tcp=tcp)
                if folded is not None:
                    out, case = folded
                    entry = memo.put(data, out, case)
                else:
                    entry = memo.put(data, respond(data, z, CFG, tcp=tcp), None)
            assert entry is not None
            assert patched(entry, data) == want, (spelled, qtype, kw)
    # one template per (name, type, EDNS) however many spellings were asked
    assert len(memo.entries) <= len(CORPUS) + 2
    assert memo.hits > memo.misses


def test_srv_targets_keep_the_zone_as_asked() -> None:
    z = zone()
    q = dns.message.make_query("_http._tcp.web.default.svc.CLUSTER.local.", "SRV")
    folded = case_template(q.to_wire(), z, CFG, tcp=False)
    assert folded is not None
    out, case = folded
    assert case.zone_offsets  # the target's zone is a copy of the question's
    answer = dns.message.from_wire(
        patched(Memo().put(q.to_wire(), out, case) or _no(), q.to_wire())
    )
    assert [rr.target.to_text() for rr in answer.answer[0]] == ["web.default.svc.CLUSTER.local."]


def _no() -> Any:
    raise AssertionError("not remembered")


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00\x01",
        b"\x00" * 11,
        bytes(12),  # no question
        b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03WwW",  # cut name, no end
        b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c\x00\x01\x00\x01",  # pointer
        b"\x12\x34\x81\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01a\x00\x00\x01\x00\x01",  # QR set
        b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x02a.\x00\x00\x01\x00\x01",  # dot
        b"\x12\x34\x11\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01a\x00\x00\x01\x00\x01",  # STATUS
        # two additional records
        b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x02\x01a\x00\x00\x01\x00\x01",
    ],
)
def test_requests_without_a_template_are_remembered_exactly(data: bytes) -> None:
    z = zone()
    assert case_template(data, z, CFG, tcp=False) is None
    memo = Memo()
    memo.for_zone(z)
    out = respond(data, z, CFG, tcp=False)
    entry = memo.put(data, out, None)
    if out.response is None or len(data) < 12:
        assert entry is None
        return
    assert entry is not None and patched(entry, data) == out.response
    # a case variant of the same bytes must not take the exact entry
    other = data[:12] + data[12:].swapcase()
    if other[2:] != data[2:]:
        assert memo.get(other) is None


def test_a_new_snapshot_forgets_everything() -> None:
    z = zone()
    memo = Memo()
    memo.for_zone(z)
    data = dns.message.make_query("web.default.svc.cluster.local.", "A").to_wire()
    folded = case_template(data, z, CFG, tcp=False)
    assert folded is not None
    memo.put(data, *folded)
    assert memo.get(data) is not None
    memo.for_zone(zone())
    assert memo.get(data) is None


def test_the_limit_bounds_the_entries() -> None:
    z = zone()
    memo = Memo(limit=3)
    memo.for_zone(z)
    for i in range(10):
        data = dns.message.make_query(f"s{i}.default.svc.cluster.local.", "A").to_wire()
        memo.put(data, respond(data, z, CFG, tcp=False), None)
        assert len(memo.entries) <= 3


def test_folded_key_keeps_header_and_type_exact() -> None:
    a = dns.message.make_query("Web.cluster.local.", "A")
    a.id = 1
    key = folded_key(a.to_wire())
    assert key is not None and b"web" in key and key[:10] == a.to_wire()[2:12]
    assert key.endswith(a.to_wire()[-4:])


async def test_the_server_answers_from_its_memo_what_respond_gives() -> None:
    """Through DNSServer.answer (the memo as the server uses it), lower-case and then
    random-case spellings: every answer is respond()'s for that very request."""
    from sliceplane.dns.server import DNSServer

    z = zone()
    server = DNSServer(CFG, lambda: z)
    rng = random.Random(7)
    for name, qtype, kw in CORPUS:
        for i in range(8):
            spelled = name.lower() if i < 2 else cased(name, rng)
            q = dns.message.make_query(spelled, qtype, **kw)
            q.id = rng.randrange(65536)
            data = q.to_wire()
            assert server.answer(data, tcp=False) == respond(data, z, CFG, tcp=False).response
    memo = server.memos[False]
    assert memo.hits > 0 and len(memo.entries) <= len(CORPUS) + 2


async def test_a_lower_case_name_is_answered_first_and_its_template_made_after() -> None:
    """A miss in lower case is answered with one render and remembered for its exact bytes;
    the case template follows once the loop turns, after which every spelling is answered
    from it (with the metric children of the first answer), byte for byte respond()'s."""
    from sliceplane.dns.server import DNSServer, Metrics

    z = zone()
    server = DNSServer(CFG, lambda: z, Metrics())
    memo = server.memos[False]
    rng = random.Random(11)

    def ask(spelled: str, qtype: str, kw: dict[str, Any]) -> None:
        q = dns.message.make_query(spelled, qtype, **kw)
        q.id = rng.randrange(65536)
        data = q.to_wire()
        assert server.answer(data, tcp=False) == respond(data, z, CFG, tcp=False).response

    for name, qtype, kw in CORPUS:
        ask(name.lower(), qtype, kw)
    assert server._later and all(e.case is None for e in memo.entries.values())
    tags = {k: e.tag for k, e in memo.entries.items()}
    for name, qtype, kw in CORPUS:  # before the templates: exact bytes, or a miss
        ask(name.lower(), qtype, kw)
    for _ in range(1000):  # a slice of the deferred work per turn of the loop
        if not server._later:
            break
        await asyncio.sleep(0)
    assert not server._later
    templated = [e for e in memo.entries.values() if e.case is not None]
    assert len(templated) >= len(CORPUS) - 3  # the general path's few keep exact bytes
    assert all(memo.entries[k].tag is t and t is not None for k, t in tags.items())
    misses = memo.misses
    for name, qtype, kw in CORPUS:
        for _ in range(6):
            ask(cased(name, rng), qtype, kw)
    assert memo.misses - misses <= 6 * 3
