"""A tiny Starlette app for the "remember me" browser tests: ``POST /login`` takes
``{"userId": …, "rememberMe": …}`` and logs in with ``persistent=rememberMe``.

Everything else is the library as an application uses it: :class:`Sessionward.install
<sessionward.integrations.starlette.Sessionward>` (middleware, error handlers, the refresh
endpoint), ``get_session`` on the protected routes, and the packaged browser client
(``GET /sessionward.js``, the file the demo serves) on a page that exposes it as ``window.app``.
:func:`running_app` serves it with uvicorn in a thread, on a free loopback port.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from sessionward import AsyncSessionManager, Config, SessionManager
from sessionward._validation import parse_json_body
from sessionward.integrations.starlette import (
    AsyncRequestSession,
    Sessionward,
    create_new_session,
    get_session,
)
from tests.support.processes import free_port

CLIENT_JS = Path(str(resources.files("sessionward") / "js" / "sessionward.js"))
MAX_USER_ID_LENGTH = 128

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>remember me</title></head>
<body><script type="module">
import { createClient } from "/sessionward.js";
const settings = %s;
const events = [];
const client = createClient({
  refreshPath: settings.refreshPath,
  sessionExpiredStatus: settings.sessionExpiredStatus,
  onEvent: (event) => events.push(event.type),
});
async function call(method, path, body) {
  const init = { method };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers = { "content-type": "application/json" };
  }
  const response = await client.fetch(path, init);
  return { status: response.status, body: await response.json().catch(() => null) };
}
window.app = {
  client,
  events,
  login: (userId, rememberMe) => call("POST", "/login", { userId, rememberMe }),
  me: () => call("GET", "/me"),
  logout: () => call("POST", "/logout"),
  // What the client kept of the last id-refresh-token header: {id, expires (ms), ...}.
  announced: () => JSON.parse(localStorage.getItem("sessionward:" + location.origin) || "{}"),
};
document.body.dataset.ready = "true";
</script></body></html>
"""


def _bad_request(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"message": message}, status_code=status)


def _describe(session: AsyncRequestSession) -> dict[str, Any]:
    return {
        "userId": session.user_id,
        "sessionHandle": session.handle,
        "persistent": session.persistent,
    }


def create_remember_me_app(manager: AsyncSessionManager) -> Starlette:
    """The app around ``manager`` (closed with the app)."""
    config = manager.config
    settings = {
        "refreshPath": config.refresh_path,
        "sessionExpiredStatus": config.session_expired_status,
    }
    no_store = {"Cache-Control": "no-store"}

    async def page(_request: Request) -> Response:
        return HTMLResponse(PAGE % json.dumps(settings), headers=no_store)

    async def client_js(_request: Request) -> Response:
        return FileResponse(CLIENT_JS, media_type="text/javascript", headers=no_store)

    async def login(request: Request) -> Response:
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != "application/json":
            return _bad_request("the body must be sent as Content-Type: application/json", 415)
        body = parse_json_body(await request.body())  # InvalidArgumentError: 400
        if not isinstance(body, dict):
            return _bad_request("the body must be a JSON object")
        user_id, remember_me = body.get("userId"), body.get("rememberMe", True)
        if not isinstance(user_id, str) or not 0 < len(user_id) <= MAX_USER_ID_LENGTH:
            return _bad_request("userId must be a non-empty string of at most 128 characters")
        if not isinstance(remember_me, bool):
            return _bad_request("rememberMe must be true or false")
        session = await create_new_session(
            request, user_id, {"userId": user_id}, persistent=remember_me
        )
        return JSONResponse(_describe(session))

    async def me(request: Request) -> Response:
        session = await get_session(request)
        assert session is not None  # not optional: no session raises, answered by the handler
        return JSONResponse(_describe(session))

    async def logout(request: Request) -> Response:
        session = await get_session(request)
        assert session is not None
        await session.revoke()
        return JSONResponse({"status": "OK"})

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        await manager.aclose()

    app = Starlette(
        routes=[
            Route("/", page, methods=["GET"]),
            Route("/sessionward.js", client_js, methods=["GET"]),
            Route("/login", login, methods=["POST"]),
            Route("/me", me, methods=["GET"]),
            Route("/logout", logout, methods=["POST"]),
        ],
        lifespan=lifespan,
    )
    Sessionward(manager).install(app)
    return app


@contextmanager
def running_app(config: Config) -> Iterator[str]:
    """The app on a fresh set of tables for ``config``, served by uvicorn in a thread on a free
    loopback port; yields its base URL and stops the server on exit."""
    import uvicorn

    with SessionManager(config) as setup:
        setup.create_tables()
    app = create_remember_me_app(AsyncSessionManager(config))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            assert thread.is_alive(), "uvicorn stopped"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
