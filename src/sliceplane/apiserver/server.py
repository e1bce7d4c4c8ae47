"""Starting and stopping the embedded API server, in-process or as ``sliceplane apiserver``.

The contract other tools rely on: an admin kubeconfig at ``DATA_DIR/kubeconfig``, ``/readyz``
answering ``ok`` once serving, a clean stop on SIGTERM/SIGINT, and every object kept
across restarts on the same data directory.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import signal
import ssl
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from aiohttp import web

from sliceplane.api.hostport import parse_hostport
from sliceplane.apiserver.certs import ensure_credentials
from sliceplane.apiserver.gc import GarbageCollector
from sliceplane.apiserver.http import APIServerApp, ServerOptions
from sliceplane.apiserver.httperrors import StatusAppRunner
from sliceplane.apiserver.registry import Registry
from sliceplane.apiserver.streaming.handler import ExecEnvironment
from sliceplane.storage.store import Store

log = logging.getLogger(__name__)


class ConfigError(Exception):
    """A setting the server cannot start with; the CLI prints it as one line."""


@dataclass(slots=True)
class APIServerConfig:
    data_dir: Path
    listen: str = "127.0.0.1:6443"
    """host:port to listen on; port 0 picks a free port (tests)."""
    service_cidr: str = "10.96.0.0/12"
    insecure_http: bool = False
    """Serve plain HTTP without authentication (only when asked)."""
    history_max: int = 200_000
    """Watch history window in events; older resourceVersions get 410 Expired."""
    accept_data_loss: bool = False
    """Start on state that lost acknowledged writes (a damaged WAL), keeping what is intact;
    revisions continue above the highest one ever acknowledged."""
    bookmark_interval: float = 10.0
    synchronous: str = "FULL"
    """SQLite synchronous mode: FULL survives power loss, NORMAL only process crashes."""
    extra_hosts: list[str] = field(default_factory=list)
    allow_loopback_endpoints: bool = False
    """Accept 127.0.0.0/8 and ::1 in EndpointSlices and Endpoints (upstream refuses them);
    for the local cluster's process runtime, whose pods listen on loopback addresses."""
    pod_logs_dir: Path | None = None
    """The process runtime's pod directories, from which ``pods/log`` is answered."""
    exec_environment: ExecEnvironment | None = None
    """The env and working directory of ``kubectl exec`` into process-runtime pods."""


def split_listen(listen: str) -> tuple[str, int]:
    return parse_hostport(listen, "--listen", default_host="127.0.0.1", error=ConfigError)


class APIServer:
    """One running server: store, registry, garbage collector and HTTP listener."""

    def __init__(self, config: APIServerConfig) -> None:
        self.config = config
        self.store = Store(
            config.data_dir / "state.sqlite",
            history_max=config.history_max,
            synchronous=config.synchronous,
            accept_data_loss=config.accept_data_loss,
        )
        self.registry = Registry(
            self.store,
            config.service_cidr,
            allow_loopback_endpoints=config.allow_loopback_endpoints,
        )
        self.gc = GarbageCollector(self.registry)
        self.app: APIServerApp | None = None
        self._runner: web.AppRunner | None = None
        self.url = ""
        self.kubeconfig_path = config.data_dir / "kubeconfig"
        self.token: str | None = None

    async def start(self) -> None:
        cfg = self.config
        host, port = split_listen(cfg.listen)
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
        ssl_ctx: ssl.SSLContext | None = None
        ca_data: bytes | None = None
        if not cfg.insecure_http:
            creds = ensure_credentials(cfg.data_dir, [host, *cfg.extra_hosts])
            ssl_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ssl_ctx.load_cert_chain(creds.serving_cert, creds.serving_key)
            self.token = creds.token
            ca_data = creds.ca_cert.read_bytes()
        await self.store.start()
        self.registry.rebuild_allocators()
        await self.registry.bootstrap()
        self.gc.start()
        self.app = APIServerApp(
            self.registry,
            ServerOptions(
                token=self.token,
                bookmark_interval=cfg.bookmark_interval,
                server_address=f"{host}:{port}",
                pod_logs_dir=cfg.pod_logs_dir,
                exec_environment=cfg.exec_environment,
            ),
        )
        self._runner = StatusAppRunner(self.app.make_app(), access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, ssl_context=ssl_ctx, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            await self.gc.stop()
            await self.store.stop()
            raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
        server = site._server
        assert isinstance(server, asyncio.base_events.Server)
        actual_port = server.sockets[0].getsockname()[1]
        scheme = "http" if cfg.insecure_http else "https"
        shown = f"[{host}]" if ":" in host else host
        self.url = f"{scheme}://{shown}:{actual_port}"
        write_kubeconfig(self.kubeconfig_path, self.url, ca_data, self.token)
        self.app.ready = True

    async def stop(self) -> None:
        if self.app is not None:
            self.app.ready = False
            await self.app.shutdown()
        if self._runner is not None:
            await self._runner.cleanup()
        await self.gc.stop()
        await self.store.stop()


def write_kubeconfig(path: Path, url: str, ca_data: bytes | None, token: str | None) -> None:
    cluster: dict[str, object] = {"server": url}
    if ca_data is not None:
        cluster["certificate-authority-data"] = base64.b64encode(ca_data).decode()
    user: dict[str, object] = {"token": token} if token else {}
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "sliceplane", "cluster": cluster}],
        "users": [{"name": "sliceplane-admin", "user": user}],
        "contexts": [
            {
                "name": "sliceplane",
                "context": {
                    "cluster": "sliceplane",
                    "user": "sliceplane-admin",
                    "namespace": "default",
                },
            }
        ],
        "current-context": "sliceplane",
        "preferences": {},
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(doc, sort_keys=False))
    tmp.chmod(0o600)
    tmp.replace(path)


async def run_until_signalled(config: APIServerConfig) -> None:
    """``sliceplane apiserver``: serve until SIGTERM or SIGINT, then stop cleanly."""
    server = APIServer(config)
    await server.start()
    print(f"sliceplane API server listening on {server.url}", flush=True)
    print(f"kubeconfig: {server.kubeconfig_path}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    print("stopping", flush=True)
    await server.stop()
