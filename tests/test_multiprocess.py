"""Several OS processes share one database: concurrent start-up, sessions, refreshes, rotation."""

from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor

import pytest
from sqlalchemy import create_engine, func, select

from sessionward import Config, SessionManager
from sessionward._storage.engines import resolve_url
from sessionward._storage.schema import build_tables
from tests.conftest import drop_tables, ensure_database, unique_tables
from tests.support.mp_worker import run_worker, start_on_new_sqlite_file

PROCESSES = 4
SECONDS = 6.0
INTERVAL_S = 3600


def count_rows(config: Config) -> tuple[int, list[str]]:
    _, keys, sessions, _ = build_tables(config.signing_key_table, config.refresh_token_table)
    engine = create_engine(resolve_url(config.database_url, asynchronous=False))
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(func.count()).select_from(sessions)).scalar_one()
            names = sorted(conn.execute(select(keys.c.key_name)).scalars())
            return int(rows), names
    finally:
        engine.dispose()


@pytest.mark.multiprocess
@pytest.mark.parametrize(
    ("backend", "algorithm"),
    [
        ("mysql", "HS256"),
        ("postgres", "HS256"),
        ("sqlite", "EdDSA"),
        ("mysql", "EdDSA"),
        ("postgres", "EdDSA"),
    ],
)
def test_processes_share_one_database(backend, algorithm, tmp_path):
    url = ensure_database(backend) if backend != "sqlite" else f"sqlite:///{tmp_path}/mp.sqlite3"
    tables = unique_tables()
    config = Config(
        refresh_path="/refresh",
        database_url=url,
        signing_key_rotation_interval=3600,
        signing_algorithm=algorithm,
        **tables,
    )
    # Every process runs on a clock that crosses a key-rotation boundary 3 s into the run
    # (counted from when they have all started: spawning four under load can take seconds).
    boundary = (time.time() // INTERVAL_S + 1) * INTERVAL_S
    clock_start = boundary - 3.0
    context = multiprocessing.get_context("spawn")
    barrier = context.Manager().Barrier(PROCESSES)
    try:
        with ProcessPoolExecutor(PROCESSES, mp_context=context) as pool:
            futures = [
                pool.submit(run_worker, config, clock_start, barrier, SECONDS, worker)
                for worker in range(PROCESSES)
            ]
            results = [f.result(timeout=120) for f in futures]
        offset = clock_start + SECONDS - time.time()  # the workers' clock as they stopped

        errors = [e for r in results for e in r["errors"]]
        assert errors == [], errors[0]
        sessions = [s for r in results for s in r["sessions"]]
        assert len(sessions) > PROCESSES * 5

        rows, key_names = count_rows(config)
        assert rows == len(sessions), "a session row was lost or duplicated"
        signing = [n for n in key_names if n.startswith("access_token_signing_key")]
        assert key_names.count("refresh_token_key") == 1
        # One key for the slot they all started in, one for the slot they all crossed into.
        assert len(signing) == 2, key_names

        # Every key has the configured algorithm, and the keys were shared: no process made its
        # own (so no token needed a refresh because another process did not know its key).
        suffix = "" if algorithm == "HS256" else f"-{algorithm}"
        assert all(n.endswith(suffix) or n == "refresh_token_key" for n in key_names)
        # A fresh process knows every key: all tokens minted anywhere verify and refresh here.
        with SessionManager(config, clock=lambda: time.time() + offset) as checker:
            for handle, access_token, _ in sessions:
                verified = checker.get_session(access_token)
                assert verified.session.handle == handle and verified.new_access_token is None
            for handle, _, refresh_token in sessions[:: max(1, len(sessions) // 50)]:
                assert checker.refresh_session(refresh_token).session.handle == handle
    finally:
        drop_tables(url, tables)


@pytest.mark.multiprocess
def test_processes_start_together_on_a_new_sqlite_file(tmp_path):
    """Switching a new file to WAL takes a lock for which SQLite may not wait: all but one of
    the processes that open it at the same moment used to fail with "database is locked"."""
    trials, processes = 20, 6
    context = multiprocessing.get_context("spawn")
    manager = context.Manager()
    with ProcessPoolExecutor(processes, mp_context=context) as pool:
        for trial in range(trials):
            url = f"sqlite:///{tmp_path}/new-{trial}.sqlite3"
            barrier = manager.Barrier(processes)
            futures = [
                pool.submit(start_on_new_sqlite_file, url, barrier) for _ in range(processes)
            ]
            outcomes = [f.result(timeout=120) for f in futures]
            assert outcomes == ["ok"] * processes, f"trial {trial}: {outcomes}"
    manager.shutdown()
