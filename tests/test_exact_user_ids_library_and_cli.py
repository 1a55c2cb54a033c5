"""User ids are compared exactly on every backend: on MySQL/MariaDB's default collation
``ALICE``, ``Alíce`` and ``alice `` used to be alice, so one user could list and revoke
another's sessions. Through the managers, the web API and the command."""

from __future__ import annotations

from typing import Any

import pytest

from sessionward import SessionManager
from sessionward._cli import EXIT_OK, run

from .conftest import Db

LOOKALIKES = ["alice", "ALICE", "Alíce", "alice "]


def test_lookalike_user_ids_are_different_users(manager: SessionManager):
    handles = {user: manager.create_new_session(user).session.handle for user in LOOKALIKES}
    for user, handle in handles.items():
        assert manager.get_all_session_handles_for_user(user) == [handle]
    assert manager.revoke_all_sessions_for_user("ALICE") == 1
    assert manager.get_all_session_handles_for_user("alice") == [handles["alice"]]
    assert manager.revoke_all_sessions_for_user("alice ") == 1
    assert manager.get_all_session_handles_for_user("Alíce") == [handles["Alíce"]]
    assert manager.get_all_session_handles_for_user("alice") == [handles["alice"]]


def test_a_refresh_token_is_never_honoured_for_a_lookalike_row(manager: SessionManager):
    """The session row's user id must equal the token's byte for byte."""
    tokens = manager.create_new_session("alice")
    refreshed = manager.refresh_session(tokens.refresh_token.value)
    assert refreshed.session.user_id == "alice"


def test_the_command_revokes_only_the_exact_user(db: Db, capsys: Any):
    with db.manager() as manager:
        handles = {user: manager.create_new_session(user).session.handle for user in LOOKALIKES}
    assert run(["revoke-user", "ALICE", *db.options]) == EXIT_OK
    out = capsys.readouterr().out
    assert "revoked 1 session" in out
    with db.manager() as manager:
        for user in ("alice", "Alíce", "alice "):
            assert manager.get_all_session_handles_for_user(user) == [handles[user]]
        assert manager.get_all_session_handles_for_user("ALICE") == []


@pytest.mark.parametrize("user", ["ALICE", "Alíce", "alice "])
def test_the_command_lists_only_the_exact_user(db: Db, capsys: Any, user: str):
    with db.manager() as manager:
        mine = manager.create_new_session(user).session.handle
        manager.create_new_session("alice")
    assert run(["sessions", user, "--json", *db.options]) == EXIT_OK
    listed = capsys.readouterr().out
    assert mine in listed and listed.count('"sessionHandle"') == 1
