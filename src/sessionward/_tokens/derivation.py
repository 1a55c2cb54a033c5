"""Key derivation: secrets that only this deployment can compute from a label and some data.

HMAC-SHA256 used as a pseudo-random function, keyed by a hash of the refresh-token key under a
fixed label (so the derivation key is never the encryption key itself). Used for the seeds of
derived child refresh tokens, and for the anti-CSRF and id-refresh tokens that go with a refresh
token: deriving them means a refresh token re-issued within the grace window comes with the very
same companions.
"""

from __future__ import annotations

import hashlib
import hmac

_DERIVATION_LABEL = b"sessionward derive v1\x00"


class KeyDerivation:
    """Derives 32-byte secrets from one 256-bit deployment key."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        self._key = hashlib.sha256(_DERIVATION_LABEL + key).digest()

    def derive(self, label: str, data: str) -> bytes:
        """32 bytes that are a pure function of ``label`` and ``data`` under this key."""
        return hmac.digest(self._key, f"{label}\x00{data}".encode(), "sha256")

    def __repr__(self) -> str:
        return "KeyDerivation(<key hidden>)"
