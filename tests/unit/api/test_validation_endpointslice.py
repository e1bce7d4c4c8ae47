"""EndpointSlice validation against upstream's TestValidateEndpointSlice* tables (spec §6.10)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from sliceplane.api.field import ErrorType
from sliceplane.api.validation import validate_create, validate_update
from sliceplane.api.validation.endpointslice import (
    MAX_ADDRESSES,
    MAX_ENDPOINTS,
    MAX_PORTS,
    MAX_TOPOLOGY_LABELS,
    validate_endpointslice,
)

STANDARD_META = {"name": "hello", "namespace": "world"}


def ips(n: int) -> list[str]:
    return [f"10.1.2.{i % 255}" for i in range(n)]


def ports(n: int) -> list[dict[str, Any]]:
    return [{"name": f"http-{i}", "protocol": "TCP"} for i in range(n)]


def endpoints(n: int) -> list[dict[str, Any]]:
    return [{"addresses": [f"10.1.2.{i % 255}"]} for i in range(n)]


def topology(n: int) -> dict[str, str]:
    return {f"topology-{i}": "example" for i in range(n)}


HTTP = [{"name": "http", "protocol": "TCP"}]


def es(
    addr_type: str = "IPv4",
    port_list: list[dict[str, Any]] | None = None,
    ep_list: list[dict[str, Any]] | None = None,
    meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "metadata": dict(meta or STANDARD_META),
        "addressType": addr_type,
        "ports": HTTP if port_list is None else port_list,
        "endpoints": [] if ep_list is None else ep_list,
    }


def ep(*addresses: str, **extra: Any) -> dict[str, Any]:
    return {"addresses": list(addresses), **extra}


VALIDATE_CASES = [
    # --- valid ---
    pytest.param(es(ep_list=[ep("10.1.2.0", hostname="valid-123")]), 0, id="good-slice"),
    pytest.param(es("IPv6", ep_list=[ep("a00:100::4", hostname="valid-123")]), 0, id="good-ipv6"),
    pytest.param(
        es(
            "FQDN",
            ep_list=[
                ep(
                    "foo.example.com",
                    "example.com",
                    "example.com.",
                    "hyphens-are-good.example.com",
                    hostname="valid-123",
                )
            ],
        ),
        0,
        id="good-fqdns",
    ),
    pytest.param(
        es(
            port_list=[
                {"name": "tcp", "protocol": "TCP"},
                {"name": "udp", "protocol": "UDP"},
                {"name": "sctp", "protocol": "SCTP"},
            ],
            ep_list=[ep("10.1.2.0", hostname="valid-123")],
        ),
        0,
        id="all-protocols",
    ),
    pytest.param(
        es(
            port_list=[
                {"name": "one", "protocol": "TCP", "appProtocol": "HTTP"},
                {"name": "two", "protocol": "TCP", "appProtocol": "https"},
                {"name": "three", "protocol": "TCP", "appProtocol": "my-protocol"},
                {"name": "four", "protocol": "TCP", "appProtocol": "example.com/custom-protocol"},
            ],
            ep_list=[ep("10.1.2.0", hostname="valid-123")],
        ),
        0,
        id="app-protocols",
    ),
    pytest.param(
        es(
            port_list=[{"name": "", "protocol": "TCP"}, {"name": "http", "protocol": "TCP"}],
            ep_list=[ep("10.1.2.0")],
        ),
        0,
        id="empty-port-name",
    ),
    pytest.param(
        es(port_list=[{"name": "a" * 63, "protocol": "TCP"}], ep_list=[ep("10.1.2.0")]),
        0,
        id="long-port-name",
    ),
    pytest.param(es(port_list=[], ep_list=[]), 0, id="empty-ports-and-endpoints"),
    pytest.param(es(port_list=ports(1), ep_list=endpoints(MAX_ENDPOINTS)), 0, id="max-endpoints"),
    pytest.param(es(port_list=ports(MAX_PORTS)), 0, id="max-ports"),
    pytest.param(es(ep_list=[ep(*ips(MAX_ADDRESSES))]), 0, id="max-addresses"),
    pytest.param(
        es(ep_list=[ep("10.1.2.0", deprecatedTopology=topology(MAX_TOPOLOGY_LABELS))]),
        0,
        id="max-topology-keys",
    ),
    pytest.param(
        es(ep_list=[ep("10.1.2.0", hints={"forZones": [{"name": "zone-a"}]})]),
        0,
        id="valid-hints",
    ),
    # --- invalid ---
    pytest.param(
        es(port_list=[{"name": "", "protocol": "TCP"}, {"name": "", "protocol": "TCP"}]),
        1,
        id="duplicate-port-name",
    ),
    pytest.param(
        es(port_list=[{"name": "aCapital", "protocol": "TCP"}]), 1, id="bad-port-name-caps"
    ),
    pytest.param(
        es(port_list=[{"name": "almost_valid", "protocol": "TCP"}]), 1, id="bad-port-name-chars"
    ),
    pytest.param(
        es(port_list=[{"name": "a" * 64, "protocol": "TCP"}]), 1, id="bad-port-name-length"
    ),
    pytest.param(
        es(port_list=[{"name": "http", "protocol": "foo"}]), 1, id="invalid-port-protocol"
    ),
    pytest.param(es(port_list=ports(MAX_PORTS + 1)), 1, id="too-many-ports"),
    pytest.param(
        es(port_list=ports(1), ep_list=endpoints(MAX_ENDPOINTS + 1)), 1, id="too-many-endpoints"
    ),
    pytest.param(es(ep_list=[ep()]), 1, id="no-endpoint-addresses"),
    pytest.param(es(ep_list=[ep(*ips(MAX_ADDRESSES + 1))]), 1, id="too-many-addresses"),
    pytest.param(
        es(ep_list=[ep("10.1.2.0", deprecatedTopology={"--INVALID": "example"})]),
        1,
        id="bad-topology-key",
    ),
    pytest.param(
        es(ep_list=[ep("10.1.2.0", deprecatedTopology=topology(MAX_TOPOLOGY_LABELS + 1))]),
        1,
        id="too-many-topology-keys",
    ),
    pytest.param(es(ep_list=[ep("10.1.2.0", hostname="--INVALID")]), 1, id="bad-hostname"),
    pytest.param(
        es(
            meta={"name": "*&^", "namespace": "foo"},
            ep_list=[ep("10.1.2.0", hostname="valid-123")],
        ),
        1,
        id="bad-meta",
    ),
    pytest.param(es(ep_list=[ep("123.456.789.012", hostname="valid-123")]), 1, id="bad-ip"),
    pytest.param(
        es(ep_list=[ep("123.456.789.012", "2001:4860:4860::8888", hostname="valid-123")]),
        2,
        id="bad-ipv4",
    ),
    pytest.param(
        es("IPv6", ep_list=[ep("123.456.789.012", "2001:4860:4860:defg", hostname="valid-123")]),
        2,
        id="bad-ipv6",
    ),
    pytest.param(
        es(
            "FQDN",
            ep_list=[
                ep(
                    "foo.*",
                    "FOO.example.com",
                    "underscores_are_bad.example.com",
                    "*.example.com",
                    hostname="valid-123",
                )
            ],
        ),
        4,
        id="bad-fqdns",
    ),
    pytest.param(
        es(
            port_list=[{"name": "http", "protocol": "TCP", "appProtocol": "--"}],
            ep_list=[ep("10.1.2.0", hostname="valid-123")],
        ),
        1,
        id="bad-app-protocol",
    ),
    pytest.param(
        es(ep_list=[ep("10.1.2.0", hints={"forZones": [{"name": "inv@lid"}]})]),
        1,
        id="invalid-hints",
    ),
    pytest.param(
        es(
            ep_list=[
                ep(
                    "10.1.2.0",
                    hints={
                        "forZones": [{"name": "zone-a"}, {"name": "zone-b"}, {"name": "zone-a"}]
                    },
                )
            ]
        ),
        1,
        id="overlapping-hints",
    ),
    pytest.param(
        es(
            ep_list=[
                ep("10.1.2.0", hints={"forZones": [{"name": f"zone-{c}"} for c in "abcdefghi"]})
            ]
        ),
        1,
        id="too-many-hints",
    ),
    pytest.param({}, 3, id="empty-everything"),
    pytest.param(
        es(ep_list=[ep("10.1.2.0", deprecatedTopology={"topology.kubernetes.io/zone": "zone1"})]),
        1,
        id="zone-key-topology",
    ),
    pytest.param(es(ep_list=[ep("127.0.0.1", hostname="valid-123")]), 1, id="special-ipv4"),
    pytest.param(
        es("IPv6", ep_list=[ep("fe80::9656:d028:8652:66b6", hostname="valid-123")]),
        1,
        id="special-ipv6",
    ),
    # --- forNodes hints (newer upstream) ---
    pytest.param(
        es(ep_list=[ep("10.1.2.0", hints={"forNodes": [{"name": "node-1"}]})]),
        0,
        id="valid-node-hints",
    ),
    pytest.param(
        es(ep_list=[ep("10.1.2.0", hints={"forNodes": [{"name": f"node-{i}"} for i in range(9)]})]),
        1,
        id="too-many-node-hints",
    ),
    pytest.param(
        es(ep_list=[ep("10.1.2.0", hints={"forNodes": [{"name": "node-a"}, {"name": "node-a"}]})]),
        1,
        id="duplicate-node-hints",
    ),
    pytest.param(
        es(ep_list=[ep("10.1.2.0", hints={"forNodes": [{"name": "Node_A"}]})]),
        1,
        id="invalid-node-hint-name",
    ),
]


@pytest.mark.parametrize(("obj", "expected"), VALIDATE_CASES)
def test_validate_endpointslice_counts(obj: dict[str, Any], expected: int) -> None:
    errs = validate_endpointslice(obj)
    assert len(errs) == expected, [str(e) for e in errs]


CREATE_CASES = [
    pytest.param(es(ep_list=[ep("10.1.2.0", hostname="valid-123")]), 0, id="good-slice"),
    pytest.param(
        es(ep_list=[ep("10.1.2.0", hostname="valid-123", nodeName="valid-node-name")]),
        0,
        id="good-slice-node-name",
    ),
    pytest.param(
        es(ep_list=[ep("10.1.2.0", hostname="valid-123", nodeName="INvalid-node-name")]),
        1,
        id="bad-node-name",
    ),
    pytest.param(es("IP", ep_list=[ep("10.1.2.0")]), 1, id="deprecated-address-type"),
    pytest.param(es("other", ep_list=[ep("10.1.2.0")]), 1, id="bad-address-type"),
]


@pytest.mark.parametrize(("obj", "expected"), CREATE_CASES)
def test_validate_endpointslice_create_counts(obj: dict[str, Any], expected: int) -> None:
    errs = validate_create("endpointslices", obj)
    assert len(errs) == expected, [str(e) for e in errs]


UPDATE_META = {"name": "es1", "namespace": "test", "resourceVersion": "1"}

UPDATE_CASES = [
    pytest.param(
        {"metadata": UPDATE_META, "addressType": "IPv6"},
        {"metadata": UPDATE_META, "addressType": "IPv6"},
        0,
        id="valid and identical slices",
    ),
    pytest.param(
        {"metadata": UPDATE_META, "addressType": "IPv4", "endpoints": [ep("10.1.2.3")]},
        {
            "metadata": UPDATE_META,
            "addressType": "IPv4",
            "endpoints": [ep("10.1.2.3", nodeName="INVALID foo")],
        },
        1,
        id="invalid node name set",
    ),
    pytest.param(
        {"metadata": UPDATE_META, "addressType": "IP"},
        {"metadata": UPDATE_META, "addressType": "IP"},
        1,
        id="deprecated address type",
    ),
    pytest.param(
        {"metadata": UPDATE_META, "addressType": "other"},
        {"metadata": UPDATE_META, "addressType": "IPv4"},
        1,
        id="valid and identical slices with different address types",
    ),
    pytest.param(
        {"metadata": UPDATE_META, "addressType": "IPv4"},
        {
            "metadata": UPDATE_META,
            "addressType": "IPv4",
            "ports": [{"name": "", "protocol": "invalid"}],
        },
        1,
        id="invalid slices with valid address types",
    ),
]


@pytest.mark.parametrize(("old", "new", "expected"), UPDATE_CASES)
def test_validate_endpointslice_update_counts(
    old: dict[str, Any], new: dict[str, Any], expected: int
) -> None:
    errs = validate_update("endpointslices", new, old)
    assert len(errs) == expected, [str(e) for e in errs]


MESSAGE_CASES = [
    pytest.param(
        es(ep_list=[ep()]),
        ["endpoints[0].addresses: Required value: must contain at least 1 address"],
        id="no-addresses",
    ),
    pytest.param(
        {},
        [
            "metadata.name: Required value: name or generateName is required",
            "metadata.namespace: Required value",
            "addressType: Required value",
        ],
        id="empty-everything",
    ),
    pytest.param(
        es("other"),
        ['addressType: Unsupported value: "other": supported values: "FQDN", "IPv4", "IPv6"'],
        id="bad-address-type",
    ),
    pytest.param(
        es(port_list=[{"name": "http", "protocol": "foo"}]),
        ['ports[0].protocol: Unsupported value: "foo": supported values: "SCTP", "TCP", "UDP"'],
        id="bad-protocol",
    ),
    pytest.param(
        es(port_list=[{"name": "http"}]),
        ["ports[0].protocol: Required value"],
        id="missing-protocol",
    ),
    pytest.param(
        es(port_list=[{"name": "", "protocol": "TCP"}, {"name": "", "protocol": "TCP"}]),
        ['ports[1].name: Duplicate value: ""'],
        id="duplicate-port-name",
    ),
    pytest.param(
        es(port_list=ports(MAX_PORTS + 1)),
        ["ports: Too many: 20001: must have at most 20000 items"],
        id="too-many-ports",
    ),
    pytest.param(
        es(port_list=ports(1), ep_list=endpoints(MAX_ENDPOINTS + 1)),
        ["endpoints: Too many: 1001: must have at most 1000 items"],
        id="too-many-endpoints",
    ),
    pytest.param(
        es(ep_list=[ep(*ips(MAX_ADDRESSES + 1))]),
        ["endpoints[0].addresses: Too many: 101: must have at most 100 items"],
        id="too-many-addresses",
    ),
    pytest.param(
        es(ep_list=[ep("123.456.789.012")]),
        [
            'endpoints[0].addresses[0]: Invalid value: "123.456.789.012": '
            "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
        ],
        id="bad-ipv4",
    ),
    # kube-apiserver 1.37 (checked by tests/integration/differential): a valid address of
    # the other family is reported on the list, without the index.
    pytest.param(
        es("IPv6", ep_list=[ep("10.1.2.3")]),
        ['endpoints[0].addresses: Invalid value: "10.1.2.3": must be an IPv6 address'],
        id="ipv4-in-ipv6-slice",
    ),
    pytest.param(
        es(ep_list=[ep("2001:db8::1")]),
        ['endpoints[0].addresses: Invalid value: "2001:db8::1": must be an IPv4 address'],
        id="ipv6-in-ipv4-slice",
    ),
    pytest.param(
        es("IPv6", ep_list=[ep("fd00:0::1")]),
        [
            'endpoints[0].addresses[0]: Invalid value: "fd00:0::1": '
            'must be in canonical form ("fd00::1")'
        ],
        id="non-canonical-ipv6",
    ),
    pytest.param(
        es(ep_list=[ep("10.01.2.3")]),
        ['endpoints[0].addresses[0]: Invalid value: "10.01.2.3": must not have leading 0s'],
        id="leading-zero",
    ),
    pytest.param(
        es(ep_list=[ep("127.0.0.1")]),
        [
            'endpoints[0].addresses[0]: Invalid value: "127.0.0.1": '
            "may not be in the loopback range (127.0.0.0/8, ::1/128)"
        ],
        id="loopback-v4",
    ),
    pytest.param(
        es("IPv6", ep_list=[ep("::1")]),
        [
            'endpoints[0].addresses[0]: Invalid value: "::1": '
            "may not be in the loopback range (127.0.0.0/8, ::1/128)"
        ],
        id="loopback-v6",
    ),
    pytest.param(
        es(ep_list=[ep("0.0.0.0")]),
        ['endpoints[0].addresses[0]: Invalid value: "0.0.0.0": may not be unspecified (0.0.0.0)'],
        id="unspecified-v4",
    ),
    pytest.param(
        es("IPv6", ep_list=[ep("::")]),
        ['endpoints[0].addresses[0]: Invalid value: "::": may not be unspecified (::)'],
        id="unspecified-v6",
    ),
    pytest.param(
        es(ep_list=[ep("169.254.169.254")]),
        [
            'endpoints[0].addresses[0]: Invalid value: "169.254.169.254": '
            "may not be in the link-local range (169.254.0.0/16, fe80::/10)"
        ],
        id="link-local-v4",
    ),
    pytest.param(
        es(ep_list=[ep("224.0.0.251")]),
        [
            'endpoints[0].addresses[0]: Invalid value: "224.0.0.251": '
            "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)"
        ],
        id="link-local-multicast-v4",
    ),
    pytest.param(
        es("IPv6", ep_list=[ep("ff02::1")]),
        [
            'endpoints[0].addresses[0]: Invalid value: "ff02::1": '
            "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)"
        ],
        id="link-local-multicast-v6",
    ),
    pytest.param(es(ep_list=[ep("224.0.1.1")]), [], id="global-multicast-allowed"),
    pytest.param(
        es(ep_list=[ep("10.1.2.0", hints={"forZones": [{"name": "inv@lid"}]})]),
        [
            'endpoints[0].hints.forZones[0].name: Invalid value: "inv@lid": a valid label must '
            "be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
            "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or "
            "'12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
        ],
        id="bad-zone-hint",
    ),
    pytest.param(
        es(ep_list=[ep("10.1.2.0", hints={"forZones": [{"name": "a"}, {"name": "a"}]})]),
        ['endpoints[0].hints.forZones[1].name: Duplicate value: "a"'],
        id="duplicate-zone-hint",
    ),
    pytest.param(
        es(ep_list=[ep("10.1.2.0", hints={"forZones": [{"name": f"z{i}"} for i in range(9)]})]),
        ["endpoints[0].hints.forZones: Too many: 9: must have at most 8 items"],
        id="too-many-zone-hints",
    ),
    pytest.param(
        es(ep_list=[ep("10.1.2.0", hints={"forNodes": [{"name": f"n{i}"} for i in range(9)]})]),
        ["endpoints[0].hints.forNodes: Too many: 9: must have at most 8 items"],
        id="too-many-node-hints",
    ),
    pytest.param(
        es(ep_list=[ep("10.1.2.0", hostname="--INVALID")]),
        [
            'endpoints[0].hostname: Invalid value: "--INVALID": a lowercase RFC 1123 label must '
            "consist of lower case alphanumeric characters or '-', and must start and end with an "
            "alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
            "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
        ],
        id="bad-hostname",
    ),
    pytest.param(
        es(ep_list=[ep("10.1.2.0", deprecatedTopology={"topology.kubernetes.io/zone": "z"})]),
        [
            "endpoints[0].deprecatedTopology[topology.kubernetes.io/zone]: Internal error: "
            "reserved key was not removed in conversion"
        ],
        id="zone-key-topology",
    ),
    pytest.param(
        es("FQDN", ep_list=[ep("example")]),
        [
            'endpoints[0].addresses[0]: Invalid value: "example": should be a domain with at '
            "least two segments separated by dots"
        ],
        id="single-label-fqdn",
    ),
]


@pytest.mark.parametrize(("obj", "messages"), MESSAGE_CASES)
def test_validate_endpointslice_messages(obj: dict[str, Any], messages: list[str]) -> None:
    assert [str(e) for e in validate_create("endpointslices", obj)] == messages


def test_address_type_is_immutable() -> None:
    old = es(meta=UPDATE_META)
    new = es("IPv6", meta=UPDATE_META)
    errs = validate_update("endpointslices", new, old)
    assert [str(e) for e in errs] == ['addressType: Invalid value: "IPv6": field is immutable']
    assert errs[0].type is ErrorType.INVALID


def test_unchanged_endpoints_are_not_revalidated_on_update() -> None:
    old = es(meta=UPDATE_META, ep_list=[ep("010.1.2.3")])
    new = copy.deepcopy(old)
    new["metadata"]["labels"] = {"a": "b"}
    assert validate_update("endpointslices", new, old) == []
    new["endpoints"] = [ep("010.1.2.4")]
    assert [str(e) for e in validate_update("endpointslices", new, old)] == [
        'endpoints[0].addresses[0]: Invalid value: "010.1.2.4": must not have leading 0s'
    ]


def test_update_leaves_resource_version_to_the_registry() -> None:
    old = es(meta=UPDATE_META)
    new = es(meta={"name": "es1", "namespace": "test"})
    assert validate_update("endpointslices", new, old) == []


GARBAGE = [
    pytest.param({"metadata": [], "addressType": 4, "ports": "x", "endpoints": {}}, id="types"),
    pytest.param(es(ep_list=[1, None, {"addresses": [1, None]}]), id="endpoint-items"),
    pytest.param(es(port_list=[{"name": 3, "protocol": 4, "appProtocol": []}]), id="port-fields"),
    pytest.param(
        es(ep_list=[ep("10.1.2.3", hints={"forZones": "x", "forNodes": [{"name": 1}]})]),
        id="hint-fields",
    ),
    pytest.param(
        es(ep_list=[ep("10.1.2.3", deprecatedTopology={"a": 1}, hostname=2, nodeName=[])]),
        id="endpoint-fields",
    ),
]


@pytest.mark.parametrize("obj", GARBAGE)
def test_garbage_input_yields_errors_not_exceptions(obj: dict[str, Any]) -> None:
    errs = validate_create("endpointslices", obj)
    assert errs
    assert all(e.type is not ErrorType.INTERNAL for e in errs), [str(e) for e in errs]


def test_remembered_addresses_are_checked_again_under_another_type_or_loopback_rule() -> None:
    """Addresses that passed are remembered per address type and loopback rule: the same
    text under the other type, or loopback once it is no longer allowed, still fails."""
    from sliceplane.api.validation import validate_create
    from sliceplane.api.validation.names import ALLOW_LOOPBACK_ENDPOINTS

    def slice_of(at: str, address: str) -> dict[str, Any]:
        return {
            "metadata": {"name": "s", "namespace": "default"},
            "addressType": at,
            "endpoints": [{"addresses": [address]}],
            "ports": [],
        }

    for _ in range(2):
        assert validate_create("endpointslices", slice_of("IPv4", "10.1.2.3")) == []
        assert validate_create("endpointslices", slice_of("IPv6", "10.1.2.3")) != []
        token = ALLOW_LOOPBACK_ENDPOINTS.set(True)
        try:
            assert validate_create("endpointslices", slice_of("IPv4", "127.0.0.1")) == []
        finally:
            ALLOW_LOOPBACK_ENDPOINTS.reset(token)
        errs = validate_create("endpointslices", slice_of("IPv4", "127.0.0.1"))
        assert [e.field for e in errs] == ["endpoints[0].addresses[0]"]
