"""Flask: an extension object and a ``@verify_session()`` decorator over the sync manager.

Protect a view in one line::

    @verify_session()
    def like(): ...          # the session is g.session

Set-up, once::

    sessions = Sessionward(app, SessionManager(refresh_path="/refresh"))

The extension registers an ``after_request`` hook that writes the request's pending cookies and
headers to whatever response Flask sends, an error handler for the error family, and the refresh
view at the configured path. All rules live in :mod:`sessionward._transport`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

from flask import Flask, Request, Response, current_app, g, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import MultiDict
from werkzeug.sansio.http import parse_cookie

from sessionward._claims import Claim
from sessionward._errors import SessionError
from sessionward._manager import SessionManager
from sessionward._models import DEFAULT_TENANT, JSON, Session
from sessionward._remote import RemoteVerifier
from sessionward._transport import (
    Cookie,
    Outgoing,
    Transport,
    cgi_header,
    cors_allowed_headers,
    cors_exposed_headers,
    expired_phrase,
    reply_for,
    script_reply,
)
from sessionward.integrations import (
    HeadersResponse,
    RequestSession,
    _remote_credentials,
    _route_claims,
)

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

_EXTENSION = "sessionward"
_OUT = "_sessionward_outgoing"


class _RequestAdapter:
    """The current Flask request as :class:`~sessionward._transport.RequestAdapter`.

    It holds the request object itself: each read through Flask's context-local ``request``
    proxy costs a context lookup, and a verification makes a handful."""

    __slots__ = ("_cookies", "_environ", "_request")

    def __init__(self) -> None:
        self._request: Request = request._get_current_object()  # type: ignore[attr-defined]
        self._environ = self._request.environ
        self._cookies: MultiDict[str, str] | None = None

    @property
    def method(self) -> str:
        return self._request.method

    @property
    def url(self) -> str:
        return self._request.url

    @property
    def scheme(self) -> str:
        return self._request.scheme

    @property
    def peer_address(self) -> str | None:
        return self._request.remote_addr

    def get_cookie(self, name: str) -> str | None:
        cookies = self._cookies
        if cookies is None:
            # What ``request.cookies`` holds, parsed by the same Werkzeug function, without its
            # scan of every header for "Cookie" lines: the server put them in one environ key.
            cookies = parse_cookie(
                self._environ.get("HTTP_COOKIE", ""), cls=self._request.dict_storage_class
            )
            self._cookies = cookies
        return cookies.get(name)

    def get_header(self, name: str) -> str | None:
        # The WSGI server has joined a repeated header's lines with "," in order (Werkzeug's,
        # gunicorn, wsgiref), as RequestAdapter.get_header needs.
        return cgi_header(self._environ, name)


class _ResponseAdapter(HeadersResponse):
    """A Flask response as :class:`~sessionward._transport.ResponseAdapter`."""

    __slots__ = ("_response",)

    def __init__(self, response: Response) -> None:
        super().__init__(response.headers)
        self._response = response

    def add_cookie(self, cookie: Cookie) -> None:
        self._response.headers.add("Set-Cookie", cookie.header_value())


def outgoing() -> Outgoing:
    """The writes the current request owes its response."""
    context = g._get_current_object()  # one context lookup
    out = context.get(_OUT)
    if out is None:
        out = Outgoing()
        setattr(context, _OUT, out)
    return cast(Outgoing, out)


class Sessionward:
    """The Flask extension: ``Sessionward(app, manager)`` or ``init_app`` later."""

    def __init__(
        self,
        app: Flask | None = None,
        manager: SessionManager | None = None,
        *,
        refresh_route: bool = True,
    ) -> None:
        """Security events (theft, revocations) go to the manager's ``hooks``."""
        self.refresh_route = refresh_route
        self._manager = manager
        self._transport: Transport | None = None
        if app is not None and manager is not None:
            self.init_app(app, manager)

    @property
    def manager(self) -> SessionManager:
        if self._manager is None:
            raise RuntimeError("Sessionward.init_app(app, manager) was not called")
        return self._manager

    @property
    def transport(self) -> Transport:
        if self._transport is None:
            raise RuntimeError("Sessionward.init_app(app, manager) was not called")
        return self._transport

    def init_app(self, app: Flask, manager: SessionManager) -> None:
        self._manager = manager
        self._transport = Transport(manager.config)
        app.extensions[_EXTENSION] = self
        app.after_request(self._apply)
        app.register_error_handler(SessionError, self._error)
        if self.refresh_route:
            app.add_url_rule(
                manager.config.refresh_path,
                "sessionward_refresh",
                self.refresh_view,
                methods=["POST"],
            )
        if manager.config.jwks_path is not None:
            app.add_url_rule(
                manager.config.jwks_path, "sessionward_jwks", self.jwks_view, methods=["GET"]
            )
        if manager.config.client_script_path is not None:
            app.add_url_rule(
                manager.config.client_script_path,
                "sessionward_client_script",
                self.client_script_view,
                methods=["GET"],
            )
        feed_path = manager.config.revocation_feed_path
        if feed_path is not None:
            app.add_url_rule(
                feed_path, "sessionward_revocation_feed", self.revocation_feed_view, methods=["GET"]
            )

    def _session(
        self,
        session: Session,
        adapter: _RequestAdapter | None = None,
        out: Outgoing | None = None,
    ) -> RequestSession:
        """The request session; ``adapter`` and ``out``: this request's, if already at hand."""
        adapter = _RequestAdapter() if adapter is None else adapter
        out = outgoing() if out is None else out
        return RequestSession(session, self.transport, adapter, out, self.manager._drive)

    def _apply(self, response: Response) -> Response:
        out = g.get(_OUT)
        if out:  # None, or nothing to write (an unprotected route): no adapter to build
            out.apply(_ResponseAdapter(response))
        return response

    def _error(self, error: Exception) -> ResponseReturnValue:
        reply = self.transport.error_reply(error, _RequestAdapter(), outgoing())
        response = jsonify(reply.body)
        # "440 Session Expired" rather than Werkzeug's "440 UNKNOWN" on the status line.
        response.status = f"{reply.status} {reply.phrase}" if reply.phrase else reply.status
        return response

    def create_new_session(
        self,
        user_id: str,
        jwt_payload: JSON = None,
        session_data: JSON = None,
        *,
        tenant_id: str = DEFAULT_TENANT,
        persistent: bool = True,
    ) -> RequestSession:
        """Log ``user_id`` of ``tenant_id`` in; the cookies and headers go on this request's
        response (session cookies if not ``persistent``)."""
        tokens = self.manager._drive(
            self.transport.create_session,
            _RequestAdapter(),
            outgoing(),
            user_id,
            jwt_payload,
            session_data,
            tenant_id,
            persistent,
        )
        return self._session(tokens.session)

    def create_impersonation_session(
        self,
        actor_id: str,
        user_id: str,
        jwt_payload: JSON = None,
        session_data: JSON = None,
        *,
        tenant_id: str = DEFAULT_TENANT,
        ttl: int = 3600,
    ) -> RequestSession:
        """Act as ``user_id`` (see ``SessionManager.create_impersonation_session``); this
        response's client then holds the impersonation session."""
        tokens = self.manager._drive(
            self.transport.create_impersonation_session,
            _RequestAdapter(),
            outgoing(),
            actor_id,
            user_id,
            jwt_payload,
            session_data,
            tenant_id,
            ttl,
        )
        return self._session(tokens.session)

    def get_session(
        self,
        *,
        anti_csrf: bool | None = None,
        optional: bool = False,
        claims: Sequence[Claim] = (),
        tenant_param: str | None = None,
    ) -> RequestSession | None:
        """The current request's session; raises the error family otherwise.
        ``tenant_param``: the URL variable naming the tenant the session must belong to."""
        route = request.view_args if tenant_param is not None else None
        checks = _route_claims(claims, tenant_param, route)
        context, adapter, out = self.manager._context, _RequestAdapter(), outgoing()
        verification = self.transport.get_session(
            context, adapter, out, anti_csrf=anti_csrf, optional=optional, claims=checks
        )
        rest = verification.rest  # the flow, when the answer needed I/O
        verified = verification.answer if rest is None else self.manager._drive(rest)
        return None if verified is None else self._session(verified.session, adapter, out)

    def refresh_view(self) -> ResponseReturnValue:
        """``POST <refresh_path>``: rotate the tokens (docs/protocol.md#refresh-and-rotation)."""
        self.manager._drive(self.transport.refresh_session, _RequestAdapter(), outgoing())
        return jsonify({"status": "OK"})

    def jwks_view(self) -> ResponseReturnValue:
        """``GET <jwks_path>``: the public keys, as a JWK Set."""
        return jsonify(self.manager._drive(self.transport.jwks, outgoing()))

    def client_script_view(self) -> ResponseReturnValue:
        """``GET <client_script_path>``: the browser client, cached by its content hash."""
        reply = script_reply(request.args.get("v"), request.headers.get("If-None-Match"))
        return Response(reply.body, status=reply.status, headers=reply.headers)

    def revocation_feed_view(self) -> ResponseReturnValue:
        """``GET <revocation_feed_path>``: the signed revocation feed."""
        flow = self.transport.revocation_feed
        reply = self.manager._drive(flow, _RequestAdapter(), outgoing())
        return Response(reply.body, reply.status, content_type=reply.content_type)


def integration() -> Sessionward:
    """The extension of the current app."""
    ext = current_app.extensions.get(_EXTENSION)
    if not isinstance(ext, Sessionward):
        raise RuntimeError("sessionward is not set up on this app: Sessionward(app, manager)")
    return ext


def verify_session(
    *,
    anti_csrf: bool | None = None,
    optional: bool = False,
    claims: Sequence[Claim] = (),
    tenant_param: str | None = None,
) -> Callable[[F], F]:
    """Decorator: verify the session first and put it on ``g.session`` (None if optional and
    absent). ``anti_csrf``: None (default) checks on every non-GET method, True/False force it.
    ``claims``: checks the session must pass (:mod:`sessionward._claims`), else 403.
    ``tenant_param``: the URL variable naming the route's tenant (``/t/<tenant>/...``): a
    session of another tenant answers 403 (``in_tenant``), a malformed value 400."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            g.session = integration().get_session(
                anti_csrf=anti_csrf, optional=optional, claims=claims, tenant_param=tenant_param
            )
            return view(*args, **kwargs)

        return cast(F, wrapper)

    return decorate


def create_new_session(
    user_id: str,
    jwt_payload: JSON = None,
    session_data: JSON = None,
    *,
    tenant_id: str = DEFAULT_TENANT,
    persistent: bool = True,
) -> RequestSession:
    """Log ``user_id`` in from a view; the tokens go on the response. ``persistent=False``:
    "remember me" off, the cookies end with the browser."""
    return integration().create_new_session(
        user_id, jwt_payload, session_data, tenant_id=tenant_id, persistent=persistent
    )


def create_impersonation_session(
    actor_id: str,
    user_id: str,
    jwt_payload: JSON = None,
    session_data: JSON = None,
    *,
    tenant_id: str = DEFAULT_TENANT,
    ttl: int = 3600,
) -> RequestSession:
    """Let ``actor_id`` act as ``user_id`` from a view (check the actor's right first); the
    impersonation's tokens go on the response."""
    return integration().create_impersonation_session(
        actor_id, user_id, jwt_payload, session_data, tenant_id=tenant_id, ttl=ttl
    )


class RemoteSessions:
    """Protect the views of a Flask service that only verifies tokens (a resource service):
    no database, no secret, only the issuing app's JWKS URL, through a :class:`RemoteVerifier`
    (which also reads the issuer's revocation feed).

    ``session_expired_status`` must match the issuing app's (440 by default), so that its
    frontend refreshes there and retries here. Errors never touch cookies: they are not ours.
    """

    def __init__(self, verifier: RemoteVerifier, *, session_expired_status: int = 440) -> None:
        self.verifier = verifier
        self.session_expired_status = session_expired_status

    def install(self, app: Flask) -> None:
        """Answer the error family as the issuing app does (status and JSON message)."""
        app.register_error_handler(SessionError, self.error_response)

    def verify_session(
        self,
        *,
        anti_csrf: bool | None = None,
        claims: Sequence[Claim] = (),
        tenant_param: str | None = None,
    ) -> Callable[[F], F]:
        """Decorator: verify the token first and put its session on ``g.session``. The options
        are :func:`verify_session`'s (a session of another tenant: 403)."""

        def decorate(view: F) -> F:
            @functools.wraps(view)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                checks = _route_claims(claims, tenant_param, request.view_args)
                access, csrf, wanted = _remote_credentials(_RequestAdapter(), anti_csrf)
                g.session = self.verifier.verify(
                    access, csrf, require_anti_csrf=wanted, claims=checks
                )
                return view(*args, **kwargs)

            return cast(F, wrapper)

        return decorate

    def error_response(self, exc: Exception) -> ResponseReturnValue:
        """The error handler for the error family: status and message, no cookie writes."""
        status = self.session_expired_status
        reply = reply_for(exc, status, expired_phrase(status))
        response = jsonify(reply.body)
        response.status = f"{reply.status} {reply.phrase}" if reply.phrase else reply.status
        response.headers["Cache-Control"] = "no-store"
        return response


def cors_options() -> dict[str, Any]:
    """Keyword arguments for ``flask_cors.CORS(app, origins=[...], **cors_options())``."""
    return {
        "allow_headers": cors_allowed_headers(),
        "expose_headers": cors_exposed_headers(),
        "supports_credentials": True,
    }


__all__ = [
    "RemoteSessions",
    "RequestSession",
    "Sessionward",
    "cors_options",
    "create_impersonation_session",
    "create_new_session",
    "integration",
    "outgoing",
    "verify_session",
]
