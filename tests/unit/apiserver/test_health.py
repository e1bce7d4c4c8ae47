"""Health endpoints (``apiserver.health``) against the answers kube-apiserver v1.37.2 gave
to the same requests (k8s.io/apiserver ``pkg/server/healthz``)."""

from __future__ import annotations

import pytest

from sliceplane.apiserver.health import answer, is_health_path

READY_CHECKS = "[+]ping ok\n[+]log ok\n[+]etcd ok\n[+]etcd-readiness ok\n[+]informer-sync ok\n"


@pytest.mark.parametrize(
    ("path", "query", "stopping", "status", "body"),
    [
        pytest.param("/healthz", [], False, 200, "ok", id="plain"),
        pytest.param("/readyz", [("verbose", "")], False, 200,
                     READY_CHECKS + "[+]shutdown ok\nreadyz check passed\n", id="verbose"),
        pytest.param("/livez", [("exclude", "etcd"), ("verbose", "")], False, 200,
                     "[+]ping ok\n[+]log ok\n[+]etcd excluded: ok\nlivez check passed\n",
                     id="exclude"),
        pytest.param("/healthz", [("exclude", "nope"), ("exclude", "also"), ("verbose", "1")],
                     False, 200,
                     "[+]ping ok\n[+]log ok\n[+]etcd ok\nwarn: some health checks cannot be "
                     'excluded: no matches for "also", "nope"\nhealthz check passed\n',
                     id="exclude-unknown"),
        pytest.param("/readyz", [], True, 500,
                     READY_CHECKS + "[-]shutdown failed: reason withheld\nreadyz check failed\n",
                     id="stopping-is-always-verbose"),
        pytest.param("/livez", [], True, 200, "ok", id="stopping-is-still-live"),
        pytest.param("/healthz/ping", [("verbose", "")], False, 200, "ok", id="one-check"),
        pytest.param("/readyz/shutdown", [], True, 500,
                     "internal server error: process is shutting down\n", id="one-failing"),
        pytest.param("/readyz/nope", [], False, 404, "404 page not found\n", id="unknown-check"),
        pytest.param("/healthz/", [], False, 404, "404 page not found\n", id="empty-check"),
    ],
)  # fmt: skip
def test_answers(
    path: str, query: list[tuple[str, str]], stopping: bool, status: int, body: str
) -> None:
    assert is_health_path(path)
    said = answer(path, query, stopping=stopping)
    assert (said.status, said.body) == (status, body)


@pytest.mark.parametrize("path", ["/healthzz", "/api/v1", "/", "/readyzx/ping"])
def test_other_paths_are_not_health(path: str) -> None:
    assert not is_health_path(path)
