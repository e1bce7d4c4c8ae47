"""Chain names exactly as kube-proxy derives them, so rulesets compare line for line.

iptables (``pkg/proxy/iptables/proxier.go``): ``KUBE-SVC-``/``KUBE-SVL-``/``KUBE-EXT-``/
``KUBE-FW-`` + the first 16 characters of base32(SHA-256(``ns/svc:port`` + ``tcp``)),
``KUBE-SEP-`` + base32(SHA-256(``ns/svc:port`` + ``tcp`` + ``IP:port``))[:16].

nftables (``pkg/proxy/nftables/proxier.go``): ``service-``/``local-``/``external-``/
``firewall-`` + ``HASH8-ns/svc/tcp/port``, ``endpoint-``/``affinity-`` +
``HASH8-ns/svc/tcp/port__IP/port`` (IPv6 colons become dots), HASH8 being the first 8
characters of base32(SHA-256(the rest)); truncated with ``...`` only past 240 characters.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

from sliceplane.proxy.model import ServicePortName

NFT_NAME_BASE_MAX = 256 - 16


_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
# Every 10-bit value as its two base32 characters: one lookup per 10 bits.
_B32_PAIRS = tuple(a + b for a in _B32 for b in _B32)


def _b32(text: str, chars: int) -> str:
    """The first ``chars`` (a multiple of 8) characters of base32(SHA-256(text)).

    Base32 turns each 5 bytes into 8 characters on their own, so the digest's first
    ``chars * 5 / 8`` bytes give exactly that prefix. Encoded here with a pair table
    rather than ``base64.b32encode`` of the whole digest, which was a quarter of a
    1,000-Service iptables render (the table tests check both give the same)."""
    nbytes = chars * 5 // 8
    n = int.from_bytes(hashlib.sha256(text.encode()).digest()[:nbytes], "big")
    bits = nbytes * 8
    return "".join([_B32_PAIRS[(n >> s) & 0x3FF] for s in range(bits - 10, -1, -10)])


@lru_cache(maxsize=1 << 16)
def ipt_hash(port_name: str, protocol: str, endpoint: str = "") -> str:
    return _b32(port_name + protocol + endpoint, 16)


@lru_cache(maxsize=1 << 16)
def ipt_service_chains(spn: ServicePortName) -> dict[str, str]:
    h = ipt_hash(str(spn), spn.protocol.lower())
    return {
        "svc": f"KUBE-SVC-{h}",
        "svl": f"KUBE-SVL-{h}",
        "ext": f"KUBE-EXT-{h}",
        "fw": f"KUBE-FW-{h}",
    }


@lru_cache(maxsize=1 << 17)
def ipt_endpoint_chain(spn: ServicePortName, endpoint: str) -> str:
    return f"KUBE-SEP-{ipt_hash(str(spn), spn.protocol.lower(), endpoint)}"


def _hash_and_truncate(name: str) -> str:
    out = _b32(name, 8) + "-" + name
    if len(out) > NFT_NAME_BASE_MAX:
        out = out[: NFT_NAME_BASE_MAX - 3] + "..."
    return out


@lru_cache(maxsize=1 << 16)
def nft_port_base(spn: ServicePortName) -> str:
    s = spn.service
    return _hash_and_truncate(f"{s.namespace}/{s.name}/{spn.protocol.lower()}/{spn.port}")


@lru_cache(maxsize=1 << 17)
def nft_endpoint_base(spn: ServicePortName, ip: str, port: int) -> str:
    s = spn.service
    ip_text = ip.replace(":", ".")
    return _hash_and_truncate(
        f"{s.namespace}/{s.name}/{spn.protocol.lower()}/{spn.port}__{ip_text}/{port}"
    )


IPT_SERVICE_PREFIXES = ("KUBE-SVC-", "KUBE-SVL-", "KUBE-SEP-", "KUBE-FW-", "KUBE-EXT-")


def is_ipt_service_chain(name: str) -> bool:
    return name.startswith(IPT_SERVICE_PREFIXES)


def is_nft_service_chain(name: str) -> bool:
    return "/" in name
