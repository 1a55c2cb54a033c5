"""Django REST framework: an authentication class, permissions from claims, an exception handler.

Settings (next to the Django integration's, :mod:`sessionward.integrations.django`)::

    INSTALLED_APPS += ["rest_framework", "sessionward.integrations.django"]
    MIDDLEWARE += ["sessionward.integrations.django.middleware.SessionwardMiddleware"]
    REST_FRAMEWORK = {
        "DEFAULT_AUTHENTICATION_CLASSES": [
            "sessionward.integrations.drf.SessionwardAuthentication"
        ],
        "EXCEPTION_HANDLER": "sessionward.integrations.drf.exception_handler",
    }

A view then reads ``request.auth`` (the :class:`~sessionward.integrations.RequestSession`) and
``request.user`` (a :class:`SessionUser`, or the project's own user with
``SESSIONWARD["USER_LOADER"]``), and protects itself with
``permission_classes = [IsAuthenticated, ClaimPermission(has_role("admin"))]``.

The adapter is thin: the verification is the Django integration's, on DRF's underlying
``HttpRequest`` (``request._request``), whose pending writes the middleware applies to the
response: a token written while a view runs (claims merged, logout) is never lost on DRF's
wrapper. The answers are the protocol's (the session-expired status, its body and ``reason``,
cookies cleared on unauthorised), never DRF's generic 401/403.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponseBase
from django.utils.module_loading import import_string
from rest_framework import exceptions as drf_exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission, OperationHolderMixin
from rest_framework.request import Request

from sessionward import _telemetry as telemetry
from sessionward._claims import Claim, validate_claims
from sessionward._errors import ClaimValidationError, ConfigError, SessionError, UnauthorisedError
from sessionward._transport import (
    TransferMode,
    cookie_access_token,
    header_access_token,
    presented,
)
from sessionward.integrations import RequestSession
from sessionward.integrations.django import (
    _RequestAdapter,
    error_response,
    get_manager,
    get_session,
)
from sessionward.integrations.django._settings import _USER_LOADER

__all__ = [
    "ClaimPermission",
    "SessionUser",
    "SessionwardAuthentication",
    "exception_handler",
]

_DJANGO_USERS = "django.contrib.auth"  # USER_LOADER: the AUTH_USER_MODEL by pk


class SessionUser:
    """``request.user`` of a verified session when no ``USER_LOADER`` is set: who the session
    says the user is, without a database call. ``pk`` and ``id`` are the user id (a string)."""

    is_authenticated = True
    is_anonymous = False
    is_active = True

    __slots__ = ("session",)

    def __init__(self, session: RequestSession) -> None:
        self.session = session

    @property
    def id(self) -> str:
        return self.session.user_id

    @property
    def pk(self) -> str:
        return self.session.user_id

    @property
    def user_id(self) -> str:
        return self.session.user_id

    @property
    def tenant_id(self) -> str:
        return self.session.tenant_id

    @property
    def actor(self) -> str | None:
        """Who acts as this user in an impersonation session; else None."""
        return self.session.actor

    def __str__(self) -> str:
        return self.session.user_id

    def __repr__(self) -> str:
        return f"SessionUser(user_id={self.id!r}, tenant_id={self.tenant_id!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SessionUser):
            return NotImplemented
        return (self.tenant_id, self.id) == (other.tenant_id, other.id)

    def __hash__(self) -> int:
        return hash((self.tenant_id, self.id))


UserLoader = Callable[[RequestSession], Any]


def _django_user(session: RequestSession) -> Any:
    """The ``AUTH_USER_MODEL`` instance whose primary key is the session's user id, or None."""
    from django.contrib.auth import get_user_model

    model = get_user_model()
    try:
        return model._default_manager.filter(pk=session.user_id).first()
    except (ValueError, TypeError, ValidationError):  # an id the pk's type cannot hold
        return None


@functools.lru_cache(maxsize=8)
def _import_loader(path: str) -> UserLoader:
    try:
        loader = import_string(path)
    except ImportError as exc:
        raise ConfigError(f"SESSIONWARD['USER_LOADER']: {exc}") from None
    if not callable(loader):
        raise ConfigError(f"SESSIONWARD['USER_LOADER']: {path!r} is not callable")
    return loader  # type: ignore[no-any-return]


def _user_loader() -> UserLoader | None:
    """``SESSIONWARD["USER_LOADER"]``: None (a :class:`SessionUser`), ``"django.contrib.auth"``,
    or a callable ``(session) -> user | None`` or its dotted path. Read on each request, so
    that ``override_settings`` applies."""
    value = getattr(settings, "SESSIONWARD", {}).get(_USER_LOADER)
    if value is None:
        return None
    if value == _DJANGO_USERS:
        return _django_user
    if isinstance(value, str):
        return _import_loader(value)
    if callable(value):
        return value  # type: ignore[no-any-return]
    raise ConfigError(
        "SESSIONWARD['USER_LOADER'] must be 'django.contrib.auth', a callable or its dotted path"
    )


def _http_request(request: Request | HttpRequest) -> HttpRequest:
    """The ``HttpRequest`` under DRF's wrapper: the one the middleware writes the response from."""
    inner = getattr(request, "_request", request)
    assert isinstance(inner, HttpRequest)
    return inner


def _has_credentials(request: HttpRequest) -> bool:
    """Whether the request presents a session at all (else it is anonymous to DRF)."""
    adapter = _RequestAdapter(request)
    mode, token = presented(adapter)
    try:
        if mode is TransferMode.COOKIE:
            cookie_access_token(adapter)
        else:
            header_access_token(token)
    except UnauthorisedError:
        return False
    except SessionError:  # a session without its access token: refresh, not anonymous
        return True
    return True


class SessionwardAuthentication(BaseAuthentication):
    """Authenticates by the request's session (cookies or ``Authorization: Bearer``, with the
    transport's anti-CSRF rules): ``request.auth`` is the session, ``request.user`` the user.

    No credentials: None (anonymous; ``AllowAny`` and ``IsAuthenticatedOrReadOnly`` behave as
    usual). Credentials that fail: the error family is raised and answered by the protocol.
    """

    def authenticate(self, request: Request) -> tuple[Any, RequestSession] | None:
        http = _http_request(request)
        if not _has_credentials(http):
            return None
        session = get_session(http)
        assert session is not None  # not optional: a failure raised
        loader = _user_loader()
        if loader is None:
            return SessionUser(session), session
        user = loader(session)
        if user is None:
            raise UnauthorisedError("the session's user does not exist")
        return user, session

    def authenticate_header(self, request: Request) -> str:
        """Makes DRF answer 401 rather than 403 if it ever answers an authentication itself."""
        return 'Bearer realm="api"'


class ClaimPermission(OperationHolderMixin, BasePermission):
    """A DRF permission from sessionward claim checks::

        permission_classes = [IsAuthenticated, ClaimPermission(has_role("admin"))]

    The instance stands in for a class (DRF calls each entry; calling it returns itself). A
    failed check answers 403 ``{"message", "claim"}``, as the other frameworks do; a request
    without a session, the protocol's unauthorised answer.
    """

    def __init__(self, *claims: Claim) -> None:
        if not claims or not all(isinstance(claim, Claim) for claim in claims):
            raise TypeError("ClaimPermission takes one or more claims (has_role('admin'), ...)")
        self.claims = claims

    def __call__(self) -> ClaimPermission:
        return self

    def has_permission(self, request: Request, view: Any) -> bool:
        session = request.auth
        if not isinstance(session, RequestSession):
            raise UnauthorisedError("no session")
        try:
            validate_claims(session.session, self.claims, get_manager()._context.now_ms())
        except ClaimValidationError:
            telemetry.verify_failed("claim_failed")
            raise
        return True

    def __repr__(self) -> str:
        return f"ClaimPermission({', '.join(claim.name for claim in self.claims)})"


def exception_handler(exc: Exception, context: dict[str, Any]) -> HttpResponseBase | None:
    """``REST_FRAMEWORK["EXCEPTION_HANDLER"]``: the error family answered by the protocol (as
    the middleware does), DRF's ``NotAuthenticated`` (an ``IsAuthenticated`` view without a
    session) as the protocol's unauthorised answer, anything else by DRF's default handler."""
    request = context.get("request")
    if request is not None:
        if isinstance(exc, SessionError):
            return error_response(_http_request(request), exc)
        if isinstance(exc, drf_exceptions.NotAuthenticated):
            return error_response(_http_request(request), UnauthorisedError("no session"))
    # Imported here: rest_framework.views reads DRF's settings on import, and this module must
    # import before Django is configured (a settings module naming its classes).
    from rest_framework.views import exception_handler as drf_exception_handler

    return drf_exception_handler(exc, context)
