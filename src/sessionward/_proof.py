"""Proof of possession for refresh tokens, modelled on DPoP (RFC 9449).

A client that holds an ES256 key pair sends, at login, a *proof*: a small JWT signed by its
private key that carries the public key (``jwk`` header). The session then stores only the key's
RFC 7638 thumbprint. Every later refresh of that session must carry a fresh proof by the same key
that covers the request's method and URL, a time within a minute, and ``ath``, the hash of the
very refresh token presented (or of its id-refresh token, for browsers, which cannot read the
HttpOnly refresh-token cookie). A copied refresh token is then worthless without the key, which a
browser keeps non-extractable.

Proofs travel in the ``DPoP`` request header. Verification costs one ECDSA P-256 verify and is
done only at login and refresh, never on an ordinary request.

:class:`ProofKey` is the client side (for Python clients and tests): it holds a key pair and
makes proofs.
"""

from __future__ import annotations

import hashlib
import json
import math
import secrets
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from sessionward._encoding import b64url, from_b64url
from sessionward._errors import GeneralError, _InternalError
from sessionward._validation import parse_finite_float, refuse_non_finite

PROOF_HEADER = "DPoP"
PROOF_TYPE = "dpop+jwt"
MAX_PROOF_LENGTH = 2048  # longer header values are refused before any decoding
PROOF_MAX_AGE_S = 60  # a proof's iat must be within this many seconds of the server's clock
_COORDINATE_BYTES = 32
# NaN, ±Infinity and numbers too large for a float are refused: an iat of NaN is never stale.
_decode = json.JSONDecoder(parse_constant=refuse_non_finite, parse_float=parse_finite_float).decode
# A proof is accepted while |now - iat| <= PROOF_MAX_AGE_S, so at most this long after it was
# first accepted (an iat up to a minute ahead, then a minute after it): its id is kept that long.
SEEN_WINDOW_S = 2 * PROOF_MAX_AGE_S
SEEN_LIMIT = 100_000  # ids kept at once in one process: 16 MB (33 MB if each has its own key)
SEEN_LIMIT_PER_KEY = 1_000  # ids of one key kept at once: far above one client's refreshes


@dataclass(frozen=True, slots=True)
class ProofOfPossession:
    """A proof as it arrived with one request: the header's value, and that request's method
    and URL (which the proof must name)."""

    jwt: str
    method: str
    url: str

    def __repr__(self) -> str:  # proofs are short-lived credentials: never in logs
        return f"ProofOfPossession(<{len(self.jwt)} chars>, {self.method} {self.url!r})"


class InvalidProof(_InternalError):
    """Internal: the proof is malformed, mis-signed, stale, replayed, or names another request."""


class TooManyProofsError(GeneralError):
    """This process cannot remember one more proof id now: the refresh is refused, not theft.

    Raised instead of forgetting an id that is still within its window (which would let that
    proof be replayed). Ids leave after :data:`SEEN_WINDOW_S`, so the client can retry then; an
    honest client never gets here unless the process is flooded with proofs.
    """


def _unb64url(text: object) -> bytes:
    if not isinstance(text, str) or not text.isascii():
        raise InvalidProof("not base64url")
    try:
        return from_b64url(text)
    except ValueError:
        raise InvalidProof("not base64url") from None


def token_hash(token: str) -> str:
    """``ath``: base64url SHA-256 of the token the proof is made for (RFC 9449 §4.2)."""
    return b64url(hashlib.sha256(token.encode()).digest())


def jwk_thumbprint(jwk: dict[str, str]) -> str:
    """RFC 7638 thumbprint of a P-256 public JWK: SHA-256 of its required members, base64url."""
    canonical = json.dumps(
        {"crv": jwk["crv"], "kty": jwk["kty"], "x": jwk["x"], "y": jwk["y"]},
        separators=(",", ":"),
        sort_keys=True,
    )
    return b64url(hashlib.sha256(canonical.encode()).digest())


def _public_key(jwk: object) -> tuple[ec.EllipticCurvePublicKey, str]:
    if (
        not isinstance(jwk, dict)
        or jwk.get("kty") != "EC"
        or jwk.get("crv") != "P-256"
        or "d" in jwk  # a private key sent by mistake is refused, not used
    ):
        raise InvalidProof("jwk must be a public P-256 EC key")
    x, y = _unb64url(jwk.get("x", "")), _unb64url(jwk.get("y", ""))
    if len(x) != _COORDINATE_BYTES or len(y) != _COORDINATE_BYTES:
        raise InvalidProof("jwk coordinates must be 32 bytes")
    try:
        numbers = ec.EllipticCurvePublicNumbers(
            int.from_bytes(x, "big"), int.from_bytes(y, "big"), ec.SECP256R1()
        )
        key = numbers.public_key()
    except ValueError:
        raise InvalidProof("jwk is not a point on P-256") from None
    return key, jwk_thumbprint(jwk)


def _same_target(htu: str, url: str) -> bool:
    """``htu`` names the request's URL: the same path (query and fragment are ignored, and so
    are scheme and host, which proxies rewrite; the proof is bound to the token regardless)."""
    try:
        return (urlsplit(htu).path or "/") == (urlsplit(url).path or "/")
    except ValueError:
        return False


def _within_a_minute(iat: object, now_s: float) -> bool:
    """``iat`` is a finite number within :data:`PROOF_MAX_AGE_S` of ``now_s``.

    Finite first: NaN compares False with everything, so ``abs(now - NaN) > 60`` is False and a
    NaN would never be stale; an int too large for a float would raise OverflowError."""
    if not isinstance(iat, int | float) or isinstance(iat, bool):
        return False
    try:
        seconds = float(iat)
    except OverflowError:
        return False
    return math.isfinite(seconds) and abs(now_s - seconds) <= PROOF_MAX_AGE_S


@dataclass(frozen=True, slots=True)
class VerifiedProof:
    thumbprint: str
    jti: str


def verify_proof(
    proof: ProofOfPossession, *, now_s: float, tokens: tuple[str, ...] = ()
) -> VerifiedProof:
    """Check one proof; its ``ath`` must be the hash of one of ``tokens`` (none at login).

    For a refresh, ``tokens`` are the refresh token presented and its id-refresh token: a
    browser cannot read its HttpOnly refresh-token cookie, so it proves possession over the
    id-refresh token, which only the server can derive from that refresh token (1:1).

    Raises :class:`InvalidProof` with a short reason. Checks, in order of cost: size and shape,
    header (``typ``, ``alg`` fixed to ES256 whatever the token says, a public ``jwk``), claims
    (``htm``, ``htu``, ``iat`` within a minute, ``ath``, ``jti``), and last the signature.
    """
    raw = proof.jwt
    if not isinstance(raw, str) or len(raw) > MAX_PROOF_LENGTH or raw.count(".") != 2:
        raise InvalidProof("not a compact JWT")
    header_b64, claims_b64, signature_b64 = raw.split(".")
    try:
        header = _decode(_unb64url(header_b64).decode())
        claims = _decode(_unb64url(claims_b64).decode())
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise InvalidProof("not JSON") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise InvalidProof("not a JWT")
    if header.get("typ") != PROOF_TYPE or header.get("alg") != "ES256":
        raise InvalidProof("typ must be dpop+jwt and alg ES256")
    public_key, thumbprint = _public_key(header.get("jwk"))
    jti, htm, htu, iat = (claims.get(k) for k in ("jti", "htm", "htu", "iat"))
    if not isinstance(jti, str) or not 0 < len(jti) <= 128:
        raise InvalidProof("jti must be a short string")
    if not isinstance(htm, str) or htm.upper() != proof.method.upper():
        raise InvalidProof("htm does not name this request's method")
    if not isinstance(htu, str) or not _same_target(htu, proof.url):
        raise InvalidProof("htu does not name this request's URL")
    if not _within_a_minute(iat, now_s):
        raise InvalidProof("iat is not within a minute of now")
    if tokens and claims.get("ath") not in {token_hash(token) for token in tokens}:
        raise InvalidProof("ath does not match the refresh token presented")
    signature = _unb64url(signature_b64)
    if len(signature) != 2 * _COORDINATE_BYTES:
        raise InvalidProof("signature must be 64 bytes")
    r = int.from_bytes(signature[:_COORDINATE_BYTES], "big")
    s = int.from_bytes(signature[_COORDINATE_BYTES:], "big")
    try:
        public_key.verify(
            encode_dss_signature(r, s),
            f"{header_b64}.{claims_b64}".encode(),
            ec.ECDSA(hashes.SHA256()),
        )
    except InvalidSignature:
        raise InvalidProof("bad signature") from None
    return VerifiedProof(thumbprint, jti)


class SeenProofs:
    """The ids of accepted proofs, so that each proof is accepted once per process within its
    window.

    An id is kept for :data:`SEEN_WINDOW_S` after it was first seen: the whole time its proof
    could still pass the ``iat`` check. Nothing is ever evicted early, since an evicted id could
    be replayed (a first-in-first-out bound let one client flush the cache with its own proofs).
    Memory is bounded instead by refusing new ids: at most ``per_key_limit`` per key thumbprint,
    so that one client (one key) cannot fill the cache for the others, and ``limit`` in all; past
    either, :meth:`first_use` raises :class:`TooManyProofsError` until ids expire.

    Ids are kept as 16-byte BLAKE2b digests (a jti can be 128 characters). Safe for threads: one
    lock covers expiry, the check and the insert, so two threads cannot both accept one id.
    (Processes do not share it; the proof also names the refresh token, which rotates, so a replay
    elsewhere gains nothing a stolen request did not already give.)
    """

    def __init__(self, limit: int = SEEN_LIMIT, per_key_limit: int = SEEN_LIMIT_PER_KEY) -> None:
        self._limit = limit
        self._per_key_limit = per_key_limit
        self._lock = threading.Lock()
        self._seen: set[bytes] = set()  # digests of the live ids
        self._per_key: dict[str, int] = {}  # key thumbprint -> how many of them are its
        self._order: deque[tuple[float, str, bytes]] = deque()  # (seen at, thumbprint, digest)

    def __len__(self) -> int:
        return len(self._order)

    def first_use(self, key: str, now_s: float) -> bool:
        """Record ``key`` (``"<thumbprint>:<jti>"``); False if it was seen within the window.

        Raises :class:`TooManyProofsError`, recording nothing, when the id is new but its key or
        the process already holds as many live ids as allowed."""
        thumbprint = sys.intern(key.partition(":")[0])  # one string per key, not per id
        digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        with self._lock:
            self._expire(now_s - SEEN_WINDOW_S)
            if digest in self._seen:
                return False
            if len(self._order) >= self._limit:
                raise TooManyProofsError(
                    f"this process holds {len(self._order)} proof ids of the last "
                    f"{SEEN_WINDOW_S} s, its limit: retry later"
                )
            count = self._per_key.get(thumbprint, 0)
            if count >= self._per_key_limit:
                raise TooManyProofsError(
                    f"this key made {count} proofs in the last {SEEN_WINDOW_S} s, its limit: "
                    "retry later"
                )
            self._per_key[thumbprint] = count + 1
            self._seen.add(digest)
            self._order.append((now_s, thumbprint, digest))
            return True

    def _expire(self, cutoff: float) -> None:
        """Forget the ids first seen before ``cutoff`` (their proofs are stale by now). Ids are
        appended in time order; if the clock stepped back, a later one waits for those before
        it, which only keeps it longer."""
        order, per_key = self._order, self._per_key
        while order and order[0][0] < cutoff:
            _, thumbprint, digest = order.popleft()
            self._seen.discard(digest)
            left = per_key[thumbprint] - 1
            if left:
                per_key[thumbprint] = left
            else:
                del per_key[thumbprint]


class ProofKey:
    """A client's ES256 key pair, making proofs (the Python side of what the browser client does
    with WebCrypto). Keep one per client; its thumbprint is what the session is bound to."""

    def __init__(self, private_key: ec.EllipticCurvePrivateKey | None = None) -> None:
        self._key = private_key or ec.generate_private_key(ec.SECP256R1())
        numbers = self._key.public_key().public_numbers()
        self.public_jwk: dict[str, str] = {
            "kty": "EC",
            "crv": "P-256",
            "x": b64url(numbers.x.to_bytes(_COORDINATE_BYTES, "big")),
            "y": b64url(numbers.y.to_bytes(_COORDINATE_BYTES, "big")),
        }
        self.thumbprint = jwk_thumbprint(self.public_jwk)

    def proof(
        self,
        method: str,
        url: str,
        *,
        token: str | None = None,
        now_s: float | None = None,
    ) -> str:
        """A proof for one request; ``token``: the refresh token being presented, if any."""
        header = {"typ": PROOF_TYPE, "alg": "ES256", "jwk": self.public_jwk}
        claims: dict[str, Any] = {
            "jti": secrets.token_urlsafe(16),
            "htm": method.upper(),
            "htu": url,
            "iat": int(time.time() if now_s is None else now_s),
        }
        if token is not None:
            claims["ath"] = token_hash(token)
        signing_input = ".".join(
            b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
        )
        der = self._key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        raw = r.to_bytes(_COORDINATE_BYTES, "big") + s.to_bytes(_COORDINATE_BYTES, "big")
        return f"{signing_input}.{b64url(raw)}"

    def __repr__(self) -> str:
        return f"ProofKey(thumbprint={self.thumbprint!r})"
