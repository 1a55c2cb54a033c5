"""Signing-key ring (docs/protocol.md#signing-keys): which key signs and which keys verify.

Each dynamic key is a row named after the moment it starts signing
(``access_token_signing_key:<unix seconds>``, plus ``-<alg>`` for an asymmetric key); the part
after the colon is its JWT ``kid``. A key signs from its start until the next key's start, and
keeps verifying until every token it could have signed has expired, so a rotation invalidates
nothing and costs no refreshes.

Scheduled rotation names the successor ``start + interval``, a name every process computes
alike, so concurrent rotations insert the same primary key and exactly one insert wins; the
successor is published during the last tenth of the interval, before it starts signing, so other
processes, and every JWKS cache, know it before the first token signed with it arrives.

Changing ``signing_algorithm`` on a running deployment is a rotation too: a key of the new
algorithm is published at once and starts signing :data:`SWITCH_DELAY_MS` later (after every
JWKS cache has expired once); the old keys verify their tokens until those expire.

Rows of HS256 keys hold the secret in ``key_value``, as the original did. Asymmetric rows hold the
algorithm's name in ``key_value`` and the PKCS#8 PEM private key in ``key_material``; their names
have a suffix that older versions do not parse, so those ignore them (never mistaking them for an
HMAC secret).

Everything here is pure: :mod:`sessionward._keyring` does the reading and inserting (through
:mod:`sessionward._key_table`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from sessionward._config import ALGORITHMS, Algorithm
from sessionward._encoding import b64url
from sessionward._errors import _InternalError
from sessionward._rows import KeyRow
from sessionward._tokens.algorithms import (
    ASYMMETRIC,
    KeyFormatError,
    PrivateKey,
    PublicKey,
    Signer,
    Verifier,
    algorithm_of,
    generate_private_key,
    load_private_key,
    make_hmac_signer,
    make_hmac_verifier,
    make_signer,
    make_verifier,
    private_key_text,
    public_jwk,
    public_key_id,
)

ACCESS_KEY_NAME = "access_token_signing_key"  # the original's row; our static HS256 key
DYNAMIC_PREFIX = ACCESS_KEY_NAME + ":"
_STATIC_PREFIX = DYNAMIC_PREFIX + "static-"  # + algorithm: a static asymmetric key
_PUBLISH_AHEAD_DIVISOR = 10  # publish the successor during the last tenth of an interval
_FOREVER_MS = 2**62
JWKS_MAX_AGE_S = 600  # a JWK Set may be cached this long at most
# A key of a newly configured algorithm signs this long after it is published: longer than any
# JWKS cache keeps the set, so verifiers elsewhere know it before its first token arrives.
SWITCH_DELAY_MS = (JWKS_MAX_AGE_S + 60) * 1000
VERIFIED_CACHE_SIZE = 4096  # asymmetric tokens verified once per ring and kept (see access.py)


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One key: its id (the JWT ``kid``), algorithm, and when it signs.

    ``secret`` is the HMAC key (HS256 only: the verify fast path uses it directly); ``public``
    is the public key of an asymmetric key (what the JWK Set publishes). ``sign`` is None for a
    key known only to verify (a remote verifier's).
    """

    kid: str
    algorithm: Algorithm
    signs_from_ms: int
    signs_until_ms: int  # exclusive: the successor's start
    header_segment: str = field(repr=False)
    verify: Verifier = field(repr=False, compare=False)
    sign: Signer | None = field(default=None, repr=False, compare=False)
    secret: bytes | None = field(default=None, repr=False)
    public: PublicKey | None = field(default=None, repr=False, compare=False)

    def jwk(self) -> dict[str, str] | None:
        """The public key as a JWK, or None for an HS256 key (a secret is never published)."""
        return None if self.public is None else public_jwk(self.public, self.kid)


@dataclass(frozen=True, slots=True)
class KeyRing:
    """An immutable snapshot of the known keys; replaced whole whenever keys are (re)loaded.

    ``verified`` remembers asymmetric tokens this ring has verified (bounded, oldest dropped
    first), so a token presented again costs no signature check; it goes with the ring, so a
    reload of the keys starts it afresh.
    """

    keys: tuple[SigningKey, ...] = ()
    by_header: dict[str, SigningKey] = field(default_factory=dict, repr=False)
    verified: dict[str, bool] = field(default_factory=dict, repr=False, compare=False)

    def signing_key(self, now_ms: int) -> SigningKey | None:
        """The key that signs at ``now_ms``, or None when none does."""
        for key in reversed(self.keys):
            if key.signs_from_ms <= now_ms < key.signs_until_ms and key.sign is not None:
                return key
        return None

    def by_kid(self, kid: str) -> SigningKey | None:
        for key in self.keys:
            if key.kid == kid:
                return key
        return None

    def jwk_set(self) -> dict[str, list[dict[str, str]]]:
        """The public keys that verify now or will sign next, as a JWK Set (RFC 7517 §5)."""
        return {"keys": [jwk for jwk in (k.jwk() for k in self.keys) if jwk is not None]}


def ring_of(keys: Iterable[SigningKey]) -> KeyRing:
    ordered = tuple(keys)
    return KeyRing(ordered, {k.header_segment: k for k in ordered})


def new_key_secret() -> str:
    """A fresh HMAC key as text: 48 random bytes, base64url (384 bits). The key is this text."""
    return secrets.token_urlsafe(48)


def new_key_row_values(algorithm: Algorithm) -> tuple[str, str | None]:
    """``(key_value, key_material)`` of a fresh key for ``algorithm``."""
    if algorithm == "HS256":
        return new_key_secret(), None
    return algorithm, private_key_text(generate_private_key(algorithm))


def header_segment(kid: str, algorithm: Algorithm = "HS256") -> str:
    """The exact base64url JWT header this library writes for ``kid``."""
    raw = json.dumps({"alg": algorithm, "kid": kid, "typ": "JWT"}, separators=(",", ":"))
    return b64url(raw.encode())


def hmac_key(kid: str, secret: str, signs_from_ms: int, signs_until_ms: int) -> SigningKey:
    raw = secret.encode()
    return SigningKey(
        kid,
        "HS256",
        signs_from_ms,
        signs_until_ms,
        header_segment(kid),
        make_hmac_verifier(raw),
        make_hmac_signer(raw),
        raw,
    )


def asymmetric_key(
    kid: str, private: PrivateKey, signs_from_ms: int, signs_until_ms: int
) -> SigningKey:
    algorithm = algorithm_of(private)
    public = private.public_key()
    return SigningKey(
        kid,
        algorithm,
        signs_from_ms,
        signs_until_ms,
        header_segment(kid, algorithm),
        make_verifier(public),
        make_signer(private),
        None,
        public,
    )


def verifying_key(kid: str, public: PublicKey, algorithm: Algorithm) -> SigningKey:
    """A key known by its public half only (a remote verifier's): it verifies, never signs."""
    return SigningKey(
        kid,
        algorithm,
        0,
        _FOREVER_MS,
        header_segment(kid, algorithm),
        make_verifier(public),
        public=public,
    )


@functools.lru_cache(maxsize=64)
def _private_key(material: str, algorithm: Algorithm) -> PrivateKey:
    """A stored private key, parsed once per process (RSA parsing costs milliseconds)."""
    return load_private_key(material, algorithm)


class UnusableKeyRow(_InternalError):
    """A signing-key row that cannot be used (its private key is missing or malformed)."""


def _key_of_row(
    row: KeyRow, algorithm: Algorithm, kid: str, signs_from_ms: int, signs_until_ms: int
) -> SigningKey:
    if algorithm == "HS256":
        return hmac_key(kid, row.value, signs_from_ms, signs_until_ms)
    if row.material is None or row.value != algorithm:
        raise UnusableKeyRow(f"the key row {row.name!r} has no {algorithm} private key")
    try:
        private = _private_key(row.material, algorithm)
    except KeyFormatError as exc:
        raise UnusableKeyRow(f"the key row {row.name!r} is unusable: {exc}") from None
    return asymmetric_key(kid, private, signs_from_ms, signs_until_ms)


# --- dynamic keys ------------------------------------------------------------------------------


class _Dynamic(NamedTuple):
    start_ms: int
    algorithm: Algorithm
    row: KeyRow

    @property
    def kid(self) -> str:
        return self.row.name[len(DYNAMIC_PREFIX) :]


def dynamic_key_name(start_ms: int, algorithm: Algorithm = "HS256") -> str:
    suffix = "" if algorithm == "HS256" else f"-{algorithm}"
    return f"{DYNAMIC_PREFIX}{start_ms // 1000}{suffix}"


def _parse_dynamic_kid(kid: str) -> tuple[int, Algorithm] | None:
    digits, dash, name = kid.partition("-")
    if not digits.isdigit() or len(digits) > 12:
        return None
    if not dash:
        return int(digits) * 1000, "HS256"
    for algorithm in ASYMMETRIC:
        if name == algorithm:
            return int(digits) * 1000, algorithm
    return None


def _dynamic_keys(rows: Iterable[KeyRow]) -> list[_Dynamic]:
    """The dynamic key rows, in signing order: by start, ties broken by algorithm."""
    keys = []
    for row in rows:
        if row.name.startswith(DYNAMIC_PREFIX):
            parsed = _parse_dynamic_kid(row.name[len(DYNAMIC_PREFIX) :])
            if parsed is not None:
                keys.append(_Dynamic(parsed[0], parsed[1], row))
    keys.sort(key=lambda k: (k.start_ms, ALGORITHMS.index(k.algorithm)))
    return keys


def _signing_periods(rows: Iterable[KeyRow]) -> list[tuple[_Dynamic, int]]:
    """Each dynamic key with the end of its signing period: the next key's start."""
    found = _dynamic_keys(rows)
    ends = [k.start_ms for k in found[1:]] + [_FOREVER_MS]
    return list(zip(found, ends, strict=False))  # ends has one more when found is empty


def build_dynamic_ring(rows: Iterable[KeyRow], *, now_ms: int, verify_window_ms: int) -> KeyRing:
    """Ring of the dynamic keys among the rows that may sign or verify.

    ``verify_window_ms`` is how long a token can outlive its signing: the access-token validity
    plus any clock leeway. Raises :class:`UnusableKeyRow` for a live key that cannot be read.
    """
    return ring_of(
        _key_of_row(key.row, key.algorithm, key.kid, key.start_ms, until)
        for key, until in _signing_periods(rows)
        if until + _window(key.row, verify_window_ms) > now_ms  # else all its tokens expired
    )


def deployed_algorithm(rows: Iterable[KeyRow], *, now_ms: int) -> Algorithm | None:
    """The algorithm of the dynamic key that signs at ``now_ms`` (else of the newest one);
    None when there is no dynamic key. Admin tools use it to act as the deployment does."""
    periods = _signing_periods(rows)
    for key, until in periods:
        if key.start_ms <= now_ms < until:
            return key.algorithm
    return periods[-1][0].algorithm if periods else None


def key_to_create(
    rows: Iterable[KeyRow], *, now_ms: int, interval_ms: int, algorithm: Algorithm = "HS256"
) -> str | None:
    """Name of the dynamic key that should exist now but does not, or None.

    No key signs now (first start, or the last key's interval has run out): one of
    ``algorithm`` starting now, aligned to the interval so that concurrent creators pick the same
    name. The current key is of another algorithm: a key of ``algorithm`` that starts signing
    :data:`SWITCH_DELAY_MS` from now (aligned to the minute). Near the end of the current key's
    interval: its successor, named ``start + interval``.
    """
    found = _dynamic_keys(rows)
    current = [k for k in found if k.start_ms <= now_ms]
    if not current or current[-1].start_ms + interval_ms <= now_ms:
        return dynamic_key_name(now_ms - now_ms % interval_ms, algorithm)
    start = current[-1].start_ms
    later = [k for k in found if k.start_ms > start]
    if current[-1].algorithm != algorithm:
        if any(k.algorithm == algorithm for k in later):
            return None
        switch = (now_ms + SWITCH_DELAY_MS) // 60_000 * 60_000 + 60_000
        return dynamic_key_name(min(switch, start + interval_ms), algorithm)
    successor = start + interval_ms
    publish_from = successor - interval_ms // _PUBLISH_AHEAD_DIVISOR
    if now_ms >= publish_from and not later:
        return dynamic_key_name(successor, algorithm)
    return None


def next_key_check_ms(
    rows: Iterable[KeyRow], *, now_ms: int, interval_ms: int, algorithm: Algorithm = "HS256"
) -> int:
    """When the key table must next be looked at: a key is due to be published or to sign."""
    found = _dynamic_keys(rows)
    current = [k for k in found if k.start_ms <= now_ms]
    if not current:
        return now_ms
    successors = [k.start_ms for k in found if k.start_ms > current[-1].start_ms]
    if successors:
        return successors[0]
    if current[-1].algorithm != algorithm:
        return now_ms
    publish_from = current[-1].start_ms + interval_ms - interval_ms // _PUBLISH_AHEAD_DIVISOR
    return publish_from if now_ms < publish_from else current[-1].start_ms + interval_ms


def _window(row: KeyRow, verify_window_ms: int) -> int:
    """How long ``row``'s key verifies after it stops signing: the recorded window, or the
    caller's if longer (rows of older versions record none)."""
    recorded = row.verify_window_ms
    return verify_window_ms if recorded is None else max(recorded, verify_window_ms)


def expired_key_names(rows: list[KeyRow], *, now_ms: int, verify_window_ms: int) -> list[str]:
    """Dynamic key rows that can neither sign nor verify any more: safe to delete."""
    periods = _signing_periods(rows)
    return [
        key.row.name
        for key, until in periods
        if until + _window(key.row, verify_window_ms) <= now_ms
    ]


def plausible_dynamic_kid(kid: object, *, now_ms: int, interval_ms: int, window_ms: int) -> bool:
    """Whether an unknown ``kid`` could name one of our keys, so that a reload is worth a query."""
    if type(kid) is not str:
        return False
    parsed = _parse_dynamic_kid(kid)
    if parsed is None:
        return False
    start_ms = parsed[0]
    return now_ms - 2 * interval_ms - window_ms < start_ms <= now_ms + SWITCH_DELAY_MS + interval_ms


# --- static keys and key getters ------------------------------------------------------------


def static_key_name(algorithm: Algorithm) -> str:
    return ACCESS_KEY_NAME if algorithm == "HS256" else f"{_STATIC_PREFIX}{algorithm}"


def _static_kid(algorithm: Algorithm) -> str:
    return "static" if algorithm == "HS256" else f"static-{algorithm}"


def build_static_ring(
    rows: Iterable[KeyRow], algorithm: Algorithm, *, now_ms: int, verify_window_ms: int
) -> KeyRing:
    """Ring of the static key of ``algorithm`` (it always signs; its row must be among ``rows``),
    plus the static keys of other algorithms while tokens they signed may live: until a verify
    window after the current key's row was created."""
    by_name = {row.name: row for row in rows}
    current = by_name[static_key_name(algorithm)]
    keys = []
    for other in ALGORITHMS:
        row = by_name.get(static_key_name(other))
        if other == algorithm or row is None:
            continue
        retired_at = max(current.created_at_ms, row.created_at_ms)
        if retired_at + verify_window_ms > now_ms and row.created_at_ms <= current.created_at_ms:
            keys.append(_key_of_row(row, other, _static_kid(other), 0, retired_at))
    keys.append(_key_of_row(current, algorithm, _static_kid(algorithm), 0, _FOREVER_MS))
    return ring_of(keys)


def build_getter_ring(key: SigningKey, previous: KeyRing | None = None) -> KeyRing:
    """Ring of a key returned by a user-supplied getter, which always signs. With ``previous``
    (the getter returned a new key), the last two earlier keys stay for verification."""
    old = [k for k in (previous.keys if previous else ()) if k.kid != key.kid][-2:]
    return ring_of((*old, key))


def getter_key(value: str, algorithm: Algorithm) -> SigningKey:
    """The key a getter returned: an HMAC secret (HS256) or a PEM private key of ``algorithm``.
    Raises :class:`KeyFormatError` if it is neither."""
    if algorithm == "HS256":
        if len(value) < 32:
            raise KeyFormatError("an HS256 key must have at least 32 characters (RFC 7518 §3.2)")
        kid = "g" + hashlib.sha256(value.encode()).hexdigest()[:16]
        return hmac_key(kid, value, 0, _FOREVER_MS)
    private = _private_key(value, algorithm)
    return asymmetric_key(public_key_id(private.public_key()), private, 0, _FOREVER_MS)
