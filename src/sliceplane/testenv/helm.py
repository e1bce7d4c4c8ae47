"""The pinned Helm binaries, and running one against a cluster with nothing of the user's.

``make helm-bin`` (``tools/helm/build.sh``) builds Helm 3 and Helm 4 from the versions in
``tools/helm/v3/VERSION`` and ``tools/helm/v4/VERSION`` into
``${SLICEPLANE_HELM_CACHE:-~/.cache/sliceplane/helm}/VERSION/helm``. :class:`Helm` runs one
with its own config, cache and data directories (``HELM_CONFIG_HOME``...), so a test never
reads the user's repositories or plugins, and with the kubeconfig it is given.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

REPO_TOOLS = Path(__file__).resolve().parents[3] / "tools" / "helm"
ENV_CACHE = "SLICEPLANE_HELM_CACHE"
MAJORS = (3, 4)


class HelmNotFound(RuntimeError):
    """The pinned Helm is not in the cache: ``make helm-bin`` builds it."""


def helm_version(major: int) -> str:
    """The pinned release of Helm ``major`` (``tools/helm/v<major>/VERSION``), e.g. ``4.3.2``."""
    try:
        return (REPO_TOOLS / f"v{major}" / "VERSION").read_text().strip().lstrip("v")
    except OSError:
        raise HelmNotFound(f"no {REPO_TOOLS / f'v{major}' / 'VERSION'}") from None


def find_helm(major: int) -> Path:
    """The built binary of Helm ``major``, or :class:`HelmNotFound` saying how to build it."""
    root = os.environ.get(ENV_CACHE) or str(Path.home() / ".cache" / "sliceplane" / "helm")
    path = Path(root) / helm_version(major) / "helm"
    if not os.access(path, os.X_OK):
        raise HelmNotFound(f"{path} not found; build it with `make helm-bin`")
    return path


@dataclass
class Helm:
    """One Helm binary, its private home under ``home`` and the cluster's kubeconfig."""

    binary: Path
    home: Path
    kubeconfig: Path
    extra_env: Mapping[str, str] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HELM_", "KUBERNETES_"))}
        env.update(
            KUBECONFIG=str(self.kubeconfig),
            HELM_CONFIG_HOME=str(self.home / "config"),
            HELM_CACHE_HOME=str(self.home / "cache"),
            HELM_DATA_HOME=str(self.home / "data"),
        )
        env.update(self.extra_env)
        return env

    def run(self, *args: str, timeout: float = 180.0) -> subprocess.CompletedProcess[str]:
        """``helm ARGS``; the caller checks ``returncode`` (bad charts are tested too)."""
        return subprocess.run(
            [str(self.binary), *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
            check=False,
        )

    def __call__(self, *args: str, timeout: float = 180.0) -> str:
        """``helm ARGS`` that must succeed; its stdout."""
        res = self.run(*args, timeout=timeout)
        if res.returncode != 0:
            raise AssertionError(
                f"helm {' '.join(args)} exited {res.returncode}:\n{res.stdout}{res.stderr}"
            )
        return res.stdout
