"""Issue 19, finding 4: NaN, Infinity and -Infinity are not JSON, but Python's json reads them,
and NaN compares False with everything: a proof with ``iat: NaN`` was never stale. Every proof
and token claim refuses them, and numbers too large for a float (read as infinity) too."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from sessionward import (
    InvalidArgumentError,
    SessionManager,
    TokenTheftDetectedError,
    TryRefreshTokenError,
    UnauthorisedError,
)
from sessionward._proof import ProofKey, ProofOfPossession, token_hash
from tests.conftest import FakeClock

LOGIN_URL = "https://app.example/login"
REFRESH_URL = "https://app.example/session/refresh"
NON_FINITE = ["NaN", "Infinity", "-Infinity", "1e999", "-1e999"]


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class RawProofKey:
    """A client key that signs claims text of its own choosing (what ProofKey never writes)."""

    def __init__(self) -> None:
        self.private = ec.generate_private_key(ec.SECP256R1())
        self.public_jwk = ProofKey(self.private).public_jwk

    def proof(self, method: str, url: str, iat_literal: str, token: str | None = None) -> str:
        claims: dict[str, Any] = {"jti": b64(hashlib.sha256(iat_literal.encode()).digest())}
        claims |= {"htm": method, "htu": url}
        if token is not None:
            claims["ath"] = token_hash(token)
        claims_text = json.dumps(claims, separators=(",", ":"))[:-1] + f',"iat":{iat_literal}}}'
        header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": self.public_jwk}
        signing_input = (
            f"{b64(json.dumps(header, separators=(',', ':')).encode())}.{b64(claims_text.encode())}"
        )
        der = self.private.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return f"{signing_input}.{b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


@pytest.mark.parametrize("literal", NON_FINITE)
def test_a_login_proof_with_a_non_finite_iat_is_refused(
    manager: SessionManager, literal: str
) -> None:
    key = RawProofKey()
    proof = ProofOfPossession(key.proof("POST", LOGIN_URL, literal), "POST", LOGIN_URL)
    with pytest.raises(InvalidArgumentError, match="DPoP proof is invalid"):
        manager.create_new_session("alice", proof=proof)
    assert manager.get_all_session_handles_for_user("alice") == []


@pytest.mark.parametrize("literal", NON_FINITE)
def test_a_refresh_proof_with_a_non_finite_iat_is_refused(
    manager: SessionManager, clock: FakeClock, literal: str
) -> None:
    key = RawProofKey()
    login = ProofOfPossession(key.proof("POST", LOGIN_URL, str(int(clock.now))), "POST", LOGIN_URL)
    tokens = manager.create_new_session("alice", proof=login)
    rt = tokens.refresh_token.value
    proof = ProofOfPossession(
        key.proof("POST", REFRESH_URL, literal, token=rt), "POST", REFRESH_URL
    )
    with pytest.raises(TokenTheftDetectedError, match="proof_invalid"):
        manager.refresh_session(rt, proof=proof)


def test_a_finite_iat_as_a_float_or_a_huge_int_is_judged_by_its_value(
    manager: SessionManager, clock: FakeClock
) -> None:
    key = RawProofKey()
    near = ProofOfPossession(key.proof("POST", LOGIN_URL, f"{clock.now + 0.5}"), "POST", LOGIN_URL)
    assert manager.create_new_session("alice", proof=near).refresh_token.value
    # An int too large for a float made ``now - iat`` raise OverflowError: a 500, not a refusal.
    huge = ProofOfPossession(key.proof("POST", LOGIN_URL, "9" * 400), "POST", LOGIN_URL)
    with pytest.raises(InvalidArgumentError, match="iat"):
        manager.create_new_session("alice", proof=huge)


# --- token claims signed or sealed with the real keys ------------------------------------------


def _resigned_access_token(sm: SessionManager, token: str, pld_text: str) -> str:
    """``token`` with its payload replaced by ``pld_text`` (raw JSON-ish text), signed with the
    deployment's real key: what a bug in our own signer would produce."""
    key = sm.signing_keys()[-1]
    head, body, _ = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["pld"] = "@PLD@"
    claims_text = json.dumps(claims, separators=(",", ":")).replace('"@PLD@"', pld_text)
    signing_input = f"{head}.{b64(claims_text.encode())}"
    assert key.secret is not None
    signature = b64(hmac.new(key.secret, signing_input.encode(), hashlib.sha256).digest())
    return f"{signing_input}.{signature}"


@pytest.mark.parametrize("literal", NON_FINITE)
def test_an_access_token_with_non_finite_claims_is_refused(
    tmp_path: Any, clock: FakeClock, literal: str
) -> None:
    sm = SessionManager(
        refresh_path="/r", database_url=f"sqlite:///{tmp_path}/nan.sqlite3", clock=clock
    )
    try:
        token = sm.create_new_session("victim", {"role": "user"}).access_token.value
        control = _resigned_access_token(sm, token, '{"role":"user","n":1.5}')
        assert sm.get_session(control).session.jwt_payload == {"role": "user", "n": 1.5}
        for pld in (literal, f'{{"role":"user","n":{literal}}}', f"[{literal}]"):
            with pytest.raises(TryRefreshTokenError):
                sm.get_session(_resigned_access_token(sm, token, pld))
    finally:
        sm.close()


@pytest.mark.parametrize("literal", NON_FINITE)
def test_a_refresh_token_sealed_with_non_finite_content_is_refused(
    manager: SessionManager, literal: str
) -> None:
    tokens = manager.create_new_session("alice", {"role": "user"})
    cipher = manager._context.keys.refresh.cipher
    claims = cipher.open(tokens.refresh_token.value)
    forged = cipher.seal(dataclasses.replace(claims, payload_json=f'{{"n":{literal}}}'), 0)
    with pytest.raises(UnauthorisedError, match="invalid"):
        manager.refresh_session(forged)
