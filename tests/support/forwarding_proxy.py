"""An HTTP reverse proxy on loopback that adds the client's address the way real proxies do.

The tests put it in front of an example server to check that a client cannot choose the address
the app records (docs/security.md, trusted proxies). It connects upstream from its own loopback
address (:data:`PROXY_ADDRESS`), as a proxy on another host would, and rewrites the forwarding
headers in one of three styles:

- ``nginx``: one ``X-Forwarded-For`` line, the client's lines joined with the peer appended
  (``proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for``);
- ``haproxy``: the client's lines kept and a separate ``X-Forwarded-For: <peer>`` line added
  (``option forwardfor``);
- ``rfc7239``: the client's lines kept and a separate ``Forwarded: for=<peer>`` line added
  (HAProxy's ``option forwarded``).

Every other header, repeated ones included, passes through in order, both ways.
"""

from __future__ import annotations

import contextlib
import http.client
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal
from urllib.parse import urlsplit

Style = Literal["nginx", "haproxy", "rfc7239"]
PROXY_ADDRESS = "127.0.0.2"  # where the proxy's upstream connections come from
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "proxy-connection"}


def rewrite(headers: list[tuple[str, str]], peer: str, style: Style) -> list[tuple[str, str]]:
    """The header lines the proxy sends upstream for a request from ``peer``."""
    if style == "nginx":
        client_lines = [v for k, v in headers if k.lower() == "x-forwarded-for"]
        kept = [(k, v) for k, v in headers if k.lower() != "x-forwarded-for"]
        return [*kept, ("X-Forwarded-For", ", ".join([*client_lines, peer]))]
    if style == "haproxy":
        return [*headers, ("X-Forwarded-For", peer)]
    return [*headers, ("Forwarded", f"for={peer}")]


class _Handler(BaseHTTPRequestHandler):
    server: _ProxyServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        """Silent: the test output is no place for an access log."""

    def _forward(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else None
        lines = [(k, v) for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP]
        upstream = http.client.HTTPConnection(
            *self.server.upstream, timeout=30, source_address=(PROXY_ADDRESS, 0)
        )
        try:
            upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for name, value in rewrite(lines, self.client_address[0], self.server.style):
                upstream.putheader(name, value)
            upstream.endheaders(body)
            response = upstream.getresponse()
            content = response.read()
            self.send_response_only(response.status, response.reason)
            for name, value in response.getheaders():
                if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)
        finally:
            upstream.close()

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _forward


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream: tuple[str, int], style: Style) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.upstream = upstream
        self.style = style


@contextlib.contextmanager
def forwarding_proxy(upstream_url: str, style: Style) -> Iterator[str]:
    """A running proxy in ``style`` in front of ``upstream_url``; yields its own base URL."""
    target = urlsplit(upstream_url)
    assert target.hostname is not None and target.port is not None
    server = _ProxyServer((target.hostname, target.port), style)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
