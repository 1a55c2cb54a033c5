"""Signing-key ring (PROTOCOL §5 and its "beyond"): which key signs and which keys verify.

Each dynamic key is a row named after the moment it starts signing
(``access_token_signing_key:<unix seconds>``); that number is also its JWT ``kid``. A key signs
from its start until the next key's start, and keeps verifying until every token it could have
signed has expired, so a rotation invalidates nothing and costs no refreshes.

Scheduled rotation names the successor ``start + interval``, a name every process computes
alike, so concurrent rotations insert the same primary key and exactly one insert wins; the
successor is published during the last tenth of the interval, before it starts signing, so other
processes usually know it before the first token signed with it arrives.

Everything here is pure: the managers do the reading and inserting.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field

from sessionward.encoding import b64url

ACCESS_KEY_NAME = "access_token_signing_key"  # the original's row; our static key
REFRESH_KEY_NAME = "refresh_token_key"
DYNAMIC_PREFIX = ACCESS_KEY_NAME + ":"
_PUBLISH_AHEAD_DIVISOR = 10  # publish the successor during the last tenth of an interval
_FOREVER_MS = 2**62


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One HMAC-SHA256 key: its id (the JWT ``kid``), secret, and when it signs."""

    kid: str
    secret: bytes = field(repr=False)
    signs_from_ms: int
    signs_until_ms: int  # exclusive: the successor's start
    header_segment: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class KeyRing:
    """An immutable snapshot of the known keys; replaced whole whenever keys are (re)loaded."""

    keys: tuple[SigningKey, ...] = ()
    by_header: dict[str, SigningKey] = field(default_factory=dict, repr=False)

    def signing_key(self, now_ms: int) -> SigningKey | None:
        """The key that signs at ``now_ms``, or None when none does."""
        for key in reversed(self.keys):
            if key.signs_from_ms <= now_ms < key.signs_until_ms:
                return key
        return None


def new_key_secret() -> str:
    """A fresh key as text: 48 random bytes, base64url (384 bits). The HMAC key is this text."""
    return secrets.token_urlsafe(48)


def header_segment(kid: str) -> str:
    """The exact base64url JWT header this library writes for ``kid``."""
    raw = json.dumps({"alg": "HS256", "kid": kid, "typ": "JWT"}, separators=(",", ":"))
    return b64url(raw.encode())


def dynamic_key_name(start_ms: int) -> str:
    return f"{DYNAMIC_PREFIX}{start_ms // 1000}"


def _dynamic_start_ms(name: str) -> int | None:
    if not name.startswith(DYNAMIC_PREFIX):
        return None
    digits = name[len(DYNAMIC_PREFIX) :]
    return int(digits) * 1000 if digits.isdigit() and len(digits) <= 12 else None


def _dynamic_keys(rows: Iterable[tuple[str, str]]) -> list[tuple[int, str]]:
    keys = []
    for name, value in rows:
        start = _dynamic_start_ms(name)
        if start is not None:
            keys.append((start, value))
    keys.sort()
    return keys


def build_dynamic_ring(
    rows: Iterable[tuple[str, str]], *, now_ms: int, verify_window_ms: int
) -> KeyRing:
    """Ring of the dynamic keys among ``(key_name, key_value)`` rows that may sign or verify.

    ``verify_window_ms`` is how long a token can outlive its signing: the access-token validity
    plus any clock leeway.
    """
    found = _dynamic_keys(rows)
    keys = []
    for i, (start, value) in enumerate(found):
        until = found[i + 1][0] if i + 1 < len(found) else _FOREVER_MS
        if until + verify_window_ms <= now_ms:
            continue  # every token it signed has expired
        kid = str(start // 1000)
        keys.append(SigningKey(kid, value.encode(), start, until, header_segment(kid)))
    return KeyRing(tuple(keys), {k.header_segment: k for k in keys})


def build_static_ring(secret: str, kid: str, previous: KeyRing | None = None) -> KeyRing:
    """Ring of one key that always signs (dynamic keys off, or a user-supplied key getter).

    With ``previous`` (a getter that returned a new key), the old keys stay for verification.
    """
    key = SigningKey(kid, secret.encode(), 0, _FOREVER_MS, header_segment(kid))
    old = [k for k in (previous.keys if previous else ()) if k.kid != kid][-2:]
    keys = (*old, key)
    return KeyRing(keys, {k.header_segment: k for k in keys})


def getter_kid(secret: str) -> str:
    """A stable, non-secret id for a key returned by a user-supplied getter."""
    return "g" + hashlib.sha256(secret.encode()).hexdigest()[:16]


def key_to_create(rows: Iterable[tuple[str, str]], *, now_ms: int, interval_ms: int) -> str | None:
    """Name of the dynamic key that should exist now but does not, or None.

    No key signs now (first start, or the last key's interval has run out): one starting now,
    aligned to the interval so that concurrent creators pick the same name. Near the end of the
    current key's interval: its successor, named ``start + interval``.
    """
    found = _dynamic_keys(rows)
    current = [start for start, _ in found if start <= now_ms]
    if not current or current[-1] + interval_ms <= now_ms:
        return dynamic_key_name(now_ms - now_ms % interval_ms)
    start = current[-1]
    successor = start + interval_ms
    publish_from = successor - interval_ms // _PUBLISH_AHEAD_DIVISOR
    if now_ms >= publish_from and not any(s > start for s, _ in found):
        return dynamic_key_name(successor)
    return None


def next_key_check_ms(rows: list[tuple[str, str]], *, now_ms: int, interval_ms: int) -> int:
    """When the key table must next be looked at: a successor is due to be published or to sign."""
    found = [start for start, _ in _dynamic_keys(rows)]
    current = [start for start in found if start <= now_ms]
    if not current:
        return now_ms
    successors = [start for start in found if start > current[-1]]
    if successors:
        return successors[0]
    publish_from = current[-1] + interval_ms - interval_ms // _PUBLISH_AHEAD_DIVISOR
    return publish_from if now_ms < publish_from else current[-1] + interval_ms


def expired_key_names(
    rows: list[tuple[str, str]], *, now_ms: int, verify_window_ms: int
) -> list[str]:
    """Dynamic key rows that can neither sign nor verify any more: safe to delete."""
    ring = build_dynamic_ring(rows, now_ms=now_ms, verify_window_ms=verify_window_ms)
    alive = {dynamic_key_name(k.signs_from_ms) for k in ring.keys}
    return [name for name, _ in rows if _dynamic_start_ms(name) is not None and name not in alive]


def plausible_dynamic_kid(kid: object, *, now_ms: int, interval_ms: int, window_ms: int) -> bool:
    """Whether an unknown ``kid`` could name one of our keys, so that a reload is worth a query."""
    if type(kid) is not str or not kid.isdigit() or len(kid) > 12:
        return False
    start_ms = int(kid) * 1000
    return now_ms - 2 * interval_ms - window_ms < start_ms <= now_ms + interval_ms
