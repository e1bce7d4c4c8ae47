"""The channel.k8s.io framing of exec and the Status it ends with."""

from __future__ import annotations

import json

import pytest

from sliceplane.apiserver.streaming import channels


@pytest.mark.parametrize(
    ("raw", "channel", "data"),
    [(b"\x00abc", 0, b"abc"), (b"\x01", 1, b""), (b"\xff\x00", 255, b"\x00")],
)
def test_parse(raw: bytes, channel: int, data: bytes) -> None:
    assert channels.parse(raw) == channels.Message(channel, data)


def test_empty_message_carries_nothing() -> None:
    assert channels.parse(b"") is None


def test_frame_and_close_signal() -> None:
    assert channels.frame(channels.STDOUT, b"hi") == b"\x01hi"
    assert channels.close_signal(channels.STDIN) == b"\xff\x00"
    assert channels.closed_channel(channels.Message(255, b"\x00")) == 0
    assert channels.closed_channel(channels.Message(0, b"\x00")) is None
    assert channels.closed_channel(channels.Message(255, b"\x00\x01")) is None


@pytest.mark.parametrize(
    ("data", "size"),
    [
        (b'{"Width":80,"Height":24}', channels.Resize(80, 24)),
        (b'{"Width":80}', None),
        (b'{"Width":-1,"Height":2}', None),
        (b'{"Width":70000,"Height":2}', None),
        (b"not json", None),
        (b'{"Width":"x","Height":1}', None),
    ],
)
def test_parse_resize(data: bytes, size: channels.Resize | None) -> None:
    assert channels.parse_resize(data) == size


@pytest.mark.parametrize(
    ("offered", "chosen"),
    [
        (["v5.channel.k8s.io", "v4.channel.k8s.io"], "v5.channel.k8s.io"),
        (["v4.channel.k8s.io", "v5.channel.k8s.io"], "v5.channel.k8s.io"),
        (["v4.channel.k8s.io"], "v4.channel.k8s.io"),
        (["channel.k8s.io", "base64.channel.k8s.io"], None),
        ([], None),
    ],
)
def test_negotiate(offered: list[str], chosen: str | None) -> None:
    assert channels.negotiate(offered) == chosen


def test_exit_status_is_the_kubelets() -> None:
    status = channels.exit_status(["sh", "-c", "exit 3"], 3)
    assert status == {
        "metadata": {},
        "status": "Failure",
        "message": "command terminated with non-zero exit code: "
        "error executing command [sh -c exit 3], exit code 3",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": "3"}]},
    }
    assert json.loads(channels.status_bytes(channels.success_status())) == {
        "metadata": {},
        "status": "Success",
    }


def test_internal_status() -> None:
    status = channels.internal_status("boom")
    assert status["message"] == "Internal error occurred: boom"
    assert (status["reason"], status["code"]) == ("InternalError", 500)
