"""Errors and settings a caller can reason about (issue 20, item 5).

- a client's bad input (``InvalidArgumentError``) is its own family, answered 400, and not a
  ``GeneralError`` (which means "broken": 500);
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sessionward import (
    ClaimValidationError,
    ConfigError,
    DataTooLargeError,
    GeneralError,
    InvalidArgumentError,
    SessionError,
)
from sessionward.cli import EXIT_OK, EXIT_USAGE, run
from sessionward.transport import reply_for

from .conftest import Db, unique_tables

# --- bad input is its own family -------------------------------------------------------------


def test_invalid_argument_is_not_a_general_error() -> None:
    assert issubclass(InvalidArgumentError, SessionError)
    assert issubclass(InvalidArgumentError, ValueError)
    assert not issubclass(InvalidArgumentError, GeneralError)
    assert issubclass(DataTooLargeError, InvalidArgumentError)
    assert not issubclass(DataTooLargeError, GeneralError)
    # A bad setting still means "the library cannot work": ConfigError stays a GeneralError.
    assert issubclass(ConfigError, GeneralError) and issubclass(ConfigError, ValueError)


def test_bad_input_is_answered_400_and_broken_things_500() -> None:
    assert reply_for(InvalidArgumentError("user_id must be a string"), 440).status == 400
    assert reply_for(DataTooLargeError("session_data is too large"), 440).status == 413
    assert reply_for(InvalidArgumentError("x"), 440).body == {"message": "x"}
    assert reply_for(ConfigError("a setting"), 440).status == 500
    assert reply_for(GeneralError("database down"), 440).status == 500
    assert reply_for(ClaimValidationError("role", "no"), 440).status == 403


def test_except_general_error_no_longer_catches_a_bad_user_id(make_manager: Any) -> None:
    manager = make_manager()
    with pytest.raises(InvalidArgumentError, match="user_id"):
        try:
            manager.create_new_session(42)
        except GeneralError:  # what an application writes for "the database is down"
            pytest.fail("a client's bad input was caught as a GeneralError")


def test_the_cli_still_calls_a_bad_user_id_a_usage_error(tmp_path: Path, capsys: Any) -> None:
    db = Db(f"sqlite:///{tmp_path}/cli.sqlite3", unique_tables())
    assert run(["create-tables", *db.options]) == EXIT_OK
    assert run(["sessions", "u" * 129, *db.options]) == EXIT_USAGE
    assert "user_id" in capsys.readouterr().err
