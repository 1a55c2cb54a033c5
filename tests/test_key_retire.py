"""The key-leak response (docs/operations.md#runbook-a-signing-key-leaked): ``retire_signing_key``
/ ``sessionward keys retire KID``. A new key signs at once; the retired key stops verifying in
this process at once and in every other within the revocation interval, so each access token it
signed is refused (clients refresh, and their sessions go on); the JWKS stops listing it."""

from __future__ import annotations

import json
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import pytest

from sessionward import (
    Config,
    ConfigError,
    InvalidArgumentError,
    SessionManager,
    TryRefreshTokenError,
    UnauthorisedError,
)
from sessionward._cli import run as cli_main
from tests.conftest import FakeClock, drop_tables, ensure_database, unique_tables
from tests.support.cli_options import table_options
from tests.support.revocation_worker import verify_until


def kid_of(manager: SessionManager, token: str) -> str:
    import base64

    segment = token.split(".")[0]
    header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    return str(header["kid"])


@pytest.mark.parametrize("algorithm", ["HS256", "EdDSA"])
def test_retiring_the_signing_key_refuses_its_tokens_here_at_once(
    make_manager: Any, algorithm: str
) -> None:
    manager = make_manager(signing_algorithm=algorithm)
    created = manager.create_new_session("alice")
    leaked = kid_of(manager, created.access_token.value)
    signing = manager.retire_signing_key(leaked)
    assert signing != leaked
    with pytest.raises(TryRefreshTokenError):  # the client refreshes: its session goes on
        manager.get_session(created.access_token.value, created.anti_csrf_token)
    refreshed = manager.refresh_session(created.refresh_token.value)
    assert kid_of(manager, refreshed.access_token.value) == signing
    assert manager.get_session(refreshed.access_token.value, refreshed.anti_csrf_token)
    fresh = manager.create_new_session("bob")
    assert kid_of(manager, fresh.access_token.value) == signing
    assert leaked not in [k.kid for k in manager.signing_keys()]
    assert leaked not in json.dumps(manager.jwks().jwk_set)


def test_another_process_refuses_within_the_interval(make_config: Any, clock: FakeClock) -> None:
    config = make_config()
    issuer = SessionManager(config, clock=clock)
    other = SessionManager(config, clock=clock)
    try:
        created = issuer.create_new_session("alice")
        token = (created.access_token.value, created.anti_csrf_token)
        assert other.get_session(*token)
        issuer.retire_signing_key(kid_of(issuer, token[0]))
        clock.advance(config.revocation_refresh_interval + 0.01)
        with pytest.raises(TryRefreshTokenError):
            other.get_session(*token)
        assert other.refresh_session(created.refresh_token.value).session.user_id == "alice"
        fresh = other.create_new_session("bob")  # the other process signs with the new key
        assert issuer.get_session(fresh.access_token.value, fresh.anti_csrf_token)
    finally:
        issuer.close()
        other.close()


def test_retiring_an_older_key_leaves_the_current_one_signing(
    make_manager: Any, clock: FakeClock
) -> None:
    manager = make_manager()
    old = manager.create_new_session("alice")
    clock.advance(2)
    current = manager.rotate_signing_key()
    new = manager.create_new_session("bob")
    assert manager.retire_signing_key(kid_of(manager, old.access_token.value)) == current
    with pytest.raises(TryRefreshTokenError):
        manager.get_session(old.access_token.value, old.anti_csrf_token)
    assert manager.get_session(new.access_token.value, new.anti_csrf_token)


def test_bad_retirements_are_clear_errors(make_manager: Any) -> None:
    manager = make_manager()
    manager.create_new_session("alice")
    with pytest.raises(InvalidArgumentError, match="no signing key '1234'"):
        manager.retire_signing_key("1234")
    with pytest.raises(InvalidArgumentError):
        manager.retire_signing_key("../etc")
    static = make_manager(signing_key_dynamic=False)
    with pytest.raises(ConfigError, match="signing_key_dynamic=True"):
        static.retire_signing_key("1234")


def test_the_command_retires_and_says_what_signs_now(
    make_config: Any, capsys: Any, backend: str
) -> None:
    config = make_config()
    options = table_options(config)
    with SessionManager(config) as manager:
        created = manager.create_new_session("alice")
        leaked = kid_of(manager, created.access_token.value)
    assert cli_main(["keys", "retire", leaked, *options]) == 0
    out = capsys.readouterr().out
    assert f"signing key {leaked} retired" in out and "signs now" in out
    assert cli_main(["keys", "retire", leaked, *options]) == 2  # gone already
    assert f"no signing key '{leaked}'" in capsys.readouterr().err
    assert cli_main(["keys", "retire", *options]) == 2
    assert "needs the KID" in capsys.readouterr().err
    with SessionManager(config) as manager, pytest.raises(TryRefreshTokenError):
        manager.get_session(created.access_token.value, created.anti_csrf_token)


PROCESSES = 3
INTERVAL_S = 2.0
BOUND_S = 3.0


@pytest.mark.multiprocess
@pytest.mark.parametrize("backend", ["mysql", "postgres"])
def test_a_retired_key_is_refused_in_every_process_within_3_s(backend: str) -> None:
    url = ensure_database(backend)
    tables = unique_tables()
    config = Config(refresh_path="/refresh", database_url=url, signing_algorithm="EdDSA", **tables)
    try:
        with SessionManager(config) as main:
            created = main.create_new_session("alice")
            leaked = kid_of(main, created.access_token.value)
            tokens = {"leaked": (created.access_token.value, created.anti_csrf_token)}
            context = multiprocessing.get_context("spawn")
            barrier = context.Manager().Barrier(PROCESSES + 1)
            with ProcessPoolExecutor(PROCESSES, mp_context=context) as pool:
                futures = [
                    pool.submit(
                        verify_until,
                        config,
                        tokens,
                        barrier,
                        6.0,
                        0.0,
                        (TryRefreshTokenError, UnauthorisedError),
                        True,
                    )
                    for _ in range(PROCESSES)
                ]
                barrier.wait(timeout=60)
                time.sleep(1.0)
                main.retire_signing_key(leaked)
                retired_at = time.time()
                results = [f.result(timeout=120) for f in futures]
            assert leaked not in json.dumps(main.jwks().jwk_set)
        with SessionManager(config) as fresh:
            assert leaked not in json.dumps(fresh.jwks().jwk_set)
    finally:
        drop_tables(url, tables)
    delays = []
    for result in results:
        assert result["errors"] == [], result["errors"][0]
        assert result["login_worked"]
        delays.append(result["refused"]["leaked"] - retired_at)
    assert all(0 <= d <= BOUND_S for d in delays), delays
    print(f"{backend}: the retired key refused after {min(delays):.2f}-{max(delays):.2f} s")
