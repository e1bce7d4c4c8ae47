"""Damaged and foreign state files are refused with one line; revisions never rewind.

Every case damages a real SQLite database (and its real write-ahead log) the way disks,
crashes and people do, then starts a :class:`Store` on it.
"""

from __future__ import annotations

import shutil
import sqlite3
import stat
import struct
from pathlib import Path

import pytest

from sliceplane.storage.statefile import StateError
from sliceplane.storage.store import Store, TooOld, check_state
from sliceplane.storage.walscan import FRAME_HEADER, WAL_HEADER, scan

DB = "state.sqlite"


def pod(name: str) -> dict[str, object]:
    return {"kind": "Pod", "metadata": {"name": name, "namespace": "default"}}


async def crash_image(src: Path, dst: Path, n: int = 150) -> int:
    """Write ``n`` pods one commit each, then copy the live files as ``kill -9`` leaves them.

    Returns the last acknowledged revision.
    """
    s = Store(src / DB)
    await s.start()
    for i in range(n):
        await s.create("pods", ("default", f"p{i}"), pod(f"p{i}"))
    last = s.revision
    dst.mkdir()
    for suffix in ("", "-wal", "-shm", ".revision"):
        if (src / (DB + suffix)).exists():
            shutil.copyfile(src / (DB + suffix), dst / (DB + suffix))
    await s.stop()
    return last


async def start(path: Path, **kw: object) -> Store:
    s = Store(path / DB, **kw)  # type: ignore[arg-type]
    await s.start()
    return s


async def refused(path: Path) -> str:
    with pytest.raises(StateError) as info:
        await start(path)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(str(path))
    return msg


def frames(path: Path) -> tuple[int, int]:
    wal = (path / (DB + "-wal")).read_bytes()
    page = struct.unpack(">I", wal[8:12])[0]
    return (len(wal) - WAL_HEADER) // (FRAME_HEADER + page), page


async def test_a_crash_image_starts_and_keeps_every_acknowledged_write(tmp_path: Path) -> None:
    last = await crash_image(tmp_path / "a", tmp_path / "b")
    report = scan((tmp_path / "b" / (DB + "-wal")).read_bytes())
    assert report.damage is None and report.commits >= 150
    s = await start(tmp_path / "b")
    assert s.count("pods") == 150 and s.revision == last
    nxt = await s.create("pods", ("default", "after"), pod("after"))
    assert nxt.rv == last + 1
    await s.stop()


async def test_a_torn_tail_is_a_crash_not_damage(tmp_path: Path) -> None:
    """Garbage after the last commit is what a crash mid-append leaves: SQLite drops it."""
    last = await crash_image(tmp_path / "a", tmp_path / "b")
    with open(tmp_path / "b" / (DB + "-wal"), "ab") as fh:
        fh.write(b"\x5a" * 3000)
    s = await start(tmp_path / "b")
    assert s.revision == last
    await s.stop()


async def test_a_corrupted_middle_frame_is_refused(tmp_path: Path) -> None:
    await crash_image(tmp_path / "a", tmp_path / "b")
    n, page = frames(tmp_path / "b")
    wal = tmp_path / "b" / (DB + "-wal")
    data = bytearray(wal.read_bytes())
    off = WAL_HEADER + (n // 2) * (FRAME_HEADER + page) + FRAME_HEADER + 100
    data[off : off + 8] = b"\xff" * 8
    wal.write_bytes(bytes(data))
    msg = await refused(tmp_path / "b")
    assert "write-ahead log is damaged" in msg and "fails its checksum" in msg
    assert f"frame {n // 2 + 1} of {n}" in msg
    # The damaged log is left as it was for whoever repairs it.
    assert wal.read_bytes() == bytes(data)


async def test_a_bad_wal_header_is_refused(tmp_path: Path) -> None:
    await crash_image(tmp_path / "a", tmp_path / "b")
    wal = tmp_path / "b" / (DB + "-wal")
    data = bytearray(wal.read_bytes())
    data[0:4] = b"\x00\x00\x00\x00"
    wal.write_bytes(bytes(data))
    assert "bad header magic" in await refused(tmp_path / "b")
    data[0:4] = struct.pack(">I", 0x377F0682)
    data[13] ^= 0x01  # checkpoint sequence: the header checksum no longer matches
    wal.write_bytes(bytes(data))
    assert "header fails its checksum" in await refused(tmp_path / "b")


@pytest.mark.parametrize("cut", [0.5, 0.9], ids=["half", "tail"])
async def test_a_truncated_wal_is_refused_by_the_high_water_mark(
    tmp_path: Path, cut: float
) -> None:
    last = await crash_image(tmp_path / "a", tmp_path / "b")
    wal = tmp_path / "b" / (DB + "-wal")
    data = wal.read_bytes()
    wal.write_bytes(data[: int(len(data) * cut)])
    msg = await refused(tmp_path / "b")
    assert f"but revision {last} was acknowledged" in msg
    assert "acknowledged writes are missing" in msg


async def test_a_deleted_wal_is_refused(tmp_path: Path) -> None:
    last = await crash_image(tmp_path / "a", tmp_path / "b")
    (tmp_path / "b" / (DB + "-wal")).unlink()
    (tmp_path / "b" / (DB + "-shm")).unlink()
    assert f"revision {last} was acknowledged" in await refused(tmp_path / "b")


async def test_accepting_the_loss_never_rewinds_revisions(tmp_path: Path) -> None:
    last = await crash_image(tmp_path / "a", tmp_path / "b")
    wal = tmp_path / "b" / (DB + "-wal")
    wal.write_bytes(wal.read_bytes()[: wal.stat().st_size // 2])
    s = await start(tmp_path / "b", accept_data_loss=True)
    kept = s.count("pods")
    assert 0 < kept < 150
    # Revisions continue above everything ever acknowledged ...
    assert s.revision == last
    nxt = await s.create("pods", ("default", "after"), pod("after"))
    assert nxt.rv == last + 1
    # ... and no watch may resume across the hole: its client must relist.
    with pytest.raises(TooOld):
        s.watch("pods", None, last - 1)
    await s.stop()
    s = await start(tmp_path / "b")  # the accepted state is now consistent
    assert s.count("pods") == kept + 1
    await s.stop()


async def test_a_missing_state_file_with_a_high_water_mark_is_refused(tmp_path: Path) -> None:
    s = await start(tmp_path)
    await s.create("pods", ("default", "a"), pod("a"))
    await s.stop()
    (tmp_path / DB).unlink()
    assert "is missing, but revision 1 was acknowledged" in await refused(tmp_path)


async def clean_db(path: Path) -> Path:
    s = await start(path)
    for i in range(20):
        await s.create("pods", ("default", f"p{i}"), pod(f"p{i}"))
    await s.stop()
    return path / DB


def corrupt_page(db: Path, page_no: int) -> None:
    with open(db, "r+b") as fh:
        fh.seek((page_no - 1) * 4096)
        fh.write(b"\x0d\xff\xff\xff" + b"\xa5" * 60)


def sql(db: Path, *statements: str) -> None:
    conn = sqlite3.connect(db, isolation_level=None)
    for st in statements:
        conn.execute(st)
    conn.close()


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        pytest.param(lambda db: db.write_bytes(b""), "is empty (0 bytes)", id="empty-file"),
        pytest.param(
            lambda db: db.write_bytes(b"PK\x03\x04" + b"\x00" * 4000),
            "is not an SQLite database",
            id="not-sqlite",
        ),
        pytest.param(
            lambda db: db.write_bytes(db.read_bytes()[:60]), "is truncated", id="short-header"
        ),
        pytest.param(
            lambda db: (db.unlink(), sql(db, "CREATE TABLE songs(title TEXT)")),
            "is not a sliceplane state database (tables: songs)",
            id="foreign-sqlite",
        ),
        pytest.param(
            lambda db: corrupt_page(db, 2),
            "is damaged: database disk image is malformed",
            id="malformed-page",
        ),
        pytest.param(
            lambda db: sql(db, "UPDATE meta SET v='7' WHERE k='schema_version'"),
            "was written by a newer sliceplane (schema version 7",
            id="future-schema",
        ),
        pytest.param(
            lambda db: sql(db, "UPDATE objects SET data=X'7b2261223a' WHERE name='p3'"),
            "objects row pods/default/p3 does not decode as JSON",
            id="row-not-json",
        ),
        pytest.param(
            lambda db: sql(db, "UPDATE objects SET data='[1,2]' WHERE name='p4'"),
            "objects row pods/default/p4 is not an object with metadata",
            id="row-not-object",
        ),
        pytest.param(
            lambda db: sql(db, "UPDATE objects SET rv='seven' WHERE name='p5'"),
            "objects row pods/default/p5 has a revision of the wrong type",
            id="revision-wrong-type",
        ),
        pytest.param(
            lambda db: sql(db, "UPDATE history SET data=X'ff00' WHERE rv=3"),
            "history row at revision 3 does not decode as JSON",
            id="history-not-json",
        ),
        pytest.param(
            lambda db: sql(db, "UPDATE meta SET v='x9' WHERE k='revision'"),
            "meta row 'revision' is not a number",
            id="meta-revision",
        ),
    ],
)
async def test_damaged_or_foreign_state_is_refused_with_one_line(
    tmp_path: Path, damage: object, expected: str
) -> None:
    db = await clean_db(tmp_path)
    damage(db)  # type: ignore[operator]
    assert expected in await refused(tmp_path)
    with pytest.raises(StateError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        check_state(db)


def corrupt_index(db: Path) -> None:
    """Damage a page only SQLite's integrity check reads (meta's primary-key index)."""
    conn = sqlite3.connect(db)
    root = conn.execute(
        "SELECT rootpage FROM sqlite_master WHERE name='sqlite_autoindex_meta_1'"
    ).fetchone()[0]
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    with open(db, "r+b") as fh:
        fh.seek((root - 1) * page + 8)
        fh.write(b"\xee" * 64)


async def test_integrity_check_after_an_unclean_shutdown(tmp_path: Path) -> None:
    db = await clean_db(tmp_path)
    corrupt_index(db)
    # After a clean stop the start does not pay for a full check ...
    s = await start(tmp_path)
    await s.stop()
    # ... after an unclean one it does, and --check always does.
    sql(db, "UPDATE meta NOT INDEXED SET v='0' WHERE k='clean_shutdown'")
    corrupt_index(db)
    assert "fails SQLite's integrity check" in await refused(tmp_path)
    with pytest.raises(StateError, match="integrity check"):
        check_state(db)


async def test_check_reports_a_healthy_store(tmp_path: Path) -> None:
    db = await clean_db(tmp_path)
    line = check_state(db)
    assert line == f"{db}: ok (20 objects, 20 history events, revision 20, last shutdown clean)"


async def test_state_files_are_private(tmp_path: Path) -> None:
    s = await start(tmp_path)
    await s.create("pods", ("default", "a"), pod("a"))
    for suffix in ("", "-wal", ".revision"):
        mode = stat.S_IMODE((tmp_path / (DB + suffix)).stat().st_mode)
        assert mode == 0o600, (suffix, oct(mode))
    await s.stop()


async def test_one_store_per_state_file(tmp_path: Path) -> None:
    first = await start(tmp_path)
    msg = await refused(tmp_path)
    assert "is in use by another sliceplane apiserver" in msg
    await first.stop()
    second = await start(tmp_path)  # the lock went with the first
    await second.stop()


async def test_an_empty_high_water_mark_is_a_crash_before_its_first_write(
    tmp_path: Path,
) -> None:
    s = await start(tmp_path)
    await s.create("pods", ("default", "a"), pod("a"))
    await s.stop()
    (tmp_path / (DB + ".revision")).write_text("")
    s = await start(tmp_path)
    assert s.revision == 1
    await s.stop()
