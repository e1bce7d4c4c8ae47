"""``sliceplane dns``: cluster DNS from Services and EndpointSlices (see docs/dns.md).

Argument parsing only; :mod:`sliceplane.dns.server` does the work. Usage mistakes are
one line on stderr and exit 2 (``cli.main.main`` maps typer's; ours are the same shape).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Annotated

import typer

EXIT_USAGE = 2


def dns(
    kubeconfig: Annotated[
        Path | None, typer.Option("--kubeconfig", help="Kubeconfig of the API server.")
    ] = None,
    listen: Annotated[
        str, typer.Option("--listen", help="HOST:PORT for UDP and TCP (port 0: pick one).")
    ] = "127.0.0.1:5353",
    domain: Annotated[str, typer.Option("--domain", help="The cluster domain.")] = (
        "cluster.local"
    ),
    ttl: Annotated[int, typer.Option("--ttl", help="TTL of every record, seconds.")] = 5,
    pods: Annotated[
        str, typer.Option("--pods", help="Pod records: disabled, insecure or verified.")
    ] = "disabled",
    endpoint_pod_names: Annotated[
        bool,
        typer.Option(
            "--endpoint-pod-names", help="Name headless endpoints after their pod, not IP."
        ),
    ] = False,
    metrics_bind_address: Annotated[
        str,
        typer.Option("--metrics-bind-address", help="HOST:PORT for /metrics ('' for none)."),
    ] = "127.0.0.1:9153",
    verbose: Annotated[bool, typer.Option("-v", "--verbose")] = False,
) -> None:
    """Serve cluster DNS (CoreDNS's kubernetes plugin's records) until SIGTERM/SIGINT."""
    from sliceplane.dns.server import ConfigError, DNSConfig, DNSServer, ZoneFeed, run

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    config = DNSConfig(
        kubeconfig=kubeconfig,
        listen=listen,
        domain=domain,
        ttl=ttl,
        pods=pods,
        endpoint_pod_names=endpoint_pod_names,
        metrics_bind_address=metrics_bind_address or None,
    )
    try:
        config.validate()
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from None

    async def started(server: DNSServer, _feed: ZoneFeed) -> None:
        host, port = server.address
        typer.echo(f"dns: serving {domain} on {host}:{port} (udp, tcp)", err=True)
        if server.metrics_address:
            typer.echo(f"dns: metrics on {server.metrics_address}", err=True)

    try:
        asyncio.run(run(config, started=started))
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    except KeyboardInterrupt:
        pass
    except Exception as exc:  # connection problems: one line, not a traceback
        from sliceplane.api.errors import StatusError

        if isinstance(exc, StatusError | OSError):
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        raise


def register(app: typer.Typer) -> None:
    app.command("dns")(dns)
