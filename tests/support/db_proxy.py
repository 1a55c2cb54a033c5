"""A TCP proxy the tests control, sitting between the library and a real database server.

It forwards bytes both ways on threads. :meth:`TcpProxy.cut` kills every established connection
(RST, as a crashed server or a pulled cable looks to the client) and resets every new connection
at once (as a server that is down looks); :meth:`TcpProxy.kill_established` kills only the
established ones and keeps forwarding new ones; :meth:`TcpProxy.restore` forwards again.
:meth:`TcpProxy.lose_reply_to` loses one answer: the request reaches the server, which does the
work, but the connection dies before the answer reaches the client.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
from collections.abc import Iterator

from sqlalchemy.engine import make_url

_LINGER_RST = struct.pack("ii", 1, 0)  # close() sends RST instead of FIN


def _reset(sock: socket.socket) -> None:
    """Close with RST: the peer's next read or write fails with "connection reset"."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
    with contextlib.suppress(OSError):
        sock.close()


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.close()


class TcpProxy:
    """``127.0.0.1:<port>`` -> ``target``; start with ``with TcpProxy(host, port) as proxy``."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._pairs: set[tuple[socket.socket, socket.socket]] = set()
        self._cut = False
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self.accepted = 0  # connections forwarded since start
        self.refused = 0  # connections reset at once while cut
        self.lost_replies = 0  # answers swallowed by lose_reply_to
        self._lose_marker: bytes | None = None

    # --- control ---------------------------------------------------------------------------

    def cut(self) -> None:
        """The database becomes unreachable: established connections die, new ones are reset."""
        with self._lock:
            self._cut = True
        self.kill_established()

    def restore(self) -> None:
        """Forward new connections again (killed ones stay dead, as after a real outage)."""
        with self._lock:
            self._cut = False

    def kill_established(self) -> int:
        """Reset every connection that is open now; returns how many there were."""
        with self._lock:
            pairs, self._pairs = self._pairs, set()
        for client, upstream in pairs:
            _reset(client)
            _reset(upstream)
        return len(pairs)

    def lose_reply_to(self, marker: bytes) -> None:
        """The next client message containing ``marker`` is forwarded; the server's answer to
        it is swallowed and the connection reset, so the client never learns the outcome."""
        with self._lock:
            self._lose_marker = marker

    @property
    def established(self) -> int:
        with self._lock:
            return len(self._pairs)

    def url(self, database_url: str) -> str:
        """``database_url`` with its host and port replaced by this proxy's."""
        url = make_url(database_url).set(host="127.0.0.1", port=self.port)
        return url.render_as_string(hide_password=False)

    # --- life --------------------------------------------------------------------------------

    def start(self) -> TcpProxy:
        self._spawn(self._accept_loop)
        return self

    def stop(self) -> None:
        self._stopping.set()
        self.kill_established()
        for thread in self._threads:
            thread.join(timeout=5)
        self._listener.close()

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        thread.start()
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                cut = self._cut
            if cut:
                self.refused += 1
                _reset(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _reset(client)
                continue
            client.settimeout(None)
            upstream.settimeout(None)
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            pair = (client, upstream)
            with self._lock:
                if self._cut:  # cut while we were connecting
                    _reset(client)
                    _reset(upstream)
                    continue
                self._pairs.add(pair)
                self.accepted += 1
            self._spawn(self._pump, pair)

    def _pump(self, pair: tuple[socket.socket, socket.socket]) -> None:
        client, upstream = pair
        other = {client: upstream, upstream: client}
        losing = False  # the server's next answer is to be swallowed
        try:
            while not self._stopping.is_set():
                readable, _, _ = select.select([client, upstream], [], [], 0.2)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    if sock is upstream and losing:
                        self.lost_replies += 1
                        with self._lock:
                            self._pairs.discard(pair)
                        _reset(client)
                        _reset(upstream)
                        return
                    if sock is client:
                        with self._lock:
                            marker = self._lose_marker
                            if marker is not None and marker in data:
                                self._lose_marker = None
                                losing = True
                    other[sock].sendall(data)
        except (OSError, ValueError):  # reset by a peer, or closed by kill_established
            return
        finally:
            with self._lock:
                self._pairs.discard(pair)
            _close(client)  # no-ops when kill_established already reset them
            _close(upstream)


@contextlib.contextmanager
def proxy_for(database_url: str) -> Iterator[TcpProxy]:
    """A running proxy in front of the server named by ``database_url``."""
    url = make_url(database_url)
    default_port = 5432 if url.get_backend_name() == "postgresql" else 3306
    with TcpProxy(url.host or "127.0.0.1", url.port or default_port) as proxy:
        yield proxy
