"""``sliceplane testenv up|down``: the real Kubernetes control plane, left running.

For poking at upstream by hand (kubectl, sliceplane's own commands, a benchmark's
``--against``) without writing Python: ``up`` starts etcd, kube-apiserver and optionally
kube-controller-manager in the background and records them in ``DIR/pids.json``; ``down``
stops exactly those processes. The binaries come from ``make k8s-bin``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    name="testenv",
    help="Run the real (upstream) Kubernetes control plane on loopback.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

DirOption = Annotated[
    Path,
    typer.Option("--dir", help="Work directory: certificates, etcd data, logs, kubeconfig."),
]


@app.command()
def up(
    workdir: DirOption,
    with_controller_manager: Annotated[
        bool,
        typer.Option("--with-controller-manager", help="Also run kube-controller-manager."),
    ] = False,
    controllers: Annotated[
        str,
        typer.Option(
            "--controllers",
            help="kube-controller-manager's --controllers list, e.g. "
            "'*,-endpointslice-controller,-endpointslice-mirroring-controller'.",
        ),
    ] = "*",
    authorization_mode: Annotated[
        str, typer.Option("--authorization-mode", help="AlwaysAllow or RBAC.")
    ] = "AlwaysAllow",
    unsafe_no_fsync: Annotated[
        bool,
        typer.Option("--unsafe-no-fsync", help="etcd skips fsync (faster, not durable)."),
    ] = False,
) -> None:
    """Start the control plane in the background and print the admin kubeconfig's path."""
    from sliceplane.testenv import ControlPlane, ControlPlaneError

    workdir = workdir.resolve()
    if (workdir / "pids.json").exists():
        typer.echo(f"error: {workdir} already has a running control plane (testenv down)", err=True)
        raise typer.Exit(1)
    workdir.mkdir(parents=True, exist_ok=True)
    # etcd refuses to start a "new" cluster over an old member's data.
    shutil.rmtree(workdir / "etcd", ignore_errors=True)
    cp = ControlPlane(
        workdir,
        with_controller_manager=with_controller_manager,
        controllers=[c.strip() for c in controllers.split(",") if c.strip()],
        authorization_mode=authorization_mode,
        unsafe_no_fsync=unsafe_no_fsync,
    )
    try:
        cp.start()
    except ControlPlaneError as exc:
        # start() has already stopped whatever it had started.
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    state = cp.detach()
    for entry in state["processes"]:
        typer.echo(f"{entry['name']}: pid {entry['pid']}, log {entry['log']}", err=True)
    typer.echo(f"{state['url']} (Kubernetes v{state['version']})", err=True)
    typer.echo(state["kubeconfig"])


@app.command()
def down(
    workdir: DirOption,
    clean: Annotated[bool, typer.Option("--clean", help="Also remove the work directory.")] = False,
) -> None:
    """Stop the processes recorded in DIR/pids.json (SIGTERM, then SIGKILL)."""
    from sliceplane.testenv import stop_recorded

    workdir = workdir.resolve()
    state_file = workdir / "pids.json"
    if not state_file.exists():
        typer.echo(f"nothing recorded in {state_file}", err=True)
    else:
        names = [e["name"] for e in json.loads(state_file.read_text()).get("processes") or []]
        stopped = stop_recorded(workdir)
        for name in names:
            typer.echo(f"{name}: {'stopped' if name in stopped else 'was not running'}", err=True)
    if clean:
        shutil.rmtree(workdir, ignore_errors=True)
