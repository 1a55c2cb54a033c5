"""The JWS algorithms access tokens can be signed with (RFC 7518, RFC 8037), on ``cryptography``.

``HS256`` (the default) shares one secret between signer and verifiers. The asymmetric ones let
any service verify with the public key alone, published as a JWK Set: ``EdDSA`` (Ed25519; the
recommended one: small keys and signatures, fast, deterministic), ``ES256`` (ECDSA P-256 with
SHA-256) and ``RS256`` (RSA PKCS#1 v1.5 with SHA-256, 2048-bit keys, for verifiers that know
nothing else).

A key's algorithm is a property of the key, fixed when it is made: verification never takes it
from a token (that is how "alg confusion" attacks are refused). Private keys are stored as PKCS#8
PEM text; public keys travel as JWKs and are read back only for the three asymmetric algorithms
(never ``oct``: a public key is never used as an HMAC secret).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import Any, cast

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from sessionward._config import Algorithm
from sessionward._encoding import b64url, from_b64url_canonical
from sessionward._errors import _InternalError

ASYMMETRIC: tuple[Algorithm, ...] = ("EdDSA", "ES256", "RS256")

PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey
Signer = Callable[[bytes], bytes]  # signing input -> JWS signature bytes
Verifier = Callable[[bytes, bytes], bool]  # (signing input, signature bytes) -> valid?

RSA_BITS = 2048
MIN_RSA_BITS = 2048  # smaller public keys in a JWK Set are refused
_P256_ORDER_BYTES = 32
_SHA256 = hashes.SHA256()
_PKCS1 = padding.PKCS1v15()


class KeyFormatError(_InternalError, ValueError):
    """A stored private key or a published JWK is not a usable key of the expected algorithm."""


def generate_private_key(algorithm: Algorithm) -> PrivateKey:
    """A fresh private key for an asymmetric ``algorithm``."""
    if algorithm == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    raise KeyFormatError(f"{algorithm} has no private key")


def private_key_text(key: PrivateKey) -> str:
    """A private key as unencrypted PKCS#8 PEM: how the key table stores it."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def algorithm_of(key: PrivateKey | PublicKey) -> Algorithm:
    """The one JWS algorithm this library uses a key with."""
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return "EdDSA"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        if isinstance(key.curve, ec.SECP256R1):
            return "ES256"
        raise KeyFormatError(f"EC keys must be on P-256 (ES256), not {key.curve.name}")
    if key.key_size < MIN_RSA_BITS:
        raise KeyFormatError(f"RSA keys must have at least {MIN_RSA_BITS} bits")
    return "RS256"


def load_private_key(text: str, algorithm: Algorithm) -> PrivateKey:
    """Read a PEM private key, which must be a key for ``algorithm``."""
    try:
        key = serialization.load_pem_private_key(text.encode("ascii"), password=None)
    except (ValueError, TypeError, UnicodeEncodeError, UnsupportedAlgorithm) as exc:
        raise KeyFormatError(f"not a PEM private key ({type(exc).__name__})") from None
    if not isinstance(
        key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    ):
        raise KeyFormatError(f"{type(key).__name__} keys are not supported")
    found = algorithm_of(key)
    if found != algorithm:
        raise KeyFormatError(f"the key is an {found} key, not {algorithm}")
    return key


def make_signer(key: PrivateKey) -> Signer:
    """The function that signs a JWS signing input with ``key`` (signature bytes as JWS wants
    them: ECDSA as the fixed-length ``r || s``, not DER)."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign
    if isinstance(key, ec.EllipticCurvePrivateKey):
        ecdsa = ec.ECDSA(_SHA256)

        def sign_es256(data: bytes) -> bytes:
            r, s = decode_dss_signature(key.sign(data, ecdsa))
            return r.to_bytes(_P256_ORDER_BYTES, "big") + s.to_bytes(_P256_ORDER_BYTES, "big")

        return sign_es256
    rsa_key = key

    def sign_rs256(data: bytes) -> bytes:
        return rsa_key.sign(data, _PKCS1, _SHA256)

    return sign_rs256


def make_verifier(key: PublicKey) -> Verifier:
    """The function that checks a JWS signature with ``key``; never raises on a bad one."""
    if isinstance(key, ed25519.Ed25519PublicKey):
        ed_verify = key.verify

        def verify_eddsa(data: bytes, signature: bytes) -> bool:
            try:
                ed_verify(signature, data)
            except InvalidSignature:
                return False
            return True

        return verify_eddsa
    if isinstance(key, ec.EllipticCurvePublicKey):
        ecdsa = ec.ECDSA(_SHA256)
        ec_verify = key.verify

        def verify_es256(data: bytes, signature: bytes) -> bool:
            if len(signature) != 2 * _P256_ORDER_BYTES:
                return False
            r = int.from_bytes(signature[:_P256_ORDER_BYTES], "big")
            s = int.from_bytes(signature[_P256_ORDER_BYTES:], "big")
            try:
                ec_verify(encode_dss_signature(r, s), data, ecdsa)
            except (InvalidSignature, ValueError):
                return False
            return True

        return verify_es256
    rsa_verify = key.verify

    def verify_rs256(data: bytes, signature: bytes) -> bool:
        try:
            rsa_verify(signature, data, _PKCS1, _SHA256)
        except (InvalidSignature, ValueError):
            return False
        return True

    return verify_rs256


def make_hmac_signer(secret: bytes) -> Signer:
    def sign_hs256(data: bytes) -> bytes:
        return hmac.digest(secret, data, "sha256")

    return sign_hs256


def make_hmac_verifier(secret: bytes) -> Verifier:
    def verify_hs256(data: bytes, signature: bytes) -> bool:
        return hmac.compare_digest(hmac.digest(secret, data, "sha256"), signature)

    return verify_hs256


def _int_b64(value: int) -> str:
    return b64url(value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))


def public_jwk(key: PublicKey, kid: str) -> dict[str, str]:
    """The public key as a JWK (RFC 7517) with its ``kid``, ``alg`` and ``use``."""
    algorithm = algorithm_of(key)
    jwk: dict[str, str]
    if isinstance(key, ed25519.Ed25519PublicKey):
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw)}
    elif isinstance(key, ec.EllipticCurvePublicKey):
        numbers = key.public_numbers()
        jwk = {
            "kty": "EC",
            "crv": "P-256",
            "x": b64url(numbers.x.to_bytes(_P256_ORDER_BYTES, "big")),
            "y": b64url(numbers.y.to_bytes(_P256_ORDER_BYTES, "big")),
        }
    else:
        rsa_numbers = key.public_numbers()
        jwk = {"kty": "RSA", "n": _int_b64(rsa_numbers.n), "e": _int_b64(rsa_numbers.e)}
    return {**jwk, "kid": kid, "alg": algorithm, "use": "sig"}


def _member(jwk: dict[str, Any], name: str) -> bytes:
    value = jwk.get(name)
    if type(value) is not str or not value or len(value) > 2048:
        raise KeyFormatError(f"the JWK's {name!r} is missing or not base64url text")
    try:
        return from_b64url_canonical(value)
    except ValueError:
        raise KeyFormatError(f"the JWK's {name!r} is not canonical base64url") from None


def public_key_from_jwk(jwk: object) -> tuple[str, Algorithm, PublicKey]:
    """``(kid, algorithm, key)`` of a published signing JWK; :class:`KeyFormatError` unless it is
    an Ed25519, P-256 or RSA (2048+ bits) public key whose ``alg``, if given, matches its type.
    Symmetric (``oct``) and private members are refused."""
    if type(jwk) is not dict:
        raise KeyFormatError("a JWK must be a JSON object")
    jwk = cast(dict[str, Any], jwk)
    kid = jwk.get("kid")
    if type(kid) is not str or not kid or len(kid) > 200:
        raise KeyFormatError("the JWK has no usable 'kid'")
    if jwk.get("use", "sig") != "sig":
        raise KeyFormatError(f"the JWK {kid!r} is not a signing key")
    if "d" in jwk or "p" in jwk:
        raise KeyFormatError(f"the JWK {kid!r} holds private key material")
    kty = jwk.get("kty")
    key: PublicKey
    try:
        if kty == "OKP" and jwk.get("crv") == "Ed25519":
            key = ed25519.Ed25519PublicKey.from_public_bytes(_member(jwk, "x"))
        elif kty == "EC" and jwk.get("crv") == "P-256":
            x, y = _member(jwk, "x"), _member(jwk, "y")
            if len(x) != _P256_ORDER_BYTES or len(y) != _P256_ORDER_BYTES:
                raise KeyFormatError(f"the JWK {kid!r} has coordinates of the wrong size")
            key = ec.EllipticCurvePublicNumbers(
                int.from_bytes(x, "big"), int.from_bytes(y, "big"), ec.SECP256R1()
            ).public_key()
        elif kty == "RSA":
            n, e = _member(jwk, "n"), _member(jwk, "e")
            key = rsa.RSAPublicNumbers(
                int.from_bytes(e, "big"), int.from_bytes(n, "big")
            ).public_key()
        else:
            raise KeyFormatError(f"the JWK {kid!r} is not an Ed25519, P-256 or RSA key")
    except ValueError as exc:
        if isinstance(exc, KeyFormatError):
            raise
        raise KeyFormatError(f"the JWK {kid!r} is not a valid public key") from None
    algorithm = algorithm_of(key)
    if jwk.get("alg", algorithm) != algorithm:
        raise KeyFormatError(f"the JWK {kid!r} says alg {jwk.get('alg')!r} for an {algorithm} key")
    return kid, algorithm, key


def public_key_id(key: PublicKey) -> str:
    """A stable, non-secret id for a public key (of a key returned by a key getter)."""
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "g" + hashlib.sha256(der).hexdigest()[:16]
