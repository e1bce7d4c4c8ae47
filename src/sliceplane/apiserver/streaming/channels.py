"""The ``channel.k8s.io`` WebSocket framing of ``kubectl exec`` (v4 and v5), pure.

Why: since kubectl 1.30 ``exec`` speaks WebSockets first (KEP-4006). Every binary
message starts with a channel byte: 0 stdin, 1 stdout, 2 stderr, 3 error (one
``metav1.Status`` JSON when the command ends), 4 resize (``{"Width":w,"Height":h}``).
``v5.channel.k8s.io`` adds channel 255, "close": a message ``[255, N]`` means the sender
will write no more on channel N (how kubectl says stdin reached EOF; v4 cannot say it).

The Status written on channel 3 is the kubelet's (``remotecommand.ServeExec``):
``Success``, or ``NonZeroExitCode`` with the code as an ``ExitCode`` cause (kubectl exits
with it), or an internal error.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

STDIN: Final = 0
STDOUT: Final = 1
STDERR: Final = 2
ERROR: Final = 3
RESIZE: Final = 4
CLOSE: Final = 255

V5: Final = "v5.channel.k8s.io"
V4: Final = "v4.channel.k8s.io"
PROTOCOLS: Final = (V5, V4)
"""The subprotocols served, most preferred first (kubectl offers v5 then v4)."""


@dataclass(frozen=True, slots=True)
class Message:
    channel: int
    data: bytes


@dataclass(frozen=True, slots=True)
class Resize:
    width: int
    height: int


def parse(message: bytes) -> Message | None:
    """A received message (None for an empty one, which carries nothing)."""
    if not message:
        return None
    return Message(message[0], message[1:])


def frame(channel: int, data: bytes) -> bytes:
    return bytes((channel,)) + data


def close_signal(channel: int) -> bytes:
    """v5's "no more data on ``channel``"."""
    return bytes((CLOSE, channel))


def closed_channel(msg: Message) -> int | None:
    """The channel a v5 close message closes (None if ``msg`` is not one)."""
    if msg.channel != CLOSE or len(msg.data) != 1:
        return None
    return msg.data[0]


def parse_resize(data: bytes) -> Resize | None:
    """A terminal size from channel 4 (None if it is not one: ignored, as upstream logs)."""
    try:
        doc = json.loads(data)
        width, height = int(doc["Width"]), int(doc["Height"])
    except (ValueError, KeyError, TypeError):
        return None
    if not (0 <= width <= 0xFFFF and 0 <= height <= 0xFFFF):
        return None
    return Resize(width, height)


def negotiate(offered: Sequence[str]) -> str | None:
    """The subprotocol to answer with: the first served one the client offered."""
    wanted = {p.strip() for p in offered}
    return next((p for p in PROTOCOLS if p in wanted), None)


def success_status() -> dict[str, Any]:
    return {"metadata": {}, "status": "Success"}


def exit_status(command: Sequence[str], code: int) -> dict[str, Any]:
    """The Status of a command that exited non-zero (the kubelet's, with the CRI
    runtime's ``error executing command [argv], exit code N`` as the cause)."""
    argv = " ".join(command)
    return {
        "metadata": {},
        "status": "Failure",
        "message": (
            "command terminated with non-zero exit code: "
            f"error executing command [{argv}], exit code {code}"
        ),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }


def internal_status(message: str) -> dict[str, Any]:
    """``apierrors.NewInternalError(err)`` as written on the error channel."""
    return {
        "metadata": {},
        "status": "Failure",
        "message": f"Internal error occurred: {message}",
        "reason": "InternalError",
        "details": {"causes": [{"message": message}]},
        "code": 500,
    }


def status_bytes(status: dict[str, Any]) -> bytes:
    return json.dumps(status, separators=(",", ":")).encode()
