"""What the benchmarks read about processes and the machine (Linux ``/proc``), shared by
``bench/apiserver.py``, ``bench/controller.py`` and ``bench/cluster.py`` so that their
figures are measured the same way."""

from __future__ import annotations

import os


def load() -> str:
    """The 1, 5 and 15 minute load averages, for logging how busy the machine was."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far (children not included)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int, which: str = "VmRSS:") -> float:
    """Resident memory (``VmRSS:``) or its peak (``VmHWM:``) of one process, in MiB."""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(which):
                return int(line.split()[1]) / 1024
    return float("nan")


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile (nearest rank) of ``values``; NaN when there are none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]
