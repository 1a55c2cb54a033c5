"""A Starlette request as the transport's :class:`~sessionward._transport.RequestAdapter`.

Its own module because both Starlette modules read requests through it: the issuing app's
(:mod:`sessionward.integrations.starlette`) and the resource service's
(:mod:`sessionward.integrations._starlette_remote`), which the first re-exports.
"""

from __future__ import annotations

from starlette.requests import Request

_HEADER_KEYS: dict[str, bytes] = {}  # header name -> its ASGI key, as they are first asked


class _RequestAdapter:
    """A Starlette request as :class:`~sessionward._transport.RequestAdapter`."""

    __slots__ = ("_request",)

    def __init__(self, request: Request) -> None:
        self._request = request

    @property
    def method(self) -> str:
        return self._request.method

    @property
    def url(self) -> str:
        return str(self._request.url)

    @property
    def scheme(self) -> str:
        return str(self._request.scope.get("scheme", "http"))

    @property
    def peer_address(self) -> str | None:
        client = self._request.client
        return client.host if client else None

    def get_cookie(self, name: str) -> str | None:
        return self._request.cookies.get(name)

    def get_header(self, name: str) -> str | None:
        # A verify asks two headers (the transfer mode's), three on an unsafe method: one scan
        # of the raw headers each, comparing bytes, is cheaper than decoding every header into
        # a dict first. ASGI keys are lowercase, as Starlette's own ``Headers`` relies on.
        # A repeated header's lines are joined with "," in order, as WSGI servers and Django do
        # (Starlette's ``headers.get`` keeps only the first): a proxy that adds its own
        # X-Forwarded-For line after a client's must be read from the right, not lose to it.
        wanted = _HEADER_KEYS.get(name)
        if wanted is None:
            wanted = _HEADER_KEYS.setdefault(name, name.lower().encode("latin-1"))
        found: str | None = None
        for key, value in self._request.scope["headers"]:
            if key == wanted:
                text = value.decode("latin-1")
                found = text if found is None else f"{found},{text}"
        return found
