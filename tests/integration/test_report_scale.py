"""``sliceplane report scale`` at small N: the figures it measures must be consistent.

Real API server (a subprocess), real watch connections; nothing here is timed. With 10
endpoints a slice, a slice change sends one 10-endpoint slice whatever the Service's size,
while the Endpoints object (and so every change of it) grows with every pod.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from sliceplane.report.output import markdown, write
from sliceplane.report.scale import ScaleConfig, ScaleResults, run

PODS = (40, 160, 640)


@pytest.fixture(scope="module")
def results() -> ScaleResults:
    config = ScaleConfig(
        pods=PODS,
        watchers=(1, 3),
        rolling_pods=(20, 40),
        rolling_watchers=2,
        max_endpoints_per_slice=10,
        byte_budget=200_000,  # 640 pods x 3 Endpoints watchers is over: extrapolated
        wait_timeout=120,
    )
    return asyncio.run(run(config))


def test_slice_bytes_per_change_are_flat(results: ScaleResults) -> None:
    per = [results.per_watcher("endpointslices", n) for n in PODS]
    assert all(p is not None and p > 0 for p in per)
    values = [p for p in per if p is not None]
    assert max(values) <= 1.05 * min(values), values


def test_endpoints_bytes_per_change_grow_linearly(results: ScaleResults) -> None:
    per = {n: results.per_watcher("endpoints", n) for n in PODS}
    assert all(v is not None for v in per.values())
    a, b, c = (per[n] or 0 for n in PODS)
    assert 3.6 <= b / a <= 4.4 and 3.6 <= c / b <= 4.4, per
    # ... and, past one slice's worth of pods, exceed a slice change.
    assert c > 20 * (results.per_watcher("endpointslices", 640) or 0)


def test_every_watcher_gets_the_same_and_totals_add_up(results: ScaleResults) -> None:
    measured = [r for r in results.changes if r.measured]
    assert len(measured) == 2 * len(PODS) * 2 - 1  # all but the one over the budget
    for row in measured:
        assert row.writes == 1, row  # one pod: one slice update, one Endpoints update
        assert row.events_per_watcher == row.writes
        assert row.total_bytes == row.watchers * row.bytes_per_watcher
        assert row.total_events == row.watchers * row.writes


def test_over_budget_rows_are_extrapolated_from_measured_bytes(
    results: ScaleResults,
) -> None:
    (row,) = [r for r in results.changes if not r.measured]
    assert (row.api, row.pods, row.watchers) == ("endpoints", 640, 3)
    assert row.bytes_per_watcher == results.per_watcher("endpoints", 640)
    assert row.total_bytes == 3 * row.bytes_per_watcher
    assert "budget" in row.note


def test_rolling_update_endpoints_quadratic_slices_linear(results: ScaleResults) -> None:
    rows = {(r.api, r.pods): r for r in results.rolling}
    for (api, pods), row in rows.items():
        assert row.events_per_watcher == row.writes, (api, pods)
        assert row.total_bytes == row.watchers * row.bytes_per_watcher
    assert rows["endpoints", 20].writes == 20 and rows["endpoints", 40].writes == 40
    ep = rows["endpoints", 40].bytes_per_watcher / rows["endpoints", 20].bytes_per_watcher
    es = rows["endpointslices", 40].bytes_per_watcher / rows["endpointslices", 20].bytes_per_watcher
    assert 3.0 <= ep <= 5.0, ep  # every step resends the whole, growing object
    assert 1.6 <= es <= 2.4, es  # every step sends one small slice


def test_writes_markdown_and_plots(results: ScaleResults, tmp_path: Path) -> None:
    path = write(results, tmp_path)
    text = path.read_text()
    assert "| 640 |" in text and "## A rolling update" in text
    for name in ("per-watcher.png", "fanout.png", "rolling-update.png"):
        png = tmp_path / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({name})" in text
    # The figures are kept beside the report and re-render to the same text.
    again = ScaleResults.from_json(json.loads((tmp_path / "results.json").read_text()))
    assert again == results
    assert markdown(again, ["per-watcher.png", "fanout.png", "rolling-update.png"]) == text
