"""The scale report as Markdown tables and PNG plots (``docs/scale/``).

The tables are pure functions of :class:`~sliceplane.report.scale.ScaleResults`; the plots
use matplotlib (the ``report`` extra) without a display.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from sliceplane.report.scale import API, APIS, ChangeRow, ScaleResults
from sliceplane.storage.store import MAX_OBJECT_BYTES

KEP_ENDPOINTS_BYTES = 1_500_000
"""KEP-752: the Endpoints object of a 5,000-pod Service, about 1.5 MB."""
KEP_PODS = 5_000
KEP_NODES = 5_000
KEP_FANOUT_BYTES = 7_500_000_000
"""KEP-752: one change of it sent to every node's kube-proxy, about 7.5 GB."""

NAMES: dict[API, str] = {"endpoints": "Endpoints", "endpointslices": "EndpointSlices"}


def human(n: float) -> str:
    """Decimal units, as KEP-752 counts (1 MB = 10^6 bytes)."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.3g} {unit}"
    return f"{int(n)} B"


def _rows(results: ScaleResults, api: API) -> list[ChangeRow]:
    return [r for r in results.changes if r.api == api]


def per_watcher_table(results: ScaleResults) -> str:
    lines = [
        "| pods | Endpoints object | Endpoints: bytes per watcher | slices | "
        "EndpointSlices: bytes per watcher | ratio |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for size in results.sizes:
        ep = results.per_watcher("endpoints", size.pods)
        es = results.per_watcher("endpointslices", size.pods)
        ep_text = human(ep) if ep else f"({human(size.endpoints_bytes)}, not stored)"
        ep_value = ep or size.endpoints_bytes
        ratio = f"{ep_value / es:.0f} : 1" if es else "—"
        lines.append(
            f"| {size.pods:,} | {human(size.endpoints_bytes)} | {ep_text} | {size.slices} | "
            f"{human(es) if es else '—'} | {ratio} |"
        )
    return "\n".join(lines)


def fanout_table(results: ScaleResults) -> str:
    lines = [
        "| pods | watchers | Endpoints: sent | EndpointSlices: sent |",
        "|---:|---:|---:|---:|",
    ]
    ep = {(r.pods, r.watchers): r for r in _rows(results, "endpoints")}
    es = {(r.pods, r.watchers): r for r in _rows(results, "endpointslices")}

    def cell(row: ChangeRow | None) -> str:
        if row is None:
            return "—"
        text = f"{human(row.total_bytes)} in {row.total_events:,} events"
        return text if row.measured else f"≈ {human(row.total_bytes)} ({row.note})"

    for key in sorted(set(ep) | set(es)):
        lines.append(f"| {key[0]:,} | {key[1]:,} | {cell(ep.get(key))} | {cell(es.get(key))} |")
    return "\n".join(lines)


def nodes_table(results: ScaleResults) -> str:
    nodes = results.config.nodes
    lines = [
        f"| pods | Endpoints: one change to {nodes:,} nodes | "
        f"EndpointSlices: one change to {nodes:,} nodes | KEP-752 (Endpoints) |",
        "|---:|---:|---:|---:|",
    ]
    for size in results.sizes:
        ep = results.per_watcher("endpoints", size.pods) or size.endpoints_bytes
        es = results.per_watcher("endpointslices", size.pods) or 0
        kep = human(KEP_FANOUT_BYTES) if size.pods == KEP_PODS else ""
        lines.append(f"| {size.pods:,} | {human(ep * nodes)} | {human(es * nodes)} | {kep} |")
    return "\n".join(lines)


def rolling_table(results: ScaleResults) -> str:
    lines = [
        "| pods | Endpoints: writes, bytes per watcher | EndpointSlices: writes, bytes per "
        "watcher | ratio |",
        "|---:|---:|---:|---:|",
    ]
    ep = {r.pods: r for r in results.rolling if r.api == "endpoints"}
    es = {r.pods: r for r in results.rolling if r.api == "endpointslices"}
    for pods in sorted(set(ep) & set(es)):
        a, b = ep[pods], es[pods]
        ratio = (
            f"{a.bytes_per_watcher / b.bytes_per_watcher:.0f} : 1" if b.bytes_per_watcher else "—"
        )
        lines.append(
            f"| {pods:,} | {a.writes:,}, {human(a.bytes_per_watcher)} | "
            f"{b.writes:,}, {human(b.bytes_per_watcher)} | {ratio} |"
        )
    return "\n".join(lines)


def rolling_extrapolation(results: ScaleResults) -> tuple[float, float] | None:
    """Bytes to every node for a rolling update of a KEP-sized Service: Endpoints sends the
    whole object at every step (``pods`` steps of the measured 5,000-pod object size), a
    slice update the measured per-step bytes of the largest rolling update."""
    es = [r for r in results.rolling if r.api == "endpointslices"]
    size = next((s for s in results.sizes if s.pods == KEP_PODS), None)
    if not es or size is None:
        return None
    largest = max(es, key=lambda r: r.pods)
    per_step = largest.bytes_per_watcher / largest.pods
    nodes = results.config.nodes
    return size.endpoints_bytes * KEP_PODS * nodes, per_step * KEP_PODS * nodes


def _limit_sentence(results: ScaleResults) -> list[str]:
    limit = f"{MAX_OBJECT_BYTES / 2**20:g} MiB"
    refused = [s for s in results.sizes if not s.endpoints_stored]
    text = (
        f"The API server refuses objects over {limit} of JSON (its stand-in for etcd's "
        "1.5 MiB request limit, which applies to the protobuf kube-apiserver stores). "
    )
    if refused:
        text += (
            "The Endpoints object of "
            + ", ".join(f"{s.pods:,}" for s in refused)
            + " pods is over it and cannot be stored at all; its row shows the encoded size."
        )
    else:
        big = max(results.sizes, key=lambda s: s.pods, default=None)
        if big is not None:
            text += (
                f"The Endpoints object of {big.pods:,} pods, {human(big.endpoints_bytes)}, is "
                f"{100 * big.endpoints_bytes / MAX_OBJECT_BYTES:.0f}% of it: a Service "
                "not much bigger could not publish an Endpoints object at all."
            )
    return [text, ""]


def _per_pod_sentence(results: ScaleResults) -> list[str]:
    """Bytes per pod in each API, and the Service size where they cross."""
    big = max(results.sizes, key=lambda s: s.pods, default=None)
    if big is None or not big.slice_bytes:
        return []
    per_address = big.endpoints_bytes / big.pods
    per_endpoint = big.slice_bytes / results.config.max_endpoints_per_slice
    crossover = big.slice_bytes / per_address
    return [
        f"Per pod, an Endpoints address costs about {per_address:.0f} bytes and a slice "
        f"endpoint about {per_endpoint:.0f} (it carries its conditions, zone and node), "
        "and a slice holds up to "
        f"{results.config.max_endpoints_per_slice} of them: under about {crossover:,.0f} "
        "pods one slice change costs more than an Endpoints change; above, the Endpoints "
        "change keeps growing and the slice change does not. The figures are "
        "JSON; kube-proxy's informers ask for protobuf, smaller by a constant factor that "
        "changes neither the ratios nor the shape.",
        "",
    ]


def markdown(results: ScaleResults, plots: Sequence[str] = ()) -> str:
    cfg = results.config
    kep_size = next((s for s in results.sizes if s.pods == KEP_PODS), None)
    parts = [
        "# What one pod's change costs: Endpoints vs EndpointSlices",
        "",
        "Written by `sliceplane report scale` (`make report`); numbers from the embedded API "
        "server with real watch connections (JSON over HTTPS on loopback), the writes those "
        "of sliceplane's Endpoints and EndpointSlice planners for each change "
        f"(`--max-endpoints-per-slice {cfg.max_endpoints_per_slice}`). Bytes are the watch "
        "events' JSON as sent; 1 MB = 10^6 bytes; the method is in "
        "`src/sliceplane/report/scale.py`.",
        "",
        "The Endpoints object is the untruncated one, as KEP-752 measured it: since "
        "Kubernetes 1.22 the Endpoints controller (sliceplane's too) cuts it to 1,000 "
        "addresses and marks it `endpoints.kubernetes.io/over-capacity: truncated`, which "
        "bounds its cost by making it wrong for every bigger Service.",
        "",
        "## One pod turns not ready: bytes each watcher receives",
        "",
        per_watcher_table(results),
        "",
        "A slice change sends one slice, whatever the Service's size; an Endpoints change "
        "sends the whole object, which grows with every pod.",
        "",
        *_limit_sentence(results),
        *_per_pod_sentence(results),
        "## Every watcher",
        "",
        fanout_table(results),
        "",
        "Measured rows: every watcher received exactly the same bytes (checked). "
        "Rows marked ≈ were not sent: the total is the measured per-watcher bytes times "
        f"the watchers (byte budget {human(cfg.byte_budget)} per measurement).",
        "",
        f"## At {cfg.nodes:,} nodes (one kube-proxy watch each)",
        "",
        nodes_table(results),
        "",
    ]
    if kep_size is not None:
        ep = results.per_watcher("endpoints", KEP_PODS) or kep_size.endpoints_bytes
        parts += [
            f"KEP-752 estimates the Endpoints object of a 5,000-pod Service at about "
            f"{human(KEP_ENDPOINTS_BYTES)} and one change to {KEP_NODES:,} nodes at about "
            f"{human(KEP_FANOUT_BYTES)}; measured here: {human(ep)} and "
            f"{human(ep * cfg.nodes)}. The difference is the object's encoding and "
            "content (these pods have short names and one port), not the shape: the "
            "Endpoints cost is linear in pods per change and again linear in nodes.",
            "",
        ]
    parts += [
        "## A rolling update (every pod replaced, one at a time)",
        "",
        rolling_table(results),
        "",
    ]
    extra = rolling_extrapolation(results)
    if extra is not None:
        parts += [
            f"Extrapolated to {KEP_PODS:,} pods and {cfg.nodes:,} nodes: Endpoints about "
            f"{human(extra[0])} (quadratic in pods: every step resends the whole object), "
            f"EndpointSlices about {human(extra[1])} (linear).",
            "",
            "Each step replaces one pod and applies the controllers' writes for it; "
            "`--endpoint-updates-batch-period` / `--endpointslice-updates-batch-period` "
            "would merge steps, for both APIs alike.",
            "",
        ]
    parts += [f"![{name}]({name})" for name in plots]
    return "\n".join(parts).rstrip() + "\n"


def plots(results: ScaleResults, out: Path) -> list[str]:
    """Write the PNG plots into ``out``; returns their file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written: list[str] = []
    colours = {"endpoints": "#a8231a", "endpointslices": "#0b57d0"}

    # 1. Bytes per watcher for one change, by Service size.
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for api in APIS:
        xs, ys, xs_x, ys_x = [], [], [], []
        for size in results.sizes:
            got = results.per_watcher(api, size.pods)
            if got:
                xs.append(size.pods)
                ys.append(got)
            elif api == "endpoints":
                xs_x.append(size.pods)
                ys_x.append(size.endpoints_bytes)
        ax.plot(xs, ys, "o-", color=colours[api], label=f"{NAMES[api]} (measured)")
        if xs_x:
            ax.plot([*xs[-1:], *xs_x], [*ys[-1:], *ys_x], "--", color=colours[api])
            ax.plot(
                xs_x,
                ys_x,
                "o",
                color=colours[api],
                mfc="white",
                label="Endpoints over the object limit (encoded size)",
            )
    ax.axhline(MAX_OBJECT_BYTES, color="#5f6368", lw=0.8, ls=":")
    ax.text(
        1200,
        MAX_OBJECT_BYTES / 1.08,
        f"API server object limit, {MAX_OBJECT_BYTES / 2**20:g} MiB of JSON",
        color="#3c4043",
        fontsize=8,
        va="top",
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("pods in the Service")
    ax.set_ylabel("bytes each watcher receives")
    ax.set_title("One pod turns not ready")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "per-watcher.png")
    plt.close(fig)
    written.append("per-watcher.png")

    # 2. Total bytes by watchers, for the KEP-sized Service (or the largest measured).
    sizes = [s.pods for s in results.sizes]
    pods = KEP_PODS if KEP_PODS in sizes else max(sizes)
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for api in APIS:
        rows = sorted(
            (r for r in results.changes if r.api == api and r.pods == pods),
            key=lambda r: r.watchers,
        )
        measured = [r for r in rows if r.measured]
        ax.plot(
            [r.watchers for r in measured],
            [r.total_bytes for r in measured],
            "o-",
            color=colours[api],
            label=f"{NAMES[api]} (measured)",
        )
        per = results.per_watcher(api, pods)
        if per and rows:
            top = results.config.nodes
            ax.plot(
                [rows[-1].watchers, top],
                [per * rows[-1].watchers, per * top],
                "--",
                color=colours[api],
                label=f"{NAMES[api]} extrapolated to {top:,} nodes",
            )
    ax.plot([KEP_NODES], [KEP_FANOUT_BYTES], "k*", ms=11, label="KEP-752: 7.5 GB at 5,000 nodes")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("watchers")
    ax.set_ylabel("bytes sent for one change")
    ax.set_title(f"One change of a {pods:,}-pod Service, every watcher")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "fanout.png")
    plt.close(fig)
    written.append("fanout.png")

    # 3. Rolling update, bytes per watcher by Service size.
    if results.rolling:
        fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
        for api in APIS:
            rolls = sorted((r for r in results.rolling if r.api == api), key=lambda r: r.pods)
            ax.plot(
                [r.pods for r in rolls],
                [r.bytes_per_watcher for r in rolls],
                "o-",
                color=colours[api],
                label=NAMES[api],
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("pods in the Service (all replaced, one at a time)")
        ax.set_ylabel("bytes each watcher receives")
        ax.set_title("Rolling update")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / "rolling-update.png")
        plt.close(fig)
        written.append("rolling-update.png")
    return written


def write(results: ScaleResults, out: Path) -> Path:
    """``out/README.md``, the plots and ``results.json`` (the figures, to re-render
    without measuring again); returns the Markdown's path."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results.to_json(), indent=1) + "\n")
    names = plots(results, out)
    path = out / "README.md"
    path.write_text(markdown(results, names))
    return path
