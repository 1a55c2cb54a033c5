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
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from sessionward._claims import Claim
from sessionward._errors import ConfigError, GeneralError
from sessionward._flows import arun_flow, run_flow
from sessionward._models import Session
from sessionward._remote.cache import KeyCache
from sessionward._remote.fetching import LimitedBody, check_response, import_httpx, unreachable
from sessionward._remote.flow import verify_flow
from sessionward._remote.keyset import FetchedKeys

if TYPE_CHECKING:
    import httpx


ClientT = TypeVar("ClientT")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class VerifierBase(Generic[ClientT]):
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

    async def aclose(self) -> None:
        """Close the HTTP client, if this verifier made it."""
        if self._own_client:
            await self._client.aclose()

    async def __aenter__(self) -> AsyncRemoteVerifier:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
