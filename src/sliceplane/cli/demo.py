"""``sliceplane demo`` (what ``make demo`` runs): the walkthrough a newcomer runs first.

Narrates the steps of :class:`sliceplane.cluster.walkthrough.Walkthrough`: a local cluster
driven by the real kubectl, each command printed with its output. ``--keep`` leaves the
cluster running and prints how to reach it; ``--data-dir DIR`` keeps state somewhere of
your choosing (default ``./data/demo``; it is wiped first).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated

import typer

from sliceplane.cluster.walkthrough import BIN, DemoError, Walkthrough


def _say(text: str) -> None:
    typer.echo(f"\n\033[1m# {text}\033[0m")


def _echo(text: str) -> None:
    typer.echo(text)


def _real_traffic(data_dir: Path) -> None:
    """A second, small cluster whose pods are local processes: the userspace proxy makes
    each Service's ClusterIP answer from this machine."""
    _say(
        "Real traffic: a cluster whose pods are local processes (--runtime process); "
        "sliceplane's userspace proxy answers ClusterIPs"
    )
    real = Walkthrough(data_dir, echo=_echo, runtime="process")
    try:
        real.start()
        real.step_hello_deploy(3)
        _say("curl the ClusterIP: the ready pods answer in turn")
        real.step_curl(12)
        _say("Scale down to 1: its endpoints leave the slice, the proxy follows")
        real.step_hello_scale(1)
        real.step_curl(6)
    finally:
        real.stop()


def demo(
    data_dir: Annotated[
        Path, typer.Option("--data-dir", help="State of the demo cluster (wiped first).")
    ] = Path("data/demo"),
    keep: Annotated[bool, typer.Option("--keep", help="Leave the cluster running.")] = False,
) -> None:
    """Walk through EndpointSlices on a local cluster with the real kubectl."""
    if data_dir.exists():
        shutil.rmtree(data_dir)
    walk = Walkthrough(data_dir, echo=_echo)
    try:
        _say("Starting a local cluster: API server, controllers, 3 simulated nodes")
        walk.start()
        walk.step_nodes()
        _say("A Deployment of 6 replicas and a Service in front of it")
        walk.step_deploy()
        _say("The EndpointSlice controller published the ready pods")
        walk.step_slices()
        walk.step_describe()
        _say("Cluster DNS answers the Service's name with its cluster IP")
        walk.step_dns()
        _say("Scale to 300: slices hold at most 100 endpoints each")
        walk.step_scale(300)
        _say("Three pods fail their readiness check: their endpoints turn ready=false")
        walk.step_fail_readiness(3)
        _say("Deleting a pod: its endpoint is terminating (serving, not ready), then gone")
        walk.step_terminate()
        _say("A node fails: every endpoint on it goes not ready")
        walk.step_node_stop("node-2")
        _say("A Service whose selector matches nothing keeps an empty placeholder slice")
        walk.step_typo()
        _say("Break a Service four ways and let `kubectl sliceplane doctor` say why")
        walk.step_doctor()
        _real_traffic(data_dir / "process")
    except DemoError as exc:
        walk.stop()
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    if keep:
        assert walk.proc is not None
        typer.echo(
            f"\nThe cluster keeps running (pid {walk.proc.pid}). Keep exploring:\n"
            f"  export KUBECONFIG={data_dir / 'kubeconfig'}\n"
            f"  {BIN / 'kubectl'} get endpointslices -A\n"
            f"  {BIN / 'kubectl'} describe service payments-api\n"
            f"  {BIN / 'sliceplane'} node start node-2 --kubeconfig $KUBECONFIG\n"
            f"Stop it with: kill {walk.proc.pid}"
        )
    else:
        walk.stop()
        typer.echo("\nDone. `make demo ARGS=--keep` leaves the cluster running to keep exploring.")
