"""String-format checks (DNS names, label keys/values, port names, IPs) with upstream's wording.

Clients compare our 422 messages against a real kube-apiserver, so every message here
reproduces apimachinery's ``util/validation`` text exactly. The bare ``is_*`` checks return
plain message lists (like upstream's ``[]string`` helpers); the IP and FQDN checks take a
field path and return field errors, as their upstream counterparts do.

Upstream name -> here: ``IsDNS1123Label`` -> :func:`is_dns1123_label`,
``IsDNS1123Subdomain`` -> :func:`is_dns1123_subdomain`, ``IsDNS1035Label`` ->
:func:`is_dns1035_label`, ``IsQualifiedName`` -> :func:`is_qualified_name`,
``IsValidLabelValue`` -> :func:`is_valid_label_value`, ``IsValidPortName`` ->
:func:`is_valid_port_name`, ``IsValidPortNum`` -> :func:`is_valid_port_num`,
``IsValidIP`` -> :func:`is_valid_ip`, ``IsValidIPv4Address``/``IsValidIPv6Address`` ->
:func:`is_valid_ipv4_address`/:func:`is_valid_ipv6_address`,
``IsFullyQualifiedDomainName`` -> :func:`is_fully_qualified_domain_name`,
``ValidateEndpointIP`` (core) -> :func:`validate_endpoint_ip`.
"""

from __future__ import annotations

import ipaddress
import re
from contextvars import ContextVar
from typing import Final

from sliceplane.api.field import ErrorList, Path
from sliceplane.api.ipaddr import IPAddress, go_ip_string, is_4in6, parse_ip_sloppy, to4

# --- message helpers (apimachinery's MaxLenError, RegexError, ...) ----------------------


def max_len_error(length: int, unit: str = "characters") -> str:
    """``MaxLenError``; current apimachinery's ``validate/content`` says ``bytes``."""
    return f"must be no more than {length} {unit}"


def regex_error(msg: str, fmt: str, *examples: str) -> str:
    """Upstream's odd punctuation is kept: ``(e.g. 'a',  or 'b', regex used ...)``."""
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    out = msg + " (e.g. "
    for i, ex in enumerate(examples):
        if i > 0:
            out += " or "
        out += f"'{ex}', "
    return out + f"regex used for validation is '{fmt}')"


def empty_error() -> str:
    return "must be non-empty"


def inclusive_range_error(lo: int, hi: int) -> str:
    return f"must be between {lo} and {hi}, inclusive"


IS_NEGATIVE_ERROR_MSG: Final = "must be greater than or equal to 0"
FIELD_IMMUTABLE_ERROR_MSG: Final = "field is immutable"

# --- DNS names -------------------------------------------------------------------------

DNS1123_LABEL_FMT: Final = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_LABEL_ERR_MSG: Final = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character"
)
DNS1123_LABEL_MAX_LENGTH: Final = 63

DNS1123_SUBDOMAIN_FMT: Final = DNS1123_LABEL_FMT + "(\\." + DNS1123_LABEL_FMT + ")*"
DNS1123_SUBDOMAIN_ERR_MSG: Final = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
    "'-' or '.', and must start and end with an alphanumeric character"
)
DNS1123_SUBDOMAIN_MAX_LENGTH: Final = 253

DNS1035_LABEL_FMT: Final = "[a-z]([-a-z0-9]*[a-z0-9])?"
DNS1035_LABEL_ERR_MSG: Final = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with "
    "an alphabetic character, and end with an alphanumeric character"
)
DNS1035_LABEL_MAX_LENGTH: Final = 63

# Python's ``$`` also matches before a trailing newline; ``\Z`` behaves like Go's ``$``.
_DNS1123_LABEL_RE: Final = re.compile(f"^(?:{DNS1123_LABEL_FMT})\\Z")
_DNS1123_SUBDOMAIN_RE: Final = re.compile(f"^(?:{DNS1123_SUBDOMAIN_FMT})\\Z")
_DNS1035_LABEL_RE: Final = re.compile(f"^(?:{DNS1035_LABEL_FMT})\\Z")


def _blen(value: str) -> int:
    """Go's ``len(string)`` counts UTF-8 bytes, not characters."""
    return len(value.encode("utf-8", "surrogatepass"))


def is_dns1123_label(value: str) -> list[str]:
    errs: list[str] = []
    if _blen(value) > DNS1123_LABEL_MAX_LENGTH:
        errs.append(max_len_error(DNS1123_LABEL_MAX_LENGTH))
    if not _DNS1123_LABEL_RE.match(value):
        if _DNS1123_SUBDOMAIN_RE.match(value):
            # A valid subdomain that is not a label can only be failing on its dots.
            errs.append("must not contain dots")
        else:
            errs.append(regex_error(DNS1123_LABEL_ERR_MSG, DNS1123_LABEL_FMT, "my-name", "123-abc"))
    return errs


def is_dns1123_subdomain(value: str, unit: str = "characters") -> list[str]:
    errs: list[str] = []
    if _blen(value) > DNS1123_SUBDOMAIN_MAX_LENGTH:
        errs.append(max_len_error(DNS1123_SUBDOMAIN_MAX_LENGTH, unit))
    if not _DNS1123_SUBDOMAIN_RE.match(value):
        errs.append(regex_error(DNS1123_SUBDOMAIN_ERR_MSG, DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errs


def is_dns1035_label(value: str) -> list[str]:
    errs: list[str] = []
    if _blen(value) > DNS1035_LABEL_MAX_LENGTH:
        errs.append(max_len_error(DNS1035_LABEL_MAX_LENGTH))
    if not _DNS1035_LABEL_RE.match(value):
        errs.append(regex_error(DNS1035_LABEL_ERR_MSG, DNS1035_LABEL_FMT, "my-name", "abc-123"))
    return errs


# --- qualified names and label values --------------------------------------------------

QUALIFIED_NAME_CHAR_FMT: Final = "[A-Za-z0-9]"
QUALIFIED_NAME_EXT_CHAR_FMT: Final = "[-A-Za-z0-9_.]"
QUALIFIED_NAME_FMT: Final = (
    "(" + QUALIFIED_NAME_CHAR_FMT + QUALIFIED_NAME_EXT_CHAR_FMT + "*)?" + QUALIFIED_NAME_CHAR_FMT
)
QUALIFIED_NAME_ERR_MSG: Final = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with "
    "an alphanumeric character"
)
QUALIFIED_NAME_MAX_LENGTH: Final = 63
_QUALIFIED_NAME_RE: Final = re.compile(f"^(?:{QUALIFIED_NAME_FMT})\\Z")

LABEL_VALUE_FMT: Final = "(" + QUALIFIED_NAME_FMT + ")?"
LABEL_VALUE_ERR_MSG: Final = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' "
    "or '.', and must start and end with an alphanumeric character"
)
LABEL_VALUE_MAX_LENGTH: Final = 63
_LABEL_VALUE_RE: Final = re.compile(f"^(?:{LABEL_VALUE_FMT})\\Z")


def _qualified_name_errors(value: str, whole: str, unit: str) -> list[str]:
    """``[prefix/]name`` checks shared by qualified names and label keys; ``whole`` names
    the thing in the message for a value with more than one slash, ``unit`` is the
    length unit of the too-long messages."""
    errs: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part " + empty_error())
        else:
            errs.extend("prefix part " + m for m in is_dns1123_subdomain(prefix, unit))
    else:
        return [
            whole
            + " "
            + regex_error(
                QUALIFIED_NAME_ERR_MSG, QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc"
            )
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errs.append("name part " + empty_error())
    elif _blen(name) > QUALIFIED_NAME_MAX_LENGTH:
        errs.append("name part " + max_len_error(QUALIFIED_NAME_MAX_LENGTH, unit))
    if not _QUALIFIED_NAME_RE.match(name):
        errs.append(
            "name part "
            + regex_error(
                QUALIFIED_NAME_ERR_MSG, QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc"
            )
        )
    return errs


def is_qualified_name(value: str) -> list[str]:
    """A label key / annotation key / finalizer in object validation: ``[prefix/]name``."""
    return _qualified_name_errors(value, "a qualified name", "characters")


def is_label_key(value: str) -> list[str]:
    """A label key in a selector (apimachinery ``validate/content.IsLabelKey``): the same
    rules as :func:`is_qualified_name`, in that package's wording."""
    return _qualified_name_errors(value, "a valid label key", "bytes")


def is_valid_label_value(value: str, unit: str = "characters") -> list[str]:
    """``IsValidLabelValue``; selectors pass ``unit="bytes"`` (``content.IsLabelValue``)."""
    errs: list[str] = []
    if _blen(value) > LABEL_VALUE_MAX_LENGTH:
        errs.append(max_len_error(LABEL_VALUE_MAX_LENGTH, unit))
    if not _LABEL_VALUE_RE.match(value):
        errs.append(
            regex_error(LABEL_VALUE_ERR_MSG, LABEL_VALUE_FMT, "MyValue", "my_value", "12345")
        )
    return errs


# --- ports -----------------------------------------------------------------------------

_PORT_NAME_CHARSET_RE: Final = re.compile(r"^[-a-z0-9]+\Z")
_PORT_NAME_ONE_LETTER_RE: Final = re.compile(r"[a-z]")


def is_valid_port_num(port: int) -> list[str]:
    if 1 <= port <= 65535:
        return []
    return [inclusive_range_error(1, 65535)]


def is_in_range(value: int, lo: int, hi: int) -> list[str]:
    if lo <= value <= hi:
        return []
    return [inclusive_range_error(lo, hi)]


def is_valid_port_name(port: str) -> list[str]:
    """An IANA_SVC_NAME: at most 15 chars of ``[-a-z0-9]`` with at least one letter."""
    errs: list[str] = []
    if _blen(port) > 15:
        errs.append(max_len_error(15))
    if not _PORT_NAME_CHARSET_RE.match(port):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not _PORT_NAME_ONE_LETTER_RE.search(port):
        errs.append("must contain at least one letter (a-z)")
    if "--" in port:
        errs.append("must not contain consecutive hyphens")
    if port and (port[0] == "-" or port[-1] == "-"):
        errs.append("must not begin or end with a hyphen")
    return errs


# --- fully qualified domain names ------------------------------------------------------


def is_fully_qualified_domain_name(path: Path, name: str) -> ErrorList:
    """At least two dot-separated DNS labels; one trailing dot is allowed."""
    if not name:
        return [path.required()]
    if name.endswith("."):
        name = name[:-1]
    msgs = is_dns1123_subdomain(name)
    if msgs:
        return [path.invalid(name, ",".join(msgs))]
    labels = name.split(".")
    if len(labels) < 2:
        return [
            path.invalid(name, "should be a domain with at least two segments separated by dots")
        ]
    for label in labels:
        msgs = is_dns1123_label(label)
        if msgs:
            return [path.invalid(label, ",".join(msgs))]
    return []


# --- IP addresses ----------------------------------------------------------------------
#
# Parsing is :mod:`sliceplane.api.ipaddr` (upstream's ``netutils.ParseIPSloppy``); strict
# checks also refuse what ``netip.ParseAddr`` refuses (leading zeros).

_DIGITS_RE: Final = re.compile(r"^[0-9]+\Z")
IP_INVALID_MSG: Final = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"


class PassedChecks:
    """IP texts known to pass one check, so a repeated check costs a set lookup.

    Why: every write of an EndpointSlice or Endpoints object re-validates every address
    (100 per slice, rewritten whenever one of its pods changes), and parsing an IP in
    Python was the larger part of validating them. A check's outcome depends on the text
    alone (and on the arguments in the key), so remembering the texts that passed gives
    the same answers; failures are not remembered (their errors name the field path).
    Bounded by clearing.
    """

    __slots__ = ("_max", "_seen")

    def __init__(self, max_entries: int = 1 << 17) -> None:
        self._seen: set[object] = set()
        self._max = max_entries

    def __contains__(self, key: object) -> bool:
        try:
            return key in self._seen
        except TypeError:  # not a text: never remembered
            return False

    def add(self, key: object) -> None:
        if len(self._seen) >= self._max:
            self._seen.clear()
        try:
            self._seen.add(key)
        except TypeError:
            pass


_VALID_IP: Final = PassedChecks()
_LEGACY_IP: Final = PassedChecks()
_ENDPOINT_IP: Final = PassedChecks()


def _parse_ip_field(path: Path, value: str, strict: bool) -> tuple[IPAddress | None, ErrorList]:
    parsed = parse_ip_sloppy(value)
    if parsed is None:
        return None, [path.invalid(value, IP_INVALID_MSG)]
    ip, leading = parsed
    errs: ErrorList = []
    if strict:
        if leading:
            errs.append(path.invalid(value, "must not have leading 0s"))
        if is_4in6(ip):
            errs.append(path.invalid(value, "must not be an IPv4-mapped IPv6 address"))
    return ip, errs


def is_valid_ip(path: Path, value: str) -> ErrorList:
    """Current rules: strict syntax (netip) and canonical form."""
    if value in _VALID_IP:
        return []
    ip, errs = _parse_ip_field(path, value, strict=True)
    if errs or ip is None:
        return errs
    canonical = go_ip_string(ip)
    if value != canonical:
        errs.append(path.invalid(value, f'must be in canonical form ("{canonical}")'))
    if not errs:
        _VALID_IP.add(value)
    return errs


def is_valid_ip_for_legacy_field(path: Path, value: str, strict: bool = True) -> ErrorList:
    """Fields that predate strict validation: non-canonical IPv6 spellings are accepted."""
    key = (value, strict)
    if key in _LEGACY_IP:
        return []
    errs = _parse_ip_field(path, value, strict)[1]
    if not errs:
        _LEGACY_IP.add(key)
    return errs


def _is_valid_family(path: Path, value: str, want4: bool, strict: bool) -> ErrorList:
    family = "IPv4" if want4 else "IPv6"
    parsed = parse_ip_sloppy(value)
    if parsed is None or (to4(parsed[0]) is not None) != want4:
        return [path.invalid(value, f"must be a valid {family} address")]
    if strict:
        return _parse_ip_field(path, value, strict=True)[1]
    return []


def is_valid_ipv4_address(path: Path, value: str, strict: bool = True) -> ErrorList:
    """IPv4 (or IPv4-mapped) address; ``strict`` also rejects leading zeros and mapping."""
    return _is_valid_family(path, value, True, strict)


def is_valid_ipv6_address(path: Path, value: str, strict: bool = True) -> ErrorList:
    return _is_valid_family(path, value, False, strict)


def is_valid_cidr(path: Path, value: str) -> ErrorList:
    """Strict CIDR check (``IsValidCIDR``): subnet form, no leading zeros, canonical."""
    addr, slash, plen = value.rpartition("/")
    invalid = [
        path.invalid(value, "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)")
    ]
    if not slash or not _DIGITS_RE.match(plen):
        return invalid
    parsed = parse_ip_sloppy(addr)
    if parsed is None:
        return invalid
    ip, leading = parsed
    bits = 32 if isinstance(ip, ipaddress.IPv4Address) else 128
    length = int(plen)
    if length > bits:
        return invalid
    if leading or (len(plen) > 1 and plen[0] == "0"):
        return [path.invalid(value, "must not have leading 0s in IP or prefix length")]
    if is_4in6(ip):
        return [path.invalid(value, "must not have an IPv4-mapped IPv6 address")]
    net = ipaddress.ip_network(f"{ip}/{length}", strict=False)
    if net.network_address != ip:
        return [path.invalid(value, "must not have bits set beyond the prefix length")]
    canonical = f"{net.network_address}/{length}"
    if value != canonical:
        return [path.invalid(value, f'must be in canonical form ("{canonical}")')]
    return []


def _is_link_local_multicast(ip: IPAddress) -> bool:
    v4 = to4(ip)
    if v4 is not None:
        return v4 in ipaddress.IPv4Network("224.0.0.0/24")
    packed = ip.packed
    return packed[0] == 0xFF and packed[1] & 0x0F == 0x02


ALLOW_LOOPBACK_ENDPOINTS: ContextVar[bool] = ContextVar("allow_loopback_endpoints", default=False)
"""Set (by an API server started with ``--allow-loopback-endpoints``) while validating, to
accept 127.0.0.0/8 and ::1 endpoint addresses: the local cluster's process runtime binds
pods to loopback addresses when it cannot route a pod CIDR without root. Off by default,
as upstream."""


def validate_endpoint_ip(path: Path, value: str) -> ErrorList:
    """Reject addresses that make no sense as a backend (core ``ValidateEndpointIP``)."""
    key = (value, ALLOW_LOOPBACK_ENDPOINTS.get())
    if key in _ENDPOINT_IP:
        return []
    errs = _endpoint_ip_errors(path, value)
    if not errs:
        _ENDPOINT_IP.add(key)
    return errs


def _endpoint_ip_errors(path: Path, value: str) -> ErrorList:
    parsed = parse_ip_sloppy(value)
    if parsed is None:
        return [path.invalid(value, "must be a valid IP address")]
    ip = parsed[0]
    v4 = to4(ip)
    probe: IPAddress = v4 if v4 is not None else ip
    errs: ErrorList = []
    if probe.is_unspecified:
        errs.append(path.invalid(value, f"may not be unspecified ({value})"))
    if probe.is_loopback and not ALLOW_LOOPBACK_ENDPOINTS.get():
        errs.append(path.invalid(value, "may not be in the loopback range (127.0.0.0/8, ::1/128)"))
    if probe.is_link_local:
        errs.append(
            path.invalid(value, "may not be in the link-local range (169.254.0.0/16, fe80::/10)")
        )
    if _is_link_local_multicast(ip):
        errs.append(
            path.invalid(
                value, "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)"
            )
        )
    return errs


# --- object-name validators (apimachinery ``NameIs*``) ---------------------------------


def mask_trailing_dash(name: str) -> str:
    """A generateName prefix may end in '-': check it as if it ended in a letter."""
    if len(name) > 1 and name.endswith("-"):
        return name[:-1] + "a"
    return name


def name_is_dns_subdomain(name: str, prefix: bool) -> list[str]:
    return is_dns1123_subdomain(mask_trailing_dash(name) if prefix else name)


def name_is_dns_label(name: str, prefix: bool) -> list[str]:
    return is_dns1123_label(mask_trailing_dash(name) if prefix else name)


def name_is_dns1035_label(name: str, prefix: bool) -> list[str]:
    return is_dns1035_label(mask_trailing_dash(name) if prefix else name)
