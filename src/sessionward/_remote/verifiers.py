"""RemoteVerifier and AsyncRemoteVerifier: the settings, the HTTP client, and the driving of
the shared verify flow, sync or async.

Its own module because these two classes are all that differs between a sync and an async
resource service: each makes its own lock and httpx client, drives :func:`verify_flow` with its
own driver, and performs the flow's :class:`FetchKeys` step by one locked, bounded download.
Everything they decide is in the flow (flow.py), the cache (cache.py) and the set (keyset.py).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, cast
from urllib.parse import quote, urljoin, urlsplit

from sessionward._claims import Claim
from sessionward._errors import ConfigError, GeneralError
from sessionward._flows import arun_flow, run_flow
from sessionward._models import Session
from sessionward._remote.cache import KeyCache
from sessionward._remote.fetching import (
    FEED,
    MAX_FEED_BYTES,
    LimitedBody,
    check_response,
    import_httpx,
    unreachable,
)
from sessionward._remote.flow import verify_flow
from sessionward._remote.keyset import FetchedKeys
from sessionward._remote.revocations import FAILURE_MODES, FailureMode, FeedState
from sessionward._tokens.feed import Feed

if TYPE_CHECKING:
    import httpx


ClientT = TypeVar("ClientT")


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class VerifierBase(Generic[ClientT]):
    """Settings, HTTP client and key cache, shared by the sync and the async verifier.

    ``leeway``: seconds an expired token is still accepted (the issuer's default is 5).
    ``refetch_cooldown``: at most one refetch per this many seconds for an unknown ``kid``.
    ``timeout``: seconds for one fetch. ``client``: an httpx client to fetch with (else one is
    made, and closed with the verifier). ``clock``: seconds since the epoch, like ``time.time``.

    The issuer's revocations (docs/microservices.md#revocations): ``revocation_feed_url`` None
    (the default) reads the feed the JWK Set names, if it names one; a URL reads that feed;
    False reads none. ``revocation_feed_token``: the bearer secret the feed asks for, if any.
    ``revocation_refresh_interval``: seconds between reads (2, as the issuer's own).
    ``max_revocation_staleness``: seconds the last feed read stays good enough when reads fail
    (60); beyond, ``revocation_failure="closed"`` (the default) refuses every token
    (:class:`UnauthorisedError`) and ``"open"`` accepts them on what is known, logged.
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
        revocation_feed_url: str | Literal[False] | None = None,
        revocation_feed_token: str | None = None,
        revocation_refresh_interval: float = 2.0,
        max_revocation_staleness: float = 60.0,
        revocation_failure: FailureMode = "closed",
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
        if revocation_feed_url not in (None, False) and (
            not isinstance(revocation_feed_url, str)
            or not revocation_feed_url.startswith(("https://", "http://"))
        ):
            raise ConfigError(
                "revocation_feed_url must be an http(s) URL, None (the one the JWK Set names) "
                f"or False (none), not {revocation_feed_url!r}"
            )
        if revocation_feed_token is not None and (
            not isinstance(revocation_feed_token, str) or not revocation_feed_token.isprintable()
        ):
            raise ConfigError("revocation_feed_token must be printable text or None")
        interval = revocation_refresh_interval
        if not _is_number(interval) or not 0.05 <= interval <= 60:
            raise ConfigError(
                f"revocation_refresh_interval must be 0.05 to 60 seconds, not {interval!r}"
            )
        staleness = max_revocation_staleness
        if not _is_number(staleness) or not interval <= staleness <= 86400:
            raise ConfigError(
                "max_revocation_staleness must be from revocation_refresh_interval to 86400 "
                f"seconds, not {staleness!r}"
            )
        if revocation_failure not in FAILURE_MODES:
            raise ConfigError(
                f"revocation_failure must be 'closed' or 'open', not {revocation_failure!r}"
            )
        self.jwks_url = jwks_url
        self._leeway_ms = leeway * 1000
        self._cooldown_ms = int(refetch_cooldown * 1000)
        self._timeout = timeout
        self._clock = clock
        self._cache = KeyCache()
        self._feed_setting = revocation_feed_url
        self._feed_headers: dict[str, str] = {}  # never logged: the bearer secret
        if revocation_feed_token is not None:
            self._feed_headers["authorization"] = f"Bearer {revocation_feed_token}"
        self._feed = FeedState(int(interval * 1000), int(staleness * 1000))
        self._fail_closed = revocation_failure == "closed"
        self._discovered: tuple[str, str | None] | None = None  # (path named, its URL)
        self.max_feed_bytes = MAX_FEED_BYTES
        self._own_client = client is None
        self._client: ClientT = client if client is not None else self._new_client(import_httpx())
        self._lock = self._new_lock()  # one fetch at a time; see KeyCache
        self._feed_lock = self._new_lock()  # one feed read at a time; see FeedState

    def _new_lock(self) -> Any:
        raise NotImplementedError

    def _new_client(self, http: Any) -> ClientT:
        """A client of this verifier's kind, made with the ``httpx`` module ``http``."""
        raise NotImplementedError

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _feed_url(self) -> str | None:
        """The revocation feed to read: the one given, or the one the JWK Set names (resolved
        against the JWKS URL, http(s) only), or None."""
        setting = self._feed_setting
        if setting is not None:
            return setting or None
        path = self._cache.feed_path
        if path is None:
            return None
        discovered = self._discovered
        if discovered is None or discovered[0] != path:
            url: str | None = urljoin(self.jwks_url, path)
            if not url or not url.startswith(("https://", "http://")):
                url = None
            self._discovered = discovered = (path, url)
        return discovered[1]

    def _feed_request_headers(self, url: str) -> dict[str, str]:
        """The bearer secret, sent to the feed URL given, or to a discovered one only on the
        JWKS URL's own origin: a JWK Set never sends the secret elsewhere."""
        if self._feed_setting is None and _origin(url) != _origin(self.jwks_url):
            return {}
        return self._feed_headers

    def _feed_request_url(self, url: str) -> str:
        cursor = self._feed.cursor
        if cursor is None:
            return url
        return f"{url}{'&' if '?' in url else '?'}since={quote(cursor, safe='')}"

    @property
    def revocations_known(self) -> int:
        """How many revocations (sessions, users, tenants) the feeds taken so far hold."""
        return len(self._feed.revocations)

    @property
    def revocation_staleness(self) -> float | None:
        """Seconds since the last feed taken was made (None: none was taken yet)."""
        age = self._feed.staleness_ms(self._now_ms())
        return None if age is None else age / 1000

    @property
    def key_ids(self) -> list[str]:
        """The ``kid``s of the cached key set (empty before the first fetch)."""
        ring = self._cache.ring
        return [] if ring is None else [key.kid for key in ring.keys]


class RemoteVerifier(VerifierBase["httpx.Client"]):
    """Verify access tokens in a sync service, with only the issuer's JWKS URL (the options are
    :class:`VerifierBase`'s; use it as a context manager, or call :meth:`close`)."""

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
        claims: Sequence[Claim] = (),
    ) -> Session:
        """The session ``access_token`` belongs to. ``require_anti_csrf``: a token that
        carries an anti-CSRF token fails without one (cookie-mode requests that change state).
        ``claims``: checks the session must pass (``in_tenant("acme")``, ...).

        Raises:
            TryRefreshTokenError: the token is invalid or expired, or its anti-CSRF token does
                not match.
            ClaimValidationError: a check of ``claims`` failed (answered 403).
            GeneralError: the keys cannot be fetched.
        """
        flow = verify_flow(self, access_token, anti_csrf_token, require_anti_csrf, claims)
        return run_flow(flow, self)

    def _fetch(self, seen: int) -> None:
        """See :class:`FetchKeys`; the outcome is recorded before the lock is released."""
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

    def _fetch_feed(self, url: str, seen: int, wait: bool) -> None:
        """See :class:`FetchFeed`; the outcome is recorded before the lock is released."""
        lock = self._feed_lock
        if not (lock.acquire(timeout=self._timeout) if wait else lock.acquire(blocking=False)):
            return
        try:
            if self._feed.attempts == seen:
                outcome = self._download_feed(url)
                self._feed.record(url, outcome, self._now_ms())
        finally:
            lock.release()

    def _download_feed(self, url: str) -> Feed | GeneralError:
        """The feed, verified with the cached keys, or why it could not be had."""
        http = import_httpx()
        body = LimitedBody(url, self._timeout, FEED, self.max_feed_bytes)
        target = self._feed_request_url(url)
        try:
            with self._client.stream(
                "GET", target, headers=self._feed_request_headers(url), timeout=self._timeout
            ) as response:
                check_response(response, url, FEED, self.max_feed_bytes)
                for chunk in response.iter_bytes():
                    body.add(chunk)
        except http.HTTPError as exc:
            return unreachable(url, exc, FEED)
        except GeneralError as exc:
            return exc
        ring = self._cache.ring
        if ring is None:
            return GeneralError("the revocation feed cannot be checked: no keys yet")
        return body.feed(ring)

    def close(self) -> None:
        """Close the HTTP client, if this verifier made it."""
        if self._own_client:
            self._client.close()

    def __enter__(self) -> RemoteVerifier:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncRemoteVerifier(VerifierBase["httpx.AsyncClient"]):
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
        claims: Sequence[Claim] = (),
    ) -> Session:
        """The session ``access_token`` belongs to: as :meth:`RemoteVerifier.verify`.

        Raises:
            TryRefreshTokenError: the token is invalid or expired, or its anti-CSRF token does
                not match.
            ClaimValidationError: a check of ``claims`` failed (answered 403).
            GeneralError: the keys cannot be fetched.
        """
        flow = verify_flow(self, access_token, anti_csrf_token, require_anti_csrf, claims)
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

    async def _fetch_feed(self, url: str, seen: int, wait: bool) -> None:
        """See :meth:`RemoteVerifier._fetch_feed`."""
        lock = self._feed_lock
        if wait:
            try:
                await asyncio.wait_for(lock.acquire(), self._timeout)
            except asyncio.TimeoutError:
                return
        elif lock.locked():
            return
        else:
            await lock.acquire()  # free, and nothing ran in between: at once
        try:
            if self._feed.attempts == seen:
                outcome = await self._download_feed(url)
                self._feed.record(url, outcome, self._now_ms())
        finally:
            lock.release()

    async def _download_feed(self, url: str) -> Feed | GeneralError:
        """See :meth:`RemoteVerifier._download_feed`."""
        http = import_httpx()
        body = LimitedBody(url, self._timeout, FEED, self.max_feed_bytes)
        target = self._feed_request_url(url)
        try:
            async with self._client.stream(
                "GET", target, headers=self._feed_request_headers(url), timeout=self._timeout
            ) as response:
                check_response(response, url, FEED, self.max_feed_bytes)
                async for chunk in response.aiter_bytes():
                    body.add(chunk)
        except http.HTTPError as exc:
            return unreachable(url, exc, FEED)
        except GeneralError as exc:
            return exc
        ring = self._cache.ring
        if ring is None:
            return GeneralError("the revocation feed cannot be checked: no keys yet")
        return body.feed(ring)

    async def aclose(self) -> None:
        """Close the HTTP client, if this verifier made it."""
        if self._own_client:
            await self._client.aclose()

    async def __aenter__(self) -> AsyncRemoteVerifier:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
