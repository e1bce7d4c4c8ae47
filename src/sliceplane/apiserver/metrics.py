"""The API server's Prometheus metrics, with upstream's names and labels.

``apiserver_request_total`` and ``apiserver_request_duration_seconds`` as
``staging/src/k8s.io/apiserver/pkg/endpoints/metrics`` defines them, in a registry of
our own (one per server, so tests can run several in one process).
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from sliceplane.apiserver.routes import Target


class Metrics:
    """Prometheus metrics with upstream's names, in a registry of our own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        labels = ["verb", "group", "version", "resource", "subresource", "scope", "component"]
        self.requests = Counter(
            "apiserver_request",
            "Counter of apiserver requests broken out for each verb, group, version, "
            "resource, scope, component, and HTTP response code.",
            [*labels, "code", "dry_run"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "apiserver_request_duration_seconds",
            "Response latency distribution in seconds for each verb, group, version, "
            "resource, subresource, scope and component.",
            [*labels, "dry_run"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 2.0, 5.0, 10.0, 60.0),
            registry=self.registry,
        )

    def watch_history(self, events: Callable[[], float], size: Callable[[], float]) -> None:
        """Gauges of the watch history window (no upstream equivalent: its watch cache
        reports capacity per resource, not bytes), read at scrape time, so that a benchmark
        can show the window's memory bound holding (``storage/history.py``)."""
        Gauge(
            "sliceplane_watch_history_events",
            "Events in the API server's watch history window.",
            registry=self.registry,
        ).set_function(events)
        Gauge(
            "sliceplane_watch_history_bytes",
            "Bytes the watch history window is charged for (encoded objects + per-entry).",
            registry=self.registry,
        ).set_function(size)

    def observe(
        self, verb: str, target: Target | None, code: int, seconds: float, dry_run: bool
    ) -> None:
        if target is None:
            group = version = resource = sub = ""
            scope = ""
        else:
            group, version = target.info.group, target.info.version
            resource, sub = target.info.plural, target.subresource
            if target.name:
                scope = "resource"
            elif target.namespace:
                scope = "namespace"
            else:
                scope = "cluster"
        dr = "All" if dry_run else ""
        self.requests.labels(
            verb, group, version, resource, sub, scope, "apiserver", str(code), dr
        ).inc()
        if verb not in ("WATCH", "CONNECT"):  # long-running, as upstream leaves them out
            self.latency.labels(
                verb, group, version, resource, sub, scope, "apiserver", dr
            ).observe(seconds)
