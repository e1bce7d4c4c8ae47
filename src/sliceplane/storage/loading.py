"""The state file on disk: created safely, checked before and while it is read, loaded.

A new state file is made under another name and renamed into place, so a file at the
path is always one sliceplane finished creating. Before SQLite opens an existing one, its
header and write-ahead log are checked (``statefile``); every row is then validated as it
is loaded, and the newest revision is compared with the acknowledged high-water mark kept
outside SQLite. Any problem is one :class:`StateError` line that says what to do;
``--accept-data-loss`` continues from what is intact instead.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import msgspec

from sliceplane.api.meta import name_of
from sliceplane.storage.history import Entry
from sliceplane.storage.objects import Key, Stored
from sliceplane.storage.statefile import (
    SCHEMA_VERSION,
    StateError,
    check_header,
    check_wal,
    mark_path,
    read_mark,
    wal_path,
)

log = logging.getLogger(__name__)
_decode = msgspec.json.decode

SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    resource TEXT NOT NULL,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    rv INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (resource, namespace, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS history (
    rv INTEGER PRIMARY KEY,
    resource TEXT NOT NULL,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    data BLOB NOT NULL,
    at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
"""
_TABLES = frozenset({"objects", "history", "meta"})
_EVENT_TYPES = frozenset({"ADDED", "MODIFIED", "DELETED"})


@dataclass(slots=True)
class Loaded:
    """A state file read and validated (see :func:`_load`)."""

    objects: list[tuple[str, Key, Stored]]
    history: list[Entry]
    revision: int
    """The highest revision found in rows or in the meta table."""
    clean: bool
    schema_version: int | None


def connect_ro(path: Path) -> sqlite3.Connection:
    # Read-only: validating must not checkpoint (nor delete) a WAL we may refuse.
    return sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True, check_same_thread=False)


def _bad_row(path: Path, table: str, where: str, problem: str) -> StateError:
    return StateError(path, f"{table} row {where} {problem}; the state database is damaged")


def load(db: sqlite3.Connection, path: Path, *, integrity: bool | None) -> Loaded:
    """Read and check every row; ``integrity`` None means "only after an unclean stop"."""
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if not tables >= _TABLES:
        shown = ", ".join(sorted(tables)[:5]) or "none"
        raise StateError(path, f"is not a sliceplane state database (tables: {shown})")
    meta: dict[str, str] = {}
    for k, v in db.execute("SELECT k, v FROM meta"):
        if not isinstance(k, str) or not isinstance(v, str):
            raise _bad_row(path, "meta", repr(k)[:40], "has values of the wrong type")
        meta[k] = v
    version: int | None = None
    if "schema_version" in meta:
        text = meta["schema_version"]
        if not text.isdigit():
            raise StateError(path, f"has an unreadable schema version {text[:20]!r}")
        version = int(text)
        if version > SCHEMA_VERSION:
            raise StateError(
                path,
                f"was written by a newer sliceplane (schema version {version}; this one "
                f"reads up to {SCHEMA_VERSION})",
            )
    clean = meta.get("clean_shutdown") == "1"
    if integrity or (integrity is None and not clean):
        rows = [str(r[0]) for r in db.execute("PRAGMA integrity_check(5)")]
        if rows != ["ok"]:
            lines = [ln.strip() for r in rows for ln in r.splitlines()]
            first = next((ln for ln in lines if ln and not ln.startswith("***")), "?")
            raise StateError(path, f"fails SQLite's integrity check: {first[:200]}")
    revision = 0
    rev_text = meta.get("revision")
    if rev_text is not None:
        if not rev_text.isdigit():
            raise _bad_row(path, "meta", "'revision'", f"is not a number ({rev_text[:20]!r})")
        revision = int(rev_text)
    objects: list[tuple[str, Key, Stored]] = []
    for resource, ns, name, rv, data in db.execute(
        "SELECT resource, namespace, name, rv, data FROM objects"
    ):
        where = f"{resource}/{ns}/{name}" if ns else f"{resource}/{name}"
        item = _checked_row(path, "objects", where[:200], rv, data, (resource, ns, name))
        if name_of(item.obj) != name:
            raise _bad_row(path, "objects", where[:200], "holds an object of another name")
        objects.append((resource, (ns, name), item))
        revision = max(revision, rv)
    history: list[Entry] = []
    for rv, resource, ns, name, typ, data, at in db.execute(
        "SELECT rv, resource, namespace, name, type, data, at FROM history ORDER BY rv"
    ):
        where = f"at revision {rv!r}"[:80]
        item = _checked_row(path, "history", where, rv, data, (resource, ns, name))
        if typ not in _EVENT_TYPES or not isinstance(at, int | float):
            raise _bad_row(path, "history", where, "has a bad event type or time")
        history.append(Entry(rv, typ, resource, (ns, name), item.raw, None, 0, float(at)))
        revision = max(revision, rv)
    return Loaded(objects, history, revision, clean, version)


def _checked_row(
    path: Path, table: str, where: str, rv: object, data: object, names: tuple[object, ...]
) -> Stored:
    if not all(isinstance(n, str) for n in names):
        raise _bad_row(path, table, where, "has a name of the wrong type")
    if not isinstance(rv, int) or isinstance(rv, bool) or rv <= 0:
        raise _bad_row(path, table, where, f"has a revision of the wrong type ({rv!r:.20})")
    if isinstance(data, str):
        data = data.encode()
    if not isinstance(data, bytes):
        raise _bad_row(path, table, where, "has data of the wrong type")
    try:
        obj = _decode(data)
    except msgspec.DecodeError as exc:
        raise _bad_row(path, table, where, f"does not decode as JSON ({exc})") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("metadata"), dict):
        raise _bad_row(path, table, where, "is not an object with metadata")
    if obj["metadata"].get("resourceVersion") != str(rv):
        raise _bad_row(path, table, where, "disagrees with its resourceVersion")
    return Stored(obj if table == "objects" else None, data, rv)


def create(path: Path) -> None:
    """A new, empty state file, made under another name and renamed into place: a file at
    ``path`` is therefore always one we finished creating (an empty one is damage)."""
    tmp = path.with_name(path.name + ".new")
    for stale in (tmp, wal_path(tmp), tmp.with_name(tmp.name + "-shm")):
        stale.unlink(missing_ok=True)
    os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    db = sqlite3.connect(tmp, isolation_level=None)
    try:
        db.executescript(SCHEMA)
        db.execute(
            "INSERT INTO meta(k, v) VALUES ('schema_version', ?), ('clean_shutdown', '1')",
            (str(SCHEMA_VERSION),),
        )
    finally:
        db.close()
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def preflight(path: Path, accept_data_loss: bool) -> int | None:
    """Checks before SQLite opens the file; returns the high-water mark."""
    mark = read_mark(path)
    if not path.exists():
        if mark:
            raise StateError(
                path,
                f"is missing, but revision {mark} was acknowledged ({mark_path(path).name}); "
                "restore it, or remove the data directory to start a new cluster",
            )
        return mark
    check_header(path)
    damage = check_wal(path)
    if damage is not None:
        if not accept_data_loss:
            raise StateError(
                path,
                f"the write-ahead log is damaged ({damage}); acknowledged writes would be "
                "lost. Restore the data directory from a copy, or start with "
                "--accept-data-loss to keep what is intact",
            )
        aside = wal_path(path).with_name(f"{wal_path(path).name}.damaged-{int(time.time())}")
        shutil.copyfile(wal_path(path), aside)
        log.warning("%s: continuing from what is intact; damaged log kept as %s", path, aside)
    return mark


def check_mark(path: Path, loaded: Loaded, mark: int | None, accept_data_loss: bool) -> None:
    if mark is None or mark <= loaded.revision:
        return
    if accept_data_loss:
        log.warning(
            "%s: revisions %d..%d were acknowledged but are gone; continuing after %d",
            path,
            loaded.revision + 1,
            mark,
            mark,
        )
        return
    raise StateError(
        path,
        f"the newest stored revision is {loaded.revision}, but revision {mark} was "
        f"acknowledged ({mark_path(path).name}): acknowledged writes are missing "
        f"(a damaged, truncated or deleted {wal_path(path).name}?). Restore the data "
        "directory from a copy, or start with --accept-data-loss to keep what is intact",
    )


def read_state(
    path: Path, *, accept_data_loss: bool, integrity: bool | None, create_missing: bool
) -> tuple[Loaded, int | None]:
    """Every check, then every row: the state file checked before SQLite opens it, read
    read-only, and compared with the acknowledged high-water mark (returned too).

    ``create_missing`` makes a new, empty state file where there is none (the store's
    first start); ``integrity`` as :func:`load`. Any problem is a :class:`StateError`.
    """
    mark = preflight(path, accept_data_loss)
    if create_missing and not path.exists():
        create(path)
    try:
        db = connect_ro(path)
        try:
            loaded = load(db, path, integrity=integrity)
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        raise StateError(path, f"is damaged: {exc}") from None
    check_mark(path, loaded, mark, accept_data_loss)
    return loaded, mark


def check_state(path: Path) -> str:
    """``sliceplane apiserver --check``: every check, read-only; a one-line summary.

    Raises :class:`StateError` with the first problem found.
    """
    path = Path(path)
    if not path.exists():
        raise StateError(path, "does not exist")
    loaded, mark = read_state(path, accept_data_loss=False, integrity=True, create_missing=False)
    shutdown = "clean" if loaded.clean else "not clean"
    return (
        f"{path}: ok ({len(loaded.objects)} objects, {len(loaded.history)} history events, "
        f"revision {max(loaded.revision, mark or 0)}, last shutdown {shutdown})"
    )
