"""Verify access tokens in another service, knowing only the issuing app's JWKS URL.

A resource service (another process, another team, another language's peer) needs neither the
database nor a secret: :class:`RemoteVerifier` (sync) and :class:`AsyncRemoteVerifier` fetch the
issuer's JWK Set over HTTP, cache it for as long as its ``Cache-Control: max-age`` says, and
verify tokens with exactly the checks of the library's own verify: the algorithm comes from the
key, never from the token; a header naming its own key (``jwk``, ``jku``, ``x5u``) is refused;
expiry with the configured leeway; the anti-CSRF token compared in constant time.

Both classes drive one flow (:func:`_verify_flow`), as the managers do: the flow decides, and
yields a :class:`_FetchKeys` step when it needs the key set, which the sync or async driver
performs with its own httpx client. A token with an unknown ``kid`` refetches the set at most
once per ``refetch_cooldown``; an HS256 token never does (no JWK Set can verify it).

What a remote verifier cannot see: revocations. A revoked session's access token verifies here
until it expires (at most ``access_token_validity`` + leeway), unlike in the issuing app with
``revocation_check="cached"``. Keep access tokens short for services that need more.

Needs ``pip install 'sessionward[client]'`` (httpx); the import is done when the first verifier
is made, so ``import sessionward`` never needs it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from sessionward.errors import (
    ANTI_CSRF_MISMATCH,
    ANTI_CSRF_MISSING,
    GeneralError,
    TryRefreshTokenError,
)
from sessionward.flows import Flow, Step, arun_flow, perform, run_flow
from sessionward.models import Session
from sessionward.protocol import csrf_matches
from sessionward.tokens.access import (
    InvalidAccessToken,
    UnknownSigningKey,
    read_header,
    verify_access_token,
)
from sessionward.tokens.algorithms import KeyFormatError, public_key_from_jwk
from sessionward.tokens.keys import KeyRing, ring_of, verifying_key

if TYPE_CHECKING:
    import httpx

logger = logging.getLogger("sessionward.remote")

DEFAULT_MAX_AGE_S = 300  # when the JWKS response says nothing about caching
MAX_MAX_AGE_S = 3600  # a longer max-age is shortened to this: keys must not be trusted for days
MAX_JWKS_BYTES = 256 * 1024  # a larger response is refused before it is parsed
_MAX_AGE = re.compile(r"(?:^|[,\s])max-age\s*=\s*\"?(\d{1,10})\"?", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class FetchedKeys:
    """A parsed JWK Set: the keys that verify, and for how many seconds they may be cached."""

    ring: KeyRing
    max_age_s: int
    skipped: int  # JWKs ignored as unusable (unknown type, symmetric, malformed)


def cache_lifetime_s(cache_control: str | None) -> int:
    """Seconds a JWKS response may be cached: its ``max-age`` (1 s to one hour); the default
    when it gives none; 1 s for ``no-store``/``no-cache`` (re-read at most once a second)."""
    if not cache_control:
        return DEFAULT_MAX_AGE_S
    lowered = cache_control.lower()
    if "no-store" in lowered or "no-cache" in lowered:
        return 1
    match = _MAX_AGE.search(cache_control)
    if match is None:
        return DEFAULT_MAX_AGE_S
    return max(1, min(int(match.group(1)), MAX_MAX_AGE_S))


def parse_jwk_set(body: bytes, cache_control: str | None) -> FetchedKeys:
    """The verifying keys of a JWK Set response; :class:`GeneralError` if it is not one.

    Keys this library cannot use are skipped (a set may hold encryption keys, or keys for other
    consumers). A ``kid`` given twice is dropped entirely: which key it names would be a guess.
    """
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        raise GeneralError("the JWKS response is not JSON") from None
    if type(document) is not dict or type(document.get("keys")) is not list:
        raise GeneralError("the JWKS response is not a JWK Set (no 'keys' list)")
    found: dict[str, Any] = {}
    ambiguous: set[str] = set()
    skipped = 0
    for jwk in document["keys"]:
        try:
            kid, algorithm, public = public_key_from_jwk(jwk)
        except KeyFormatError:
            skipped += 1
            continue
        if kid in found:
            ambiguous.add(kid)
        found[kid] = verifying_key(kid, public, algorithm)
    for kid in ambiguous:
        del found[kid]
    skipped += len(ambiguous)
    return FetchedKeys(ring_of(found.values()), cache_lifetime_s(cache_control), skipped)


class _KeyCache:
    """What a verifier knows: the last key set, until when it is fresh, when it last fetched.

    ``generation`` counts successful fetches, so that callers who queued behind a fetch see that
    it happened and do not fetch again.
    """

    __slots__ = ("fresh_until_ms", "generation", "last_fetch_ms", "ring")

    def __init__(self) -> None:
        self.ring: KeyRing | None = None
        self.fresh_until_ms = 0
        self.last_fetch_ms: int | None = None
        self.generation = 0


class _FetchKeys(Step["RemoteVerifier", "AsyncRemoteVerifier", FetchedKeys | None]):
    """Fetch the key set, unless another caller did since ``generation`` (then None)."""

    __slots__ = ("generation",)

    def __init__(self, generation: int) -> None:
        self.generation = generation

    def run(self, target: RemoteVerifier) -> FetchedKeys | None:
        return target._fetch(self.generation)

    async def arun(self, target: AsyncRemoteVerifier) -> FetchedKeys | None:
        return await target._fetch(self.generation)


VerifyFlow = Flow["RemoteVerifier", "AsyncRemoteVerifier", Session]


def _refresh_keys(
    cache: _KeyCache, now_ms: int, cooldown_ms: int
) -> Flow[RemoteVerifier, AsyncRemoteVerifier, None]:
    """Fetch the key set into ``cache``. A failed fetch keeps stale keys in use (logged; retried
    after the cooldown); with no keys at all it raises :class:`GeneralError`."""
    cache.last_fetch_ms = now_ms
    try:
        fetched = yield from perform(_FetchKeys(cache.generation))
    except GeneralError as exc:
        if cache.ring is None:
            raise
        logger.warning("sessionward: JWKS fetch failed, keeping the cached keys: %s", exc)
        cache.fresh_until_ms = now_ms + cooldown_ms
        return
    if fetched is None:  # another caller fetched while this one waited
        return
    if fetched.skipped:
        logger.info(
            "sessionward: the JWK Set had %d key(s) this library cannot use", fetched.skipped
        )
    cache.ring = fetched.ring
    cache.fresh_until_ms = now_ms + fetched.max_age_s * 1000
    cache.generation += 1


def _worth_refetching(header_segment: str, ring: KeyRing) -> bool:
    """An unknown key is worth a refetch only if the header is one this library writes, for an
    asymmetric algorithm, with a ``kid`` the cached set does not already hold under another
    algorithm (that is a forgery, not a new key)."""
    fields = read_header(header_segment)
    if fields is None:
        return False
    algorithm, kid = fields
    if algorithm == "HS256" or type(kid) is not str or not kid:
        return False
    return ring.by_kid(kid) is None


def _verify_flow(
    verifier: _VerifierBase[Any],
    access_token: object,
    anti_csrf_token: str | None,
    require_anti_csrf: bool,
) -> VerifyFlow:
    """The whole of verify: keys fresh enough, signature, claims, anti-CSRF."""
    cache = verifier._cache
    now = verifier._now_ms()
    if cache.ring is None or now >= cache.fresh_until_ms:
        yield from _refresh_keys(cache, now, verifier._cooldown_ms)
    assert cache.ring is not None  # _refresh_keys raised otherwise
    try:
        claims = verify_access_token(access_token, cache.ring, now - verifier._leeway_ms)
    except UnknownSigningKey as unknown:
        last = cache.last_fetch_ms
        cooled = last is None or now - last >= verifier._cooldown_ms
        if not (cooled and _worth_refetching(unknown.header_segment, cache.ring)):
            raise TryRefreshTokenError("the access token is signed by an unknown key") from None
        yield from _refresh_keys(cache, now, verifier._cooldown_ms)
        try:
            claims = verify_access_token(access_token, cache.ring, now - verifier._leeway_ms)
        except InvalidAccessToken:
            raise TryRefreshTokenError("the access token is invalid or expired") from None
    except InvalidAccessToken:
        raise TryRefreshTokenError("the access token is invalid or expired") from None
    if claims.anti_csrf is not None:
        if anti_csrf_token is None and require_anti_csrf:
            raise TryRefreshTokenError("no anti-csrf header", reason=ANTI_CSRF_MISSING)
        if not csrf_matches(claims.anti_csrf, anti_csrf_token):
            raise TryRefreshTokenError(
                "the anti-CSRF token does not match", reason=ANTI_CSRF_MISMATCH
            )
    return Session(claims.handle, claims.user_id, claims.payload)


def _import_httpx() -> Any:
    try:
        import httpx
    except ImportError:
        raise GeneralError(
            "a remote verifier needs httpx: pip install 'sessionward[client]'"
        ) from None
    return httpx


def _check_response(response: httpx.Response, url: str) -> None:
    if response.status_code != 200:
        raise GeneralError(f"the JWKS at {url} answered HTTP {response.status_code}")
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_JWKS_BYTES:
        raise _too_large(url)


def _too_large(url: str) -> GeneralError:
    return GeneralError(f"the JWKS at {url} is larger than {MAX_JWKS_BYTES} bytes")


def _unreachable(url: str, exc: Exception) -> GeneralError:
    return GeneralError(f"the JWKS at {url} could not be fetched: {exc}")


class _LimitedBody:
    """A JWKS response body collected chunk by chunk, refused once it passes the size limit
    (a stream, so that a hostile issuer cannot make us hold more than the limit)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.data = bytearray()

    def add(self, chunk: bytes) -> None:
        self.data += chunk
        if len(self.data) > MAX_JWKS_BYTES:
            raise _too_large(self.url)

    def parse(self, response: httpx.Response) -> FetchedKeys:
        """The keys in the body, cached as long as ``response``'s Cache-Control says."""
        return parse_jwk_set(bytes(self.data), response.headers.get("cache-control"))


ClientT = TypeVar("ClientT")


class _VerifierBase(Generic[ClientT]):
    """Settings, HTTP client and key cache, shared by the sync and the async verifier.

    ``leeway``: seconds an expired token is still accepted (the issuer's default is 5).
    ``refetch_cooldown``: at most one refetch per this many seconds for an unknown ``kid``.
    ``timeout``: seconds for one fetch. ``client``: an httpx client to fetch with (else one is
    made, and closed with the verifier). ``clock``: seconds since the epoch, like ``time.time``.
    """

    def __init__(
        self,
        jwks_url: str,
        *,
        leeway: int = 5,
        refetch_cooldown: float = 10.0,
        timeout: float = 5.0,
        client: ClientT | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not isinstance(jwks_url, str) or not jwks_url.startswith(("https://", "http://")):
            raise GeneralError(f"jwks_url must be an http(s) URL, not {jwks_url!r}")
        if type(leeway) is not int or not 0 <= leeway <= 300:
            raise GeneralError(f"leeway must be whole seconds from 0 to 300, not {leeway!r}")
        if not 0 <= refetch_cooldown <= 3600:
            raise GeneralError(
                f"refetch_cooldown must be 0 to 3600 seconds, not {refetch_cooldown!r}"
            )
        self.jwks_url = jwks_url
        self._leeway_ms = leeway * 1000
        self._cooldown_ms = int(refetch_cooldown * 1000)
        self._timeout = timeout
        self._clock = clock
        self._cache = _KeyCache()
        self._own_client = client is None
        self._client: ClientT = client if client is not None else self._new_client(_import_httpx())
        self._lock = self._new_lock()  # one fetch at a time; see _FetchKeys

    def _new_lock(self) -> Any:
        raise NotImplementedError

    def _new_client(self, http: Any) -> ClientT:
        """A client of this verifier's kind, made with the ``httpx`` module ``http``."""
        raise NotImplementedError

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    @property
    def key_ids(self) -> list[str]:
        """The ``kid``s of the cached key set (empty before the first fetch)."""
        ring = self._cache.ring
        return [] if ring is None else [key.kid for key in ring.keys]


class RemoteVerifier(_VerifierBase["httpx.Client"]):
    """Verify access tokens in a sync service, with only the issuer's JWKS URL (the options are
    :class:`_VerifierBase`'s; use it as a context manager, or call :meth:`close`)."""

    _lock: threading.Lock

    def _new_lock(self) -> threading.Lock:
        return threading.Lock()

    def _new_client(self, http: Any) -> httpx.Client:
        return cast("httpx.Client", http.Client())

    def verify(
        self,
        access_token: object,
        anti_csrf_token: str | None = None,
        *,
        require_anti_csrf: bool = False,
    ) -> Session:
        """The session ``access_token`` belongs to; :class:`TryRefreshTokenError` if it is
        invalid, expired or its anti-CSRF token does not match, :class:`GeneralError` if the
        keys cannot be fetched. ``require_anti_csrf``: a token that carries an anti-CSRF token
        fails without one (cookie-mode requests that change state)."""
        return run_flow(_verify_flow(self, access_token, anti_csrf_token, require_anti_csrf), self)

    def _fetch(self, generation: int) -> FetchedKeys | None:
        with self._lock:
            if self._cache.generation != generation:
                return None
            http = _import_httpx()
            body = _LimitedBody(self.jwks_url)
            try:
                with self._client.stream("GET", self.jwks_url, timeout=self._timeout) as response:
                    _check_response(response, self.jwks_url)
                    for chunk in response.iter_bytes():
                        body.add(chunk)
            except http.HTTPError as exc:
                raise _unreachable(self.jwks_url, exc) from None
            return body.parse(response)

    def close(self) -> None:
        """Close the HTTP client, if this verifier made it."""
        if self._own_client:
            self._client.close()

    def __enter__(self) -> RemoteVerifier:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncRemoteVerifier(_VerifierBase["httpx.AsyncClient"]):
    """:class:`RemoteVerifier` for asyncio services; concurrent callers share one fetch."""

    _lock: asyncio.Lock

    def _new_lock(self) -> asyncio.Lock:
        return asyncio.Lock()

    def _new_client(self, http: Any) -> httpx.AsyncClient:
        return cast("httpx.AsyncClient", http.AsyncClient())

    async def verify(
        self,
        access_token: object,
        anti_csrf_token: str | None = None,
        *,
        require_anti_csrf: bool = False,
    ) -> Session:
        """See :meth:`RemoteVerifier.verify`."""
        flow = _verify_flow(self, access_token, anti_csrf_token, require_anti_csrf)
        return await arun_flow(flow, self)

    async def _fetch(self, generation: int) -> FetchedKeys | None:
        async with self._lock:
            if self._cache.generation != generation:
                return None
            http = _import_httpx()
            body = _LimitedBody(self.jwks_url)
            try:
                async with self._client.stream(
                    "GET", self.jwks_url, timeout=self._timeout
                ) as response:
                    _check_response(response, self.jwks_url)
                    async for chunk in response.aiter_bytes():
                        body.add(chunk)
            except http.HTTPError as exc:
                raise _unreachable(self.jwks_url, exc) from None
            return body.parse(response)

    async def aclose(self) -> None:
        """Close the HTTP client, if this verifier made it."""
        if self._own_client:
            await self._client.aclose()

    async def __aenter__(self) -> AsyncRemoteVerifier:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
