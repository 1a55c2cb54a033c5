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

When the issuer is down or hangs, one fetch is in flight at a time and every caller that needed
it waits for that one and takes its outcome (see :class:`KeyCache`): a failed or timed-out fetch
sends them all on with the cached keys at once (or, with none cached yet, with that fetch's
error), and the next fetch waits for the cooldown. So no request waits longer than one fetch
``timeout``, and a hanging issuer sees one fetch per cooldown, not one per request.

What a remote verifier cannot see: revocations. A revoked session's access token verifies here
until it expires (at most ``access_token_validity`` + leeway), unlike in the issuing app with
``revocation_check="cached"``. Keep access tokens short for services that need more.

Needs ``pip install 'sessionward[client]'`` (httpx); the import is done when the first verifier
is made, so ``import sessionward`` never needs it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from sessionward._errors import (
    ANTI_CSRF_MISMATCH,
    ANTI_CSRF_MISSING,
    ConfigError,
    GeneralError,
    TryRefreshTokenError,
)
from sessionward._flows import Flow, Step, arun_flow, perform, run_flow
from sessionward._models import Session
from sessionward._protocol import csrf_matches
from sessionward._remote.cache import KeyCache
from sessionward._remote.fetching import LimitedBody, check_response, import_httpx, unreachable
from sessionward._remote.keyset import FetchedKeys
from sessionward._tokens.access import (
    InvalidAccessToken,
    UnknownSigningKey,
    read_header,
    verify_access_token,
)
from sessionward._tokens.keys import KeyRing

if TYPE_CHECKING:
    import httpx


class _FetchKeys(Step["RemoteVerifier", "AsyncRemoteVerifier", None]):
    """Have the key set fetched into the cache, unless a fetch finished since the caller saw
    ``attempts`` at ``seen`` (then that fetch's outcome is the caller's too)."""

    __slots__ = ("seen",)

    def __init__(self, seen: int) -> None:
        self.seen = seen

    def run(self, target: RemoteVerifier) -> None:
        target._fetch(self.seen)

    async def arun(self, target: AsyncRemoteVerifier) -> None:
        await target._fetch(self.seen)


VerifyFlow = Flow["RemoteVerifier", "AsyncRemoteVerifier", Session]


def _refresh_keys(cache: KeyCache, seen: int) -> Flow[RemoteVerifier, AsyncRemoteVerifier, KeyRing]:
    """The keys after one fetch (this caller's, or the one it waited for): new ones, the cached
    ones if it failed, or, with none cached, the fetch's :class:`GeneralError`."""
    yield from perform(_FetchKeys(seen))
    return cache.usable_ring()


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
    """The whole of verify: keys fresh enough, signature, claims, anti-CSRF.

    The fetch count is read before anything else of the cache (see :class:`KeyCache`): a fetch
    that finishes in between then either shows as fresh keys or moves the count, and either way
    this caller does not fetch again.
    """
    cache = verifier._cache
    seen = cache.attempts
    now = verifier._now_ms()
    if now >= cache.fresh_until_ms:  # stale, never fetched, or a failed fetch's cooldown over
        ring = yield from _refresh_keys(cache, seen)
    else:
        ring = cache.usable_ring()  # after a failed first fetch: its error, until the cooldown
    try:
        claims = verify_access_token(access_token, ring, now - verifier._leeway_ms)
    except UnknownSigningKey as unknown:
        seen = cache.attempts
        last = cache.last_fetch_ms
        cooled = last is None or now - last >= verifier._cooldown_ms
        if not (cooled and _worth_refetching(unknown.header_segment, ring)):
            raise TryRefreshTokenError("the access token is signed by an unknown key") from None
        ring = yield from _refresh_keys(cache, seen)
        try:
            claims = verify_access_token(access_token, ring, now - verifier._leeway_ms)
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


ClientT = TypeVar("ClientT")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


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
        # Bad settings are a ConfigError (a GeneralError) naming the setting, as Config's are.
        if not isinstance(jwks_url, str) or not jwks_url.startswith(("https://", "http://")):
            raise ConfigError(f"jwks_url must be an http(s) URL, not {jwks_url!r}")
        if type(leeway) is not int or not 0 <= leeway <= 300:
            raise ConfigError(f"leeway must be whole seconds from 0 to 300, not {leeway!r}")
        if not _is_number(refetch_cooldown) or not 0 <= refetch_cooldown <= 3600:
            raise ConfigError(
                f"refetch_cooldown must be 0 to 3600 seconds, not {refetch_cooldown!r}"
            )
        if not _is_number(timeout) or not 0 < timeout <= 600:
            raise ConfigError(
                f"timeout must be more than 0 and at most 600 seconds, not {timeout!r}"
            )
        if not callable(clock):
            raise ConfigError(f"clock must be a callable returning seconds, not {clock!r}")
        self.jwks_url = jwks_url
        self._leeway_ms = leeway * 1000
        self._cooldown_ms = int(refetch_cooldown * 1000)
        self._timeout = timeout
        self._clock = clock
        self._cache = KeyCache()
        self._own_client = client is None
        self._client: ClientT = client if client is not None else self._new_client(import_httpx())
        self._lock = self._new_lock()  # one fetch at a time; see KeyCache

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

    def _fetch(self, seen: int) -> None:
        """See :class:`_FetchKeys`; the outcome is recorded before the lock is released."""
        with self._lock:
            if self._cache.attempts == seen:
                started = self._now_ms()
                self._cache.record(started, self._download(), self._cooldown_ms)

    def _download(self) -> FetchedKeys | GeneralError:
        """The key set, or why it could not be had (returned: it is an outcome to record)."""
        http = import_httpx()
        body = LimitedBody(self.jwks_url, self._timeout)
        try:
            with self._client.stream("GET", self.jwks_url, timeout=self._timeout) as response:
                check_response(response, self.jwks_url)
                for chunk in response.iter_bytes():
                    body.add(chunk)
            return body.parse(response)
        except http.HTTPError as exc:
            return unreachable(self.jwks_url, exc)
        except GeneralError as exc:
            return exc

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

    async def _fetch(self, seen: int) -> None:
        """See :meth:`RemoteVerifier._fetch`."""
        async with self._lock:
            if self._cache.attempts == seen:
                started = self._now_ms()
                self._cache.record(started, await self._download(), self._cooldown_ms)

    async def _download(self) -> FetchedKeys | GeneralError:
        """See :meth:`RemoteVerifier._download`."""
        http = import_httpx()
        body = LimitedBody(self.jwks_url, self._timeout)
        try:
            async with self._client.stream("GET", self.jwks_url, timeout=self._timeout) as response:
                check_response(response, self.jwks_url)
                async for chunk in response.aiter_bytes():
                    body.add(chunk)
            return body.parse(response)
        except http.HTTPError as exc:
            return unreachable(self.jwks_url, exc)
        except GeneralError as exc:
            return exc

    async def aclose(self) -> None:
        """Close the HTTP client, if this verifier made it."""
        if self._own_client:
            await self._client.aclose()

    async def __aenter__(self) -> AsyncRemoteVerifier:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
