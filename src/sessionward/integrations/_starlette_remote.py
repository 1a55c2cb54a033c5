"""``RemoteSessions`` for Starlette and FastAPI: the routes of a resource service, an app that
only verifies the issuing app's access tokens (no database of sessions, no secret, only the JWKS
URL), through an :class:`~sessionward.AsyncRemoteVerifier`, which also reads the issuer's
revocation feed (docs/microservices.md#revocations).

Its own module because it needs none of the issuing app's set-up (no manager, no middleware, no
``Outgoing``): its dependency verifies the token, its error handler answers with the issuing
app's statuses and bodies and never writes a cookie. Import it from
:mod:`sessionward.integrations.starlette`, which re-exports it (as Django's is
``sessionward.integrations.django.remote`` and Flask's is in ``flask.py``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sessionward._claims import Claim
from sessionward._errors import SessionError
from sessionward._models import Session
from sessionward._remote import AsyncRemoteVerifier
from sessionward._transport import reply_for, script_reply
from sessionward.integrations import _remote_credentials, _route_claims
from sessionward.integrations._starlette_request import _RequestAdapter


class RemoteSessions:
    """Protect the routes of a service that only verifies tokens (a resource service): no
    database, no secret, only the issuing app's JWKS URL, through an :class:`AsyncRemoteVerifier`.

    ``session_expired_status`` must match the issuing app's (440 by default), so that its
    frontend refreshes there and retries here. Errors never touch cookies: they are not ours.
    """

    def __init__(self, verifier: AsyncRemoteVerifier, *, session_expired_status: int = 440) -> None:
        self.verifier = verifier
        self.session_expired_status = session_expired_status

    def install(self, app: Starlette) -> None:
        """Answer the error family as the issuing app does (status and JSON message)."""
        app.add_exception_handler(SessionError, self.error_response)

    def verify_session(
        self,
        *,
        anti_csrf: bool | None = None,
        claims: Sequence[Claim] = (),
        tenant_param: str | None = None,
    ) -> Callable[[Request], Awaitable[Session]]:
        """A FastAPI dependency: ``session: Session = Depends(remote.verify_session())``.

        ``anti_csrf``: None (default) checks cookie-mode requests of every non-GET method whose
        token carries an anti-CSRF token; True/False force it. ``claims`` and ``tenant_param``:
        as :func:`~sessionward.integrations.starlette.verify_session`'s (403 for a session that
        fails one, e.g. another tenant's).
        """

        async def remote_session(request: Request) -> Session:
            checks = _route_claims(claims, tenant_param, request.path_params)
            access, csrf, wanted = _remote_credentials(_RequestAdapter(request), anti_csrf)
            return await self.verifier.verify(access, csrf, require_anti_csrf=wanted, claims=checks)

        return remote_session

    async def client_script_endpoint(self, request: Request) -> Response:
        """``GET <client_script_path>``: the browser client, cached by its content hash."""
        reply = script_reply(request.query_params.get("v"), request.headers.get("if-none-match"))
        return Response(reply.body, status_code=reply.status, headers=reply.headers)

    async def error_response(self, request: Request, exc: Exception) -> Response:
        """The exception handler for the error family: status and message, no cookie writes."""
        reply = reply_for(exc, self.session_expired_status)
        return JSONResponse(reply.body, reply.status, headers={"Cache-Control": "no-store"})


__all__ = ["RemoteSessions"]
