"""Where the pinned upstream binaries are, and which version they are.

``tools/k8s/build.sh`` (``make k8s-bin``) builds etcd, kube-apiserver,
kube-controller-manager, kube-proxy and kube-scheduler into a cache outside the
repository, one directory per version; ``$SLICEPLANE_K8S_BIN_DIR`` names another
directory, ``$SLICEPLANE_K8S_CACHE`` another cache, ``$SLICEPLANE_K8S_VERSION`` another
version. Missing binaries are one :class:`BinariesNotFound` that says how to build them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sliceplane.testenv.processes import ControlPlaneError

ENV_CACHE = "SLICEPLANE_K8S_CACHE"
ENV_BIN_DIR = "SLICEPLANE_K8S_BIN_DIR"
ENV_VERSION = "SLICEPLANE_K8S_VERSION"

# tools/k8s/VERSION is the one place the Kubernetes version is written down; build.sh
# reads it too. src/sliceplane/testenv/binaries.py -> repository root is parents[3].
_VERSION_FILE = Path(__file__).resolve().parents[3] / "tools" / "k8s" / "VERSION"

BINARY_NAMES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-proxy")
SCHEDULER = "kube-scheduler"


class BinariesNotFound(ControlPlaneError, FileNotFoundError):
    """The pinned binaries are not in the cache: ``make k8s-bin`` builds them."""


def k8s_version() -> str:
    """The pinned Kubernetes version (``tools/k8s/VERSION``), e.g. ``1.37.2``."""
    env = os.environ.get(ENV_VERSION)
    if env:
        return env.strip().lstrip("v")
    try:
        return _VERSION_FILE.read_text().strip().lstrip("v")
    except OSError as exc:
        raise BinariesNotFound(
            f"cannot tell the pinned Kubernetes version: {_VERSION_FILE} is unreadable"
            f" (set {ENV_VERSION} or {ENV_BIN_DIR})"
        ) from exc


def binary_dir(version: str | None = None) -> Path:
    """Where ``make k8s-bin`` puts the binaries (``$SLICEPLANE_K8S_BIN_DIR`` wins)."""
    explicit = os.environ.get(ENV_BIN_DIR)
    if explicit:
        return Path(explicit)
    root = os.environ.get(ENV_CACHE) or str(Path.home() / ".cache" / "sliceplane" / "k8s")
    return Path(root) / (version or k8s_version())


@dataclass(frozen=True, slots=True)
class Binaries:
    """Paths of the four upstream binaries of one version."""

    version: str
    etcd: Path
    kube_apiserver: Path
    kube_controller_manager: Path
    kube_proxy: Path
    kube_scheduler: Path | None = None
    """Built by ``make k8s-bin`` too, but not required: only the scheduler tests use it,
    and a cache built before it was added still serves the rest."""


def find_binaries(directory: Path | None = None) -> Binaries:
    """Locate the built binaries, or raise :class:`BinariesNotFound` saying how to build."""
    where = directory or binary_dir()
    missing = [n for n in BINARY_NAMES if not os.access(where / n, os.X_OK)]
    if missing:
        raise BinariesNotFound(
            f"Kubernetes binaries {', '.join(missing)} not found in {where}; "
            "build them with `make k8s-bin` (tools/k8s/build.sh)"
        )
    try:
        version = k8s_version()
    except BinariesNotFound:
        version = where.name
    return Binaries(
        version=version,
        etcd=where / "etcd",
        kube_apiserver=where / "kube-apiserver",
        kube_controller_manager=where / "kube-controller-manager",
        kube_proxy=where / "kube-proxy",
        kube_scheduler=where / SCHEDULER if os.access(where / SCHEDULER, os.X_OK) else None,
    )
