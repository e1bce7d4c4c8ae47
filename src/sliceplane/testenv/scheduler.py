"""The real kube-scheduler against any API server (issue 10: upstream components against
sliceplane's).

kube-scheduler lists and watches, before it schedules anything, every kind its plugins
and its own caches read: Pods, Nodes, Namespaces, CSINodes (always, for the volume-limit
manager), the DRA kinds (ResourceClaims, ResourceSlices, DeviceClasses, DeviceTaintRules:
``DynamicResourceAllocation`` is locked on in 1.37), and, through the default plugins,
PersistentVolumes, PersistentVolumeClaims, StorageClasses, CSIDrivers,
CSIStorageCapacities, VolumeAttachments, PodDisruptionBudgets, ReplicationControllers,
ReplicaSets, StatefulSets and Services. It waits for all of them to sync.

sliceplane's server serves the first group (the DRA kinds and CSINodes read-only and
empty); the plugins that need the rest are turned off in the scheduler's configuration
(:data:`DISABLED_PLUGINS`: volumes, preemption, topology spread, DRA), which is what this
module writes. Everything a pod's placement on nodes depends on stays: node names,
unschedulable nodes, taints and tolerations, node affinity and selectors, host ports,
resource requests, image locality, inter-pod affinity, balanced allocation, and the
default binder (``pods/binding``). The configuration is the same against kube-apiserver,
so the two can be compared.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import yaml

from sliceplane.testenv.binaries import Binaries, BinariesNotFound, find_binaries
from sliceplane.testenv.processes import (
    Component,
    ControlPlaneError,
    PortTaken,
    free_ports,
    spawn,
    ssl_context,
    wait_http_ok,
)

# Plugins whose informers need kinds sliceplane does not serve (or, DynamicResources,
# serves only empty), by the kinds they list.
DISABLED_PLUGINS = (
    "VolumeBinding",  # PVs, PVCs, StorageClasses, CSIStorageCapacities, CSIDrivers
    "VolumeRestrictions",  # PVCs
    "VolumeZone",  # PVs, PVCs, StorageClasses
    "NodeVolumeLimits",  # PVs, PVCs, StorageClasses, CSIDrivers, VolumeAttachments
    "DefaultPreemption",  # PodDisruptionBudgets
    "PodTopologySpread",  # Services, ReplicationControllers, ReplicaSets, StatefulSets
    "DynamicResources",  # ResourceClaims and the rest (served empty; nothing to allocate)
)


def scheduler_config(kubeconfig: Path, scheduler_name: str = "default-scheduler") -> str:
    """A ``KubeSchedulerConfiguration``: ``kubeconfig``, no leader election, the default
    profile without :data:`DISABLED_PLUGINS`."""
    config = {
        "apiVersion": "kubescheduler.config.k8s.io/v1",
        "kind": "KubeSchedulerConfiguration",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "leaderElection": {"leaderElect": False},
        "profiles": [
            {
                "schedulerName": scheduler_name,
                "plugins": {"multiPoint": {"disabled": [{"name": p} for p in DISABLED_PLUGINS]}},
            }
        ],
    }
    return yaml.safe_dump(config, sort_keys=False)


class Scheduler:
    """One kube-scheduler process; ``start()`` returns once ``/healthz`` is ok."""

    def __init__(
        self,
        kubeconfig: Path,
        workdir: Path,
        *,
        binaries: Binaries | None = None,
        extra_args: Sequence[str] = (),
        name: str = "kube-scheduler",
        start_timeout: float = 90.0,
        stop_grace: float = 15.0,
    ) -> None:
        self.kubeconfig = kubeconfig
        self.workdir = workdir
        self._binaries = binaries
        self.extra_args = tuple(extra_args)
        self.name = name
        self.start_timeout = start_timeout
        self.stop_grace = stop_grace
        self.url = ""
        self._component: Component | None = None

    @property
    def config_file(self) -> Path:
        return self.workdir / f"{self.name}.yaml"

    def tail(self, lines: int = 40) -> str:
        return self._component.tail(lines) if self._component else "(not started)"

    def __enter__(self) -> Scheduler:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> Scheduler:
        if self._component is not None:
            raise ControlPlaneError("already started")
        binaries = self._binaries or find_binaries()
        if binaries.kube_scheduler is None:
            raise BinariesNotFound(
                "kube-scheduler is not in the binary cache; `make k8s-bin` builds it"
            )
        (self.workdir / "logs").mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(scheduler_config(self.kubeconfig))
        for attempt in range(3):
            (port,) = free_ports(1)
            self.url = f"https://127.0.0.1:{port}"
            argv = [
                str(binaries.kube_scheduler),
                f"--config={self.config_file}",
                "--bind-address=127.0.0.1",
                f"--secure-port={port}",
                f"--cert-dir={self.workdir / f'{self.name}-certs'}",
                "--profiling=false",
                "--v=2",
                *self.extra_args,
            ]
            self._component = spawn(self.name, argv, self.workdir / "logs")
            try:
                wait_http_ok(
                    self._component,
                    f"{self.url}/healthz",
                    self.start_timeout,
                    ctx=ssl_context(None),
                    expect=b"ok",
                )
                return self
            except PortTaken:
                self.stop()
                if attempt == 2:
                    raise
            except BaseException:
                self.stop()
                raise
        return self

    def check_running(self) -> None:
        if self._component is None:
            raise ControlPlaneError("not started")
        self._component.check_running()

    def stop(self) -> None:
        if self._component is not None:
            self._component.stop(self.stop_grace)
            self._component = None
