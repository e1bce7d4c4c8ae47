"""Settings of the process runtime (``sliceplane up --runtime process``).

Pod addresses (:attr:`ProcessRuntimeOptions.pod_addresses`). A pod's processes bind its pod
IP, and must be able to do so without root. Linux routes all of 127.0.0.0/8 to ``lo``,
so a per-pod loopback address (``127.244.1.5`` standing for pod-CIDR address
``10.244.1.5``) always works — but the API server, like upstream's
``ValidateEndpointIP``, rejects loopback addresses in EndpointSlices, so Services
selecting such pods get no EndpointSlice (the EndpointSlice controller's writes fail
``Invalid`` and are retried). When the pod CIDR is routed to ``lo`` as an "AnyIP" local
route (once, as root: ``ip route add local 10.244.0.0/14 dev lo``), processes can bind
the real pod-CIDR addresses and everything downstream sees valid endpoints. ``auto``
(the default) picks ``pod-cidr`` when such a route is present and ``loopback`` otherwise,
logging which and why; either mode can be forced.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sliceplane.workloads.kubelet.probes import BACKOFF_INITIAL, BACKOFF_MAX, BACKOFF_RESET

PodAddresses = Literal["auto", "loopback", "pod-cidr"]


@dataclass(slots=True)
class ProcessRuntimeOptions:
    """Settings of the process runtime (kubelet defaults where it has one)."""

    pod_addresses: PodAddresses = "auto"
    """``loopback``, ``pod-cidr`` or ``auto``; see the module docstring."""
    backoff_initial: float = BACKOFF_INITIAL
    """Seconds before the second restart of a crashing container (kubelet: 10 s)."""
    backoff_max: float = BACKOFF_MAX
    """Cap on the crash-loop back-off (kubelet: 300 s)."""
    backoff_reset: float = BACKOFF_RESET
    """A container that ran this long starts its back-off over."""
    orphan_grace: float = 2.0
    """Seconds between SIGTERM and SIGKILL for processes of pods that vanished from the
    API (force-deleted) and on runtime shutdown."""
    frozen_recheck: float = 1.0
    """How often pods of a stopped node are looked at again (their status is frozen)."""
    workers: int = 4
    """Concurrent pod syncs (status writes)."""
    record_events: bool = True
    """Write pod Events (Started, Killing, Unhealthy, BackOff) as a kubelet does."""
