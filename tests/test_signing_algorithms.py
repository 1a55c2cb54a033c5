"""Asymmetric access tokens (EdDSA, ES256, RS256): signing, the JWK Set, rotation, changing the
algorithm of a running deployment, static and user-supplied keys. On every backend."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import create_engine, select

from sessionward import GeneralError, TryRefreshTokenError
from sessionward._encoding import b64url
from sessionward._storage.engines import resolve_url
from sessionward._storage.schema import build_tables
from sessionward._tokens.algorithms import private_key_text
from sessionward._tokens.keys import JWKS_MAX_AGE_S, SWITCH_DELAY_MS
from tests.conftest import FakeClock

HOUR = 3600
ASYMMETRIC = ["EdDSA", "ES256", "RS256"]


def header(token: str) -> dict[str, Any]:
    return dict(jwt.get_unverified_header(token))


def tables_of(manager: Any) -> dict[str, str]:
    config = manager.config
    return {
        "signing_key_table": config.signing_key_table,
        "refresh_token_table": config.refresh_token_table,
        "revocation_table": config.revocation_table,
    }


def key_rows(manager: Any) -> dict[str, tuple[str, str | None]]:
    """The key table as stored: name -> (key_value, key_material)."""
    keys = build_tables(**tables_of(manager)).keys
    engine = create_engine(resolve_url(manager.config.database_url, asynchronous=False))
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(keys.c.key_name, keys.c.key_value, keys.c.key_material))
            return {name: (value, material) for name, value, material in rows}
    finally:
        engine.dispose()


@pytest.mark.parametrize("algorithm", ASYMMETRIC)
def test_tokens_verify_here_and_with_any_jwt_library_from_the_jwks(make_manager, algorithm):
    manager = make_manager(signing_algorithm=algorithm)
    tokens = manager.create_new_session("alice", {"role": "admin"})
    token = tokens.access_token.value
    key = manager.signing_keys()[-1]
    assert header(token) == {"alg": algorithm, "kid": key.kid, "typ": "JWT"}
    assert key.kid.endswith(f"-{algorithm}") and key.secret is None
    assert manager.get_session(token, tokens.anti_csrf_token).session.jwt_payload == {
        "role": "admin"
    }

    published = manager.jwks()
    assert [jwk["kid"] for jwk in published.jwk_set["keys"]] == [key.kid]
    assert all("d" not in jwk for jwk in published.jwk_set["keys"])  # no private part
    public = jwt.PyJWKSet.from_dict(published.jwk_set)[key.kid].key
    claims = jwt.decode(token, public, algorithms=[algorithm])
    assert claims["sub"] == "alice" and claims["pld"] == {"role": "admin"}

    # The private key is stored as PEM next to the algorithm's name, in the key's own row.
    value, material = key_rows(manager)[f"access_token_signing_key:{key.kid}"]
    assert value == algorithm and material is not None and "PRIVATE KEY" in material

    refreshed = manager.refresh_session(tokens.refresh_token.value)
    assert header(refreshed.access_token.value)["alg"] == algorithm


def signed_hs256(header_fields: dict[str, Any], claims: dict[str, Any], secret: bytes) -> str:
    signing_input = (
        f"{b64url(json.dumps(header_fields).encode())}.{b64url(json.dumps(claims).encode())}"
    )
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


def forgeries(token: str, key: Any, *, key_url: str = "http://127.0.0.1/k") -> dict[str, str]:
    """Tokens an attacker makes from a real asymmetric ``token`` signed by ``key``: algorithm
    confusion (the public key or its JWK as an HMAC secret), ``alg: none``, changed claims,
    another key's signature under our ``kid``, altered signatures, and headers that name a key
    (``jwk``) or a key URL (``jku``). Every verifier must refuse every one."""
    head, body, signature = token.split(".")
    evil = {**jwt.decode(token, options={"verify_signature": False}), "sub": "mallory"}
    assert key.public is not None
    public_pem = key.public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    attacker = ed25519.Ed25519PrivateKey.generate()
    attacker_jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(attacker.public_key()))
    return {
        "the public key as an HMAC secret": signed_hs256(
            {"alg": "HS256", "kid": key.kid, "typ": "JWT"}, evil, public_pem
        ),
        "the JWK text as an HMAC secret": signed_hs256(
            {"alg": "HS256", "kid": key.kid, "typ": "JWT"}, evil, json.dumps(key.jwk()).encode()
        ),
        "alg none": f"{b64url(json.dumps({'alg': 'none', 'kid': key.kid}).encode())}.{body}.",
        "claims changed": f"{head}.{b64url(json.dumps(evil).encode())}.{signature}",
        "signature of another key": jwt.encode(
            evil, attacker, algorithm="EdDSA", headers={"kid": key.kid}
        ),
        "signature cut": f"{head}.{body}.{signature[:-4]}",
        "signature padded": f"{head}.{body}.{signature}==",
        "a key in the header": jwt.encode(
            evil, attacker, algorithm="EdDSA", headers={"kid": key.kid, "jwk": attacker_jwk}
        ),
        "a key URL in the header": jwt.encode(
            evil, attacker, algorithm="EdDSA", headers={"kid": key.kid, "jku": key_url}
        ),
        "a new kid with its own key": jwt.encode(
            evil, attacker, algorithm="EdDSA", headers={"kid": "new", "jwk": attacker_jwk}
        ),
        "not a token": "garbage",
    }


@pytest.mark.parametrize("algorithm", ASYMMETRIC)
def test_forged_and_confused_tokens_are_refused(make_manager, algorithm):
    manager = make_manager(signing_algorithm=algorithm)
    tokens = manager.create_new_session("alice")
    token = tokens.access_token.value
    for name, forged in forgeries(token, manager.signing_keys()[-1]).items():
        with pytest.raises(TryRefreshTokenError):
            manager.get_session(forged, tokens.anti_csrf_token)
            pytest.fail(f"accepted: {name}")
    assert manager.get_session(token, tokens.anti_csrf_token).session.user_id == "alice"


def test_eddsa_rotation_publishes_the_next_key_before_it_signs(make_manager, clock: FakeClock):
    manager = make_manager(
        signing_algorithm="EdDSA", signing_key_rotation_interval=3600, access_token_validity=HOUR
    )
    clock.now = 1_800_000_000 + 10 * 60  # 10 minutes into an hour slot
    old = manager.create_new_session("alice")
    first = manager.jwks()
    assert len(first.jwk_set["keys"]) == 1
    assert first.max_age == JWKS_MAX_AGE_S  # the next publication is 44 minutes away
    clock.advance(45 * 60)  # the last tenth of the slot: the successor is published
    published = manager.jwks()
    kids = [jwk["kid"] for jwk in published.jwk_set["keys"]]
    assert len(kids) == 2 and kids[0] == header(old.access_token.value)["kid"]
    assert header(manager.create_new_session("x").access_token.value)["kid"] == kids[0]
    assert published.max_age <= 5 * 60  # until the successor starts signing
    clock.advance(6 * 60)  # the next slot: the published successor signs
    new = manager.create_new_session("bob")
    assert header(new.access_token.value)["kid"] == kids[1]
    assert manager.get_session(old.access_token.value).session.user_id == "alice"
    # Once every token of the old key has expired, it is no longer published.
    clock.advance(HOUR + 10)
    manager.create_new_session("carol")
    assert kids[0] not in [jwk["kid"] for jwk in manager.jwks().jwk_set["keys"]]


def test_changing_the_algorithm_of_a_running_deployment(make_manager, clock: FakeClock):
    before = make_manager(access_token_validity=HOUR)
    old = before.create_new_session("alice")
    assert header(old.access_token.value)["alg"] == "HS256"
    assert before.jwks().jwk_set == {"keys": []}  # a secret is never published

    after = make_manager(tables=tables_of(before), signing_algorithm="EdDSA")
    published = after.jwks()
    [jwk] = published.jwk_set["keys"]  # the new key is published at once...
    still = after.create_new_session("bob")
    assert header(still.access_token.value)["alg"] == "HS256"  # ...but does not sign yet
    clock.advance(SWITCH_DELAY_MS / 1000 + 60)
    new = after.create_new_session("carol")
    assert header(new.access_token.value) == {"alg": "EdDSA", "kid": jwk["kid"], "typ": "JWT"}
    # Tokens of the old algorithm keep verifying until they expire, in either process.
    for manager in (before, after):
        assert manager.get_session(old.access_token.value).session.user_id == "alice"
        assert manager.get_session(new.access_token.value).session.user_id == "carol"
    assert after.refresh_session(old.refresh_token.value).session.user_id == "alice"


def test_static_asymmetric_key_and_switching_a_static_key(make_manager, clock: FakeClock):
    hs = make_manager(signing_key_dynamic=False, access_token_validity=600)
    old = hs.create_new_session("alice")
    ed = make_manager(
        tables=tables_of(hs),
        signing_key_dynamic=False,
        signing_algorithm="EdDSA",
        access_token_validity=600,
    )
    new = ed.create_new_session("bob")
    assert header(new.access_token.value)["kid"] == "static-EdDSA"
    assert [jwk["kid"] for jwk in ed.jwks().jwk_set["keys"]] == ["static-EdDSA"]
    assert ed.get_session(old.access_token.value).session.user_id == "alice"  # still valid
    clock.advance(30 * 24 * HOUR)
    later = ed.create_new_session("carol")
    assert header(later.access_token.value)["kid"] == "static-EdDSA"  # never rotates
    with pytest.raises(TryRefreshTokenError):
        ed.get_session(old.access_token.value)


def test_key_getter_with_a_pem_private_key(make_manager):
    keys = [ed25519.Ed25519PrivateKey.generate() for _ in range(2)]
    current = {"key": private_key_text(keys[0])}
    manager = make_manager(signing_algorithm="EdDSA", signing_key_getter=lambda: current["key"])
    first = manager.create_new_session("alice")
    jwt.decode(first.access_token.value, keys[0].public_key(), algorithms=["EdDSA"])
    current["key"] = private_key_text(keys[1])
    second = manager.create_new_session("bob")
    jwt.decode(second.access_token.value, keys[1].public_key(), algorithms=["EdDSA"])
    assert manager.get_session(first.access_token.value).session.user_id == "alice"
    assert len(manager.jwks().jwk_set["keys"]) == 2

    current["key"] = "a-long-enough-hmac-secret-but-not-a-pem-key"
    with pytest.raises(GeneralError, match="PEM private key for EdDSA"):
        manager.create_new_session("carol")


def test_an_unreadable_key_row_is_a_clear_general_error(make_manager):
    manager = make_manager(signing_algorithm="EdDSA")
    manager.create_new_session("alice")
    keys = build_tables(**tables_of(manager)).keys
    engine = create_engine(resolve_url(manager.config.database_url, asynchronous=False))
    try:
        with engine.begin() as conn:
            conn.execute(keys.update().where(keys.c.key_value == "EdDSA").values(key_material="x"))
    finally:
        engine.dispose()
    fresh = make_manager(tables=tables_of(manager), signing_algorithm="EdDSA")
    with pytest.raises(GeneralError, match="is unusable: not a PEM private key"):
        fresh.create_new_session("bob")


def test_older_versions_never_read_an_asymmetric_row_as_a_secret(make_manager):
    """Rows of asymmetric keys carry a suffix that the HS256-only parser of earlier versions
    rejects (``digits.isdigit()``), so those versions ignore them."""
    manager = make_manager(signing_algorithm="ES256")
    manager.create_new_session("alice")
    names = [n for n in key_rows(manager) if n.startswith("access_token_signing_key:")]
    assert names and all(not n.split(":", 1)[1].isdigit() for n in names)
