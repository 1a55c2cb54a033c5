"""PostgreSQL failover without a proxy: libpq's multi-host URL with target_session_attrs=read-write.

A primary and a streaming replica on loopback (``scripts/pg-replica.sh``), one URL naming both:

    postgresql://postgres@/sessionward_test?host=127.0.0.1:25431&host=127.0.0.1:25432
        &target_session_attrs=read-write&connect_timeout=2

Clients rotate their sessions (sync and async managers) while the primary crashes and the replica
is promoted. What must hold: until the promotion, calls that need the database fail only with
``GeneralError`` (a confirmed access token still verifies without it); after it, the same tokens
work, with no theft, no "unauthorised" and no session lost. The test then rebuilds the old primary
as a replica of the new one (``rejoin``), so the pair is whole again for the next run.

The pair comes from ``SESSIONWARD_TEST_PG_FAILOVER_URL`` (CI runs ``scripts/pg-replica.sh up``
and sets it to ``scripts/pg-replica.sh url``). Set, a pair that does not answer fails the test;
unset, the module is skipped, naming the commands that start one.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url

from sessionward import SessionTokens
from sessionward._errors import GeneralError
from sessionward._storage.engines import make_sync_engine
from tests.conftest import drop_tables, unique_tables
from tests.hardening.test_faults import fails_general
from tests.hardening.test_races import row_count
from tests.support.nodes import Nodes
from tests.support.race_worker import classify as outcome_of

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "pg-replica.sh"
ENV = "SESSIONWARD_TEST_PG_FAILOVER_URL"
CLIENTS = 6
RETRY_FOR_S = 60.0  # a client retries a failed call with the same token for at most this long


def pair_script(*args: str) -> None:
    subprocess.run(["bash", str(SCRIPT), *args], check=True, timeout=300)


def hosts(url: str) -> list[tuple[str, int]]:
    """The (host, port) pairs the URL's ``host`` query parameters name."""
    found = make_url(url).query.get("host", ())
    entries = [found] if isinstance(found, str) else list(found)
    return [(h, int(p)) for h, _, p in (e.partition(":") for e in entries)]


def in_recovery(host: str, port: int) -> bool:
    with psycopg.connect(host=host, port=port, user="postgres", dbname="postgres") as conn:
        row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
        assert row is not None
        return bool(row[0])


@pytest.fixture(scope="module")
def pair_url() -> str:
    url = os.environ.get(ENV, "").strip()
    if not url:
        pytest.skip(
            f"{ENV} is not set: start a primary and a replica with `scripts/pg-replica.sh up` and "
            f'`export {ENV}="$(scripts/pg-replica.sh url)"` (CI does)'
        )
    servers = hosts(url)
    if len(servers) != 2:
        pytest.fail(f"{ENV} must name two hosts (host=...&host=...): {url}", pytrace=False)
    try:
        roles = sorted(in_recovery(host, port) for host, port in servers)
    except Exception as exc:
        pytest.fail(
            f"the PostgreSQL pair of {ENV} does not answer ({type(exc).__name__}: {exc}); "
            "start it with `scripts/pg-replica.sh up`",
            pytrace=False,
        )
    if roles != [False, True]:
        pytest.fail(f"{url} must name one primary and one replica", pytrace=False)
    return url


class Rotating:
    """Clients that rotate their sessions until ``stop``; a call that fails with GeneralError is
    tried again, with the same token, every 50 ms. Anything else is a problem."""

    def __init__(self, nodes: Nodes) -> None:
        self.nodes = nodes
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.failures: Counter[str] = Counter()
        self.outages: list[float] = []  # per failed call: first failure to success, seconds
        self.problems: list[str] = []
        self.current: dict[int, SessionTokens] = {}

    def call(self, name: str, *args: Any) -> Any:
        first_failure = None
        while True:
            try:
                result = self.nodes.call(0, name, *args)
            except GeneralError:
                now = time.monotonic()
                first_failure = first_failure or now
                with self.lock:
                    self.failures["general"] += 1
                if now - first_failure > RETRY_FOR_S:
                    raise
                time.sleep(0.05)
                continue
            if first_failure is not None:
                with self.lock:
                    self.outages.append(time.monotonic() - first_failure)
            return result

    def client(self, c: int) -> None:
        try:
            tokens = self.call("create_new_session", f"client-{c}", {"c": c})
            while not self.stop.is_set():
                tokens = self.call("refresh_session", tokens.refresh_token.value)
                verified = self.call(
                    "get_session", tokens.access_token.value, tokens.anti_csrf_token
                )
                if verified.new_access_token is None:
                    raise AssertionError("a rotation was not promoted")
                with self.lock:
                    self.current[c] = tokens
        except Exception as exc:
            with self.lock:
                self.problems.append(f"client {c}: {outcome_of(exc)}: {exc!r}")


def restore_pair(url: str, tables: dict[str, str]) -> None:
    """Rebuild the old primary as the new one's replica; if the run broke off before there was a
    new primary, start a fresh pair instead. Either way the next run finds a whole pair."""
    try:
        drop_tables(url, tables)
        pair_script("rejoin")
    except Exception:
        pair_script("up")
        raise


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_sessions_continue_after_the_replica_is_promoted(pair_url: str, mode: str) -> None:
    # The URL's own connect_timeout (2 s per host) is what the engine uses.
    engine = make_sync_engine(pair_url)
    try:
        params = engine.dialect.create_connect_args(engine.url)[1]
        assert params["connect_timeout"] == "2" and params["target_session_attrs"] == "read-write"
    finally:
        engine.dispose()
    tables = unique_tables()
    nodes = Nodes(mode, [pair_url], tables)
    rotating = Rotating(nodes)
    threads = [threading.Thread(target=rotating.client, args=(c,)) for c in range(CLIENTS)]
    timeline: dict[str, float] = {}
    try:
        try:
            confirmed = nodes.call(0, "create_new_session", "checker")
            pending = nodes.call(0, "refresh_session", confirmed.refresh_token.value)
            verified = nodes.call(
                0, "get_session", pending.access_token.value, pending.anti_csrf_token
            )
            access, csrf = verified.new_access_token.value, pending.anti_csrf_token
            for thread in threads:
                thread.start()
            time.sleep(2)

            stopped = time.monotonic()
            pair_script("stop-primary")
            # No primary: what needs the database fails with GeneralError; verify needs none.
            fails_general(nodes.call, 0, "refresh_session", pending.refresh_token.value)
            assert nodes.call(0, "get_session", access, csrf).session.user_id == "checker"
            time.sleep(1)
            promoting = time.monotonic()
            pair_script("promote")
            timeline["promote, s"] = round(time.monotonic() - promoting, 2)
            first = nodes.call(0, "refresh_session", pending.refresh_token.value)  # same token
            timeline["crash to first refresh on the new primary, s"] = round(
                time.monotonic() - stopped, 2
            )
            time.sleep(2)
        finally:
            rotating.stop.set()
            for thread in threads:
                thread.join(timeout=120)
        still = nodes.call(0, "get_session", first.access_token.value, first.anti_csrf_token)
        assert still.new_access_token is not None
        for tokens in rotating.current.values():  # every session goes on
            again = nodes.call(0, "refresh_session", tokens.refresh_token.value)
            promoted = nodes.call(0, "get_session", again.access_token.value, again.anti_csrf_token)
            assert promoted.new_access_token is not None
        sessions = row_count(nodes.configs[0])
    finally:
        nodes.close()
        restore_pair(pair_url, tables)
    outages = sorted(rotating.outages)
    print(
        f"\n{mode}: {timeline}; failed calls: {dict(rotating.failures)}; each failed call "
        f"worked again, same token, after {outages[0]:.2f}-{outages[-1]:.2f} s"
    )
    assert rotating.problems == [], rotating.problems[:3]
    assert len(rotating.current) == CLIENTS
    assert rotating.failures, "no call met the missing primary: the test proved nothing"
    assert sessions == CLIENTS + 1, "a session was lost or duplicated"
