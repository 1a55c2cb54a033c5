"""What a remote verifier knows of the issuer's revocations: the last feed it took, when to read
the feed again, and how stale what it knows may become before it stops trusting it.

Its own module because this state is what the sync and the async verifier share, whatever
client fetches (as :mod:`~sessionward._remote.cache` is for the keys). The revocations
themselves live in a :class:`~sessionward._revocations.RevocationCache`, the issuer's own
structure, so a token is refused here exactly when the issuer refuses it, and entries are
forgotten when every token they concern has expired.

The rule (docs/microservices.md#revocations): the feed is read at most once per
``revocation_refresh_interval``, by the one request that finds the interval over; the others go
on with what is known and do not wait. Only before the first feed was ever taken do requests
wait for the fetch in flight (there is nothing to go on with), at most one fetch timeout. A feed
that fails to load, or to verify, is logged and changes nothing: the last state stays. Once
what is known is older than ``max_revocation_staleness`` (measured by the issuer's clock, by
the last feed's ``iat_ms``: a replayed feed never makes it look fresh), every verify fails
(``revocation_failure="closed"``, the default) or goes on with what is known, logged
(``"open"``).
"""

from __future__ import annotations

import logging
from typing import Literal

from sessionward._errors import GeneralError
from sessionward._models import DEFAULT_TENANT
from sessionward._remote.fetching import FeedCursorRefused, FeedKeyUnknown
from sessionward._revocations import RevocationCache
from sessionward._tokens.feed import Feed, FeedError, parse_cursor, user_id_hash

logger = logging.getLogger("sessionward.remote")

FailureMode = Literal["closed", "open"]
FAILURE_MODES: tuple[FailureMode, ...] = ("closed", "open")


class FeedState:
    """The revocations a verifier has taken from the feed, its cursor, and the fetch count that
    makes the first load single flight (see :class:`~sessionward._remote.cache.KeyCache`)."""

    __slots__ = (
        "attempts",
        "cursor",
        "failure",
        "fresh_until_ms",
        "hashed",
        "interval_ms",
        "issued_ms",
        "key_unknown",
        "max_staleness_ms",
        "next_read_ms",
        "revocations",
        "said_stale",
    )

    def __init__(self, interval_ms: int, max_staleness_ms: int) -> None:
        self.revocations = RevocationCache(interval_ms)
        self.interval_ms = interval_ms
        self.max_staleness_ms = max_staleness_ms
        # Plain numbers the verify path compares with the clock: when to read the feed next,
        # and until when what is known is fresh enough (-1: nothing known, stale at once).
        self.next_read_ms = 0
        self.fresh_until_ms = -1
        self.cursor: str | None = None  # the next read's since (None: a full read)
        self.issued_ms: int | None = None  # iat_ms of the last feed taken (None: none yet)
        self.failure: str | None = None
        self.attempts = 0
        self.hashed = False  # a feed with hashed user ids was taken: check that form too
        self.said_stale = False
        self.key_unknown = False  # the last feed named a kid the cached JWK Set lacks

    @property
    def loaded(self) -> bool:
        return self.issued_ms is not None

    def read_again(self) -> None:
        """Read the feed on the next verify (the keys to check it with have just changed)."""
        self.key_unknown = False
        self.next_read_ms = 0

    def due(self, now_ms: int) -> bool:
        return now_ms >= self.next_read_ms

    def staleness_ms(self, now_ms: int) -> int | None:
        """How old what is known is, by the last feed's time; None: no feed taken yet."""
        return None if self.issued_ms is None else now_ms - self.issued_ms

    def stale(self, now_ms: int) -> bool:
        """Whether what is known is beyond ``max_revocation_staleness`` (or nothing is)."""
        return now_ms > self.fresh_until_ms

    def record(self, url: str, outcome: Feed | GeneralError, now_ms: int) -> None:
        """Take in one fetch's outcome (the fetching caller, before others see ``attempts``
        move). A feed is taken only if it answers this verifier's cursor and is not older than
        the last one taken; anything else is a failure that leaves the state as it was."""
        if not isinstance(outcome, GeneralError):
            problem = self._refusal(outcome)
            if problem is None:
                self._take(outcome, now_ms)
                self.attempts += 1
                return
            outcome = GeneralError(f"the revocation feed at {url} was refused: {problem}")
        self.failure = str(outcome)
        self.key_unknown = isinstance(outcome, FeedKeyUnknown)
        if isinstance(outcome, FeedCursorRefused):
            self.cursor = None  # a full read next: it mends whatever made the cursor wrong
        self.next_read_ms = now_ms + self.interval_ms
        self.attempts += 1
        age = self.staleness_ms(now_ms)
        known = "nothing known yet" if age is None else f"what is known is {age / 1000:.1f} s old"
        logger.warning(
            "sessionward: revocation feed not taken (%s; %s, max_revocation_staleness %d s): %s",
            "keeping the last state" if self.loaded else "no state",
            known,
            self.max_staleness_ms // 1000,
            outcome,
        )

    def _refusal(self, feed: Feed) -> str | None:
        """Why ``feed`` must not be taken (a replay, an answer to another cursor), or None."""
        if feed.since != self.cursor:
            return "it answers another cursor than the one asked for (a replayed or mixed feed)"
        if self.issued_ms is not None and feed.issued_ms < self.issued_ms:
            return "it is older than the feed already taken (replayed)"
        try:
            following = parse_cursor(feed.next_cursor)
        except ValueError:
            return "its next cursor is not a cursor"
        if self.cursor is not None:
            current = parse_cursor(self.cursor)
            if following.instance == current.instance and following.position < current.position:
                return "its cursor goes backwards"
        return None

    def _take(self, feed: Feed, now_ms: int) -> None:
        self.revocations.learn(feed.revocations, now_ms)
        if feed.hashed and feed.revocations:
            self.hashed = True
        recovered = self.said_stale
        self.cursor = feed.next_cursor
        self.issued_ms = issued = max(feed.issued_ms, self.issued_ms or 0)
        self.fresh_until_ms = issued + self.max_staleness_ms
        self.failure = None
        self.key_unknown = False
        self.said_stale = False
        self.next_read_ms = now_ms + self.interval_ms
        if recovered:
            logger.warning("sessionward: the revocation feed is read again; revocations apply")

    def revoked(self, handle: str, user_id: str, created_at_ms: int | None, tenant_id: str) -> bool:
        """Whether the issuer refuses this session's tokens (as far as the feeds taken say)."""
        if self.revocations.revoked(handle, user_id, created_at_ms, tenant_id):
            return True
        return self.hashed and self.revoked_hashed(handle, user_id, created_at_ms, tenant_id)

    def revoked_hashed(
        self, handle: str, user_id: str, created_at_ms: int | None, tenant_id: str
    ) -> bool:
        """:meth:`revoked` for the entries of feeds with hashed user ids."""
        hashed = user_id_hash(tenant_id or DEFAULT_TENANT, user_id)
        return self.revocations.revoked(handle, hashed, created_at_ms, tenant_id)

    def note_stale(self, now_ms: int, closed: bool) -> None:
        """Log, once per stale spell, that the bound is passed and what happens now."""
        if self.said_stale:
            return
        self.said_stale = True
        age = self.staleness_ms(now_ms)
        since = "no feed was ever read" if age is None else f"the last feed is {age // 1000} s old"
        logger.error(
            "sessionward: revocations are stale (%s, beyond max_revocation_staleness %d s): %s",
            since,
            self.max_staleness_ms // 1000,
            "every token is refused until the feed is read again"
            if closed
            else "tokens are accepted without the newest revocations (revocation_failure='open')",
        )


__all__ = ["FAILURE_MODES", "FailureMode", "FeedError", "FeedState"]
