"""The JWK Set a remote verifier fetches, read: which keys verify, and for how long.

Its own module because reading the set is pure (bytes and a ``Cache-Control`` header in, a key
ring and a lifetime out), with rules of its own: keys this library cannot use are skipped, a
``kid`` given twice is dropped, and the lifetime is bounded. Neither HTTP nor the cache is
needed to test it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from sessionward._errors import GeneralError
from sessionward._tokens.algorithms import KeyFormatError, public_key_from_jwk
from sessionward._tokens.keys import KeyRing, ring_of, verifying_key
from sessionward._transport.wire import REVOCATION_FEED_MEMBER

DEFAULT_MAX_AGE_S = 300  # when the JWKS response says nothing about caching
MAX_MAX_AGE_S = 3600  # a longer max-age is shortened to this: keys must not be trusted for days
_MAX_AGE = re.compile(r"(?:^|[,\s])max-age\s*=\s*\"?(\d{1,10})\"?", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class FetchedKeys:
    """A parsed JWK Set: the keys that verify, and for how many seconds they may be cached."""

    ring: KeyRing
    max_age_s: int
    skipped: int  # JWKs ignored as unusable (unknown type, symmetric, malformed)
    # The revocation feed the set names (its "revocation_feed" member, a URL relative to the
    # JWKS URL), or None: the issuer serves none.
    feed_path: str | None = None


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
    feed_path = document.get(REVOCATION_FEED_MEMBER)
    if type(feed_path) is not str or not 0 < len(feed_path) <= 2048:
        feed_path = None
    lifetime = cache_lifetime_s(cache_control)
    return FetchedKeys(ring_of(found.values()), lifetime, skipped, feed_path)
