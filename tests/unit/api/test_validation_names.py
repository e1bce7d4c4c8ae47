"""String-format validators: exact upstream messages (apimachinery util/validation tests)."""

from __future__ import annotations

import pytest

from sliceplane.api.field import Path
from sliceplane.api.validation.names import (
    is_dns1035_label,
    is_dns1123_label,
    is_dns1123_subdomain,
    is_fully_qualified_domain_name,
    is_qualified_name,
    is_valid_cidr,
    is_valid_ip,
    is_valid_ip_for_legacy_field,
    is_valid_ipv4_address,
    is_valid_ipv6_address,
    is_valid_label_value,
    is_valid_port_name,
    is_valid_port_num,
    name_is_dns_subdomain,
    parse_ip_sloppy,
)

LABEL_REGEX_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
SUBDOMAIN_REGEX_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
DNS1035_REGEX_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
    "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)
QN_NAME_MSG = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
    "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
    "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("a", [], id="one-char"),
        pytest.param("123-abc", [], id="digits-first"),
        pytest.param("a" * 63, [], id="max-length"),
        pytest.param("a" * 64, ["must be no more than 63 characters"], id="too-long"),
        pytest.param("a.b", ["must not contain dots"], id="dots"),
        pytest.param("Abc", [LABEL_REGEX_MSG], id="upper"),
        pytest.param("-abc", [LABEL_REGEX_MSG], id="leading-dash"),
        pytest.param("", [LABEL_REGEX_MSG], id="empty"),
        pytest.param("abc\n", [LABEL_REGEX_MSG], id="trailing-newline"),
    ],
)
def test_is_dns1123_label(value: str, expected: list[str]) -> None:
    assert is_dns1123_label(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("example.com", [], id="domain"),
        pytest.param("a" * 253, [], id="max-length"),
        pytest.param("a" * 254, ["must be no more than 253 characters"], id="too-long"),
        pytest.param("*&^", [SUBDOMAIN_REGEX_MSG], id="symbols"),
        pytest.param("a..b", [SUBDOMAIN_REGEX_MSG], id="empty-label"),
    ],
)
def test_is_dns1123_subdomain(value: str, expected: list[str]) -> None:
    assert is_dns1123_subdomain(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("my-svc", [], id="ok"),
        pytest.param("1st-svc", [DNS1035_REGEX_MSG], id="digit-first"),
        pytest.param("a" * 64, ["must be no more than 63 characters"], id="too-long"),
    ],
)
def test_is_dns1035_label(value: str, expected: list[str]) -> None:
    assert is_dns1035_label(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("MyName", [], id="plain"),
        pytest.param("example.com/my_name", [], id="prefixed"),
        pytest.param("/name", ["prefix part must be non-empty"], id="empty-prefix"),
        pytest.param("Example.com/name", ["prefix part " + SUBDOMAIN_REGEX_MSG], id="bad-prefix"),
        pytest.param("example.com/", ["name part must be non-empty", QN_NAME_MSG], id="empty-name"),
        pytest.param("a" * 64, ["name part must be no more than 63 characters"], id="long-name"),
        pytest.param("--", [QN_NAME_MSG], id="dashes"),
        pytest.param(
            "a/b/c",
            [
                "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and "
                "must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name', "
                " or '123-abc', regex used for validation is "
                "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain "
                "prefix and '/' (e.g. 'example.com/MyName')"
            ],
            id="two-slashes",
        ),
    ],
)
def test_is_qualified_name(value: str, expected: list[str]) -> None:
    assert is_qualified_name(value) == expected


@pytest.mark.parametrize(
    ("value", "n_errors"),
    [
        pytest.param("", 0, id="empty-ok"),
        pytest.param("my_value.1", 0, id="ok"),
        pytest.param("-x", 1, id="leading-dash"),
        pytest.param("x" * 64, 1, id="too-long"),
        pytest.param("-" * 64, 2, id="too-long-and-bad"),
    ],
)
def test_is_valid_label_value(value: str, n_errors: int) -> None:
    assert len(is_valid_label_value(value)) == n_errors


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("http", [], id="ok"),
        pytest.param("h-t-t-p-80", [], id="hyphens"),
        pytest.param("a" * 16, ["must be no more than 15 characters"], id="too-long"),
        pytest.param(
            "Http",
            ["must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)"],
            id="upper",
        ),
        pytest.param("80", ["must contain at least one letter (a-z)"], id="no-letter"),
        pytest.param("a--b", ["must not contain consecutive hyphens"], id="double-hyphen"),
        pytest.param("-ab", ["must not begin or end with a hyphen"], id="leading-hyphen"),
        pytest.param(
            "",
            [
                "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
                "must contain at least one letter (a-z)",
            ],
            id="empty",
        ),
    ],
)
def test_is_valid_port_name(value: str, expected: list[str]) -> None:
    assert is_valid_port_name(value) == expected


@pytest.mark.parametrize(
    ("port", "ok"),
    [
        pytest.param(1, True, id="min"),
        pytest.param(65535, True, id="max"),
        pytest.param(0, False, id="zero"),
        pytest.param(65536, False, id="over"),
        pytest.param(-1, False, id="negative"),
    ],
)
def test_is_valid_port_num(port: int, ok: bool) -> None:
    expected = [] if ok else ["must be between 1 and 65535, inclusive"]
    assert is_valid_port_num(port) == expected


P = Path("f")


@pytest.mark.parametrize(
    ("value", "messages"),
    [
        pytest.param("1.2.3.4", [], id="ipv4"),
        pytest.param("2001:db8::1", [], id="ipv6"),
        pytest.param(
            "1.1.1.01", ['f: Invalid value: "1.1.1.01": must not have leading 0s'], id="leading-0"
        ),
        pytest.param(
            "::ffff:1.1.1.1",
            ['f: Invalid value: "::ffff:1.1.1.1": must not be an IPv4-mapped IPv6 address'],
            id="4in6",
        ),
        pytest.param(
            "1234::ABCD",
            ['f: Invalid value: "1234::ABCD": must be in canonical form ("1234::abcd")'],
            id="non-canonical",
        ),
        pytest.param(
            "0:0:0:0:0:0:0:0",
            ['f: Invalid value: "0:0:0:0:0:0:0:0": must be in canonical form ("::")'],
            id="expanded-zero",
        ),
        pytest.param(
            "1.2.3.0/24",
            [
                'f: Invalid value: "1.2.3.0/24": must be a valid IP address, '
                "(e.g. 10.9.8.7 or 2001:db8::ffff)"
            ],
            id="cidr",
        ),
        pytest.param(
            "fe80::1%eth0",
            [
                'f: Invalid value: "fe80::1%eth0": must be a valid IP address, '
                "(e.g. 10.9.8.7 or 2001:db8::ffff)"
            ],
            id="zone",
        ),
    ],
)
def test_is_valid_ip(value: str, messages: list[str]) -> None:
    assert [str(e) for e in is_valid_ip(P, value)] == messages


def test_legacy_field_accepts_noncanonical_but_not_leading_zeros() -> None:
    assert is_valid_ip_for_legacy_field(P, "1234::ABCD") == []
    assert is_valid_ip_for_legacy_field(P, "010.0.0.1", strict=False) == []
    assert [str(e) for e in is_valid_ip_for_legacy_field(P, "010.0.0.1")] == [
        'f: Invalid value: "010.0.0.1": must not have leading 0s'
    ]


def test_sloppy_parser_matches_go_rules() -> None:
    assert parse_ip_sloppy("1.2.3.4") is not None
    assert parse_ip_sloppy("001.002.003.004") is not None
    assert parse_ip_sloppy("256.0.0.1") is None
    assert parse_ip_sloppy("1.2.3") is None
    assert parse_ip_sloppy("1.2.3.4 ") is None
    assert parse_ip_sloppy("::ffff:001.2.3.4") is not None


@pytest.mark.parametrize(
    ("value", "v4_ok", "v6_ok"),
    [
        pytest.param("10.0.0.1", True, False, id="v4"),
        pytest.param("2001:db8::1", False, True, id="v6"),
        pytest.param("::ffff:10.0.0.1", False, False, id="mapped"),
        pytest.param("bogus", False, False, id="bogus"),
    ],
)
def test_ip_family_checks(value: str, v4_ok: bool, v6_ok: bool) -> None:
    assert (is_valid_ipv4_address(P, value) == []) is v4_ok
    assert (is_valid_ipv6_address(P, value) == []) is v6_ok


@pytest.mark.parametrize(
    ("value", "messages"),
    [
        pytest.param("example.com", [], id="ok"),
        pytest.param("example.com.", [], id="trailing-dot"),
        pytest.param("", ["f: Required value"], id="empty"),
        pytest.param(
            "example",
            [
                'f: Invalid value: "example": should be a domain with at least two segments '
                "separated by dots"
            ],
            id="one-label",
        ),
        pytest.param(
            "FOO.example.com",
            [f'f: Invalid value: "FOO.example.com": {SUBDOMAIN_REGEX_MSG}'],
            id="upper",
        ),
    ],
)
def test_is_fully_qualified_domain_name(value: str, messages: list[str]) -> None:
    assert [str(e) for e in is_fully_qualified_domain_name(P, value)] == messages


@pytest.mark.parametrize(
    ("value", "messages"),
    [
        pytest.param("10.0.0.0/8", [], id="ok"),
        pytest.param("2001:db8::/64", [], id="ok-v6"),
        pytest.param(
            "10.0.0.1/8",
            ['f: Invalid value: "10.0.0.1/8": must not have bits set beyond the prefix length'],
            id="host-bits",
        ),
        pytest.param(
            "10.0.0.0/08",
            ['f: Invalid value: "10.0.0.0/08": must not have leading 0s in IP or prefix length'],
            id="leading-zero-prefix",
        ),
        pytest.param(
            "10.0.0.0",
            [
                'f: Invalid value: "10.0.0.0": must be a valid CIDR value, '
                "(e.g. 10.9.8.0/24 or 2001:db8::/64)"
            ],
            id="no-prefix",
        ),
    ],
)
def test_is_valid_cidr(value: str, messages: list[str]) -> None:
    assert [str(e) for e in is_valid_cidr(P, value)] == messages


def test_generate_name_prefix_may_end_with_dash() -> None:
    assert name_is_dns_subdomain("web-", True) == []
    assert name_is_dns_subdomain("web-", False) == [SUBDOMAIN_REGEX_MSG]


def test_loopback_endpoints_only_when_the_server_allows_them() -> None:
    from sliceplane.api.validation.names import ALLOW_LOOPBACK_ENDPOINTS, validate_endpoint_ip

    path = Path("endpoints").index(0).child("addresses").index(0)
    (err,) = validate_endpoint_ip(path, "127.244.1.5")
    assert "may not be in the loopback range" in str(err)
    token = ALLOW_LOOPBACK_ENDPOINTS.set(True)
    try:
        assert validate_endpoint_ip(path, "127.244.1.5") == []
        assert validate_endpoint_ip(path, "0.0.0.0") != []  # only loopback is relaxed
    finally:
        ALLOW_LOOPBACK_ENDPOINTS.reset(token)


@pytest.mark.parametrize(
    "value", ["10.244.1.7", "127.0.0.1", "010.1.1.1", "::ffff:1.2.3.4", "fd00::1", "fd00:0::1", "x"]
)
def test_remembered_ip_checks_answer_as_the_first_time(value: str) -> None:
    """IP checks remember the texts that passed; a second (and third) check of the same
    text, under the other flags, gives exactly what a fresh check gives."""
    from sliceplane.api.validation.names import ALLOW_LOOPBACK_ENDPOINTS, validate_endpoint_ip

    p = Path("ip")
    for _ in range(3):
        for strict in (True, False):
            got = is_valid_ip_for_legacy_field(p, value, strict)
            assert [e.detail for e in got] == [
                e.detail for e in is_valid_ip_for_legacy_field(Path("other"), value, strict)
            ]
        assert bool(is_valid_ip(p, value)) == (value not in ("10.244.1.7", "127.0.0.1", "fd00::1"))
        for allow in (False, True, False):
            token = ALLOW_LOOPBACK_ENDPOINTS.set(allow)
            try:
                errs = validate_endpoint_ip(p, value)
            finally:
                ALLOW_LOOPBACK_ENDPOINTS.reset(token)
            loopback = value == "127.0.0.1" and not allow
            assert bool(errs) == (loopback or value == "x")
    assert is_valid_ip_for_legacy_field(p, "x")[0].field == "ip"
