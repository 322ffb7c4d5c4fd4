"""Running the web app under uvicorn, with tokens kept out of the access log."""

from __future__ import annotations

import logging
import re
import socket

import uvicorn

from digest.app import App
from digest.web.app import create_app

_TOKEN_PATH = re.compile(r"/(preferences|unsubscribe)/[^/?\s]+")


class RedactTokens(logging.Filter):
    """Hide the signed tokens of preference and unsubscribe links in log lines.

    A token opens a reader's preferences for weeks; logs are read by more people.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _TOKEN_PATH.sub(r"/\1/…", a) if isinstance(a, str) else a for a in record.args
            )
        return True


def make_server(app: App, *, host: str, port: int, log_level: str = "info") -> uvicorn.Server:
    """A uvicorn server for the web app (not started)."""
    config = uvicorn.Config(
        create_app(app, extra_hosts=[host]),
        host=host,
        port=port,
        log_level=log_level,
        server_header=False,
        # Only a proxy on this computer may say who the client is (X-Forwarded-For).
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1",
        lifespan="off",
    )
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactTokens) for f in access.filters):
        access.addFilter(RedactTokens())
    return uvicorn.Server(config)


def serve(app: App, *, host: str, port: int) -> None:
    """Serve until Ctrl-C (or SIGTERM)."""
    make_server(app, host=host, port=port).run()


def run_on_socket(server: uvicorn.Server, sock: socket.socket) -> None:
    """Serve on an already bound socket (tests bind port 0 to get a free one)."""
    server.run(sockets=[sock])
