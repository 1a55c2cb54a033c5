"""Signing keys (docs/protocol.md#signing-keys): shared through the database, rotated by
interval, kept to verify."""

from __future__ import annotations

import jwt
import pytest

from sessionward import TryRefreshTokenError
from tests.conftest import FakeClock

HOUR = 3600


def kid_of(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


def test_key_is_created_once_and_shared(make_manager, make_config):
    first = make_manager()
    tokens = first.create_new_session("alice")
    second = make_manager(
        tables={
            "signing_key_table": first.config.signing_key_table,
            "refresh_token_table": first.config.refresh_token_table,
            "revocation_table": first.config.revocation_table,
        }
    )
    assert second.get_session(tokens.access_token.value).session.user_id == "alice"
    assert [k.kid for k in second.signing_keys()] == [k.kid for k in first.signing_keys()]
    assert len(first.signing_keys()) == 1


def test_rotation_by_interval_keeps_old_tokens_valid(make_manager, clock: FakeClock):
    manager = make_manager(signing_key_rotation_interval=3600, access_token_validity=HOUR)
    clock.now = 1_800_000_000 + 10 * 60  # 10 minutes into an hour slot
    old = manager.create_new_session("alice")
    clock.advance(45 * 60)  # near the end: signing publishes the next key, which does not sign yet
    assert kid_of(manager.create_new_session("x").access_token.value) == kid_of(
        old.access_token.value
    )
    assert len(manager.signing_keys()) == 2
    clock.advance(6 * 60)  # next slot: a new key signs
    new = manager.create_new_session("bob")
    assert kid_of(new.access_token.value) != kid_of(old.access_token.value)
    # The old token is still within its validity and its key still verifies: no refresh needed.
    assert manager.get_session(old.access_token.value).session.user_id == "alice"
    assert manager.get_session(new.access_token.value).session.user_id == "bob"


def test_keys_that_can_verify_nothing_are_purged(make_manager, clock: FakeClock):
    manager = make_manager(signing_key_rotation_interval=3600, access_token_validity=600)
    manager.create_new_session("alice")
    for _ in range(5):
        clock.advance(HOUR)
        manager.create_new_session("alice")
    manager.purge_expired_sessions()
    assert len(manager.signing_keys()) <= 2


def test_each_key_verifies_for_the_window_its_signers_recorded(make_manager, clock: FakeClock):
    """A deployment with 3-day access tokens, and a process (or the command) configured with
    the default one hour: the short one's purge keeps the long one's keys while their tokens
    live, and verifies those tokens, because every key records how long it must verify."""
    long = make_manager(access_token_validity=3 * 86400)
    old = long.create_new_session("alice")
    clock.advance(2)
    long.rotate_signing_key()  # the first key stops signing now; its tokens live 3 more days
    tables = {
        "signing_key_table": long.config.signing_key_table,
        "refresh_token_table": long.config.refresh_token_table,
        "revocation_table": long.config.revocation_table,
    }
    short = make_manager(tables=tables)  # access_token_validity: the default hour
    clock.advance(2 * HOUR)
    short.purge_expired_sessions()
    assert kid_of(old.access_token.value) in [k.kid for k in short.signing_keys()]
    assert short.get_session(old.access_token.value).session.user_id == "alice"
    clock.advance(3 * 86400)
    short.purge_expired_sessions()
    assert kid_of(old.access_token.value) not in [k.kid for k in short.signing_keys()]


def test_a_longer_validity_widens_the_recorded_window_of_live_keys(make_manager, clock):
    """Keys written by a one-hour deployment (or an older version, which records nothing)
    are widened when a process with longer access tokens starts signing with them."""
    short = make_manager()
    short.create_tables()
    tables = {
        "signing_key_table": short.config.signing_key_table,
        "refresh_token_table": short.config.refresh_token_table,
        "revocation_table": short.config.revocation_table,
    }
    long = make_manager(tables=tables, access_token_validity=2 * 86400)
    old = long.create_new_session("alice")  # signed by the key the short process wrote
    clock.advance(2)
    long.rotate_signing_key()
    clock.advance(3 * HOUR)
    short.purge_expired_sessions()
    fresh = make_manager(tables=tables)  # another one-hour process, starting now
    assert kid_of(old.access_token.value) in [k.kid for k in fresh.signing_keys()]
    assert fresh.get_session(old.access_token.value).session.user_id == "alice"


def test_key_rotated_by_another_process_is_loaded_on_demand(
    make_manager, clock: FakeClock, driver_statements
):
    a = make_manager()
    tables = {
        "signing_key_table": a.config.signing_key_table,
        "refresh_token_table": a.config.refresh_token_table,
        "revocation_table": a.config.revocation_table,
    }
    b = make_manager(tables=tables)
    b.create_tables()  # b knows the first key only
    clock.advance(2)
    new_kid = a.rotate_signing_key()
    tokens = a.create_new_session("alice")
    assert kid_of(tokens.access_token.value) == new_kid
    seen = driver_statements.watch(b.store)
    key_reads = lambda: [s for s in seen if a.config.signing_key_table in s]  # noqa: E731
    assert b.get_session(tokens.access_token.value).session.user_id == "alice"
    assert len(key_reads()) == 1  # one reload of the key table (and a revocation read)
    assert b.get_session(tokens.access_token.value).session.user_id == "alice"
    assert len(key_reads()) == 1  # known now: no more key reads


def test_unknown_keys_are_reloaded_at_most_once_per_second(
    make_manager, clock: FakeClock, driver_statements
):
    manager = make_manager()
    tokens = manager.create_new_session("alice")
    key = manager.signing_keys()[-1]
    statements = driver_statements.watch(manager.store)
    future_kid = str(int(key.kid) + 3600)  # plausible: could be the next key
    forged = jwt.encode({"sub": "x"}, "k" * 32, algorithm="HS256", headers={"kid": future_kid})
    hostile = jwt.encode({"sub": "x"}, "k" * 32, algorithm="HS256", headers={"kid": "../etc"})
    for token in (forged, forged, hostile, hostile):
        with pytest.raises(TryRefreshTokenError):
            manager.get_session(token)
    assert len(statements) == 1
    clock.advance(1.5)
    with pytest.raises(TryRefreshTokenError):
        manager.get_session(forged)
    assert len(statements) == 2
    assert manager.get_session(tokens.access_token.value).session.user_id == "alice"


def test_static_key_never_rotates(make_manager, clock: FakeClock):
    manager = make_manager(signing_key_dynamic=False)
    tokens = manager.create_new_session("alice")
    assert kid_of(tokens.access_token.value) == "static"
    clock.advance(30 * 24 * HOUR)
    later = manager.create_new_session("bob")
    assert kid_of(later.access_token.value) == "static"
    with pytest.raises(Exception, match="signing_key_dynamic"):
        manager.rotate_signing_key()


def test_user_supplied_key_getter(make_manager):
    current = {"key": "first-secret-key-0123456789-abcdefgh"}
    manager = make_manager(signing_key_getter=lambda: current["key"])
    tokens = manager.create_new_session("alice")
    claims = jwt.decode(tokens.access_token.value, current["key"], algorithms=["HS256"])
    assert claims["sub"] == "alice"
    current["key"] = "second-secret-key-9876543210-abcdefg"
    newer = manager.create_new_session("bob")
    jwt.decode(newer.access_token.value, current["key"], algorithms=["HS256"])
    # The previous key still verifies tokens it signed.
    assert manager.get_session(tokens.access_token.value).session.user_id == "alice"
    assert manager.get_session(newer.access_token.value).session.user_id == "bob"


def test_failing_key_getter_is_a_general_error(make_manager):
    from sessionward import GeneralError

    def broken() -> str:
        raise RuntimeError("vault down")

    manager = make_manager(signing_key_getter=broken)
    with pytest.raises(GeneralError, match="signing_key_getter"):
        manager.create_new_session("alice")


def test_listing_keys_creates_none(make_manager, clock: FakeClock):
    manager = make_manager(signing_key_rotation_interval=3600)
    manager.create_new_session("alice")
    clock.advance(2 * HOUR)  # a new key is due, but only signing creates it
    assert len(manager.signing_keys()) == 1
    manager.create_new_session("bob")
    assert len(manager.signing_keys()) == 2


def _shared_tables(manager) -> dict[str, str]:
    return {
        "signing_key_table": manager.config.signing_key_table,
        "refresh_token_table": manager.config.refresh_token_table,
        "revocation_table": manager.config.revocation_table,
    }


def test_a_key_rotated_elsewhere_signs_here_within_the_revocation_interval(
    make_manager, clock: FakeClock
):
    """`sessionward rotate-key` (here: another process's manager) reaches a running process
    within revocation_refresh_interval, as a revocation does: every token it issues from then
    on carries the new kid (it took 60 s before, KEY_RECHECK_MS)."""
    running = make_manager()
    old_kid = kid_of(running.create_new_session("alice").access_token.value)
    admin = make_manager(tables=_shared_tables(running))
    clock.advance(1)
    new_kid = admin.rotate_signing_key()
    assert new_kid != old_kid
    clock.advance(0.9)  # within the interval of the last look: the known key still signs
    assert kid_of(running.create_new_session("bob").access_token.value) == old_kid
    clock.advance(1.1)  # the interval (2 s by default) after the rotation
    login = running.create_new_session("carol")
    assert kid_of(login.access_token.value) == new_kid
    refreshed = running.refresh_session(login.refresh_token.value)
    assert kid_of(refreshed.access_token.value) == new_kid
    confirmed = running.get_session(refreshed.access_token.value, refreshed.anti_csrf_token)
    assert confirmed.new_access_token is not None
    assert kid_of(confirmed.new_access_token.value) == new_kid


def test_the_key_recheck_follows_a_shorter_revocation_interval(make_manager, clock: FakeClock):
    running = make_manager(revocation_refresh_interval=0.5)
    running.create_new_session("alice")
    admin = make_manager(tables=_shared_tables(running))
    clock.advance(0.2)
    new_kid = admin.rotate_signing_key()
    clock.advance(0.3)
    assert kid_of(running.create_new_session("bob").access_token.value) == new_kid


def test_the_key_recheck_is_one_read_per_interval_and_keeps_the_ring(
    make_manager, clock: FakeClock, driver_statements
):
    """Signing looks at the key table once per interval, not once per token; when nothing
    changed the ring (and the tokens it has verified) stays as it is."""
    manager = make_manager()
    manager.create_new_session("alice")
    ring = manager._context.keys.ring
    seen = driver_statements.watch(manager.store)
    key_reads = lambda: [s for s in seen if manager.config.signing_key_table in s]  # noqa: E731
    for _ in range(5):
        manager.create_new_session("bob")
    assert key_reads() == []
    clock.advance(2)
    for _ in range(5):
        manager.create_new_session("bob")
    assert len(key_reads()) == 1
    assert manager._context.keys.ring is ring


def test_a_recheck_under_way_does_not_hold_up_other_requests(make_manager, clock: FakeClock):
    """While one request reads the key table, another signs with the key it knows at once
    (the flow asks for no statement), as concurrent revocation reads do."""
    manager = make_manager()
    manager.create_new_session("alice")
    keys = manager._context.keys
    clock.advance(2)
    now = manager._context.now_ms()
    first = keys.signing_key(now)
    step = next(first)  # the first request's recheck has sent its query and waits for it
    assert type(step).__name__ == "Attempt"
    second = keys.signing_key(now)
    with pytest.raises(StopIteration) as done:
        next(second)  # answered without a statement
    assert done.value.value is keys.ring.signing_key(now)
    first.close()  # the abandoned recheck lets go, and the next request rechecks
    third = keys.signing_key(now)
    assert type(next(third)).__name__ == "Attempt"
    third.close()


def test_rotation_signs_at_once_when_the_successor_is_already_published(
    make_manager, clock: FakeClock
):
    """In the last tenth of an interval the next key is published ahead (it starts at the
    interval's end). A rotation then must still sign now: after a leak, "rotate-key" at 22:00
    UTC must not wait for midnight. It once started after the published successor."""
    manager = make_manager()
    interval = manager.config.signing_key_rotation_interval
    clock.now = (clock.now // interval + 1) * interval - interval / 20  # 95 % into the interval
    manager.create_tables()
    clock.advance(3)  # past the key recheck interval
    successor = manager.create_new_session("alice")  # publishes the next key ahead
    assert len(manager.signing_keys()) == 2, "the successor is published ahead"
    kid = manager.rotate_signing_key()
    assert int(kid) <= clock.now + 1
    tokens = manager.create_new_session("alice")
    assert kid_of(tokens.access_token.value) == kid  # signs now, not at the interval's end
    assert manager.get_session(successor.access_token.value).session.user_id == "alice"
