"""The async manager runs the same flows as the sync one; these check it end to end per backend."""

from __future__ import annotations

import asyncio

import pytest

from sessionward import (
    AsyncSessionManager,
    InvalidArgumentError,
    TokenTheftDetectedError,
    TryRefreshTokenError,
    UnauthorisedError,
)
from tests.conftest import FakeClock


async def test_full_life_cycle(async_manager: AsyncSessionManager, clock: FakeClock):
    tokens = await async_manager.create_new_session("alice", {"r": 1}, {"visits": 0})
    verified = await async_manager.get_session(tokens.access_token.value, tokens.anti_csrf_token)
    assert verified.session == tokens.session and verified.new_access_token is None

    clock.advance(3600 + 5)  # validity + default leeway
    with pytest.raises(TryRefreshTokenError):
        await async_manager.get_session(tokens.access_token.value, tokens.anti_csrf_token)
    refreshed = await async_manager.refresh_session(tokens.refresh_token.value)
    promoted = await async_manager.get_session(
        refreshed.access_token.value, refreshed.anti_csrf_token
    )
    assert promoted.new_access_token is not None

    handle = tokens.session.handle
    assert await async_manager.get_session_data(handle) == {"visits": 0}
    await async_manager.update_session_data(handle, {"visits": 1})
    assert await async_manager.get_session_data(handle) == {"visits": 1}
    assert await async_manager.get_all_session_handles_for_user("alice") == [handle]

    clock.advance(31)  # a replay after the grace window is theft
    with pytest.raises(TokenTheftDetectedError) as caught:
        await async_manager.refresh_session(tokens.refresh_token.value)
    assert caught.value.session_handle == handle

    # Theft revoked the session: the legitimate client's tokens are refused too.
    assert await async_manager.get_all_session_handles_for_user("alice") == []
    with pytest.raises(UnauthorisedError):
        await async_manager.refresh_session(refreshed.refresh_token.value)


async def test_concurrent_refreshes_of_distinct_sessions(async_manager: AsyncSessionManager):
    created = await asyncio.gather(
        *(async_manager.create_new_session(f"user{i}") for i in range(20))
    )
    refreshed = await asyncio.gather(
        *(async_manager.refresh_session(t.refresh_token.value) for t in created)
    )
    promoted = await asyncio.gather(
        *(async_manager.get_session(r.access_token.value, r.anti_csrf_token) for r in refreshed)
    )
    assert all(p.new_access_token is not None for p in promoted)
    assert sorted(p.session.user_id for p in promoted) == sorted(f"user{i}" for i in range(20))


async def test_blacklisting_and_revoke(make_async_manager):
    manager = make_async_manager(revocation_check="exact")
    tokens = await manager.create_new_session("alice")
    assert (await manager.get_session(tokens.access_token.value)).session.user_id == "alice"
    assert await manager.revoke_session(tokens.session.handle) is True
    with pytest.raises(UnauthorisedError):
        await manager.get_session(tokens.access_token.value)


async def test_bad_arguments(async_manager: AsyncSessionManager):
    with pytest.raises(InvalidArgumentError):
        await async_manager.create_new_session(123)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError):
        await async_manager.create_new_session("alice", {"x": object()})
    with pytest.raises(UnauthorisedError):
        await async_manager.refresh_session("garbage" * 10)
    with pytest.raises(TryRefreshTokenError):
        await async_manager.get_session("a.b.c")
