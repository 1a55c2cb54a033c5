"""One JWKS or revocation-feed download over httpx, bounded: the parts the sync and async
downloads share.

Its own module because what makes a download safe against a hostile or broken issuer is the
same for both clients and needs no cache: the status and declared length are checked before the
body is read, the body is collected as a stream up to :data:`MAX_JWKS_BYTES` and within the
fetch ``timeout`` in all (:class:`LimitedBody`), and every failure becomes a
:class:`GeneralError` that names the URL. httpx itself is imported only when a verifier is made.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from sessionward._errors import GeneralError
from sessionward._remote.keyset import FetchedKeys, parse_jwk_set
from sessionward._tokens.feed import Feed, FeedError, UnknownFeedKey, verify_feed
from sessionward._tokens.keys import KeyRing

if TYPE_CHECKING:
    import httpx

MAX_JWKS_BYTES = 256 * 1024  # a larger response is refused before it is parsed
# A full read of the revocation feed of a busy hour (100,000 logouts) is about 13 MB.
MAX_FEED_BYTES = 32 * 1024 * 1024
FEED = "revocation feed"


class FeedKeyUnknown(GeneralError):
    """The feed is signed by a key the cached JWK Set does not hold: worth a refetch of the
    keys (a rotation), within the refetch cooldown."""


def import_httpx() -> Any:
    try:
        import httpx
    except ImportError:
        raise GeneralError(
            "a remote verifier needs httpx: pip install 'sessionward[client]'"
        ) from None
    return httpx


class FeedCursorRefused(GeneralError):
    """The feed answered 400 to the cursor sent: read it whole next time."""


def check_response(
    response: httpx.Response, url: str, what: str = "JWKS", limit: int = MAX_JWKS_BYTES
) -> None:
    if response.status_code == 400 and what == FEED:
        raise FeedCursorRefused(f"the {what} at {url} refused the cursor sent (HTTP 400)")
    if response.status_code != 200:
        raise GeneralError(f"the {what} at {url} answered HTTP {response.status_code}")
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(url, what, limit)


def _too_large(url: str, what: str, limit: int) -> GeneralError:
    return GeneralError(f"the {what} at {url} is larger than {limit} bytes")


def unreachable(url: str, exc: Exception, what: str = "JWKS") -> GeneralError:
    # httpx's timeouts often carry no message: name the exception then ("ReadTimeout").
    return GeneralError(
        f"the {what} at {url} could not be fetched: {str(exc) or type(exc).__name__}"
    )


class LimitedBody:
    """A JWKS response body collected chunk by chunk, refused once it passes the size limit
    (a stream, so that a hostile issuer cannot make us hold more than the limit) or once the
    fetch has taken longer than ``timeout`` in all: httpx's timeout bounds each network wait,
    and an issuer trickling its body could otherwise hold the fetch, and its waiters, for long.
    Checked as chunks arrive, so a fetch ends within ``timeout`` plus one network wait (httpx
    has no overall timeout; headers trickled byte by byte are not caught).
    """

    def __init__(
        self, url: str, timeout: float, what: str = "JWKS", limit: int = MAX_JWKS_BYTES
    ) -> None:
        self.url = url
        self.data = bytearray()
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        self.what = what
        self.limit = limit

    def add(self, chunk: bytes) -> None:
        self.data += chunk
        if len(self.data) > self.limit:
            raise _too_large(self.url, self.what, self.limit)
        if time.monotonic() > self.deadline:
            raise GeneralError(f"the {self.what} at {self.url} took longer than {self.timeout} s")

    def parse(self, response: httpx.Response) -> FetchedKeys:
        """The keys in the body, cached as long as ``response``'s Cache-Control says."""
        return parse_jwk_set(bytes(self.data), response.headers.get("cache-control"))

    def feed(self, ring: KeyRing) -> Feed | GeneralError:
        """The revocation feed in the body, verified with ``ring``, or why it is not one."""
        try:
            return verify_feed(self.data.decode("ascii"), ring)
        except UnicodeDecodeError:
            return GeneralError(f"the {FEED} at {self.url} is not a compact JWS")
        except UnknownFeedKey as exc:
            return FeedKeyUnknown(f"the {FEED} at {self.url} was refused: {exc}")
        except FeedError as exc:
            return GeneralError(f"the {FEED} at {self.url} was refused: {exc}")
