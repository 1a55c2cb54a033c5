"""``sessionward demo``: the example JSON API plus a page that shows the protocol at work.

The app is the framework examples' API (:func:`sessionward.demo.api.demo_router` on the Starlette
integration), so every client and test written for one works with the other. On top of it,
demo-only routes that the page needs:

- ``GET /`` the page, ``GET /sessionward.js`` the browser client, ``/assets/*`` the page's files;
- ``GET /demo/settings``: what the page must know (refresh path, session-expired status, …);
- ``GET /demo/sessions`` and ``POST /demo/revoke``: the user's sessions with times, revoke one;
- the theft demonstration: ``POST <refresh path>/attacker-copy`` copies the caller's refresh
  token into a simulated attacker (it lives under the refresh path because only there does the
  browser send that cookie), and ``POST /demo/attacker/refresh`` makes the attacker use it.
  This deliberately leaks a token to the server-side "attacker": it exists only in the demo.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import socket
import sys
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from sessionward.config import DEFAULT_DATABASE_URL, Config
from sessionward.demo.api import demo_router
from sessionward.errors import TokenTheftDetectedError, UnauthorisedError
from sessionward.integrations.starlette import AsyncRequestSession, Sessionward, verify_session
from sessionward.manager import AsyncSessionManager, SessionManager
from sessionward.models import ClientContext
from sessionward.transport import REFRESH_TOKEN_COOKIE

STATIC = Path(str(resources.files("sessionward.demo") / "static"))
CLIENT_JS = Path(str(resources.files("sessionward") / "js" / "sessionward.js"))
MAX_ATTACKERS = 64
# The simulated attacker works from another network with its own tool, as a real one would.
ATTACKER = ClientContext("198.51.100.66", "curl/8.5.0")
MAX_BODY = 4096

SessionDep = Annotated[AsyncRequestSession, Depends(verify_session())]


@dataclass(frozen=True)
class DemoOptions:
    """The ``sessionward demo`` command line."""

    host: str = "127.0.0.1"
    port: int = 8000
    database_url: str = DEFAULT_DATABASE_URL
    access_token_validity: int = 10
    blacklisting: bool = False
    cookie_domain: str | None = None
    refresh_path: str = "/refresh"
    # The library's default is 30 s; without a grace window the theft demonstration is
    # immediate, and the browser client serialises its own refreshes, so it needs none.
    refresh_grace_window: int = 0

    def config(self) -> Config:
        """The demo's Config: short access tokens allowed; cookies not Secure (plain http)."""
        return Config(
            refresh_path=self.refresh_path,
            database_url=self.database_url,
            access_token_validity=self.access_token_validity,
            allow_short_access_tokens=True,
            enable_blacklisting=self.blacklisting,
            cookie_domain=self.cookie_domain,
            cookie_secure=False,
            cookie_same_site="lax",
            refresh_grace_window=self.refresh_grace_window,
            access_token_leeway=0,  # one server, one clock: expiry shows exactly when it happens
        )


def _fingerprint(token: str) -> str:
    """A short, non-reversible label for a token, so the page can show which one is which."""
    return hashlib.sha256(token.encode()).hexdigest()[:12]


class _Attackers:
    """The simulated attackers' stolen refresh tokens (in memory, bounded, demo only)."""

    def __init__(self) -> None:
        self._tokens: OrderedDict[str, str] = OrderedDict()

    def add(self, refresh_token: str) -> str:
        attacker_id = secrets.token_urlsafe(9)
        self._tokens[attacker_id] = refresh_token
        while len(self._tokens) > MAX_ATTACKERS:
            self._tokens.popitem(last=False)
        return attacker_id

    def get(self, attacker_id: str) -> str | None:
        return self._tokens.get(attacker_id)

    def replace(self, attacker_id: str, refresh_token: str) -> None:
        if attacker_id in self._tokens:
            self._tokens[attacker_id] = refresh_token


async def _json_object(request: Request) -> dict[str, Any] | None:
    body = await request.body()
    if len(body) > MAX_BODY:
        return None
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def _bad_request(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"message": message}, status_code=status)


def create_demo_app(manager: AsyncSessionManager) -> FastAPI:
    """The demo app around ``manager``: the example API, the page, and the demo-only routes."""
    config = manager.config

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await manager.close()

    app = FastAPI(title="sessionward demo", docs_url=None, redoc_url=None, lifespan=lifespan)
    Sessionward(manager).install(app)
    app.include_router(demo_router())
    app.mount("/assets", StaticFiles(directory=STATIC), name="assets")
    attackers = _Attackers()
    no_store = {"Cache-Control": "no-store"}

    @app.get("/", include_in_schema=False)
    async def page() -> Response:
        return FileResponse(STATIC / "index.html", media_type="text/html", headers=no_store)

    @app.get("/sessionward.js", include_in_schema=False)
    async def client_js() -> Response:
        return FileResponse(CLIENT_JS, media_type="text/javascript", headers=no_store)

    @app.get("/demo/settings")
    async def settings() -> Any:
        return {
            "refreshPath": config.refresh_path,
            "sessionExpiredStatus": config.session_expired_status,
            "accessTokenValidity": config.access_token_validity,
            "blacklisting": config.enable_blacklisting,
            "antiCsrf": config.anti_csrf,
            "attackerCopyPath": _attacker_copy_path(config.refresh_path),
        }

    @app.get("/demo/sessions")
    async def sessions(session: SessionDep) -> Any:
        rows = await manager.list_sessions_for_user(session.user_id)
        return {
            "sessions": [
                {
                    "handle": row.handle,
                    "createdAt": row.created_at,
                    "expiresAt": row.expires_at,
                    "current": row.handle == session.handle,
                }
                for row in rows
            ]
        }

    @app.post("/demo/revoke")
    async def revoke(request: Request, session: SessionDep) -> Any:
        body = await _json_object(request)
        handle = body.get("sessionHandle") if body else None
        if not isinstance(handle, str) or not handle:
            return _bad_request("sessionHandle must be a non-empty string")
        owned = await manager.get_all_session_handles_for_user(session.user_id)
        if handle not in owned:
            return _bad_request("no such session of this user", 404)
        if handle == session.handle:
            await session.revoke()  # also clears this browser's cookies
            return {"revoked": True, "current": True}
        return {"revoked": await manager.revoke_session(handle), "current": False}

    @app.post(_attacker_copy_path(config.refresh_path), include_in_schema=False)
    async def attacker_copy(request: Request) -> Any:
        token = request.cookies.get(REFRESH_TOKEN_COOKIE)
        if not token:
            return _bad_request("no refresh token cookie was sent: log in first")
        return {"attackerId": attackers.add(token), "fingerprint": _fingerprint(token)}

    @app.post("/demo/attacker/refresh")
    async def attacker_refresh(request: Request) -> Any:
        body = await _json_object(request)
        attacker_id = body.get("attackerId") if body else None
        if not isinstance(attacker_id, str):
            return _bad_request("attackerId must be a string")
        stolen = attackers.get(attacker_id)
        if stolen is None:
            return _bad_request("unknown attackerId: copy a refresh token first", 404)
        try:
            tokens = await manager.refresh_session(stolen, client=ATTACKER)
        except TokenTheftDetectedError as theft:  # the manager has revoked the session
            why = (
                "the session is bound to the victim's key, and the attacker cannot sign a proof"
                if theft.reason.startswith("proof_")
                else "this refresh token was already rotated, so somebody holds a copy"
            )
            return {
                "outcome": "theft",
                "reason": theft.reason,
                "message": f"token theft detected: {why}. The session is revoked: attacker "
                "and victim are out.",
            }
        except UnauthorisedError:
            return {"outcome": "unauthorised", "message": "the session is over; nothing to use"}
        attackers.replace(attacker_id, tokens.refresh_token.value)
        # Using the new access token confirms the new pair, as a real client's next call would.
        verified = await manager.get_session(tokens.access_token.value, tokens.anti_csrf_token)
        return {
            "outcome": "refreshed",
            "userId": verified.session.user_id,
            "fingerprint": _fingerprint(tokens.refresh_token.value),
            "message": "the attacker refreshed with the copy and now holds a working session",
        }

    return app


def _attacker_copy_path(refresh_path: str) -> str:
    return refresh_path.rstrip("/") + "/attacker-copy"


def _check_port_free(host: str, port: int) -> None:
    """Fail with a clear OSError before uvicorn would, e.g. when the port is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))


def serve(options: DemoOptions) -> None:
    """Create the tables, then serve the demo until interrupted (Ctrl-C)."""
    import uvicorn
    from sqlalchemy.engine import make_url

    config = options.config()
    _check_port_free(options.host, options.port)
    with SessionManager(config) as setup:  # fail here, with a clear message, if the DB is bad
        setup.create_tables()
    app = create_demo_app(AsyncSessionManager(config))
    shown_host = f"[{options.host}]" if ":" in options.host else options.host
    database = make_url(config.database_url).render_as_string(hide_password=True)
    print(
        f"sessionward demo: open http://{shown_host}:{options.port}/\n"
        f"  database {database}; access tokens live {config.access_token_validity} s; "
        f"refresh endpoint {config.refresh_path}; blacklisting "
        f"{'on' if config.enable_blacklisting else 'off'}. Ctrl-C stops.",
        file=sys.stderr,
        flush=True,
    )
    uvicorn.run(app, host=options.host, port=options.port, log_level="info")


__all__ = ["DemoOptions", "create_demo_app", "serve"]
