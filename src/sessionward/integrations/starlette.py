"""Starlette and FastAPI: the async manager behind a dependency, a middleware and handlers.

Protect a FastAPI route in one line::

    session: AsyncRequestSession = Depends(verify_session())

Set-up, once::

    sessions = Sessionward(AsyncSessionManager(refresh_path="/refresh"))
    sessions.install(app)  # middleware, error handlers, and POST <refresh_path>

The middleware gives each request an :class:`~sessionward._transport.Outgoing` and writes it to
whatever response leaves the application (a returned ``Response``, a FastAPI return value, or an
error handler's answer), so routes never touch a cookie. All rules live in
:mod:`sessionward._transport`; this module only adapts Starlette's request and ASGI messages.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Literal, TypeVar, overload

from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sessionward._claims import Claim
from sessionward._errors import SessionError
from sessionward._manager import AsyncSessionManager
from sessionward._models import DEFAULT_TENANT, JSON, Session
from sessionward._transport import (
    Cookie,
    Outgoing,
    Transport,
    cors_allowed_headers,
    cors_exposed_headers,
    script_reply,
)
from sessionward.integrations import AsyncRequestSession, _route_claims
from sessionward.integrations._starlette_remote import RemoteSessions
from sessionward.integrations._starlette_request import _RequestAdapter

T = TypeVar("T")

_OUT_KEY = "sessionward.outgoing"
_INTEGRATION_KEY = "sessionward.integration"


class _MessageAdapter:
    """An ASGI ``http.response.start`` message as a ``ResponseAdapter``."""

    __slots__ = ("_headers",)

    def __init__(self, message: Message) -> None:
        message.setdefault("headers", [])
        self._headers = MutableHeaders(scope=message)  # puts a copy of the list in the message

    def get_header(self, name: str) -> str | None:
        return self._headers.get(name)

    def set_header(self, name: str, value: str) -> None:
        self._headers[name] = value

    def add_cookie(self, cookie: Cookie) -> None:
        self._headers.append("set-cookie", cookie.header_value())


class SessionwardMiddleware:
    """Pure ASGI middleware: one Outgoing per request, applied when the response starts."""

    def __init__(self, app: ASGIApp, integration: Sessionward) -> None:
        self.app = app
        self.integration = integration

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        out = Outgoing()
        scope[_OUT_KEY] = out
        scope[_INTEGRATION_KEY] = self.integration

        async def send_with_writes(message: Message) -> None:
            if message["type"] == "http.response.start" and out:
                out.apply(_MessageAdapter(message))
            await send(message)

        await self.app(scope, receive, send_with_writes)


class Sessionward:
    """Sessions for one Starlette or FastAPI application."""

    def __init__(self, manager: AsyncSessionManager) -> None:
        """Security events (theft, revocations) go to the manager's ``hooks``."""
        self.manager = manager
        self.transport = Transport(manager.config)

    def install(self, app: Starlette, *, refresh_route: bool = True) -> None:
        """Add the middleware, the error handlers and (by default) ``POST <refresh_path>`` and
        ``GET <jwks_path>`` (unless the config's ``jwks_path`` is None), the browser client
        at ``GET <client_script_path>`` when that is set, and ``GET <revocation_feed_path>``
        (if the config's ``revocation_feed_path`` is set)."""
        app.add_middleware(SessionwardMiddleware, integration=self)
        app.add_exception_handler(SessionError, self.error_response)
        config = self.manager.config
        if refresh_route:
            app.add_route(config.refresh_path, self.refresh_endpoint, ["POST"])
        if config.jwks_path is not None:
            app.add_route(config.jwks_path, self.jwks_endpoint, ["GET"])
        if config.client_script_path is not None:
            app.add_route(config.client_script_path, self.client_script_endpoint, ["GET"])
        if config.revocation_feed_path is not None:
            app.add_route(config.revocation_feed_path, self.revocation_feed_endpoint, ["GET"])

    def _session(
        self,
        request: Request,
        session: Session,
        adapter: _RequestAdapter | None = None,
        out: Outgoing | None = None,
    ) -> AsyncRequestSession:
        """The request session; ``adapter`` and ``out``: this request's, if already at hand."""
        return AsyncRequestSession(
            session,
            self.transport,
            _RequestAdapter(request) if adapter is None else adapter,
            outgoing(request) if out is None else out,
            self.manager._drive,
        )

    async def create_new_session(
        self,
        request: Request,
        user_id: str,
        jwt_payload: JSON = None,
        session_data: JSON = None,
        *,
        tenant_id: str = DEFAULT_TENANT,
        persistent: bool = True,
    ) -> AsyncRequestSession:
        """Log in; the tokens go on whatever response this request sends (session cookies if
        not ``persistent``)."""
        tokens = await self.manager._drive(
            self.transport.create_session,
            _RequestAdapter(request),
            outgoing(request),
            user_id,
            jwt_payload,
            session_data,
            tenant_id,
            persistent,
        )
        return self._session(request, tokens.session)

    async def create_impersonation_session(
        self,
        request: Request,
        actor_id: str,
        user_id: str,
        jwt_payload: JSON = None,
        session_data: JSON = None,
        *,
        tenant_id: str = DEFAULT_TENANT,
        ttl: int = 3600,
    ) -> AsyncRequestSession:
        """Act as ``user_id`` (see ``SessionManager.create_impersonation_session``); this
        request's client then holds the impersonation session."""
        tokens = await self.manager._drive(
            self.transport.create_impersonation_session,
            _RequestAdapter(request),
            outgoing(request),
            actor_id,
            user_id,
            jwt_payload,
            session_data,
            tenant_id,
            ttl,
        )
        return self._session(request, tokens.session)

    async def get_session(
        self,
        request: Request,
        *,
        anti_csrf: bool | None = None,
        optional: bool = False,
        claims: Sequence[Claim] = (),
        tenant_param: str | None = None,
    ) -> AsyncRequestSession | None:
        """The request's session; raises the error family (answered by :meth:`error_response`).
        ``tenant_param``: the path parameter naming the tenant the session must belong to."""
        route = request.path_params if tenant_param is not None else None
        checks = _route_claims(claims, tenant_param, route)
        adapter, out = _RequestAdapter(request), outgoing(request)
        verification = self.transport.get_session(
            self.manager._context,
            adapter,
            out,
            anti_csrf=anti_csrf,
            optional=optional,
            claims=checks,
        )
        rest = verification.rest  # the flow, when the answer needed I/O
        verified = verification.answer if rest is None else await self.manager._drive(rest)
        return None if verified is None else self._session(request, verified.session, adapter, out)

    async def refresh_endpoint(self, request: Request) -> Response:
        """``POST <refresh_path>``: rotate the tokens (docs/protocol.md#refresh-and-rotation)."""
        await self.manager._drive(
            self.transport.refresh_session, _RequestAdapter(request), outgoing(request)
        )
        return JSONResponse({"status": "OK"})

    async def jwks_endpoint(self, request: Request) -> Response:
        """``GET <jwks_path>``: the public keys, as a JWK Set."""
        return JSONResponse(await self.manager._drive(self.transport.jwks, outgoing(request)))

    async def client_script_endpoint(self, request: Request) -> Response:
        """``GET <client_script_path>``: the browser client, cached by its content hash."""
        reply = script_reply(request.query_params.get("v"), request.headers.get("if-none-match"))
        return Response(reply.body, status_code=reply.status, headers=reply.headers)

    async def revocation_feed_endpoint(self, request: Request) -> Response:
        """``GET <revocation_feed_path>``: the signed revocation feed."""
        flow = self.transport.revocation_feed
        reply = await self.manager._drive(flow, _RequestAdapter(request), outgoing(request))
        return Response(reply.body, reply.status, media_type=reply.content_type)

    async def error_response(self, request: Request, exc: Exception) -> Response:
        """The exception handler for the error family."""
        reply = self.transport.error_reply(exc, _RequestAdapter(request), outgoing(request))
        return JSONResponse(reply.body, status_code=reply.status)


def outgoing(request: Request) -> Outgoing:
    """The writes this request owes its response (needs :meth:`Sessionward.install`)."""
    out = request.scope.get(_OUT_KEY)
    if not isinstance(out, Outgoing):
        raise RuntimeError("sessionward is not installed on this app: call Sessionward.install")
    return out


def integration(request: Request) -> Sessionward:
    """The :class:`Sessionward` installed on the app serving ``request``."""
    integration = request.scope.get(_INTEGRATION_KEY)
    if not isinstance(integration, Sessionward):
        raise RuntimeError("sessionward is not installed on this app: call Sessionward.install")
    return integration


@overload
def verify_session(
    *,
    anti_csrf: bool | None = ...,
    optional: Literal[False] = ...,
    claims: Sequence[Claim] = ...,
    tenant_param: str | None = ...,
) -> Callable[[Request], Awaitable[AsyncRequestSession]]: ...


@overload
def verify_session(
    *,
    anti_csrf: bool | None = ...,
    optional: Literal[True],
    claims: Sequence[Claim] = ...,
    tenant_param: str | None = ...,
) -> Callable[[Request], Awaitable[AsyncRequestSession | None]]: ...


def verify_session(
    *,
    anti_csrf: bool | None = None,
    optional: bool = False,
    claims: Sequence[Claim] = (),
    tenant_param: str | None = None,
) -> Callable[[Request], Awaitable[AsyncRequestSession | None]]:
    """A FastAPI dependency: ``session = Depends(verify_session())``.

    ``anti_csrf``: None (default) checks on every non-GET method, True/False force it.
    ``optional``: give None instead of an error when the request carries no session at all.
    ``claims``: checks the session must pass (:mod:`sessionward._claims`), else 403.
    ``tenant_param``: the path parameter naming the route's tenant (``/t/{tenant}/...``): a
    session of another tenant answers 403 (``in_tenant``), a malformed value 400.
    """

    async def verified_session(request: Request) -> AsyncRequestSession | None:
        return await integration(request).get_session(
            request,
            anti_csrf=anti_csrf,
            optional=optional,
            claims=claims,
            tenant_param=tenant_param,
        )

    return verified_session


async def get_session(
    request: Request,
    *,
    anti_csrf: bool | None = None,
    optional: bool = False,
    claims: Sequence[Claim] = (),
    tenant_param: str | None = None,
) -> AsyncRequestSession | None:
    """Plain Starlette: ``session = await get_session(request)`` (``tenant_param``: see
    :func:`verify_session`)."""
    return await integration(request).get_session(
        request, anti_csrf=anti_csrf, optional=optional, claims=claims, tenant_param=tenant_param
    )


async def create_new_session(
    request: Request,
    user_id: str,
    jwt_payload: JSON = None,
    session_data: JSON = None,
    *,
    tenant_id: str = DEFAULT_TENANT,
    persistent: bool = True,
) -> AsyncRequestSession:
    """Log ``user_id`` in; the cookies and headers go on this request's response.
    ``persistent=False``: "remember me" off, the cookies end with the browser."""
    return await integration(request).create_new_session(
        request, user_id, jwt_payload, session_data, tenant_id=tenant_id, persistent=persistent
    )


async def create_impersonation_session(
    request: Request,
    actor_id: str,
    user_id: str,
    jwt_payload: JSON = None,
    session_data: JSON = None,
    *,
    tenant_id: str = DEFAULT_TENANT,
    ttl: int = 3600,
) -> AsyncRequestSession:
    """Let ``actor_id`` act as ``user_id`` (check the actor's right first); the
    impersonation's tokens go on this request's response."""
    return await integration(request).create_impersonation_session(
        request, actor_id, user_id, jwt_payload, session_data, tenant_id=tenant_id, ttl=ttl
    )


def add_cors(
    app: Starlette, allow_origins: Sequence[str], allow_methods: Sequence[str] = ("*",)
) -> None:
    """CORS with credentials, the anti-CSRF and SDK request headers, and the token headers
    readable by the frontend (docs/protocol.md#compatibility-with-supertokens-website). Origins
    must be explicit."""
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(allow_origins),
        allow_methods=list(allow_methods),
        allow_headers=cors_allowed_headers(),
        expose_headers=cors_exposed_headers(),
        allow_credentials=True,
    )


__all__ = [
    "AsyncRequestSession",
    "RemoteSessions",
    "Sessionward",
    "SessionwardMiddleware",
    "add_cors",
    "create_impersonation_session",
    "create_new_session",
    "get_session",
    "integration",
    "outgoing",
    "verify_session",
]
