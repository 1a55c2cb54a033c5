"""Key-encryption keys (docs/operations.md#signing-keys-at-rest): what seals the deployment's
stored keys (HMAC secrets, asymmetric private keys, the refresh-token key) before they reach
the database, so that a leaked backup or one SQL injection does not hand out the keys that
mint sessions.

A :class:`KeyWrapper` wraps and unwraps bytes with associated data; :class:`LocalKeyWrapper`
does it with AES-256-GCM under keys given in the configuration (or the
``SESSIONWARD_KEY_ENCRYPTION_KEY`` environment variable); any other implementation (a KMS:
AWS KMS, GCP KMS, Vault Transit) plugs in through the same two methods. Which rows are sealed,
and how a sealed value reads in the key table, is :mod:`sessionward._tokens.sealing`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Iterable
from typing import Protocol, runtime_checkable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sessionward._errors import ConfigError, _InternalError

KEK_ENVIRONMENT_VARIABLE = "SESSIONWARD_KEY_ENCRYPTION_KEY"
_NONCE_BYTES = 12


class UnwrapError(_InternalError):
    """A wrapped value that this wrapper cannot open: another key-encryption key sealed it, or
    the stored bytes were altered."""


@runtime_checkable
class KeyWrapper(Protocol):
    """Seals and opens the stored keys. ``key_id`` names the key-encryption key that
    :meth:`wrap` uses now; it is stored beside each sealed value, so that :meth:`unwrap` (and
    an operator) can tell which key sealed it. It must be printable text without line breaks.

    ``associated_data`` is the row's identity: a value unwrapped under another row's identity
    must fail (so a sealed key cannot be copied onto another key's row). Raise any exception
    (best :class:`UnwrapError`) when a value cannot be opened; sessionward turns it into a
    :class:`~sessionward.ConfigError` that names the row and the ``key_id``, never into a new
    key."""

    @property
    def key_id(self) -> str: ...

    def wrap(self, plaintext: bytes, associated_data: bytes) -> bytes: ...

    def unwrap(self, wrapped: bytes, associated_data: bytes, key_id: str) -> bytes: ...


class LocalKeyWrapper:
    """AES-256-GCM under key-encryption keys held by the application (the setting or the
    environment variable). Each key is 32 random bytes as base64url text; make one with
    ``python3 -c "import secrets; print(secrets.token_urlsafe(32))"``.

    The first key seals; every key given opens, so a new key is rolled out as
    ``(new, old)`` before ``sessionward keys rewrap`` moves every row to it."""

    def __init__(self, *keys: str) -> None:
        if not keys:
            raise ConfigError("key_encryption_key: give at least one key")
        self._keys: dict[str, AESGCM] = {}
        first = ""
        for text in keys:
            raw = _decode_kek(text)
            key_id = kek_id(raw)
            first = first or key_id
            self._keys[key_id] = AESGCM(raw)
        self._key_id = first

    @property
    def key_id(self) -> str:
        return self._key_id

    @property
    def key_ids(self) -> tuple[str, ...]:
        """Every key this wrapper opens with, the sealing one first."""
        return tuple(self._keys)

    def wrap(self, plaintext: bytes, associated_data: bytes) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + self._keys[self._key_id].encrypt(nonce, plaintext, associated_data)

    def unwrap(self, wrapped: bytes, associated_data: bytes, key_id: str) -> bytes:
        cipher = self._keys.get(key_id)
        if cipher is None:
            raise UnwrapError(f"no key-encryption key with id {key_id!r} is configured")
        try:
            return cipher.decrypt(wrapped[:_NONCE_BYTES], wrapped[_NONCE_BYTES:], associated_data)
        except InvalidTag:
            message = "the sealed value does not open (altered, or another row's)"
            raise UnwrapError(message) from None

    def __repr__(self) -> str:  # never the keys
        return f"LocalKeyWrapper(key_ids={list(self._keys)!r})"


def kek_id(raw: bytes) -> str:
    """A short public name of a key-encryption key: 16 hex digits of a hash that cannot be
    turned back into the key."""
    return hashlib.sha256(b"sessionward key-encryption key id\x00" + raw).hexdigest()[:16]


def _decode_kek(text: object) -> bytes:
    if not isinstance(text, str):
        raise ConfigError(
            "key_encryption_key must be a key as text (32 random bytes, base64url), a sequence "
            f"of them, or a KeyWrapper; got {type(text).__name__}"
        )
    try:
        raw = base64.urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4))
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise ConfigError(
            "key_encryption_key: each key must be 32 random bytes as base64url text (43 "
            'characters; make one with python3 -c "import secrets; '
            'print(secrets.token_urlsafe(32))")'
        )
    return raw


def key_wrapper_from(setting: object, environment: str | None) -> KeyWrapper | None:
    """The wrapper a configuration asks for: ``setting`` (a KeyWrapper, a key, or a sequence of
    keys, the sealing one first), else the environment variable's comma-separated keys, else
    None (keys are stored in the clear: development only)."""
    if setting is None:
        if not environment or not environment.strip():
            return None
        return LocalKeyWrapper(*(part for part in environment.split(",") if part.strip()))
    if isinstance(setting, KeyWrapper):
        return setting
    if isinstance(setting, str):
        return LocalKeyWrapper(setting)
    if isinstance(setting, Iterable):
        return LocalKeyWrapper(*setting)
    raise ConfigError(
        "key_encryption_key must be a key (32 random bytes, base64url), a sequence of keys or a "
        f"KeyWrapper; got {type(setting).__name__}"
    )
