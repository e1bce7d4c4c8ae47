"""The CRI log format and the pods/log options (``api.containerlog``), pure."""

from __future__ import annotations

import pytest

from sliceplane.api import errors
from sliceplane.api.containerlog import (
    MAX_LINE,
    LogOptions,
    Selection,
    encode_lines,
    format_timestamp,
    parse_line,
    parse_options,
    parse_timestamp,
    split_lines,
    tail_start,
)

T0 = 1_796_308_800_123_456_789  # 2026-12-03T14:40:00.123456789Z


def test_timestamps_are_rfc3339_nano_without_trailing_zeros() -> None:
    assert format_timestamp(T0) == "2026-12-03T14:40:00.123456789Z"
    assert format_timestamp(1_796_308_800_100_000_000) == "2026-12-03T14:40:00.1Z"
    assert format_timestamp(1_796_308_800_000_000_000) == "2026-12-03T14:40:00Z"
    assert parse_timestamp("2026-12-03T14:40:00.123456789Z") == T0
    assert parse_timestamp("2026-12-03T15:40:00+01:00") == 1_796_308_800_000_000_000
    assert parse_timestamp("yesterday") is None


def test_output_is_cut_into_full_and_partial_lines() -> None:
    data, rest = encode_lines(T0, "stdout", b"one\ntwo\nthr", final=False)
    assert data == (
        b"2026-12-03T14:40:00.123456789Z stdout F one\n"
        b"2026-12-03T14:40:00.123456789Z stdout F two\n"
    )
    assert rest == b"thr"
    data, rest = encode_lines(T0, "stderr", rest, final=True)
    assert data == b"2026-12-03T14:40:00.123456789Z stderr F thr\n" and rest == b""
    long = b"x" * (MAX_LINE + 5) + b"\n"
    data, _ = encode_lines(T0, "stdout", long, final=False)
    lines, _ = split_lines(data)
    assert [(line.partial, len(line.content)) for line in lines] == [(True, MAX_LINE), (False, 5)]
    assert b"".join(line.output for line in lines) == long


def test_parse_line_refuses_what_is_not_a_cri_line() -> None:
    assert parse_line(b"hello world") is None
    line = parse_line(b"2026-12-03T14:40:00Z stdout F with spaces  kept\n")
    assert line is not None and line.content == b"with spaces  kept" and not line.partial


def test_tail_start_finds_the_last_lines() -> None:
    data = b"a\nb\nc\n"
    assert data[tail_start(data, 2) :] == b"b\nc\n"
    assert tail_start(data, 10) == 0
    assert tail_start(data, 0) == len(data)


def lines(*items: tuple[int, str]) -> bytes:
    return b"".join(
        encode_lines(ns, "stdout", text.encode() + b"\n", final=False)[0] for ns, text in items
    )


def test_selection_since_limit_and_timestamps() -> None:
    parsed, _ = split_lines(lines((T0, "old"), (T0 + 10**9, "new one"), (T0 + 2 * 10**9, "last")))
    since = Selection(LogOptions(since_seconds=2), now_ns=T0 + 3 * 10**9)
    assert b"".join(since.feed(parsed)) == b"new one\nlast\n"
    limited = Selection(LogOptions(limit_bytes=6), now_ns=T0)
    assert b"".join(limited.feed(parsed)) == b"old\nne" and limited.exhausted
    stamped = Selection(LogOptions(timestamps=True, since_time="2026-12-03T14:40:02Z"), T0)
    assert b"".join(stamped.feed(parsed)) == b"2026-12-03T14:40:02.123456789Z last\n"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            {"tailLines": "-1"},
            'PodLogOptions "p" is invalid: tailLines: Invalid value: -1: '
            "must be greater than or equal to 0",
        ),
        (
            {"limitBytes": "0"},
            'PodLogOptions "p" is invalid: limitBytes: Invalid value: 0: must be greater than 0',
        ),
        (
            {"sinceSeconds": "0"},
            'PodLogOptions "p" is invalid: sinceSeconds: Invalid value: 0: must be greater than 0',
        ),
        (
            {"sinceSeconds": "5", "sinceTime": "2026-01-01T00:00:00Z"},
            'PodLogOptions "p" is invalid: []: Forbidden: '
            "at most one of `sinceTime` or `sinceSeconds` may be specified",
        ),
        (
            {"stream": "Stdout"},
            'PodLogOptions "p" is invalid: stream: Forbidden: may not be specified',
        ),
    ],
)
def test_invalid_options_are_422_with_upstreams_text(query: dict[str, str], message: str) -> None:
    with pytest.raises(errors.Invalid) as info:
        parse_options(query, "p")
    assert info.value.message == message


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"tailLines": "abc"}, 'strconv.ParseInt: parsing "abc": invalid syntax'),
        (
            {"sinceTime": "yesterday"},
            'parsing time "yesterday" as "2006-01-02T15:04:05Z07:00": '
            'cannot parse "yesterday" as "2006"',
        ),
    ],
)
def test_unparseable_options_are_400(query: dict[str, str], message: str) -> None:
    with pytest.raises(errors.BadRequest) as info:
        parse_options(query, "p")
    assert info.value.message == message


def test_booleans_are_true_unless_false_or_0() -> None:
    assert parse_options(
        {"follow": "maybe", "previous": "0", "timestamps": "FALSE"}, "p"
    ) == LogOptions(follow=True)
