"""The text and JSON forms of reports: worst first, the documented JSON keys."""

from __future__ import annotations

import json

from doctor_objects import healthy, service

from sliceplane.doctor.diagnose import diagnose
from sliceplane.doctor.findings import Finding, Report, sort_findings
from sliceplane.doctor.render import namespace_json, plain, service_lines, table_lines


def test_json_shape_is_the_documented_one() -> None:
    report = diagnose(healthy(service(selector={"app": "wbe"})))
    doc = json.loads(json.dumps(report.to_dict()))
    assert set(doc) == {"service", "ok", "findings", "summary"}
    assert doc["service"] == {"namespace": "prod", "name": "web"}
    assert doc["ok"] is False
    assert set(doc["findings"][0]) == {"code", "severity", "message", "objects", "fix", "evidence"}
    assert doc["summary"] == {"selectedPods": 0, "readyPods": 0, "slices": 1, "readyEndpoints": 0}


def test_text_puts_the_cause_first() -> None:
    report = diagnose(healthy(service(selector={"app": "wbe"})))
    text = plain(service_lines(report))
    lines = text.splitlines()
    assert lines[0] == "service prod/web: NO TRAFFIC"
    assert lines[2].startswith("ERROR   SelectorMatchesNoPods: the selector app=wbe")
    assert "fix: if the pods are right, fix the selector" in text


def test_healthy_text_is_two_lines() -> None:
    text = plain(service_lines(diagnose(healthy())))
    assert text == (
        "service prod/web: OK: traffic can flow\n"
        "  3 pod(s) selected, 3 ready; 1 slice(s), 3 ready endpoint(s)\n"
    )


def test_sort_by_severity_then_cause() -> None:
    found = [
        Finding("SlicesStale", "warning", "m"),
        Finding("HeadlessDnsNames", "info", "m"),
        Finding("SlicesMissing", "error", "m"),
        Finding("SelectorMatchesNoPods", "error", "m"),
    ]
    assert [f.code for f in sort_findings(found)] == [
        "SelectorMatchesNoPods",
        "SlicesMissing",
        "SlicesStale",
        "HeadlessDnsNames",
    ]


def test_namespace_table_and_json() -> None:
    bad = diagnose(healthy(service("api", selector={"app": "wbe"})))
    good = diagnose(healthy())
    rows = plain(table_lines([bad, good])).splitlines()
    assert rows[0].split() == ["NAMESPACE", "SERVICE", "STATUS", "READY", "FINDINGS"]
    assert rows[1].split() == ["prod", "api", "error", "0/0", "SelectorMatchesNoPods"]
    assert rows[2].split() == ["prod", "web", "ok", "3/3", "-"]
    doc = namespace_json([bad, good])
    assert doc["ok"] is False and [s["service"]["name"] for s in doc["services"]] == ["api", "web"]
    assert Report("prod", "x").ok
