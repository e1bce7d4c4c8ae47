"""The small HTTP side every long-running component has: ``/metrics`` and health checks on a
``--metrics-bind-address``-style flag.

One place binds it, so a port in use reads the same everywhere (``FLAG ADDRESS: reason``, one
line, raised as the caller's own error type) and a failed bind leaves nothing behind. The
routes are the caller's; this module knows nothing of what they answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web

from sliceplane.api.hostport import HostPortError, parse_hostport

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def serve(
    address: str,
    flag: str,
    routes: Mapping[str, Handler],
    *,
    default_host: str | None = None,
    error: Callable[[str], Exception] = HostPortError,
) -> web.AppRunner:
    """Serve ``routes`` (GET, path to handler) on ``address``, the value of ``flag``.

    ``address`` is parsed as :func:`~sliceplane.api.hostport.parse_hostport` does; a bad
    address or a failed bind raises ``error(message)``. The caller cleans the runner up.
    """
    host, port = parse_hostport(address, flag, default_host=default_host, error=error)
    app = web.Application()
    for path, handler in routes.items():
        app.router.add_get(path, handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        raise error(f"{flag} {address}: {exc.strerror or exc}") from None
    return runner
