"""``sliceplane view``: the live web view of Services, slices and endpoints (read-only).

Parsing only; :func:`sliceplane.view.server.run` does the work (``docs/view.md``).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer


def view(
    kubeconfig: Annotated[
        Path | None, typer.Option("--kubeconfig", help="Kubeconfig of the API server.")
    ] = None,
    listen: Annotated[
        str, typer.Option("--listen", help="HOST:PORT to serve the page on (port 0 picks one).")
    ] = "127.0.0.1:8001",
) -> None:
    """Serve a live web page of Services, their EndpointSlices and endpoints."""
    from sliceplane.view.server import ViewError, parse_listen, run

    try:
        parse_listen(listen)
        asyncio.run(run(kubeconfig, listen))
    except ViewError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        pass
