"""Bad input everywhere gets the right error kind, cheaply, and never an unexpected exception."""

from __future__ import annotations

import base64
import json

import jwt
import pytest

from sessionward import (
    GeneralError,
    InvalidArgumentError,
    SessionManager,
    TryRefreshTokenError,
    UnauthorisedError,
)
from sessionward._storage.engines import make_sync_engine


@pytest.fixture
def sqlite_manager(tmp_path, clock):
    """Token checks do not depend on the backend: one SQLite file is enough."""
    manager = SessionManager(
        refresh_path="/r", database_url=f"sqlite:///{tmp_path}/tokens.sqlite3", clock=clock
    )
    yield manager
    manager.close()


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_every_flipped_character_of_an_access_token_is_refused(sqlite_manager: SessionManager):
    token = sqlite_manager.create_new_session("alice", {"role": "user"}).access_token.value
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
    for i, char in enumerate(token):
        replacement = alphabet[(alphabet.index(char) + 1) % len(alphabet)]
        tampered = token[:i] + replacement + token[i + 1 :]
        with pytest.raises(TryRefreshTokenError):
            sqlite_manager.get_session(tampered)


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        ".",
        "..",
        "a.b.c",
        "a.b.c.d",
        "x" * 1_000_000,
        "é.ü.ß",
        "\ud800.\udfff.x",
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
        None,
        123,
        b"bytes.are.not.tokens",
        ["a", "b"],
    ],
)
def test_garbage_access_tokens_ask_for_refresh(sqlite_manager: SessionManager, garbage):
    with pytest.raises(TryRefreshTokenError):
        sqlite_manager.get_session(garbage)


def test_forged_tokens_with_other_algorithms_are_refused(sqlite_manager: SessionManager):
    real = sqlite_manager.create_new_session("alice").access_token.value
    key = sqlite_manager.signing_keys()[-1]
    claims = jwt.decode(real, key.secret, algorithms=["HS256"])
    claims["sub"] = "mallory"
    header_none = b64(json.dumps({"alg": "none", "kid": key.kid, "typ": "JWT"}).encode())
    payload = b64(json.dumps(claims).encode())
    forged = [
        f"{header_none}.{payload}.",
        jwt.encode(claims, key.secret, algorithm="HS512", headers={"kid": key.kid}),
        jwt.encode(claims, "wrong-key" * 4, algorithm="HS256", headers={"kid": key.kid}),
    ]
    for token in forged:
        with pytest.raises(TryRefreshTokenError):
            sqlite_manager.get_session(token)


def test_non_canonical_signature_encoding_is_refused(sqlite_manager: SessionManager):
    token = sqlite_manager.create_new_session("alice").access_token.value
    head, body, sig = token.split(".")
    # 32 bytes -> 43 chars; the last char carries 2 unused bits. Flip them.
    last = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".index(sig[-1])
    alt = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[last ^ 1]
    assert base64.urlsafe_b64decode(sig + "=") == base64.urlsafe_b64decode(sig[:-1] + alt + "=")
    with pytest.raises(TryRefreshTokenError):
        sqlite_manager.get_session(f"{head}.{body}.{sig[:-1]}{alt}")
    with pytest.raises(TryRefreshTokenError):
        sqlite_manager.get_session(f"{head}.{body}.{sig}==")


@pytest.mark.parametrize(
    "garbage",
    ["", "short", "x" * 100, "A" * 1_000_000, "=" * 60, "é" * 50, None, 42, b"x" * 64],
)
def test_garbage_refresh_tokens_are_unauthorised(sqlite_manager: SessionManager, garbage):
    with pytest.raises(UnauthorisedError):
        sqlite_manager.refresh_session(garbage)


def test_tokens_in_the_wrong_slot(sqlite_manager: SessionManager):
    tokens = sqlite_manager.create_new_session("alice")
    with pytest.raises(UnauthorisedError):
        sqlite_manager.refresh_session(tokens.access_token.value)
    with pytest.raises(TryRefreshTokenError):
        sqlite_manager.get_session(tokens.refresh_token.value)
    with pytest.raises(TryRefreshTokenError):
        sqlite_manager.get_session(tokens.id_refresh_token.value)


def test_every_flipped_character_of_a_refresh_token_is_refused(sqlite_manager: SessionManager):
    token = sqlite_manager.create_new_session("alice").refresh_token.value
    for i in range(0, len(token), 3):
        char = "A" if token[i] != "A" else "B"
        with pytest.raises(UnauthorisedError):
            sqlite_manager.refresh_session(token[:i] + char + token[i + 1 :])


def test_refresh_token_of_another_deployment_is_refused(sqlite_manager, tmp_path):
    ours = sqlite_manager
    theirs = SessionManager(refresh_path="/r", database_url=f"sqlite:///{tmp_path}/other.sqlite3")
    foreign = theirs.create_new_session("alice")
    with pytest.raises(UnauthorisedError):
        ours.refresh_session(foreign.refresh_token.value)
    with pytest.raises(TryRefreshTokenError):
        ours.get_session(foreign.access_token.value)


@pytest.mark.parametrize("user_id", [None, 42, b"alice", "", "x" * 129, ["alice"]])
def test_bad_user_ids(sqlite_manager: SessionManager, user_id):
    with pytest.raises(InvalidArgumentError, match="user_id"):
        sqlite_manager.create_new_session(user_id)
    with pytest.raises(InvalidArgumentError, match="user_id"):
        sqlite_manager.revoke_all_sessions_for_user(user_id)


@pytest.mark.parametrize("value", [object(), {1, 2}, float("nan"), {"k": b"bytes"}, lambda: None])
def test_non_json_payload_and_data(sqlite_manager: SessionManager, value):
    with pytest.raises(InvalidArgumentError, match="jwt_payload"):
        sqlite_manager.create_new_session("alice", value)
    with pytest.raises(InvalidArgumentError, match="session_data"):
        sqlite_manager.create_new_session("alice", None, value)
    handle = sqlite_manager.create_new_session("alice").session.handle
    with pytest.raises(InvalidArgumentError, match="session_data"):
        sqlite_manager.update_session_data(handle, value)
    assert sqlite_manager.get_session_data(handle) is None  # nothing half-written


def test_payload_too_large_for_a_cookie_is_refused_before_anything_is_stored(
    sqlite_manager: SessionManager,
):
    with pytest.raises(InvalidArgumentError, match="too large"):
        sqlite_manager.create_new_session("alice", {"blob": "x" * 5000})
    assert sqlite_manager.get_all_session_handles_for_user("alice") == []
    # Large values belong in session data, which is not sent to the client.
    tokens = sqlite_manager.create_new_session("alice", None, {"blob": "x" * 50_000})
    assert len(sqlite_manager.get_session_data(tokens.session.handle)["blob"]) == 50_000


def test_bad_handles(sqlite_manager: SessionManager):
    for handle in (None, 7, ""):
        with pytest.raises(InvalidArgumentError, match="session_handle"):
            sqlite_manager.revoke_session(handle)
        with pytest.raises(InvalidArgumentError, match="session_handle"):
            sqlite_manager.get_session_data(handle)
    assert sqlite_manager.revoke_session("x" * 255) is False


def test_database_down_is_a_general_error_and_loses_nothing(make_manager, backend, tmp_path):
    manager = make_manager()
    tokens = manager.create_new_session("alice")
    store = manager.store
    working = store.engine  # type: ignore[attr-defined]
    store._discard_idle(invalidate=False)  # type: ignore[attr-defined] # (kept connections)
    store.engine = make_sync_engine(  # type: ignore[attr-defined]
        "postgresql://nobody@127.0.0.1:1/none"
        if backend != "sqlite"
        else f"sqlite:///{tmp_path}/missing-dir/x.sqlite3"
    )
    try:
        with pytest.raises(GeneralError):
            manager.refresh_session(tokens.refresh_token.value)
        with pytest.raises(GeneralError):
            manager.create_new_session("bob")
        with pytest.raises(GeneralError):
            manager.revoke_session(tokens.session.handle)
        # Verification needs no database when blacklisting is off.
        assert manager.get_session(tokens.access_token.value).session.user_id == "alice"
    finally:
        store.engine.dispose()  # type: ignore[attr-defined]
        store.engine = working  # type: ignore[attr-defined]
    # The database is back: the same refresh token works; no session was lost.
    refreshed = manager.refresh_session(tokens.refresh_token.value)
    assert refreshed.session.handle == tokens.session.handle
    assert manager.get_all_session_handles_for_user("bob") == []


def test_unreachable_database_at_start_is_a_general_error():
    manager = SessionManager(
        refresh_path="/r", database_url="mysql://root@127.0.0.1:1/nothing_here"
    )
    with pytest.raises(GeneralError, match="database error"):
        manager.create_new_session("alice")


def test_verify_makes_no_database_call(make_manager, driver_statements):
    manager = make_manager(revocation_check="none")
    tokens = manager.create_new_session("alice")
    statements = driver_statements.watch(manager.store)
    for _ in range(1000):
        manager.get_session(tokens.access_token.value, tokens.anti_csrf_token)
    assert statements == []


def test_cached_revocation_reads_at_most_once_per_interval(make_manager, clock, driver_statements):
    """The default check: verify reads the new revocations once per interval, no more."""
    manager = make_manager()  # revocation_check="cached", interval 2 s
    tokens = manager.create_new_session("alice")
    statements = driver_statements.watch(manager.store)
    for _second in range(10):
        for _ in range(100):
            manager.get_session(tokens.access_token.value, tokens.anti_csrf_token)
        clock.advance(1)
    assert 5 <= len(statements) <= 6  # 10 s of verifies, 1 000 of them: a read per 2 s
    assert all("revocation" in s.lower() or "rv_" in s for s in statements)


def test_verify_with_blacklisting_makes_one_lookup(make_manager, driver_statements):
    manager = make_manager(revocation_check="exact")
    tokens = manager.create_new_session("alice")
    statements = driver_statements.watch(manager.store)
    for _ in range(10):
        manager.get_session(tokens.access_token.value)
    assert len(statements) == 10
    assert all(s.lstrip().upper().startswith("SELECT") for s in statements)
