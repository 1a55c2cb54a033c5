"""What a framework integration provides: read access to its request, write access to its
response. Everything else of the wire is framework-neutral."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

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


__all__ = ["RequestAdapter", "ResponseAdapter"]
