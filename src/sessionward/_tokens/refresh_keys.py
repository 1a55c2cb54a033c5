"""The refresh-token keys (docs/operations.md#rotating-the-refresh-token-key): which seals a
token, which open, which may go.

The deployment's first key is the row ``refresh_token_key`` (the original's name). A rotation
adds ``refresh_token_key:<ms>``, a key that seals from that moment; every key still opens, so
the refresh tokens sealed before keep working until they rotate (each refresh seals the child
with the newest key) or expire, and a key goes once no token it sealed can be alive.

A child token is sealed with the key that sealed *at its anchor* (the moment the child was first
issued), not the newest: a grace-window duplicate re-issues the very same child, byte for byte,
even across a rotation. So that every process agrees on that key, a rotated key starts sealing
:data:`ROTATION_DELAY_MS` after it is written: longer than any process takes to read it (the key
table is read every ``revocation_refresh_interval``, at most 60 s).

The first key also keys the derivation of child seeds, anti-CSRF and id-refresh tokens; a
rotation keeps it (a grace duplicate must come with the same companions). Only a retirement
(``--retire-now``) replaces it, with every key, ending every session.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import pairwise

from sessionward._rows import KeyRow
from sessionward._tokens.derivation import KeyDerivation
from sessionward._tokens.refresh import RefreshTokenCipher, decode_refresh_key

REFRESH_KEY_NAME = "refresh_token_key"
REFRESH_KEY_PREFIX = f"{REFRESH_KEY_NAME}:"
ROTATION_DELAY_MS = 65_000  # the longest revocation_refresh_interval (60 s), and a margin


def refresh_key_rows(rows: Iterable[KeyRow]) -> list[tuple[int, KeyRow]]:
    """``(seals_from_ms, row)`` of each refresh-token key, oldest first (the first key: 0)."""
    found = []
    for row in rows:
        if row.name == REFRESH_KEY_NAME:
            found.append((0, row))
        elif row.name.startswith(REFRESH_KEY_PREFIX):
            suffix = row.name[len(REFRESH_KEY_PREFIX) :]
            if suffix.isdigit():
                found.append((int(suffix), row))
    found.sort(key=lambda item: item[0])
    return found


def refresh_cipher(rows: Iterable[KeyRow]) -> tuple[KeyDerivation, RefreshTokenCipher] | None:
    """The key derivation and the refresh-token cipher of the stored keys (None: none is
    stored); the first key keys the derivation. A stored key that cannot be decoded is a
    ValueError."""
    found = refresh_key_rows(rows)
    if not found:
        return None
    keys = [(start, decode_refresh_key(row.value)) for start, row in found]
    derivation = KeyDerivation(keys[0][1])
    return derivation, RefreshTokenCipher(keys, derivation)


def rotated_key_name(rows: Iterable[KeyRow], now_ms: int) -> str:
    """The name of a new key that seals from :data:`ROTATION_DELAY_MS` from now (after every
    key already scheduled)."""
    latest = max((start for start, _ in refresh_key_rows(rows)), default=0)
    return f"{REFRESH_KEY_PREFIX}{max(now_ms + ROTATION_DELAY_MS, latest + 1)}"


def expired_refresh_key_names(
    rows: Iterable[KeyRow], *, now_ms: int, token_life_ms: int
) -> list[str]:
    """Rotated-away keys no live token can need: their successor has sealed for longer than a
    refresh token lives. The first key stays (it keys the derivation)."""
    keys = refresh_key_rows(rows)
    dead = []
    for (_start, row), (successor_start, _) in pairwise(keys):
        if row.name != REFRESH_KEY_NAME and successor_start + token_life_ms <= now_ms:
            dead.append(row.name)
    return dead
