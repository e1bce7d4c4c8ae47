"""HTML fragments: escaping, stable ids and hashes, state in words, accessibility hooks."""

from __future__ import annotations

import re

import pytest

from sliceplane.view import model, render
from sliceplane.view.health import Finding


def card(*states: str, name: str = "web-1") -> model.SliceCard:
    conditions = {
        "ready": {},
        "not-ready": {"ready": False},
        "serving-terminating": {"ready": False, "serving": True, "terminating": True},
        "terminating": {"ready": False, "serving": False, "terminating": True},
    }
    es = {
        "metadata": {"name": name, "generation": 1},
        "addressType": "IPv4",
        "endpoints": [
            {
                "addresses": [f"10.0.0.{i}"],
                "zone": "z",
                "nodeName": "n",
                "conditions": conditions[s],
            }
            for i, s in enumerate(states)
        ],
    }
    return model.slice_card(es)


def test_fragment_hash_follows_content() -> None:
    a = render.slice_card(card("ready"))
    b = render.slice_card(card("ready"))
    c = render.slice_card(card("not-ready"))
    assert a.hash == b.hash != c.hash
    assert a.key == "slice:web-1" and a.parent == "slices"
    assert f'id="slice:web-1" data-h="{a.hash}"' in a.html


@pytest.mark.parametrize(
    ("state", "css", "words"),
    [
        pytest.param("ready", "s-ready", "ready", id="ready"),
        pytest.param("not-ready", "s-not-ready", "not ready", id="not-ready"),
        pytest.param(
            "serving-terminating",
            "s-serving-terminating",
            "terminating, still serving",
            id="serving-terminating",
        ),
        pytest.param("terminating", "s-terminating", "terminating", id="terminating"),
    ],
)
def test_endpoint_state_is_colour_and_words(state: str, css: str, words: str) -> None:
    html = render.slice_card(card(state)).html
    assert f'class="ep {css}"' in html
    assert f'<span class="st">{words}</span>' in html
    assert f'data-state="{state}"' in html


def test_everything_is_escaped() -> None:
    nasty = '<script>alert("x")</script>'
    row = model.ServiceRow("ns", nasty, "ClusterIP", (nasty,), (), nasty, nasty, 0, 0, 0)
    html = render.service_row(row, [Finding("C", "error", nasty, (nasty,), nasty)], "error").html
    html += render.findings_list([Finding("C", "error", nasty, (nasty,), nasty)]).html
    html += render.events_table([model.EventRow(nasty, nasty, nasty, nasty, nasty, 1)]).html
    assert "<script>" not in html
    assert "&lt;script&gt;" in html


def test_service_row_links_to_pasteable_url() -> None:
    row = model.ServiceRow(
        "shop", "api", "ClusterIP", ("10.96.0.1",), ("80/TCP",), "app=api", "", 1, 2, 1
    )
    html = render.service_row(row, [], None).html
    assert 'href="/ns/shop/svc/api"' in html
    assert "1/2 ready in 1 slice<" in html
    assert 'class="badge b-ok">ok<' in html


@pytest.mark.parametrize(
    ("severity", "count", "text"),
    [
        pytest.param(None, 0, "ok", id="ok"),
        pytest.param("error", 1, "error", id="one"),
        pytest.param("warning", 3, "warning (3)", id="several"),
    ],
)
def test_badge_says_its_severity(severity: render.Severity | None, count: int, text: str) -> None:
    assert f">{text}</span>" in render.badge(severity, count)


def test_page_frame_is_accessible() -> None:
    html = render.page("T", [("Namespaces", "/"), ("ns", "/ns/ns")], "<p>x</p>", "/events?ns=ns")
    assert '<html lang="en">' in html
    assert 'aria-label="Breadcrumb"' in html
    assert '<li aria-current="page">ns</li>' in html
    assert 'role="status" aria-live="polite"' in html
    assert 'data-stream="/events?ns=ns"' in html
    assert "<script>" not in html  # no inline script: the CSP forbids it


def test_filters_have_labels_for_every_select() -> None:
    html = render.filters(["zone-a"], ["node-1"]).html
    selects = re.findall(r'<select id="([^"]+)"', html)
    assert selects == ["f-zone", "f-node", "f-state"]
    for ident in selects:
        assert f'<label for="{ident}">' in html
    assert '<option value="zone-a">zone-a</option>' in html


def test_scroll_regions_are_focusable() -> None:
    assert (
        'class="eps" tabindex="0" aria-label="endpoints of web-1"'
        in render.slice_card(card("ready")).html
    )


def test_service_body_places_fragments_in_their_boxes() -> None:
    frags = [
        render.slice_card(card("ready", name="b")),
        render.slice_card(card("ready", name="a")),
        render.findings_list([]),
    ]
    html = render.service_body(frags)
    slices = html.index('id="slices"')
    assert slices < html.index('id="slice:b"') < html.index('id="slice:a"')
    assert "The doctor finds nothing wrong" in html


def test_excluded_pods_show_reasons() -> None:
    html = render.excluded_list(
        [model.ExcludedPod("web-1", False, (("NotReady", "Ready condition is False"),))]
    ).html
    assert "web-1" in html and "not published" in html
    assert "<strong>NotReady</strong>: Ready condition is False" in html


def test_card_tallies_ready_endpoints_per_zone() -> None:
    es = {
        "metadata": {"name": "w"},
        "addressType": "IPv4",
        "endpoints": [
            {"addresses": ["10.0.0.1"], "zone": "a"},
            {"addresses": ["10.0.0.2"], "zone": "b", "conditions": {"ready": False}},
            {"addresses": ["10.0.0.3"], "zone": "b"},
        ],
    }
    html = render.slice_card(model.slice_card(es)).html
    assert "by zone: a 1/1 ready · b 1/2 ready" in html
    assert "by zone" not in render.slice_card(card("ready")).html  # one zone: nothing to add
