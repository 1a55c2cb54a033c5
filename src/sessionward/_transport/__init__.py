"""docs/protocol.md#on-the-wire once, for every web framework: which token travels where, and
what each outcome writes to the response.

An integration adapts its framework's request to :class:`RequestAdapter` and its response to
:class:`ResponseAdapter`; everything else is here, one concept a module:

- :mod:`.wire`: the cookie and header names, and what CORS must allow and expose;
- :mod:`.adapters`: what an integration provides (``RequestAdapter``, ``ResponseAdapter``);
- :mod:`.outgoing`: ``Cookie`` and ``Outgoing``, the writes a request owes its response;
- :mod:`.mode`: reading a request: its transfer mode (cookie or header), its tokens, its client;
- :mod:`.replies`: the status and body that answer an error;
- :mod:`.writing`: ``ResponseWriter``, the token set, the cleared session, an error's writes;
- :mod:`.endpoints`: ``Transport``, each request's flow (login, verify, refresh, logout, ...);
- :mod:`.script`: the browser client served at ``client_script_path``, cached by content hash.

The flows of ``Transport`` compose the operation flows of :mod:`sessionward._operations`
directly, so the same rules drive the sync manager (Flask, Django) and the async one
(Starlette, FastAPI), each driving a request's flow once, on its store, by the drivers of
:mod:`sessionward._flows`. What a flow decides to write is collected in an :class:`Outgoing`
owned by the request, and applied once to whatever response is finally sent, success or error.
"""

from __future__ import annotations

from sessionward._transport.adapters import RequestAdapter, ResponseAdapter, cgi_header
from sessionward._transport.endpoints import FeedReply, PayloadChange, Transport, Verification
from sessionward._transport.mode import (
    TransferMode,
    client_context,
    cookie_access_token,
    header_access_token,
    plain_http,
    presented,
    proof_of_possession,
    read_credentials,
    route_wants_anti_csrf,
    transfer_mode,
)
from sessionward._transport.outgoing import Cookie, Outgoing
from sessionward._transport.replies import (
    SESSION_EXPIRED_PHRASE,
    ErrorReply,
    expired_phrase,
    reply_for,
)
from sessionward._transport.script import ScriptReply, client_script_url, script_reply
from sessionward._transport.wire import (
    ACCESS_TOKEN_COOKIE,
    ACCESS_TOKEN_HEADER,
    ANTI_CSRF_HEADER,
    AUTH_MODE_HEADER,
    EXPOSE_HEADERS,
    FRONTEND_SDK_HEADERS,
    ID_REFRESH_TOKEN_COOKIE,
    ID_REFRESH_TOKEN_HEADER,
    MAX_HEADER_TOKEN_LENGTH,
    REFRESH_TOKEN_COOKIE,
    REFRESH_TOKEN_HEADER,
    REMOVE,
    SAFE_METHODS,
    cors_allowed_headers,
    cors_exposed_headers,
)
from sessionward._transport.writing import ResponseWriter

__all__ = [
    "ACCESS_TOKEN_COOKIE",
    "ACCESS_TOKEN_HEADER",
    "ANTI_CSRF_HEADER",
    "AUTH_MODE_HEADER",
    "EXPOSE_HEADERS",
    "FRONTEND_SDK_HEADERS",
    "ID_REFRESH_TOKEN_COOKIE",
    "ID_REFRESH_TOKEN_HEADER",
    "MAX_HEADER_TOKEN_LENGTH",
    "REFRESH_TOKEN_COOKIE",
    "REFRESH_TOKEN_HEADER",
    "REMOVE",
    "SAFE_METHODS",
    "SESSION_EXPIRED_PHRASE",
    "Cookie",
    "ErrorReply",
    "FeedReply",
    "Outgoing",
    "PayloadChange",
    "RequestAdapter",
    "ResponseAdapter",
    "ResponseWriter",
    "ScriptReply",
    "TransferMode",
    "Transport",
    "Verification",
    "cgi_header",
    "client_context",
    "client_script_url",
    "cookie_access_token",
    "cors_allowed_headers",
    "cors_exposed_headers",
    "expired_phrase",
    "header_access_token",
    "plain_http",
    "presented",
    "proof_of_possession",
    "read_credentials",
    "reply_for",
    "route_wants_anti_csrf",
    "script_reply",
    "transfer_mode",
]
