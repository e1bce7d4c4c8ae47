"""``sliceplane backup`` and ``sliceplane apiserver --restore-from``: the recovery path for
a state directory that was refused (docs/reliability.md).

A backup is SQLite's online backup of the state database (consistent even while the server
writes), checked like a start would check it before it is kept. A restore puts a checked
backup in place of the state database and moves what was there aside; the revision
high-water mark stays, so the restored server continues *above* every revision it ever
acknowledged (a backup is older than that) and every watch relists: no client sees a
resourceVersion go backwards.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from pathlib import Path

from sliceplane.storage.loading import check_state, connect_ro, preflight
from sliceplane.storage.statefile import RevisionMark, StateError, wal_path


def backup(db_path: Path, out: Path) -> str:
    """Copy ``db_path`` to ``out`` (0600, replaced atomically); the check's summary line."""
    if not db_path.exists():
        raise StateError(db_path, "does not exist")
    preflight(db_path, accept_data_loss=False)
    tmp = out.with_name(out.name + ".partial")
    tmp.unlink(missing_ok=True)
    os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    try:
        src = connect_ro(db_path)
        dst = sqlite3.connect(tmp)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        finally:
            dst.close()
            src.close()
        summary = check_state(tmp)
    except sqlite3.DatabaseError as exc:
        tmp.unlink(missing_ok=True)
        raise StateError(db_path, f"cannot be backed up: {exc}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, out)
    return summary.replace(str(tmp), str(out), 1)


def restore(db_path: Path, source: Path) -> Path | None:
    """Put the checked backup ``source`` in place of ``db_path``; returns where the state
    it replaced was moved (None if there was none)."""
    check_state(source)
    lock = RevisionMark(db_path)  # refuses while a server runs on this directory
    try:
        return _put_in_place(db_path, source)
    finally:
        lock.close()


def _put_in_place(db_path: Path, source: Path) -> Path | None:
    moved: Path | None = None
    stamp = time.strftime("%Y%m%dT%H%M%S")
    for p in (db_path, wal_path(db_path), db_path.with_name(db_path.name + "-shm")):
        if p.exists():
            aside = p.with_name(f"{p.name}.replaced-{stamp}")
            os.replace(p, aside)
            moved = moved or aside
    tmp = db_path.with_name(db_path.name + ".restoring")
    shutil.copyfile(source, tmp)
    tmp.chmod(0o600)
    os.replace(tmp, db_path)
    return moved
