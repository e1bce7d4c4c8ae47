"""The "pod" of the real-packet tests: an HTTP server that answers with its own name.

Run as ``python -m sliceplane.testenv.namesrv --name pod-1 --port 8080`` inside a pod
namespace (:class:`sliceplane.testenv.netns.Network` does). Every GET is answered with one
line, ``<name> <client-ip>:<client-port>``: the name says which endpoint a proxy chose, the
client address shows whether the proxy masqueraded. Every UDP datagram to the same port
gets the same line back. It listens on all addresses of its namespace, handles connections
in threads (clients open many short connections) and stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import signal
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType


def make_handler(name: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "namesrv"

        def do_GET(self) -> None:
            host, port = self.client_address[:2]
            body = f"{name} {host}:{port}\n".encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # thousands of requests per test: the log would only be noise

    return Handler


def serve_udp(sock: socket.socket, name: str) -> None:
    """Answer each datagram with the name and the sender, until the socket is closed."""
    while True:
        try:
            _, (host, port) = sock.recvfrom(2048)
            sock.sendto(f"{name} {host}:{port}\n".encode(), (host, port))
        except OSError:
            return


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="namesrv")
    parser.add_argument("--name", required=True)
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--bind", default="0.0.0.0")
    args = parser.parse_args(argv)
    server = ThreadingHTTPServer((args.bind, args.port), make_handler(args.name))
    server.daemon_threads = True
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind((args.bind, args.port))
    threading.Thread(target=serve_udp, args=(udp, args.name), daemon=True).start()

    def stop(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    print(f"namesrv {args.name} listening on {args.bind}:{args.port}", flush=True)
    server.serve_forever(poll_interval=0.2)
    server.server_close()
    udp.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
