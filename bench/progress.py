"""Progress bars for the long phases of the benchmarks (issues 11 and 12), shared by every
script in ``bench/`` so that they all look and behave the same.

The bars are drawn with rich on stderr, like ``sliceplane report scale`` does
(``src/sliceplane/cli/report.py``), and only when stderr is a terminal: piped or
redirected runs get no bars at all, so the figures the scripts print on stdout are exactly
what they were. A bar disappears when its phase ends (transient); what stays on screen is
only what the script itself prints.

    with phase("creating pods", total=n) as tick:
        for ...:
            ...
            tick()
    with phase("waiting for convergence"):  # no total: elapsed time only
        ...
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TimeElapsedColumn,
)
from rich.text import Text

_console = Console(stderr=True, soft_wrap=True)  # lines printed through it stay whole
_bars: Progress | None = None
_open = 0


class _Count(ProgressColumn):
    """``done/total``, or nothing for a phase without a total (a wait)."""

    def render(self, task: Task) -> Text:
        if task.total is None:
            return Text("")
        return Text(f"{int(task.completed)}/{int(task.total)}", style="progress.download")


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        "[progress.description]{task.description}",
        BarColumn(),
        _Count(),
        TimeElapsedColumn(),
        console=_console,
        transient=True,
        disable=not _console.is_terminal,
        # Lines printed on stdout while a bar is shown go to stdout untouched unless stdout
        # is the same kind of thing as stderr (a terminal), where rich keeps them above
        # the bars.
        redirect_stdout=sys.stdout.isatty(),
        redirect_stderr=False,
    )


@contextmanager
def phase(what: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
    """Show one bar while the block runs; the block gets ``tick(n=1)`` to advance it.

    Phases may nest (a scenario bar over a side bar over a "creating pods" bar): they share
    one live display, started with the first and stopped with the last."""
    global _bars, _open
    if _bars is None:
        _bars = _progress()
        _bars.start()
    bars = _bars
    _open += 1
    task = bars.add_task(escape(what), total=total)  # "[rules] ..." is text, not markup

    def tick(n: int = 1) -> None:
        bars.advance(task, n)

    try:
        yield tick
    finally:
        bars.remove_task(task)
        _open -= 1
        if _open == 0:
            bars.stop()
            _bars = None
