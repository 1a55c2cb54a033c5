"""Signing keys encrypted at rest (docs/operations.md#signing-keys-at-rest), on every backend:
with a key-encryption key the key table holds no key in the clear; a wrong one fails at start
with a clear error and changes nothing; plain rows are sealed at the first start with one;
``rewrap`` moves every row from one key-encryption key to another with no session lost; a
KMS plugs in through ``KeyWrapper``."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from sessionward import (
    ConfigError,
    KeyWrapper,
    LocalKeyWrapper,
    SessionManager,
)
from sessionward._key_wrapping import KEK_ENVIRONMENT_VARIABLE, UnwrapError
from sessionward._storage.engines import resolve_url
from tests.conftest import FakeClock
from tests.support.cli_options import table_options

ALGORITHMS = ["HS256", "EdDSA"]


def new_kek() -> str:
    return secrets.token_urlsafe(32)


def key_table(manager: SessionManager) -> list[tuple[str, str, str | None]]:
    """The key table as stored: (name, key_value, key_material)."""
    engine = create_engine(resolve_url(manager.config.database_url, asynchronous=False))
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT key_name, key_value, key_material FROM "
                    f"{manager.config.signing_key_table} ORDER BY key_name"
                )
            )
            return [(str(n), str(v), None if m is None else str(m)) for n, v, m in rows]
    finally:
        engine.dispose()


def secrets_in_the_clear(manager: SessionManager) -> list[str]:
    """Every secret of the key table as the manager opens it: HMAC secrets, private PEMs (and
    their base64 body lines), the refresh-token key."""
    rows = manager._drive(lambda context, emissions: context.keys.table.load())
    found = []
    for row in rows:
        secret = row.value if row.material is None else row.material
        assert not secret.startswith("sealed:")
        found.append(secret)
        found += [line for line in secret.splitlines() if len(line) > 20 and "---" not in line]
    return found


@pytest.fixture
def make(make_config: Callable[..., Any], clock: FakeClock) -> Any:
    managers: list[SessionManager] = []
    tables: dict[str, dict[str, str]] = {}

    def factory(name: str = "a", **settings: Any) -> SessionManager:
        from tests.conftest import unique_tables

        settings["tables"] = tables.setdefault(name, unique_tables())
        manager = SessionManager(make_config(**settings), clock=clock)
        managers.append(manager)
        return manager

    yield factory
    for manager in managers:
        manager.close()


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_with_a_kek_the_key_table_holds_no_key_in_the_clear(make: Any, algorithm: str) -> None:
    kek = new_kek()
    manager = make(key_encryption_key=kek, signing_algorithm=algorithm)
    created = manager.create_new_session("alice")
    manager.rotate_signing_key()
    stored = key_table(manager)
    assert len(stored) >= 3  # the refresh-token key and two signing keys
    dump = repr(stored)
    for secret in secrets_in_the_clear(manager):
        assert secret not in dump
    for _name, value, material in stored:
        assert (material or value).startswith("sealed:v1:")
    # Another process with the same key-encryption key opens them: the session goes on.
    again = make(key_encryption_key=kek, signing_algorithm=algorithm)
    assert again.get_session(created.access_token.value, created.anti_csrf_token)
    assert again.refresh_session(created.refresh_token.value).session.user_id == "alice"


def test_a_wrong_kek_fails_clearly_and_changes_nothing(make: Any) -> None:
    manager = make(key_encryption_key=new_kek())
    manager.create_new_session("alice")
    before = key_table(manager)
    wrong = make(key_encryption_key=new_kek())
    with pytest.raises(ConfigError, match=r"sealed with key-encryption key .*Nothing was changed"):
        wrong.create_new_session("bob")
    with pytest.raises(ConfigError, match="no key_encryption_key is set"):
        make().create_new_session("bob")
    assert key_table(manager) == before  # no key re-created, none re-sealed


def test_plain_rows_are_sealed_at_the_first_start_with_a_kek(make: Any) -> None:
    plain = make()
    created = plain.create_new_session("alice")
    assert not any(v.startswith("sealed:") for _n, v, _m in key_table(plain))
    sealed = make(key_encryption_key=new_kek())
    assert sealed.get_session(created.access_token.value, created.anti_csrf_token)
    assert all(v.startswith("sealed:v1:") for _n, v, _m in key_table(plain))
    assert sealed.refresh_session(created.refresh_token.value).session.user_id == "alice"


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_rewrap_moves_every_key_to_the_new_kek_with_no_session_lost(
    make: Any, algorithm: str
) -> None:
    old, new = new_kek(), new_kek()
    first = make(key_encryption_key=old, signing_algorithm=algorithm)
    created = first.create_new_session("alice")
    first.rotate_signing_key()
    both = make(key_encryption_key=(new, old), signing_algorithm=algorithm)
    count = both.rewrap_keys()
    assert count == len(key_table(first)) >= 3
    new_id = LocalKeyWrapper(new).key_id
    assert all((m or v).startswith(f"sealed:v1:{new_id}:") for _n, v, m in key_table(first))
    assert both.rewrap_keys() == 0  # nothing left to move
    only_new = make(key_encryption_key=new, signing_algorithm=algorithm)
    assert only_new.get_session(created.access_token.value, created.anti_csrf_token)
    assert only_new.refresh_session(created.refresh_token.value).session.user_id == "alice"
    with pytest.raises(ConfigError, match="cannot open"):
        make(key_encryption_key=old, signing_algorithm=algorithm).create_new_session("bob")


def test_a_sealed_value_moved_onto_another_row_does_not_open(make: Any) -> None:
    kek = new_kek()
    manager = make(key_encryption_key=kek)
    manager.create_new_session("alice")
    manager.rotate_signing_key()
    stored = key_table(manager)
    signing = [row for row in stored if row[0].startswith("access_token_signing_key:")]
    engine = create_engine(resolve_url(manager.config.database_url, asynchronous=False))
    with engine.begin() as conn:  # the attacker copies one key's sealed value onto the other
        conn.execute(
            text(
                f"UPDATE {manager.config.signing_key_table} SET key_value = :v WHERE key_name = :n"
            ),
            {"v": signing[0][1], "n": signing[1][0]},
        )
    engine.dispose()
    with pytest.raises(ConfigError, match="cannot open"):
        make(key_encryption_key=kek).create_new_session("bob")


def test_the_kek_comes_from_the_environment(make: Any, monkeypatch: Any) -> None:
    kek = new_kek()
    monkeypatch.setenv(KEK_ENVIRONMENT_VARIABLE, kek)
    manager = make()
    manager.create_new_session("alice")
    assert all(
        v.startswith(f"sealed:v1:{LocalKeyWrapper(kek).key_id}:") for _n, v, _ in key_table(manager)
    )


def test_bad_keks_are_config_errors_that_say_how_to_make_one() -> None:
    for bad in ("", "short", "x" * 40, "!" * 43, 42):
        with pytest.raises(ConfigError, match="key_encryption_key"):
            LocalKeyWrapper(bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError) as caught:
        LocalKeyWrapper("short")
    assert "secrets.token_urlsafe(32)" in str(caught.value)
    kek = new_kek()
    assert kek not in repr(LocalKeyWrapper(kek))


class CountingKms:
    """A KMS stand-in: what a Vault Transit or AWS KMS wrapper does, with a call count (each
    unwrap would be a network round trip)."""

    def __init__(self) -> None:
        self.key = LocalKeyWrapper(new_kek())
        self.unwraps = 0

    @property
    def key_id(self) -> str:
        return "arn:aws:kms:eu-west-1:111122223333:key/test"

    def wrap(self, plaintext: bytes, associated_data: bytes) -> bytes:
        return self.key.wrap(plaintext, associated_data)

    def unwrap(self, wrapped: bytes, associated_data: bytes, key_id: str) -> bytes:
        assert key_id == self.key_id  # the id with colons survives the stored format
        self.unwraps += 1
        return self.key.unwrap(wrapped, associated_data, self.key.key_id)


def test_a_kms_plugs_in_and_each_sealed_value_is_unwrapped_once(
    make: Any, clock: FakeClock
) -> None:
    kms = CountingKms()
    assert isinstance(kms, KeyWrapper)
    manager = make(key_encryption_key=kms)
    created = manager.create_new_session("alice")
    after_start = kms.unwraps
    for _ in range(5):  # key-table reads every interval: no unwrap again
        clock.advance(3)
        manager.create_new_session("alice")
    assert kms.unwraps == after_start
    assert manager.get_session(created.access_token.value, created.anti_csrf_token)
    assert all(v.startswith("sealed:v1:arn:aws:kms:") for _n, v, _ in key_table(manager))


def test_an_unwrap_failure_names_the_row_never_the_secret(make: Any) -> None:
    class Refusing(CountingKms):
        def unwrap(self, wrapped: bytes, associated_data: bytes, key_id: str) -> bytes:
            raise UnwrapError("access denied by the key policy")

    make(key_encryption_key=CountingKms()).create_new_session("alice")
    with pytest.raises(ConfigError, match="access denied by the key policy") as caught:
        make(key_encryption_key=Refusing()).create_new_session("bob")
    assert "refresh_token_key" in str(caught.value) or "signing_key" in str(caught.value)


def test_no_kek_on_a_database_server_warns(make: Any, backend: str, caplog: Any) -> None:
    with caplog.at_level(logging.WARNING, logger="sessionward"):
        make().create_new_session("alice")
        make("b", key_encryption_key=new_kek()).create_new_session("alice")
    warned = [
        r for r in caplog.records if getattr(r, "sessionward_event", "") == "keys_in_the_clear"
    ]
    assert len(warned) == (0 if backend == "sqlite" else 1)


def test_the_command_rewraps_from_the_environment(make: Any, monkeypatch: Any, capsys: Any) -> None:
    from sessionward._cli import run

    old, new = new_kek(), new_kek()
    manager = make(key_encryption_key=old)
    created = manager.create_new_session("alice")
    config = manager.config
    options = table_options(config)
    monkeypatch.setenv(KEK_ENVIRONMENT_VARIABLE, new)  # without the old one: refused, unchanged
    before = key_table(manager)
    assert run(["keys", "rewrap", *options]) == 2
    assert "cannot open" in capsys.readouterr().err
    assert key_table(manager) == before
    monkeypatch.setenv(KEK_ENVIRONMENT_VARIABLE, f"{new},{old}")
    assert run(["keys", "rewrap", *options]) == 0
    out = capsys.readouterr().out
    assert f"sealed {len(before)} key row(s) with key-encryption key" in out
    assert new not in out and old not in out
    monkeypatch.delenv(KEK_ENVIRONMENT_VARIABLE)
    only_new = make(key_encryption_key=new)
    assert only_new.refresh_session(created.refresh_token.value).session.user_id == "alice"
