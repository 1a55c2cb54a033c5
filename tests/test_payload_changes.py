"""Claims that change mid-session (update, merge, mark_fresh) on every backend: they persist,
refreshes carry them, the grace window still serves a duplicate exactly the child the first
refresh got, theft is still detected, concurrent merges are all kept, and no two different
children are ever sealed under one nonce."""

from __future__ import annotations

import threading
from typing import Any

import jwt
import pytest

from sessionward import (
    AsyncSessionManager,
    InvalidArgumentError,
    TokenTheftDetectedError,
    UnauthorisedError,
)
from sessionward._encoding import from_b64url
from sessionward._operations.minting import child_refresh_token
from sessionward._tokens.refresh import RefreshClaims
from tests.conftest import FakeClock


def claims_of(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


def test_update_and_merge_persist_and_reissue_the_callers_token(make_manager, clock):
    manager = make_manager()
    tokens = manager.create_new_session("alice", {"role": "user", "team": "a"})
    access = tokens.access_token.value
    clock.advance(10)
    merged = manager.merge_into_jwt_payload(
        tokens.session.handle, {"role": "admin", "team": None}, access_token=access
    )
    assert merged.session.jwt_payload == {"role": "admin"}
    assert merged.new_access_token is not None
    new = claims_of(merged.new_access_token.value)
    old = claims_of(access)
    assert new["pld"] == {"role": "admin"}
    assert {k: v for k, v in new.items() if k != "pld"} == {
        k: v for k, v in old.items() if k != "pld"
    }  # same session, refresh token, anti-CSRF token and expiry
    got = manager.get_session(merged.new_access_token.value, tokens.anti_csrf_token)
    assert got.session.jwt_payload == {"role": "admin"}
    # The old token is still valid until it expires, with its old payload (no DB per verify).
    assert manager.get_session(access, tokens.anti_csrf_token).session.jwt_payload == {
        "role": "user",
        "team": "a",
    }
    # The change is in the row: the next refresh carries it, and so do the ones after it.
    refreshed = manager.refresh_session(tokens.refresh_token.value)
    assert refreshed.session.jwt_payload == {"role": "admin"}
    manager.get_session(refreshed.access_token.value, refreshed.anti_csrf_token)
    again = manager.refresh_session(refreshed.refresh_token.value)
    assert claims_of(again.access_token.value)["pld"] == {"role": "admin"}

    replaced = manager.update_jwt_payload(tokens.session.handle, ["any", "json"])
    assert replaced.session.jwt_payload == ["any", "json"] and replaced.new_access_token is None
    with pytest.raises(InvalidArgumentError, match="not a JSON object"):
        manager.merge_into_jwt_payload(tokens.session.handle, {"role": "x"})
    with pytest.raises(InvalidArgumentError, match="dict with string keys"):
        manager.merge_into_jwt_payload(tokens.session.handle, ["role"])  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="another session"):
        other = manager.create_new_session("bob")
        manager.update_jwt_payload(tokens.session.handle, {}, access_token=other.access_token.value)
    manager.revoke_session(tokens.session.handle)
    with pytest.raises(UnauthorisedError):
        manager.update_jwt_payload(tokens.session.handle, {})


def test_concurrent_merges_leave_every_key(make_manager, clock: FakeClock):
    manager = make_manager()
    tokens = manager.create_new_session("alice", {})
    handle = tokens.session.handle
    barrier = threading.Barrier(8)

    def merge(i: int) -> None:
        barrier.wait()
        manager.merge_into_jwt_payload(handle, {f"k{i}": i})

    threads = [threading.Thread(target=merge, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    clock.advance(1)  # (a refresh in the very millisecond of a change carries it one later)
    refreshed = manager.refresh_session(tokens.refresh_token.value)
    assert refreshed.session.jwt_payload == {f"k{i}": i for i in range(8)}


def test_a_duplicate_within_the_window_gets_the_same_child_across_a_payload_change(
    make_manager, clock: FakeClock
):
    manager = make_manager(refresh_grace_window=30)
    tokens = manager.create_new_session("alice", {"role": "user"})
    handle, parent = tokens.session.handle, tokens.refresh_token.value
    clock.advance(5)
    first = manager.refresh_session(parent)
    clock.advance(2)
    manager.merge_into_jwt_payload(handle, {"role": "admin"})  # after the child was issued
    clock.advance(2)
    duplicate = manager.refresh_session(parent)  # a racing tab, inside the window
    assert duplicate.refresh_token.value == first.refresh_token.value
    assert duplicate.session.jwt_payload == {"role": "user"}  # the child the first one got
    # The child goes on; its own refresh picks the change up.
    manager.get_session(first.access_token.value, first.anti_csrf_token)  # promotes it
    clock.advance(2)
    late = manager.refresh_session(parent)  # the parent again, after promotion, in the window
    assert late.refresh_token.value == first.refresh_token.value
    clock.advance(1)
    next_one = manager.refresh_session(first.refresh_token.value)
    assert next_one.session.jwt_payload == {"role": "admin"}

    # Outside the window, the parent is a stolen copy, payload change or not.
    clock.advance(60)
    with pytest.raises(TokenTheftDetectedError):
        manager.refresh_session(parent)


def test_a_change_before_the_first_refresh_is_carried_and_duplicates_match(
    make_manager, clock: FakeClock
):
    manager = make_manager(refresh_grace_window=30)
    tokens = manager.create_new_session("alice", {"role": "user"})
    manager.merge_into_jwt_payload(tokens.session.handle, {"role": "admin"})
    clock.advance(3)
    first = manager.refresh_session(tokens.refresh_token.value)
    assert first.session.jwt_payload == {"role": "admin"}
    clock.advance(3)
    duplicate = manager.refresh_session(tokens.refresh_token.value)
    assert duplicate.refresh_token.value == first.refresh_token.value


def test_children_of_one_parent_and_anchor_never_share_a_nonce_across_versions(make_manager):
    manager = make_manager(refresh_grace_window=30)
    manager.create_tables()  # loads the keys
    context = manager._context
    base = RefreshClaims("h", "alice", None, 0, 1, '{"role":"user"}', None)
    changed = RefreshClaims("h", "alice", None, 0, 1, '{"role":"admin"}', 1_800_000_000_123)
    a = child_refresh_token(context, base, "p" * 64, 1_800_000_000_000)
    b = child_refresh_token(context, changed, "p" * 64, 1_800_000_000_000)
    assert a != b
    assert from_b64url(a)[:12] != from_b64url(b)[:12]  # distinct AES-GCM nonces
    assert child_refresh_token(context, base, "p" * 64, 1_800_000_000_000) == a  # deterministic


def test_mark_fresh_moves_the_authentication_time(make_manager, clock: FakeClock):
    manager = make_manager()
    tokens = manager.create_new_session("alice")
    login_ms = int(clock.now * 1000)
    assert tokens.session.authenticated_at == login_ms
    assert "aat" not in claims_of(tokens.access_token.value)
    clock.advance(600)
    fresh = manager.mark_fresh(tokens.session.handle, access_token=tokens.access_token.value)
    assert fresh.session.authenticated_at == login_ms + 600_000
    assert fresh.new_access_token is not None
    assert claims_of(fresh.new_access_token.value)["aat"] == login_ms + 600_000
    verified = manager.get_session(fresh.new_access_token.value, tokens.anti_csrf_token)
    assert verified.session.authenticated_at == login_ms + 600_000
    refreshed = manager.refresh_session(tokens.refresh_token.value)
    assert refreshed.session.authenticated_at == login_ms + 600_000


def test_merge_for_every_session_of_a_user(make_manager):
    manager = make_manager()
    mine = [manager.create_new_session("alice", {"role": "user"}) for _ in range(3)]
    bob = manager.create_new_session("bob", {"role": "user"})
    keep = mine[0].session.handle
    assert (
        manager.merge_into_jwt_payload_for_user("alice", {"role": "admin"}, except_handle=keep) == 2
    )
    payloads = [manager.refresh_session(t.refresh_token.value).session.jwt_payload for t in mine]
    assert payloads == [{"role": "user"}, {"role": "admin"}, {"role": "admin"}]
    assert manager.refresh_session(bob.refresh_token.value).session.jwt_payload == {"role": "user"}


async def test_the_async_manager_changes_payloads_too(make_config, clock):
    manager = AsyncSessionManager(make_config(), clock=clock)
    try:
        tokens = await manager.create_new_session("alice", {"a": 1})
        merged = await manager.merge_into_jwt_payload(
            tokens.session.handle, {"b": 2}, access_token=tokens.access_token.value
        )
        assert merged.session.jwt_payload == {"a": 1, "b": 2}
        assert merged.new_access_token is not None
        assert (await manager.mark_fresh(tokens.session.handle)).session.jwt_payload == {
            "a": 1,
            "b": 2,
        }
        clock.advance(1)
        refreshed = await manager.refresh_session(tokens.refresh_token.value)
        assert refreshed.session.jwt_payload == {"a": 1, "b": 2}
        assert await manager.merge_into_jwt_payload_for_user("alice", {"c": 3}) == 1
    finally:
        await manager.close()
