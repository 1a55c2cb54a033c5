"""Sessions that end with the browser ("remember me" off), through the managers on every backend
(issue 21): ``persistent=False`` marks the tokens (``per: false``) and the token set, and the
session slides on an idle limit of its own (``session_idle_timeout``) instead of the refresh-token
validity: each confirmed refresh moves its end to now + the idle limit, and a session left idle
that long ends. Persistent sessions keep the refresh-token validity; both obey
``absolute_session_lifetime``. Times are moved by the fake clock."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest

from sessionward import (
    AsyncSessionManager,
    Config,
    ConfigError,
    InvalidArgumentError,
    SessionManager,
    SessionTokens,
    UnauthorisedError,
)
from tests.conftest import ConfigFactory, FakeClock, read_row

HOUR = 3600
DAY = 86_400
IDLE = 12 * HOUR  # the default session_idle_timeout
VALIDITY = 100 * DAY  # the default refresh_token_validity


def claims_of(access_token: str) -> dict[str, Any]:
    body = access_token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    return decoded


def now_ms(clock: FakeClock) -> int:
    return int(clock.now * 1000)


def rotate(manager: SessionManager, tokens: SessionTokens) -> SessionTokens:
    """A client's refresh, then its next request with the new access token (the promotion)."""
    refreshed = manager.refresh_session(tokens.refresh_token.value)
    promoted = manager.get_session(refreshed.access_token.value, refreshed.anti_csrf_token)
    assert promoted.new_access_token is not None  # the new pair was confirmed
    return refreshed


def test_a_session_that_ends_with_the_browser_says_so(manager: SessionManager, clock: FakeClock):
    tokens = manager.create_new_session("alice", persistent=False)
    assert tokens.persistent is False
    assert tokens.session.persistent is False
    assert claims_of(tokens.access_token.value)["per"] is False
    assert manager.get_session(tokens.access_token.value).session.persistent is False

    clock.advance(60)
    refreshed = manager.refresh_session(tokens.refresh_token.value)
    assert refreshed.persistent is False
    assert refreshed.session.persistent is False
    assert claims_of(refreshed.access_token.value)["per"] is False
    promoted = manager.get_session(refreshed.access_token.value, refreshed.anti_csrf_token)
    assert promoted.session.persistent is False
    assert promoted.new_access_token is not None
    assert claims_of(promoted.new_access_token.value)["per"] is False
    assert manager.get_session(promoted.new_access_token.value).session.persistent is False
    again = manager.refresh_session(refreshed.refresh_token.value)
    assert again.persistent is False and claims_of(again.access_token.value)["per"] is False


def test_a_persistent_session_says_nothing(manager: SessionManager):
    tokens = manager.create_new_session("alice")
    assert tokens.persistent is True and tokens.session.persistent is True
    assert "per" not in claims_of(tokens.access_token.value)
    refreshed = manager.refresh_session(tokens.refresh_token.value)
    assert refreshed.persistent is True and refreshed.session.persistent is True
    assert "per" not in claims_of(refreshed.access_token.value)
    explicit = manager.create_new_session("alice", persistent=True)
    assert explicit.persistent is True and "per" not in claims_of(explicit.access_token.value)


def test_the_idle_limit_sets_the_end_at_login_and_at_each_promotion(
    manager: SessionManager, clock: FakeClock
):
    tokens = manager.create_new_session("alice", persistent=False)
    start = now_ms(clock)
    assert tokens.refresh_token.expires == start + IDLE * 1000
    assert tokens.id_refresh_token.expires == start + IDLE * 1000
    assert read_row(manager, tokens.session.handle).expires_at == start + IDLE * 1000
    (listed,) = manager.list_sessions_for_user("alice")
    assert listed.expires_at == start + IDLE * 1000

    clock.advance(2 * HOUR)
    refreshed = rotate(manager, tokens)
    row = read_row(manager, tokens.session.handle)
    assert row.expires_at == now_ms(clock) + IDLE * 1000, "now + idle, not the refresh validity"
    assert refreshed.refresh_token.expires == now_ms(clock) + IDLE * 1000


def test_an_idle_session_ends_after_the_idle_limit(manager: SessionManager, clock: FakeClock):
    kept = manager.create_new_session("alice", persistent=False)
    idle = manager.create_new_session("alice", persistent=False)
    clock.advance(IDLE - 1)
    rotate(manager, kept)  # one second before its end: still alive
    clock.advance(2)
    with pytest.raises(UnauthorisedError):
        manager.refresh_session(idle.refresh_token.value)
    assert manager.get_all_session_handles_for_user("alice") == [kept.session.handle]


def test_refreshing_within_the_limit_slides_it(manager: SessionManager, clock: FakeClock):
    tokens = manager.create_new_session("alice", persistent=False)
    start = clock.now
    for _ in range(10):  # 60 hours in all, five times the idle limit
        clock.advance(6 * HOUR)
        tokens = rotate(manager, tokens)
        assert read_row(manager, tokens.session.handle).expires_at == (now_ms(clock) + IDLE * 1000)
    assert clock.now - start == 60 * HOUR > IDLE
    clock.advance(IDLE - 1)
    tokens = rotate(manager, tokens)  # alive at the very last second of the limit
    clock.advance(IDLE + 1)  # then left idle for longer than it
    with pytest.raises(UnauthorisedError):
        manager.refresh_session(tokens.refresh_token.value)
    assert manager.list_sessions_for_user("alice") == []


def test_a_refresh_that_is_not_yet_confirmed_does_not_slide_it(
    manager: SessionManager, clock: FakeClock
):
    """The end moves when the new pair is confirmed (the first request with the new access
    token): a client that refreshes and is then gone leaves the end where it was."""
    tokens = manager.create_new_session("alice", persistent=False)
    end = read_row(manager, tokens.session.handle).expires_at
    clock.advance(HOUR)
    manager.refresh_session(tokens.refresh_token.value)
    assert read_row(manager, tokens.session.handle).expires_at == end


def test_a_persistent_session_keeps_the_refresh_token_validity(
    manager: SessionManager, clock: FakeClock
):
    tokens = manager.create_new_session("alice")
    assert tokens.refresh_token.expires == now_ms(clock) + VALIDITY * 1000
    clock.advance(IDLE + HOUR)  # idle for longer than the idle limit: no matter
    refreshed = rotate(manager, tokens)
    assert read_row(manager, tokens.session.handle).expires_at == now_ms(clock) + VALIDITY * 1000
    clock.advance(50 * DAY)
    rotate(manager, refreshed)


def test_the_idle_limit_never_exceeds_the_refresh_token_validity(
    make_manager: Callable[..., SessionManager], clock: FakeClock
):
    manager = make_manager(refresh_token_validity=2 * HOUR, access_token_validity=HOUR)
    tokens = manager.create_new_session("alice", persistent=False)  # idle 12 h > validity 2 h
    assert read_row(manager, tokens.session.handle).expires_at == now_ms(clock) + 2 * HOUR * 1000
    clock.advance(2 * HOUR + 1)
    with pytest.raises(UnauthorisedError):
        manager.refresh_session(tokens.refresh_token.value)


@pytest.mark.parametrize("persistent", [True, False])
def test_the_absolute_lifetime_bounds_both_kinds(
    make_manager: Callable[..., SessionManager], clock: FakeClock, persistent: bool
):
    manager = make_manager(absolute_session_lifetime=DAY)
    tokens = manager.create_new_session("alice", persistent=persistent)
    created = now_ms(clock)
    for _ in range(3):  # at 6, 12 and 18 hours
        clock.advance(6 * HOUR)
        tokens = rotate(manager, tokens)
    row = read_row(manager, tokens.session.handle)
    # At 18 h: 12 h of idle would end it at 30 h, the validity at 100 days; the lifetime at 24 h.
    assert row.expires_at == created + DAY * 1000
    assert tokens.access_token.expires <= created + DAY * 1000
    clock.advance(6 * HOUR - 1)  # 1 s before the lifetime ends
    last = manager.refresh_session(tokens.refresh_token.value)
    assert last.access_token.expires <= created + DAY * 1000
    clock.advance(1)
    with pytest.raises(UnauthorisedError):
        manager.refresh_session(last.refresh_token.value)


def test_the_idle_limit_must_exceed_the_access_token_validity(
    make_manager: Callable[..., SessionManager],
):
    for idle in (HOUR, HOUR - 1, 60):  # access tokens live an hour
        manager = make_manager(session_idle_timeout=idle)
        with pytest.raises(ConfigError, match="session_idle_timeout"):
            manager.create_new_session("alice", persistent=False)
        assert manager.create_new_session("alice").persistent is True  # persistent: fine
        assert manager.get_all_session_handles_for_user("alice") != []
    manager = make_manager(session_idle_timeout=HOUR + 1)
    assert manager.create_new_session("alice", persistent=False).persistent is False


async def test_the_async_manager_makes_the_same_sessions(
    make_async_manager: Callable[..., AsyncSessionManager], clock: FakeClock
):
    manager = make_async_manager()
    tokens = await manager.create_new_session("alice", persistent=False)
    assert tokens.persistent is False and tokens.session.persistent is False
    assert claims_of(tokens.access_token.value)["per"] is False
    for _ in range(4):  # 40 hours of 10-hour gaps, each within the 12-hour limit
        clock.advance(10 * HOUR)
        refreshed = await manager.refresh_session(tokens.refresh_token.value)
        promoted = await manager.get_session(
            refreshed.access_token.value, refreshed.anti_csrf_token
        )
        assert promoted.session.persistent is False and promoted.new_access_token is not None
        tokens = refreshed
    clock.advance(IDLE + 1)
    with pytest.raises(UnauthorisedError):
        await manager.refresh_session(tokens.refresh_token.value)

    short = make_async_manager(session_idle_timeout=HOUR)
    with pytest.raises(ConfigError, match="session_idle_timeout"):
        await short.create_new_session("alice", persistent=False)
    with pytest.raises(InvalidArgumentError, match="persistent"):
        await manager.create_new_session("alice", persistent="no")  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [0, 1, "no", None, 1.0])
def test_persistent_must_be_a_bool(manager: SessionManager, value: Any):
    with pytest.raises(InvalidArgumentError, match="persistent"):
        manager.create_new_session("alice", persistent=value)
    assert manager.get_all_session_handles_for_user("alice") == []


@pytest.mark.parametrize("idle", [9, 0, -1, 365 * DAY + 1, 3600.0, "3600", None, True])
def test_the_idle_limit_setting_is_validated(make_config: ConfigFactory, idle: Any):
    with pytest.raises(ConfigError, match="session_idle_timeout"):
        make_config(session_idle_timeout=idle)


@pytest.mark.parametrize("idle", [10, 365 * DAY])
def test_the_idle_limit_setting_at_its_bounds(make_config: ConfigFactory, idle: int):
    assert make_config(session_idle_timeout=idle).session_idle_timeout == idle


def test_the_default_idle_limit_is_twelve_hours():
    assert Config(refresh_path="/refresh").session_idle_timeout == 12 * HOUR
