"""``sliceplane doctor`` and the ``kubectl sliceplane`` plugin: why a Service gets no traffic.

Argument parsing and printing only; the diagnosis is :func:`sliceplane.doctor.diagnose`
over what :mod:`sliceplane.doctor.gather` lists. Exit codes: 0 when traffic can flow, 1
when a finding of severity ``error`` is found, 2 for usage and connection errors (one line
on stderr, mapped by :func:`sliceplane.cli.main.main`).

As a kubectl plugin (``kubectl-sliceplane`` on PATH) it follows kubectl's conventions:
``--kubeconfig``, ``--context``, ``-n/--namespace`` (default: the context's namespace)
and ``KUBECONFIG``.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from sliceplane.doctor.findings import Report
from sliceplane.doctor.render import Line, namespace_json, plain, service_lines, table_lines

T = TypeVar("T")

EXIT_PROBLEM = 1
EXIT_USAGE = 2

app = typer.Typer(
    name="doctor",
    help="Why a Service gets no traffic: findings with evidence and a fix (read-only).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

Kubeconfig = Annotated[
    Path | None,
    typer.Option("--kubeconfig", help="Kubeconfig file (default: KUBECONFIG, ~/.kube/config)."),
]
Context = Annotated[str | None, typer.Option("--context", help="Kubeconfig context to use.")]
Output = Annotated[str, typer.Option("-o", "--output", help="text or json.")]
ClusterDomain = Annotated[
    str,
    typer.Option("--cluster-domain", help="DNS zone of Services (kubelet's --cluster-domain)."),
]


def _check_output(output: str) -> None:
    if output not in ("text", "json"):
        raise typer.BadParameter(f"must be text or json, not {output!r}", param_hint="'-o'")


def _run(kubeconfig: Path | None, context: str | None, work: Callable[..., Awaitable[T]]) -> T:
    """Connect, run ``work(client)``, close; API errors become one line and exit 2."""
    from sliceplane.api.errors import StatusError
    from sliceplane.client.client import Client

    async def go() -> T:
        async with await Client.connect(kubeconfig, context) as client:
            return await work(client)

    try:
        return asyncio.run(go())
    except StatusError as exc:
        typer.echo(f"error: the API server refused a read: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    except TimeoutError:
        typer.echo("error: cannot reach the API server: timed out", err=True)
        raise typer.Exit(EXIT_USAGE) from None


def _print(lines: list[Line]) -> None:
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.text import Text

        console = Console(highlight=False, soft_wrap=True)
        for style, text in lines:
            console.print(Text(text, style=style or ""))
    else:
        sys.stdout.write(plain(lines))


@app.command("service")
def service(
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="The Service's name.", show_default=False)
    ],
    namespace: Annotated[
        str | None,
        typer.Option("-n", "--namespace", help="Namespace (default: the context's)."),
    ] = None,
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    output: Output = "text",
    cluster_domain: ClusterDomain = "cluster.local",
    verbose: Annotated[
        bool, typer.Option("-v", "--verbose", help="All evidence lines, not the first few.")
    ] = False,
) -> None:
    """Diagnose one Service: exit 0 when traffic can flow, 1 when it cannot."""
    _check_output(output)
    from sliceplane.doctor.diagnose import diagnose
    from sliceplane.doctor.gather import gather_service

    async def work(client: object) -> Report:
        from sliceplane.client.client import Client

        assert isinstance(client, Client)
        ns = namespace or client.conn.default_namespace
        return diagnose(await gather_service(client, ns, name), cluster_domain=cluster_domain)

    report = _run(kubeconfig, context, work)
    if output == "json":
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        _print(service_lines(report, verbose=verbose))
    raise typer.Exit(0 if report.ok else EXIT_PROBLEM)


@app.command("namespace")
def namespace_cmd(
    namespace_arg: Annotated[
        str | None,
        typer.Argument(metavar="[NAMESPACE]", help="Default: the context's namespace."),
    ] = None,
    namespace: Annotated[
        str | None, typer.Option("-n", "--namespace", help="Same as the argument.")
    ] = None,
    all_namespaces: Annotated[
        bool, typer.Option("-A", "--all-namespaces", help="Every Service of the cluster.")
    ] = False,
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    output: Output = "text",
    cluster_domain: ClusterDomain = "cluster.local",
) -> None:
    """Diagnose every Service of a namespace: a summary table, exit 1 if any has an error."""
    _check_output(output)
    if namespace_arg and namespace and namespace_arg != namespace:
        raise typer.BadParameter("give the namespace once", param_hint="NAMESPACE")
    wanted = namespace_arg or namespace
    if wanted and all_namespaces:
        raise typer.BadParameter(
            "a namespace and --all-namespaces exclude each other", param_hint="'-A'"
        )
    from sliceplane.doctor.diagnose import diagnose
    from sliceplane.doctor.gather import gather_namespaces

    async def work(client: object) -> list[Report]:
        from sliceplane.client.client import Client

        assert isinstance(client, Client)
        ns = None if all_namespaces else (wanted or client.conn.default_namespace)
        snapshots = await gather_namespaces(client, ns)
        return [diagnose(s, cluster_domain=cluster_domain) for s in snapshots]

    reports = _run(kubeconfig, context, work)
    if output == "json":
        typer.echo(json.dumps(namespace_json(reports), indent=2))
    elif not reports:
        typer.echo("no Services found", err=True)
    else:
        _print(table_lines(reports))
    raise typer.Exit(0 if all(r.ok for r in reports) else EXIT_PROBLEM)


def plugin_main() -> None:
    """``kubectl-sliceplane``: the sliceplane command under kubectl's plugin name, so
    ``kubectl sliceplane doctor service NAME -n NS`` is ``sliceplane doctor ...``."""
    from sliceplane.cli.main import main

    main(prog_name="kubectl sliceplane")
