"""Attack resistance (RFC 8725 and the issue's list): each attack gets the right refusal, cheaply,
without side effects and without leaking tokens into logs."""

from __future__ import annotations

import base64
import contextlib
import json
import logging

import jwt
import pytest

import sessionward._tokens.access as access_module
import sessionward._tokens.refresh as refresh_module
from sessionward import (
    SessionManager,
    TokenTheftDetectedError,
    TryRefreshTokenError,
    UnauthorisedError,
)
from tests.conftest import FakeClock


def b64(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.fixture
def sm(tmp_path, clock: FakeClock):
    manager = SessionManager(
        refresh_path="/r", database_url=f"sqlite:///{tmp_path}/attacks.sqlite3", clock=clock
    )
    yield manager
    manager.close()


@pytest.fixture
def victim(sm: SessionManager):
    return sm.create_new_session("victim", {"role": "user"})


def forged(sm: SessionManager, victim, header: dict, claims_patch: dict | None = None) -> str:
    """A token with our real key and real claims but a header of the attacker's choosing."""
    key = sm.signing_keys()[-1]
    claims = jwt.decode(victim.access_token.value, key.secret, algorithms=["HS256"])
    claims.update(claims_patch or {})
    head = b64(json.dumps(header, separators=(",", ":")))
    body = b64(json.dumps(claims, separators=(",", ":")))
    signing_input = f"{head}.{body}"
    import hashlib
    import hmac

    signature = b64(hmac.new(key.secret, signing_input.encode(), hashlib.sha256).digest())
    return f"{signing_input}.{signature}"


@pytest.mark.parametrize(
    "alg", ["none", "None", "NONE", "nOnE", "hs256", "HS512", "HS384", "RS256", "ES256", "", None]
)
def test_alg_variants_are_refused(sm, victim, alg):
    kid = sm.signing_keys()[-1].kid
    header = {"alg": alg, "kid": kid, "typ": "JWT"} if alg is not None else {"kid": kid}
    with pytest.raises(TryRefreshTokenError):
        sm.get_session(forged(sm, victim, header))


def test_alg_none_without_signature_is_refused(sm, victim):
    kid = sm.signing_keys()[-1].kid
    token = forged(sm, victim, {"alg": "none", "kid": kid, "typ": "JWT"})
    unsigned = token.rsplit(".", 1)[0] + "."
    with pytest.raises(TryRefreshTokenError):
        sm.get_session(unsigned)


@pytest.mark.parametrize(
    "extra",
    [
        {"jku": "https://evil.example/jwks.json"},
        {"x5u": "https://evil.example/cert.pem"},
        {"jwk": {"kty": "oct", "k": "QUFBQQ"}},
        {"crit": ["exp"]},
        {"x5c": ["MIIB"]},
        {"cty": "JWT"},
    ],
)
def test_header_parameters_that_fetch_or_override_keys_are_refused(sm, victim, extra):
    kid = sm.signing_keys()[-1].kid
    # Signed with the real key: only the unexpected header parameter is wrong.
    with pytest.raises(TryRefreshTokenError):
        sm.get_session(forged(sm, victim, {"alg": "HS256", "kid": kid, "typ": "JWT", **extra}))


@pytest.mark.parametrize(
    "kid",
    ["../../etc/passwd", "' OR 1=1 --", "0", "99999999999", "x" * 5000, 17, None, ["a"], "1e9"],
    ids=["path", "sql", "zero", "far-future", "huge", "int", "null", "list", "float"],
)
def test_hostile_kids_are_refused_without_database_work(sm, victim, kid, driver_statements):
    token = forged(sm, victim, {"alg": "HS256", "kid": kid, "typ": "JWT"})
    statements = driver_statements.watch(sm.store)
    with pytest.raises(TryRefreshTokenError):
        sm.get_session(token)
    assert statements == []


def test_reordered_or_duplicated_header_keys_are_refused(sm, victim):
    kid = sm.signing_keys()[-1].kid
    key = sm.signing_keys()[-1].secret
    body = victim.access_token.value.split(".")[1]
    for raw_header in (
        f'{{"typ":"JWT","alg":"HS256","kid":"{kid}"}}',
        f'{{"alg":"none","alg":"HS256","kid":"{kid}","typ":"JWT"}}',
        f'{{"alg":"HS256","kid":"{kid}","typ":"JWT","kid":"{kid}"}}',
    ):
        head = b64(raw_header)
        import hashlib
        import hmac

        sig = b64(hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest())
        with pytest.raises(TryRefreshTokenError):
            sm.get_session(f"{head}.{body}.{sig}")


def test_duplicate_claim_keys_cannot_smuggle_a_user(sm, victim):
    """Only bodies we signed are parsed; an attacker cannot sign a body with duplicate keys."""
    head, body, _ = victim.access_token.value.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    smuggled = json.dumps(claims)[:-1] + ',"sub":"admin"}'
    token = f"{head}.{b64(smuggled)}.{victim.access_token.value.split('.')[2]}"
    with pytest.raises(TryRefreshTokenError):
        sm.get_session(token)


def test_token_of_another_deployment_is_refused(sm, victim, tmp_path):
    other = SessionManager(refresh_path="/r", database_url=f"sqlite:///{tmp_path}/other.sqlite3")
    try:
        theirs = other.create_new_session("victim", {"role": "admin"})
        with pytest.raises(TryRefreshTokenError):
            sm.get_session(theirs.access_token.value)
        with pytest.raises(UnauthorisedError):
            sm.refresh_session(theirs.refresh_token.value)
    finally:
        other.close()


def test_oversized_tokens_are_refused_before_any_decoding(sm, victim, monkeypatch):
    calls = {"hmac": 0, "decrypt": 0}
    real_digest = access_module._hmac_digest

    def counting_digest(*args):
        calls["hmac"] += 1
        return real_digest(*args)

    monkeypatch.setattr(access_module, "_hmac_digest", counting_digest)
    monkeypatch.setattr(
        refresh_module,
        "from_b64url_canonical",
        lambda *_: (_ for _ in ()).throw(AssertionError("decoded an oversized token")),
    )
    huge_access = victim.access_token.value + "A" * 10_000
    with pytest.raises(TryRefreshTokenError):
        sm.get_session(huge_access)
    with pytest.raises(UnauthorisedError):
        sm.refresh_session("A" * 100_000)
    assert calls["hmac"] == 0


def test_refresh_garbage_costs_at_most_one_decryption_and_no_database(
    sm, monkeypatch, driver_statements
):
    sm.create_tables()
    decrypts = []
    real = refresh_module.AESGCM.decrypt

    def counting(self, *args):
        decrypts.append(1)
        return real(self, *args)

    monkeypatch.setattr(refresh_module.AESGCM, "decrypt", counting)
    sm.create_tables()  # the keys are loaded once per process; then garbage costs no query
    statements = driver_statements.watch(sm.store)
    garbage = [b64(bytes([i % 256]) * 60) for i in range(500)]
    for token in garbage:
        with pytest.raises(UnauthorisedError):
            sm.refresh_session(token)
    assert len(decrypts) <= len(garbage)
    assert statements == []


def test_probes_never_create_rows(sm, victim):
    before = sm.get_all_session_handles_for_user("victim")
    for probe in ("x", victim.access_token.value, victim.id_refresh_token.value, "a.b.c"):
        with pytest.raises((UnauthorisedError, TryRefreshTokenError)):
            sm.refresh_session(probe)
        with contextlib.suppress(TryRefreshTokenError):
            sm.get_session(probe)
    for user in ("victim", "x", "a.b.c"):
        with pytest.raises(UnauthorisedError):
            sm.get_session_data(user)
    assert sm.get_all_session_handles_for_user("victim") == before
    assert sm.get_all_session_handles_for_user("x") == []


def test_session_fixation_login_always_gets_a_fresh_session(sm, victim):
    """Logging in never adopts a session the client already carries."""
    attacker_planted = sm.create_new_session("attacker")
    logged_in = sm.create_new_session("victim")
    assert logged_in.session.handle not in (attacker_planted.session.handle, victim.session.handle)
    assert sm.get_session(attacker_planted.access_token.value).session.user_id == "attacker"
    assert set(sm.get_all_session_handles_for_user("victim")) == {
        victim.session.handle,
        logged_in.session.handle,
    }


def test_anti_csrf_token_is_bound_to_its_access_token(sm):
    alice = sm.create_new_session("alice")
    mallory = sm.create_new_session("mallory")
    with pytest.raises(TryRefreshTokenError):
        sm.get_session(alice.access_token.value, mallory.anti_csrf_token)
    with pytest.raises(TryRefreshTokenError):
        sm.get_session(alice.access_token.value, "é" * 43)


def test_tokens_never_reach_the_logs(sm, caplog, clock):
    caplog.set_level(logging.DEBUG)
    sm.store.engine.echo = True
    try:
        tokens = sm.create_new_session("alice", {"p": 1}, {"secret": "data"})
        refreshed = sm.refresh_session(tokens.refresh_token.value)
        promoted = sm.get_session(refreshed.access_token.value, refreshed.anti_csrf_token)
        clock.advance(31)
        with pytest.raises(TokenTheftDetectedError) as caught:
            sm.refresh_session(tokens.refresh_token.value)
        logging.getLogger("app").error("theft: %r %s", caught.value, caught.value)
        logging.getLogger("app").info("tokens: %r %r", tokens, refreshed.refresh_token)
    finally:
        sm.store.engine.echo = False
    text = caplog.text
    assert "refresh_token" in text.lower() or "SELECT" in text  # logging did happen
    secrets = [
        tokens.access_token.value,
        tokens.refresh_token.value,
        refreshed.refresh_token.value,
        refreshed.access_token.value,
        promoted.new_access_token.value,
        tokens.anti_csrf_token,
        "data",
    ]
    for secret in secrets:
        assert secret not in text


def signed_body(sm: SessionManager, victim, body_segment: str) -> str:
    """A token whose body segment is exactly ``body_segment``, signed with our real key: what a
    bug in our own signer would produce. The claims reader trusts the encoding of what is
    signed, never the content."""
    import hashlib
    import hmac

    key = sm.signing_keys()[-1]
    head = victim.access_token.value.split(".", 1)[0]
    signing_input = f"{head}.{body_segment}"
    signature = b64(hmac.new(key.secret, signing_input.encode(), hashlib.sha256).digest())
    return f"{signing_input}.{signature}"


@pytest.mark.parametrize(
    "body",
    [
        b"[1, 2]",
        b'"a string"',
        b'{"exp": 99999999999} trailing',
        b' {"exp": 99999999999}',
        b'{"exp": 99999999999}{}',
        b"\xff\xfe not utf-8",
        b'{"exp": 99999999999, "sid": 1, "sub": "x", "rt": "y"}',
        b"",
    ],
)
def test_signed_but_ill_formed_claims_are_refused(sm, victim, body):
    with pytest.raises(TryRefreshTokenError):
        sm.get_session(signed_body(sm, victim, b64(body)))


@pytest.mark.parametrize("segment", ["!!!!", "e30=", "e30", "e3 0"])
def test_signed_segments_outside_the_alphabet_are_refused_or_read_exactly(sm, victim, segment):
    # "e30" is "{}": valid JSON but no claims; the others are not base64url at all.
    with pytest.raises(TryRefreshTokenError):
        sm.get_session(signed_body(sm, victim, segment))


@pytest.mark.parametrize("extra", [b" trailing", b"{}", b"\n", b"\x00"])
def test_signed_valid_claims_with_anything_after_them_are_refused(sm, victim, extra):
    body = victim.access_token.value.split(".")[1]
    claims = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    assert sm.get_session(signed_body(sm, victim, b64(claims))).session.user_id == "victim"
    with pytest.raises(TryRefreshTokenError):
        sm.get_session(signed_body(sm, victim, b64(claims + extra)))
