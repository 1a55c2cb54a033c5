"""Beyond the original: the grace window for duplicate refreshes, the absolute session lifetime,
the clock leeway, revoke-on-theft, and key rotation that costs no refreshes."""

from __future__ import annotations

import pytest

from sessionward import (
    SessionManager,
    TokenTheftDetectedError,
    TryRefreshTokenError,
    UnauthorisedError,
)
from tests.conftest import FakeClock


def test_duplicate_refreshes_within_the_window_get_the_same_tokens(manager: SessionManager):
    tokens = manager.create_new_session("alice")
    first = manager.refresh_session(tokens.refresh_token.value)
    second = manager.refresh_session(tokens.refresh_token.value)
    assert second.refresh_token.value == first.refresh_token.value
    assert second.anti_csrf_token == first.anti_csrf_token
    assert second.id_refresh_token.value == first.id_refresh_token.value
    # Whichever access token is used first, the other keeps working.
    assert manager.get_session(second.access_token.value).new_access_token is not None
    assert manager.get_session(first.access_token.value).new_access_token is not None


def test_parent_presented_after_promotion_within_the_window_gets_the_same_child(
    manager: SessionManager, clock: FakeClock
):
    tokens = manager.create_new_session("alice")
    fast = manager.refresh_session(tokens.refresh_token.value)
    manager.get_session(fast.access_token.value)  # promotes the child
    clock.advance(29)
    slow = manager.refresh_session(tokens.refresh_token.value)  # a slow duplicate arrives
    assert slow.refresh_token.value == fast.refresh_token.value
    # Both clients hold the current parent and can keep going.
    nxt = manager.refresh_session(slow.refresh_token.value)
    assert manager.get_session(nxt.access_token.value).new_access_token is not None


def test_reuse_after_the_window_is_theft_and_revokes_everything(
    manager: SessionManager, clock: FakeClock
):
    tokens = manager.create_new_session("alice")
    child = manager.refresh_session(tokens.refresh_token.value)
    manager.get_session(child.access_token.value)
    clock.advance(31)
    with pytest.raises(TokenTheftDetectedError):
        manager.refresh_session(tokens.refresh_token.value)
    # Every token of the session is refused now, including the one issued inside the window.
    with pytest.raises(UnauthorisedError):
        manager.refresh_session(child.refresh_token.value)
    assert manager.get_all_session_handles_for_user("alice") == []


def test_grandparent_is_theft_even_within_the_window(manager: SessionManager, clock: FakeClock):
    tokens = manager.create_new_session("alice")
    child = manager.refresh_session(tokens.refresh_token.value)
    manager.get_session(child.access_token.value)
    grandchild = manager.refresh_session(child.refresh_token.value)
    manager.get_session(grandchild.access_token.value)
    clock.advance(1)
    with pytest.raises(TokenTheftDetectedError):
        manager.refresh_session(tokens.refresh_token.value)


def test_duplicates_outside_the_window_are_distinct_and_the_loser_is_caught(
    manager: SessionManager, clock: FakeClock
):
    tokens = manager.create_new_session("alice")
    first = manager.refresh_session(tokens.refresh_token.value)
    clock.advance(31)
    second = manager.refresh_session(tokens.refresh_token.value)  # e.g. a thief, later
    assert second.refresh_token.value != first.refresh_token.value
    manager.get_session(second.access_token.value)
    clock.advance(31)
    with pytest.raises(TokenTheftDetectedError):
        manager.refresh_session(first.refresh_token.value)


def test_theft_without_revoke_leaves_the_row_to_the_application(make_manager, clock):
    manager = make_manager(revoke_session_on_theft=False)
    tokens = manager.create_new_session("alice")
    child = manager.refresh_session(tokens.refresh_token.value)
    manager.get_session(child.access_token.value)
    clock.advance(31)
    with pytest.raises(TokenTheftDetectedError) as caught:
        manager.refresh_session(tokens.refresh_token.value)
    assert manager.get_all_session_handles_for_user("alice") == [caught.value.session_handle]


def test_absolute_lifetime_ends_an_active_session(make_manager, clock: FakeClock):
    manager = make_manager(absolute_session_lifetime=8 * 3600, refresh_token_validity=3 * 3600)
    tokens = manager.create_new_session("alice")
    assert tokens.refresh_token.expires == int(clock.now * 1000) + 3 * 3600 * 1000
    current = tokens
    for _ in range(3):  # active all day: refresh every 2 h
        clock.advance(2 * 3600)
        current = manager.refresh_session(current.refresh_token.value)
        manager.get_session(current.access_token.value)
    clock.advance(2 * 3600 + 1)  # 8 h after login
    with pytest.raises(UnauthorisedError):
        manager.refresh_session(current.refresh_token.value)


def test_absolute_lifetime_caps_the_session_expiry(make_manager, clock: FakeClock):
    manager = make_manager(absolute_session_lifetime=3600, refresh_token_validity=86400)
    tokens = manager.create_new_session("alice")
    assert tokens.refresh_token.expires == int(clock.now * 1000) + 3600 * 1000
    clock.advance(1800)
    refreshed = manager.refresh_session(tokens.refresh_token.value)
    assert refreshed.refresh_token.expires == tokens.refresh_token.expires


def test_leeway_is_bounded(make_manager, clock: FakeClock):
    manager = make_manager(access_token_leeway=10)
    tokens = manager.create_new_session("alice")
    clock.advance(3600 + 9)
    assert manager.get_session(tokens.access_token.value).session.user_id == "alice"
    clock.advance(2)
    with pytest.raises(TryRefreshTokenError):
        manager.get_session(tokens.access_token.value)


def test_zero_leeway_expires_exactly(make_manager, clock: FakeClock):
    manager = make_manager(access_token_leeway=0)
    tokens = manager.create_new_session("alice")
    clock.advance(3599.9)
    assert manager.get_session(tokens.access_token.value).session.user_id == "alice"
    clock.advance(0.1)
    with pytest.raises(TryRefreshTokenError):
        manager.get_session(tokens.access_token.value)


def test_key_rotation_costs_no_refresh_and_no_logout(make_manager, clock: FakeClock):
    """Clients active across many rotations never see TRY_REFRESH before their token expires."""
    manager = make_manager(signing_key_rotation_interval=3600, access_token_validity=1800)
    other_process = make_manager(
        tables={
            "signing_key_table": manager.config.signing_key_table,
            "refresh_token_table": manager.config.refresh_token_table,
            "revocation_table": manager.config.revocation_table,
        }
    )
    clients = [manager.create_new_session(f"user{i}") for i in range(5)]
    refreshes = 0
    for _ in range(12 * 6):  # 12 hours in 10-minute steps: 12 rotations
        clock.advance(600)
        for i, tokens in enumerate(clients):
            verifier = other_process if i % 2 else manager
            try:
                result = verifier.get_session(tokens.access_token.value)
                assert result.session.user_id == f"user{i}"
            except TryRefreshTokenError:
                # Only ever because the token itself expired, never because of a rotation.
                assert tokens.access_token.expires <= int(clock.now * 1000)
                refreshes += 1
                clients[i] = manager.refresh_session(tokens.refresh_token.value)
                manager.get_session(clients[i].access_token.value)
    # Exactly the refreshes that expiry demands: a 30-minute token (+5 s leeway) checked every
    # 10 minutes is found expired at every 4th check; no rotation adds one.
    assert refreshes == 5 * (12 * 6 // 4)
    assert len(manager.signing_keys()) <= 3
