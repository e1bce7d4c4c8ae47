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

import yaml

from sliceplane.testenv.binaries import Binaries, BinariesNotFound
from sliceplane.testenv.gocomponent import GoComponent

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


class Scheduler(GoComponent):
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
        super().__init__(
            kubeconfig,
            workdir,
            name=name,
            binaries=binaries,
            extra_args=extra_args,
            start_timeout=start_timeout,
            stop_grace=stop_grace,
        )

    @property
    def config_file(self) -> Path:
        return self.workdir / f"{self.name}.yaml"

    def prepare(self, binaries: Binaries) -> None:
        if binaries.kube_scheduler is None:
            raise BinariesNotFound(
                "kube-scheduler is not in the binary cache; `make k8s-bin` builds it"
            )
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(scheduler_config(self.kubeconfig))

    def argv(self, binaries: Binaries, port: int) -> list[str]:
        assert binaries.kube_scheduler is not None  # prepare() checked
        return [
            str(binaries.kube_scheduler),
            f"--config={self.config_file}",
            "--bind-address=127.0.0.1",
            f"--secure-port={port}",
            f"--cert-dir={self.cert_dir}",
            "--profiling=false",
            "--v=2",
            *self.extra_args,
        ]
