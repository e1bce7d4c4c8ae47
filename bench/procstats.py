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


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (children, grandchildren ...), from ``/proc``."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, ()))
    return out


def comm(pid: int) -> str:
    """The process's command name (``/proc/PID/comm``), or "" when it is gone."""
    try:
        with open(f"/proc/{pid}/comm") as fh:
            return fh.read().strip()
    except OSError:
        return ""


def tree_rss_mib(pid: int, exclude: tuple[str, ...] = ("py-spy", "sh")) -> float:
    """Summed RSS of ``pid`` and all its descendants (not the profiler or its shell), MiB.

    Shared pages count once per process, so this is an upper bound of what they hold."""
    total = 0.0
    for p in descendants(pid):
        if comm(p) in exclude:
            continue
        try:
            total += rss_mib(p)
        except OSError:
            continue
    return total
