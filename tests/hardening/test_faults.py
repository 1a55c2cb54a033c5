"""Database faults, produced for real: a TCP proxy between the library and MariaDB/PostgreSQL.

What must hold while the database is unreachable (docs/protocol.md#operations-and-errors:
GeneralError means "answer 500"):

- a confirmed access token (no ``prt``) still verifies when blacklisting is off (no database call),
  and fails closed with ``GeneralError`` when blacklisting is on;
- every operation that needs the database fails with ``GeneralError``: never ``UnauthorisedError``
  or ``TokenTheftDetectedError``, which would log the user out or report a theft that is not one;
- after the database is back, the same refresh token works: no session is lost, and the rotation
  continues normally;
- pooled connections killed under the pool are replaced (``pool_pre_ping``);
- a connection cut while a refresh waits on the row lock changes nothing; a COMMIT that takes
  effect but whose answer is lost is recovered by the client's retry with the same token;
- a refresh cancelled while it waits on the row lock gives back its connection;
- the web layer answers 500 with a generic body and leaves the cookies alone;
- a connection pool of size 1 never deadlocks (no flow holds a connection while taking another).

SQLite is left out of the proxy tests (there is no connection to cut); it is in the pool test.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.ext.asyncio import create_async_engine

from sessionward import AsyncSessionManager, Config, SessionManager
from sessionward._errors import (
    GeneralError,
    SessionError,
    TokenTheftDetectedError,
    UnauthorisedError,
)
from sessionward._protocol import sha256_hex
from sessionward._storage.engines import resolve_url
from tests.conftest import backend_url, drop_tables, ensure_database, unique_tables
from tests.support.db_proxy import TcpProxy, proxy_for
from tests.support.web_apps import EXAMPLE_SETTINGS, Browser, load_example

SERVERS = ["mysql", "postgres"]


@dataclass
class Proxied:
    """A real server behind a proxy, with tables of this test's own."""

    server: str
    real_url: str  # straight to the server (for the test's own checks)
    url: str  # through the proxy (for the library)
    proxy: TcpProxy
    tables: dict[str, str]

    def config(self, **settings: Any) -> Config:
        settings.setdefault("refresh_path", "/refresh")
        return Config(database_url=self.url, **self.tables, **settings)


@pytest.fixture(params=SERVERS)
def proxied(request: pytest.FixtureRequest) -> Iterator[Proxied]:
    real = ensure_database(request.param)
    tables = unique_tables()
    try:
        with proxy_for(real) as proxy:
            yield Proxied(request.param, real, proxy.url(real), proxy, tables)
    finally:
        drop_tables(real, tables)


class Driver:
    """One manager, sync or async, called the same way (the async one on a loop of its own)."""

    def __init__(self, mode: str, config: Config, **options: Any) -> None:
        self.mode = mode
        self.loop: asyncio.AbstractEventLoop | None = None
        if mode == "sync":
            self.manager: Any = SessionManager(config, **options)
        else:
            self.loop = asyncio.new_event_loop()
            self.manager = AsyncSessionManager(config, **options)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.manager, name)
        if self.loop is None:
            return method  # type: ignore[no-any-return]
        loop = self.loop
        return lambda *args: loop.run_until_complete(method(*args))

    def close(self) -> None:
        if self.loop is None:
            self.manager.close()
        else:
            self.loop.run_until_complete(self.manager.close())
            self.loop.close()


@pytest.fixture
def drivers() -> Iterator[Callable[..., Driver]]:
    made: list[Driver] = []

    def factory(mode: str, config: Config, **options: Any) -> Driver:
        made.append(Driver(mode, config, **options))
        return made[-1]

    yield factory
    for driver in made:
        driver.close()


def fails_general(call: Callable[..., Any], *args: Any) -> GeneralError:
    """The call raises GeneralError (not Unauthorised, not theft, not anything else)."""
    try:
        call(*args)
    except GeneralError as exc:
        return exc
    except SessionError as exc:  # pragma: no cover - the failure being guarded against
        pytest.fail(f"{type(exc).__name__} instead of GeneralError: {exc}")
    pytest.fail("succeeded although the database is unreachable")


def rotate_and_confirm(m: Driver, refresh_token: str) -> Any:
    """Refresh, then use the new access token once (which promotes the new refresh token)."""
    tokens = m.refresh_session(refresh_token)
    verified = m.get_session(tokens.access_token.value, tokens.anti_csrf_token)
    assert verified.new_access_token is not None
    return tokens, verified.new_access_token.value


# --- the database goes away, and comes back ---------------------------------------------------


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("blacklisting", [False, True], ids=["blacklist-off", "blacklist-on"])
def test_outage_fails_closed_and_loses_no_session(
    proxied: Proxied, drivers: Callable[..., Driver], mode: str, blacklisting: bool
) -> None:
    config = proxied.config(revocation_check="exact" if blacklisting else None)
    m = drivers(mode, config)
    first = m.create_new_session("alice", {"role": "x"}, {"visits": 1})
    handle = first.session.handle
    confirmed, confirmed_access = rotate_and_confirm(m, first.refresh_token.value)
    csrf = confirmed.anti_csrf_token
    pending = m.refresh_session(confirmed.refresh_token.value)  # not yet confirmed: has prt

    proxied.proxy.cut()

    # Verifying a confirmed access token: stateless unless blacklisting asks for the row.
    if blacklisting:
        fails_general(m.get_session, confirmed_access, csrf)
    else:
        for _ in range(3):
            assert m.get_session(confirmed_access, csrf).session.handle == handle
    # Everything that needs the row fails with GeneralError, however often it is tried.
    for _ in range(2):
        fails_general(m.refresh_session, pending.refresh_token.value)
        fails_general(m.refresh_session, confirmed.refresh_token.value)
        fails_general(m.get_session, pending.access_token.value, pending.anti_csrf_token)
    fails_general(m.create_new_session, "bob")
    fails_general(m.get_session_data, handle)
    fails_general(m.update_session_data, handle, {"visits": 2})
    fails_general(m.get_all_session_handles_for_user, "alice")
    fails_general(m.revoke_session, handle)
    # A process that starts during the outage knows no key yet: it fails closed too, instead of
    # answering "try refresh" (whose refresh would fail anyway) or "unauthorised".
    newcomer = drivers(mode, config)
    fails_general(newcomer.get_session, confirmed_access, csrf)
    assert proxied.proxy.refused > 0, "the library never tried the database during the outage"

    proxied.proxy.restore()

    # The very refresh token that failed works, and the rotation goes on as if nothing happened.
    tokens = m.refresh_session(pending.refresh_token.value)
    assert tokens.session.handle == handle
    for _ in range(3):
        verified = m.get_session(tokens.access_token.value, tokens.anti_csrf_token)
        assert verified.session.handle == handle and verified.new_access_token is not None
        tokens = m.refresh_session(tokens.refresh_token.value)
    assert m.get_session_data(handle) == {"visits": 1}  # the failed update left no trace
    assert m.get_all_session_handles_for_user("alice") == [handle]
    assert newcomer.get_session(confirmed_access, csrf).session.handle == handle
    # Theft detection still works after the outage: an old token is an old token.
    with pytest.raises(TokenTheftDetectedError):
        m.refresh_session(first.refresh_token.value)  # older than the grace window allows


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_killed_pooled_connections_are_replaced(
    proxied: Proxied, drivers: Callable[..., Driver], mode: str
) -> None:
    m = drivers(mode, proxied.config(revocation_check="exact"))
    tokens = m.create_new_session("carol", None, {"n": 0})
    handle = tokens.session.handle
    tokens, _ = rotate_and_confirm(m, tokens.refresh_token.value)

    for restore_after_cut in (False, True):
        # The server drops every connection the pool holds (a restart, a failover, a firewall).
        if restore_after_cut:
            proxied.proxy.cut()
            fails_general(m.refresh_session, tokens.refresh_token.value)
            proxied.proxy.restore()
        else:
            assert proxied.proxy.kill_established() > 0, "the pool held no connection to kill"
        accepted = proxied.proxy.accepted
        # The next operations all succeed: pre-ping finds the dead connections and reconnects.
        verified = m.get_session(tokens.access_token.value, tokens.anti_csrf_token)
        assert verified.session.handle == handle
        tokens, confirmed_access = rotate_and_confirm(m, tokens.refresh_token.value)
        assert m.get_session(confirmed_access, tokens.anti_csrf_token).session.handle == handle
        m.update_session_data(handle, {"n": int(restore_after_cut)})
        assert m.get_session_data(handle) == {"n": int(restore_after_cut)}
        assert proxied.proxy.accepted > accepted, "no new connection: nothing was really killed"
    assert m.revoke_session(handle) is True


def _row(proxied: Proxied, handle: str) -> Any:
    """The session row's changing columns, read straight from the server."""
    table = proxied.tables["refresh_token_table"]
    engine = create_engine(resolve_url(proxied.real_url, asynchronous=False))
    try:
        with engine.connect() as conn:
            return conn.execute(
                text(
                    f"SELECT refresh_token_hash_2, parent_issued_at, child_issued_at "
                    f"FROM {table} WHERE session_handle = :h"
                ),
                {"h": handle},
            ).one()
    finally:
        engine.dispose()


def _h2(refresh_token: str) -> str:
    return sha256_hex(sha256_hex(refresh_token))


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_committed_but_unacknowledged_writes(
    proxied: Proxied, drivers: Callable[..., Driver], mode: str
) -> None:
    """The write reaches the server and takes effect, but its answer is lost with the connection.
    The store retries on a fresh connection and decides again from what was committed, so the
    caller gets exactly what the lost answer held, and later calls agree with it."""
    m = drivers(mode, proxied.config())
    start = m.create_new_session("frank")
    handle = start.session.handle

    # 1. A parent's first refresh: the write stored the grace window's anchor.
    proxied.proxy.lose_reply_to(b"UPDATE")
    child = m.refresh_session(start.refresh_token.value)
    assert proxied.proxy.lost_replies == 1
    assert _row(proxied, handle).child_issued_at is not None  # it did commit
    again = m.refresh_session(start.refresh_token.value)
    assert again.refresh_token.value == child.refresh_token.value

    # 2. A promotion by access token: committed, unacknowledged; the retry finds it done.
    proxied.proxy.lose_reply_to(b"UPDATE")
    promoted = m.get_session(child.access_token.value, child.anti_csrf_token)
    assert promoted.new_access_token is not None
    assert _row(proxied, handle).refresh_token_hash_2 == _h2(child.refresh_token.value)
    assert m.get_session(child.access_token.value, child.anti_csrf_token).new_access_token

    # 3. A promotion by refresh token (the child presents itself): same again.
    grandchild = m.refresh_session(child.refresh_token.value)
    proxied.proxy.lose_reply_to(b"UPDATE")
    retry = m.refresh_session(grandchild.refresh_token.value)
    assert _row(proxied, handle).refresh_token_hash_2 == _h2(grandchild.refresh_token.value)
    again = m.refresh_session(grandchild.refresh_token.value)
    assert again.refresh_token.value == retry.refresh_token.value
    assert m.get_session(retry.access_token.value, retry.anti_csrf_token).new_access_token
    assert proxied.proxy.lost_replies == 3
    assert m.refresh_session(retry.refresh_token.value).session.handle == handle


def _waiting_for_row_lock(real_url: str, server: str, table: str) -> bool:
    """Whether some connection's ``UPDATE`` of ``table`` is waiting on a row lock."""
    if server == "postgres":
        sql = (
            "SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
            "AND wait_event_type = 'Lock' AND query LIKE :table AND query LIKE 'UPDATE%'"
        )
    else:
        sql = (
            "SELECT count(*) FROM information_schema.processlist WHERE id <> connection_id() "
            "AND info LIKE :table AND info LIKE 'UPDATE%'"
        )
    engine = create_engine(resolve_url(real_url, asynchronous=False))
    try:
        with engine.connect() as conn:
            return bool(conn.execute(text(sql), {"table": f"%{table}%"}).scalar_one())
    finally:
        engine.dispose()


def test_cut_during_a_locked_refresh(proxied: Proxied, drivers: Callable[..., Driver]) -> None:
    """The connection dies while the refresh's write waits on the row lock (held here by another
    transaction): GeneralError, the session unchanged, and the same refresh token works."""
    m = drivers("sync", proxied.config())
    tokens = m.create_new_session("dave")
    handle, table = tokens.session.handle, proxied.tables["refresh_token_table"]
    select_row = text(
        f"SELECT refresh_token_hash_2, expires_at, parent_issued_at, child_issued_at "
        f"FROM {table} WHERE session_handle = :h"
    )
    direct = create_engine(resolve_url(proxied.real_url, asynchronous=False))
    outcome: list[BaseException | None] = []

    def refresh() -> None:
        try:
            m.refresh_session(tokens.refresh_token.value)
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    try:
        with direct.connect() as holder:
            holder.begin()
            before = holder.execute(text(f"{select_row.text} FOR UPDATE"), {"h": handle}).one()
            worker = threading.Thread(target=refresh)
            worker.start()
            deadline = time.monotonic() + 20
            while not _waiting_for_row_lock(proxied.real_url, proxied.server, table):
                assert time.monotonic() < deadline, "the refresh never waited on the row lock"
                time.sleep(0.05)
            proxied.proxy.cut()
            worker.join(timeout=20)
            assert not worker.is_alive()
            holder.rollback()
        assert len(outcome) == 1 and isinstance(outcome[0], GeneralError), outcome
        with direct.connect() as conn:
            after = conn.execute(select_row, {"h": handle}).one()
        # The session is where it was: same parent, same expiry. (The server may still have
        # completed the single statement after its client vanished, recording the grace anchor
        # for this parent; that is invisible to clients, as the refresh below shows.)
        assert after[:3] == before[:3]
    finally:
        direct.dispose()
    proxied.proxy.restore()
    again = m.refresh_session(tokens.refresh_token.value)
    assert again.session.handle == handle
    assert m.get_session(again.access_token.value, again.anti_csrf_token).new_access_token


async def test_cancelled_refresh_gives_back_its_connection(proxied: Proxied) -> None:
    """A request cancelled while its refresh waits on the row lock (a client gone, a timeout)
    leaves neither its connection checked out nor the row locked: with a pool of one, the next
    operations go through, and the same refresh token still works."""
    real = resolve_url(proxied.real_url, asynchronous=True)
    engine = create_async_engine(real, pool_pre_ping=True, **POOL_OPTIONS)
    config = Config(refresh_path="/r", database_url=proxied.real_url, **proxied.tables)
    manager = AsyncSessionManager(config, engine=engine)
    table = proxied.tables["refresh_token_table"]
    direct = create_engine(resolve_url(proxied.real_url, asynchronous=False))
    try:
        tokens = await manager.create_new_session("erin")
        with direct.connect() as holder:
            holder.begin()
            holder.execute(text(f"SELECT session_handle FROM {table} FOR UPDATE")).all()
            task = asyncio.ensure_future(manager.refresh_session(tokens.refresh_token.value))
            deadline = time.monotonic() + 20
            while not await asyncio.to_thread(
                _waiting_for_row_lock, proxied.real_url, proxied.server, table
            ):
                assert time.monotonic() < deadline, "the refresh never waited on the row lock"
                assert not task.done(), task
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            holder.rollback()
        again = await manager.refresh_session(tokens.refresh_token.value)
        assert again.session.handle == tokens.session.handle
        verified = await manager.get_session(again.access_token.value, again.anti_csrf_token)
        assert verified.new_access_token is not None
        assert await manager.revoke_session(tokens.session.handle) is True
    finally:
        await manager.close()
        direct.dispose()


# --- the web layer -------------------------------------------------------------------------------


def assert_generic_500_keeps_cookies(reply: Any) -> None:
    assert reply.status == 500, reply.response.text
    assert reply.json() == {"message": "internal server error"}
    assert reply.headers.get_list("set-cookie") == []  # nothing set, nothing cleared
    assert "id-refresh-token" not in reply.headers
    assert "anti-csrf" not in reply.headers


@pytest.mark.parametrize("blacklisting", [False, True], ids=["blacklist-off", "blacklist-on"])
def test_fastapi_during_outage(proxied: Proxied, blacklisting: bool) -> None:
    from starlette.testclient import TestClient

    config = proxied.config(
        **{**EXAMPLE_SETTINGS, "revocation_check": "exact" if blacklisting else None}
    )
    manager = AsyncSessionManager(config)
    app = load_example("fastapi_app").create_app(manager)
    with TestClient(app, base_url="http://testserver") as client:
        try:
            browser = Browser(client, time.time)
            browser.login()
            assert browser.refresh().status == 200
            assert browser.request("GET", "/me").status == 200  # confirms the new tokens
            jar = dict(browser.jar)

            proxied.proxy.cut()
            me = browser.request("GET", "/me")
            if blacklisting:
                assert_generic_500_keeps_cookies(me)
            else:
                assert me.status == 200 and me.json()["userId"] == "alice"
                assert me.headers.get_list("set-cookie") == []
            for _ in range(2):
                assert_generic_500_keeps_cookies(browser.refresh())
            assert browser.jar == jar

            proxied.proxy.restore()
            refreshed = browser.refresh()  # the same cookies as before the outage
            assert refreshed.status == 200
            assert browser.jar["sRefreshToken"] != jar["sRefreshToken"]
            unconfirmed_jar = dict(browser.jar)

            proxied.proxy.cut()  # a token awaiting promotion needs the database: 500, kept
            assert_generic_500_keeps_cookies(browser.request("GET", "/me"))
            assert browser.jar == unconfirmed_jar

            proxied.proxy.restore()
            me = browser.request("GET", "/me")
            assert me.status == 200 and "sAccessToken" in me.cookies
            assert browser.refresh().status == 200
            assert browser.request("GET", "/me").status == 200
        finally:
            client.portal.call(manager.close)


# --- a pool of one connection --------------------------------------------------------------------

POOL_WORKERS = 6
POOL_JOURNEYS = 6  # per worker


def _journey(m: SessionManager, worker: int, i: int) -> int:
    """One user's life, every kind of operation; returns the number of operations."""
    user = f"pool-{worker}-{i}"
    tokens = m.create_new_session(user, {"w": worker}, {"i": i})
    handle = tokens.session.handle
    m.get_session(tokens.access_token.value, tokens.anti_csrf_token)
    first = tokens.refresh_token.value
    tokens = m.refresh_session(first)
    again = m.refresh_session(first)  # a duplicate within the grace window: the same child
    assert again.refresh_token.value == tokens.refresh_token.value
    assert m.get_session(tokens.access_token.value, tokens.anti_csrf_token).new_access_token
    tokens = m.refresh_session(tokens.refresh_token.value)
    m.update_session_data(handle, {"i": i, "done": True})
    assert m.get_session_data(handle) == {"i": i, "done": True}
    assert m.get_all_session_handles_for_user(user) == [handle]
    assert m.revoke_session(handle) is True
    with pytest.raises(UnauthorisedError):
        m.refresh_session(tokens.refresh_token.value)
    return 11


async def _async_journey(m: AsyncSessionManager, worker: int, i: int) -> int:
    user = f"apool-{worker}-{i}"
    tokens = await m.create_new_session(user, {"w": worker}, {"i": i})
    handle = tokens.session.handle
    await m.get_session(tokens.access_token.value, tokens.anti_csrf_token)
    first = tokens.refresh_token.value
    tokens = await m.refresh_session(first)
    again = await m.refresh_session(first)
    assert again.refresh_token.value == tokens.refresh_token.value
    verified = await m.get_session(tokens.access_token.value, tokens.anti_csrf_token)
    assert verified.new_access_token is not None
    tokens = await m.refresh_session(tokens.refresh_token.value)
    await m.update_session_data(handle, {"i": i, "done": True})
    assert await m.get_session_data(handle) == {"i": i, "done": True}
    assert await m.get_all_session_handles_for_user(user) == [handle]
    assert await m.revoke_session(handle) is True
    with pytest.raises(UnauthorisedError):
        await m.refresh_session(tokens.refresh_token.value)
    return 11


POOL_OPTIONS = {"pool_size": 1, "max_overflow": 0, "pool_timeout": 5}


@pytest.mark.parametrize("backend", ["sqlite", *SERVERS])
def test_pool_of_one_never_deadlocks_sync(backend: str, tmp_path: Any) -> None:
    url = backend_url(backend, tmp_path)
    tables = unique_tables()
    engine = create_engine(resolve_url(url, asynchronous=False), **POOL_OPTIONS)
    # A fresh manager: the first operations also race to create the tables and the keys.
    manager = SessionManager(Config(refresh_path="/r", database_url=url, **tables), engine=engine)
    barrier = threading.Barrier(POOL_WORKERS)
    done: list[int] = []
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        barrier.wait()
        for i in range(POOL_JOURNEYS):
            try:
                done.append(_journey(manager, worker, i))
            except BaseException as exc:
                errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(POOL_WORKERS)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert engine.pool.size() == 1
        assert errors == [], [repr(e.__cause__ or e) for e in errors[:3]]
        assert sum(done) == POOL_WORKERS * POOL_JOURNEYS * 11
    finally:
        manager.close()
        drop_tables(url, tables)


@pytest.mark.parametrize("backend", ["sqlite", *SERVERS])
async def test_pool_of_one_never_deadlocks_async(backend: str, tmp_path: Any) -> None:
    url = backend_url(backend, tmp_path)
    tables = unique_tables()
    engine = create_async_engine(resolve_url(url, asynchronous=True), **POOL_OPTIONS)
    config = Config(refresh_path="/r", database_url=url, **tables)
    manager = AsyncSessionManager(config, engine=engine)
    try:
        results = await asyncio.gather(
            *(
                _async_journey(manager, w, i)
                for w in range(POOL_WORKERS)
                for i in range(POOL_JOURNEYS)
            ),
            return_exceptions=True,
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        assert engine.pool.size() == 1
        assert errors == [], [repr(e.__cause__ or e) for e in errors[:3]]
        assert sum(results) == POOL_WORKERS * POOL_JOURNEYS * 11  # type: ignore[arg-type]
    finally:
        await manager.close()
        drop_tables(url, tables)
