"""Which container and which run ``pods/log`` reads, and where upstream would ask
(``apiserver.podlogs``), pure. Messages are kube-apiserver's and the kubelet's."""

from __future__ import annotations

from typing import Any

import pytest

from sliceplane.api import errors
from sliceplane.api.containerlog import LogOptions
from sliceplane.apiserver.podlogs import (
    KubeletUnreachable,
    Run,
    choose_container,
    choose_run,
    kubelet_url,
)


def pod(*containers: str, statuses: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "metadata": {"name": "web", "namespace": "ns", "uid": "u"},
        "spec": {"containers": [{"name": c} for c in containers]},
        "status": {"containerStatuses": statuses or []},
    }


def test_the_only_container_is_chosen_and_others_must_be_named() -> None:
    assert choose_container(pod("a"), "") == "a"
    assert choose_container(pod("a", "b"), "b") == "b"
    with pytest.raises(
        errors.BadRequest,
        match=r"^a container name must be specified for pod web, choose one of: \[a b\]$",
    ):
        choose_container(pod("a", "b"), "")
    with pytest.raises(errors.BadRequest, match=r"^container zz is not valid for pod web$"):
        choose_container(pod("a", "b"), "zz")


TERM = {"terminated": {"exitCode": 3, "containerID": "process://1"}}


@pytest.mark.parametrize(
    ("status", "previous", "run"),
    [
        ({"restartCount": 0, "state": {"running": {}}}, False, Run(0, live=True)),
        (
            {"restartCount": 2, "state": {"running": {}}, "lastState": TERM},
            False,
            Run(2, live=True),
        ),
        (
            {"restartCount": 2, "state": {"running": {}}, "lastState": TERM},
            True,
            Run(1, live=False),
        ),
        # Waiting to restart: the last run is lastState, with or without --previous.
        (
            {
                "restartCount": 2,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": TERM,
            },
            False,
            Run(2, live=False),
        ),
        (
            {
                "restartCount": 2,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": TERM,
            },
            True,
            Run(2, live=False),
        ),
        ({"restartCount": 0, "state": TERM}, False, Run(0, live=False)),
    ],
)
def test_the_run_follows_the_container_status(
    status: dict[str, Any], previous: bool, run: Run
) -> None:
    assert choose_run(pod("c", statuses=[{"name": "c", **status}]), "c", previous) == run


@pytest.mark.parametrize(
    ("status", "previous", "message"),
    [
        (
            {"restartCount": 0, "state": {"running": {}}},
            True,
            'previous terminated container "c" in pod "web" not found',
        ),
        (
            {"state": {"waiting": {"reason": "ContainerCreating"}}},
            False,
            'container "c" in pod "web" is waiting to start: ContainerCreating',
        ),
        (
            {"state": {"waiting": {"reason": "ErrImagePull"}}},
            False,
            'container "c" in pod "web" is waiting to start: image can\'t be pulled',
        ),
        ({"state": {}}, False, 'container "c" in pod "web" is waiting to start - no logs yet'),
        (
            {"state": {"terminated": {"exitCode": 128}}},
            False,
            'container "c" in pod "web" is terminated',
        ),
    ],
)
def test_no_run_to_read_is_the_kubelets_400(
    status: dict[str, Any], previous: bool, message: str
) -> None:
    with pytest.raises(errors.BadRequest) as info:
        choose_run(pod("c", statuses=[{"name": "c", **status}]), "c", previous)
    assert info.value.message == message


def test_a_container_without_status_is_not_available() -> None:
    with pytest.raises(errors.BadRequest, match=r'^container "c" in pod "web" is not available$'):
        choose_run(pod("c"), "c", False)


def test_kubelet_url_prefers_the_hostname_and_sorts_the_query() -> None:
    node = {
        "status": {
            "addresses": [
                {"type": "InternalIP", "address": "10.0.0.1"},
                {"type": "Hostname", "address": "n1"},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10255}},
        }
    }
    opts = LogOptions(follow=True, tail_lines=3, timestamps=True, limit_bytes=9)
    url, host, port = kubelet_url(node, pod("c"), "c", opts)
    assert (
        url
        == "https://n1:10255/containerLogs/ns/web/c?follow=true&limitBytes=9&tailLines=3&timestamps=true"
    )
    assert (host, port) == ("n1", 10255)
    with pytest.raises(
        KubeletUnreachable, match=r"^no preferred addresses found; known addresses: \[\]$"
    ) as info:
        kubelet_url({"status": {}}, pod("c"), "c", opts)
    assert info.value.to_status()["code"] == 500 and "reason" not in info.value.to_status()
