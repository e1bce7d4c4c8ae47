"""Which pod and container a streaming request is for, and upstream's refusals."""

from __future__ import annotations

from typing import Any

import pytest

from sliceplane.api import errors
from sliceplane.apiserver.streaming import pods
from sliceplane.apiserver.streaming.portforward import dial_text, forward_error, stream_refusal


def pod(*names: str, node: str = "n1", init: tuple[str, ...] = (), cid: str = "") -> dict[str, Any]:
    obj: dict[str, Any] = {
        "metadata": {"name": "p", "namespace": "ns", "uid": "u"},
        "spec": {
            "nodeName": node,
            "containers": [{"name": n} for n in names],
            "initContainers": [{"name": n} for n in init],
        },
        "status": {"podIP": "10.0.0.1", "podIPs": [{"ip": "10.0.0.2"}]},
    }
    if cid:
        obj["status"]["containerStatuses"] = [
            {"name": names[0], "containerID": cid, "state": {"running": {}}}
        ]
    return obj


@pytest.mark.parametrize(
    ("obj", "requested", "message"),
    [
        (pod("a"), "", None),
        (pod("a", "b"), "b", None),
        (pod("a", init=("i",)), "i", None),
        (pod(), "", "a container name must be specified for pod p"),
        (
            pod("a", "b", init=("i",)),
            "",
            "a container name must be specified for pod p, choose one of: [i a b]",
        ),
        (pod("a"), "z", "container z is not valid for pod p"),
    ],
)
def test_container_of(obj: dict[str, Any], requested: str, message: str | None) -> None:
    if message is None:
        assert pods.container_of(obj, requested)["name"] == (requested or "a")
        return
    with pytest.raises(errors.BadRequest) as exc:
        pods.container_of(obj, requested)
    assert exc.value.message == message


def test_no_host_assigned() -> None:
    with pytest.raises(errors.BadRequest) as exc:
        pods.node_of(pod("a", node=""))
    assert exc.value.message == "pod p does not have a host assigned"


@pytest.mark.parametrize(
    ("query", "streams"),
    [
        ({"stdout": "true", "stderr": "true"}, (False, True, True, False)),
        ({"stdin": "1", "stdout": "T", "tty": "true", "stderr": "true"}, (True, True, False, True)),
        ({"stdout": "yes", "stderr": "FALSE"}, (False, True, False, False)),
        ({"stdout": "0", "stdin": "false"}, None),
        ({}, None),
    ],
)
def test_exec_options(query: dict[str, str], streams: tuple[bool, ...] | None) -> None:
    if streams is None:
        with pytest.raises(errors.BadRequest) as exc:
            pods.exec_options(query, ["ls"], pod("a"))
        assert exc.value.message == "you must specify at least 1 of stdin, stdout, stderr"
        return
    opts = pods.exec_options(query, ["ls", "-l"], pod("a"))
    assert (opts.stdin, opts.stdout, opts.stderr, opts.tty) == streams
    assert (opts.command, opts.container) == (("ls", "-l"), "a")


def test_container_is_checked_before_the_streams() -> None:
    with pytest.raises(errors.BadRequest) as exc:
        pods.exec_options({"container": "z"}, ["ls"], pod("a"))
    assert "not valid" in exc.value.message


def test_who_serves_a_pod() -> None:
    assert pods.process_backed(pod("a", cid="process://42"))
    assert not pods.process_backed(pod("a", cid="sliceplane://abc"))
    assert not pods.process_backed(pod("a"))
    assert pods.running_container(pod("a", cid="process://42"), "a")
    assert not pods.running_container(pod("a", cid="process://42"), "b")
    assert pods.pod_ip(pod("a")) == "10.0.0.2"  # podIPs[0] first, as upstream


def test_unknown_status_has_no_reason() -> None:
    status = pods.unknown_status(500, "error dialing backend: x")
    assert "reason" not in status and status["code"] == 500


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({"port": ["80"], "streamtype": ["data"]}, None),
        ({"port": ["80"], "streamtype": ["error"], "requestid": ["1"]}, None),
        ({"streamtype": ["data"]}, '"port" header is required'),
        ({"port": ["x"], "streamtype": ["data"]}, 'unable to parse "x" as a port'),
        ({"port": ["70000"], "streamtype": ["data"]}, 'unable to parse "70000" as a port'),
        ({"port": ["0"], "streamtype": ["data"]}, 'port "0" must be > 0'),
        ({"port": ["80"]}, '"streamType" header is required'),
        ({"port": ["80"], "streamtype": ["x"]}, 'invalid stream type "x"'),
    ],
)
def test_stream_refusal(headers: dict[str, list[str]], why: str | None) -> None:
    assert stream_refusal(headers) == why


def test_forward_error_words() -> None:
    assert (
        forward_error(81, "p", "u", dial_text("10.0.0.2:81", ConnectionRefusedError()))
        == "error forwarding port 81 to pod p, uid u: "
        "dial tcp4 10.0.0.2:81: connect: connection refused"
    )
    assert dial_text("a:1", TimeoutError()) == "dial tcp4 a:1: i/o timeout"


def test_kubelet_address_prefers_as_kube_apiserver_does() -> None:
    node = {
        "metadata": {"name": "n1"},
        "status": {
            "addresses": [
                {"type": "ExternalIP", "address": "1.2.3.4"},
                {"type": "InternalIP", "address": "10.0.0.5"},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10251}},
        },
    }
    assert pods.kubelet_address(node) == "10.0.0.5:10251"
    node["status"]["addresses"].append({"type": "Hostname", "address": "n1.local"})
    assert pods.kubelet_address(node) == "n1.local:10251"
    v6 = {
        "metadata": {"name": "n"},
        "status": {"addresses": [{"type": "InternalIP", "address": "fd00::1"}]},
    }
    assert pods.kubelet_address(v6) == "[fd00::1]:10250"


def test_exec_location_is_the_kubelet_url_upstream_builds() -> None:
    opts = pods.ExecOptions(("sh", "-c", "echo a b&c"), "a", True, True, False, True)
    assert pods.exec_location("10.0.0.5:10250", pod("a"), opts) == (
        "https://10.0.0.5:10250/exec/ns/p/a?"
        "command=sh&command=-c&command=echo+a+b%26c&input=1&output=1&tty=1"
    )


def test_spdy_exec_expects_the_kubelets_streams() -> None:
    from sliceplane.apiserver.streaming.spdyexec import expected_roles

    assert expected_roles(stdin=False, stdout=True, stderr=True, tty=False) == {
        "error",
        "stdout",
        "stderr",
    }
    assert expected_roles(stdin=True, stdout=True, stderr=False, tty=True) == {
        "error",
        "stdin",
        "stdout",
        "resize",
    }


def test_attach_location_has_no_command() -> None:
    opts = pods.attach_options({"stdout": "true", "stderr": "1"}, pod("a"))
    assert opts.command == ()
    assert pods.exec_location("10.0.0.5:10250", pod("a"), opts, "attach") == (
        "https://10.0.0.5:10250/attach/ns/p/a?error=1&output=1"
    )
    with pytest.raises(errors.BadRequest, match="at least 1 of stdin, stdout, stderr"):
        pods.attach_options({}, pod("a"))


def test_restart_count_names_the_current_run() -> None:
    p = pod("a", cid="process://1")
    assert pods.restart_count(p, "a") == 0
    p["status"]["containerStatuses"][0]["restartCount"] = 3
    assert pods.restart_count(p, "a") == 3
    assert pods.restart_count(p, "other") == 0
