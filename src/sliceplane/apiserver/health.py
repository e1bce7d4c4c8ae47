"""``/healthz``, ``/livez`` and ``/readyz`` as kube-apiserver answers them. Pure.

kube-apiserver's health endpoints are sets of named checks (``k8s.io/apiserver``
``pkg/server/healthz``): the endpoint answers ``ok`` when every check passes, lists them
with ``?verbose`` (``[+]name ok`` lines, then ``<endpoint> check passed``), skips those
named by ``?exclude=`` and warns about excluded names it does not have, and serves each
check alone at ``/<endpoint>/<name>``. A failing check makes the endpoint a 500 that is
always verbose. ``kubectl get --raw='/readyz?verbose'`` is how people read it.

sliceplane's checks carry upstream's names where they mean the same thing: ``ping``,
``log``, ``etcd`` (the store: SQLite here, it answers reads from memory once loaded) and,
for readiness, ``etcd-readiness``, ``informer-sync`` and ``shutdown`` (which fails once the
server has begun to stop). kube-apiserver's post-start hooks and certificate checks have
nothing to check here and are not listed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

ENDPOINTS: dict[str, tuple[str, ...]] = {
    "healthz": ("ping", "log", "etcd"),
    "livez": ("ping", "log", "etcd"),
    "readyz": ("ping", "log", "etcd", "etcd-readiness", "informer-sync", "shutdown"),
}
TEXT = "text/plain; charset=utf-8"
SHUTTING_DOWN = "process is shutting down"


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: str
    """Always ``text/plain; charset=utf-8``, with ``X-Content-Type-Options: nosniff``."""


def is_health_path(path: str) -> bool:
    first = path.lstrip("/").split("/", 1)[0]
    return first in ENDPOINTS


def _failure(check: str, stopping: bool) -> str | None:
    if check == "shutdown" and stopping:
        return SHUTTING_DOWN
    return None


def _quoted(names: Iterable[str]) -> str:
    return ", ".join(f'"{n}"' for n in sorted(names))


def answer(path: str, query: Iterable[tuple[str, str]], *, stopping: bool) -> Answer:
    """The answer for a health ``path`` (see :func:`is_health_path`) with its query items;
    ``stopping``: the server has begun to shut down."""
    endpoint, _, check = path.lstrip("/").partition("/")
    checks = ENDPOINTS[endpoint]
    items = list(query)
    if check or path.endswith("/"):
        if check not in checks:
            return Answer(404, "404 page not found\n")
        failed = _failure(check, stopping)
        if failed is not None:
            return Answer(500, f"internal server error: {failed}\n")
        return Answer(200, "ok")
    excluded = {v for k, v in items if k == "exclude"}
    lines: list[str] = []
    failures = 0
    for name in checks:
        if name in excluded:
            lines.append(f"[+]{name} excluded: ok\n")
        elif _failure(name, stopping) is not None:
            lines.append(f"[-]{name} failed: reason withheld\n")
            failures += 1
        else:
            lines.append(f"[+]{name} ok\n")
    unknown = excluded - set(checks)
    if unknown:
        lines.append(
            f"warn: some health checks cannot be excluded: no matches for {_quoted(unknown)}\n"
        )
    if failures:
        return Answer(500, "".join(lines) + f"{endpoint} check failed\n")
    if not any(k == "verbose" for k, _ in items):
        return Answer(200, "ok")
    return Answer(200, "".join(lines) + f"{endpoint} check passed\n")
