"""What a ``kubectl exec`` into a process-runtime container runs with: env and directory.

Why: an exec should see what the container's own process sees, so the rules are the
process runtime's (:func:`~sliceplane.workloads.kubelet.processspec.container_env`: the
host's PATH/HOME/locale, ``HOSTNAME``, ``POD_*``, ``PORT*``, then the container's
``env``), not a second copy of them. The API server serves ``pods/exec`` but may not
import the workloads (the layers point the other way), so ``sliceplane apiserver``
hands it :func:`exec_environment` as a plain function.

Working directory: the container's ``workingDir`` if it exists on this machine, else the
pod's directory under ``DATA_DIR/pods`` (where its process runs), else the API server's.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sliceplane.api.podstatus import pod_ips
from sliceplane.workloads.kubelet.processspec import container_env, host_env, pod_dir_name

Obj = dict[str, Any]


def exec_environment(
    pods_dir: Path, environ: Mapping[str, str] | None = None
) -> Callable[[Obj, Obj], tuple[dict[str, str], str | None]]:
    """``(pod, container) -> (env, cwd)`` for execs into pods whose directories are
    under ``pods_dir``; ``environ`` is the host environment (the process's by default)."""
    inherited = host_env(os.environ if environ is None else environ)

    def build(pod: Obj, container: Obj) -> tuple[dict[str, str], str | None]:
        env = container_env(pod, container, pod_ips(pod), inherited)
        workdir = container.get("workingDir")
        if isinstance(workdir, str) and workdir and Path(workdir).is_dir():
            return env, workdir
        meta = pod.get("metadata") or {}
        directory = pods_dir / pod_dir_name(
            str(meta.get("namespace") or ""), str(meta.get("name") or ""), str(meta.get("uid"))
        )
        return env, str(directory) if directory.is_dir() else None

    return build
