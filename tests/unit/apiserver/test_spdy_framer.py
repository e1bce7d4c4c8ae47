"""The SPDY/3.1 framer: exact bytes, header blocks, compression state, bad input."""

from __future__ import annotations

import zlib

import pytest

from sliceplane.apiserver.streaming import spdy
from sliceplane.apiserver.streaming.spdydict import HEADER_DICTIONARY

# Written by moby/spdystream's own Framer (the one kubectl uses), one compressor for all
# four: SYN_STREAM error + data of request 0 on port 8080, DATA "hi" with FIN, SYN_REPLY.
SPDYSTREAM_FRAMES = bytes.fromhex(
    "800300010000003e0000000100000000000078f9e3c6a7c202253a703a2b294a4dcc851625aca9a080"
    "8614cb45e01c60616061c0c0c0c0590489c64c50f2663400000000ffff"
    "800300010000001c00000003000000000000826ac61445350e543225a29b06000000ffff"
    "00000003010000026869"
    "800300020000000e000000016260606000000000ffff"
)


def test_reads_what_spdystream_writes() -> None:
    frames = list(spdy.FrameReader().feed(SPDYSTREAM_FRAMES))
    assert frames == [
        spdy.SynStream(1, {"streamtype": ["error"], "port": ["8080"], "requestid": ["0"]}),
        spdy.SynStream(3, {"streamtype": ["data"], "port": ["8080"], "requestid": ["0"]}),
        spdy.Data(3, b"hi", spdy.FLAG_FIN),
        spdy.SynReply(1, {}),
    ]
    assert frames[2].fin  # type: ignore[union-attr]


def test_frames_split_anywhere_come_out_the_same() -> None:
    reader = spdy.FrameReader()
    frames = [
        f for i in range(len(SPDYSTREAM_FRAMES)) for f in reader.feed(SPDYSTREAM_FRAMES[i : i + 1])
    ]
    assert frames == list(spdy.FrameReader().feed(SPDYSTREAM_FRAMES))


@pytest.mark.parametrize(
    ("frame", "wire"),
    [
        (spdy.Data(3, b"hi", spdy.FLAG_FIN), "00000003010000026869"),
        (spdy.Data(5, b""), "0000000500000000"),
        (spdy.Ping(7), "800300060000000400000007"),
        (spdy.RstStream(1, spdy.CANCEL), "80030003000000080000000100000005"),
        (spdy.GoAway(9, 0), "80030007000000080000000900000000"),
        (spdy.WindowUpdate(3, 65536), "80030009000000080000000300010000"),
        (spdy.Settings(((0, 7, 1000),)), "800300040000000c0000000100000007000003e8"),
    ],
)
def test_frames_without_headers_have_exact_bytes(frame: spdy.Frame, wire: str) -> None:
    assert spdy.FrameWriter().encode(frame).hex() == wire
    assert list(spdy.FrameReader().feed(bytes.fromhex(wire))) == [frame]


def test_header_frames_round_trip_through_one_compression_stream() -> None:
    writer, reader = spdy.FrameWriter(), spdy.FrameReader()
    frames: list[spdy.Frame] = [
        spdy.SynStream(1, {"streamtype": ["error"], "port": ["80"], "requestid": ["7"]}),
        spdy.SynStream(3, {"streamtype": ["data"], "port": ["80"], "requestid": ["7"]}, priority=2),
        spdy.SynReply(1),
        spdy.HeadersFrame(3, {"x": ["a", "b"]}),
    ]
    wire = b"".join(writer.encode(f) for f in frames)
    assert list(reader.feed(wire)) == frames
    # the second block leans on the first (shared zlib window): a fresh reader fails on it
    second = writer.encode(frames[1])
    with pytest.raises(spdy.ProtocolError):
        list(spdy.FrameReader().feed(second))


def test_a_compressed_block_is_zlib_with_the_spdy_dictionary() -> None:
    wire = spdy.FrameWriter().encode(spdy.SynReply(1, {"a": ["b"]}))
    inflate = zlib.decompressobj(zdict=HEADER_DICTIONARY)
    block = inflate.decompress(wire[12:])
    assert spdy.decode_header_block(block) == {"a": ["b"]}


@pytest.mark.parametrize(
    ("headers", "block"),
    [
        ({}, "00000000"),
        ({"Port": ["80"]}, "0000000100000004706f7274000000023830"),
        ({"x": ["a", "b"]}, "00000001000000017800000003610062"),
    ],
)
def test_header_block_codec(headers: dict[str, list[str]], block: str) -> None:
    assert spdy.encode_header_block(headers).hex() == block
    assert spdy.decode_header_block(bytes.fromhex(block)) == {
        k.lower(): v for k, v in headers.items()
    }


@pytest.mark.parametrize(
    "block",
    [
        "000000",  # no count
        "0000000100000004706f",  # name cut short
        "0000000100000001780000000961",  # value cut short
        "000000010000000000000000",  # empty name
        "00000000ff",  # trailing bytes
    ],
)
def test_malformed_header_blocks_are_refused(block: str) -> None:
    with pytest.raises(spdy.ProtocolError):
        spdy.decode_header_block(bytes.fromhex(block))


@pytest.mark.parametrize(
    "wire",
    [
        "800200060000000400000001",  # SPDY/2
        "800300010000000e00000001000000000000deadbeef",  # not zlib
        "80030006000000020000",  # PING too short
    ],
)
def test_malformed_frames_are_protocol_errors(wire: str) -> None:
    with pytest.raises(spdy.ProtocolError):
        list(spdy.FrameReader().feed(bytes.fromhex(wire)))


def test_unknown_control_frames_are_passed_over() -> None:
    assert list(spdy.FrameReader().feed(bytes.fromhex("8003000a00000000"))) == [
        spdy.UnknownControl(10)
    ]


def test_header_lookup_is_case_insensitive_and_first_value() -> None:
    assert spdy.header({"requestid": ["4", "5"]}, "requestID") == "4"
    assert spdy.header({}, "port") == ""
