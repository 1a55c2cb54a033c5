"""Refresh tokens: opaque to the client, sealed with AES-256-GCM.

The sealed content names the session, its user, the H1 of the parent token (absent for a
session's first token), the token's own expiry, and 128 unpredictable bits, so every token is
unique even when its content repeats. It also carries what a refresh needs to issue the next
tokens without reading the session row: the session's creation time and its jwt payload with
that payload's version (the row is read only when the version there differs), and the
session's terms: its tenant, its actor (impersonation), whether it outlives the browser, and
its own lifetime if it has one. Only the double
hash of a token is ever stored (docs/protocol.md#storage).

A session's first token is random. A child token is *derived*: its nonce and unpredictable bits
come from the deployment's key derivation, over the parent and an anchor time, so the same parent
and anchor always give the same child (see ``protocol.py`` for why). Distinct (parent, anchor)
pairs give distinct nonces, as random nonces would, and nobody without the key can predict a
child.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sessionward._encoding import b64url, from_b64url, from_b64url_canonical, json_string
from sessionward._errors import _InternalError
from sessionward._models import DEFAULT_TENANT
from sessionward._tokens.derivation import KeyDerivation
from sessionward._validation import parse_finite_float, refuse_non_finite

MAX_REFRESH_TOKEN_LENGTH = 4096  # longer input is refused before any decoding work
_NONCE_BYTES = 12
_AAD = b"sessionward refresh token v1"
# NaN, ±Infinity and numbers too large for a float are not JSON: seal never writes them (payloads
# are checked), and open refuses them all the same.
_decode = json.JSONDecoder(parse_constant=refuse_non_finite, parse_float=parse_finite_float).decode


@dataclass(frozen=True, slots=True)
class RefreshClaims:
    """What a refresh token says. Those from ``created_at_ms`` on are absent in tokens of older
    versions (and the last four are written only when they differ from their defaults)."""

    handle: str
    user_id: str
    parent_hash_1: str | None
    expires_ms: int
    created_at_ms: int | None = None
    payload_json: str | None = None  # the session's jwt payload when this token was issued
    payload_version: int | None = (
        None  # which version of the payload that was (None: never changed)
    )
    authenticated_at_ms: int | None = None  # the latest mark_fresh (None: the login)
    tenant_id: str = DEFAULT_TENANT
    actor: str | None = None  # who acts as the user (impersonation)
    persistent: bool = True  # False: the session ends with the browser, or when idle
    ttl_ms: int | None = None  # the session's own lifetime from created_at (impersonation)


class InvalidRefreshToken(_InternalError):
    """Internal: the token was not sealed by this deployment, was altered, or is malformed."""


def _optional(content: dict[str, Any], key: str, kind: type) -> Any:
    value = content.get(key)
    if value is not None and type(value) is not kind:
        raise InvalidRefreshToken("bad content")
    return value


class RefreshTokenCipher:
    """Seals and opens refresh tokens with 256-bit keys: ``keys`` are ``(seals_from_ms, key)``,
    oldest first (:mod:`sessionward._tokens.refresh_keys`); each opens, the one that seals at a
    given moment seals."""

    def __init__(self, keys: Sequence[tuple[int, bytes]], derivation: KeyDerivation) -> None:
        if not keys or any(len(key) != 32 for _, key in keys):
            raise ValueError("refresh token keys must be 32 bytes")
        self._sealing = [(start, AESGCM(key)) for start, key in keys]
        self._opening = [aead for _, aead in reversed(self._sealing)]  # newest first
        self._derivation = derivation

    def _aead_at(self, at_ms: int) -> AESGCM:
        for start, aead in reversed(self._sealing):
            if start <= at_ms:
                return aead
        return self._sealing[0][1]

    def seal(self, claims: RefreshClaims, at_ms: int, seed: str | None = None) -> str:
        """Seal ``claims`` with the key that seals at ``at_ms``; with a ``seed`` the result is a
        pure function of claims, seed and that moment's key."""
        material = os.urandom(32) if seed is None else self._derivation.derive("child", seed)
        nonce, unique = material[:_NONCE_BYTES], material[_NONCE_BYTES : _NONCE_BYTES + 16]
        parts = [
            '{"sid":',
            json_string(claims.handle),
            ',"sub":',
            json_string(claims.user_id),
            f',"exp":{claims.expires_ms},"n":"{unique.hex()}"',
        ]
        if claims.parent_hash_1 is not None:
            parts.append(f',"prt":"{claims.parent_hash_1}"')
        if claims.created_at_ms is not None:
            parts.append(f',"cat":{claims.created_at_ms}')
        if claims.payload_json is not None:
            parts.append(f',"pld":{claims.payload_json}')
        if claims.payload_version is not None:
            parts.append(f',"pv":{claims.payload_version}')
        if claims.authenticated_at_ms is not None:
            parts.append(f',"aat":{claims.authenticated_at_ms}')
        if claims.tenant_id != DEFAULT_TENANT:
            parts.append(f',"tid":{json_string(claims.tenant_id)}')
        if claims.actor is not None:
            parts.append(f',"act":{json_string(claims.actor)}')
        if not claims.persistent:
            parts.append(',"per":0')
        if claims.ttl_ms is not None:
            parts.append(f',"ttl":{claims.ttl_ms}')
        parts.append("}")
        sealed = self._aead_at(at_ms).encrypt(nonce, "".join(parts).encode(), _AAD)
        return b64url(nonce + sealed)

    def open(self, token: object) -> RefreshClaims:
        if type(token) is not str or not 40 <= len(token) <= MAX_REFRESH_TOKEN_LENGTH:
            raise InvalidRefreshToken("not a token")
        try:
            # Refuse non-canonical encodings: the token must be exactly what seal() produced.
            raw = from_b64url_canonical(token)
            plain = self._open(raw)
            content = _decode(plain.decode())
            handle, user_id, expires = content["sid"], content["sub"], content["exp"]
        except (InvalidTag, ValueError, TypeError, KeyError, RecursionError) as exc:
            raise InvalidRefreshToken("invalid") from exc
        if type(handle) is not str or type(user_id) is not str or type(expires) is not int:
            raise InvalidRefreshToken("bad content")
        payload = content.get("pld")
        return RefreshClaims(
            handle,
            user_id,
            _optional(content, "prt", str),
            expires,
            _optional(content, "cat", int),
            None
            if "pld" not in content
            else json.dumps(payload, separators=(",", ":"), ensure_ascii=False),
            _optional(content, "pv", int),
            _optional(content, "aat", int),
            # The session's terms, written only when they are not the default ones: an
            # ordinary session's token pays one membership test per term, no call.
            _optional(content, "tid", str) if "tid" in content else DEFAULT_TENANT,
            _optional(content, "act", str) if "act" in content else None,
            "per" not in content,
            _optional(content, "ttl", int) if "ttl" in content else None,
        )

    def _open(self, raw: bytes) -> bytes:
        """The plain content, under whichever key sealed it (the newest first: after a rotation,
        most tokens; an old token costs one failed tag check per newer key)."""
        nonce, sealed = raw[:_NONCE_BYTES], raw[_NONCE_BYTES:]
        for aead in self._opening[:-1]:
            try:
                return aead.decrypt(nonce, sealed, _AAD)
            except InvalidTag:
                continue
        return self._opening[-1].decrypt(nonce, sealed, _AAD)


def new_refresh_key() -> str:
    """A fresh AES-256 key as base64url text, for the key table."""
    return b64url(os.urandom(32)) + "="  # stored padded, as earlier versions wrote it


def decode_refresh_key(text: str) -> bytes:
    try:
        key = from_b64url(text)
    except ValueError as exc:
        raise ValueError("stored refresh token key is not base64") from exc
    if len(key) != 32:
        raise ValueError("stored refresh token key is not 32 bytes")
    return key
