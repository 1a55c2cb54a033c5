"""Django: an installable app with a middleware and a ``@verify_session()`` decorator.

Protect a view in one line::

    @verify_session()
    def like(request): ...     # the session is request.sessionward

Set-up: add ``"sessionward.integrations.django"`` to ``INSTALLED_APPS``,
``"sessionward.integrations.django.middleware.SessionwardMiddleware"`` to ``MIDDLEWARE``, and
``SESSIONWARD = {"refresh_path": "/refresh", ...}`` (any :class:`~sessionward.Config` setting;
``database_url`` defaults to the ``default`` entry of ``DATABASES``). The middleware serves the
refresh endpoint, writes pending cookies and headers to every response and answers the error
family. Sync and async views are both supported. All rules live in :mod:`sessionward._transport`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, ParamSpec, TypeVar, cast

from asgiref.sync import iscoroutinefunction, sync_to_async
from django.http import HttpRequest, HttpResponseBase, JsonResponse

from sessionward._claims import Claim
from sessionward._models import DEFAULT_TENANT, JSON, Session
from sessionward._operations.context import Operation
from sessionward._transport import (
    Cookie,
    Outgoing,
    Verification,
    cgi_header,
    cors_allowed_headers,
    cors_exposed_headers,
)
from sessionward.integrations import (
    AsyncRequestSession,
    HeadersResponse,
    RequestSession,
    _route_claims,
)
from sessionward.integrations.django._settings import (
    configure,
    database_url_from_django,
    get_manager,
    get_transport,
    hooks_from_settings,
)

T = TypeVar("T")
P = ParamSpec("P")
V = TypeVar("V", bound=Callable[..., Any])

_OUT_ATTR = "_sessionward_outgoing"


class _RequestAdapter:
    """A Django request as :class:`~sessionward._transport.RequestAdapter`."""

    __slots__ = ("_request",)

    def __init__(self, request: HttpRequest) -> None:
        self._request = request

    @property
    def method(self) -> str:
        return self._request.method or "GET"

    @property
    def url(self) -> str:
        # The path is what a proof of possession must name (scheme and host are not compared),
        # and unlike build_absolute_uri() it cannot fail on a host outside ALLOWED_HOSTS.
        return self._request.get_full_path()

    @property
    def scheme(self) -> str:
        return self._request.scheme or "http"

    @property
    def peer_address(self) -> str | None:
        value = self._request.META.get("REMOTE_ADDR")
        return value if isinstance(value, str) else None

    def get_cookie(self, name: str) -> str | None:
        return self._request.COOKIES.get(name)

    def get_header(self, name: str) -> str | None:
        # META holds a repeated header's lines joined with "," in order, from the WSGI server
        # or Django's own ASGI handler, as RequestAdapter.get_header needs.
        return cgi_header(self._request.META, name)


class _ResponseAdapter(HeadersResponse):
    """A Django response as :class:`~sessionward._transport.ResponseAdapter`."""

    __slots__ = ("_response",)

    def __init__(self, response: HttpResponseBase) -> None:
        super().__init__(response.headers)
        self._response = response

    def add_cookie(self, cookie: Cookie) -> None:
        self._response.set_cookie(
            cookie.name,
            cookie.value,
            # None: a session cookie (no Expires), as a non-persistent session's are.
            expires=cookie.expires_http if cookie.expires_ms is not None else None,
            path=cookie.path,
            domain=cookie.domain,
            secure=cookie.secure,
            httponly=cookie.http_only,
            samesite=cast(Literal["Lax", "Strict", "None"], cookie.same_site_title),
        )


def outgoing(request: HttpRequest) -> Outgoing:
    """The writes this request owes its response (applied by the middleware)."""
    out = getattr(request, _OUT_ATTR, None)
    if not isinstance(out, Outgoing):
        raise RuntimeError(
            "SessionwardMiddleware is not in MIDDLEWARE: add "
            "'sessionward.integrations.django.middleware.SessionwardMiddleware'"
        )
    return out


def run(operation: Operation[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Drive a transport flow with the project's manager (sync)."""
    return get_manager()._drive(operation, *args, **kwargs)


async def arun(operation: Operation[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Drive a transport flow from async code: the whole flow, database calls and hooks
    included, runs in a worker thread (the flow itself is plain, synchronous code)."""
    drive = get_manager()._drive
    return await sync_to_async(drive, thread_sensitive=False)(operation, *args, **kwargs)


def _session(
    request: HttpRequest,
    session: Session,
    adapter: _RequestAdapter | None = None,
    out: Outgoing | None = None,
) -> RequestSession:
    """The request session; ``adapter`` and ``out``: this request's, if already at hand."""
    adapter = _RequestAdapter(request) if adapter is None else adapter
    out = outgoing(request) if out is None else out
    return RequestSession(session, get_transport(), adapter, out, run)


def _asession(
    request: HttpRequest,
    session: Session,
    adapter: _RequestAdapter | None = None,
    out: Outgoing | None = None,
) -> AsyncRequestSession:
    """:func:`_session` for async views."""
    adapter = _RequestAdapter(request) if adapter is None else adapter
    out = outgoing(request) if out is None else out
    return AsyncRequestSession(session, get_transport(), adapter, out, arun)


def _route_values(request: HttpRequest) -> Mapping[str, object] | None:
    """The URL's captured values (``<str:tenant>``), once Django has resolved the view."""
    match = getattr(request, "resolver_match", None)
    return match.kwargs if match is not None else None


class _Found:
    """A request's verification, and the adapter and writes it was made with (for the request
    session to reuse)."""

    __slots__ = ("adapter", "out", "verification")

    def __init__(self, verification: Verification, adapter: _RequestAdapter, out: Outgoing) -> None:
        self.verification = verification
        self.adapter = adapter
        self.out = out


def _verification(
    request: HttpRequest,
    anti_csrf: bool | None,
    optional: bool,
    claims: Sequence[Claim],
    tenant_param: str | None,
    route_values: Mapping[str, object] | None = None,
) -> _Found:
    """The transport's verification of ``request``: answered without I/O, or the flow for
    :func:`get_session` and :func:`aget_session` to drive. ``route_values``: the view's
    keyword arguments, if known (else the resolver's)."""
    if tenant_param is not None and route_values is None:
        route_values = _route_values(request)
    adapter, out = _RequestAdapter(request), outgoing(request)
    verification = get_transport().get_session(
        get_manager()._context,
        adapter,
        out,
        anti_csrf=anti_csrf,
        optional=optional,
        claims=_route_claims(claims, tenant_param, route_values),
    )
    return _Found(verification, adapter, out)


def _settle(request: HttpRequest, found: _Found) -> RequestSession | None:
    """The session of a verification, its flow driven if it needed I/O."""
    rest = found.verification.rest
    verified = found.verification.answer if rest is None else run(rest)
    if verified is None:
        return None
    return _session(request, verified.session, found.adapter, found.out)


async def _asettle(request: HttpRequest, found: _Found) -> AsyncRequestSession | None:
    """:func:`_settle` for async views: the flow, if any, runs in a worker thread."""
    rest = found.verification.rest
    verified = found.verification.answer if rest is None else await arun(rest)
    if verified is None:
        return None
    return _asession(request, verified.session, found.adapter, found.out)


def get_session(
    request: HttpRequest,
    *,
    anti_csrf: bool | None = None,
    optional: bool = False,
    claims: Sequence[Claim] = (),
    tenant_param: str | None = None,
) -> RequestSession | None:
    """The request's session; raises the error family (answered by the middleware).
    ``tenant_param``: the URL's captured value naming the tenant the session must belong to."""
    return _settle(request, _verification(request, anti_csrf, optional, claims, tenant_param))


async def aget_session(
    request: HttpRequest,
    *,
    anti_csrf: bool | None = None,
    optional: bool = False,
    claims: Sequence[Claim] = (),
    tenant_param: str | None = None,
) -> AsyncRequestSession | None:
    """:func:`get_session` for async views: answered here when it needs no I/O, else its flow
    runs in a worker thread."""
    found = _verification(request, anti_csrf, optional, claims, tenant_param)
    return await _asettle(request, found)


def create_new_session(
    request: HttpRequest,
    user_id: str,
    jwt_payload: JSON = None,
    session_data: JSON = None,
    *,
    tenant_id: str = DEFAULT_TENANT,
    persistent: bool = True,
) -> RequestSession:
    """Log ``user_id`` in; the cookies and headers go on this request's response.
    ``persistent=False``: "remember me" off, the cookies end with the browser."""
    create = get_transport().create_session
    adapter, out = _RequestAdapter(request), outgoing(request)
    tokens = run(create, adapter, out, user_id, jwt_payload, session_data, tenant_id, persistent)
    return _session(request, tokens.session)


async def acreate_new_session(
    request: HttpRequest,
    user_id: str,
    jwt_payload: JSON = None,
    session_data: JSON = None,
    *,
    tenant_id: str = DEFAULT_TENANT,
    persistent: bool = True,
) -> AsyncRequestSession:
    """:func:`create_new_session` for async views."""
    create = get_transport().create_session
    adapter, out = _RequestAdapter(request), outgoing(request)
    tokens = await arun(
        create, adapter, out, user_id, jwt_payload, session_data, tenant_id, persistent
    )
    return _asession(request, tokens.session)


def create_impersonation_session(
    request: HttpRequest,
    actor_id: str,
    user_id: str,
    jwt_payload: JSON = None,
    session_data: JSON = None,
    *,
    tenant_id: str = DEFAULT_TENANT,
    ttl: int = 3600,
) -> RequestSession:
    """Let ``actor_id`` act as ``user_id`` (check the actor's right first); the
    impersonation's tokens go on this request's response."""
    create = get_transport().create_impersonation_session
    adapter, out = _RequestAdapter(request), outgoing(request)
    tokens = run(create, adapter, out, actor_id, user_id, jwt_payload, session_data, tenant_id, ttl)
    return _session(request, tokens.session)


async def acreate_impersonation_session(
    request: HttpRequest,
    actor_id: str,
    user_id: str,
    jwt_payload: JSON = None,
    session_data: JSON = None,
    *,
    tenant_id: str = DEFAULT_TENANT,
    ttl: int = 3600,
) -> AsyncRequestSession:
    """:func:`create_impersonation_session` for async views."""
    create = get_transport().create_impersonation_session
    adapter, out = _RequestAdapter(request), outgoing(request)
    tokens = await arun(
        create, adapter, out, actor_id, user_id, jwt_payload, session_data, tenant_id, ttl
    )
    return _asession(request, tokens.session)


def _find_request(args: Sequence[Any]) -> tuple[int, HttpRequest]:
    """Where the view's request is among its positional arguments, and the Django request
    itself: the first argument of a function view, the second of a method (``self``
    first); a Django REST framework ``Request`` stands for the ``HttpRequest`` it wraps (its
    ``_request``). Found by duck typing: DRF is never imported here."""
    for index in (0, 1):
        if index >= len(args):
            break
        candidate = args[index]
        if isinstance(candidate, HttpRequest):
            return index, candidate
        wrapped = getattr(candidate, "_request", None)
        if isinstance(wrapped, HttpRequest):
            return index, wrapped
    got = ", ".join(type(arg).__name__ for arg in args[:2]) or "no arguments"
    raise TypeError(
        "verify_session(): the view was called without a request as its first or second "
        f"argument (got {got}). Decorate a function view `def view(request, ...)` or a "
        "class-based view's method `def get(self, request, ...)`; for the class itself use "
        "`@method_decorator(verify_session(), name='dispatch')`"
    )


def _attach(args: Sequence[Any], index: int, request: HttpRequest, session: object) -> None:
    """``.sessionward`` on the Django request and, under DRF, on its wrapper too."""
    request.sessionward = session  # type: ignore[attr-defined]
    if args[index] is not request:
        args[index].sessionward = session


def verify_session(
    *,
    anti_csrf: bool | None = None,
    optional: bool = False,
    claims: Sequence[Claim] = (),
    tenant_param: str | None = None,
) -> Callable[[V], V]:
    """Decorator for sync or async views: the session on ``request.sessionward`` (None if
    optional and absent). ``anti_csrf``: None checks every non-GET method, True/False force it.
    ``claims``: checks the session must pass (:mod:`sessionward._claims`), else 403.
    ``tenant_param``: the view's keyword argument naming the route's tenant
    (``t/<str:tenant>/...``): a session of another tenant answers 403 (``in_tenant``), a
    malformed value 400.

    Works on function views and on the methods of class-based views (Django's ``View``, DRF's
    ``APIView``: ``def get(self, request, ...)``); with a DRF ``Request`` the session is on it
    and on the ``HttpRequest`` it wraps, whose response receives the token updates."""

    def decorate(view: V) -> V:
        if iscoroutinefunction(view):

            @functools.wraps(view)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                index, request = _find_request(args)
                found = _verification(request, anti_csrf, optional, claims, tenant_param, kwargs)
                _attach(args, index, request, await _asettle(request, found))
                return await view(*args, **kwargs)

            return cast(V, async_wrapper)

        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            index, request = _find_request(args)
            found = _verification(request, anti_csrf, optional, claims, tenant_param, kwargs)
            _attach(args, index, request, _settle(request, found))
            return view(*args, **kwargs)

        return cast(V, wrapper)

    return decorate


def error_response(request: HttpRequest, error: Exception) -> JsonResponse:
    """The answer to one of the error family."""
    reply = get_transport().error_reply(error, _RequestAdapter(request), outgoing(request))
    # A reason phrase for 440: without one Django logs "Unknown Status Code: <path>".
    return JsonResponse(reply.body, status=reply.status, reason=reply.phrase)


def cors_settings() -> dict[str, Any]:
    """Values for django-cors-headers: ``CORS_ALLOW_HEADERS``, ``CORS_EXPOSE_HEADERS`` and
    ``CORS_ALLOW_CREDENTIALS`` (with ``CORS_ALLOWED_ORIGINS`` set explicitly)."""
    return {
        "CORS_ALLOW_HEADERS": [*cors_allowed_headers(), "content-type"],
        "CORS_EXPOSE_HEADERS": cors_exposed_headers(),
        "CORS_ALLOW_CREDENTIALS": True,
    }


__all__ = [
    "AsyncRequestSession",
    "RequestSession",
    "acreate_impersonation_session",
    "acreate_new_session",
    "aget_session",
    "configure",
    "cors_settings",
    "create_impersonation_session",
    "create_new_session",
    "database_url_from_django",
    "get_manager",
    "get_session",
    "hooks_from_settings",
    "verify_session",
]
