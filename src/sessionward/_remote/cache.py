"""What a remote verifier knows of the issuer's keys, and the rule that makes its fetch single
flight with a cooldown.

Its own module because this state is what the sync and the async verifier share, whatever
client fetches: the last key set and until when it is fresh, the last fetch's start and
failure, and the count of finished fetches that lets every caller waiting on one fetch take its
outcome. Failed fetches are logged here, once per fetch, on the ``sessionward.remote`` logger.
"""

from __future__ import annotations

import logging

from sessionward._errors import GeneralError
from sessionward._remote.keyset import FetchedKeys
from sessionward._tokens.keys import KeyRing

logger = logging.getLogger("sessionward.remote")  # the name users configure logging by


class KeyCache:
    """What a verifier knows: the last key set, until when it is fresh, its last fetch's start
    and, if that fetch failed, why.

    ``attempts`` counts finished fetches, failed ones included. A caller that finds the cache
    stale notes the count before it queues for the fetch lock; if the count has moved once it
    holds the lock, a fetch finished while it waited and its outcome answers this caller too
    (single flight). Counting failures matters: if only successes counted, every caller queued
    behind a hanging issuer would make its own fetch in turn, each waiting a whole timeout.
    """

    __slots__ = ("attempts", "failure", "feed_path", "fresh_until_ms", "last_fetch_ms", "ring")

    def __init__(self) -> None:
        self.ring: KeyRing | None = None
        self.fresh_until_ms = 0
        self.last_fetch_ms: int | None = None
        self.failure: str | None = None
        self.attempts = 0
        self.feed_path: str | None = None  # the revocation feed the last set named

    def record(
        self, started_ms: int, outcome: FetchedKeys | GeneralError, cooldown_ms: int
    ) -> None:
        """Take in the outcome of a fetch that started at ``started_ms``.

        Called by the fetching caller while it still holds the fetch lock, so that a waiter
        which sees ``attempts`` move also sees the outcome. A failure keeps the cached keys (or
        none) for one cooldown: until then every caller gets them (or the failure) at once, and
        the issuer is asked again only after it. Logged here, once per fetch, not per waiter.
        """
        self.last_fetch_ms = started_ms
        if isinstance(outcome, GeneralError):
            self.failure = str(outcome)
            self.fresh_until_ms = started_ms + cooldown_ms
            kept = "keeping the cached keys" if self.ring is not None else "no keys to verify with"
            logger.warning(
                "sessionward: JWKS fetch failed, %s; next try in %d ms: %s",
                kept,
                cooldown_ms,
                outcome,
            )
        else:
            if outcome.skipped:
                logger.info(
                    "sessionward: the JWK Set had %d key(s) this library cannot use",
                    outcome.skipped,
                )
            self.failure = None
            self.ring = outcome.ring
            self.feed_path = outcome.feed_path
            self.fresh_until_ms = started_ms + outcome.max_age_s * 1000
        self.attempts += 1

    def usable_ring(self) -> KeyRing:
        """The keys to verify with; with none, the last fetch's failure, as a new
        :class:`GeneralError` for each caller (one exception object raised in many threads
        would share, and grow, one traceback)."""
        if self.ring is None:
            raise GeneralError(self.failure or "the JWKS has not been fetched")
        return self.ring
