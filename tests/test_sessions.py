"""The session protocol end to end on every backend: docs/protocol.md, its operations and the
consequences of its rotation rules."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import jwt
import pytest
from sqlalchemy import MetaData, create_engine, literal_column, select

from sessionward import (
    SessionManager,
    TokenTheftDetectedError,
    TryRefreshTokenError,
    UnauthorisedError,
)
from sessionward._storage.engines import make_sync_engine, resolve_url
from sessionward._storage.schema import build_tables
from sessionward._storage.sql import SyncSqlStore
from tests.conftest import FakeClock


def h(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def stored_rows(manager: SessionManager) -> list[dict[str, object]]:
    config = manager.config
    sessions = build_tables(config.signing_key_table, config.refresh_token_table).sessions
    engine = create_engine(resolve_url(config.database_url, asynchronous=False))
    try:
        with engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(select(sessions))]
    finally:
        engine.dispose()


def use(manager: SessionManager, tokens: object) -> None:
    """Present the access token of a token set once (as a client's next request would)."""
    result = manager.get_session(tokens.access_token.value, tokens.anti_csrf_token)  # type: ignore[attr-defined]
    assert result.session.handle == tokens.session.handle  # type: ignore[attr-defined]


def test_create_returns_full_token_set_and_one_row(manager: SessionManager, clock: FakeClock):
    tokens = manager.create_new_session("alice", {"role": "admin"}, {"secret": 42})

    assert tokens.session.user_id == "alice"
    assert tokens.session.jwt_payload == {"role": "admin"}
    now_ms = int(clock.now * 1000)
    assert tokens.access_token.expires == now_ms + 3600 * 1000
    assert tokens.refresh_token.expires == now_ms + 100 * 86400 * 1000
    assert tokens.id_refresh_token.expires == tokens.refresh_token.expires
    assert tokens.anti_csrf_token and len(tokens.anti_csrf_token) >= 32
    rows = stored_rows(manager)
    assert len(rows) == 1
    row = rows[0]
    assert row["session_handle"] == tokens.session.handle
    assert row["refresh_token_hash_2"] == h(h(tokens.refresh_token.value))
    assert json.loads(row["jwt_user_payload"]) == {"role": "admin"}
    assert json.loads(row["session_info"]) == {"secret": 42}
    assert row["expires_at"] == tokens.refresh_token.expires


def test_only_the_double_hash_is_stored(manager: SessionManager):
    tokens = manager.create_new_session("alice")
    refreshed = manager.refresh_session(tokens.refresh_token.value)
    use(manager, refreshed)
    dump = json.dumps(stored_rows(manager), default=str)
    for secret in (
        tokens.refresh_token.value,
        h(tokens.refresh_token.value),
        refreshed.refresh_token.value,
        h(refreshed.refresh_token.value),
        refreshed.access_token.value,
        refreshed.anti_csrf_token,
    ):
        assert secret not in dump
    assert h(h(refreshed.refresh_token.value)) in dump


def test_access_token_is_a_standard_jwt(manager: SessionManager):
    tokens = manager.create_new_session("alice", {"n": 1})
    key = manager.signing_keys()[-1]
    claims = jwt.decode(tokens.access_token.value, key.secret, algorithms=["HS256"])
    assert claims["sub"] == "alice"
    assert claims["sid"] == tokens.session.handle
    assert claims["pld"] == {"n": 1}
    assert claims["rt"] == h(tokens.refresh_token.value)
    assert "prt" not in claims
    assert claims["csrf"] == tokens.anti_csrf_token
    assert jwt.get_unverified_header(tokens.access_token.value)["kid"] == key.kid


def test_verify_returns_session_and_no_new_token(manager: SessionManager):
    tokens = manager.create_new_session("alice", [1, "two"])
    result = manager.get_session(tokens.access_token.value, tokens.anti_csrf_token)
    assert result.session == tokens.session
    assert result.new_access_token is None


def test_anti_csrf_mismatch_asks_for_refresh(manager: SessionManager):
    tokens = manager.create_new_session("alice")
    with pytest.raises(TryRefreshTokenError):
        manager.get_session(tokens.access_token.value, "wrong")
    # No token presented: the caller chose not to check (e.g. a GET route).
    assert manager.get_session(tokens.access_token.value, None).session.user_id == "alice"


def test_anti_csrf_disabled_issues_no_token(make_manager):
    manager = make_manager(anti_csrf=False)
    tokens = manager.create_new_session("alice")
    assert tokens.anti_csrf_token is None
    assert manager.get_session(tokens.access_token.value, "anything").session.user_id == "alice"


def test_expired_access_token_asks_for_refresh(manager: SessionManager, clock: FakeClock):
    tokens = manager.create_new_session("alice")
    clock.advance(3600 + 5)  # validity + default leeway
    with pytest.raises(TryRefreshTokenError):
        manager.get_session(tokens.access_token.value, tokens.anti_csrf_token)
    refreshed = manager.refresh_session(tokens.refresh_token.value)
    assert manager.get_session(refreshed.access_token.value).session.user_id == "alice"


def test_refresh_rotates_every_token_but_keeps_the_handle(manager: SessionManager):
    tokens = manager.create_new_session("alice", {"p": 1})
    refreshed = manager.refresh_session(tokens.refresh_token.value)
    assert refreshed.session == tokens.session
    assert refreshed.refresh_token.value != tokens.refresh_token.value
    assert refreshed.access_token.value != tokens.access_token.value
    assert refreshed.id_refresh_token.value != tokens.id_refresh_token.value
    assert refreshed.anti_csrf_token != tokens.anti_csrf_token
    # The row is untouched until the child is used (docs/protocol.md#refresh-and-rotation, 3).
    assert stored_rows(manager)[0]["refresh_token_hash_2"] == h(h(tokens.refresh_token.value))


def test_first_use_of_new_access_token_promotes_and_returns_token_without_prt(
    manager: SessionManager,
):
    tokens = manager.create_new_session("alice", {"p": 1})
    refreshed = manager.refresh_session(tokens.refresh_token.value)
    result = manager.get_session(refreshed.access_token.value, refreshed.anti_csrf_token)
    assert result.new_access_token is not None
    assert stored_rows(manager)[0]["refresh_token_hash_2"] == h(h(refreshed.refresh_token.value))
    claims = jwt.decode(
        result.new_access_token.value, manager.signing_keys()[-1].secret, algorithms=["HS256"]
    )
    assert "prt" not in claims
    assert claims["csrf"] == refreshed.anti_csrf_token  # same anti-CSRF token
    assert claims["pld"] == {"p": 1}
    # The confirmed token needs no database work any more.
    again = manager.get_session(result.new_access_token.value, refreshed.anti_csrf_token)
    assert again.new_access_token is None


def test_old_access_token_with_prt_keeps_working_after_promotion(manager: SessionManager):
    tokens = manager.create_new_session("alice")
    refreshed = manager.refresh_session(tokens.refresh_token.value)
    use(manager, refreshed)
    # A second request with the same (not yet replaced) access token: already current.
    result = manager.get_session(refreshed.access_token.value, refreshed.anti_csrf_token)
    assert result.new_access_token is not None


# Theft is detected at once with the original's strict rule (no grace window), and with the
# default grace window as soon as the replay comes later than the window.
STRICT_AND_DEFAULT = pytest.mark.parametrize(
    ("grace", "delay"), [(0, 0), (30, 31)], ids=["strict", "grace-window"]
)


@pytest.fixture
def theft_manager(make_manager, grace: int) -> SessionManager:
    return make_manager(refresh_grace_window=grace)


@STRICT_AND_DEFAULT
def test_thief_refreshes_after_victim(theft_manager: SessionManager, clock: FakeClock, delay):
    manager = theft_manager
    tokens = manager.create_new_session("victim")
    stolen = tokens.refresh_token.value
    victim = manager.refresh_session(tokens.refresh_token.value)
    use(manager, victim)
    clock.advance(delay)
    with pytest.raises(TokenTheftDetectedError) as caught:
        manager.refresh_session(stolen)
    assert caught.value.session_handle == tokens.session.handle
    assert caught.value.user_id == "victim"
    assert isinstance(caught.value, UnauthorisedError)


@STRICT_AND_DEFAULT
def test_victim_refreshes_after_thief(theft_manager: SessionManager, clock: FakeClock, delay):
    manager = theft_manager
    tokens = manager.create_new_session("victim")
    thief = manager.refresh_session(tokens.refresh_token.value)
    use(manager, thief)
    clock.advance(delay)
    with pytest.raises(TokenTheftDetectedError):
        manager.refresh_session(tokens.refresh_token.value)


@STRICT_AND_DEFAULT
def test_both_refresh_then_the_loser_is_caught(
    theft_manager: SessionManager, clock: FakeClock, delay
):
    manager = theft_manager
    tokens = manager.create_new_session("victim")
    thief = manager.refresh_session(tokens.refresh_token.value)
    clock.advance(delay)  # outside the window the second refresh gets a different child
    victim = manager.refresh_session(tokens.refresh_token.value)
    use(manager, thief)
    with pytest.raises(UnauthorisedError):
        manager.get_session(victim.access_token.value, victim.anti_csrf_token)
    with pytest.raises(TokenTheftDetectedError):
        manager.refresh_session(victim.refresh_token.value)


@STRICT_AND_DEFAULT
def test_theft_after_several_rotations(theft_manager: SessionManager, clock: FakeClock, delay):
    manager = theft_manager
    tokens = manager.create_new_session("victim")
    stolen = tokens.refresh_token.value
    current = tokens
    for _ in range(3):
        current = manager.refresh_session(current.refresh_token.value)
        use(manager, current)
    with pytest.raises(TokenTheftDetectedError):
        manager.refresh_session(stolen)


def test_refresh_twice_without_using_the_access_token(manager: SessionManager):
    tokens = manager.create_new_session("alice")
    first = manager.refresh_session(tokens.refresh_token.value)
    second = manager.refresh_session(first.refresh_token.value)
    third = manager.refresh_session(second.refresh_token.value)
    assert stored_rows(manager)[0]["refresh_token_hash_2"] == h(h(second.refresh_token.value))
    use(manager, third)
    # The original token is now two generations old: theft.
    with pytest.raises(TokenTheftDetectedError):
        manager.refresh_session(tokens.refresh_token.value)


def test_lost_refresh_response_does_not_log_the_user_out(manager: SessionManager):
    tokens = manager.create_new_session("alice")
    manager.refresh_session(tokens.refresh_token.value)  # the response never arrives
    retried = manager.refresh_session(tokens.refresh_token.value)
    use(manager, retried)
    again = manager.refresh_session(retried.refresh_token.value)
    use(manager, again)


def test_session_expiry_is_extended_on_promotion(manager: SessionManager, clock: FakeClock):
    tokens = manager.create_new_session("alice")
    clock.advance(50 * 86400)
    refreshed = manager.refresh_session(tokens.refresh_token.value)
    use(manager, refreshed)
    assert stored_rows(manager)[0]["expires_at"] == int(clock.now * 1000) + 100 * 86400 * 1000
    clock.advance(60 * 86400)  # 110 days after creation, 60 after the last refresh
    assert manager.refresh_session(refreshed.refresh_token.value).session.user_id == "alice"


def test_expired_session_is_unauthorised_even_before_purge(
    manager: SessionManager, clock: FakeClock
):
    tokens = manager.create_new_session("alice")
    clock.advance(100 * 86400 + 1)
    with pytest.raises(UnauthorisedError):
        manager.refresh_session(tokens.refresh_token.value)
    with pytest.raises(UnauthorisedError):
        manager.get_session_data(tokens.session.handle)
    assert manager.get_all_session_handles_for_user("alice") == []
    assert len(stored_rows(manager)) == 1  # still there, never honoured


def test_revoke_session(manager: SessionManager):
    tokens = manager.create_new_session("alice")
    assert manager.revoke_session(tokens.session.handle) is True
    assert manager.revoke_session(tokens.session.handle) is False
    with pytest.raises(UnauthorisedError):
        manager.refresh_session(tokens.refresh_token.value)
    # The default cached check refuses its access token too (this process at once).
    with pytest.raises(UnauthorisedError):
        manager.get_session(tokens.access_token.value)


def test_without_a_revocation_check_access_tokens_live_until_they_expire(make_manager):
    manager = make_manager(revocation_check="none")  # the original without blacklisting
    tokens = manager.create_new_session("alice")
    assert manager.revoke_session(tokens.session.handle) is True
    assert manager.get_session(tokens.access_token.value).session.user_id == "alice"


def test_blacklisting_refuses_revoked_access_tokens(make_manager):
    manager = make_manager(revocation_check="exact")
    tokens = manager.create_new_session("alice")
    assert manager.get_session(tokens.access_token.value).session.user_id == "alice"
    manager.revoke_session(tokens.session.handle)
    with pytest.raises(UnauthorisedError):
        manager.get_session(tokens.access_token.value)


def test_revoked_session_cannot_be_promoted(manager: SessionManager):
    tokens = manager.create_new_session("alice")
    refreshed = manager.refresh_session(tokens.refresh_token.value)
    manager.revoke_session(tokens.session.handle)
    with pytest.raises(UnauthorisedError):
        manager.get_session(refreshed.access_token.value, refreshed.anti_csrf_token)


def test_user_sessions_listing_and_revoke_all(manager: SessionManager, clock: FakeClock):
    handles = []
    for _ in range(3):
        handles.append(manager.create_new_session("bob").session.handle)
        clock.advance(1)
    other = manager.create_new_session("carol")
    assert manager.get_all_session_handles_for_user("bob") == handles[::-1]  # most recent first
    listed = manager.list_sessions_for_user("bob")
    assert [s.created_at for s in listed] == sorted((s.created_at for s in listed), reverse=True)
    assert manager.revoke_all_sessions_for_user("bob") == 3
    assert manager.get_all_session_handles_for_user("bob") == []
    assert manager.get_all_session_handles_for_user("carol") == [other.session.handle]
    assert manager.revoke_all_sessions_for_user("nobody") == 0


def test_session_data_round_trip(manager: SessionManager):
    tokens = manager.create_new_session("alice", session_data={"visits": 0})
    handle = tokens.session.handle
    assert manager.get_session_data(handle) == {"visits": 0}
    for value in (None, 3, "text", [1, {"a": None}], {"nested": {"ü": "ß"}}):
        manager.update_session_data(handle, value)
        assert manager.get_session_data(handle) == value
    manager.revoke_session(handle)
    with pytest.raises(UnauthorisedError):
        manager.update_session_data(handle, {"x": 1})
    with pytest.raises(UnauthorisedError):
        manager.get_session_data("no-such-handle")


def test_purge_removes_only_expired_rows(manager: SessionManager, clock: FakeClock):
    old = manager.create_new_session("old")
    clock.advance(60 * 86400)
    young = manager.create_new_session("young")
    clock.advance(41 * 86400)  # old has expired, young has not
    assert manager.purge_expired_sessions() == 1
    assert [r["session_handle"] for r in stored_rows(manager)] == [young.session.handle]
    assert old.session.handle not in manager.get_all_session_handles_for_user("old")


def test_purge_runs_on_the_write_path_once_per_interval(make_manager, clock: FakeClock):
    manager = make_manager(refresh_token_validity=3600, purge_interval=7200)
    manager.create_new_session("a")  # first write purges (nothing to purge yet)
    clock.advance(3601)
    manager.create_new_session("b")  # within the interval: no purge
    assert len(stored_rows(manager)) == 2
    clock.advance(3600)
    manager.create_new_session("c")  # interval passed: a (and b, expired too) purged
    assert [r["user_id"] for r in stored_rows(manager)] == ["c"]


def test_sync_and_async_managers_share_sessions(make_manager, clock):
    """One database, both managers: tokens minted by one are honoured by the other."""
    from sessionward import AsyncSessionManager

    sync_manager = make_manager()
    tokens = sync_manager.create_new_session("alice", {"k": "v"})

    async def other_side():
        manager = AsyncSessionManager(sync_manager.config, clock=clock)
        try:
            refreshed = await manager.refresh_session(tokens.refresh_token.value)
            result = await manager.get_session(refreshed.access_token.value)
            return refreshed, result
        finally:
            await manager.close()

    import asyncio

    _refreshed, result = asyncio.run(other_side())
    assert result.session.jwt_payload == {"k": "v"}
    assert result.new_access_token is not None
    assert sync_manager.get_session(result.new_access_token.value).session.user_id == "alice"
    clock.advance(31)  # past the grace window
    with pytest.raises(TokenTheftDetectedError):
        sync_manager.refresh_session(tokens.refresh_token.value)


def test_the_store_hands_a_kept_connection_to_another_thread_only_where_it_may(
    tmp_path: Path,
) -> None:
    """The sync store keeps idle connections between statements; on an in-memory SQLite
    database each thread has a connection of its own (SingletonThreadPool), and another thread
    must never be handed it. On a file (QueuePool), any thread may take a kept one."""
    statement = select(literal_column("1"))
    for url, kept in (("sqlite://", 0), (f"sqlite:///{tmp_path}/kept.sqlite3", 1)):
        store = SyncSqlStore(make_sync_engine(url), MetaData(), autocommit=True)
        assert list(store.attempt(statement, {}).rows) == [(1,)]
        answers: list[object] = []

        def other_thread(store: SyncSqlStore = store, answers: list[object] = answers) -> None:
            try:
                answers.append(list(store.attempt(statement, {}).rows))
            except Exception as exc:
                answers.append(exc)

        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
        assert answers == [[(1,)]], url
        assert len(store._idle) == kept, url
        store.close()
