"""The slice cache: upstream's ``endpointslicecache_test.go`` cases plus change tracking."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from sliceplane.proxy.model import ServiceName, ServicePortName
from sliceplane.proxy.slicecache import EndpointSliceCache, merge_slices  # noqa: F401

Obj = dict[str, Any]
SVC1 = ServiceName("ns1", "svc1")


def gen_slice(
    service: str,
    namespace: str,
    slice_num: int,
    num_endpoints: int,
    unready_mod: int = 999,
    terminating_mod: int = 999,
    hosts: tuple[str, ...] = (),
    ports: tuple[int | None, ...] = (80,),
    offset: int | None = None,
) -> Obj:
    """upstream's generateEndpointSliceWithOffset."""
    off = slice_num if offset is None else offset
    eps = []
    for i in range(1, num_endpoints + 1):
        ready_cond = i % unready_mod != 0
        term = i % terminating_mod == 0
        e: Obj = {
            "addresses": [f"10.0.{off}.{i}"],
            "conditions": {
                "ready": ready_cond and not term,
                "serving": ready_cond,
                "terminating": term,
            },
        }
        if hosts:
            e["nodeName"] = hosts[i % len(hosts)]
        eps.append(e)
    return {
        "metadata": {
            "name": f"{service}-{slice_num}",
            "namespace": namespace,
            "labels": {"kubernetes.io/service-name": service},
        },
        "addressType": "IPv4",
        "ports": [{"name": f"port-{i}", "port": p, "protocol": "TCP"} for i, p in enumerate(ports)],
        "endpoints": eps,
    }


def spn(port: str, svc: ServiceName = SVC1) -> ServicePortName:
    return ServicePortName(svc, port, "TCP")


def flat(cache: EndpointSliceCache, svc: ServiceName = SVC1) -> dict[str, list[tuple[Any, ...]]]:
    return {
        str(k): [(e.key, e.is_local, e.ready, e.serving, e.terminating) for e in v]
        for k, v in sorted(cache.endpoints(svc).items())
    }


T, F = True, False


def rows(prefix: str, port: int, idx: list[int], local: set[int] | None = None, **over: Any):
    out = []
    for i in idx:
        flags = over.get(str(i), (T, T, F))
        out.append((f"{prefix}.{i}:{port}", i in (local or set()), *flags))
    return sorted(out)


CASES = [
    pytest.param(
        "host1",
        [gen_slice("svc1", "ns1", 1, 3, hosts=("host1", "host2"), ports=(80, 443))],
        {
            "ns1/svc1:port-0": rows("10.0.1", 80, [1, 2, 3], {2}),
            "ns1/svc1:port-1": rows("10.0.1", 443, [1, 2, 3], {2}),
        },
        id="1 slice, 2 hosts, ports 80,443",
    ),
    pytest.param(
        "",
        [gen_slice("svc1", "ns1", 1, 3), gen_slice("svc1", "ns1", 2, 3)],
        {"ns1/svc1:port-0": rows("10.0.1", 80, [1, 2, 3]) + rows("10.0.2", 80, [1, 2, 3])},
        id="2 slices, same port",
    ),
    pytest.param(
        "",
        [gen_slice("svc1", "ns1", 1, 3), gen_slice("svc1", "ns1", 1, 4)],
        {"ns1/svc1:port-0": rows("10.0.1", 80, [1, 2, 3, 4])},
        id="same slice name twice: the later one replaces it",
    ),
    pytest.param(
        "",
        [gen_slice("svc1", "ns1", 1, 10, 3), gen_slice("svc1", "ns1", 1, 10, 6)],
        {"ns1/svc1:port-0": rows("10.0.1", 80, list(range(1, 11)), **{"6": (F, F, F)})},
        id="overlapping, some unready",
    ),
    pytest.param(
        "",
        [gen_slice("svc1", "ns1", 1, 10, 3, 5), gen_slice("svc1", "ns1", 1, 10, 6, 5)],
        {
            "ns1/svc1:port-0": rows(
                "10.0.1",
                80,
                list(range(1, 11)),
                **{"5": (F, T, T), "6": (F, F, F), "10": (F, T, T)},
            )
        },
        id="overlapping, some unready and some terminating",
    ),
    pytest.param(
        "",
        [gen_slice("svc1", "ns1", 1, 10, 1), gen_slice("svc1", "ns1", 1, 10, 1)],
        {
            "ns1/svc1:port-0": rows(
                "10.0.1", 80, list(range(1, 11)), **{str(i): (F, F, F) for i in range(1, 11)}
            )
        },
        id="overlapping, all unready",
    ),
    pytest.param(
        "",
        [
            gen_slice("svc1", "ns1", 1, 3),
            gen_slice("svc2", "ns1", 2, 3),
            gen_slice("svc1", "ns2", 3, 3),
        ],
        {"ns1/svc1:port-0": rows("10.0.1", 80, [1, 2, 3])},
        id="3 slices of different services and namespaces",
    ),
    pytest.param(
        "host1",
        [gen_slice("svc1", "ns1", 1, 3, hosts=("host1", "host2"), ports=(None,))],
        {},
        id="nil port ignored",
    ),
    pytest.param(
        "host1",
        [
            gen_slice("svc1", "ns1", 1, 2, hosts=("host1", "host2"), ports=(80,), offset=1),
            gen_slice("svc1", "ns1", 2, 2, hosts=("host1", "host2"), ports=(8080,), offset=1),
        ],
        {
            "ns1/svc1:port-0": sorted(
                rows("10.0.1", 80, [1, 2], {2}) + rows("10.0.1", 8080, [1, 2], {2})
            )
        },
        id="same IPs on different ports are different endpoints",
    ),
]


@pytest.mark.parametrize(("host", "slices", "expected"), CASES)
def test_endpoints_map(host: str, slices: list[Obj], expected: dict[str, Any]) -> None:
    cache = EndpointSliceCache(host, 4)
    before = copy.deepcopy(slices)
    for es in slices:
        cache.update(es)
    assert flat(cache) == expected
    assert slices == before  # the cache never mutates what informers hand it


def _es(name: str, eps: list[Obj], port: int = 80, address_type: str = "IPv4") -> Obj:
    return {
        "metadata": {
            "name": name,
            "namespace": "ns1",
            "labels": {"kubernetes.io/service-name": "svc1"},
        },
        "addressType": address_type,
        "ports": [{"name": "", "port": port, "protocol": "TCP"}],
        "endpoints": eps,
    }


def test_duplicate_prefers_non_terminating_copy() -> None:
    term = {"addresses": ["10.0.0.1"], "conditions": {"ready": False, "terminating": True}}
    live = {"addresses": ["10.0.0.1"], "conditions": {"ready": True}}
    for order in (["a", "b"], ["b", "a"]):
        cache = EndpointSliceCache("", 4)
        slices = {"a": _es("svc1-a", [term]), "b": _es("svc1-b", [live])}
        for name in order:
            cache.update(slices[name])
        (eps,) = cache.endpoints(SVC1).values()
        assert [(e.key, e.ready, e.terminating) for e in eps] == [("10.0.0.1:80", True, False)]


def test_addresses0_canonical_nil_conditions_and_sort() -> None:
    cache = EndpointSliceCache("node-a", 4)
    cache.update(
        _es(
            "svc1-x",
            [
                {"addresses": ["10.0.0.2", "10.9.9.9"], "nodeName": "node-a"},
                {"addresses": ["10.0.0.010"]},
                {"addresses": []},
            ],
        )
    )
    (eps,) = cache.endpoints(SVC1).values()
    assert [e.key for e in eps] == ["10.0.0.10:80", "10.0.0.2:80"]  # string order
    assert all(e.ready and e.serving and not e.terminating for e in eps)
    assert [e.is_local for e in eps] == [False, True]


def test_other_family_and_unlabelled_slices_ignored() -> None:
    cache = EndpointSliceCache("", 4)
    assert not cache.update(_es("svc1-v6", [{"addresses": ["fd00::1"]}], address_type="IPv6"))
    unlabelled = _es("svc1-n", [{"addresses": ["10.0.0.1"]}])
    unlabelled["metadata"]["labels"] = {}
    assert not cache.update(unlabelled)
    assert cache.endpoints(SVC1) == {}
    v6 = EndpointSliceCache("", 6)
    assert v6.update(_es("svc1-v6", [{"addresses": ["fd00:0::1"]}], address_type="IPv6"))
    (eps,) = v6.endpoints(SVC1).values()
    assert [e.key for e in eps] == ["[fd00::1]:80"]


def test_hints_read() -> None:
    cache = EndpointSliceCache("", 4)
    cache.update(
        _es(
            "svc1-h",
            [
                {
                    "addresses": ["10.0.0.1"],
                    "hints": {"forZones": [{"name": "a"}], "forNodes": [{"name": "n1"}]},
                },
                {"addresses": ["10.0.0.2"], "hints": {"forZones": []}},
            ],
        )
    )
    (eps,) = cache.endpoints(SVC1).values()
    assert eps[0].zone_hints == frozenset({"a"}) and eps[0].node_hints == frozenset({"n1"})
    assert eps[1].zone_hints is None and eps[1].node_hints is None


def test_change_tracking() -> None:
    cache = EndpointSliceCache("", 4)
    es = _es("svc1-a", [{"addresses": ["10.0.0.1"]}])
    es["metadata"]["annotations"] = {
        "endpoints.kubernetes.io/last-change-trigger-time": "2026-01-02T03:04:05Z"
    }
    assert cache.update(es)
    changed, times = cache.checkout()
    assert changed == {SVC1} and [t.isoformat() for t in times[SVC1]] == [
        "2026-01-02T03:04:05+00:00"
    ]
    same = copy.deepcopy(es)
    same["metadata"]["labels"]["unrelated"] = "x"
    assert not cache.update(same)  # nothing routing-relevant changed
    assert cache.checkout() == (set(), {})
    assert not cache.delete(_es("svc1-unknown", []))
    assert cache.delete(es)
    assert cache.checkout()[0] == {SVC1}
    assert cache.endpoints(SVC1) == {} and cache.services() == []


def test_moving_endpoint_between_slices_keeps_it() -> None:
    cache = EndpointSliceCache("", 4)
    ep = {"addresses": ["10.0.0.1"]}
    cache.update(_es("svc1-a", [ep]))
    cache.update(_es("svc1-b", [ep]))
    cache.update(_es("svc1-a", []))
    (eps,) = cache.endpoints(SVC1).values()
    assert [e.key for e in eps] == ["10.0.0.1:80"]
