"""``sliceplane proxy``: kube-proxy's flags, parsed here and handed to
:func:`sliceplane.proxy.server.run`."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Annotated

import typer

EXIT_USAGE = 2


def _fail(message: str, code: int = EXIT_USAGE) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def proxy(
    kubeconfig: Annotated[
        Path | None, typer.Option("--kubeconfig", help="Kubeconfig of the API server.")
    ] = None,
    hostname_override: Annotated[
        str, typer.Option("--hostname-override", help="The name of this node (its Node object).")
    ] = "",
    proxy_mode: Annotated[
        str, typer.Option("--proxy-mode", help="nftables, iptables, ipvs or userspace.")
    ] = "nftables",
    cluster_cidr: Annotated[
        str,
        typer.Option(
            "--cluster-cidr",
            help="Pod range(s), v4[,v6]: traffic from outside it to a ClusterIP is masqueraded.",
        ),
    ] = "",
    masquerade_all: Annotated[
        bool, typer.Option("--masquerade-all", help="SNAT all traffic sent to ClusterIPs.")
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Print the complete ruleset once the caches sync; exit."),
    ] = False,
    cleanup: Annotated[
        bool, typer.Option("--cleanup", help="Remove every rule this proxy creates; exit.")
    ] = False,
    sync_period: Annotated[
        str, typer.Option("--sync-period", help="Sync at least this often (Go duration).")
    ] = "30s",
    full_sync_period: Annotated[
        str,
        typer.Option(
            "--full-sync-period",
            help="sliceplane only: rewrite every rule (repairing drift) this often; "
            "kube-proxy's fixed value is 1h.",
        ),
    ] = "1h",
    min_sync_period: Annotated[
        str, typer.Option("--min-sync-period", help="Minimum time between syncs (Go duration).")
    ] = "1s",
    metrics_bind_address: Annotated[
        str, typer.Option("--metrics-bind-address", help="HOST:PORT for /metrics ('' disables).")
    ] = "127.0.0.1:10249",
    healthz_bind_address: Annotated[
        str, typer.Option("--healthz-bind-address", help="HOST:PORT for /healthz ('' disables).")
    ] = "127.0.0.1:10256",
    masquerade_bit: Annotated[
        int, typer.Option("--masquerade-bit", help="Bit of the fwmark that requests SNAT.")
    ] = 14,
    verbose: Annotated[bool, typer.Option("-v", "--verbose")] = False,
) -> None:
    """Route Service traffic from EndpointSlices, as kube-proxy does (runs until SIGTERM,
    which leaves the rules in place)."""
    from sliceplane.cli.main import parse_duration
    from sliceplane.proxy.backends import BackendError
    from sliceplane.proxy.server import ConfigError, ProxyConfig, run

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    periods: dict[str, float] = {}
    for flag, value in (
        ("--sync-period", sync_period),
        ("--min-sync-period", min_sync_period),
        ("--full-sync-period", full_sync_period),
    ):
        try:
            periods[flag] = parse_duration(value)
        except ValueError as exc:
            _fail(f"{flag}: {exc}")
    config = ProxyConfig(
        kubeconfig=kubeconfig,
        hostname_override=hostname_override,
        proxy_mode=proxy_mode,
        cluster_cidr=cluster_cidr,
        masquerade_all=masquerade_all,
        dry_run=dry_run,
        cleanup=cleanup,
        sync_period=periods["--sync-period"],
        min_sync_period=periods["--min-sync-period"],
        full_sync_period=periods["--full-sync-period"],
        metrics_bind_address=metrics_bind_address,
        healthz_bind_address=healthz_bind_address,
        masquerade_bit=masquerade_bit,
    )
    try:
        config.validate()
        asyncio.run(run(config))
    except ConfigError as exc:
        _fail(str(exc))
    except BackendError as exc:
        _fail(str(exc), 1)
    except KeyboardInterrupt:
        pass
