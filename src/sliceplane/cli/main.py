"""``sliceplane`` console command.

Known errors become one line on stderr and a non-zero exit code; tracebacks are for bugs.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
from pathlib import Path
from typing import Annotated

import typer

from sliceplane import __version__
from sliceplane.cli import dns as dns_cli
from sliceplane.cli.backup import backup_command
from sliceplane.cli.demo import demo
from sliceplane.cli.doctor import app as doctor_app
from sliceplane.cli.proxy import proxy as proxy_command
from sliceplane.cli.report import app as report_app
from sliceplane.cli.testenv import app as testenv_app
from sliceplane.cli.view import view as view_command
from sliceplane.workloads.kubelet.podcidr import DEFAULT_CLUSTER_CIDR_IPV4

app = typer.Typer(
    name="sliceplane",
    help="Kubernetes Service discovery built on EndpointSlices.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

app.add_typer(testenv_app, name="testenv")
app.command()(demo)
app.add_typer(doctor_app, name="doctor")
dns_cli.register(app)
app.command("view")(view_command)
app.add_typer(report_app, name="report")
app.command("proxy")(proxy_command)
app.command("backup")(backup_command)

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
        str,
        typer.Option("--service-cidr", help="Service IP range(s): CIDR, or v4,v6 for dual-stack."),
    ] = "10.96.0.0/12",
    insecure_http: Annotated[
        bool, typer.Option("--insecure-http", help="Plain HTTP without authentication.")
    ] = False,
    history_window: Annotated[
        int, typer.Option("--history-window", help="Watch history kept, in events.", min=1)
    ] = 200_000,
    allow_loopback_endpoints: Annotated[
        bool,
        typer.Option(
            "--allow-loopback-endpoints",
            help="Accept 127.0.0.0/8 endpoint addresses (the process runtime's pods).",
        ),
    ] = False,
    tls_san: Annotated[
        list[str] | None,
        typer.Option(
            "--tls-san",
            help=(
                "A further address or DNS name the serving certificate is valid for "
                "(repeatable): what clients dial when they do not reach --listen's host."
            ),
        ),
    ] = None,
    pod_logs_dir: Annotated[
        Path | None,
        typer.Option(
            "--pod-logs-dir",
            help="Serve pods/log from the process runtime's pod logs here (sliceplane up).",
        ),
    ] = None,
    serve_process_pods: Annotated[
        bool,
        typer.Option(
            "--serve-process-pods",
            help="Serve exec and port-forward for pods of the process runtime "
            "(sliceplane up --runtime process): commands run on this machine.",
        ),
    ] = False,
    check: Annotated[
        bool,
        typer.Option("--check", help="Check the state database (read-only) and exit."),
    ] = False,
    accept_data_loss: Annotated[
        bool,
        typer.Option(
            "--accept-data-loss",
            help="Start on state that lost acknowledged writes, keeping what is intact.",
        ),
    ] = False,
    restore_from: Annotated[
        Path | None,
        typer.Option(
            "--restore-from",
            help="Replace the state with a backup (sliceplane backup), then start.",
        ),
    ] = None,
    verbose: Annotated[bool, typer.Option("-v", "--verbose")] = False,
) -> None:
    """Run the embedded Kubernetes-compatible API server until SIGTERM/SIGINT."""
    import ipaddress

    from sliceplane.apiserver.server import APIServerConfig, ConfigError, run_until_signalled
    from sliceplane.storage.statefile import StateError
    from sliceplane.workloads.kubelet.execenv import exec_environment

    if check:
        from sliceplane.storage.store import check_state

        try:
            typer.echo(check_state(data_dir / "state.sqlite"))
        except StateError as exc:
            fail(str(exc), EXIT_USAGE)
        return

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if restore_from is not None:
        from sliceplane.storage.backup import restore

        try:
            moved = restore(data_dir / "state.sqlite", restore_from)
        except StateError as exc:
            fail(str(exc), EXIT_USAGE)
        if moved is not None:
            typer.echo(f"restored {restore_from}; the replaced state is kept as {moved}")
        accept_data_loss = True  # the backup is older than what was acknowledged
    families: list[int] = []
    for cidr in service_cidr.split(","):
        try:
            net = ipaddress.ip_network(cidr.strip(), strict=False)
        except ValueError:
            fail(f"--service-cidr: {cidr!r} is not a valid CIDR", EXIT_USAGE)
        if net.num_addresses < 8:
            fail(f"--service-cidr: {cidr} is too small (need at least /29)", EXIT_USAGE)
        families.append(net.version)
    if len(families) > 2 or len(set(families)) != len(families):
        fail("--service-cidr: give one CIDR, or one IPv4 and one IPv6 CIDR", EXIT_USAGE)
    sans = [name.strip() for given in tls_san or [] for name in given.split(",") if name.strip()]
    config = APIServerConfig(
        data_dir=data_dir,
        listen=listen,
        service_cidr=service_cidr,
        insecure_http=insecure_http,
        history_max=history_window,
        allow_loopback_endpoints=allow_loopback_endpoints,
        accept_data_loss=accept_data_loss,
        extra_hosts=sans,
        pod_logs_dir=pod_logs_dir,
        # exec into pods of the process runtime (they live under DATA_DIR/pods); without
        # the flag a pod claiming process:// containers is not taken at its word.
        exec_environment=exec_environment(data_dir / "pods") if serve_process_pods else None,
    )
    from sliceplane.machinery.gctuning import tune_for_large_caches

    tune_for_large_caches()  # it holds every object decoded, as a controller's caches do
    try:
        asyncio.run(run_until_signalled(config))
    except (ConfigError, StateError) as exc:
        fail(str(exc), EXIT_USAGE)
    except KeyboardInterrupt:
        pass


@app.command()
def up(
    data_dir: Annotated[
        Path, typer.Option("--data-dir", help="State, certificates, kubeconfig, logs.")
    ],
    listen: Annotated[str, typer.Option(help="API server HOST:PORT.")] = "127.0.0.1:6443",
    nodes: Annotated[int, typer.Option(help="Number of simulated nodes.")] = 3,
    zones: Annotated[str, typer.Option(help="Comma-separated zones, assigned round-robin.")] = (
        "zone-a,zone-b,zone-c"
    ),
    runtime: Annotated[str, typer.Option(help="simulated or process.")] = "simulated",
    max_endpoints_per_slice: Annotated[int, typer.Option("--max-endpoints-per-slice")] = 100,
    insecure_http: Annotated[bool, typer.Option("--insecure-http")] = False,
    dual_stack: Annotated[
        bool, typer.Option("--dual-stack", help="IPv4 and IPv6 services and pods.")
    ] = False,
    service_cidr: Annotated[
        str,
        typer.Option(
            "--service-cidr",
            help="Service range (default 10.96.0.0/12; 127.96.0.0/12 with --runtime process).",
        ),
    ] = "",
    cluster_cidr: Annotated[
        str,
        typer.Option(
            "--cluster-cidr",
            help="Pod range the nodes' pod CIDRs are cut from: IPv4, or IPv4,IPv6 with "
            "--dual-stack.",
        ),
    ] = DEFAULT_CLUSTER_CIDR_IPV4,
    node_cidr_mask_size: Annotated[
        int,
        typer.Option("--node-cidr-mask-size", help="Prefix length of each node's IPv4 pod CIDR."),
    ] = 24,
    kube_api_qps: Annotated[
        float,
        typer.Option(
            "--kube-api-qps", help="Requests/s per endpoint controller (negative: unlimited)."
        ),
    ] = 20.0,
    kube_api_burst: Annotated[int, typer.Option("--kube-api-burst")] = 30,
    view_listen: Annotated[
        str, typer.Option("--view-listen", help="HOST:PORT of the web view ('' to not serve it).")
    ] = "127.0.0.1:8001",
    dns_listen: Annotated[
        str, typer.Option("--dns-listen", help="Cluster DNS HOST:PORT, UDP and TCP (0: free).")
    ] = "127.0.0.1:0",
    verbose: Annotated[bool, typer.Option("-v", "--verbose")] = False,
) -> None:
    """Run a local cluster: API server, controllers, scheduler and simulated nodes."""
    from sliceplane.cluster.up import ClusterConfig, ClusterError, run_until_signalled

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    config = ClusterConfig(
        data_dir=data_dir,
        listen=listen,
        nodes=nodes,
        zones=tuple(z.strip() for z in zones.split(",") if z.strip()),
        runtime=runtime,
        max_endpoints_per_slice=max_endpoints_per_slice,
        insecure_http=insecure_http,
        dual_stack=dual_stack,
        service_cidr=service_cidr,
        cluster_cidr=cluster_cidr,
        node_cidr_mask_size=node_cidr_mask_size,
        kube_api_qps=kube_api_qps,
        kube_api_burst=kube_api_burst,
        view_listen=view_listen,
        dns_listen=dns_listen,
    )
    from sliceplane.machinery.gctuning import tune_for_large_caches

    tune_for_large_caches()  # every informer of the cluster lives in this one process
    try:
        config.validate()
        asyncio.run(run_until_signalled(config))
    except ClusterError as exc:
        fail(str(exc), EXIT_USAGE)
    except KeyboardInterrupt:
        pass


node_app = typer.Typer(help="Simulated node failures (through the API, like kubectl would).")
app.add_typer(node_app, name="node")


def _node_switch(name: str, kubeconfig: Path | None, stopped: bool) -> None:
    from sliceplane.api.errors import StatusError
    from sliceplane.client.client import Client
    from sliceplane.cluster.nodeswitch import ANNOTATION_STOPPED

    async def go() -> None:
        async with await Client.connect(str(kubeconfig) if kubeconfig else None) as client:
            value = "true" if stopped else None
            await client.patch(
                "nodes", name, {"metadata": {"annotations": {ANNOTATION_STOPPED: value}}}
            )

    try:
        asyncio.run(go())
    except (StatusError, OSError) as exc:
        fail(str(exc))
    typer.echo(f"node/{name} {'stopped' if stopped else 'started'}")


@node_app.command("stop")
def node_stop(
    name: str,
    kubeconfig: Annotated[Path | None, typer.Option("--kubeconfig")] = None,
) -> None:
    """Make a simulated node fail: NotReady, its pods not ready."""
    _node_switch(name, kubeconfig, True)


@node_app.command("start")
def node_start(
    name: str,
    kubeconfig: Annotated[Path | None, typer.Option("--kubeconfig")] = None,
) -> None:
    """Bring a stopped simulated node back."""
    _node_switch(name, kubeconfig, False)


_DURATION_RE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """Go's duration syntax (``0``, ``500ms``, ``1m30s``) in seconds; ValueError if bad."""
    if text in ("0", "-0", "+0"):
        return 0.0
    sign = -1.0 if text.startswith("-") else 1.0
    body = text.lstrip("+-")
    pos, total = 0, 0.0
    for m in _DURATION_RE.finditer(body):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if not body or pos != len(body):
        raise ValueError(f"invalid duration {text!r}")
    return sign * total


@app.command()
def controller(
    kubeconfig: Annotated[
        Path | None, typer.Option("--kubeconfig", help="Kubeconfig of the API server.")
    ] = None,
    controllers: Annotated[
        str, typer.Option(help="Comma-separated: endpointslice,endpointslicemirroring,endpoints.")
    ] = "endpointslice,endpointslicemirroring,endpoints",
    max_endpoints_per_slice: Annotated[int, typer.Option("--max-endpoints-per-slice")] = 100,
    concurrent_service_endpoint_syncs: Annotated[
        int, typer.Option("--concurrent-service-endpoint-syncs")
    ] = 5,
    endpointslice_updates_batch_period: Annotated[
        str, typer.Option("--endpointslice-updates-batch-period", help="Go duration, e.g. 1s.")
    ] = "0s",
    endpointslice_write_backoff: Annotated[
        str,
        typer.Option(
            "--endpointslice-write-backoff",
            help="sliceplane only: hold a busy Service's next write back this long "
            "(doubling to 4x); 0s is upstream's behaviour.",
        ),
    ] = "0s",
    endpointslice_min_write_period: Annotated[
        str,
        typer.Option(
            "--endpointslice-min-write-period",
            help="sliceplane only: the shortest time between the starts of two writing syncs "
            "of a Service of 10,000+ endpoints (less for smaller ones); 0s is upstream's "
            "behaviour.",
        ),
    ] = "200ms",
    mirroring_max_endpoints_per_subset: Annotated[
        int, typer.Option("--mirroring-max-endpoints-per-subset")
    ] = 1000,
    kube_api_qps: Annotated[
        float,
        typer.Option("--kube-api-qps", help="Requests/s per controller (negative: unlimited)."),
    ] = 20.0,
    kube_api_burst: Annotated[int, typer.Option("--kube-api-burst")] = 30,
    kube_api_content_type: Annotated[
        str,
        typer.Option(
            "--kube-api-content-type",
            help="Encoding of the controllers' writes: application/vnd.kubernetes.protobuf "
            "(kube-controller-manager's default) or application/json.",
        ),
    ] = "application/vnd.kubernetes.protobuf",
    leader_elect: Annotated[bool, typer.Option("--leader-elect")] = False,
    leader_elect_namespace: Annotated[str, typer.Option("--leader-elect-namespace")] = (
        "kube-system"
    ),
    metrics_bind_address: Annotated[
        str, typer.Option("--metrics-bind-address", help="host:port for /metrics and /healthz.")
    ] = "127.0.0.1:10257",
    verbose: Annotated[bool, typer.Option("-v", "--verbose")] = False,
) -> None:
    """Run the EndpointSlice, mirroring and Endpoints controllers against an API server."""
    from sliceplane.manager.manager import ConfigError, ManagerConfig, run_until_signalled

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        batch = parse_duration(endpointslice_updates_batch_period)
    except ValueError as exc:
        fail(f"--endpointslice-updates-batch-period: {exc}", EXIT_USAGE)
    try:
        backoff = parse_duration(endpointslice_write_backoff)
    except ValueError as exc:
        fail(f"--endpointslice-write-backoff: {exc}", EXIT_USAGE)
    try:
        write_period = parse_duration(endpointslice_min_write_period)
    except ValueError as exc:
        fail(f"--endpointslice-min-write-period: {exc}", EXIT_USAGE)
    config = ManagerConfig(
        kubeconfig=kubeconfig,
        controllers=tuple(c.strip() for c in controllers.split(",") if c.strip()),
        max_endpoints_per_slice=max_endpoints_per_slice,
        concurrent_service_endpoint_syncs=concurrent_service_endpoint_syncs,
        endpointslice_updates_batch_period=batch,
        endpointslice_write_backoff=backoff,
        endpointslice_min_write_period=write_period,
        mirroring_max_endpoints_per_subset=mirroring_max_endpoints_per_subset,
        kube_api_qps=kube_api_qps,
        kube_api_burst=kube_api_burst,
        kube_api_content_type=kube_api_content_type,
        leader_elect=leader_elect,
        leader_elect_namespace=leader_elect_namespace,
        metrics_bind_address=metrics_bind_address or None,
    )
    try:
        config.validate()
    except ConfigError as exc:
        fail(str(exc), EXIT_USAGE)
    from sliceplane.machinery.gctuning import tune_for_large_caches

    tune_for_large_caches()
    try:
        asyncio.run(run_until_signalled(config))
    except ConfigError as exc:
        fail(str(exc), EXIT_USAGE)
    except KeyboardInterrupt:
        pass
    except Exception as exc:  # connection problems etc.: one line, not a traceback
        from sliceplane.api.errors import StatusError

        if isinstance(exc, StatusError | OSError | FileNotFoundError):
            fail(str(exc))
        raise


def main(argv: list[str] | None = None, prog_name: str = "sliceplane") -> None:
    """Run the command line; every known failure is one line on stderr.

    Typer's standalone mode draws usage errors as a boxed panel and lets configuration and
    connection errors escape as tracebacks; running it non-standalone lets one place map
    them to ``error: ...`` and upstream-style exit codes (2 for usage, as kubectl and click
    use) for every subcommand, including the ones other modules register."""
    import aiohttp
    from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError

    from sliceplane.client.client import KubeconfigError

    try:
        rv = app(args=argv, prog_name=prog_name, standalone_mode=False)
    except NoArgsIsHelpError as exc:
        if exc.ctx is not None:
            typer.echo(exc.ctx.get_help())
        sys.exit(EXIT_USAGE)
    except UsageError as exc:
        where = exc.ctx.command_path if exc.ctx is not None else prog_name
        message = " ".join(exc.format_message().split())
        typer.echo(f"error: {where}: {message} (see '{where} --help')", err=True)
        sys.exit(EXIT_USAGE)
    except ClickException as exc:
        typer.echo(f"error: {' '.join(exc.format_message().split())}", err=True)
        sys.exit(exc.exit_code)
    except KubeconfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    except aiohttp.ClientConnectionError as exc:
        typer.echo(f"error: cannot reach the API server: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    except typer.Abort:
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":
    main()
