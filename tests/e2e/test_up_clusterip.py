"""``sliceplane up --runtime process``: a Service's ClusterIP answers from this machine.

The real ``sliceplane up`` (pods are local processes, the userspace proxy runs in it,
Services get addresses from the loopback range 127.96.0.0/12, so no root is needed), the
real kubectl, the real ``curl``: every ready pod answers; after scaling down only the
remaining pod does; with no pods the connection is refused at once.
"""

from __future__ import annotations

import ipaddress
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from sliceplane.cluster.walkthrough import Walkthrough

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")


@pytest.fixture(scope="module")
def walk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Walkthrough]:
    w = Walkthrough(Path(tmp_path_factory.mktemp("up-process")), runtime="process")
    w.start()
    try:
        yield w
    finally:
        w.stop()


def test_curl_clusterip_scale_down_curl_again(walk: Walkthrough) -> None:
    walk.step_hello_deploy(3)
    ip = walk.cluster_ip()
    assert ipaddress.ip_address(ip) in ipaddress.ip_network("127.96.0.0/12")
    pods = {p["metadata"]["name"] for p in walk.json("get", "pods", "-l", "app=hello")["items"]}
    assert len(pods) == 3

    seen = walk.step_curl(30)
    assert set(seen) == pods, seen  # every ready pod answers, nothing is refused

    walk.step_hello_scale(1)
    (left,) = {p["metadata"]["name"] for p in walk.json("get", "pods", "-l", "app=hello")["items"]
               if not p["metadata"].get("deletionTimestamp")}  # fmt: skip
    walk.wait(lambda: set(walk.step_curl(6)) == {left}, "only the remaining pod answering")
    assert set(walk.step_curl(10)) == {left}

    walk.step_hello_scale(0)
    walk.wait(lambda: walk.step_curl(1) == {"refused": 1}, "connections refused")
