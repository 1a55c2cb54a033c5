"""What a framework integration provides: read access to its request, write access to its
response. Everything else of the wire is framework-neutral."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from sessionward._transport.outgoing import Cookie


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


_CGI_KEYS: dict[str, str] = {}  # header name -> its WSGI environ key, as they are first asked
_UNPREFIXED = frozenset({"CONTENT_TYPE", "CONTENT_LENGTH"})  # CGI keeps these two without HTTP_


def cgi_header(environ: Mapping[str, Any], name: str) -> str | None:
    """The header ``name`` (any case) of a WSGI environ or Django's ``META``: one dict lookup.

    The frameworks' own header views (Werkzeug's ``EnvironHeaders``, Django's ``HttpHeaders``)
    cost more: Django's builds a dict of every header on first use, which is most of what a
    protected view pays over an unprotected one. The server has already joined a repeated
    header's lines with "," (see :meth:`RequestAdapter.get_header`)."""
    key = _CGI_KEYS.get(name)
    if key is None:
        key = name.upper().replace("-", "_")
        key = _CGI_KEYS.setdefault(name, key if key in _UNPREFIXED else f"HTTP_{key}")
    value = environ.get(key)
    return value if isinstance(value, str) else None


__all__ = ["RequestAdapter", "ResponseAdapter", "cgi_header"]
