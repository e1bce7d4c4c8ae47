"""SPDY/3.1 framing: bytes in, frames out, and frames in, bytes out (pure, no I/O).

Why our own: ``kubectl port-forward`` (and ``exec``'s fallback) speak SPDY/3.1 as
moby/spdystream implements it, either over a plain ``Upgrade: SPDY/3.1`` connection or
tunnelled in WebSocket binary messages (KEP-4006); no maintained Python library speaks
SPDY/3.1, and the part a server needs is small: the eight control frames, data frames, and
the header blocks compressed with one zlib stream per direction primed with the SPDY/3
dictionary (:mod:`.spdydict`).

Wire layout (SPDY/3 draft, section 2.2):

* control frame: ``1 | version:15 | type:16 | flags:8 | length:24 | payload``;
* data frame: ``0 | stream-id:31 | flags:8 | length:24 | data``;
* header block: ``count:32`` then per header ``len:32 name len:32 value``, several values
  of one name joined by NUL; compressed as a whole, ending with a zlib sync flush.

:class:`FrameReader` is incremental (``feed`` any slice of the byte stream, take whole
frames), because a WebSocket message or a TCP read need not end on a frame boundary.
A malformed stream raises :class:`ProtocolError`; the session then goes away.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from sliceplane.apiserver.streaming.spdydict import HEADER_DICTIONARY

VERSION: Final = 3

SYN_STREAM: Final = 1
SYN_REPLY: Final = 2
RST_STREAM: Final = 3
SETTINGS: Final = 4
PING: Final = 6
GOAWAY: Final = 7
HEADERS: Final = 8
WINDOW_UPDATE: Final = 9

FLAG_FIN: Final = 0x01
FLAG_UNIDIRECTIONAL: Final = 0x02

MAX_DATA_LENGTH: Final = (1 << 24) - 1

# RST_STREAM status codes (SPDY/3 section 2.6.2).
PROTOCOL_ERROR: Final = 1
INVALID_STREAM: Final = 2
REFUSED_STREAM: Final = 3
CANCEL: Final = 5
INTERNAL_ERROR: Final = 6

MAX_HEADER_BLOCK: Final = 1 << 20
"""Largest decompressed header block taken (a zlib bomb guard); kubectl's are < 100 bytes."""

Headers = dict[str, list[str]]


class ProtocolError(Exception):
    """The byte stream is not SPDY/3.1."""


@dataclass(frozen=True, slots=True)
class SynStream:
    stream_id: int
    headers: Headers
    flags: int = 0
    associated_to: int = 0
    priority: int = 0


@dataclass(frozen=True, slots=True)
class SynReply:
    stream_id: int
    headers: Headers = field(default_factory=dict)
    flags: int = 0


@dataclass(frozen=True, slots=True)
class RstStream:
    stream_id: int
    status: int


@dataclass(frozen=True, slots=True)
class Settings:
    entries: tuple[tuple[int, int, int], ...] = ()
    """``(flags, id, value)`` per setting."""
    flags: int = 0


@dataclass(frozen=True, slots=True)
class Ping:
    ping_id: int


@dataclass(frozen=True, slots=True)
class GoAway:
    last_good_stream_id: int
    status: int = 0


@dataclass(frozen=True, slots=True)
class HeadersFrame:
    stream_id: int
    headers: Headers
    flags: int = 0


@dataclass(frozen=True, slots=True)
class WindowUpdate:
    stream_id: int
    delta: int


@dataclass(frozen=True, slots=True)
class Data:
    stream_id: int
    data: bytes
    flags: int = 0

    @property
    def fin(self) -> bool:
        return bool(self.flags & FLAG_FIN)


@dataclass(frozen=True, slots=True)
class UnknownControl:
    """A control frame of a type SPDY/3.1 does not define (ignored, as the draft says)."""

    frame_type: int


Frame = (
    SynStream
    | SynReply
    | RstStream
    | Settings
    | Ping
    | GoAway
    | HeadersFrame
    | WindowUpdate
    | Data
    | UnknownControl
)


# ---------------------------------------------------------------------------- header blocks


def encode_header_block(headers: Mapping[str, Sequence[str]]) -> bytes:
    """The uncompressed block: names lower-cased (SPDY requires it), values NUL-joined."""
    out = [struct.pack(">I", len(headers))]
    for name, values in headers.items():
        n = name.lower().encode()
        v = "\x00".join(values).encode()
        out.append(struct.pack(">I", len(n)) + n + struct.pack(">I", len(v)) + v)
    return b"".join(out)


def decode_header_block(block: bytes) -> Headers:
    """The headers of an uncompressed block; ``ProtocolError`` if it is cut short."""
    try:
        (count,) = struct.unpack_from(">I", block, 0)
        pos = 4
        headers: Headers = {}
        for _ in range(count):
            (nlen,) = struct.unpack_from(">I", block, pos)
            name = block[pos + 4 : pos + 4 + nlen]
            pos += 4 + nlen
            (vlen,) = struct.unpack_from(">I", block, pos)
            value = block[pos + 4 : pos + 4 + vlen]
            pos += 4 + vlen
            if len(name) != nlen or len(value) != vlen or not name:
                raise ProtocolError("header block cut short")
            headers.setdefault(name.decode("latin-1").lower(), []).extend(
                value.decode("latin-1").split("\x00")
            )
    except struct.error as exc:
        raise ProtocolError("header block cut short") from exc
    if pos != len(block):
        raise ProtocolError("trailing bytes after the header block")
    return headers


def header(headers: Headers, name: str) -> str:
    """The first value of ``name`` ('' if absent), as Go's ``http.Header.Get``."""
    values = headers.get(name.lower())
    return values[0] if values else ""


# ---------------------------------------------------------------------------- reading


class FrameReader:
    """Frames from a SPDY/3.1 byte stream, fed in pieces (one per direction and session:
    the header decompressor carries state from one block to the next)."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._inflate = zlib.decompressobj(zdict=HEADER_DICTIONARY)

    def feed(self, data: bytes) -> Iterator[Frame]:
        """Add ``data``; yield every frame now complete."""
        self._buf += data
        while len(self._buf) >= 8:
            length = int.from_bytes(self._buf[5:8], "big")
            if len(self._buf) < 8 + length:
                return
            head = bytes(self._buf[:8])
            payload = bytes(self._buf[8 : 8 + length])
            del self._buf[: 8 + length]
            yield self._frame(head, payload)

    def _frame(self, head: bytes, payload: bytes) -> Frame:
        flags = head[4]
        if not head[0] & 0x80:
            stream_id = int.from_bytes(head[0:4], "big") & 0x7FFFFFFF
            return Data(stream_id, payload, flags)
        version = int.from_bytes(head[0:2], "big") & 0x7FFF
        if version != VERSION:
            raise ProtocolError(f"unsupported SPDY version {version}")
        kind = int.from_bytes(head[2:4], "big")
        try:
            return self._control(kind, flags, payload)
        except struct.error as exc:
            raise ProtocolError(f"control frame {kind} too short") from exc

    def _control(self, kind: int, flags: int, p: bytes) -> Frame:
        if kind == SYN_STREAM:
            sid, assoc = struct.unpack_from(">II", p, 0)
            return SynStream(
                sid & 0x7FFFFFFF, self._headers(p[10:]), flags, assoc & 0x7FFFFFFF, p[8] >> 5
            )
        if kind == SYN_REPLY:
            (sid,) = struct.unpack_from(">I", p, 0)
            return SynReply(sid & 0x7FFFFFFF, self._headers(p[4:]), flags)
        if kind == HEADERS:
            (sid,) = struct.unpack_from(">I", p, 0)
            return HeadersFrame(sid & 0x7FFFFFFF, self._headers(p[4:]), flags)
        if kind == RST_STREAM:
            sid, status = struct.unpack_from(">II", p, 0)
            return RstStream(sid & 0x7FFFFFFF, status)
        if kind == SETTINGS:
            (count,) = struct.unpack_from(">I", p, 0)
            entries = []
            for i in range(count):
                flag_id, value = struct.unpack_from(">II", p, 4 + 8 * i)
                entries.append((flag_id >> 24, flag_id & 0xFFFFFF, value))
            return Settings(tuple(entries), flags)
        if kind == PING:
            (pid,) = struct.unpack_from(">I", p, 0)
            return Ping(pid)
        if kind == GOAWAY:
            last, status = struct.unpack_from(">II", p, 0)
            return GoAway(last & 0x7FFFFFFF, status)
        if kind == WINDOW_UPDATE:
            sid, delta = struct.unpack_from(">II", p, 0)
            return WindowUpdate(sid & 0x7FFFFFFF, delta & 0x7FFFFFFF)
        return UnknownControl(kind)

    def _headers(self, compressed: bytes) -> Headers:
        try:
            block = self._inflate.decompress(compressed, MAX_HEADER_BLOCK)
        except zlib.error as exc:
            raise ProtocolError(f"header block does not decompress: {exc}") from exc
        if self._inflate.unconsumed_tail:
            raise ProtocolError("header block too large")
        return decode_header_block(block)


# ---------------------------------------------------------------------------- writing


class FrameWriter:
    """Bytes of frames (one per direction and session: the header compressor carries
    state from one block to the next, as the peer's decompressor expects)."""

    def __init__(self) -> None:
        self._deflate = zlib.compressobj(zlib.Z_BEST_COMPRESSION, zdict=HEADER_DICTIONARY)

    def encode(self, frame: Frame) -> bytes:
        if isinstance(frame, Data):
            if len(frame.data) > MAX_DATA_LENGTH:
                raise ValueError("data frame too long; split it")
            return (
                struct.pack(">I", frame.stream_id & 0x7FFFFFFF)
                + _flags_length(frame.flags, len(frame.data))
                + frame.data
            )
        if isinstance(frame, SynStream):
            body = struct.pack(
                ">IIBB", frame.stream_id, frame.associated_to, (frame.priority & 7) << 5, 0
            ) + self._headers(frame.headers)
            return _control(SYN_STREAM, frame.flags, body)
        if isinstance(frame, SynReply):
            body = struct.pack(">I", frame.stream_id) + self._headers(frame.headers)
            return _control(SYN_REPLY, frame.flags, body)
        if isinstance(frame, HeadersFrame):
            body = struct.pack(">I", frame.stream_id) + self._headers(frame.headers)
            return _control(HEADERS, frame.flags, body)
        if isinstance(frame, RstStream):
            return _control(RST_STREAM, 0, struct.pack(">II", frame.stream_id, frame.status))
        if isinstance(frame, Settings):
            body = struct.pack(">I", len(frame.entries)) + b"".join(
                struct.pack(">II", (f << 24) | i, v) for f, i, v in frame.entries
            )
            return _control(SETTINGS, frame.flags, body)
        if isinstance(frame, Ping):
            return _control(PING, 0, struct.pack(">I", frame.ping_id))
        if isinstance(frame, GoAway):
            body = struct.pack(">II", frame.last_good_stream_id, frame.status)
            return _control(GOAWAY, 0, body)
        if isinstance(frame, WindowUpdate):
            return _control(WINDOW_UPDATE, 0, struct.pack(">II", frame.stream_id, frame.delta))
        raise ValueError(f"cannot encode {frame!r}")

    def _headers(self, headers: Mapping[str, Sequence[str]]) -> bytes:
        block = encode_header_block(headers)
        return self._deflate.compress(block) + self._deflate.flush(zlib.Z_SYNC_FLUSH)


def _flags_length(flags: int, length: int) -> bytes:
    return struct.pack(">I", ((flags & 0xFF) << 24) | length)


def _control(kind: int, flags: int, body: bytes) -> bytes:
    return struct.pack(">HH", 0x8000 | VERSION, kind) + _flags_length(flags, len(body)) + body
