"""``sliceplane report scale``: the measured case for EndpointSlices (``make report``).

Parsing and progress bars only; :mod:`sliceplane.report.scale` measures and
:mod:`sliceplane.report.output` writes ``docs/scale/``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    name="report",
    help="Measured reports.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _sizes(flag: str, text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v.replace("_", "")) for v in text.split(",") if v.strip())
    except ValueError:
        values = ()
    if not values or any(v < 1 for v in values):
        typer.echo(f"error: {flag}: {text!r} is not a comma-separated list of counts", err=True)
        raise typer.Exit(2)
    return values


@app.command("scale")
def scale(
    out: Annotated[
        Path, typer.Option("--out", help="Directory for README.md and the PNG plots.")
    ] = Path("docs/scale"),
    pods: Annotated[str, typer.Option(help="Service sizes, comma-separated.")] = (
        "100,1000,5000,10000"
    ),
    watchers: Annotated[str, typer.Option(help="Watcher counts, comma-separated.")] = (
        "1,10,100,1000"
    ),
    rolling_pods: Annotated[
        str, typer.Option("--rolling-pods", help="Service sizes of the rolling updates.")
    ] = "100,300,1000",
    nodes: Annotated[
        int, typer.Option(help="Cluster size to extrapolate to (one watcher per node).", min=1)
    ] = 5000,
    byte_budget_mb: Annotated[
        int,
        typer.Option("--byte-budget-mb", help="Most MB one measurement may send.", min=1),
    ] = 1000,
    max_endpoints_per_slice: Annotated[
        int, typer.Option("--max-endpoints-per-slice", min=1, max=1000)
    ] = 100,
    from_results: Annotated[
        Path | None,
        typer.Option("--from-results", help="Re-render a results.json without measuring."),
    ] = None,
) -> None:
    """Bytes and objects sent to watchers when one pod changes: Endpoints vs EndpointSlices."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TimeElapsedColumn

    from sliceplane.report.output import write
    from sliceplane.report.scale import ScaleConfig, ScaleError, ScaleResults, run

    if from_results is not None:
        import json

        try:
            results = ScaleResults.from_json(json.loads(from_results.read_text()))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            typer.echo(f"error: --from-results {from_results}: {exc}", err=True)
            raise typer.Exit(2) from None
        typer.echo(f"wrote {write(results, out)}")
        return

    config = ScaleConfig(
        pods=_sizes("--pods", pods),
        watchers=_sizes("--watchers", watchers),
        rolling_pods=_sizes("--rolling-pods", rolling_pods) if rolling_pods else (),
        nodes=nodes,
        byte_budget=byte_budget_mb * 1_000_000,
        max_endpoints_per_slice=max_endpoints_per_slice,
    )
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    ) as bars:
        tasks: dict[str, TaskID] = {}

        def progress(what: str, done: int, total: int) -> None:
            if what not in tasks:
                tasks[what] = bars.add_task(what, total=total)
            bars.update(tasks[what], completed=done)

        try:
            results = asyncio.run(run(config, progress))
        except ScaleError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
    path = write(results, out)
    typer.echo(f"wrote {path}")
