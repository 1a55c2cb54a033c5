"""docs/protocol.md#on-the-wire once, for every web framework: which token travels where, and
what each outcome writes to the response.

An integration adapts its framework's request to :class:`RequestAdapter` and its response to
:class:`ResponseAdapter`; everything else is here. Operations are written as *flows* that ask
the manager for what they need through the typed steps of :mod:`sessionward.calls`, so the same
rules drive the sync manager (Flask, Django) and the async one (Starlette, FastAPI), run by the
drivers of :mod:`sessionward.flows`. What a flow decides to write is collected in an
:class:`Outgoing` owned by the request, and applied once to whatever response is finally sent,
success or error.

Two ways of carrying tokens, chosen per request by the client (:func:`transfer_mode`):

- ``cookie`` (the default, the original protocol): the three cookies, the ``anti-csrf`` and
  ``id-refresh-token`` headers.
- ``header`` (beyond the original, for non-browser clients): the client sends
  ``st-auth-mode: header`` (at login) or ``Authorization: Bearer <token>``; tokens come back in
  the ``st-access-token`` and ``st-refresh-token`` response headers, the access token (or, at the
  refresh endpoint, the refresh token) goes in ``Authorization: Bearer``. No cookies are set and
  no anti-CSRF check is needed: a browser never attaches such a header on its own.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from email.utils import formatdate
from http import HTTPStatus
from typing import Protocol, TypeVar

from sessionward.calls import (
    CreateNewSession,
    GetJwks,
    GetSession,
    GetSessionData,
    ListSessions,
    ManagerFlow,
    MergeIntoJwtPayload,
    MergeIntoJwtPayloadForUser,
    PayloadStep,
    ReadClock,
    RefreshSession,
    RevokeOtherSessions,
    RevokeSession,
    UpdateSessionData,
)
from sessionward.claims import Claim, validate_claims
from sessionward.clients import client_ip
from sessionward.config import Config
from sessionward.errors import (
    ANTI_CSRF_MISSING,
    ClaimValidationError,
    DataTooLargeError,
    GeneralError,
    InvalidArgumentError,
    SessionError,
    TokenTheftDetectedError,
    TryRefreshTokenError,
    UnauthorisedError,
)
from sessionward.events import RevokeReason
from sessionward.flows import perform
from sessionward.models import (
    JSON,
    ClientContext,
    Session,
    SessionSummary,
    SessionTokens,
    Token,
    VerifiedSession,
)
from sessionward.proof import PROOF_HEADER, ProofOfPossession, TooManyProofsError

logger = logging.getLogger("sessionward")

T = TypeVar("T")

ACCESS_TOKEN_COOKIE = "sAccessToken"
REFRESH_TOKEN_COOKIE = "sRefreshToken"
ID_REFRESH_TOKEN_COOKIE = "sIdRefreshToken"
ANTI_CSRF_HEADER = "anti-csrf"
ID_REFRESH_TOKEN_HEADER = "id-refresh-token"
AUTH_MODE_HEADER = "st-auth-mode"
ACCESS_TOKEN_HEADER = "st-access-token"
REFRESH_TOKEN_HEADER = "st-refresh-token"
EXPOSE_HEADERS = "Access-Control-Expose-Headers"
REMOVE = "remove"
FRONTEND_SDK_HEADERS = ("supertokens-sdk-name", "supertokens-sdk-version")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
MAX_HEADER_TOKEN_LENGTH = 8192  # longer values are garbage, not tokens: do not even parse them


def cors_allowed_headers() -> list[str]:
    """Request headers a CORS preflight must allow for the frontend SDK and the header mode."""
    return [
        ANTI_CSRF_HEADER,
        *FRONTEND_SDK_HEADERS,
        AUTH_MODE_HEADER,
        "authorization",
        PROOF_HEADER.lower(),
    ]


def cors_exposed_headers() -> list[str]:
    """Response headers a cross-origin frontend must be able to read."""
    return [ID_REFRESH_TOKEN_HEADER, ANTI_CSRF_HEADER, ACCESS_TOKEN_HEADER, REFRESH_TOKEN_HEADER]


# --- what the framework adapters provide ----------------------------------------------------


class RequestAdapter(Protocol):
    """Read access to one request: its method, URL, scheme and socket peer, a cookie by name, a
    header by name (any case)."""

    @property
    def method(self) -> str: ...

    @property
    def url(self) -> str: ...

    @property
    def scheme(self) -> str:
        """``http`` or ``https`` as the framework sees it (after its own proxy handling)."""
        ...

    @property
    def peer_address(self) -> str | None: ...

    def get_cookie(self, name: str) -> str | None: ...

    def get_header(self, name: str) -> str | None:
        """The header ``name`` (any case): every line of it, joined with "," in order, as WSGI
        servers and Django hand them in (RFC 9110 §5.3). A list header such as
        ``X-Forwarded-For`` must be read whole: a proxy may add its own line after the
        client's, and only the right end is the proxy's."""
        ...


class ResponseAdapter(Protocol):
    """Write access to one response."""

    def get_header(self, name: str) -> str | None: ...

    def set_header(self, name: str, value: str) -> None: ...

    def add_cookie(self, cookie: Cookie) -> None: ...


@dataclass(frozen=True, slots=True)
class Cookie:
    """One ``Set-Cookie``: every attribute explicit, so every framework writes the same bytes."""

    name: str
    value: str
    expires_ms: int
    path: str
    domain: str | None
    secure: bool
    http_only: bool
    same_site: str

    @property
    def expires_http(self) -> str:
        """The ``Expires`` attribute (an HTTP date; the epoch for a cleared cookie)."""
        return formatdate(self.expires_ms // 1000, usegmt=True)

    @property
    def same_site_title(self) -> str:
        return self.same_site.capitalize()

    def header_value(self) -> str:
        """The full ``Set-Cookie`` header value."""
        parts = [f"{self.name}={self.value}", f"Expires={self.expires_http}", f"Path={self.path}"]
        if self.domain:
            parts.append(f"Domain={self.domain}")
        if self.secure:
            parts.append("Secure")
        if self.http_only:
            parts.append("HttpOnly")
        parts.append(f"SameSite={self.same_site_title}")
        return "; ".join(parts)

    def __repr__(self) -> str:  # cookie values are tokens: never in logs
        return f"Cookie({self.name!r}, <{len(self.value)} chars>, path={self.path!r})"


class Outgoing:
    """The writes one request owes its response, applied once by the integration.

    Cookies are keyed by name so that a later decision (an error clearing the session) replaces an
    earlier one (a new access token) instead of sending both.
    """

    __slots__ = ("cookies", "expose", "headers")

    def __init__(self) -> None:
        self.cookies: dict[str, Cookie] = {}
        self.headers: dict[str, str] = {}
        self.expose: list[str] = []

    def reset(self) -> None:
        self.cookies.clear()
        self.headers.clear()
        self.expose.clear()

    def set_header(self, name: str, value: str, *, expose: bool = False) -> None:
        self.headers[name] = value
        if expose and name not in self.expose:
            self.expose.append(name)

    def __bool__(self) -> bool:
        """Whether there is anything to write."""
        return bool(self.cookies or self.headers)

    def apply(self, response: ResponseAdapter) -> None:
        """Write everything to the response; merges with any ``Access-Control-Expose-Headers``."""
        for cookie in self.cookies.values():
            response.add_cookie(cookie)
        for name, value in self.headers.items():
            response.set_header(name, value)
        if self.expose:
            existing = response.get_header(EXPOSE_HEADERS)
            names = [n.strip() for n in existing.split(",") if n.strip()] if existing else []
            lower = {n.lower() for n in names}
            names += [n for n in self.expose if n not in lower]
            response.set_header(EXPOSE_HEADERS, ", ".join(names))

    def __repr__(self) -> str:
        return f"Outgoing(cookies={list(self.cookies)}, headers={list(self.headers)})"


# --- the rules -----------------------------------------------------------------------------


class TransferMode(enum.Enum):
    COOKIE = "cookie"
    HEADER = "header"


def _bearer(request: RequestAdapter) -> str | None:
    value = request.get_header("authorization")
    if not value or len(value) > MAX_HEADER_TOKEN_LENGTH:
        return None
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def client_context(request: RequestAdapter, config: Config) -> ClientContext:
    """Who sent ``request``: its address (the ``forwarded_header`` believed only from
    ``trusted_proxies``) and its User-Agent."""
    header = config.forwarded_header
    ip = client_ip(
        request.peer_address,
        request.get_header(header),
        header=header,
        trusted_proxies=config.trusted_networks,
    )
    return ClientContext(ip, request.get_header("user-agent"))


def proof_of_possession(request: RequestAdapter) -> ProofOfPossession | None:
    """The request's ``DPoP`` proof, if it sent one (checked by the manager, not here)."""
    value = request.get_header(PROOF_HEADER)
    if not value:
        return None
    return ProofOfPossession(value.strip(), request.method, request.url)


def transfer_mode(request: RequestAdapter) -> TransferMode:
    """``header`` if the client asks (``st-auth-mode: header``) or sends a Bearer token."""
    asked = (request.get_header(AUTH_MODE_HEADER) or "").strip().lower()
    if asked == "header":
        return TransferMode.HEADER
    if asked == "cookie":
        return TransferMode.COOKIE
    return TransferMode.HEADER if _bearer(request) is not None else TransferMode.COOKIE


def read_credentials(request: RequestAdapter, mode: TransferMode) -> tuple[str, str | None]:
    """The access token a request presents, and its anti-CSRF header (None if absent; header
    mode never needs one). :class:`UnauthorisedError` when the request carries no session at all,
    :class:`TryRefreshTokenError` when it has one but no access token (it expired as a cookie)."""
    if mode is TransferMode.HEADER:
        access = _bearer(request)
        if access is None:
            raise UnauthorisedError("no access token in the Authorization header")
        return access, None
    if request.get_cookie(ID_REFRESH_TOKEN_COOKIE) is None:
        raise UnauthorisedError("no sIdRefreshToken cookie")
    access = request.get_cookie(ACCESS_TOKEN_COOKIE)
    if access is None:
        raise TryRefreshTokenError("no sAccessToken cookie")
    return access, request.get_header(ANTI_CSRF_HEADER)


def route_wants_anti_csrf(request: RequestAdapter, anti_csrf: bool | None) -> bool:
    """Whether a route checks the anti-CSRF token: as it says (``anti_csrf``), else on every
    method but GET, HEAD and OPTIONS, which change nothing. Callers ask it in cookie mode only:
    a header-mode request carries no cookie that a forged request could ride on."""
    if anti_csrf is None:
        return request.method.upper() not in SAFE_METHODS
    return anti_csrf


def plain_http(request: RequestAdapter) -> bool:
    """Whether ``request`` reached the server over plain http.

    A TLS-terminating proxy in front is recognised by its ``X-Forwarded-Proto`` or ``Forwarded:
    proto=`` header, from any peer: this only decides whether to log a hint, never a security
    question, so a forged header can at most silence the hint.
    """
    if request.scheme.lower() != "http":
        return False
    proto = request.get_header("x-forwarded-proto")
    if proto and proto.split(",")[0].strip().lower() == "https":
        return False
    forwarded = (request.get_header("forwarded") or "").lower().replace(" ", "")
    return "proto=https" not in forwarded and 'proto="https"' not in forwarded


SESSION_EXPIRED_PHRASE = "Session Expired"


@dataclass(frozen=True, slots=True)
class ErrorReply:
    """What to answer for an error: status and a small JSON body (never a token, never a trace).

    ``phrase`` is the status line's reason phrase when the status has no standard one (the
    default 440): servers that know no phrase write "Unknown Status Code" or "UNKNOWN" instead,
    which is what Django logs for every such answer.
    """

    status: int
    body: dict[str, str]
    phrase: str | None = None


def reply_for(
    error: BaseException, session_expired_status: int, phrase: str | None = None
) -> ErrorReply:
    """The status and body for one of the error family (cookie writes are the caller's);
    ``phrase``: the reason phrase of the session-expired status, if it has no standard one."""
    expired = session_expired_status
    if isinstance(error, TokenTheftDetectedError):
        return ErrorReply(expired, {"message": "token theft detected"}, phrase)
    if isinstance(error, UnauthorisedError):
        return ErrorReply(expired, {"message": "unauthorised"}, phrase)
    if isinstance(error, TryRefreshTokenError):
        body = {"message": "try refresh token"}
        if error.reason is not None:
            # The status must stay the protocol's, but a client whose real problem is the
            # anti-CSRF header should not keep refreshing without knowing it.
            body["reason"] = error.reason
        return ErrorReply(expired, body, phrase)
    if isinstance(error, ClaimValidationError):
        # The session is fine, its claims are not: refreshing would not help.
        return ErrorReply(403, {"message": str(error), "claim": error.claim})
    if isinstance(error, InvalidArgumentError):
        # The client's input is wrong (a user id, a body, a proof): say what, keep the session.
        status = 413 if isinstance(error, DataTooLargeError) else 400
        return ErrorReply(status, {"message": str(error)})
    if isinstance(error, TooManyProofsError):
        # Nothing is wrong with the session or the server: this process is flooded with proofs
        # and refuses one more rather than forget an id (docs/security.md). Retry shortly.
        logger.warning("sessionward: %s", error)
        return ErrorReply(503, {"message": str(error)})
    kind = type(error).__name__ if isinstance(error, GeneralError) else "unexpected"
    logger.error("sessionward %s: %s", kind, error, exc_info=error)
    return ErrorReply(500, {"message": "internal server error"})


class Transport:
    """The rules of docs/protocol.md#on-the-wire for one :class:`~sessionward.Config`."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._warned_plain_http = False

    def _note_cookies_over_http(self, request: RequestAdapter, mode: TransferMode) -> None:
        """Log one WARNING (per transport, so per manager) the first time ``Secure`` cookies are
        written in answer to a plain-http request.

        Clients do not send ``Secure`` cookies back over http (a few make an exception for
        localhost), so every later request of that client carries no session and is answered
        the session-expired status: without this hint nothing on the server says why.
        """
        if (
            self._warned_plain_http
            or mode is not TransferMode.COOKIE
            or not self.config.cookie_secure
            or not plain_http(request)
        ):
            return
        self._warned_plain_http = True
        logger.warning(
            "sessionward: session cookies marked Secure (cookie_secure=True) were set in answer "
            "to a plain-http request. Clients do not send Secure cookies back over http (a few "
            "make an exception for localhost), so their next requests will carry no session "
            "and be answered %s 'unauthorised'. For local development over http set "
            "cookie_secure=False; in production serve https (behind a TLS-terminating proxy, "
            "have it send X-Forwarded-Proto). This warning is logged once.",
            self.config.session_expired_status,
        )

    # --- writing ---

    def _cookie(self, name: str, token: Token | None, path: str, *, http_only: bool) -> Cookie:
        c = self.config
        return Cookie(
            name=name,
            value=token.value if token else "",
            expires_ms=token.expires if token else 0,
            path=path,
            domain=c.cookie_domain,
            secure=c.cookie_secure,
            http_only=http_only,
            same_site=c.cookie_same_site,
        )

    def _set_access_token(self, mode: TransferMode, out: Outgoing, token: Token) -> None:
        if mode is TransferMode.HEADER:
            out.set_header(ACCESS_TOKEN_HEADER, token.value, expose=True)
        else:
            path = self.config.access_token_path
            out.cookies[ACCESS_TOKEN_COOKIE] = self._cookie(
                ACCESS_TOKEN_COOKIE, token, path, http_only=True
            )
        out.set_header("Cache-Control", "no-store")

    def write_tokens(self, mode: TransferMode, out: Outgoing, tokens: SessionTokens) -> None:
        """A full token set (after create or refresh), as docs/protocol.md#cookie-mode says."""
        out.reset()
        self._set_access_token(mode, out, tokens.access_token)
        if mode is TransferMode.HEADER:
            out.set_header(REFRESH_TOKEN_HEADER, tokens.refresh_token.value, expose=True)
            return
        c = self.config
        out.cookies[REFRESH_TOKEN_COOKIE] = self._cookie(
            REFRESH_TOKEN_COOKIE, tokens.refresh_token, c.refresh_path, http_only=True
        )
        idr = tokens.id_refresh_token
        out.cookies[ID_REFRESH_TOKEN_COOKIE] = self._cookie(
            ID_REFRESH_TOKEN_COOKIE, idr, c.access_token_path, http_only=False
        )
        out.set_header(ID_REFRESH_TOKEN_HEADER, f"{idr.value};{idr.expires}", expose=True)
        if tokens.anti_csrf_token is not None:
            out.set_header(ANTI_CSRF_HEADER, tokens.anti_csrf_token, expose=True)

    def clear(self, mode: TransferMode, out: Outgoing) -> None:
        """End the session on the client: cookies emptied and expired, ``remove`` headers."""
        out.reset()
        out.set_header("Cache-Control", "no-store")
        c = self.config
        if mode is TransferMode.HEADER:
            out.set_header(ACCESS_TOKEN_HEADER, REMOVE, expose=True)
            out.set_header(REFRESH_TOKEN_HEADER, REMOVE, expose=True)
            return
        out.cookies[ACCESS_TOKEN_COOKIE] = self._cookie(
            ACCESS_TOKEN_COOKIE, None, c.access_token_path, http_only=True
        )
        out.cookies[REFRESH_TOKEN_COOKIE] = self._cookie(
            REFRESH_TOKEN_COOKIE, None, c.refresh_path, http_only=True
        )
        out.cookies[ID_REFRESH_TOKEN_COOKIE] = self._cookie(
            ID_REFRESH_TOKEN_COOKIE, None, c.access_token_path, http_only=False
        )
        out.set_header(ID_REFRESH_TOKEN_HEADER, REMOVE, expose=True)

    @property
    def expired_phrase(self) -> str | None:
        """The reason phrase for the session-expired status, if it has no standard one."""
        try:
            HTTPStatus(self.config.session_expired_status)
        except ValueError:
            return SESSION_EXPIRED_PHRASE
        return None

    def error_reply(
        self, error: BaseException, request: RequestAdapter, out: Outgoing
    ) -> ErrorReply:
        """Turn one of the error family into a response: status, body, and cookie writes."""
        if isinstance(error, UnauthorisedError):
            self.clear(transfer_mode(request), out)
        else:
            out.reset()
            out.set_header("Cache-Control", "no-store")
        return reply_for(error, self.config.session_expired_status, self.expired_phrase)

    # --- flows ---

    def create_session(
        self,
        request: RequestAdapter,
        out: Outgoing,
        user_id: str,
        jwt_payload: JSON = None,
        session_data: JSON = None,
    ) -> ManagerFlow[SessionTokens]:
        """Log in: a new session, its tokens written to the response."""
        client, proof = client_context(request, self.config), proof_of_possession(request)
        tokens = yield from perform(
            CreateNewSession(user_id, jwt_payload, session_data, client, proof)
        )
        mode = transfer_mode(request)
        self._note_cookies_over_http(request, mode)
        self.write_tokens(mode, out, tokens)
        return tokens

    def csrf_check_wanted(self, request: RequestAdapter, anti_csrf: bool | None) -> bool:
        """On when the config says so and the route asks (default: every non-GET method)."""
        return self.config.anti_csrf and route_wants_anti_csrf(request, anti_csrf)

    def get_session(
        self,
        request: RequestAdapter,
        out: Outgoing,
        *,
        anti_csrf: bool | None = None,
        optional: bool = False,
        claims: Sequence[Claim] = (),
    ) -> ManagerFlow[VerifiedSession | None]:
        """Verify the request's session (docs/protocol.md#verifying-a-request); None only if
        optional."""
        mode = transfer_mode(request)
        try:
            access, csrf = read_credentials(request, mode)
        except UnauthorisedError:
            if optional:
                return None
            raise
        if mode is not TransferMode.COOKIE or not self.csrf_check_wanted(request, anti_csrf):
            csrf = None
        elif csrf is None:
            raise TryRefreshTokenError("no anti-csrf header", reason=ANTI_CSRF_MISSING)
        try:
            verified = yield from perform(GetSession(access, csrf))
        except UnauthorisedError:
            if not optional:
                raise
            self.clear(mode, out)
            return None
        # A verified session's responses are personal: no shared cache may keep them.
        out.set_header("Cache-Control", "no-store")
        if verified.new_access_token is not None:
            self._note_cookies_over_http(request, mode)
            self._set_access_token(mode, out, verified.new_access_token)
        if claims:
            validate_claims(verified.session, claims, (yield from perform(ReadClock())))
        return verified

    def refresh_session(self, request: RequestAdapter, out: Outgoing) -> ManagerFlow[SessionTokens]:
        """The refresh endpoint: rotate, or detect theft (the manager revokes the session and
        fires its hook; the client's tokens are cleared)."""
        mode = transfer_mode(request)
        if mode is TransferMode.HEADER:
            refresh = _bearer(request)
        else:
            refresh = request.get_cookie(REFRESH_TOKEN_COOKIE)
            if request.get_cookie(ID_REFRESH_TOKEN_COOKIE) is None:
                refresh = None
        if refresh is None:
            raise UnauthorisedError("no refresh token")
        client, proof = client_context(request, self.config), proof_of_possession(request)
        tokens = yield from perform(RefreshSession(refresh, client, proof))
        self._note_cookies_over_http(request, mode)
        self.write_tokens(mode, out, tokens)
        return tokens

    def revoke_session(
        self, request: RequestAdapter, out: Outgoing, session_handle: str
    ) -> ManagerFlow[bool]:
        """Log out: delete the row and clear the client's tokens."""
        revoked = yield from perform(RevokeSession(session_handle, RevokeReason.LOGOUT))
        self.clear(transfer_mode(request), out)
        return revoked

    def get_session_data(self, session_handle: str) -> ManagerFlow[JSON]:
        """The server-side data; UnauthorisedError (and so cleared cookies) when it is gone."""
        return (yield from perform(GetSessionData(session_handle)))

    def list_sessions(self, session: Session) -> ManagerFlow[list[SessionSummary]]:
        """The user's live sessions, most recently active first, the caller's marked current."""
        sessions = yield from perform(ListSessions(session.user_id))
        return [replace(s, current=s.handle == session.handle) for s in sessions]

    def revoke_own_session(
        self, request: RequestAdapter, out: Outgoing, session: Session, session_handle: str
    ) -> ManagerFlow[bool]:
        """Sign out one of the user's own sessions ("this device" clears the caller's tokens).
        A handle that is not one of the user's is refused (InvalidArgumentError), never revoked."""
        if session_handle == session.handle:
            return (yield from self.revoke_session(request, out, session.handle))
        mine = yield from perform(ListSessions(session.user_id))
        if session_handle not in {s.handle for s in mine}:
            raise InvalidArgumentError("no such session of this user")
        return (yield from perform(RevokeSession(session_handle, RevokeReason.LOGOUT)))

    def revoke_other_sessions(self, session: Session) -> ManagerFlow[int]:
        """Sign out all of the user's other devices; the caller's session stays."""
        return (yield from perform(RevokeOtherSessions(session.user_id, session.handle)))

    def update_session_data(self, session_handle: str, data: JSON) -> ManagerFlow[None]:
        """Replace the server-side data; UnauthorisedError when the session is gone."""
        yield from perform(UpdateSessionData(session_handle, data))

    def merge_into_jwt_payload(
        self,
        request: RequestAdapter,
        out: Outgoing,
        session: Session,
        changes: dict[str, JSON],
        *,
        every_session: bool,
    ) -> ManagerFlow[Session]:
        """Merge ``changes`` into the caller's jwt payload, answering with the re-signed access
        token; with ``every_session``, into the user's other sessions too (from their next
        refresh)."""
        if every_session:
            yield from perform(MergeIntoJwtPayloadForUser(session.user_id, changes, session.handle))
        handle = session.handle
        return (
            yield from self.change_jwt_payload(
                request, out, lambda token: MergeIntoJwtPayload(handle, changes, token)
            )
        )

    def change_jwt_payload(
        self, request: RequestAdapter, out: Outgoing, step: PayloadStep
    ) -> ManagerFlow[Session]:
        """Change the session's jwt payload (``step`` is given the caller's access token) and
        answer this very request with the access token re-signed to carry it."""
        mode = transfer_mode(request)
        token = self._access_token_in_hand(request, out, mode)
        changed = yield from perform(step(token))
        if changed.new_access_token is not None:
            self._set_access_token(mode, out, changed.new_access_token)
        return changed.session

    def _access_token_in_hand(
        self, request: RequestAdapter, out: Outgoing, mode: TransferMode
    ) -> str | None:
        """The access token the client will hold after this response: one this response already
        carries (a login or refresh in the same request), else the request's."""
        if mode is TransferMode.HEADER:
            written = out.headers.get(ACCESS_TOKEN_HEADER)
        else:
            cookie = out.cookies.get(ACCESS_TOKEN_COOKIE)
            written = cookie.value if cookie is not None else None
        if written:
            return None if written == REMOVE else written
        try:
            return read_credentials(request, mode)[0]
        except SessionError:
            return None

    def jwks(self, out: Outgoing) -> ManagerFlow[dict[str, list[dict[str, str]]]]:
        """``GET <jwks_path>``: the public keys other services verify access tokens with, cacheable
        until the next key is due to be published (empty with HS256: a secret is never served)."""
        published = yield from perform(GetJwks())
        out.set_header("Cache-Control", f"public, max-age={published.max_age}")
        return published.jwk_set
