"""Errors and settings a caller can reason about (issue 20, item 5).

- a client's bad input (``InvalidArgumentError``) is its own family, answered 400, and not a
  ``GeneralError`` (which means "broken": 500);
- every ``reason`` is a ``str`` enum whose members equal the strings used before;
- bad settings are a ``ConfigError`` everywhere, the remote verifiers' included;
- the library's internal errors share one private base, outside the public family;
- every duration setting is in seconds; the old names warn and convert for one release.
"""

from __future__ import annotations

import ast
import json
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from sessionward import (
    AsyncRemoteVerifier,
    ClaimValidationError,
    Config,
    ConfigError,
    DataTooLargeError,
    GeneralError,
    InvalidArgumentError,
    RemoteVerifier,
    SessionError,
    SessionHooks,
    SessionManager,
    SessionRevoked,
    TokenTheftDetectedError,
    TryRefreshTokenError,
)
from sessionward._cli import EXIT_OK, EXIT_USAGE, CliError, run
from sessionward._errors import (
    ANTI_CSRF_MISMATCH,
    ANTI_CSRF_MISSING,
    AntiCsrfReason,
    TheftReason,
    _InternalError,
)
from sessionward._events import RevokeReason
from sessionward._proof import InvalidProof
from sessionward._tokens.access import InvalidAccessToken, UnknownSigningKey
from sessionward._tokens.algorithms import KeyFormatError
from sessionward._tokens.keys import UnusableKeyRow
from sessionward._tokens.refresh import InvalidRefreshToken
from sessionward._transport import reply_for

from .conftest import Db, unique_tables

SRC = Path(__file__).resolve().parent.parent / "src" / "sessionward"

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


# --- one enum style for every reason --------------------------------------------------------


@pytest.mark.parametrize(
    ("member", "old"),
    [
        (AntiCsrfReason.MISSING, "anti_csrf_missing"),
        (AntiCsrfReason.MISMATCH, "anti_csrf_mismatch"),
        (TheftReason.REPLAYED_PARENT, "replayed_parent"),
        (TheftReason.OLD_TOKEN, "old_token"),
        (TheftReason.OTHER_CLIENT, "other_client"),
        (TheftReason.PROOF_MISSING, "proof_missing"),
        (TheftReason.PROOF_INVALID, "proof_invalid"),
        (RevokeReason.LOGOUT, "logout"),
        (RevokeReason.ADMIN, "admin"),
        (RevokeReason.THEFT, "theft"),
        (RevokeReason.EXPIRY, "expiry"),
        (RevokeReason.EVICTED, "evicted"),
    ],
)
def test_reasons_are_str_enums_equal_to_the_old_strings(member: Any, old: str) -> None:
    assert isinstance(member, str)
    assert member == old and old == member and hash(member) == hash(old)
    assert str(member) == old and f"{member}" == old and format(member, ">3") == f"{old:>3}"
    assert json.dumps({"reason": member}) == json.dumps({"reason": old})
    assert type(member)(old) is member


def test_the_old_anti_csrf_constants_are_the_members() -> None:
    assert ANTI_CSRF_MISSING is AntiCsrfReason.MISSING
    assert ANTI_CSRF_MISMATCH is AntiCsrfReason.MISMATCH


def test_errors_and_events_carry_members_whether_given_members_or_strings() -> None:
    csrf = TryRefreshTokenError("x", reason="anti_csrf_mismatch")
    assert csrf.reason is AntiCsrfReason.MISMATCH
    assert TryRefreshTokenError("x").reason is None
    theft = TokenTheftDetectedError("h", "u", "other_client")
    assert theft.reason is TheftReason.OTHER_CLIENT and theft.reason == "other_client"
    assert "(other_client)" in str(theft)
    assert TokenTheftDetectedError("h", "u").reason is TheftReason.OLD_TOKEN
    assert SessionRevoked("h", "u", "logout").reason is RevokeReason.LOGOUT  # type: ignore[arg-type]
    # The wire keeps its strings.
    body = reply_for(TryRefreshTokenError("x", reason=ANTI_CSRF_MISSING), 440).body
    assert json.dumps(body) == '{"message": "try refresh token", "reason": "anti_csrf_missing"}'


def test_revoke_reasons_reach_hooks_as_members_that_compare_with_strings(
    make_config: Any,
) -> None:
    seen: list[SessionRevoked] = []
    with SessionManager(make_config(), hooks=SessionHooks(on_session_revoked=seen.append)) as m:
        first = m.create_new_session("alice").session.handle
        second = m.create_new_session("alice").session.handle
        m.revoke_session(first)  # default: admin
        m.revoke_session(second, reason="logout")  # a string, as before
    assert [e.reason for e in seen] == ["admin", "logout"]
    assert [e.reason for e in seen] == [RevokeReason.ADMIN, RevokeReason.LOGOUT]
    assert all(type(e.reason) is RevokeReason for e in seen)


# --- ConfigError for bad settings everywhere ----------------------------------------------


@pytest.mark.parametrize("verifier", [RemoteVerifier, AsyncRemoteVerifier])
@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"jwks_url": "ftp://issuer/jwks"}, "jwks_url"),
        ({"jwks_url": None}, "jwks_url"),
        ({"leeway": -1}, "leeway"),
        ({"leeway": 1.5}, "leeway"),
        ({"refetch_cooldown": 3601}, "refetch_cooldown"),
        ({"refetch_cooldown": "10"}, "refetch_cooldown"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": "5"}, "timeout"),
        ({"clock": 12}, "clock"),
    ],
)
def test_remote_verifiers_refuse_bad_settings_with_config_error(
    verifier: Any, settings: dict[str, Any], named: str
) -> None:
    arguments = {"jwks_url": "https://issuer.example/jwks", **settings}
    jwks_url = arguments.pop("jwks_url")
    with pytest.raises(ConfigError, match=named):
        verifier(jwks_url, **arguments)


# --- internal errors: one private base ------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        InvalidProof,
        InvalidAccessToken,
        UnknownSigningKey,
        InvalidRefreshToken,
        UnusableKeyRow,
        KeyFormatError,
        CliError,
    ],
)
def test_internal_errors_share_one_private_base_outside_the_family(error: type) -> None:
    assert issubclass(error, _InternalError)
    assert not issubclass(error, SessionError)


def test_no_module_defines_a_bare_exception_subclass() -> None:
    """Every exception class in src derives from the public family, the private base, or a
    standard error it stands for (KeyFormatError is also a ValueError)."""
    bare = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                bases = {ast.unparse(base) for base in node.bases}
                if bases == {"Exception"}:
                    bare.append(f"{path.relative_to(SRC)}:{node.name}")
    assert sorted(bare) == ["_errors.py:SessionError", "_errors.py:_InternalError"]


# --- one unit per kind: seconds, with deprecated aliases -------------------------------


def test_the_rotation_interval_is_in_seconds() -> None:
    config = Config(refresh_path="/r", signing_key_rotation_interval=2 * 3600)
    assert config.signing_key_interval_ms == 2 * 3600 * 1000
    assert Config(refresh_path="/r").signing_key_interval_ms == 86400 * 1000
    with pytest.raises(ConfigError, match="signing_key_rotation_interval"):
        Config(refresh_path="/r", signing_key_rotation_interval=60)


def test_signing_key_update_interval_warns_and_converts_hours_to_seconds() -> None:
    with pytest.warns(DeprecationWarning, match="signing_key_rotation_interval") as caught:
        config = Config(refresh_path="/r", signing_key_update_interval=2)
    assert caught[0].filename == __file__  # the warning names the caller's line
    assert config.signing_key_rotation_interval == 7200
    assert config == Config(refresh_path="/r", signing_key_rotation_interval=7200)
    # Consistent values are fine; contradicting ones, or an old value out of range, are not.
    with pytest.warns(DeprecationWarning):
        Config(refresh_path="/r", signing_key_update_interval=2, signing_key_rotation_interval=7200)
    with pytest.warns(DeprecationWarning), pytest.raises(ConfigError, match="contradicts"):
        Config(refresh_path="/r", signing_key_update_interval=2, signing_key_rotation_interval=3600)
    with (
        pytest.warns(DeprecationWarning),
        pytest.raises(ConfigError, match="signing_key_update_interval"),
    ):
        Config(refresh_path="/r", signing_key_update_interval=721)


def test_enable_blacklisting_warns_and_means_exact() -> None:
    with pytest.warns(DeprecationWarning, match="revocation_check='exact'"):
        config = Config(refresh_path="/r", enable_blacklisting=True)
    assert config.revocation_check == "exact" and config.revocation_mode == "exact"
    with pytest.warns(DeprecationWarning):
        assert Config(refresh_path="/r", enable_blacklisting=False).revocation_mode == "cached"
    with pytest.warns(DeprecationWarning), pytest.raises(ConfigError, match="enable_blacklisting"):
        Config(refresh_path="/r", enable_blacklisting="yes")  # type: ignore[arg-type]
    # Through the manager's keyword settings too.
    with pytest.warns(DeprecationWarning, match="enable_blacklisting"):
        manager = SessionManager(
            refresh_path="/r", database_url="sqlite://", enable_blacklisting=True
        )
    with manager:
        assert manager.config.revocation_mode == "exact"


def test_converted_settings_survive_replace_without_warning_again() -> None:
    with pytest.warns(DeprecationWarning):
        config = Config(refresh_path="/r", enable_blacklisting=True, signing_key_update_interval=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        copy = replace(config, access_token_path="/api")
    assert copy.revocation_mode == "exact" and copy.signing_key_rotation_interval == 3 * 3600


def test_cli_rotation_interval_in_seconds_and_the_old_flag_in_hours(
    tmp_path: Path, capsys: Any
) -> None:
    db = Db(f"sqlite:///{tmp_path}/cli.sqlite3", unique_tables())
    assert run(["create-tables", "--signing-key-rotation-interval", "7200", *db.options]) == 0
    assert capsys.readouterr().err == ""
    assert run(["keys", "--signing-key-interval", "2", *db.options]) == EXIT_OK
    assert "--signing-key-rotation-interval 7200" in capsys.readouterr().err
    code = run(
        [
            "keys",
            "--signing-key-interval",
            "2",
            "--signing-key-rotation-interval",
            "3600",
            *db.options,
        ]
    )
    assert code == EXIT_USAGE and "disagree" in capsys.readouterr().err
