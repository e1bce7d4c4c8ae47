"""The Service ranges of nftables mode's drop rule for unallocated ClusterIPs: the set kept
from ServiceCIDR events (upstream's ServiceCIDRConfig), split by family, and written by
full syncs only (upstream's setupNFTables)."""

from __future__ import annotations

from typing import Any, cast

import pytest

from sliceplane.client.client import Client
from sliceplane.proxy.config import RenderConfig
from sliceplane.proxy.fakes import FakeNft
from sliceplane.proxy.modes import NftablesMode
from sliceplane.proxy.proxier import Proxier
from sliceplane.proxy.server import ProxyConfig, ProxyServer
from sliceplane.proxy.servicecidrs import ServiceCIDRSet

DROP = "Drop traffic to unallocated ClusterIPs"


def cidr(name: str, *cidrs: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"cidrs": list(cidrs)}}


@pytest.mark.parametrize(
    ("events", "v4", "v6"),
    [
        pytest.param([], (), (), id="none"),
        pytest.param(
            [(None, cidr("kubernetes", "10.96.0.0/16", "fd00:10:96::/112"))],
            ("10.96.0.0/16",),
            ("fd00:10:96::/112",),
            id="dual-stack default",
        ),
        pytest.param(
            [(None, cidr("a", "10.96.0.0/16")), (None, cidr("b", "10.0.0.0/24"))],
            ("10.0.0.0/24", "10.96.0.0/16"),
            (),
            id="two objects, sorted by address",
        ),
        pytest.param(
            [
                (None, cidr("a", "10.96.0.0/16")),
                (cidr("a", "10.96.0.0/16"), cidr("a", "10.1.0.0/16")),
            ],
            ("10.1.0.0/16",),
            (),
            id="update replaces the old ranges",
        ),
        pytest.param(
            [(None, cidr("a", "10.96.0.0/16")), (cidr("a", "10.96.0.0/16"), None)],
            (),
            (),
            id="delete",
        ),
        pytest.param(
            [
                (None, cidr("a", "10.96.0.0/16")),
                (None, cidr("b", "10.96.0.0/16")),
                (cidr("b", "10.96.0.0/16"), None),
            ],
            (),
            (),
            id="shared range leaves with either object (upstream's one set)",
        ),
        pytest.param(
            [(None, cidr("a", "not-a-cidr", "10.96.0.0/16")), (None, {"metadata": {}})],
            ("10.96.0.0/16",),
            (),
            id="unparsable ranges and empty specs left out",
        ),
    ],
)
def test_set(
    events: list[tuple[dict[str, Any] | None, dict[str, Any] | None]],
    v4: tuple[str, ...],
    v6: tuple[str, ...],
) -> None:
    s = ServiceCIDRSet()
    for old, new in events:
        s.update(old, new)
    assert s.for_family(4) == v4
    assert s.for_family(6) == v6


def _drop_rules(nft: FakeNft) -> list[str]:
    return [line for line in nft.dump().splitlines() if DROP in line]


def test_written_by_full_syncs_only_per_family() -> None:
    server = ProxyServer(ProxyConfig(hostname_override="n1"), cast(Client, None))
    fakes = {4: FakeNft("ip"), 6: FakeNft("ip6")}
    server.proxiers = [
        Proxier("n1", fam, NftablesMode(fakes[fam], RenderConfig(family=fam)))  # type: ignore[arg-type]
        for fam in (4, 6)
    ]
    server._cidr(None, cidr("kubernetes", "10.96.0.0/16", "fd00:10:96::/112"))
    server.sync(True)
    (v4,) = _drop_rules(fakes[4])
    (v6,) = _drop_rules(fakes[6])
    assert "ip daddr { 10.96.0.0/16 } drop" in v4
    assert "ip6 daddr { fd00:10:96::/112 } drop" in v6

    # A changed range waits for the next full sync, as kube-proxy's does.
    server._cidr(
        cidr("kubernetes", "10.96.0.0/16", "fd00:10:96::/112"), cidr("kubernetes", "10.97.0.0/16")
    )
    server._svc(
        {
            "metadata": {"namespace": "ns", "name": "web"},
            "spec": {"clusterIP": "10.97.0.5", "ports": [{"name": "", "port": 80}]},
        }
    )
    server.sync(False)
    assert "10.96.0.0/16" in _drop_rules(fakes[4])[0]
    server.sync(True)
    assert ["10.97.0.0/16" in r for r in _drop_rules(fakes[4])] == [True]
    assert _drop_rules(fakes[6]) == []
