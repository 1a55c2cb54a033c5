"""base64url without padding (RFC 4648 §5), as JWTs and our tokens use it: one helper for all.

``binascii`` is called directly: ``base64.urlsafe_b64*`` add two Python layers per call, which
shows on the verify hot path.
"""

from __future__ import annotations

import binascii
import json

_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")
_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")
_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_b2a = binascii.b2a_base64
_a2b = binascii.a2b_base64


def b64url_bytes(data: bytes) -> bytes:
    """``data`` as unpadded base64url, as ASCII bytes."""
    return _b2a(data, newline=False).translate(_TO_URLSAFE).rstrip(b"=")


def b64url(data: bytes) -> str:
    """``data`` as unpadded base64url text."""
    return _b2a(data, newline=False).translate(_TO_URLSAFE).rstrip(b"=").decode()


def from_b64url(text: str | bytes) -> bytes:
    """Decode unpadded (or padded) base64url; ``ValueError`` for anything else.

    Characters outside the alphabet are an error, not skipped as ``binascii`` would.
    """
    raw = (text.encode() if isinstance(text, str) else text).rstrip(b"=")
    if raw.translate(None, _ALPHABET) or len(raw) % 4 == 1:
        raise ValueError("not base64url")
    try:
        return _a2b(raw.translate(_FROM_URLSAFE) + b"=" * (-len(raw) % 4))
    except binascii.Error as exc:  # pragma: no cover - excluded by the checks above
        raise ValueError(f"not base64url: {exc}") from None


def from_signed_b64url(text: str) -> bytes:
    """Decode a segment whose signature has just been checked, so it is one we encoded: the
    alphabet check of :func:`from_b64url` can be skipped (it is a third of verify's decoding).
    Never call it before the signature check."""
    raw = text.encode()
    return _a2b(raw.translate(_FROM_URLSAFE) + b"=" * (-len(raw) % 4))


def from_b64url_canonical(text: str) -> bytes:
    """As :func:`from_b64url`, but only the one unpadded encoding :func:`b64url` produces:
    a token altered in its last character's unused bits is refused, not accepted as equal."""
    raw = from_b64url(text)
    if b64url(raw) != text:
        raise ValueError("not the canonical base64url encoding")
    return raw


_dumps = json.dumps


def json_string(text: str) -> str:
    """``text`` as a JSON string literal, as ``json.dumps(text, ensure_ascii=False)`` writes it;
    without the encoder's machinery for the common identifier that needs no escaping."""
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'
    return _dumps(text, ensure_ascii=False)
