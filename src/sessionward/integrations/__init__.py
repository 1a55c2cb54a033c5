"""Framework integrations: each adapts its framework's request and response to
:mod:`sessionward._transport`, where all the session rules live.

- :mod:`sessionward.integrations.starlette`: Starlette and FastAPI (async manager).
- :mod:`sessionward.integrations.flask`: Flask (sync manager).
- :mod:`sessionward.integrations.django`: Django (sync manager; sync and async views).

Each runs a request's transport flow through its manager's ``_drive``, the one place where a
manager drives a flow and calls the hooks (docs/design.md, "Subclassing a manager"); the verify
path is answered before any flow starts (:class:`~sessionward._transport.Verification`).

This module holds the pieces they share: the session object a protected view receives, the
route's claims, and what a resource service (``RemoteSessions``) reads from a request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Generic, Protocol, TypeVar, cast

from sessionward._claims import Claim, in_tenant
from sessionward._errors import InvalidArgumentError
from sessionward._models import JSON, Session, SessionSummary
from sessionward._operations import payload as payloads
from sessionward._transport import (
    Outgoing,
    RequestAdapter,
    TransferMode,
    Transport,
    client_script_url,
    read_credentials,
    route_wants_anti_csrf,
    transfer_mode,
)
from sessionward._validation import check_tenant_id, parse_json_body

T = TypeVar("T")
RunResult = TypeVar("RunResult")


def _route_claims(
    claims: Sequence[Claim], tenant_param: str | None, route_values: Mapping[str, object] | None
) -> Sequence[Claim]:
    """The route's claim checks: ``claims``, led by ``in_tenant`` of the route's
    ``tenant_param`` value when one is named (a missing or malformed value is the client's
    error, InvalidArgumentError: 400)."""
    if tenant_param is None:
        return claims
    value = (route_values or {}).get(tenant_param)
    if value is None:
        raise InvalidArgumentError(f"the route has no {tenant_param!r} to name the tenant")
    tenant = check_tenant_id(value, f"the route's {tenant_param!r}")
    return (in_tenant(tenant), *claims)


def _remote_credentials(
    request: RequestAdapter, anti_csrf: bool | None
) -> tuple[str, str | None, bool]:
    """What a resource service verifies (``RemoteSessions`` of every framework): the access
    token, the anti-CSRF header if the route checks it, and whether it does (cookie-mode
    requests of a non-GET method, unless ``anti_csrf`` forces it); UnauthorisedError with no
    token."""
    mode = transfer_mode(request)
    access, csrf = read_credentials(request, mode)
    wanted = mode is TransferMode.COOKIE and route_wants_anti_csrf(request, anti_csrf)
    return access, csrf if wanted else None, wanted


class _Headers(Protocol):
    """A response's headers: a case-insensitive mapping that can be read and written."""

    def get(self, name: str) -> str | None: ...

    def __setitem__(self, name: str, value: str) -> None: ...


class HeadersResponse:
    """The part of a ``ResponseAdapter`` for responses whose headers are a case-insensitive
    mapping (Flask, Django); each adds cookies its own way."""

    __slots__ = ("_headers",)

    def __init__(self, headers: _Headers) -> None:
        self._headers = headers

    def get_header(self, name: str) -> str | None:
        return self._headers.get(name)

    def set_header(self, name: str, value: str) -> None:
        self._headers[name] = value


class _VerifiedRequest(Generic[RunResult]):
    """What the sync and the async request sessions share: the session, where to write, and
    how to run a transport flow: ``run`` is the manager's ``_drive`` (it returns the flow's
    result, or an awaitable of it), so the hooks fire once the whole flow has ended."""

    __slots__ = ("_out", "_request", "_run", "_transport", "session")

    def __init__(
        self,
        session: Session,
        transport: Transport,
        request: RequestAdapter,
        out: Outgoing,
        run: Callable[..., RunResult],
    ) -> None:
        self.session = session
        self._transport = transport
        self._request = request
        self._out = out
        self._run = run

    @property
    def _exchange(self) -> tuple[RequestAdapter, Outgoing]:
        """The request and what its response will carry: where a transport flow reads and writes."""
        return self._request, self._out

    @property
    def user_id(self) -> str:
        return self.session.user_id

    @property
    def handle(self) -> str:
        """The session handle: fixed for the session's life although every token rotates."""
        return self.session.handle

    @property
    def jwt_payload(self) -> JSON:
        return self.session.jwt_payload

    @property
    def tenant_id(self) -> str:
        """The tenant the session belongs to (``DEFAULT_TENANT`` unless the login named one)."""
        return self.session.tenant_id

    @property
    def actor(self) -> str | None:
        """Who acts as the user in an impersonation session (show a banner); else None."""
        return self.session.actor

    @property
    def persistent(self) -> bool:
        """False for a session that ends with the browser ("remember me" off)."""
        return self.session.persistent

    def __repr__(self) -> str:
        return f"{type(self).__name__}(user_id={self.user_id!r}, handle={self.handle!r})"


class RequestSession(_VerifiedRequest[Any]):
    """The verified session of the current request, for sync views (Flask, Django)."""

    __slots__ = ()

    def revoke(self) -> bool:
        """Log out: delete the session and clear the client's tokens."""
        return bool(
            self._run(self._transport.revoke_session, self._request, self._out, self.handle)
        )

    def get_session_data(self) -> JSON:
        """The server-side data (UnauthorisedError, answered with cleared cookies, if gone)."""
        return self._run(self._transport.get_session_data, self.handle)

    def list_sessions(self) -> list[SessionSummary]:
        """The user's sessions ("your devices"), most recent first, this one ``current``."""
        return cast(list[SessionSummary], self._run(self._transport.list_sessions, self.session))

    def revoke_session(self, session_handle: str) -> bool:
        """Sign out one of the user's sessions (this one too: then the cookies are cleared)."""
        flow = self._transport.revoke_own_session
        return bool(self._run(flow, self._request, self._out, self.session, session_handle))

    def revoke_other_sessions(self) -> int:
        """Sign out all of the user's other devices; returns how many."""
        return int(self._run(self._transport.revoke_other_sessions, self.session))

    def update_session_data(self, data: JSON) -> None:
        """Replace the server-side data."""
        self._run(self._transport.update_session_data, self.handle, data)

    def merge_into_jwt_payload(
        self, changes: dict[str, JSON], *, every_session: bool = False
    ) -> None:
        """Set keys of the jwt payload (None removes one). This response carries an access
        token with it; the session's other tokens carry it from their next refresh.
        ``every_session``: the user's other sessions too (a role change), from their next
        refresh, at most one access-token validity from now."""
        merge, session = self._transport.merge_into_jwt_payload, self.session
        self.session = self._run(
            merge, *self._exchange, session, changes, every_session=every_session
        )

    def update_jwt_payload(self, payload: JSON) -> None:
        """Replace the jwt payload (see :meth:`merge_into_jwt_payload`)."""
        change = self._transport.change_jwt_payload
        self.session = self._run(
            change, *self._exchange, payloads.update_jwt_payload, self.handle, payload
        )

    def mark_fresh(self) -> None:
        """The user has just re-authenticated: ``fresh_login`` checks count from now."""
        change = self._transport.change_jwt_payload
        self.session = self._run(change, *self._exchange, payloads.mark_fresh, self.handle)


class AsyncRequestSession(_VerifiedRequest[Awaitable[Any]]):
    """The verified session of the current request, for async views (FastAPI, Starlette,
    Django async views): the same methods, awaited."""

    __slots__ = ()

    async def revoke(self) -> bool:
        """Log out: delete the session and clear the client's tokens."""
        flow = self._transport.revoke_session
        return bool(await self._run(flow, self._request, self._out, self.handle))

    async def get_session_data(self) -> JSON:
        """The server-side data (UnauthorisedError, answered with cleared cookies, if gone)."""
        return await self._run(self._transport.get_session_data, self.handle)

    async def list_sessions(self) -> list[SessionSummary]:
        """The user's sessions ("your devices"), most recent first, this one ``current``."""
        sessions = await self._run(self._transport.list_sessions, self.session)
        return cast(list[SessionSummary], sessions)

    async def revoke_session(self, session_handle: str) -> bool:
        """Sign out one of the user's sessions (this one too: then the cookies are cleared)."""
        flow = self._transport.revoke_own_session
        return bool(await self._run(flow, self._request, self._out, self.session, session_handle))

    async def revoke_other_sessions(self) -> int:
        """Sign out all of the user's other devices; returns how many."""
        return int(await self._run(self._transport.revoke_other_sessions, self.session))

    async def update_session_data(self, data: JSON) -> None:
        """Replace the server-side data."""
        await self._run(self._transport.update_session_data, self.handle, data)

    async def merge_into_jwt_payload(
        self, changes: dict[str, JSON], *, every_session: bool = False
    ) -> None:
        """Set keys of the jwt payload (None removes one). This response carries an access
        token with it; the session's other tokens carry it from their next refresh.
        ``every_session``: the user's other sessions too (a role change), from their next
        refresh, at most one access-token validity from now."""
        self.session = await self._run(
            self._transport.merge_into_jwt_payload,
            *self._exchange,
            self.session,
            changes,
            every_session=every_session,
        )

    async def update_jwt_payload(self, payload: JSON) -> None:
        """Replace the jwt payload (see :meth:`merge_into_jwt_payload`)."""
        change = self._transport.change_jwt_payload
        self.session = await self._run(
            change, *self._exchange, payloads.update_jwt_payload, self.handle, payload
        )

    async def mark_fresh(self) -> None:
        """The user has just re-authenticated: ``fresh_login`` checks count from now."""
        change = self._transport.change_jwt_payload
        self.session = await self._run(change, *self._exchange, payloads.mark_fresh, self.handle)


__all__ = [
    "AsyncRequestSession",
    "HeadersResponse",
    "RequestSession",
    "client_script_url",
    "parse_json_body",
]
