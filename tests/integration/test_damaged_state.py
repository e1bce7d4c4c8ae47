"""The real ``sliceplane apiserver`` on damaged state: one line, exit 2, nothing rewound.

The server is killed with SIGKILL after acknowledged writes, so its write-ahead log is the
real one a crash leaves; then the log or the database is damaged and the server restarted.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from harness import BIN, ServerProcess

from sliceplane.client.client import Client

DB = "state.sqlite"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "sliceplane"), *args], capture_output=True, text=True, timeout=60
    )


async def write_then_kill(data: Path, n: int = 60) -> int:
    server = ServerProcess(data)
    server.start()
    try:
        client = await Client.connect(server.kubeconfig)
        last = 0
        try:
            for i in range(n):
                cm = {"metadata": {"name": f"cm-{i}", "labels": {"i": str(i)}}}
                obj = await client.create("endpoints", cm, "default")
                last = int(obj["metadata"]["resourceVersion"])
        finally:
            await client.close()
    finally:
        server.stop(signal.SIGKILL)
    assert (data / (DB + "-wal")).stat().st_size > 0
    return last


def one_line_exit_2(res: subprocess.CompletedProcess[str]) -> str:
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    assert "Traceback" not in res.stderr
    return lines[0]


def start_args(data: Path, *extra: str) -> list[str]:
    return ["apiserver", "--data-dir", str(data), "--listen", "127.0.0.1:0", *extra]


async def test_a_truncated_wal_is_refused_then_accepted_without_rewinding(tmp_path: Path) -> None:
    data = tmp_path / "data"
    last = await write_then_kill(data)
    wal = data / (DB + "-wal")
    wal.write_bytes(wal.read_bytes()[: wal.stat().st_size // 3])
    line = one_line_exit_2(run_cli(*start_args(data)))
    assert f"revision {last} was acknowledged" in line and "--accept-data-loss" in line
    assert "acknowledged writes are missing" in one_line_exit_2(
        run_cli("apiserver", "--data-dir", str(data), "--check")
    )
    # Refusing changed nothing: the same answer again.
    assert one_line_exit_2(run_cli(*start_args(data))) == line

    server = ServerProcess(data, ["--accept-data-loss"])
    server.start()
    try:
        client = await Client.connect(server.kubeconfig)
        try:
            page = await client.list_all("endpoints", "default")
            assert int(page.resource_version) >= last
            obj = await client.create("endpoints", {"metadata": {"name": "after"}}, "default")
            assert int(obj["metadata"]["resourceVersion"]) > last
        finally:
            await client.close()
    finally:
        assert server.stop() == 0
    res = run_cli("apiserver", "--data-dir", str(data), "--check")
    assert res.returncode == 0 and ": ok (" in res.stdout, res


async def test_a_corrupted_wal_frame_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    await write_then_kill(data)
    wal = data / (DB + "-wal")
    raw = bytearray(wal.read_bytes())
    mid = len(raw) // 2
    raw[mid : mid + 16] = bytes(b ^ 0x5A for b in raw[mid : mid + 16])
    wal.write_bytes(bytes(raw))
    line = one_line_exit_2(run_cli(*start_args(data)))
    assert "write-ahead log is damaged" in line and "fails its checksum" in line


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(b"", "is empty (0 bytes)", id="empty"),
        pytest.param(b'{"not": "sqlite"}' * 20, "is not an SQLite database", id="json"),
    ],
)
def test_a_foreign_state_file_is_refused(tmp_path: Path, content: bytes, expected: str) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / DB).write_bytes(content)
    assert expected in one_line_exit_2(run_cli(*start_args(data)))
    assert expected in one_line_exit_2(run_cli("apiserver", "--data-dir", str(data), "--check"))
    assert (data / DB).read_bytes() == content


def test_sliceplane_up_reports_the_same_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / DB).write_bytes(b"garbage" * 100)
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "sliceplane.cli.main",
            "up",
            "--data-dir",
            str(data),
            "--listen",
            "127.0.0.1:0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    line = one_line_exit_2(res)
    assert "is not an SQLite database" in line


def test_a_second_server_on_the_same_data_directory_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = ServerProcess(data)
    first.start()
    try:
        line = one_line_exit_2(run_cli(*start_args(data)))
        assert "is in use by another sliceplane apiserver" in line
    finally:
        assert first.stop() == 0


async def test_backup_then_restore_after_damage_never_rewinds(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = ServerProcess(data)
    server.start()
    copy = tmp_path / "copy.sqlite"
    try:
        client = await Client.connect(server.kubeconfig)
        try:
            for i in range(10):
                await client.create("endpoints", {"metadata": {"name": f"b-{i}"}}, "default")
            res = run_cli("backup", "--data-dir", str(data), str(copy))  # while it serves
            assert res.returncode == 0 and ": ok (" in res.stdout, res
            last = 0
            for i in range(10, 15):
                obj = await client.create("endpoints", {"metadata": {"name": f"b-{i}"}}, "default")
                last = int(obj["metadata"]["resourceVersion"])
        finally:
            await client.close()
    finally:
        server.stop(signal.SIGKILL)
    wal = data / (DB + "-wal")
    wal.write_bytes(wal.read_bytes()[:100])
    one_line_exit_2(run_cli(*start_args(data)))  # refused: acknowledged writes missing
    restored = ServerProcess(data, ["--restore-from", str(copy)])
    restored.start()
    try:
        client = await Client.connect(restored.kubeconfig)
        try:
            names = {
                o["metadata"]["name"] for o in (await client.list_all("endpoints", "default")).items
            }
            assert {f"b-{i}" for i in range(10)} <= names
            obj = await client.create("endpoints", {"metadata": {"name": "after"}}, "default")
            assert int(obj["metadata"]["resourceVersion"]) > last
        finally:
            await client.close()
    finally:
        assert restored.stop() == 0
    assert list(data.glob(DB + ".replaced-*"))  # what was replaced is kept
    res = run_cli("apiserver", "--data-dir", str(data), "--check")
    assert res.returncode == 0, res


def test_a_damaged_backup_is_not_restored(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"not a database" * 100)
    line = one_line_exit_2(run_cli(*start_args(data, "--restore-from", str(bad))))
    assert "is not an SQLite database" in line
    assert not (data / DB).exists()
