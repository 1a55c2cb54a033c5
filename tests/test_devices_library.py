"""Sessions users can see and end (issue 10): the inventory, signing out other devices, a cap on
sessions per user, and revocation that reaches other processes (here: other managers on the
same tables, on a shared fake clock) within the interval, with no query per request."""

from __future__ import annotations

from typing import Any

import pytest

from sessionward import (
    ClientContext,
    ConfigError,
    SessionHooks,
    SessionManager,
    TokenTheftDetectedError,
    UnauthorisedError,
)
from tests.conftest import FakeClock

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
LAPTOP = ClientContext("203.0.113.10", FIREFOX)
PHONE = ClientContext("198.51.100.20", IPHONE)
PHONE_ON_WIFI = ClientContext("203.0.113.11", IPHONE)


def sibling(manager: SessionManager, clock: FakeClock, **settings: Any) -> SessionManager:
    """Another process of the same deployment: same tables, its own state (keys, cache)."""
    from dataclasses import replace

    return SessionManager(replace(manager.config, **settings), clock=clock)


def test_the_inventory_shows_device_place_and_last_activity(
    manager: SessionManager, clock: FakeClock
):
    laptop = manager.create_new_session("alice", client=LAPTOP)
    clock.advance(60)
    phone = manager.create_new_session("alice", client=PHONE)
    clock.advance(60)
    manager.refresh_session(laptop.refresh_token.value, client=LAPTOP)  # the laptop is active
    clock.advance(60)
    manager.refresh_session(phone.refresh_token.value, client=PHONE_ON_WIFI)  # phone moved
    listed = manager.list_sessions_for_user("alice")
    assert [s.handle for s in listed] == [phone.session.handle, laptop.session.handle]
    newest, older = listed
    now = int(clock.now * 1000)
    assert (newest.device, newest.client_ip, newest.user_agent) == (
        "Mobile Safari on iOS",
        PHONE_ON_WIFI.ip,
        IPHONE,
    )
    assert newest.last_refreshed_at == now and newest.created_at == now - 120_000
    assert (older.device, older.client_ip) == ("Firefox on Linux", LAPTOP.ip)
    assert older.last_refreshed_at == now - 60_000 and older.created_at == now - 180_000
    assert all(s.expires_at > now and not s.current for s in listed)
    as_json = newest.as_json()
    assert as_json["lastActiveAt"] == now and as_json["device"] == "Mobile Safari on iOS"


def test_a_session_that_never_refreshed_shows_its_login(manager: SessionManager, clock):
    tokens = manager.create_new_session("alice", client=PHONE)
    (listed,) = manager.list_sessions_for_user("alice")
    assert listed.handle == tokens.session.handle
    assert listed.last_refreshed_at == listed.created_at == int(clock.now * 1000)
    assert (listed.client_ip, listed.device) == (PHONE.ip, "Mobile Safari on iOS")


def test_sign_out_all_other_devices(make_manager: Any, clock: FakeClock):
    seen: list[Any] = []
    manager = make_manager()
    manager = SessionManager(
        manager.config, clock=clock, hooks=SessionHooks(on_session_revoked=seen.append)
    )
    try:
        mine = manager.create_new_session("alice", client=LAPTOP)
        others = [manager.create_new_session("alice", client=PHONE) for _ in range(2)]
        bobs = manager.create_new_session("bob")
        assert manager.revoke_other_sessions("alice", mine.session.handle) == 2
        assert manager.get_all_session_handles_for_user("alice") == [mine.session.handle]
        for other in others:  # their access tokens are refused at once in this process
            with pytest.raises(UnauthorisedError):
                manager.get_session(other.access_token.value, other.anti_csrf_token)
        assert manager.get_session(mine.access_token.value, mine.anti_csrf_token)
        assert manager.get_session(bobs.access_token.value, bobs.anti_csrf_token)
        assert sorted((e.session_handle, e.reason) for e in seen) == sorted(
            (o.session.handle, "logout") for o in others
        )
        assert manager.revoke_other_sessions("alice", mine.session.handle) == 0
    finally:
        manager.close()


def test_the_cap_evicts_the_least_recently_active(make_manager: Any, clock: FakeClock):
    seen: list[Any] = []
    base = make_manager(max_sessions_per_user=2)
    manager = SessionManager(
        base.config, clock=clock, hooks=SessionHooks(on_session_revoked=seen.append)
    )
    try:
        first = manager.create_new_session("alice", client=LAPTOP)
        clock.advance(10)
        second = manager.create_new_session("alice", client=PHONE)
        clock.advance(10)
        manager.refresh_session(first.refresh_token.value, client=LAPTOP)  # first is active
        clock.advance(10)
        third = manager.create_new_session("alice", client=PHONE)
        handles = manager.get_all_session_handles_for_user("alice")
        assert handles == [third.session.handle, first.session.handle]
        assert [(e.session_handle, e.reason) for e in seen] == [(second.session.handle, "evicted")]
        with pytest.raises(UnauthorisedError):
            manager.refresh_session(second.refresh_token.value, client=PHONE)
        with pytest.raises(UnauthorisedError):
            manager.get_session(second.access_token.value, second.anti_csrf_token)
        manager.create_new_session("bob")  # other users are not counted against alice
        assert len(manager.get_all_session_handles_for_user("alice")) == 2
    finally:
        manager.close()


@pytest.mark.parametrize("cap", [0, -1, "3", 2.5])
def test_the_cap_is_validated(make_config: Any, cap: Any):
    with pytest.raises(ConfigError, match="max_sessions_per_user"):
        make_config(max_sessions_per_user=cap)


def test_revocations_reach_other_processes_within_the_interval(
    manager: SessionManager, clock: FakeClock
):
    other = sibling(manager, clock)
    try:
        ann = manager.create_new_session("ann")
        bob1, bob2 = (manager.create_new_session("bob") for _ in range(2))
        for tokens in (ann, bob1, bob2):  # the other process has read the feed and trusts them
            other.get_session(tokens.access_token.value, tokens.anti_csrf_token)
        manager.revoke_session(ann.session.handle)
        manager.revoke_all_sessions_for_user("bob")
        # Within the interval the other process may still accept them (it has not looked)...
        clock.advance(1)
        other.get_session(ann.access_token.value, ann.anti_csrf_token)
        # ...and once the interval is over, it refuses them: revoked everywhere.
        clock.advance(1)
        for tokens in (ann, bob1, bob2):
            with pytest.raises(UnauthorisedError):
                other.get_session(tokens.access_token.value, tokens.anti_csrf_token)
        # bob logs in again: the user-wide revocation concerns only earlier sessions.
        clock.advance(0.001)
        again = manager.create_new_session("bob")
        assert other.get_session(again.access_token.value, again.anti_csrf_token)
    finally:
        other.close()


def test_theft_revokes_the_access_tokens_everywhere(manager: SessionManager, clock: FakeClock):
    other = sibling(manager, clock)
    try:
        victim = manager.create_new_session("alice", client=LAPTOP)
        refreshed = manager.refresh_session(victim.refresh_token.value, client=LAPTOP)
        confirmed = manager.get_session(refreshed.access_token.value, refreshed.anti_csrf_token)
        assert confirmed.new_access_token is not None
        other.get_session(confirmed.new_access_token.value, refreshed.anti_csrf_token)
        with pytest.raises(TokenTheftDetectedError):
            other.refresh_session(victim.refresh_token.value, client=PHONE)
        clock.advance(2)
        with pytest.raises(UnauthorisedError):
            manager.get_session(confirmed.new_access_token.value, refreshed.anti_csrf_token)
    finally:
        other.close()


def test_a_process_idle_for_long_looks_before_it_trusts(manager: SessionManager, clock):
    other = sibling(manager, clock)
    try:
        tokens = manager.create_new_session("alice")
        other.get_session(tokens.access_token.value, tokens.anti_csrf_token)
        clock.advance(3600)  # idle for an hour: everything it read is old
        manager.revoke_session(tokens.session.handle)
        with pytest.raises(UnauthorisedError):
            other.get_session(tokens.access_token.value, tokens.anti_csrf_token)
    finally:
        other.close()


def test_entries_are_forgotten_once_no_access_token_they_concern_can_live(
    manager: SessionManager, clock: FakeClock
):
    tokens = manager.create_new_session("alice")
    manager.revoke_session(tokens.session.handle)
    cache = manager._context.revocations
    assert len(cache) == 1
    clock.advance(3600 + 5 + 11)  # validity + leeway + the read margin
    manager.get_session(manager.create_new_session("bob").access_token.value)
    assert len(cache) == 0


def test_exact_and_none_write_no_revocation_rows(make_manager: Any):
    for check in ("exact", "none"):
        manager = make_manager(revocation_check=check)
        tokens = manager.create_new_session("alice")
        manager.revoke_session(tokens.session.handle)
        assert len(manager._context.revocations) == 0, check


def test_enable_blacklisting_means_exact(make_config: Any):
    with pytest.warns(DeprecationWarning, match="enable_blacklisting"):
        assert make_config(enable_blacklisting=True).revocation_mode == "exact"
    assert make_config().revocation_mode == "cached"
    with (
        pytest.warns(DeprecationWarning, match="enable_blacklisting"),
        pytest.raises(ConfigError, match="enable_blacklisting"),
    ):
        make_config(enable_blacklisting=True, revocation_check="cached")
    with pytest.raises(ConfigError, match="revocation_refresh_interval"):
        make_config(revocation_refresh_interval=0)
    with pytest.raises(ConfigError, match="revocation_check"):
        make_config(revocation_check="sometimes")


def test_access_tokens_never_outlive_the_absolute_lifetime(make_manager: Any, clock: FakeClock):
    manager = make_manager(absolute_session_lifetime=3600, access_token_validity=3600)
    tokens = manager.create_new_session("alice")
    clock.advance(1800)
    refreshed = manager.refresh_session(tokens.refresh_token.value)
    session_end = (tokens.refresh_token.expires // 1000) * 1000
    assert refreshed.access_token.expires <= session_end
    assert refreshed.access_token.expires < int(clock.now * 1000) + 3600_000


def test_the_revocation_table_stays_small(manager: SessionManager, clock: FakeClock):
    """Rows are purged once no access token they concern can live, without the weekly purge."""
    from sessionward._flows import run_flow

    def rows() -> int:
        every = manager._context.queries.revocations_since(0, 0)  # drop_after > 0: all rows
        return len(run_flow(every, manager.store))

    manager.revoke_session(manager.create_new_session("alice").session.handle)
    manager.revoke_session(manager.create_new_session("alice").session.handle)
    assert rows() == 2
    clock.advance(3600 + 5 + 11)  # both rows are useless now
    manager.revoke_session(manager.create_new_session("bob").session.handle)
    assert rows() == 1  # bob's: the revocation that wrote it purged the old ones
