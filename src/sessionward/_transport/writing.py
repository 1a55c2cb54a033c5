"""Writing a response: the token set after a login or refresh, the cleared session, the answer
to an error (docs/protocol.md#cookie-mode and #header-mode), all into an
:class:`~sessionward._transport.outgoing.Outgoing`."""

from __future__ import annotations

import json
import logging

from sessionward._config import Config
from sessionward._encoding import b64url, from_b64url
from sessionward._errors import UnauthorisedError
from sessionward._models import SessionTokens, Token
from sessionward._transport.adapters import RequestAdapter
from sessionward._transport.mode import TransferMode, plain_http, transfer_mode
from sessionward._transport.outgoing import Cookie, Outgoing
from sessionward._transport.replies import ErrorReply, expired_phrase, reply_for
from sessionward._transport.wire import (
    ACCESS_TOKEN_COOKIE,
    ACCESS_TOKEN_HEADER,
    ANTI_CSRF_HEADER,
    FRONT_TOKEN_HEADER,
    ID_REFRESH_TOKEN_COOKIE,
    ID_REFRESH_TOKEN_HEADER,
    PROTOCOL_HEADER,
    PROTOCOL_VERSION,
    REFRESH_TOKEN_COOKIE,
    REFRESH_TOKEN_HEADER,
    REMOVE,
)

logger = logging.getLogger("sessionward")


def front_token(access_token: str) -> str | None:
    """The readable claims of an access token we just signed, for the browser client (whose
    access-token cookie is HttpOnly): base64url JSON ``{uid, ate (expiry in ms), up (the
    jwt payload), tId}``. None for a value that is not a JWT."""
    try:
        claims = json.loads(from_b64url(access_token.split(".")[1]))
    except (IndexError, ValueError):
        return None
    if not isinstance(claims, dict) or not isinstance(claims.get("exp"), int):
        return None
    front = {"uid": claims.get("sub"), "ate": claims["exp"] * 1000, "up": claims.get("pld")}
    front["tId"] = claims.get("tId")
    return b64url(json.dumps(front, separators=(",", ":")).encode())


class ResponseWriter:
    """What a response carries for one :class:`~sessionward.Config`: the token set, the cleared
    session, an error's answer; and the one warning about ``Secure`` cookies over plain http."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._warned_plain_http = False

    def note_cookies_over_http(self, request: RequestAdapter, mode: TransferMode) -> None:
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

    def cookie(
        self,
        name: str,
        token: Token | None,
        path: str,
        *,
        http_only: bool,
        persistent: bool = True,
    ) -> Cookie:
        """The cookie that carries ``token`` (None: the cleared cookie, expired at the epoch);
        not ``persistent``: a session cookie, with no expiry, that the browser drops when it
        closes (the server ends the session after its idle limit anyway)."""
        c = self.config
        expires: int | None = 0
        if token is not None:
            expires = token.expires if persistent else None
        return Cookie(
            name=name,
            value=token.value if token else "",
            expires_ms=expires,
            path=path,
            domain=c.cookie_domain,
            secure=c.cookie_secure,
            http_only=http_only,
            same_site=c.cookie_same_site,
        )

    def set_access_token(
        self, mode: TransferMode, out: Outgoing, token: Token, persistent: bool = True
    ) -> None:
        if mode is TransferMode.HEADER:
            out.set_header(ACCESS_TOKEN_HEADER, token.value, expose=True)
        else:
            path = self.config.access_token_path
            out.cookies[ACCESS_TOKEN_COOKIE] = self.cookie(
                ACCESS_TOKEN_COOKIE, token, path, http_only=True, persistent=persistent
            )
        front = front_token(token.value)
        if front is not None:
            out.set_header(FRONT_TOKEN_HEADER, front, expose=True)
        out.set_header(PROTOCOL_HEADER, str(PROTOCOL_VERSION), expose=True)
        out.set_header("Cache-Control", "no-store")

    def write_tokens(self, mode: TransferMode, out: Outgoing, tokens: SessionTokens) -> None:
        """A full token set (after create or refresh), as docs/protocol.md#cookie-mode says."""
        out.reset()
        persistent = tokens.persistent
        self.set_access_token(mode, out, tokens.access_token, persistent)
        if mode is TransferMode.HEADER:
            out.set_header(REFRESH_TOKEN_HEADER, tokens.refresh_token.value, expose=True)
            return
        c = self.config
        out.cookies[REFRESH_TOKEN_COOKIE] = self.cookie(
            REFRESH_TOKEN_COOKIE,
            tokens.refresh_token,
            c.refresh_path,
            http_only=True,
            persistent=persistent,
        )
        idr = tokens.id_refresh_token
        out.cookies[ID_REFRESH_TOKEN_COOKIE] = self.cookie(
            ID_REFRESH_TOKEN_COOKIE,
            idr,
            c.access_token_path,
            http_only=False,
            persistent=persistent,
        )
        out.set_header(ID_REFRESH_TOKEN_HEADER, f"{idr.value};{idr.expires}", expose=True)
        if tokens.anti_csrf_token is not None:
            out.set_header(ANTI_CSRF_HEADER, tokens.anti_csrf_token, expose=True)

    def clear(self, mode: TransferMode, out: Outgoing) -> None:
        """End the session on the client: cookies emptied and expired, ``remove`` headers."""
        out.reset()
        out.set_header("Cache-Control", "no-store")
        out.set_header(FRONT_TOKEN_HEADER, REMOVE, expose=True)
        out.set_header(PROTOCOL_HEADER, str(PROTOCOL_VERSION), expose=True)
        c = self.config
        if mode is TransferMode.HEADER:
            out.set_header(ACCESS_TOKEN_HEADER, REMOVE, expose=True)
            out.set_header(REFRESH_TOKEN_HEADER, REMOVE, expose=True)
            return
        out.cookies[ACCESS_TOKEN_COOKIE] = self.cookie(
            ACCESS_TOKEN_COOKIE, None, c.access_token_path, http_only=True
        )
        out.cookies[REFRESH_TOKEN_COOKIE] = self.cookie(
            REFRESH_TOKEN_COOKIE, None, c.refresh_path, http_only=True
        )
        out.cookies[ID_REFRESH_TOKEN_COOKIE] = self.cookie(
            ID_REFRESH_TOKEN_COOKIE, None, c.access_token_path, http_only=False
        )
        out.set_header(ID_REFRESH_TOKEN_HEADER, REMOVE, expose=True)

    @property
    def expired_phrase(self) -> str | None:
        """The reason phrase for the session-expired status, if it has no standard one."""
        return expired_phrase(self.config.session_expired_status)

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


__all__ = ["ResponseWriter"]
