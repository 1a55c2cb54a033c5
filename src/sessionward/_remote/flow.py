"""The one verify of both remote verifiers, as a flow: fresh keys, signature, claims, anti-CSRF.

Its own module because this is where the sync and the async verifier cannot drift: both drive
:func:`verify_flow` (with :func:`~sessionward._flows.run_flow` or ``arun_flow``), which decides
everything and yields a :class:`FetchKeys` step when it needs the key set; only performing that
step differs, with the verifier's own httpx client. The rules of when to fetch live here: a
stale cache fetches once, an unknown ``kid`` refetches at most once per ``refetch_cooldown``,
and an HS256 token or a ``kid`` held under another algorithm never does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sessionward._claims import Claim, validate_claims
from sessionward._errors import (
    ANTI_CSRF_MISMATCH,
    ANTI_CSRF_MISSING,
    TryRefreshTokenError,
    UnauthorisedError,
)
from sessionward._flows import Flow, Step, perform
from sessionward._models import Session
from sessionward._protocol import csrf_matches
from sessionward._remote.cache import KeyCache
from sessionward._remote.revocations import FeedState
from sessionward._tokens.access import (
    AccessClaims,
    InvalidAccessToken,
    UnknownSigningKey,
    read_header,
    verify_access_token,
)
from sessionward._tokens.keys import KeyRing

if TYPE_CHECKING:
    from sessionward._remote.verifiers import AsyncRemoteVerifier, RemoteVerifier, VerifierBase


class FetchKeys(Step["RemoteVerifier", "AsyncRemoteVerifier", None]):
    """Have the key set fetched into the cache, unless a fetch finished since the caller saw
    ``attempts`` at ``seen`` (then that fetch's outcome is the caller's too)."""

    __slots__ = ("seen",)

    def __init__(self, seen: int) -> None:
        self.seen = seen

    def run(self, target: RemoteVerifier) -> None:
        target._fetch(self.seen)

    async def arun(self, target: AsyncRemoteVerifier) -> None:
        await target._fetch(self.seen)


class FetchFeed(Step["RemoteVerifier", "AsyncRemoteVerifier", None]):
    """Have the revocation feed read into the state, unless a read finished since the caller
    saw ``attempts`` at ``seen``. With ``wait`` (no feed taken yet: nothing to go on with) the
    caller waits for a read in flight; otherwise it goes on at once if one is."""

    __slots__ = ("seen", "url", "wait")

    def __init__(self, url: str, seen: int, wait: bool) -> None:
        self.url = url
        self.seen = seen
        self.wait = wait

    def run(self, target: RemoteVerifier) -> None:
        target._fetch_feed(self.url, self.seen, self.wait)

    async def arun(self, target: AsyncRemoteVerifier) -> None:
        await target._fetch_feed(self.url, self.seen, self.wait)


VerifyFlow = Flow["RemoteVerifier", "AsyncRemoteVerifier", Session]


def _refresh_keys(cache: KeyCache, seen: int) -> Flow[RemoteVerifier, AsyncRemoteVerifier, KeyRing]:
    """The keys after one fetch (this caller's, or the one it waited for): new ones, the cached
    ones if it failed, or, with none cached, the fetch's :class:`GeneralError`."""
    yield from perform(FetchKeys(seen))
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


def _stale(verifier: VerifierBase[Any], feed: FeedState, now: int) -> None:
    """What is known of the revocations is beyond ``max_revocation_staleness``: logged, and
    refused with ``revocation_failure="closed"``."""
    closed = verifier._fail_closed
    feed.note_stale(now, closed)
    if closed:
        raise UnauthorisedError("the issuer's revocations could not be read (stale feed)")


def _revoked(feed: FeedState, claims: AccessClaims) -> bool:
    """Whether the issuer refuses the token's session, its user or its tenant (by the feeds
    taken), as its own verify decides (RevocationCache.revoked)."""
    handle, user, created, tenant = (
        claims.handle,
        claims.user_id,
        claims.created_at_ms,
        claims.tenant_id,
    )
    if feed.revocations.revoked(handle, user, created, tenant):
        return True
    return feed.hashed and feed.revoked_hashed(handle, user, created, tenant)


def verify_flow(
    verifier: VerifierBase[Any],
    access_token: object,
    anti_csrf_token: str | None,
    require_anti_csrf: bool,
    checks: Sequence[Claim] = (),
) -> VerifyFlow:
    """The whole of verify: keys fresh enough, signature, claims, anti-CSRF, then the route's
    claim ``checks`` (:class:`ClaimValidationError` for the first that fails).

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
    feed_url = verifier._feed_url()
    if feed_url is not None:  # the issuer's revocations (docs/microservices.md#revocations)
        # Inline, not a flow of its own: it runs on every verify, and reads the feed (one
        # caller, once per interval) only when FeedState's next read is due.
        feed = verifier._feed
        if now >= feed.next_read_ms:
            yield from perform(FetchFeed(feed_url, feed.attempts, not feed.loaded))
            now = verifier._now_ms()
            if feed.key_unknown:  # signed by a key rotated in since: as for a token's kid
                last = cache.last_fetch_ms
                if last is None or now - last >= verifier._cooldown_ms:
                    yield from _refresh_keys(cache, cache.attempts)
                    feed.read_again()
        if now > feed.fresh_until_ms:
            _stale(verifier, feed, now)
        if _revoked(feed, claims):
            raise UnauthorisedError("the session was revoked")
    if claims.anti_csrf is not None:
        if anti_csrf_token is None and require_anti_csrf:
            raise TryRefreshTokenError("no anti-csrf header", reason=ANTI_CSRF_MISSING)
        if not csrf_matches(claims.anti_csrf, anti_csrf_token):
            raise TryRefreshTokenError(
                "the anti-CSRF token does not match", reason=ANTI_CSRF_MISMATCH
            )
    session = claims.session()
    validate_claims(session, checks, now)
    return session
