"""Fixtures over the helpers in ``harness``: one API server per session, a namespace per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from harness import Kubectl, ServerProcess


@pytest.fixture(scope="session")
def apiserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One HTTPS API server with token auth for the whole session."""
    server = ServerProcess(tmp_path_factory.mktemp("apiserver"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def kubectl(apiserver: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    return Kubectl(apiserver.kubeconfig, tmp_path_factory.mktemp("kubecache"))


@pytest.fixture
def namespace(kubectl: Kubectl) -> Iterator[str]:
    """A fresh namespace per test, so tests never see each other's objects."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    # Through create -f (JSON); the protobuf path of `kubectl create namespace` has its own test.
    kubectl(
        "create", "-f", "-", input=f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n"
    )
    yield name
    kubectl.run("delete", "namespace", name, "--wait=false", check=False)
