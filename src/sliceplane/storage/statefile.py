"""Refusing damaged or foreign state, and the revision high-water mark kept beside it.

The store must never start silently on state that lost acknowledged writes, nor on a file
that is not its own: clients cache resourceVersions, and a server that hands out a revision
lower than one it already acknowledged makes their caches lie. Everything here raises
:class:`StateError`, whose message is one line naming the file and the problem (the CLI
prints it and exits 2).

The **high-water mark** (``state.sqlite.revision``) is the newest revision the store has
acknowledged, written after each commit and before the answer goes out. It lives outside
SQLite on purpose: when the WAL is truncated, loses its header or is deleted, SQLite opens
happily with older state, and the mark is how we notice. It is a fixed-width overwrite at
offset 0 without fsync: it survives ``kill -9`` (the page cache is the kernel's); on power
loss it can only lag the WAL, which SQLite fsynced first, so it never raises a false alarm.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from sliceplane.storage.walscan import scan

SQLITE_MAGIC = b"SQLite format 3\x00"
SCHEMA_VERSION = 1
"""The layout this code writes and reads; a state file from a newer one is refused."""
_MARK_WIDTH = 21


class StateError(Exception):
    """The state directory cannot be used as it is; the message is one line."""

    def __init__(self, path: Path, problem: str) -> None:
        problem = " ".join(problem.split())
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


def check_header(path: Path) -> None:
    """Refuse a state file that is empty or not SQLite (before SQLite touches it)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(100)
    except OSError as exc:
        raise StateError(path, f"cannot read: {exc.strerror}") from None
    if not head:
        raise StateError(
            path,
            "is empty (0 bytes), not a sliceplane state database; "
            "remove the data directory to start a new cluster",
        )
    if not head.startswith(SQLITE_MAGIC):
        raise StateError(path, "is not an SQLite database (bad header)")
    if len(head) < 100:
        raise StateError(path, f"is truncated ({len(head)} bytes, shorter than its header)")


def check_wal(db_path: Path) -> str | None:
    """The damage in ``db_path``'s WAL that would lose committed transactions, if any."""
    wal = wal_path(db_path)
    try:
        data = wal.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"cannot read {wal.name}: {exc.strerror}"
    report = scan(data)
    return None if report.damage is None else f"{wal.name}: {report.damage}"


def wal_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + "-wal")


def mark_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".revision")


def read_mark(db_path: Path) -> int | None:
    """The acknowledged high-water mark, None if there is none yet."""
    p = mark_path(db_path)
    try:
        text = p.read_text().strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise StateError(p, f"cannot read the revision high-water mark: {exc}") from None
    if not text:
        return None  # created, then a crash before the first write
    if not text.isdigit():
        raise StateError(p, f"the revision high-water mark is not a number: {text[:40]!r}")
    return int(text)


class RevisionMark:
    """The open high-water mark file; :meth:`write` is called from the writer thread."""

    def __init__(self, db_path: Path) -> None:
        self.path = mark_path(db_path)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        self.value = 0
        try:
            # One server per state file, as etcd locks its data directory: two would hand
            # out the same revisions.
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._fd)
            raise StateError(
                db_path, "is in use by another sliceplane apiserver (its lock is held)"
            ) from None

    def write(self, rv: int) -> None:
        if rv <= self.value:
            return
        os.pwrite(self._fd, f"{rv:<{_MARK_WIDTH - 1}}\n".encode(), 0)
        self.value = rv

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.fsync(self._fd)
        os.close(self._fd)
