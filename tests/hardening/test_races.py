"""Races on real MariaDB and PostgreSQL: concurrent refreshes, lost responses, revoke vs refresh.

The grace window (``protocol.py``) derives a parent's child from the parent and an anchor time, so
every refresh of one parent within the window must return the very same child, and none of them
may be taken for a theft. Outside the window the strict rule applies: an old token is theft.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select

from sessionward import Config, SessionManager
from sessionward._errors import TokenTheftDetectedError, UnauthorisedError
from sessionward._storage.engines import resolve_url
from sessionward._storage.schema import build_tables
from tests.conftest import FakeClock, drop_tables, ensure_database, unique_tables
from tests.support.race_worker import classify, run_race_worker

SERVERS = ["mysql", "postgres"]
PROCESSES = 5
THREADS = 10  # per process: 50 concurrent refreshes of one token
ROUNDS = 20
GRACE = 30  # the default grace window, seconds


def row_count(config: Config, handle: str | None = None) -> int:
    """Rows of the session table (of one session), read straight from the database."""
    sessions = build_tables(config.signing_key_table, config.refresh_token_table).sessions
    query = select(func.count()).select_from(sessions)
    if handle is not None:
        query = query.where(sessions.c.session_handle == handle)
    engine = create_engine(resolve_url(config.database_url, asynchronous=False))
    try:
        with engine.connect() as conn:
            return int(conn.execute(query).scalar_one())
    finally:
        engine.dispose()


def peak_in_flight(records: list[dict[str, Any]]) -> int:
    """The most calls that were in flight at one moment (by their start and end times)."""
    events = sorted([(r["start"], 1) for r in records] + [(r["end"], -1) for r in records])
    peak = current = 0
    for _, step in events:
        current += step
        peak = max(peak, current)
    return peak


# --- 50 refreshes of one token, from 5 processes, released together ----------------------------


@pytest.fixture(scope="module")
def race_pool() -> Iterator[tuple[ProcessPoolExecutor, Any]]:
    """Worker processes and a barrier for all their threads, shared by both servers' races."""
    context = multiprocessing.get_context("spawn")
    with context.Manager() as sync_manager:
        barrier = sync_manager.Barrier(PROCESSES * THREADS)
        with ProcessPoolExecutor(PROCESSES, mp_context=context) as pool:
            yield pool, barrier


@pytest.mark.multiprocess
@pytest.mark.parametrize("server", SERVERS)
def test_concurrent_refreshes_of_one_token(
    server: str, race_pool: tuple[ProcessPoolExecutor, Any]
) -> None:
    pool, barrier = race_pool
    url = ensure_database(server)
    tables = unique_tables()
    config = Config(refresh_path="/refresh", database_url=url, **tables)
    assert config.refresh_grace_window == GRACE
    parent = SessionManager(config)
    try:
        # Even rounds race a session's first refresh token (the parent: 50 x "issue the child");
        # odd rounds race an unconfirmed child (the first promotes it, the other 49 must then
        # see it as the parent and get the same grandchild).
        sessions = [parent.create_new_session(f"racer-{r}", {"round": r}) for r in range(ROUNDS)]
        raced = [
            s.refresh_token.value
            if r % 2 == 0
            else parent.refresh_session(s.refresh_token.value).refresh_token.value
            for r, s in enumerate(sessions)
        ]
        futures = [
            pool.submit(run_race_worker, config, barrier, raced, THREADS, w)
            for w in range(PROCESSES)
        ]
        records = [r for f in futures for r in f.result(timeout=300)]

        kinds = Counter(r["kind"] for r in records)
        overlap = sorted(
            peak_in_flight([rec for rec in records if rec["round"] == r]) for r in range(ROUNDS)
        )
        print(
            f"\n{server}: {ROUNDS} rounds x {PROCESSES * THREADS} refreshes: {dict(kinds)}; "
            f"most in flight at once, per round: min {overlap[0]}, "
            f"median {overlap[ROUNDS // 2]}, max {overlap[-1]}"
        )
        # The refreshes really raced: in the median round, at least 10 were in flight together.
        assert overlap[ROUNDS // 2] >= 10, overlap
        failures = [r for r in records if r["kind"] != "ok"]
        assert kinds["theft"] == 0, failures[0]["error"]
        assert kinds["deadlock"] == 0, failures[0]["error"]
        assert failures == [], (Counter(r["kind"] for r in failures), failures[0]["error"])
        assert len(records) == ROUNDS * PROCESSES * THREADS

        for r, (session, token) in enumerate(zip(sessions, raced, strict=True)):
            got = [rec for rec in records if rec["round"] == r]
            handle = session.session.handle
            assert {rec["handle"] for rec in got} == {handle}
            # One child for all 50: the same refresh token and the same companions.
            children = {rec["refresh_token"] for rec in got}
            assert len(children) == 1, f"round {r}: {len(children)} different children"
            (child,) = children
            assert child != token
            assert len({(rec["anti_csrf"], rec["id_refresh"]) for rec in got}) == 1
            # Any of the 50 access tokens promotes the child (the first) or finds it promoted.
            for rec in got:
                verified = parent.get_session(rec["access_token"], rec["anti_csrf"])
                assert verified.session.handle == handle
                assert verified.new_access_token is not None
            # The row ended consistent: the child is the parent now, and it rotates.
            grandchild = parent.refresh_session(child)
            assert grandchild.refresh_token.value != child
            assert row_count(config, handle) == 1

        # Past the grace window the raced tokens are what they are: old, so theft.
        later = SessionManager(config, clock=lambda: time.time() + GRACE + 1)
        try:
            for session, token in zip(sessions, raced, strict=True):
                with pytest.raises(TokenTheftDetectedError) as caught:
                    later.refresh_session(token)
                assert (caught.value.session_handle, caught.value.user_id) == (
                    session.session.handle,
                    session.session.user_id,
                )
        finally:
            later.close()
        assert row_count(config) == 0  # revoke_session_on_theft: every session was ended
    finally:
        parent.close()
        drop_tables(url, tables)


# --- lost responses and duplicates, one at a time -------------------------------------------------


@pytest.fixture(params=SERVERS)
def server_manager(
    request: pytest.FixtureRequest, clock: FakeClock
) -> Iterator[Callable[..., SessionManager]]:
    url = ensure_database(request.param)
    made: list[tuple[SessionManager, dict[str, str]]] = []

    def factory(**settings: Any) -> SessionManager:
        tables = unique_tables()
        config = Config(refresh_path="/refresh", database_url=url, **tables, **settings)
        made.append((SessionManager(config, clock=clock), tables))
        return made[-1][0]

    yield factory
    for manager, tables in made:
        manager.close()
        drop_tables(url, tables)


def test_lost_response_within_the_window_gets_the_same_child(
    server_manager: Callable[..., SessionManager], clock: FakeClock
) -> None:
    m = server_manager()
    start = m.create_new_session("lost")
    lost = m.refresh_session(start.refresh_token.value)  # the response never arrives
    clock.advance(GRACE - 1)
    retry = m.refresh_session(start.refresh_token.value)
    assert retry.refresh_token.value == lost.refresh_token.value
    assert retry.anti_csrf_token == lost.anti_csrf_token
    assert retry.id_refresh_token.value == lost.id_refresh_token.value
    assert m.get_session(retry.access_token.value, retry.anti_csrf_token).new_access_token
    assert m.refresh_session(retry.refresh_token.value).session.handle == start.session.handle


def test_lost_response_outside_the_window_is_not_theft(
    server_manager: Callable[..., SessionManager], clock: FakeClock
) -> None:
    """The child was never used, so the parent is still the parent: a new child, no theft."""
    m = server_manager()
    start = m.create_new_session("lost-late")
    lost = m.refresh_session(start.refresh_token.value)
    clock.advance(GRACE + 1)
    retry = m.refresh_session(start.refresh_token.value)
    assert retry.refresh_token.value != lost.refresh_token.value
    assert m.get_session(retry.access_token.value, retry.anti_csrf_token).new_access_token
    assert m.refresh_session(retry.refresh_token.value).session.handle == start.session.handle


def test_duplicate_after_promotion_within_the_window_gets_the_same_child(
    server_manager: Callable[..., SessionManager], clock: FakeClock
) -> None:
    m = server_manager()
    start = m.create_new_session("dup")
    child = m.refresh_session(start.refresh_token.value)
    assert m.get_session(child.access_token.value, child.anti_csrf_token).new_access_token
    clock.advance(GRACE - 1)
    again = m.refresh_session(start.refresh_token.value)  # a second tab, in flight all along
    assert again.refresh_token.value == child.refresh_token.value
    assert again.anti_csrf_token == child.anti_csrf_token
    # Both tabs go on with the same child; the session is intact.
    assert m.get_session(again.access_token.value, again.anti_csrf_token).new_access_token
    assert m.refresh_session(child.refresh_token.value).session.handle == start.session.handle


def test_duplicate_after_promotion_outside_the_window_is_theft(
    server_manager: Callable[..., SessionManager], clock: FakeClock
) -> None:
    m = server_manager()
    start = m.create_new_session("dup-late")
    child = m.refresh_session(start.refresh_token.value)
    assert m.get_session(child.access_token.value, child.anti_csrf_token).new_access_token
    clock.advance(GRACE + 1)
    with pytest.raises(TokenTheftDetectedError) as caught:
        m.refresh_session(start.refresh_token.value)
    assert (caught.value.session_handle, caught.value.user_id) == (start.session.handle, "dup-late")
    with pytest.raises(UnauthorisedError):  # the session was revoked on theft
        m.refresh_session(child.refresh_token.value)


def test_grace_window_off_restores_the_strict_rule(
    server_manager: Callable[..., SessionManager],
) -> None:
    m = server_manager(refresh_grace_window=0)
    start = m.create_new_session("strict")
    child = m.refresh_session(start.refresh_token.value)
    assert m.get_session(child.access_token.value, child.anti_csrf_token).new_access_token
    with pytest.raises(TokenTheftDetectedError):
        m.refresh_session(start.refresh_token.value)


# --- threads on one session: duplicates in flight, and a revoke racing them -----------------------

THREAD_ROUNDS = 25


def _race(calls: list[Callable[[], Any]]) -> list[tuple[str, Any]]:
    """Run the calls on threads released together; each gives ("ok", result) or (kind, exc)."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[tuple[str, Any]] = [("missing", None)] * len(calls)

    def run(i: int) -> None:
        barrier.wait(timeout=30)
        try:
            outcomes[i] = ("ok", calls[i]())
        except Exception as exc:
            outcomes[i] = (classify(exc), exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_duplicates_in_flight_around_a_promotion(
    server_manager: Callable[..., SessionManager],
) -> None:
    """The parent, the child and the child's access token, all at once: whatever the order,
    everyone succeeds and the parent's duplicates get the child again."""
    m = server_manager()
    for r in range(THREAD_ROUNDS):
        start = m.create_new_session(f"inflight-{r}")
        child = m.refresh_session(start.refresh_token.value)
        outcomes = _race(
            [
                partial(m.refresh_session, start.refresh_token.value),
                partial(m.refresh_session, start.refresh_token.value),
                partial(m.refresh_session, child.refresh_token.value),
                partial(m.get_session, child.access_token.value, child.anti_csrf_token),
            ]
        )
        assert [kind for kind, _ in outcomes] == ["ok"] * 4, outcomes
        assert outcomes[0][1].refresh_token.value == child.refresh_token.value
        assert outcomes[1][1].refresh_token.value == child.refresh_token.value
        assert outcomes[3][1].new_access_token is not None
        grandchild = outcomes[2][1]
        assert m.get_session(grandchild.access_token.value, grandchild.anti_csrf_token)
        assert m.refresh_session(grandchild.refresh_token.value)


def test_revoke_racing_refreshes_never_resurrects_the_session(
    server_manager: Callable[..., SessionManager],
) -> None:
    m = server_manager(revocation_check="exact")  # so that every access token needs the row
    seen: Counter[str] = Counter()
    for r in range(THREAD_ROUNDS):
        start = m.create_new_session(f"revoked-{r}", None, {"r": r})
        handle = start.session.handle
        child = m.refresh_session(start.refresh_token.value)
        outcomes = _race(
            [
                partial(m.refresh_session, start.refresh_token.value),
                partial(m.refresh_session, child.refresh_token.value),
                partial(m.get_session, child.access_token.value, child.anti_csrf_token),
                partial(m.revoke_session, handle),
                partial(m.refresh_session, child.refresh_token.value),
            ]
        )
        seen.update(kind for kind, _ in outcomes)
        assert {kind for kind, _ in outcomes} <= {"ok", "unauthorised"}, outcomes
        assert outcomes[3] == ("ok", True)  # the revoke found the row and deleted it

        # Afterwards: no row, and every token the session ever had is refused.
        assert row_count(m.config, handle) == 0
        refresh_tokens = {start.refresh_token.value, child.refresh_token.value}
        access_tokens = {
            (start.access_token.value, start.anti_csrf_token),
            (child.access_token.value, child.anti_csrf_token),
        }
        for kind, result in outcomes:
            if kind == "ok" and hasattr(result, "refresh_token"):
                refresh_tokens.add(result.refresh_token.value)
                access_tokens.add((result.access_token.value, result.anti_csrf_token))
            elif kind == "ok" and getattr(result, "new_access_token", None) is not None:
                access_tokens.add((result.new_access_token.value, child.anti_csrf_token))
        for token in refresh_tokens:
            with pytest.raises(UnauthorisedError):
                m.refresh_session(token)
        for token, csrf in access_tokens:
            with pytest.raises(UnauthorisedError):
                m.get_session(token, csrf)
        with pytest.raises(UnauthorisedError):
            m.get_session_data(handle)
        assert m.get_all_session_handles_for_user(f"revoked-{r}") == []
    print(f"\nrevoke vs refresh, {THREAD_ROUNDS} rounds x 5 threads: {dict(seen)}")
    assert seen["ok"] > THREAD_ROUNDS  # the refreshes did race the revoke, not just follow it
