"""Container logs: the CRI log file format and the ``pods/log`` options (pure).

Why here: two sides meet on these files without importing each other. The process runtime
(``workloads.kubelet``) writes what a container prints, and the API server
(``apiserver.podlogs``) answers ``kubectl logs`` from it, as kube-apiserver relays the
kubelet's answer. The format is the one container runtimes write for the kubelet under
``/var/log/pods/<ns>_<pod>_<uid>/<container>/<restartCount>.log``, one line per chunk
of output::

    2026-12-03T13:53:35.123456789Z stdout F the line, without its newline

``F`` ends a line; ``P`` is a part of a longer one (runtimes cut lines at 16 KiB). The
reading rules (``tailLines``, ``sinceTime``/``sinceSeconds``, ``limitBytes``,
``timestamps``) are the kubelet's (``pkg/kubelet/kuberuntime/logs``), and the
query parameters are validated with kube-apiserver's messages (``ValidatePodLogOptions``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from sliceplane.api import errors
from sliceplane.api.field import ErrorList, Path, go_quote

MAX_LINE: Final = 16 * 1024
"""Longer output lines are written as ``P`` parts of this size (containerd's default)."""


def format_timestamp(ns: int) -> str:
    """Go's ``time.RFC3339Nano`` for Unix nanoseconds ``ns``: UTC, fraction without
    trailing zeros (none on a whole second)."""
    seconds, frac = divmod(ns, 1_000_000_000)
    text = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    digits = f"{frac:09d}".rstrip("0")
    return f"{text}.{digits}Z" if digits else f"{text}Z"


def parse_timestamp(text: str) -> int | None:
    """Unix nanoseconds of an RFC 3339 time with up to nine fraction digits, or None."""
    m = _RFC3339.fullmatch(text)
    if m is None:
        return None
    date, frac, zone = m.group(1), m.group(2) or "", m.group(3)
    try:
        base = datetime.fromisoformat(date + ("+00:00" if zone in ("Z", "z") else zone))
    except ValueError:
        return None
    return int(base.timestamp()) * 1_000_000_000 + int((frac + "000000000")[:9])


_RFC3339: Final = re.compile(
    r"(\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})"
)


# ---------------------------------------------------------------------------- writing


def encode_lines(ns: int, stream: str, data: bytes, *, final: bool) -> tuple[bytes, bytes]:
    """Cut ``data`` (what a container printed on ``stream``, ``stdout`` or ``stderr``) into
    CRI log lines stamped ``ns``; returns (the lines, the unfinished rest to keep). With
    ``final`` (the stream ended), the rest is written too, as a full line."""
    stamp = format_timestamp(ns).encode() + b" " + stream.encode() + b" "
    out: list[bytes] = []
    start = 0
    while True:
        nl = data.find(b"\n", start)
        if nl < 0:
            break
        while nl - start > MAX_LINE:
            out.append(stamp + b"P " + data[start : start + MAX_LINE] + b"\n")
            start += MAX_LINE
        out.append(stamp + b"F " + data[start:nl] + b"\n")
        start = nl + 1
    rest = data[start:]
    while len(rest) > MAX_LINE:
        out.append(stamp + b"P " + rest[:MAX_LINE] + b"\n")
        rest = rest[MAX_LINE:]
    if final and rest:
        out.append(stamp + b"F " + rest + b"\n")
        rest = b""
    return b"".join(out), rest


# ---------------------------------------------------------------------------- reading


@dataclass(frozen=True, slots=True)
class LogLine:
    """One parsed CRI log line."""

    ns: int
    stream: str
    partial: bool
    content: bytes

    @property
    def output(self) -> bytes:
        """What the container printed: the content, plus its newline unless partial."""
        return self.content if self.partial else self.content + b"\n"


def parse_line(raw: bytes) -> LogLine | None:
    """A CRI log line (with or without its newline); None for one that is not."""
    if raw.endswith(b"\n"):
        raw = raw[:-1]
    parts = raw.split(b" ", 3)
    if len(parts) < 3:
        return None
    ns = parse_timestamp(parts[0].decode("ascii", "replace"))
    stream = parts[1].decode("ascii", "replace")
    if ns is None or stream not in ("stdout", "stderr"):
        return None
    tag = parts[2]
    content = parts[3] if len(parts) == 4 else b""
    return LogLine(ns, stream, tag == b"P", content)


@dataclass(frozen=True, slots=True)
class LogOptions:
    """``PodLogOptions`` as the query string gives them (``core/v1``)."""

    container: str = ""
    follow: bool = False
    previous: bool = False
    timestamps: bool = False
    since_seconds: int | None = None
    since_time: str | None = None
    tail_lines: int | None = None
    limit_bytes: int | None = None
    stream: str = ""
    """Refused when given (``PodLogsQuerySplitStreams`` is off upstream in v1.37)."""
    insecure_skip_tls_verify_backend: bool = False

    def since_ns(self, now_ns: int) -> int | None:
        """The earliest timestamp to show, from ``sinceTime`` or ``sinceSeconds``."""
        if self.since_time is not None:
            return parse_timestamp(self.since_time)
        if self.since_seconds is not None:
            return now_ns - self.since_seconds * 1_000_000_000
        return None


def parse_options(query: Mapping[str, str], pod_name: str) -> LogOptions:
    """The query string as ``PodLogOptions``: 400 for a value that does not parse, 422
    (``PodLogOptions "<pod>" is invalid``) for one ``ValidatePodLogOptions`` refuses."""

    def flag(name: str) -> bool:
        # apimachinery's query conversion: anything but "false" or "0" is true.
        value = query.get(name)
        return value is not None and value.lower() not in ("false", "0")

    def integer(name: str) -> int | None:
        value = query.get(name)
        if value is None:
            return None
        body = value[1:] if value[:1] in "+-" else value
        if not body or not body.isascii() or not body.isdigit():
            raise errors.BadRequest(f"strconv.ParseInt: parsing {go_quote(value)}: invalid syntax")
        return int(value)

    since_time = query.get("sinceTime")
    if since_time is not None and parse_timestamp(since_time) is None:
        raise errors.BadRequest(
            f'parsing time {go_quote(since_time)} as "2006-01-02T15:04:05Z07:00": '
            f'cannot parse {go_quote(since_time)} as "2006"'
        )
    opts = LogOptions(
        container=query.get("container", ""),
        follow=flag("follow"),
        previous=flag("previous"),
        timestamps=flag("timestamps"),
        since_seconds=integer("sinceSeconds"),
        since_time=since_time,
        tail_lines=integer("tailLines"),
        limit_bytes=integer("limitBytes"),
        stream=query.get("stream", ""),
        insecure_skip_tls_verify_backend=flag("insecureSkipTLSVerifyBackend"),
    )
    errs = validate_options(opts)
    if errs:
        raise errors.Invalid("PodLogOptions", "", pod_name, errs)
    return opts


def validate_options(opts: LogOptions) -> ErrorList:
    """``ValidatePodLogOptions``: the field errors kube-apiserver reports, in its order."""
    errs: ErrorList = []
    if opts.tail_lines is not None and opts.tail_lines < 0:
        errs.append(
            Path("tailLines").invalid(opts.tail_lines, "must be greater than or equal to 0")
        )
    if opts.limit_bytes is not None and opts.limit_bytes < 1:
        errs.append(Path("limitBytes").invalid(opts.limit_bytes, "must be greater than 0"))
    if opts.since_seconds is not None and opts.since_time is not None:
        errs.append(
            Path("[]").forbidden("at most one of `sinceTime` or `sinceSeconds` may be specified")
        )
    if opts.since_seconds is not None and opts.since_seconds < 1:
        errs.append(Path("sinceSeconds").invalid(opts.since_seconds, "must be greater than 0"))
    if opts.stream:
        # PodLogsQuerySplitStreams is off in v1.37: kube-apiserver refuses the field.
        errs.append(Path("stream").forbidden("may not be specified"))
    return errs


class Selection:
    """Which lines of a log, in what form, the options ask for: fed lines in order
    (:meth:`feed`), it yields the bytes to send, stopping at ``limitBytes``. The tail is
    applied by the caller first (:func:`tail_start`), as the kubelet seeks before reading."""

    def __init__(self, opts: LogOptions, now_ns: int) -> None:
        self.opts = opts
        self.since = opts.since_ns(now_ns)
        self.left = opts.limit_bytes
        self._continuing = False  # the previous line shown was a partial one

    @property
    def exhausted(self) -> bool:
        return self.left is not None and self.left <= 0

    def feed(self, lines: Iterable[LogLine]) -> Iterator[bytes]:
        for line in lines:
            if self.exhausted:
                return
            if self.since is not None and line.ns < self.since:
                continue
            out = line.output
            if self.opts.timestamps and not self._continuing:
                out = format_timestamp(line.ns).encode() + b" " + out
            self._continuing = line.partial
            if self.left is not None:
                out = out[: self.left]
                self.left -= len(out)
            yield out


def tail_start(data: bytes, lines: int) -> int:
    """Offset in ``data`` (whole CRI lines) where its last ``lines`` lines begin."""
    if lines <= 0:
        return len(data)
    end = len(data) - 1 if data.endswith(b"\n") else len(data)
    pos = end
    for _ in range(lines):
        pos = data.rfind(b"\n", 0, pos)
        if pos < 0:
            return 0
    return pos + 1


def split_lines(data: bytes) -> tuple[list[LogLine], int]:
    """The whole lines in ``data`` parsed (unparseable ones skipped) and how many bytes
    they took; a trailing unfinished line is left for the next read."""
    out: list[LogLine] = []
    start = 0
    while True:
        nl = data.find(b"\n", start)
        if nl < 0:
            return out, start
        line = parse_line(data[start:nl])
        if line is not None:
            out.append(line)
        start = nl + 1
