"""Reading a request: the way it carries tokens (:func:`transfer_mode`), the tokens it presents,
who sent it (address, User-Agent, DPoP proof), and whether it came over plain http.

Two ways of carrying tokens, chosen per request by the client:

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

from sessionward._clients import client_ip
from sessionward._config import Config
from sessionward._errors import SessionError, TryRefreshTokenError, UnauthorisedError
from sessionward._models import ClientContext
from sessionward._proof import PROOF_HEADER, ProofOfPossession
from sessionward._transport.adapters import RequestAdapter
from sessionward._transport.outgoing import Outgoing
from sessionward._transport.wire import (
    ACCESS_TOKEN_COOKIE,
    ACCESS_TOKEN_HEADER,
    ANTI_CSRF_HEADER,
    AUTH_MODE_HEADER,
    ID_REFRESH_TOKEN_COOKIE,
    MAX_HEADER_TOKEN_LENGTH,
    REMOVE,
    SAFE_METHODS,
)


class TransferMode(enum.Enum):
    COOKIE = "cookie"
    HEADER = "header"


def bearer(request: RequestAdapter) -> str | None:
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


def presented(request: RequestAdapter) -> tuple[TransferMode, str | None]:
    """The way ``request`` carries tokens, and its Bearer token (None in cookie mode): each
    header read once. ``header`` if the client asks (``st-auth-mode: header``) or sends a Bearer
    token."""
    asked = request.get_header(AUTH_MODE_HEADER)
    if asked:
        asked = asked.strip().lower()
        if asked == "cookie":
            return TransferMode.COOKIE, None
    token = bearer(request)
    if asked == "header" or token is not None:
        return TransferMode.HEADER, token
    return TransferMode.COOKIE, None


def transfer_mode(request: RequestAdapter) -> TransferMode:
    """``header`` if the client asks (``st-auth-mode: header``) or sends a Bearer token."""
    return presented(request)[0]


def header_access_token(token: str | None) -> str:
    """The access token of a header-mode request, given its Bearer token:
    :class:`UnauthorisedError` when there is none."""
    if token is None:
        raise UnauthorisedError("no access token in the Authorization header")
    return token


def cookie_access_token(request: RequestAdapter) -> str:
    """The access token of a cookie-mode request: :class:`UnauthorisedError` when the request
    carries no session at all (no ``sIdRefreshToken``), :class:`TryRefreshTokenError` when it has
    one but no access token (it expired as a cookie)."""
    if request.get_cookie(ID_REFRESH_TOKEN_COOKIE) is None:
        raise UnauthorisedError("no sIdRefreshToken cookie")
    access = request.get_cookie(ACCESS_TOKEN_COOKIE)
    if access is None:
        raise TryRefreshTokenError("no sAccessToken cookie")
    return access


def read_credentials(request: RequestAdapter, mode: TransferMode) -> tuple[str, str | None]:
    """The access token a request presents, and its anti-CSRF header (None if absent; header
    mode never needs one). :class:`UnauthorisedError` when the request carries no session at all,
    :class:`TryRefreshTokenError` when it has one but no access token (it expired as a cookie)."""
    if mode is TransferMode.HEADER:
        return header_access_token(bearer(request)), None
    return cookie_access_token(request), request.get_header(ANTI_CSRF_HEADER)


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


def access_token_in_hand(request: RequestAdapter, out: Outgoing, mode: TransferMode) -> str | None:
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


__all__ = [
    "TransferMode",
    "access_token_in_hand",
    "bearer",
    "client_context",
    "cookie_access_token",
    "header_access_token",
    "plain_http",
    "presented",
    "proof_of_possession",
    "read_credentials",
    "route_wants_anti_csrf",
    "transfer_mode",
]
