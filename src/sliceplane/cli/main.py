"""``sliceplane`` console command.

Known errors become one line on stderr and a non-zero exit code; tracebacks are for bugs.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from sliceplane import __version__

app = typer.Typer(
    name="sliceplane",
    help="Kubernetes Service discovery built on EndpointSlices.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EXIT_USAGE = 2


def fail(message: str, code: int = 1) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@app.command()
def version() -> None:
    """Print sliceplane's version."""
    typer.echo(__version__)


@app.command()
def apiserver(
    data_dir: Annotated[
        Path, typer.Option("--data-dir", help="Where state, certificates and the kubeconfig live.")
    ],
    listen: Annotated[
        str, typer.Option(help="HOST:PORT to serve on (port 0 picks one).")
    ] = "127.0.0.1:6443",
    service_cidr: Annotated[
        str, typer.Option("--service-cidr", help="Range for Service cluster IPs.")
    ] = "10.96.0.0/12",
    insecure_http: Annotated[
        bool, typer.Option("--insecure-http", help="Plain HTTP without authentication.")
    ] = False,
    history_window: Annotated[
        int, typer.Option("--history-window", help="Watch history kept, in events.", min=1)
    ] = 200_000,
    verbose: Annotated[bool, typer.Option("-v", "--verbose")] = False,
) -> None:
    """Run the embedded Kubernetes-compatible API server until SIGTERM/SIGINT."""
    import ipaddress

    from sliceplane.apiserver.server import APIServerConfig, ConfigError, run_until_signalled

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        net = ipaddress.ip_network(service_cidr, strict=False)
    except ValueError:
        fail(f"--service-cidr: {service_cidr!r} is not a valid CIDR", EXIT_USAGE)
    if net.num_addresses < 8:
        fail(f"--service-cidr: {service_cidr} is too small (need at least /29)", EXIT_USAGE)
    config = APIServerConfig(
        data_dir=data_dir,
        listen=listen,
        service_cidr=service_cidr,
        insecure_http=insecure_http,
        history_max=history_window,
    )
    try:
        asyncio.run(run_until_signalled(config))
    except ConfigError as exc:
        fail(str(exc), EXIT_USAGE)
    except KeyboardInterrupt:
        pass


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
