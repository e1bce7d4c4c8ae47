"""Reading SQLite's write-ahead log ourselves, before SQLite does, to find damage.

SQLite recovers a WAL by walking its frames until the first one whose checksum or salts
do not match, and silently ignores everything from there on. That is right for the torn
tail a crash leaves (a transaction that never committed), but it also swallows committed,
acknowledged transactions when a frame in the *middle* is damaged, or the whole log when
its header is. etcd refuses to start on a WAL record with a CRC mismatch; we do the same,
so this module tells the two situations apart:

* **damage**: the header is malformed, or a frame fails its checksum while a *later* frame
  of the same log generation (same salts, checksum chained from the frame before it)
  carries a commit — committed work would be dropped;
* **a torn tail**: frames after the last valid commit that never verify — harmless,
  SQLite discards them and so do we.

Frame layout, checksums and salts as in SQLite's file format documentation ("The
Write-Ahead Log File Format"). Pure functions over bytes; the store reads the file.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

WAL_HEADER = 32
FRAME_HEADER = 24
_MAGIC_LE = 0x377F0682
_MAGIC_BE = 0x377F0683
_VERSION = 3007000
_MASK = 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class WalReport:
    """What a scan found. ``damage`` is None when SQLite's recovery loses nothing committed."""

    frames: int
    """Frames that verify, from the start of the log."""
    commits: int
    """Commit frames among them (transactions SQLite will replay)."""
    damage: str | None = None
    lost_commits: int = 0
    """Committed transactions after the damage that SQLite would drop."""


def _checksum(data: bytes, big_endian: bool, s0: int, s1: int) -> tuple[int, int]:
    words = struct.unpack(f"{'>' if big_endian else '<'}{len(data) // 4}I", data)
    for i in range(0, len(words), 2):
        s0 = (s0 + words[i] + s1) & _MASK
        s1 = (s1 + words[i + 1] + s0) & _MASK
    return s0, s1


def scan(wal: bytes) -> WalReport:
    """Scan a whole WAL file's bytes; see the module docstring for what counts as damage."""
    if not wal:
        return WalReport(0, 0)
    if len(wal) < WAL_HEADER:
        return WalReport(0, 0, f"the header is truncated ({len(wal)} of {WAL_HEADER} bytes)")
    magic, version, page_size, _seq, salt1, salt2, c0, c1 = struct.unpack(">8I", wal[:32])
    if magic not in (_MAGIC_LE, _MAGIC_BE):
        return WalReport(0, 0, f"bad header magic 0x{magic:08x}")
    big = magic == _MAGIC_BE
    if version != _VERSION:
        return WalReport(0, 0, f"bad header version {version}")
    if page_size < 512 or page_size > 65536 or page_size & (page_size - 1):
        return WalReport(0, 0, f"bad header page size {page_size}")
    if _checksum(wal[:24], big, 0, 0) != (c0, c1):
        return WalReport(0, 0, "the header fails its checksum")
    frame_size = FRAME_HEADER + page_size
    n_frames = (len(wal) - WAL_HEADER) // frame_size
    s0, s1 = c0, c1
    frames = commits = 0
    for i in range(n_frames):
        off = WAL_HEADER + i * frame_size
        hdr = wal[off : off + FRAME_HEADER]
        _pgno, db_size, fs1, fs2, k0, k1 = struct.unpack(">6I", hdr)
        if (fs1, fs2) != (salt1, salt2):
            break
        t0, t1 = _checksum(hdr[:8], big, s0, s1)
        t0, t1 = _checksum(wal[off + FRAME_HEADER : off + frame_size], big, t0, t1)
        if (t0, t1) != (k0, k1):
            break
        s0, s1 = k0, k1
        frames += 1
        if db_size:
            commits += 1
    else:
        return WalReport(frames, commits)
    # The chain broke at frame index `frames`. A torn tail has nothing valid after it; a
    # damaged middle has later frames of this generation that verify when chained from
    # their predecessor's stored checksum, and one of them commits.
    broken = frames
    lost = 0
    prev = wal[WAL_HEADER + (broken - 1) * frame_size : WAL_HEADER + broken * frame_size]
    p0, p1 = (c0, c1) if broken == 0 else struct.unpack(">2I", prev[16:24])
    for i in range(broken, n_frames):
        off = WAL_HEADER + i * frame_size
        hdr = wal[off : off + FRAME_HEADER]
        _pgno, db_size, fs1, fs2, k0, k1 = struct.unpack(">6I", hdr)
        if (fs1, fs2) == (salt1, salt2) and i > broken:
            t0, t1 = _checksum(hdr[:8], big, p0, p1)
            t0, t1 = _checksum(wal[off + FRAME_HEADER : off + frame_size], big, t0, t1)
            if (t0, t1) == (k0, k1) and db_size:
                lost += 1
        p0, p1 = k0, k1
    if lost:
        return WalReport(
            frames,
            commits,
            f"frame {broken + 1} of {n_frames} fails its checksum with {lost} committed "
            "transaction(s) after it",
            lost,
        )
    return WalReport(frames, commits)
