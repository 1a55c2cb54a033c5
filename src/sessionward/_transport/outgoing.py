"""What one request owes its response: the cookies (:class:`Cookie`, every attribute explicit)
and headers collected in an :class:`Outgoing`, applied once to whatever response is finally
sent, success or error."""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import formatdate

from sessionward._transport.adapters import ResponseAdapter
from sessionward._transport.wire import EXPOSE_HEADERS


@dataclass(frozen=True, slots=True)
class Cookie:
    """One ``Set-Cookie``: every attribute explicit, so every framework writes the same bytes."""

    name: str
    value: str
    expires_ms: int | None  # None: a session cookie, gone when the browser closes
    path: str
    domain: str | None
    secure: bool
    http_only: bool
    same_site: str

    @property
    def expires_http(self) -> str:
        """The ``Expires`` attribute (an HTTP date; the epoch for a cleared cookie)."""
        return formatdate((self.expires_ms or 0) // 1000, usegmt=True)

    @property
    def same_site_title(self) -> str:
        return self.same_site.capitalize()

    def header_value(self) -> str:
        """The full ``Set-Cookie`` header value."""
        parts = [f"{self.name}={self.value}"]
        if self.expires_ms is not None:
            parts.append(f"Expires={self.expires_http}")
        parts.append(f"Path={self.path}")
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


__all__ = ["Cookie", "Outgoing"]
