"""Refresh tokens: opaque to the client, sealed with AES-256-GCM.

The sealed content names the session, its user, the H1 of the parent token (absent for a
session's first token), the token's own expiry, and 128 unpredictable bits, so every token is
unique even when its content repeats. Only the double hash of a token is ever stored (PROTOCOL §4).

A session's first token is random. A child token is *derived*: its nonce and unpredictable bits
are an HMAC, under a key derived from the sealing key, of the parent and an anchor time, so the
same parent and anchor always give the same child (see ``protocol.py`` for why). Distinct
(parent, anchor) pairs give distinct nonces, as random nonces would, and nobody without the key
can predict a child.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAX_REFRESH_TOKEN_LENGTH = 1024  # longer input is refused before any decoding work
_NONCE_BYTES = 12
_AAD = b"sessionward refresh token v1"


@dataclass(frozen=True, slots=True)
class RefreshClaims:
    handle: str
    user_id: str
    parent_hash_1: str | None
    expires_ms: int


class InvalidRefreshToken(Exception):
    """Internal: the token was not sealed by this deployment, was altered, or is malformed."""


class RefreshTokenCipher:
    """Seals and opens refresh tokens with one 256-bit key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("refresh token key must be 32 bytes")
        self._aead = AESGCM(key)
        self._derive_key = hashlib.sha256(b"sessionward derive v1\x00" + key).digest()

    def derive(self, label: str, data: str) -> bytes:
        """32 bytes that only this deployment can compute from ``label`` and ``data``."""
        return hmac.digest(self._derive_key, f"{label}\x00{data}".encode(), "sha256")

    def seal(self, claims: RefreshClaims, seed: str | None = None) -> str:
        """Seal ``claims``; with a ``seed`` the result is a pure function of claims and seed."""
        material = os.urandom(32) if seed is None else self.derive("child", seed)
        nonce, unique = material[:_NONCE_BYTES], material[_NONCE_BYTES : _NONCE_BYTES + 16]
        content = {
            "sid": claims.handle,
            "sub": claims.user_id,
            "exp": claims.expires_ms,
            "n": unique.hex(),
        }
        if claims.parent_hash_1 is not None:
            content["prt"] = claims.parent_hash_1
        plain = json.dumps(content, separators=(",", ":")).encode()
        sealed = self._aead.encrypt(nonce, plain, _AAD)
        return base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode()

    def open(self, token: object) -> RefreshClaims:
        if type(token) is not str or not 40 <= len(token) <= MAX_REFRESH_TOKEN_LENGTH:
            raise InvalidRefreshToken("not a token")
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            # Refuse non-canonical encodings: the token must be exactly what seal() produced.
            if base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != token:
                raise InvalidRefreshToken("non-canonical encoding")
            plain = self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _AAD)
            content = json.loads(plain)
            claims = RefreshClaims(
                content["sid"], content["sub"], content.get("prt"), content["exp"]
            )
        except InvalidRefreshToken:
            raise
        except (InvalidTag, ValueError, TypeError, KeyError, AttributeError, binascii.Error) as exc:
            raise InvalidRefreshToken("invalid") from exc
        if (
            type(claims.handle) is not str
            or type(claims.user_id) is not str
            or type(claims.expires_ms) is not int
            or (claims.parent_hash_1 is not None and type(claims.parent_hash_1) is not str)
        ):
            raise InvalidRefreshToken("bad content")
        return claims


def new_refresh_key() -> str:
    """A fresh AES-256 key as base64url text, for the key table."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def decode_refresh_key(text: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(text)
    except (ValueError, binascii.Error) as exc:
        raise ValueError("stored refresh token key is not base64") from exc
    if len(key) != 32:
        raise ValueError("stored refresh token key is not 32 bytes")
    return key
