"""``RemoteSessions`` for Django: the views of a resource service, a Django project that only
verifies the issuing app's access tokens (no database of sessions, no secret, only the JWKS
URL), through a :class:`~sessionward.RemoteVerifier` for sync views or an
:class:`~sessionward.AsyncRemoteVerifier` for async ones; both also read the issuer's
revocation feed (docs/microservices.md#revocations).

Its own module because it needs none of the rest of the Django integration's set-up (no
``SESSIONWARD`` settings, no middleware): the decorator answers the error family itself, with
the issuing app's statuses and bodies, and never writes a cookie.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest, JsonResponse

from sessionward._claims import Claim
from sessionward._errors import SessionError
from sessionward._remote import AsyncRemoteVerifier, RemoteVerifier
from sessionward._transport import expired_phrase, reply_for
from sessionward.integrations import _remote_credentials, _route_claims
from sessionward.integrations.django import _attach, _find_request, _RequestAdapter

V = TypeVar("V", bound=Callable[..., Any])


class RemoteSessions:
    """Protect Django views with a remote verifier: ``@remote.verify_session()`` puts the
    :class:`~sessionward.Session` on ``request.sessionward``, as the issuing app's decorator
    does. ``session_expired_status`` must match the issuing app's (440 by default), so that its
    frontend refreshes there and retries here."""

    def __init__(
        self,
        verifier: RemoteVerifier | AsyncRemoteVerifier,
        *,
        session_expired_status: int = 440,
    ) -> None:
        self.verifier = verifier
        self.session_expired_status = session_expired_status

    def verify_session(
        self,
        *,
        anti_csrf: bool | None = None,
        claims: Sequence[Claim] = (),
        tenant_param: str | None = None,
    ) -> Callable[[V], V]:
        """Decorator for views (sync ones with a :class:`RemoteVerifier`, async ones with an
        :class:`AsyncRemoteVerifier`). ``anti_csrf``, ``claims``, ``tenant_param``: as
        :func:`sessionward.integrations.django.verify_session`'s (another tenant's session:
        403). An error of the family is answered here, as JSON, with no cookie writes."""

        def decorate(view: V) -> V:
            verifier = self.verifier
            if iscoroutinefunction(view):
                if not isinstance(verifier, AsyncRemoteVerifier):
                    raise TypeError("an async view needs RemoteSessions(AsyncRemoteVerifier(...))")
                averify = verifier.verify

                @functools.wraps(view)
                async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                    index, request = _find_request(args)
                    try:
                        checks = _route_claims(claims, tenant_param, kwargs)
                        access, csrf, wanted = _remote_credentials(
                            _RequestAdapter(request), anti_csrf
                        )
                        session = await averify(
                            access, csrf, require_anti_csrf=wanted, claims=checks
                        )
                    except SessionError as error:
                        return self.error_response(request, error)
                    _attach(args, index, request, session)
                    return await view(*args, **kwargs)

                return cast(V, async_wrapper)
            if not isinstance(verifier, RemoteVerifier):
                raise TypeError("a sync view needs RemoteSessions(RemoteVerifier(...))")
            verify = verifier.verify

            @functools.wraps(view)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                index, request = _find_request(args)
                try:
                    checks = _route_claims(claims, tenant_param, kwargs)
                    access, csrf, wanted = _remote_credentials(_RequestAdapter(request), anti_csrf)
                    session = verify(access, csrf, require_anti_csrf=wanted, claims=checks)
                except SessionError as error:
                    return self.error_response(request, error)
                _attach(args, index, request, session)
                return view(*args, **kwargs)

            return cast(V, wrapper)

        return decorate

    def error_response(self, request: HttpRequest, error: Exception) -> JsonResponse:
        """The answer to one of the error family: the issuing app's status and body."""
        status = self.session_expired_status
        reply = reply_for(error, status, expired_phrase(status))
        response = JsonResponse(reply.body, status=reply.status, reason=reply.phrase)
        response["Cache-Control"] = "no-store"
        return response


__all__ = ["RemoteSessions"]
