"""``sessionward demo``: the example JSON API plus a page that shows the protocol at work.

The app is the framework examples' API (:func:`sessionward.demo.api.demo_router` on the Starlette
integration), so every client and test written for one works with the other. On top of it,
demo-only routes that the page needs:

- ``GET /`` the page, ``GET /sessionward.js`` the browser client, ``/assets/*`` the page's files;
- ``GET /demo/settings``: what the page must know (refresh path, session-expired status, …);
- ``GET /demo/events``: the security events of the user's sessions (created, refreshed, revoked
  with its reason, theft), recorded by :class:`DemoEvents` through the manager's hooks;
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
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from sessionward._config import DEFAULT_DATABASE_URL, Algorithm, Config
from sessionward._devices import device_label
from sessionward._errors import TokenTheftDetectedError, UnauthorisedError
from sessionward._events import (
    SessionCreated,
    SessionHooks,
    SessionRefreshed,
    SessionRevoked,
    TokenTheft,
)
from sessionward._manager import AsyncSessionManager, SessionManager
from sessionward._models import ClientContext
from sessionward._transport import REFRESH_TOKEN_COOKIE
from sessionward.demo.api import demo_router
from sessionward.integrations.starlette import AsyncRequestSession, Sessionward, verify_session

STATIC = Path(str(resources.files("sessionward.demo") / "static"))
CLIENT_JS = Path(str(resources.files("sessionward") / "js" / "sessionward.js"))
MAX_ATTACKERS = 64
MAX_EVENTS = 200  # per user, for the page's event log
MAX_HANDLES = 10_000
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
    signing_algorithm: Algorithm = "HS256"

    def config(self) -> Config:
        """The demo's Config: short access tokens allowed; cookies not Secure (plain http)."""
        return Config(
            refresh_path=self.refresh_path,
            database_url=self.database_url,
            access_token_validity=self.access_token_validity,
            allow_short_access_tokens=True,
            revocation_check="exact" if self.blacklisting else None,
            cookie_domain=self.cookie_domain,
            cookie_secure=False,
            cookie_same_site="lax",
            refresh_grace_window=self.refresh_grace_window,
            signing_algorithm=self.signing_algorithm,
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


def create_demo_app(manager: AsyncSessionManager, events: DemoEvents | None = None) -> FastAPI:
    """The demo app around ``manager``: the example API, the page, and the demo-only routes.

    ``events``: the recorder whose hooks the manager was built with (``GET /demo/events`` shows
    them); without one the event log stays empty.
    """
    recorded = events or DemoEvents()
    config = manager.config

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await manager.aclose()

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
            "blacklisting": config.revocation_mode == "exact",
            "revocationCheck": config.revocation_mode,
            "antiCsrf": config.anti_csrf,
            "attackerCopyPath": _attacker_copy_path(config.refresh_path),
        }

    @app.get("/demo/events")
    async def demo_events(session: SessionDep) -> Any:
        return {"events": recorded.for_user(session.user_id)}

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


class DemoEvents:
    """The security events of the demo's manager, kept in memory for the page's event log.

    Bounded: the last :data:`MAX_EVENTS` per user. A revocation by handle does not name its
    user, so the handles seen in created and refreshed events are remembered to attribute it.
    Events carry no token; the page shows each user only their own.
    """

    def __init__(self) -> None:
        self._by_user: dict[str, deque[dict[str, Any]]] = {}
        self._users_of: OrderedDict[str, str] = OrderedDict()

    def hooks(self) -> SessionHooks:
        """The hooks to give the manager: each records its event."""
        return SessionHooks(
            on_session_created=self._created,
            on_session_refreshed=self._refreshed,
            on_session_revoked=self._revoked,
            on_token_theft=self._theft,
        )

    def for_user(self, user_id: str) -> list[dict[str, Any]]:
        """The user's events, newest first."""
        return list(reversed(self._by_user.get(user_id, ())))

    def _add(self, user_id: str | None, handle: str, entry: dict[str, Any]) -> None:
        if user_id is None:
            user_id = self._users_of.get(handle)
            if user_id is None:
                return
        else:
            self._users_of[handle] = user_id
            self._users_of.move_to_end(handle)
            while len(self._users_of) > MAX_HANDLES:
                self._users_of.popitem(last=False)
        events = self._by_user.setdefault(user_id, deque(maxlen=MAX_EVENTS))
        events.append({"at": int(time.time() * 1000), "sessionHandle": handle, **entry})

    @staticmethod
    def _client(client: ClientContext | None) -> dict[str, Any]:
        return {
            "device": device_label(client.user_agent) if client else None,
            "clientIp": client.ip if client else None,
        }

    def _created(self, event: SessionCreated) -> None:
        entry = {"type": "created", "proofBound": event.proof_bound, **self._client(event.client)}
        self._add(event.user_id, event.session_handle, entry)

    def _refreshed(self, event: SessionRefreshed) -> None:
        entry = {"type": "refreshed", "repeated": event.repeated, **self._client(event.client)}
        self._add(event.user_id, event.session_handle, entry)

    def _revoked(self, event: SessionRevoked) -> None:
        self._add(event.user_id, event.session_handle, {"type": "revoked", "reason": event.reason})

    def _theft(self, event: TokenTheft) -> None:
        entry = {
            "type": "theft",
            "reason": event.reason.value,
            "sessionRevoked": event.session_revoked,
            **self._client(event.replay_client),
        }
        self._add(event.user_id, event.session_handle, entry)


def _attacker_copy_path(refresh_path: str) -> str:
    return refresh_path.rstrip("/") + "/attacker-copy"


class CannotListenError(OSError):
    """The demo cannot listen on its host and port (taken, or not an address of this machine)."""


def _check_port_free(host: str, port: int) -> None:
    """Fail with :class:`CannotListenError` before uvicorn would (it logs and exits 1), e.g.
    when the port is taken, so that the command can give its own exit code."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise CannotListenError(exc.errno, exc.strerror) from exc


def serve(options: DemoOptions) -> None:
    """Create the tables, then serve the demo until interrupted (Ctrl-C)."""
    import uvicorn
    from sqlalchemy.engine import make_url

    config = options.config()
    _check_port_free(options.host, options.port)
    with SessionManager(config) as setup:  # fail here, with a clear message, if the DB is bad
        setup.create_tables()
    events = DemoEvents()
    app = create_demo_app(AsyncSessionManager(config, hooks=events.hooks()), events)
    shown_host = f"[{options.host}]" if ":" in options.host else options.host
    database = make_url(config.database_url).render_as_string(hide_password=True)
    print(
        f"sessionward demo: open http://{shown_host}:{options.port}/\n"
        f"  database {database}; access tokens live {config.access_token_validity} s; "
        f"refresh endpoint {config.refresh_path}; {_revocation_summary(config)}. Ctrl-C stops.",
        file=sys.stderr,
        flush=True,
    )
    uvicorn.run(app, host=options.host, port=options.port, log_level="info")


__all__ = ["CannotListenError", "DemoEvents", "DemoOptions", "create_demo_app", "serve"]


def _revocation_summary(config: Config) -> str:
    """How soon a revoked session's access token stops working, for the start-up line."""
    mode = config.revocation_mode
    if mode == "cached":
        return f"revoked sessions refused within {config.revocation_refresh_interval:g} s"
    if mode == "exact":
        return "revoked sessions refused at once (a lookup per request)"
    return "revoked sessions' access tokens work until they expire"
