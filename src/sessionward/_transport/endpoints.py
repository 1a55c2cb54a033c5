"""What each session request of docs/protocol.md#on-the-wire does, as flows: log in, verify,
refresh, log out, the user's own sessions, the jwt payload, the JWKS and the revocation feed.

Each flow composes the operation flows of :mod:`sessionward._operations` directly
(``yield from``) and is driven once, on the store, by the manager (its ``_drive``), which calls
the hooks when the whole flow has ended. Every flow therefore takes the manager's
:class:`~sessionward._operations.context.Context` and the list its events go to first, as the
operations do. The one exception is the verify path: :meth:`Transport.get_session` answers the
common case with no I/O and no flow, and hands over a flow only when it needs one.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sessionward import _telemetry as telemetry
from sessionward._claims import Claim, validate_claims
from sessionward._errors import (
    ANTI_CSRF_MISSING,
    ClaimValidationError,
    InvalidArgumentError,
    TryRefreshTokenError,
    UnauthorisedError,
)
from sessionward._events import RevokeReason
from sessionward._models import (
    DEFAULT_TENANT,
    JSON,
    Session,
    SessionSummary,
    SessionTokens,
    VerifiedSession,
)
from sessionward._operations import listing, login, promotion, revocation, rotation
from sessionward._operations import payload as payloads
from sessionward._operations.context import Context, Emissions, Operation
from sessionward._storage.execution import StoreFlow
from sessionward._tokens.feed import MAX_CURSOR_LENGTH, CursorError, parse_cursor
from sessionward._transport.adapters import RequestAdapter
from sessionward._transport.mode import (
    TransferMode,
    access_token_in_hand,
    bearer,
    client_context,
    cookie_access_token,
    header_access_token,
    presented,
    proof_of_possession,
    route_wants_anti_csrf,
    transfer_mode,
)
from sessionward._transport.outgoing import Outgoing
from sessionward._transport.wire import (
    ANTI_CSRF_HEADER,
    ID_REFRESH_TOKEN_COOKIE,
    REFRESH_TOKEN_COOKIE,
    REVOCATION_FEED_MEMBER,
)
from sessionward._transport.writing import ResponseWriter

# A payload change: an operation given its arguments, then the access token to re-sign.
PayloadChange = Callable[..., StoreFlow[VerifiedSession]]


class Verification:
    """A request's verification: its ``answer`` when it needed no I/O, else ``rest``, the
    operation that finds it, for the manager to drive. (A plain class: one is made per protected
    request, and a frozen dataclass's ``__init__`` costs twice as much.)"""

    __slots__ = ("answer", "rest")

    def __init__(
        self,
        answer: VerifiedSession | None,
        rest: Operation[[], VerifiedSession | None] | None = None,
    ) -> None:
        self.answer = answer
        self.rest = rest


# A feed response may be kept this long by any cache (a CDN in front of the issuer): well
# within the 2 s a verifier polls at, so that what it reads is at most a second older.
FEED_MAX_AGE_S = 1
FEED_CONTENT_TYPE = "application/jwt"


@dataclass(frozen=True, slots=True)
class FeedReply:
    """The answer of the revocation feed's path: its status, body and content type (its
    headers are in the request's :class:`Outgoing`)."""

    status: int
    body: str
    content_type: str = FEED_CONTENT_TYPE


def _json_reply(status: int, message: str) -> FeedReply:
    return FeedReply(status, json.dumps({"message": message}), "application/json")


class Transport(ResponseWriter):
    """The rules of docs/protocol.md#on-the-wire for one :class:`~sessionward.Config`."""

    def create_session(
        self,
        context: Context,
        emissions: Emissions,
        request: RequestAdapter,
        out: Outgoing,
        user_id: str,
        jwt_payload: JSON = None,
        session_data: JSON = None,
        tenant_id: str = DEFAULT_TENANT,
        persistent: bool = True,
    ) -> StoreFlow[SessionTokens]:
        """Log in: a new session, its tokens written to the response (as session cookies,
        gone when the browser closes, if not ``persistent``)."""
        client, proof = client_context(request, self.config), proof_of_possession(request)
        tokens = yield from login.create_new_session(
            context,
            emissions,
            user_id,
            jwt_payload,
            session_data,
            client,
            proof,
            tenant_id,
            persistent,
        )
        mode = transfer_mode(request)
        self.note_cookies_over_http(request, mode)
        self.write_tokens(mode, out, tokens)
        return tokens

    def create_impersonation_session(
        self,
        context: Context,
        emissions: Emissions,
        request: RequestAdapter,
        out: Outgoing,
        actor_id: str,
        user_id: str,
        jwt_payload: JSON = None,
        session_data: JSON = None,
        tenant_id: str = DEFAULT_TENANT,
        ttl: int = 3600,
    ) -> StoreFlow[SessionTokens]:
        """Start acting as ``user_id`` (see ``SessionManager.create_impersonation_session``):
        its tokens written to the response, which then belongs to the impersonation."""
        client = client_context(request, self.config)
        tokens = yield from login.create_impersonation_session(
            context, emissions, actor_id, user_id, jwt_payload, session_data, client, tenant_id, ttl
        )
        mode = transfer_mode(request)
        self.note_cookies_over_http(request, mode)
        self.write_tokens(mode, out, tokens)
        return tokens

    def csrf_check_wanted(self, request: RequestAdapter, anti_csrf: bool | None) -> bool:
        """On when the config says so and the route asks (default: every non-GET method)."""
        return self.config.anti_csrf and route_wants_anti_csrf(request, anti_csrf)

    def get_session(
        self,
        context: Context,
        request: RequestAdapter,
        out: Outgoing,
        *,
        anti_csrf: bool | None = None,
        optional: bool = False,
        claims: Sequence[Claim] = (),
    ) -> Verification:
        """Verify the request's session (docs/protocol.md#verifying-a-request); None only if
        optional. The common case is answered here, before any flow starts, as the managers'
        ``get_session`` does."""
        # Each header is read once, and the anti-CSRF header only where a check wants it.
        mode, token = presented(request)
        cookies = mode is TransferMode.COOKIE
        try:
            access = cookie_access_token(request) if cookies else header_access_token(token)
        except UnauthorisedError:
            if optional:
                return Verification(None)
            raise
        csrf = None
        if cookies and self.csrf_check_wanted(request, anti_csrf):
            csrf = request.get_header(ANTI_CSRF_HEADER)
            if csrf is None:
                telemetry.verify_failed(ANTI_CSRF_MISSING)
                raise TryRefreshTokenError("no anti-csrf header", reason=ANTI_CSRF_MISSING)
        try:
            quick = promotion.quick_get_session(context, access, csrf)
        except UnauthorisedError:
            if not optional:
                raise
            self.clear(mode, out)
            return Verification(None)
        if quick is not None:
            return Verification(self._verified(context, request, out, mode, quick, claims))

        def rest(context: Context, emissions: Emissions) -> StoreFlow[VerifiedSession | None]:
            try:
                verified = yield from promotion.get_session(context, emissions, access, csrf)
            except UnauthorisedError:
                if not optional:
                    raise
                self.clear(mode, out)
                return None
            return self._verified(context, request, out, mode, verified, claims)

        return Verification(None, rest)

    def _verified(
        self,
        context: Context,
        request: RequestAdapter,
        out: Outgoing,
        mode: TransferMode,
        verified: VerifiedSession,
        claims: Sequence[Claim],
    ) -> VerifiedSession:
        """What a verified session writes, and the route's claim checks (by the clock)."""
        # A verified session's responses are personal: no shared cache may keep them.
        out.set_header("Cache-Control", "no-store")
        if verified.new_access_token is not None:
            self.note_cookies_over_http(request, mode)
            persistent = verified.session.persistent
            self.set_access_token(mode, out, verified.new_access_token, persistent)
        if claims:
            try:
                validate_claims(verified.session, claims, context.now_ms())
            except ClaimValidationError:
                telemetry.verify_failed("claim_failed")
                raise
        return verified

    def refresh_session(
        self, context: Context, emissions: Emissions, request: RequestAdapter, out: Outgoing
    ) -> StoreFlow[SessionTokens]:
        """The refresh endpoint: rotate, or detect theft (the operation revokes the session and
        the manager fires its hook; the client's tokens are cleared)."""
        mode = transfer_mode(request)
        if mode is TransferMode.HEADER:
            refresh = bearer(request)
        else:
            refresh = request.get_cookie(REFRESH_TOKEN_COOKIE)
            if request.get_cookie(ID_REFRESH_TOKEN_COOKIE) is None:
                refresh = None
        if refresh is None:
            raise UnauthorisedError("no refresh token")
        client, proof = client_context(request, self.config), proof_of_possession(request)
        tokens = yield from rotation.refresh_session(context, emissions, refresh, client, proof)
        self.note_cookies_over_http(request, mode)
        self.write_tokens(mode, out, tokens)
        return tokens

    def revoke_session(
        self,
        context: Context,
        emissions: Emissions,
        request: RequestAdapter,
        out: Outgoing,
        session_handle: str,
    ) -> StoreFlow[bool]:
        """Log out: delete the row and clear the client's tokens."""
        revoked = yield from revocation.revoke_session(
            context, emissions, session_handle, RevokeReason.LOGOUT
        )
        self.clear(transfer_mode(request), out)
        return revoked

    def get_session_data(
        self, context: Context, emissions: Emissions, session_handle: str
    ) -> StoreFlow[JSON]:
        """The server-side data; UnauthorisedError (and so cleared cookies) when it is gone."""
        return (yield from listing.get_session_data(context, emissions, session_handle))

    def list_sessions(
        self, context: Context, emissions: Emissions, session: Session
    ) -> StoreFlow[list[SessionSummary]]:
        """The user's live sessions, most recently active first, the caller's marked current."""
        sessions = yield from listing.list_sessions_for_user(
            context, emissions, session.user_id, session.tenant_id
        )
        return [replace(s, current=s.handle == session.handle) for s in sessions]

    def revoke_own_session(
        self,
        context: Context,
        emissions: Emissions,
        request: RequestAdapter,
        out: Outgoing,
        caller: Session,
        session_handle: str,
    ) -> StoreFlow[bool]:
        """Sign out one of the ``caller``'s own sessions ("this device" clears its tokens).
        A handle that is not one of the user's is refused (InvalidArgumentError), never revoked."""
        if session_handle == caller.handle:
            return (yield from self.revoke_session(context, emissions, request, out, caller.handle))
        mine = yield from listing.list_sessions_for_user(
            context, emissions, caller.user_id, caller.tenant_id
        )
        if session_handle not in {s.handle for s in mine}:
            raise InvalidArgumentError("no such session of this user")
        return (
            yield from revocation.revoke_session(
                context, emissions, session_handle, RevokeReason.LOGOUT
            )
        )

    def revoke_other_sessions(
        self, context: Context, emissions: Emissions, session: Session
    ) -> StoreFlow[int]:
        """Sign out all of the user's other devices; the caller's session stays."""
        return (
            yield from revocation.revoke_other_sessions(
                context,
                emissions,
                session.user_id,
                session.handle,
                RevokeReason.LOGOUT,
                session.tenant_id,
            )
        )

    def update_session_data(
        self, context: Context, emissions: Emissions, session_handle: str, data: JSON
    ) -> StoreFlow[None]:
        """Replace the server-side data; UnauthorisedError when the session is gone."""
        yield from listing.update_session_data(context, emissions, session_handle, data)

    def merge_into_jwt_payload(
        self,
        context: Context,
        emissions: Emissions,
        request: RequestAdapter,
        out: Outgoing,
        session: Session,
        changes: dict[str, JSON],
        *,
        every_session: bool,
    ) -> StoreFlow[Session]:
        """Merge ``changes`` into the caller's jwt payload, answering with the re-signed access
        token; with ``every_session``, into the user's other sessions too (from their next
        refresh)."""
        if every_session:
            yield from payloads.merge_into_jwt_payload_for_user(
                context, emissions, session.user_id, changes, session.handle, session.tenant_id
            )
        merge = payloads.merge_into_jwt_payload
        return (
            yield from self.change_jwt_payload(
                context, emissions, request, out, merge, session.handle, changes
            )
        )

    def change_jwt_payload(
        self,
        context: Context,
        emissions: Emissions,
        request: RequestAdapter,
        out: Outgoing,
        change: PayloadChange,
        *args: Any,
    ) -> StoreFlow[Session]:
        """Change the session's jwt payload and answer this very request with the access token
        re-signed to carry it: ``change`` is a flow of :mod:`sessionward._operations.payload`
        (``update_jwt_payload``, ``mark_fresh``), given ``args`` and the caller's access token."""
        mode = transfer_mode(request)
        token = access_token_in_hand(request, out, mode)
        changed = yield from change(context, emissions, *args, token)
        if changed.new_access_token is not None:
            persistent = changed.session.persistent
            self.set_access_token(mode, out, changed.new_access_token, persistent)
        return changed.session

    def jwks(
        self, context: Context, emissions: Emissions, out: Outgoing
    ) -> StoreFlow[dict[str, Any]]:
        """``GET <jwks_path>``: the public keys other services verify access tokens with, cacheable
        until the next key is due to be published (empty with HS256: a secret is never served).
        With the revocation feed on, the set names its path (``revocation_feed``, a member a JWK
        Set may carry, RFC 7517 §5), so a remote verifier given only this URL finds it."""
        published = yield from listing.published_keys(context, emissions)
        out.set_header("Cache-Control", f"public, max-age={published.max_age}")
        jwk_set: dict[str, Any] = dict(published.jwk_set)
        if self.config.revocation_feed_path is not None:
            jwk_set[REVOCATION_FEED_MEMBER] = self.config.revocation_feed_path
        return jwk_set

    def revocation_feed(
        self, context: Context, emissions: Emissions, request: RequestAdapter, out: Outgoing
    ) -> StoreFlow[FeedReply]:
        """``GET <revocation_feed_path>[?since=<cursor>]``: the signed revocation feed, all that
        still matters or only what is new since the cursor (docs/microservices.md#revocations).
        Behind ``revocation_feed_token`` a request without that bearer secret gets 401; a
        ``since`` that is not a cursor of the feed gets 400; both as JSON."""
        token = self.config.revocation_feed_token
        if token is None:
            out.set_header("Cache-Control", f"public, max-age={FEED_MAX_AGE_S}")
        else:
            # A shared cache must not hand a private feed to others.
            out.set_header("Cache-Control", f"private, max-age={FEED_MAX_AGE_S}")
            out.set_header("Vary", "Authorization")
            presented = bearer(request)
            if presented is None or not hmac.compare_digest(presented.encode(), token.encode()):
                out.set_header("Cache-Control", "no-store")
                out.set_header("WWW-Authenticate", 'Bearer realm="revocation feed"')
                return _json_reply(401, "the revocation feed needs its bearer token")
        parts = urlsplit(request.url)
        values = parse_qs(parts.query, keep_blank_values=True).get("since")
        since = None
        if values is not None:
            if len(values) != 1 or len(values[0]) > MAX_CURSOR_LENGTH:
                return _json_reply(400, "since must be given once, as one of the feed's cursors")
            try:
                since = parse_cursor(values[0])
            except CursorError as exc:
                return _json_reply(400, str(exc))
        # What the feed names as its issuer (iss, informative: verifiers trust the signature).
        issuer = f"{request.scheme}://{request.get_header('host') or parts.netloc}"
        try:
            document = yield from revocation.revocation_feed(context, emissions, since, issuer)
        except InvalidArgumentError as exc:
            return _json_reply(400, str(exc))
        return FeedReply(200, document)


__all__ = ["FeedReply", "PayloadChange", "Transport", "Verification"]
