"""Repeated benchmark runs, their spread, and the sections of ``docs/benchmarks.md`` they write.

Why: a single run on a shared two-core machine moves by 20-30 %, so issue 11 asks every
benchmark for the spread of repeated runs and for its table in the docs with the date,
commit and load it was measured at. Each script used to print its own table and the docs
were edited by hand; this module gives them one way to do both:

    parser = argparse.ArgumentParser(...)
    report.add_arguments(parser)                 # --repeat N, --write-docs
    table = report.Table("sliceplane", "kube-apiserver + etcd")
    for run in report.runs(args):                # load logged before and after each run
        ours, theirs = measure()                 # {row name: value}
        table.add(ours, theirs)
        run.note("pods=10000")                   # optional, shown once under the table
    print(table.text())
    report.publish(args, "apiserver-10k", "API server, 10,000 pods", table, command)

``publish`` rewrites only the text between ``<!-- bench:KEY -->`` and ``<!-- /bench:KEY -->``
in the docs page (appending a new marked block before "## Make targets" the first time), so
hand-written prose around it stays as it is. Values are shown as median (min-max) over the
runs; the ratio column is the median (min-max) of the per-run ratios ours / theirs, which is
what "same machine, same run" means when the machine is noisy.

Everything but ``runs``/``publish`` (which read the clock, git and ``/proc``) is pure and
table-tested in ``tests/unit/bench/test_bench_report.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import fcntl
import os
import platform
import re
import statistics
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "benchmarks.md"
_INSERT_BEFORE = "## Make targets"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The two options every benchmark shares."""
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="N",
        help="run the whole measurement N times and report median (min-max) (default 1)",
    )
    parser.add_argument(
        "--write-docs",
        action="store_true",
        help="rewrite this benchmark's marked section of docs/benchmarks.md with the table",
    )
    parser.add_argument(
        "--lock",
        metavar="FILE",
        help="hold flock(FILE) during each run, not across all of --repeat: on a shared "
        "machine (/tmp/sliceplane-bench.lock) others get it between runs",
    )


def better_of(name: str) -> str:
    """Which direction wins for a row, from its name: rates are higher-is-better."""
    if name.endswith("/s") or "/s " in name or "per s" in name:
        return "higher"
    return "lower"


@dataclass
class Row:
    """One figure across the repeated runs, for both sides (``theirs`` may be empty)."""

    name: str
    better: str
    ours: list[float] = field(default_factory=list)
    theirs: list[float] = field(default_factory=list)

    def ratios(self) -> list[float]:
        """Per-run ours / theirs, for the runs where both sides have a non-zero figure."""
        return [
            a / b
            for a, b in zip(self.ours, self.theirs, strict=False)
            if _finite(a) and _finite(b) and b != 0
        ]


class Table:
    """Figures of repeated runs, in the order the rows were first seen."""

    def __init__(self, ours: str = "sliceplane", theirs: str | None = "upstream") -> None:
        self.ours = ours
        self.theirs = theirs
        self.rows: dict[str, Row] = {}
        self.runs = 0

    def add(
        self,
        ours: dict[str, float],
        theirs: dict[str, float] | None = None,
        better: dict[str, str] | None = None,
    ) -> None:
        """Add one run's figures (row name -> value); ``better`` overrides the guess."""
        self.runs += 1
        for name in dict.fromkeys([*ours, *(theirs or {})]):
            row = self.rows.get(name)
            if row is None:
                direction = (better or {}).get(name) or better_of(name)
                row = self.rows[name] = Row(name, direction)
            row.ours.append(ours.get(name, float("nan")))
            if theirs is not None:
                row.theirs.append(theirs.get(name, float("nan")))

    def _compared(self) -> bool:
        return self.theirs is not None and any(r.theirs for r in self.rows.values())

    def markdown(self) -> str:
        """The table as Markdown, as the docs show it."""
        compared = self._compared()
        head = ["", self.ours]
        if compared:
            head += [str(self.theirs), f"{self.ours} / {self.theirs}", "better"]
        lines = ["| " + " | ".join(head) + " |"]
        align = "---:|" * (len(head) - 2 if compared else 1) + ("---|" if compared else "")
        lines.append("|---|" + align)
        for row in self.rows.values():
            cells = [row.name, spread(row.ours)]
            if compared:
                cells += [spread(row.theirs), spread(row.ratios(), ratio=True), row.better]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def text(self) -> str:
        """The table for a terminal: aligned columns, no Markdown."""
        compared = self._compared()
        head = ["", self.ours]
        if compared:
            head += [str(self.theirs), "ratio", "better"]
        body = []
        for row in self.rows.values():
            cells = [row.name, spread(row.ours)]
            if compared:
                cells += [spread(row.theirs), spread(row.ratios(), ratio=True), row.better]
            body.append(cells)
        widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
        out = []
        for r in [head, *body]:
            first = r[0].ljust(widths[0])
            rest = [c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)]
            out.append("  ".join([first, *rest]).rstrip())
        return "\n".join(out)


def number(x: float, ratio: bool = False) -> str:
    """A figure with about three significant digits (ratios always two decimals)."""
    if not _finite(x):
        return "-"
    if ratio:
        return f"{x:.2f}"
    a = abs(x)
    if a >= 1000:
        return f"{x:,.0f}"
    if a >= 100:
        return f"{x:.0f}"
    if a >= 10:
        return f"{x:.1f}"
    if a >= 1:
        return f"{x:.2f}"
    return f"{x:.3g}"


def spread(values: list[float], ratio: bool = False) -> str:
    """``median (min-max)`` of the finite values; just the value for one run; ``-`` for none."""
    vals = [v for v in values if _finite(v)]
    if not vals:
        return "-"
    med = statistics.median(vals)
    if len(vals) == 1 or min(vals) == max(vals):
        return number(med, ratio)
    return f"{number(med, ratio)} ({number(min(vals), ratio)}\u2013{number(max(vals), ratio)})"


def _finite(x: float) -> bool:
    return x == x and x not in (float("inf"), float("-inf"))


@dataclass
class Run:
    """One repetition: the load around it, and notes the script wants kept with the table."""

    index: int
    load_before: str = ""
    load_after: str = ""
    notes: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        self.notes.append(text)


@dataclass
class Session:
    """Everything ``publish`` needs besides the table: when, what code, how busy."""

    started: str = ""
    commit: str = ""
    runs: list[Run] = field(default_factory=list)


_session = Session()


def loadavg() -> str:
    """The 1, 5 and 15 minute load averages."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def runs(args: argparse.Namespace) -> Iterator[Run]:
    """Yield ``--repeat`` runs, logging the load before and after each on stdout."""
    _session.started = _session.started or utc_now()
    _session.commit = _session.commit or commit()
    total = max(1, int(getattr(args, "repeat", 1)))
    for i in range(total):
        with _locked(getattr(args, "lock", None)):
            run = Run(i + 1, load_before=loadavg())
            print(f"run {i + 1}/{total}: load before {run.load_before}", flush=True)
            _session.runs.append(run)
            yield run
            run.load_after = loadavg()
            print(f"run {i + 1}/{total}: load after {run.load_after}", flush=True)


@contextlib.contextmanager
def _locked(path: str | None) -> Iterator[None]:
    """``flock(path)`` held inside the block (nothing without a path)."""
    if not path:
        yield
        return
    with open(path, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"waiting for {path} ...", flush=True)
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def utc_now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


def commit() -> str:
    """The short commit of the tree being measured, ``+dirty`` when it has changes."""
    try:
        sha = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return sha + ("+dirty" if dirty else "")


def machine() -> str:
    """Cores, CPU model and memory, as the docs' environment lines give them."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        mem_kib = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal:")
        )
    except (OSError, StopIteration, ValueError):
        mem_kib = 0
    return f"{os.cpu_count()} CPU {model}, {mem_kib / 2**20:.0f} GiB RAM"


def section(
    title: str,
    table: Table,
    command: str,
    session: Session,
    machine_line: str,
    extra: str = "",
) -> str:
    """The generated block: a heading line, the environment, the table, the notes."""
    loads = "; ".join(f"{r.load_before} -> {r.load_after}" for r in session.runs) or "-"
    notes = list(dict.fromkeys(n for r in session.runs for n in r.notes))
    parts = [
        f"**{title}** (generated by `{command}`)",
        "",
        f"* date: {session.started}; commit: `{session.commit}`; runs: {table.runs}",
        f"* machine: {machine_line}",
        f"* load (1/5/15 min) before -> after each run: {loads}",
    ]
    parts += [f"* {n}" for n in notes]
    parts += ["", table.markdown()]
    if table.runs > 1:
        parts += ["", "Figures are median (min\u2013max) over the runs; ratios are per run."]
    if extra:
        parts += ["", extra.strip()]
    return "\n".join(parts)


def splice(doc: str, key: str, block: str) -> str:
    """``doc`` with the marked block for ``key`` replaced by ``block`` (or inserted)."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]*", key):
        raise ValueError(f"bad section key {key!r}")
    start, end = f"<!-- bench:{key} -->", f"<!-- /bench:{key} -->"
    marked = f"{start}\n{block.strip()}\n{end}"
    if start in doc and end in doc:
        head, rest = doc.split(start, 1)
        _, tail = rest.split(end, 1)
        return head + marked + tail
    if _INSERT_BEFORE in doc:
        head, tail = doc.split(_INSERT_BEFORE, 1)
        return head + marked + "\n\n" + _INSERT_BEFORE + tail
    return doc.rstrip("\n") + "\n\n" + marked + "\n"


def publish(
    args: argparse.Namespace,
    key: str,
    title: str,
    table: Table,
    command: str,
    extra: str = "",
    path: Path = DOCS,
) -> None:
    """Write the table into ``docs/benchmarks.md`` when ``--write-docs`` was given."""
    if not getattr(args, "write_docs", False):
        return
    block = section(title, table, command, _session, machine(), extra)
    path.write_text(splice(path.read_text(), key, block))
    print(f"wrote section {key!r} of {path.relative_to(ROOT)}", flush=True)
