"""A minimal ASGI app for the HTTP benchmark until examples/fastapi_app.py exists.

``GET /open`` and ``GET /protected`` do the same work and return the same bytes, except that
``/protected`` reads the ``sAccessToken`` cookie and verifies it with
``AsyncSessionManager.get_session``: the difference between the two is what protection costs.
The database comes from ``SESSIONWARD_DATABASE_URL``.
"""

from __future__ import annotations

import os
from typing import Any

from sessionward import AsyncSessionManager, SessionError

manager = AsyncSessionManager(
    refresh_path="/session/refresh",
    database_url=os.environ.get("SESSIONWARD_DATABASE_URL", "sqlite:///bench-http.sqlite3"),
)
_HEADERS = [(b"content-type", b"application/json")]


def _cookie(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key == b"cookie":
            for part in value.split(b";"):
                k, _, v = part.strip().partition(b"=")
                if k == name:
                    return v.decode()
    return None


async def _send(send: Any, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": body})


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await manager.create_tables()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await manager.close()
                await send({"type": "lifespan.shutdown.complete"})
                return
    path = scope["path"]
    if path == "/open":
        await _send(send, 200, b'{"user":"anonymous"}')
    elif path == "/protected":
        token = _cookie(scope["headers"], b"sAccessToken")
        try:
            if token is None:
                raise SessionError("no access token")
            verified = await manager.get_session(token)
        except SessionError:
            await _send(send, 401, b'{"error":"unauthorised"}')
            return
        await _send(send, 200, b'{"user":"%s"}' % verified.session.user_id.encode())
    else:
        await _send(send, 404, b"{}")
