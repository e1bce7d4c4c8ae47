"""How an attach turns the run's CRI log lines into channel messages (pure)."""

from __future__ import annotations

import pytest

from sliceplane.apiserver.streaming.attachsession import CHUNK, frames
from sliceplane.apiserver.streaming.pods import ExecOptions

T = "2026-12-04T21:00:00.000000000Z"


def opts(*, stdout: bool = True, stderr: bool = True, tty: bool = False) -> ExecOptions:
    return ExecOptions((), "c", False, stdout, stderr, tty)


def log(*lines: tuple[str, str, str]) -> bytes:
    return b"".join(f"{T} {stream} {tag} {text}\n".encode() for stream, tag, text in lines)


@pytest.mark.parametrize(
    ("data", "options", "messages"),
    [
        # one stream's lines go as one message; a partial line keeps no newline
        (log(("stdout", "F", "a"), ("stdout", "P", "b"), ("stdout", "F", "c")), opts(),
         [b"\x01a\nbc\n"]),
        # streams apart, in order
        (log(("stdout", "F", "a"), ("stderr", "F", "e"), ("stdout", "F", "b")), opts(),
         [b"\x01a\n", b"\x02e\n", b"\x01b\n"]),
        # a TTY merges stderr into stdout
        (log(("stdout", "F", "a"), ("stderr", "F", "e")), opts(tty=True), [b"\x01a\ne\n"]),
        # streams not asked for are left out
        (log(("stdout", "F", "a"), ("stderr", "F", "e")), opts(stderr=False), [b"\x01a\n"]),
        (log(("stdout", "F", "a"), ("stderr", "F", "e")), opts(stdout=False), [b"\x02e\n"]),
        # an unparseable line is skipped
        (b"garbage\n" + log(("stdout", "F", "a")), opts(), [b"\x01a\n"]),
        (b"", opts(), []),
    ],
)  # fmt: skip
def test_frames(data: bytes, options: ExecOptions, messages: list[bytes]) -> None:
    out, used = frames(data, options)
    assert out == messages
    assert used == len(data)


def test_an_unfinished_line_waits_for_the_next_read() -> None:
    whole = log(("stdout", "F", "a"))
    out, used = frames(whole + f"{T} stdout F b".encode(), opts())
    assert out == [b"\x01a\n"]
    assert used == len(whole)


def test_long_output_is_split_into_messages_of_about_a_chunk() -> None:
    line = "x" * 1000
    data = log(*[("stdout", "F", line)] * 100)
    out, _ = frames(data, opts())
    assert len(out) > 1
    assert all(m[:1] == b"\x01" and len(m) <= CHUNK + 1 + 1001 for m in out)
    assert b"".join(m[1:] for m in out) == (line + "\n").encode() * 100
