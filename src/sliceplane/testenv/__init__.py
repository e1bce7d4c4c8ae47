"""The real Kubernetes control plane, on loopback, for tests and side-by-side comparisons.

sliceplane reimplements Service discovery; the only trustworthy oracle for "what would
Kubernetes do" is Kubernetes itself. This package runs upstream etcd, kube-apiserver and
(optionally) kube-controller-manager, built from the versions pinned in ``tools/k8s`` by
``make k8s-bin``, as plain processes on 127.0.0.1 with throwaway certificates and an admin
token. Tests and benchmarks then point sliceplane's client, kubectl or the official
clients at it exactly as they would at a real cluster.
"""

from __future__ import annotations

from sliceplane.testenv.controlplane import (
    Binaries,
    BinariesNotFound,
    ControlPlane,
    ControlPlaneError,
    binary_dir,
    find_binaries,
    k8s_version,
    stop_recorded,
)

__all__ = [
    "Binaries",
    "BinariesNotFound",
    "ControlPlane",
    "ControlPlaneError",
    "binary_dir",
    "find_binaries",
    "k8s_version",
    "stop_recorded",
]
