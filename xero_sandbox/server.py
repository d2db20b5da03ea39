"""Serving the sandbox in-process on a random loopback port (tests, benchmark, demo)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from flask import Flask
from werkzeug.serving import WSGIRequestHandler, make_server


class _QuietHandler(WSGIRequestHandler):
    """No access log line per request: tests and benchmarks make thousands."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


def serve_in_thread(
    app: Flask, host: str = "127.0.0.1", port: int = 0, quiet: bool = True
) -> tuple[str, Callable[[], None]]:
    """Start ``app`` on a threaded werkzeug server; return its base URL and a stop function.

    Port 0 asks the OS for a free port. Threaded, because Xero's concurrency limit only
    means something when calls can overlap.
    """
    server = make_server(
        host, port, app, threaded=True, request_handler=_QuietHandler if quiet else None
    )
    # A short poll interval makes stop() quick (the default 0.5 s adds up across tests).
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name="xero-sandbox",
        daemon=True,
    )
    thread.start()
    base_url = f"http://{host}:{server.server_port}"

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return base_url, stop
