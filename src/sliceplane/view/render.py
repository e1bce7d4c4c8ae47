"""View records -> HTML (pure; every value escaped).

A page is a static frame plus *fragments*: elements with a stable ``id`` (``slice:NAME``,
``svc:NAME``, ``findings`` …) and a ``data-h`` hash of their content. The live stream sends
a fragment again only when its HTML changed, and the browser replaces just that element,
so one pod changing in a 1,000-endpoint Service rewrites one slice card, never the page.

Colour is never the only signal: every endpoint carries its state as text, badges say
their severity in words, and the palette keeps a contrast ratio of at least 4.5:1
(``view.css``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html import escape
from urllib.parse import quote

from sliceplane.view.health import Finding, Severity
from sliceplane.view.model import (
    STATE_LABELS,
    STATES,
    EndpointRow,
    EventRow,
    ExcludedPod,
    LegacyEndpoints,
    ServiceRow,
    SliceCard,
)


def esc(value: object) -> str:
    return escape(str(value), quote=True)


def content_hash(html: str) -> str:
    return hashlib.blake2b(html.encode(), digest_size=6).hexdigest()


@dataclass(frozen=True, slots=True)
class Fragment:
    """One independently updated element: its ``id``, the container it lives in, its HTML
    (the whole element, carrying ``id`` and ``data-h``)."""

    key: str
    parent: str
    html: str
    hash: str


def fragment(key: str, parent: str, tag: str, inner: str, *, attrs: str = "") -> Fragment:
    h = content_hash(tag + attrs + inner)
    html = f'<{tag} id="{esc(key)}" data-h="{h}"{attrs}>{inner}</{tag}>'
    return Fragment(key, parent, html, h)


def service_url(namespace: str, name: str) -> str:
    return f"/ns/{quote(namespace, safe='')}/svc/{quote(name, safe='')}"


def namespace_url(namespace: str) -> str:
    return f"/ns/{quote(namespace, safe='')}"


# -- shared bits -------------------------------------------------------------------------


def badge(severity: Severity | None, count: int = 0) -> str:
    if severity is None:
        return '<span class="badge b-ok">ok</span>'
    text = severity if count <= 1 else f"{severity} ({count})"
    return f'<span class="badge b-{severity}">{esc(text)}</span>'


def page(title: str, crumbs: Sequence[tuple[str, str]], body: str, stream: str) -> str:
    """A whole document: ``crumbs`` are ``(label, url)`` (the last one is the page)."""
    nav = []
    for i, (label, url) in enumerate(crumbs):
        if i == len(crumbs) - 1:
            nav.append(f'<li aria-current="page">{esc(label)}</li>')
        else:
            nav.append(f'<li><a href="{esc(url)}">{esc(label)}</a></li>')
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)} · sliceplane view</title>"
        '<link rel="stylesheet" href="/static/view.css">'
        '<script src="/static/view.js" defer></script>'
        f'</head><body data-stream="{esc(stream)}">'
        '<a class="skip" href="#main">Skip to content</a>'
        '<header><nav aria-label="Breadcrumb"><ol class="crumbs">' + "".join(nav) + "</ol></nav>"
        '<p id="live" class="live" role="status" aria-live="polite">connecting…</p>'
        f'</header><main id="main" tabindex="-1"><h1>{esc(title)}</h1>{body}</main>'
        "</body></html>"
    )


# -- index: namespaces -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NamespaceRow:
    name: str
    services: int
    errors: int
    warnings: int


def namespace_row(row: NamespaceRow) -> Fragment:
    health = badge("error", row.errors) if row.errors else ""
    if row.warnings:
        health += " " + badge("warning", row.warnings)
    inner = (
        f'<th scope="row"><a href="{esc(namespace_url(row.name))}">{esc(row.name)}</a></th>'
        f"<td>{row.services}</td><td>{health or badge(None)}</td>"
    )
    return fragment(f"ns:{row.name}", "ns-rows", "tr", inner)


def index_body(rows: Iterable[Fragment]) -> str:
    return (
        '<table class="list"><caption>Namespaces with their Services</caption>'
        '<thead><tr><th scope="col">Namespace</th><th scope="col">Services</th>'
        '<th scope="col">Health</th></tr></thead><tbody id="ns-rows">'
        + "".join(f.html for f in rows)
        + "</tbody></table>"
    )


# -- a namespace: its Services -----------------------------------------------------------


def service_row(row: ServiceRow, findings: Sequence[Finding], worst: Severity | None) -> Fragment:
    msg = f' title="{esc(findings[0].message)}"' if findings else ""
    endpoints = f"{row.ready_endpoints}/{row.endpoints} ready in {row.slices} slice" + (
        "s" if row.slices != 1 else ""
    )
    inner = (
        f'<th scope="row"><a href="{esc(service_url(row.namespace, row.name))}">'
        f"{esc(row.name)}</a></th>"
        f"<td>{esc(row.type)}</td>"
        f"<td>{'<br>'.join(esc(ip) for ip in row.cluster_ips) or '—'}</td>"
        f"<td>{'<br>'.join(esc(p) for p in row.ports) or '—'}</td>"
        f"<td><code>{esc(row.selector) or '—'}</code></td>"
        f"<td>{esc(row.traffic_distribution) or '—'}</td>"
        f"<td>{esc(endpoints)}</td>"
        f"<td{msg}>{badge(worst, len([f for f in findings if f.severity == worst]))}</td>"
    )
    return fragment(f"svc:{row.name}", "svc-rows", "tr", inner)


def namespace_body(rows: Iterable[Fragment]) -> str:
    return (
        '<table class="list"><caption>Services</caption><thead><tr>'
        '<th scope="col">Name</th><th scope="col">Type</th><th scope="col">Cluster IP</th>'
        '<th scope="col">Ports</th><th scope="col">Selector</th>'
        '<th scope="col">Traffic distribution</th><th scope="col">Endpoints</th>'
        '<th scope="col">Health</th></tr></thead><tbody id="svc-rows">'
        + "".join(f.html for f in rows)
        + "</tbody></table>"
    )


# -- one Service -------------------------------------------------------------------------


def service_summary(
    row: ServiceRow, worst: Severity | None, notes: Sequence[str], hints: Sequence[str]
) -> Fragment:
    items = [
        ("Type", esc(row.type)),
        ("Cluster IP", "<br>".join(esc(ip) for ip in row.cluster_ips) or "—"),
        ("Ports", "<br>".join(esc(p) for p in row.ports) or "—"),
        ("Selector", f"<code>{esc(row.selector)}</code>" if row.selector else "none"),
        ("Traffic distribution", esc(row.traffic_distribution) or "—"),
        (
            "Endpoints",
            esc(f"{row.ready_endpoints} ready of {row.endpoints} in {row.slices} slices"),
        ),
        ("Health", badge(worst)),
    ]
    inner = '<dl class="summary">' + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in items)
    inner += "</dl>"
    for note in notes:
        inner += f'<p class="note">{esc(note)}</p>'
    for hint in hints:
        inner += f'<p class="note">Hints: {esc(hint)}</p>'
    return fragment("summary", "summary-box", "div", inner)


def findings_list(findings: Sequence[Finding]) -> Fragment:
    if not findings:
        inner = '<p class="ok-text">The doctor finds nothing wrong with this Service.</p>'
    else:
        items = []
        for f in findings:
            objects = ", ".join(esc(o) for o in f.objects[:6])
            if len(f.objects) > 6:
                objects += f" and {len(f.objects) - 6} more"
            fix = f'<p class="fix">Fix: <code>{esc(f.fix)}</code></p>' if f.fix else ""
            evidence = "".join(f"<li>{esc(line)}</li>" for line in f.evidence[:5])
            if evidence:
                fix = f'<ul class="evidence">{evidence}</ul>' + fix
            items.append(
                f'<li class="finding f-{esc(f.severity)}">{badge(f.severity)} '
                f"<strong>{esc(f.code)}</strong>: {esc(f.message)}"
                + (f'<p class="objs">{objects}</p>' if objects else "")
                + fix
                + "</li>"
            )
        inner = '<ul class="findings">' + "".join(items) + "</ul>"
    return fragment("findings", "findings-box", "div", inner)


def filters(zones: Sequence[str], nodes: Sequence[str]) -> Fragment:
    def select(ident: str, label: str, values: Sequence[tuple[str, str]]) -> str:
        options = "".join(f'<option value="{esc(v)}">{esc(t)}</option>' for v, t in values)
        return (
            f'<label for="{ident}">{label}</label>'
            f'<select id="{ident}" data-filter="{ident[2:]}">'
            f'<option value="">all</option>{options}</select>'
        )

    inner = (
        select("f-zone", "Zone", [(z, z) for z in zones])
        + select("f-node", "Node", [(n, n) for n in nodes])
        + select("f-state", "State", [(s, STATE_LABELS[s]) for s in STATES])
    )
    return fragment("filters", "filters-box", "div", inner, attrs=' class="filters"')


def endpoint_item(ep: EndpointRow) -> str:
    addr = ", ".join(esc(a) for a in ep.addresses)
    where = " · ".join(esc(x) for x in (ep.zone, ep.node) if x)
    hints = ""
    if ep.hint_zones or ep.hint_nodes:
        targets = [*(f"zone {z}" for z in ep.hint_zones), *(f"node {n}" for n in ep.hint_nodes)]
        hints = f' <span class="hint">hint: {esc(", ".join(targets))}</span>'
    pod = f' <span class="pod">{esc(ep.pod)}</span>' if ep.pod else ""
    host = f' <span class="host">{esc(ep.hostname)}</span>' if ep.hostname else ""
    title = " ".join(x for x in (*ep.addresses, ep.pod, ep.zone, ep.node) if x)
    return (
        f'<li class="ep s-{ep.state}" data-zone="{esc(ep.zone)}" data-node="{esc(ep.node)}" '
        f'data-state="{ep.state}" title="{esc(title)}"><code>{addr}</code> '
        f'<span class="st">{STATE_LABELS[ep.state]}</span>{pod}{host}'
        + (f' <span class="where">{where}</span>' if where else "")
        + hints
        + "</li>"
    )


def zone_tally(card: SliceCard) -> str:
    """Ready/total per zone (the endpoints below are grouped by zone, then node)."""
    zones: dict[str, list[int]] = {}
    for ep in card.endpoints:
        counts = zones.setdefault(ep.zone or "no zone", [0, 0])
        counts[0] += ep.state == "ready"
        counts[1] += 1
    if len(zones) < 2:
        return ""
    parts = [f"{esc(z)} {r}/{t} ready" for z, (r, t) in sorted(zones.items())]
    return '<br><span class="zones">by zone: ' + " · ".join(parts) + "</span>"


def slice_card(card: SliceCard) -> Fragment:
    counts = card.counts()
    tally = ", ".join(f"{n} {STATE_LABELS[s]}" for s, n in counts.items() if n)
    heading_id = f"h-slice-{card.name}"
    meta = [
        ("address type", card.address_type),
        ("ports", ", ".join(card.ports) or "none"),
        ("managed by", card.managed_by or "—"),
        ("generation", str(card.generation)),
    ]
    inner = (
        f'<h3 id="{esc(heading_id)}">{esc(card.name)}'
        + (' <span class="badge b-warning">deleting</span>' if card.terminating else "")
        + "</h3><dl>"
        + "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in meta)
        + f'</dl><p class="tally">{len(card.endpoints)} endpoints'
        + (f": {esc(tally)}" if tally else "")
        + zone_tally(card)
        + f'</p><ul class="eps" tabindex="0" aria-label="endpoints of {esc(card.name)}">'
        + "".join(endpoint_item(ep) for ep in card.endpoints)
        + "</ul>"
    )
    return fragment(
        f"slice:{card.name}",
        "slices",
        "article",
        inner,
        attrs=f' class="card" aria-labelledby="{esc(heading_id)}"',
    )


def excluded_list(pods: Sequence[ExcludedPod]) -> Fragment:
    if not pods:
        inner = "<p>Every selected pod receives traffic.</p>"
    else:
        rows = []
        for p in pods:
            where = f"{p.namespace}/{p.name}" if p.namespace else p.name
            status = "published, no traffic" if p.published else "not published"
            reasons = "".join(
                f"<li><strong>{esc(code)}</strong>: {esc(msg)}</li>" for code, msg in p.reasons
            )
            rows.append(
                f'<li><span class="pod">{esc(where)}</span> ({status})<ul>{reasons}</ul></li>'
            )
        inner = '<ul class="excluded">' + "".join(rows) + "</ul>"
    return fragment("excluded", "excluded-box", "div", inner)


def legacy_endpoints(ep: LegacyEndpoints, name: str) -> Fragment:
    if not ep.exists:
        inner = f"<p>No Endpoints object named {esc(name)}.</p>"
    else:

        def addrs(items: Sequence[tuple[str, str]]) -> str:
            return "".join(
                f"<li><code>{esc(ip)}</code> {esc(who)}</li>" if who else f"<li>{esc(ip)}</li>"
                for ip, who in items
            )

        inner = (
            f"<p>Ports: {esc(', '.join(ep.ports) or 'none')}</p>"
            + (
                f'<p class="note">Truncated: over-capacity={esc(ep.over_capacity)}</p>'
                if ep.over_capacity
                else ""
            )
            + f"<h3>addresses ({len(ep.ready)})</h3>"
            + f'<ul class="plain">{addrs(ep.ready)}</ul>'
            + f"<h3>notReadyAddresses ({len(ep.not_ready)})</h3>"
            + f'<ul class="plain">{addrs(ep.not_ready)}</ul>'
        )
    return fragment("endpoints", "endpoints-box", "div", inner)


def events_table(events: Sequence[EventRow]) -> Fragment:
    if not events:
        inner = "<p>No recent events.</p>"
    else:
        rows = "".join(
            f'<tr class="ev-{esc(e.type.lower())}"><td>{esc(e.time)}</td><td>{esc(e.type)}</td>'
            f"<td>{esc(e.reason)}</td><td>{esc(e.object)}</td>"
            f"<td>{esc(e.message)}</td><td>{e.count}</td></tr>"
            for e in events
        )
        inner = (
            '<table class="list"><caption>Most recent first</caption><thead><tr>'
            '<th scope="col">Last seen</th><th scope="col">Type</th>'
            '<th scope="col">Reason</th><th scope="col">Object</th>'
            '<th scope="col">Message</th><th scope="col">Count</th></tr></thead>'
            f"<tbody>{rows}</tbody></table>"
        )
    return fragment("events", "events-box", "div", inner)


def service_body(frags: Sequence[Fragment]) -> str:
    """The Service page's frame with its fragments in their containers."""
    by_parent: dict[str, list[str]] = {}
    for f in frags:
        by_parent.setdefault(f.parent, []).append(f.html)

    def box(ident: str) -> str:
        return "".join(by_parent.get(ident, []))

    return (
        f'<section id="summary-box" aria-label="Summary">{box("summary-box")}</section>'
        '<section aria-labelledby="h-findings"><h2 id="h-findings">Doctor</h2>'
        f'<div id="findings-box">{box("findings-box")}</div></section>'
        '<section aria-labelledby="h-slices"><h2 id="h-slices">EndpointSlices</h2>'
        f'<div id="filters-box">{box("filters-box")}</div>'
        f'<div id="slices" class="cards">{box("slices")}</div></section>'
        '<div class="side">'
        '<section aria-labelledby="h-excluded">'
        '<h2 id="h-excluded">Pods without traffic</h2>'
        f'<div id="excluded-box">{box("excluded-box")}</div></section>'
        '<section aria-labelledby="h-endpoints"><h2 id="h-endpoints">Endpoints (legacy)</h2>'
        f'<div id="endpoints-box">{box("endpoints-box")}</div></section>'
        "</div>"
        '<section aria-labelledby="h-events"><h2 id="h-events">Events</h2>'
        f'<div id="events-box">{box("events-box")}</div></section>'
    )
