"""Rotating the refresh-token key (docs/operations.md#rotating-the-refresh-token-key): with an
overlap, no session notices (old tokens keep opening until they rotate or expire, and a grace
duplicate across the rotation is the same child, not a theft); with ``retire_now`` every
session must log in again; other processes learn the new key before it seals; purge deletes a
rotated-away key once no token it sealed can be alive."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.exceptions import InvalidTag

from sessionward import SessionManager, UnauthorisedError
from sessionward._cli import run
from sessionward._encoding import from_b64url_canonical
from sessionward._tokens.refresh_keys import ROTATION_DELAY_MS
from tests.conftest import FakeClock
from tests.support.cli_options import table_options

DELAY_S = ROTATION_DELAY_MS / 1000


def key_names(manager: SessionManager) -> list[str]:
    rows = manager._drive(lambda context, emissions: context.keys.table.load())
    return sorted(row.name for row in rows if row.name.startswith("refresh_token_key"))


def test_old_refresh_tokens_keep_opening_and_new_ones_use_the_new_key(
    make_manager: Any, clock: FakeClock
) -> None:
    manager = make_manager()
    before = manager.create_new_session("alice")
    name = manager.rotate_refresh_key()
    assert key_names(manager) == sorted(["refresh_token_key", name])
    early = manager.create_new_session("bob")  # within the delay: still the old key
    clock.advance(DELAY_S + 1)
    late = manager.create_new_session("carol")
    refreshed = manager.refresh_session(before.refresh_token.value)
    assert refreshed.session.user_id == "alice"
    assert manager.refresh_session(early.refresh_token.value).session.user_id == "bob"
    # Which key sealed each: the newest opens what was sealed after the delay only.
    newest = manager._context.keys.refresh.cipher._opening[0]
    for token, by_newest in ((late, True), (refreshed, True), (early, False), (before, False)):
        raw = from_b64url_canonical(token.refresh_token.value)
        try:
            newest.decrypt(raw[:12], raw[12:], b"sessionward refresh token v1")
            opened = True
        except InvalidTag:
            opened = False
        assert opened == by_newest


def test_a_grace_duplicate_across_the_rotation_is_the_same_child(
    make_manager: Any, clock: FakeClock
) -> None:
    manager = make_manager(refresh_grace_window=30)
    created = manager.create_new_session("alice")
    manager.rotate_refresh_key()
    clock.advance(DELAY_S - 10)  # the child's anchor: the old key still seals
    first = manager.refresh_session(created.refresh_token.value)
    clock.advance(20)  # now the new key seals; the duplicate is within the grace window
    again = manager.refresh_session(created.refresh_token.value)
    assert again.refresh_token.value == first.refresh_token.value
    assert again.anti_csrf_token == first.anti_csrf_token


def test_another_process_opens_tokens_of_a_key_rotated_elsewhere(
    make_config: Any, clock: FakeClock
) -> None:
    config = make_config()
    with (
        SessionManager(config, clock=clock) as issuer,
        SessionManager(config, clock=clock) as other,
    ):
        other.create_new_session("warm")  # keys loaded before the rotation
        issuer.rotate_refresh_key()
        clock.advance(DELAY_S + 1)
        created = issuer.create_new_session("alice")  # sealed with the new key
        assert other.refresh_session(created.refresh_token.value).session.user_id == "alice"


def test_retire_now_ends_every_session_and_every_process_learns_it(
    make_config: Any, clock: FakeClock
) -> None:
    config = make_config()
    with (
        SessionManager(config, clock=clock) as issuer,
        SessionManager(config, clock=clock) as other,
    ):
        before = issuer.create_new_session("alice")
        other.create_new_session("warm")
        issuer.rotate_refresh_key(retire_now=True)
        with pytest.raises(UnauthorisedError):
            issuer.refresh_session(before.refresh_token.value)
        after = issuer.create_new_session("bob")
        assert issuer.refresh_session(after.refresh_token.value).session.user_id == "bob"
        clock.advance(config.revocation_refresh_interval + 0.1)
        fresh = other.create_new_session("carol")
        assert issuer.refresh_session(fresh.refresh_token.value).session.user_id == "carol"
        with pytest.raises(UnauthorisedError):
            other.refresh_session(before.refresh_token.value)


def test_purge_deletes_a_rotated_away_key_once_no_token_needs_it(
    make_manager: Any, clock: FakeClock
) -> None:
    manager = make_manager(refresh_token_validity=3600)
    manager.create_new_session("alice")
    first = manager.rotate_refresh_key()
    clock.advance(DELAY_S + 1)
    second = manager.rotate_refresh_key()
    clock.advance(DELAY_S + 1)
    assert manager.purge_expired_sessions() >= 0
    assert key_names(manager) == sorted(["refresh_token_key", first, second])
    clock.advance(2 * 3600 + 1)  # a child token lives at most twice the validity
    manager.purge_expired_sessions()
    assert key_names(manager) == sorted(["refresh_token_key", second])  # the first stays


def test_the_command_rotates_the_refresh_key(make_config: Any, capsys: Any) -> None:
    config = make_config()
    options = table_options(config)
    with SessionManager(config) as manager:
        created = manager.create_new_session("alice")
    assert run(["keys", "rotate-refresh-key", *options]) == 0
    assert "older keys open the tokens they sealed" in capsys.readouterr().out
    with SessionManager(config) as manager:
        assert manager.refresh_session(created.refresh_token.value)
    assert run(["keys", "--retire-now", *options]) == 2
    assert "--retire-now goes with" in capsys.readouterr().err
    assert run(["keys", "rotate-refresh-key", "--retire-now", *options]) == 0
    assert "every session must log in again" in capsys.readouterr().out
