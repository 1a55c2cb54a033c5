"""How many round trips each operation costs in the common case, counted at the driver.

A full rotation (refresh, then the first verify, which confirms the new pair) is two statements:
one conditional UPDATE each. A login is one INSERT, a logout one DELETE (plus the revocation
record of the default cached check), a verify none (the cached check reads new revocations at
most once per interval), a verify with the exact revocation check one SELECT. A signing process
also reads the key table once per interval, to learn of keys rotated elsewhere. The async manager
is counted too: on PostgreSQL at the driver, on MariaDB by the server's own statement counter
(asyncmy is compiled, so it cannot be wrapped), and on SQLite at the driver of the thread pool
it runs on.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from sessionward import AsyncSessionManager, SessionManager
from sessionward._storage.engines import resolve_url

from .conftest import DriverStatements


def _warm(manager: SessionManager) -> Any:
    """Tables and keys loaded, a session made, the pool's connection open: the steady state."""
    manager.create_tables()
    tokens = manager.create_new_session("warm")
    manager.get_session(tokens.access_token.value, tokens.anti_csrf_token)
    return tokens


def _kinds(statements: list[str]) -> list[str]:
    return [re.split(r"\s", s.strip(), maxsplit=1)[0].upper() for s in statements]


def test_the_common_cases_cost_one_statement_each(
    make_manager: Callable[..., SessionManager], driver_statements: DriverStatements
):
    manager = make_manager()
    tokens = _warm(manager)
    seen = driver_statements.watch(manager.store)  # type: ignore[attr-defined]
    _warm(manager)  # reconnects SQLite's pool with the trace on; not counted below
    seen.clear()

    refreshed = manager.refresh_session(tokens.refresh_token.value)
    assert _kinds(seen) == ["UPDATE"], seen
    verified = manager.get_session(refreshed.access_token.value, refreshed.anti_csrf_token)
    assert verified.new_access_token is not None  # the promotion happened
    assert _kinds(seen) == ["UPDATE", "UPDATE"], "a full rotation is two round trips"

    seen.clear()
    for _ in range(100):
        manager.get_session(verified.new_access_token.value, refreshed.anti_csrf_token)
    assert seen == [], "verify touches no database"

    created = manager.create_new_session("alice", {"r": 1}, {"d": 2})
    assert _kinds(seen) == ["INSERT"]
    seen.clear()
    assert manager.revoke_session(created.session.handle) is True
    # With the default cached revocation check, a logout also records the revocation that
    # every other process reads within its interval (written first: see operations/revocation.py).
    assert _kinds(seen) == ["INSERT", "DELETE"]


def _create(manager: Any, kind: str) -> Any:
    """A login of each kind of session issue 21 added (a coroutine for the async manager)."""
    if kind == "impersonation":
        return manager.create_impersonation_session("support", "alice", ttl=1800)
    if kind == "non-persistent":
        return manager.create_new_session("alice", persistent=False)
    return manager.create_new_session("alice", tenant_id="acme")


@pytest.mark.parametrize("kind", ["non-persistent", "impersonation", "tenant"])
def test_every_kind_of_session_costs_the_same(
    make_manager: Callable[..., SessionManager], driver_statements: DriverStatements, kind: str
):
    """A session that ends with the browser, an impersonation and a tenant's session: one
    INSERT to create (an impersonation, never counted against max_sessions_per_user, does not
    list the user's sessions to evict one), two UPDATEs to rotate (the idle limit and the ttl
    are in the statements, not extra reads)."""
    manager = make_manager(max_sessions_per_user=3 if kind == "impersonation" else None)
    _warm(manager)
    seen = driver_statements.watch(manager.store)  # type: ignore[attr-defined]
    _warm(manager)
    seen.clear()
    tokens = _create(manager, kind)
    assert _kinds(seen) == ["INSERT"], (kind, seen)
    seen.clear()
    refreshed = manager.refresh_session(tokens.refresh_token.value)
    assert _kinds(seen) == ["UPDATE"], (kind, seen)
    verified = manager.get_session(refreshed.access_token.value, refreshed.anti_csrf_token)
    assert verified.new_access_token is not None
    assert _kinds(seen) == ["UPDATE", "UPDATE"], f"a full rotation is two round trips ({kind})"
    seen.clear()
    again = manager.refresh_session(refreshed.refresh_token.value)
    manager.get_session(again.access_token.value, again.anti_csrf_token)
    assert _kinds(seen) == ["UPDATE", "UPDATE"], (kind, seen)


def test_without_the_cached_check_a_logout_is_one_statement(
    make_manager: Callable[..., SessionManager], driver_statements: DriverStatements
):
    for check in ("exact", "none"):
        manager = make_manager(revocation_check=check)
        created = _warm(manager)
        seen = driver_statements.watch(manager.store)  # type: ignore[attr-defined]
        _warm(manager)
        seen.clear()
        assert manager.revoke_session(created.session.handle) is True
        assert _kinds(seen) == ["DELETE"], check


def test_pymysql_costs_the_same_round_trips(
    backend: str, make_config: Callable[..., Any], driver_statements: DriverStatements
):
    """With mysqlclient installed it is the default; PyMySQL, the pure-Python driver of the
    ``mysql`` extra, takes the same path (its URL names it)."""
    if backend != "mysql":
        return
    config = make_config()
    url = config.database_url.replace("mysql://", "mysql+pymysql://", 1)
    with SessionManager(replace(config, database_url=url)) as manager:
        tokens = _warm(manager)
        seen = driver_statements.watch(manager.store)  # type: ignore[attr-defined]
        assert manager.store.engine.dialect.driver == "pymysql"  # type: ignore[attr-defined]
        refreshed = manager.refresh_session(tokens.refresh_token.value)
        manager.get_session(refreshed.access_token.value, refreshed.anti_csrf_token)
        assert _kinds(seen) == ["UPDATE", "UPDATE"]


def test_the_exact_revocation_check_is_one_lookup(
    make_manager: Callable[..., SessionManager], driver_statements: DriverStatements
):
    manager = make_manager(revocation_check="exact")
    tokens = _warm(manager)
    seen = driver_statements.watch(manager.store)  # type: ignore[attr-defined]
    _warm(manager)
    seen.clear()
    for _ in range(5):
        manager.get_session(tokens.access_token.value, tokens.anti_csrf_token)
    assert _kinds(seen) == ["SELECT"] * 5


def test_uncommon_cases_read_the_row_then_decide(
    make_manager: Callable[..., SessionManager], driver_statements: DriverStatements
):
    """A duplicate refresh inside the grace window: the UPDATE matches nothing, then one read."""
    manager = make_manager()
    tokens = _warm(manager)
    seen = driver_statements.watch(manager.store)  # type: ignore[attr-defined]
    _warm(manager)
    manager.refresh_session(tokens.refresh_token.value)
    seen.clear()
    manager.refresh_session(tokens.refresh_token.value)
    assert _kinds(seen) == ["UPDATE", "SELECT"]


def _server_statement_counter(read: Callable[[], int]) -> Callable[[], int]:
    """Statements the server ran since this was made, less the counter's own reads."""
    before, reads = read(), 0

    def count() -> int:
        nonlocal reads
        reads += 1
        return read() - before - reads

    return count


def _questions(url: str) -> tuple[Callable[[], int], Callable[[], None]]:
    """Read the server's statement counter; and dispose of the engine that reads it."""
    # Autocommit and no reset on return: the counter's own reads add one SHOW each, nothing else.
    engine = create_engine(
        resolve_url(url, asynchronous=False),
        isolation_level="AUTOCOMMIT",
        pool_reset_on_return=None,
        skip_autocommit_rollback=True,
    )

    def read() -> int:
        with engine.connect() as conn:
            return int(conn.execute(text("SHOW GLOBAL STATUS LIKE 'Questions'")).one()[1])

    return read, engine.dispose


async def _login(manager: AsyncSessionManager, kind: str) -> Any:
    if kind == "persistent":
        return await manager.create_new_session("alice")
    return await _create(manager, kind)


@pytest.mark.parametrize("kind", ["persistent", "non-persistent", "impersonation"])
async def test_the_async_manager_costs_the_same_round_trips(
    backend: str,
    make_config: Callable[..., Any],
    driver_statements: DriverStatements,
    database_url: str,
    kind: str,
):
    """On MariaDB the server's counter is global: the statements of its other clients (another
    test run on the same server) add to it, never take from it. So there the cost is the least
    of a few measurements; at a driver it is exact, and measured once."""
    async with AsyncSessionManager(make_config()) as manager:
        await manager.create_tables()
        tokens = await _login(manager, kind)
        await manager.get_session(tokens.access_token.value, tokens.anti_csrf_token)
        dispose: Callable[[], None] = lambda: None  # noqa: E731
        if backend == "mysql":
            read, dispose = _questions(database_url)
            attempts = 10
            new_counter = lambda: _server_statement_counter(read)  # noqa: E731
        else:
            seen = driver_statements.watch(manager.store)
            if backend == "sqlite":  # the trace is on new connections: open one
                warm = await manager.create_new_session("warm")
                await manager.get_session(warm.access_token.value, warm.anti_csrf_token)
            attempts = 1

            def new_counter() -> Callable[[], int]:
                seen.clear()
                return lambda: len(seen)

        costs = []
        try:
            for _ in range(attempts):
                count = new_counter()
                refreshed = await manager.refresh_session(tokens.refresh_token.value)
                verified = await manager.get_session(
                    refreshed.access_token.value, refreshed.anti_csrf_token
                )
                assert verified.new_access_token is not None
                rotation = count()
                await _login(manager, kind)
                costs.append((rotation, count() - rotation))
                if costs[-1] == (2, 1):
                    break
                tokens = refreshed
        finally:
            dispose()
        # (rotation, login): a full rotation is two round trips, a login one.
        assert min(costs) == (2, 1), costs


@pytest.fixture(autouse=True)
def _only_for_watchable_drivers(backend: str) -> None:
    if backend not in ("sqlite", "mysql", "postgres"):  # pragma: no cover - other backends
        pytest.fail(f"no driver-level counter for {backend}")


def test_the_key_recheck_is_one_select_per_interval_on_signing_paths(
    make_manager: Callable[..., SessionManager], driver_statements: DriverStatements, clock: Any
):
    """A signing process looks at the key table once per revocation_refresh_interval, to learn
    of keys rotated elsewhere (its own statement: signing paths do not read revocations, and
    verify, which does, needs no signing key). The first refresh after the interval pays one
    SELECT of a few rows; the others, and every verify, pay nothing more."""
    manager = make_manager()
    tokens = _warm(manager)
    seen = driver_statements.watch(manager.store)  # type: ignore[attr-defined]
    _warm(manager)
    seen.clear()
    clock.advance(1.9)  # within the interval: a rotation costs what it always does
    refreshed = manager.refresh_session(tokens.refresh_token.value)
    manager.get_session(refreshed.access_token.value, refreshed.anti_csrf_token)
    assert _kinds(seen) == ["UPDATE", "UPDATE"], seen
    seen.clear()
    clock.advance(0.1)  # the interval since the last look is over
    again = manager.refresh_session(refreshed.refresh_token.value)
    assert _kinds(seen) == ["SELECT", "UPDATE"], seen
    assert manager.config.signing_key_table in seen[0]
    seen.clear()
    manager.get_session(again.access_token.value, again.anti_csrf_token)
    # The promotion signs too, without a second look; its verify reads the revocations, due
    # every interval as before (the key recheck does not ride on that read: see keyring.py).
    assert _kinds(seen) == ["SELECT", "UPDATE"], seen
    assert manager.config.revocation_table in seen[0]
