"""Table tests for bench/report.py: the spread, the per-run ratios and the docs splice."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest


def _load_report() -> ModuleType:
    # By file, not by putting bench/ on sys.path: bench/dns.py would then shadow dnspython
    # for every later test in the same run.
    path = Path(__file__).resolve().parents[3] / "bench" / "report.py"
    spec = importlib.util.spec_from_file_location("bench_report", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_report"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


report = _load_report()


@pytest.mark.parametrize(
    ("values", "ratio", "expected"),
    [
        ([], False, "-"),
        ([float("nan")], False, "-"),
        ([2296.0], False, "2,296"),
        ([2296.0, 2173.0, 2328.0], False, "2,296 (2,173\u20132,328)"),
        ([10.5, 8.5, 10.7], False, "10.5 (8.50\u201310.7)"),
        ([5.0, 5.0], False, "5.00"),
        ([0.0123], False, "0.0123"),
        ([1.42, 1.28, 1.72], True, "1.42 (1.28\u20131.72)"),
        ([1.0, float("nan"), 3.0], False, "2.00 (1.00\u20133.00)"),
    ],
)
def test_spread(values: list[float], ratio: bool, expected: str) -> None:
    assert report.spread(values, ratio=ratio) == expected


@pytest.mark.parametrize(
    ("name", "better"),
    [
        ("creates/s", "higher"),
        ("watch events/s delivered", "higher"),
        ("default ready: slice writes per s", "higher"),
        ("list 500 p50 ms", "lower"),
        ("server RSS MiB", "lower"),
    ],
)
def test_better_of(name: str, better: str) -> None:
    assert report.better_of(name) == better


def test_ratios_are_per_run_and_skip_missing_sides() -> None:
    t = report.Table("sliceplane", "upstream")
    t.add({"creates/s": 200.0, "rss MiB": 10.0}, {"creates/s": 100.0, "rss MiB": 20.0})
    t.add({"creates/s": 300.0}, {"creates/s": 100.0, "rss MiB": 40.0})
    assert t.rows["creates/s"].ratios() == [2.0, 3.0]
    assert t.rows["rss MiB"].ratios() == [0.5]  # run 2 has no figure of ours
    md = t.markdown().splitlines()
    assert md[0] == "|  | sliceplane | upstream | sliceplane / upstream | better |"
    assert md[2] == "| creates/s | 250 (200\u2013300) | 100 | 2.50 (2.00\u20133.00) | higher |"
    assert md[3] == "| rss MiB | 10.0 | 30.0 (20.0\u201340.0) | 0.50 | lower |"


def test_table_without_upstream_has_one_value_column() -> None:
    t = report.Table("sliceplane", None)
    t.add({"pods/s": 96.0}, better={"pods/s": "higher"})
    assert t.markdown().splitlines() == ["|  | sliceplane |", "|---|---:|", "| pods/s | 96.0 |"]
    assert "ratio" not in t.text()


def test_better_override() -> None:
    t = report.Table()
    t.add({"slice writes": 1.0}, {"slice writes": 2.0}, better={"slice writes": "higher"})
    assert t.rows["slice writes"].better == "higher"


DOC = "# Benchmarks\n\n## 1. API\n\nprose\n\n## Make targets\n\nmake bench\n"


def test_splice_inserts_before_make_targets_then_replaces_in_place() -> None:
    once = report.splice(DOC, "api-10k", "table one")
    assert "prose\n\n<!-- bench:api-10k -->\ntable one\n<!-- /bench:api-10k -->\n\n## Make" in once
    twice = report.splice(once, "api-10k", "table two\n")
    assert "table one" not in twice
    assert twice.count("<!-- bench:api-10k -->") == 1
    assert twice == once.replace("table one", "table two")


def test_splice_keeps_a_block_where_the_author_moved_it() -> None:
    doc = "# B\n\n<!-- bench:x -->\nold\n<!-- /bench:x -->\n\nmore prose\n"
    assert report.splice(doc, "x", "new") == doc.replace("old", "new")


def test_splice_appends_without_make_targets() -> None:
    assert report.splice("# B\n", "x", "t") == "# B\n\n<!-- bench:x -->\nt\n<!-- /bench:x -->\n"


def test_splice_rejects_a_key_that_could_break_the_markers() -> None:
    with pytest.raises(ValueError):
        report.splice(DOC, "a -->", "t")


def test_section_names_date_commit_load_and_runs() -> None:
    t = report.Table()
    t.add({"a ms": 1.0}, {"a ms": 2.0})
    t.add({"a ms": 3.0}, {"a ms": 2.0})
    session = report.Session(
        "2026-12-03 17:00 UTC",
        "abc1234",
        [report.Run(1, "0.5 0.4 0.3", "2.1 1.0 0.5", ["pods=10"]), report.Run(2, "1 1 1", "2 2 2")],
    )
    text = report.section("API", t, "bench/apiserver.py --repeat 2", session, "2 CPU x, 24 GiB")
    assert "date: 2026-12-03 17:00 UTC; commit: `abc1234`; runs: 2" in text
    assert "0.5 0.4 0.3 -> 2.1 1.0 0.5; 1 1 1 -> 2 2 2" in text
    assert "* pods=10" in text
    assert "median (min\u2013max)" in text


def test_publish_only_with_write_docs(tmp_path: Path) -> None:
    page = tmp_path / "b.md"
    page.write_text(DOC)
    t = report.Table()
    t.add({"a ms": 1.0}, {"a ms": 2.0})
    report.publish(argparse.Namespace(write_docs=False), "k", "T", t, "cmd", path=page)
    assert page.read_text() == DOC
    args = argparse.Namespace(write_docs=True, repeat=1)
    for _ in report.runs(args):
        pass
    monkey_root = report.ROOT
    try:
        report.ROOT = tmp_path
        report.publish(args, "k", "T", t, "cmd", path=page)
    finally:
        report.ROOT = monkey_root
    assert "<!-- bench:k -->" in page.read_text()
    assert "| a ms | 1.00 | 2.00 | 0.50 | lower |" in page.read_text()


def test_lock_is_held_during_each_run_and_free_between(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import fcntl

    lock = tmp_path / "bench.lock"

    def free() -> bool:
        with open(lock, "a") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            fcntl.flock(fh, fcntl.LOCK_UN)
            return True

    args = argparse.Namespace(repeat=2, lock=str(lock))
    held = []
    runs = report.runs(args)
    for _run in runs:
        held.append(not free())
    assert held == [True, True]
    assert free()
    runs = report.runs(args)
    next(runs)
    assert not free()
    runs.close()  # a run abandoned half-way gives the lock back
    assert free()
    capsys.readouterr()
