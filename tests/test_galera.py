"""Sessions on a 3-node MariaDB Galera cluster (multi-primary), with the sync and async managers.

Each test runs one manager per node, sharing tables, as the application processes of a deployment
that spreads its requests over the nodes. What must hold (issue 13):

- a session lives across nodes: created on one, refreshed on another, promoted on the third,
  revoked on the first and refused everywhere;
- a node reads its own cluster's writes: a session created on node 1 refreshes at once on node 2
  (``wsrep_sync_wait``, set by ``storage/engines.py``; without it such a refresh can be refused);
- 50 concurrent refreshes of one token spread over the nodes get one child, no theft, no error;
- a certification conflict (Galera's "deadlock" at commit) is retried by the store and never
  answered as theft or "unauthorised";
- a node SIGKILLed under load fails only the calls sent to it, with ``GeneralError`` (HTTP 500,
  cookies untouched); the same token works on another node; no session is lost; the node rejoins
  (IST) and serves the sessions created while it was down.

The cluster comes from ``SESSIONWARD_TEST_GALERA_URLS`` (three comma-separated URLs; CI runs
``scripts/galera-cluster.sh up`` and sets it). If it is set, a cluster that does not answer fails
every test; it is never skipped. Unset, the module is skipped, naming the command that starts one.
The node-loss test kills and restarts nodes through that script, so it needs the script's cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pymysql
import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from sessionward import Config, SessionTokens
from sessionward._errors import GeneralError
from sessionward._events import NO_HOOKS
from sessionward._storage import prepare_galera
from sessionward._storage.engines import GALERA_SYNC_WAIT, resolve_url
from sessionward._storage.failures import Failure, classify
from tests.conftest import drop_tables, ensure_database, unique_tables
from tests.hardening.test_faults import assert_generic_500_keeps_cookies
from tests.hardening.test_races import peak_in_flight, row_count
from tests.support.nodes import Nodes
from tests.support.race_worker import classify as outcome_of
from tests.support.web_apps import BUILDERS as WEB_BUILDERS
from tests.support.web_apps import EXAMPLE_SETTINGS

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "galera-cluster.sh"
ENV = "SESSIONWARD_TEST_GALERA_URLS"
MODES = ["sync", "async"]
RACERS = 50  # concurrent refreshes of one token, spread over the three nodes
ROUNDS = 20
CLIENTS = 12  # the node-loss test's clients
RUN_S = 20.0  # how long they rotate
KILL_AT_S = 4.0  # when a node is SIGKILLed, counted from the start of the run
DOWN_S = 3.0  # how long it stays down before it is started again


# --- the cluster ----------------------------------------------------------------------------------


def connect(url: str) -> Any:
    """A plain driver connection to one node (autocommit), for the test's own checks."""
    parsed = make_url(url)
    return pymysql.connect(
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 3306,
        user=parsed.username or "root",
        password=parsed.password or "",
        database=parsed.database,
        autocommit=True,
        connect_timeout=5,
    )


def server_status(url: str, *names: str) -> dict[str, str]:
    """Global status variables of one node."""
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            marks = ", ".join(["%s"] * len(names))
            cur.execute(f"SHOW GLOBAL STATUS WHERE Variable_name IN ({marks})", names)
            return {str(name).lower(): str(value) for name, value in cur.fetchall()}
    finally:
        conn.close()


def cluster_script(*args: str) -> None:
    subprocess.run(["bash", str(SCRIPT), *args], check=True, timeout=300)


@pytest.fixture(scope="module")
def galera_urls() -> list[str]:
    raw = os.environ.get(ENV, "").strip()
    if not raw:
        pytest.skip(
            f"{ENV} is not set: start a cluster with `scripts/galera-cluster.sh up` and "
            f'`export {ENV}="$(scripts/galera-cluster.sh urls)"` (CI does)'
        )
    urls = [u.strip() for u in raw.split(",") if u.strip()]
    if len(urls) != 3:
        pytest.fail(f"{ENV} must list three node URLs, got {len(urls)}", pytrace=False)
    for url in urls:
        try:
            status = server_status(url, "wsrep_local_state_comment", "wsrep_cluster_size")
        except Exception as exc:
            pytest.fail(
                f"Galera node {make_url(url).render_as_string()} does not answer "
                f"({type(exc).__name__}: {exc}); start the cluster with "
                "`scripts/galera-cluster.sh up`",
                pytrace=False,
            )
        if status != {"wsrep_local_state_comment": "Synced", "wsrep_cluster_size": "3"}:
            pytest.fail(f"{url} is not a synced node of a 3-node cluster: {status}", pytrace=False)
    return urls


@pytest.fixture
def cluster(galera_urls: list[str]) -> Iterator[Callable[..., Nodes]]:
    """Build :class:`Nodes` on fresh tables; closes them and drops the tables afterwards."""
    made: list[tuple[Nodes, dict[str, str]]] = []

    def factory(mode: str, **settings: Any) -> Nodes:
        tables = unique_tables()
        made.append((Nodes(mode, galera_urls, tables, **settings), tables))
        return made[-1][0]

    yield factory
    for nodes, tables in made:
        nodes.close()
        drop_tables(galera_urls[0], tables)


def rotate(nodes: Nodes, refresh_on: int, promote_on: int, refresh_token: str) -> SessionTokens:
    """Refresh on one node, then use the new access token on another (which promotes it)."""
    tokens: SessionTokens = nodes.call(refresh_on, "refresh_session", refresh_token)
    verified = nodes.call(
        promote_on, "get_session", tokens.access_token.value, tokens.anti_csrf_token
    )
    assert verified.new_access_token is not None, "the first use did not promote the new pair"
    return tokens


# --- a session across the nodes -------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_cross_node_lifecycle(cluster: Callable[..., Nodes], mode: str) -> None:
    nodes = cluster(mode, revocation_refresh_interval=0.05)
    login = nodes.call(0, "create_new_session", "ann", {"role": "reader"}, {"visits": 1})
    handle = login.session.handle
    refreshed = nodes.call(1, "refresh_session", login.refresh_token.value)
    assert refreshed.session.handle == handle
    verified = nodes.call(2, "get_session", refreshed.access_token.value, refreshed.anti_csrf_token)
    assert verified.session.handle == handle and verified.new_access_token is not None
    assert verified.session.jwt_payload == {"role": "reader"}
    nodes.call(0, "update_session_data", handle, {"visits": 2})
    for node in range(3):
        assert nodes.call(node, "get_session_data", handle) == {"visits": 2}
        assert nodes.call(node, "get_all_session_handles_for_user", "ann") == [handle]
    current = nodes.call(0, "refresh_session", refreshed.refresh_token.value)  # the promoted one
    confirmed = nodes.call(1, "get_session", current.access_token.value, current.anti_csrf_token)
    access = confirmed.new_access_token.value

    assert nodes.call(0, "revoke_session", handle) is True

    time.sleep(0.2)  # past every node's revocation_refresh_interval: the next verify reads
    for node in range(3):
        outcome = outcome_of_call(nodes, node, "get_session", access, current.anti_csrf_token)
        assert outcome == "unauthorised", f"node {node + 1} still accepts the revoked session"
        for token in (current.refresh_token.value, refreshed.refresh_token.value):
            assert outcome_of_call(nodes, node, "refresh_session", token) == "unauthorised"
        assert outcome_of_call(nodes, node, "get_session_data", handle) == "unauthorised"
        assert nodes.call(node, "get_all_session_handles_for_user", "ann") == []


def outcome_of_call(nodes: Nodes, node: int, name: str, *args: Any) -> str:
    try:
        nodes.call(node, name, *args)
    except Exception as exc:
        return outcome_of(exc)
    return "ok"


# --- read-your-writes -----------------------------------------------------------------------------

RYW_ROUNDS = 150
# Until the first stale answer. The async managers answer stale far more rarely (each call yields
# to the loop, which gives the node time to apply): seen at round 917 of 1,000 at a5345da, and
# none in 1,000 once. Rounds cost ~5 ms; the loop stops at the first stale answer.
CONTROL_MAX_ROUNDS = 5000


def read_your_writes_round(nodes: Nodes, r: int) -> list[str]:
    """Each write on node 1 followed at once by a call on another node that must see it; returns
    what went wrong (nothing, when every node waits for causality)."""
    wrong = []
    login = nodes.call(0, "create_new_session", f"ryw-{r}", None, {"v": 0})
    access, csrf = login.access_token.value, login.anti_csrf_token
    handle = login.session.handle
    if (got := outcome_of_call(nodes, 2, "get_session", access, csrf)) != "ok":
        wrong.append(f"create, then verify elsewhere: {got}")  # the exact check reads the row
    try:
        rotate(nodes, 1, 2, login.refresh_token.value)
    except Exception as exc:
        wrong.append(f"create, then refresh elsewhere: {outcome_of(exc)}")
    nodes.call(0, "update_session_data", handle, {"v": 1})
    if (data := nodes.call(1, "get_session_data", handle)) != {"v": 1}:
        wrong.append(f"update, then read elsewhere: {data}")
    nodes.call(0, "revoke_session", handle)
    if (got := outcome_of_call(nodes, 1, "get_session", access, csrf)) != "unauthorised":
        wrong.append(f"revoke, then verify elsewhere: {got}")
    if (got := outcome_of_call(nodes, 2, "refresh_session", login.refresh_token.value)) != (
        "unauthorised"
    ):
        wrong.append(f"revoke, then refresh elsewhere: {got}")
    return wrong


@pytest.mark.parametrize("mode", MODES)
def test_read_your_writes_across_nodes(cluster: Callable[..., Nodes], mode: str) -> None:
    """Create, update and revoke on node 1, then at once verify, refresh and read on the others:
    every answer reflects the write (``revocation_check="exact"``, so that verify reads the row).

    The control: the same managers with ``wsrep_sync_wait = 0`` (the server's default) on their
    connections give stale answers: a new session refused, old session data, a revoked session
    accepted. That is why every connection to a Galera node waits for causality.
    """
    nodes = cluster(mode, revocation_check="exact")
    for node in range(3):  # the setting is on the stores' own connections
        assert session_sync_wait(nodes, node) & GALERA_SYNC_WAIT == GALERA_SYNC_WAIT
    for r in range(RYW_ROUNDS):
        assert read_your_writes_round(nodes, r) == [], f"round {r}"

    stale = cluster(
        mode, revocation_check="exact", session_sql=("SET SESSION wsrep_sync_wait = 0",)
    )
    assert session_sync_wait(stale, 1) == 0
    for r in range(CONTROL_MAX_ROUNDS):  # until the first stale answer
        if wrong := read_your_writes_round(stale, r):
            print(f"\n{mode}, wsrep_sync_wait=0: round {r + 1} answered stale: {wrong}")
            break
    assert wrong, f"{CONTROL_MAX_ROUNDS} rounds without a stale answer: the control proves nothing"


def session_sync_wait(nodes: Nodes, node: int) -> int:
    """wsrep_sync_wait of a connection from the node's store pool, read through that store."""
    from sqlalchemy import literal_column, select

    from sessionward._flows import arun_flow, run_flow
    from sessionward._storage.execution import execute

    flow = execute(
        select(literal_column("@@session.wsrep_sync_wait")), {}, lambda r: int(r.rows[0][0])
    )
    store = nodes.managers[node].store
    if nodes.loop is None:
        return int(run_flow(flow, store))
    future = asyncio.run_coroutine_threadsafe(arun_flow(flow, store), nodes.loop)
    return int(future.result(timeout=60))


def test_operator_bits_are_kept_and_other_servers_untouched(galera_urls: list[str]) -> None:
    """The engine adds bits 1 and 2 to the node's own wsrep_sync_wait (here 4, INSERTs) rather
    than replacing it; on a MariaDB without Galera it sets nothing."""
    from sessionward._storage.engines import make_sync_engine

    def session_value(url: str) -> int:
        engine = make_sync_engine(url)
        try:
            with engine.connect() as conn:
                return int(conn.exec_driver_sql("SELECT @@session.wsrep_sync_wait").scalar_one())
        finally:
            engine.dispose()

    admin = connect(galera_urls[0])
    try:
        with admin.cursor() as cur:
            cur.execute("SET GLOBAL wsrep_sync_wait = 4")
        assert session_value(galera_urls[0]) == 4 | GALERA_SYNC_WAIT
    finally:
        with admin.cursor() as cur:
            cur.execute("SET GLOBAL wsrep_sync_wait = 0")
        admin.close()
    assert session_value(galera_urls[1]) == GALERA_SYNC_WAIT
    assert session_value(ensure_database("mysql")) == 0  # the standalone server: wsrep_on OFF

    own = create_engine(resolve_url(galera_urls[2], asynchronous=False))  # an application's
    prepare_galera(own)  # what docs/scaling.md tells engine= users to call
    try:
        with own.connect() as conn:
            value = conn.exec_driver_sql("SELECT @@session.wsrep_sync_wait").scalar_one()
            assert int(value) == GALERA_SYNC_WAIT
    finally:
        own.dispose()


# --- 50 refreshes of one token, on three nodes at once -------------------------------------------


def race_rounds(nodes: Nodes, label: str) -> Counter[str]:
    """ROUNDS rounds of RACERS concurrent refreshes of one token, spread over the nodes; then the
    client goes on from another node. Returns the outcomes; asserts the protocol's answers."""
    kinds: Counter[str] = Counter()
    overlaps = []
    for r in range(ROUNDS):
        login = nodes.call(r % 3, "create_new_session", f"racer-{r}", {"round": r})
        handle = login.session.handle
        # Even rounds race a session's first refresh token; odd rounds an unconfirmed child
        # (the first refresh promotes it, the others must see it as the parent).
        token = login.refresh_token.value
        if r % 2:
            token = nodes.call((r + 1) % 3, "refresh_session", token).refresh_token.value
        records = nodes.race([(i % 3, "refresh_session", (token,)) for i in range(RACERS)])
        kinds.update(rec["kind"] for rec in records)
        overlaps.append(peak_in_flight(records))
        failures = [rec for rec in records if rec["kind"] != "ok"]
        assert failures == [], (label, r, Counter(f["kind"] for f in failures), failures[0])
        results = [rec["result"] for rec in records]
        assert {t.session.handle for t in results} == {handle}
        children = {t.refresh_token.value for t in results}
        assert len(children) == 1, f"{label} round {r}: {len(children)} different children"
        assert len({(t.anti_csrf_token, t.id_refresh_token.value) for t in results}) == 1
        (child,) = children
        assert child != token
        # The client goes on from other nodes: promotes the child, rotates, promotes again.
        promoted = nodes.call(
            (r + 1) % 3, "get_session", results[0].access_token.value, results[0].anti_csrf_token
        )
        assert promoted.new_access_token is not None
        rotate(nodes, (r + 2) % 3, r % 3, child)
        assert row_count(nodes.configs[0], handle) == 1
    overlaps.sort()
    print(
        f"\n{label}: {ROUNDS} rounds x {RACERS} refreshes over 3 nodes: {dict(kinds)}; most in "
        f"flight at once per round: min {overlaps[0]}, median {overlaps[ROUNDS // 2]}"
    )
    # The refreshes really raced: in the median round, at least 10 were in flight together.
    assert overlaps[ROUNDS // 2] >= 10, overlaps
    return kinds


@pytest.mark.parametrize("mode", MODES)
def test_concurrent_refreshes_across_nodes(cluster: Callable[..., Nodes], mode: str) -> None:
    nodes = cluster(mode)
    assert nodes.configs[0].refresh_grace_window == 30  # the default window
    kinds = race_rounds(nodes, f"{mode}, default settings")
    assert kinds == Counter(ok=ROUNDS * RACERS)


# --- certification conflicts ----------------------------------------------------------------------


def test_a_certification_failure_is_a_conflict(galera_urls: list[str]) -> None:
    """A real lost certification: a transaction on node 1 and an update of the same row committed
    on node 2 meanwhile. Galera aborts node 1's commit with error 1213, which the store's
    classification (``storage/failures.py``) runs again as a conflict."""
    first, second = connect(galera_urls[0]), connect(galera_urls[1])
    table = f"cert_{unique_tables()['refresh_token_table']}"
    try:
        with first.cursor() as cur:
            cur.execute(f"CREATE TABLE {table} (k INT PRIMARY KEY, v INT NOT NULL)")
            cur.execute(f"INSERT INTO {table} VALUES (1, 0)")
        with second.cursor() as cur:
            cur.execute("SET SESSION wsrep_sync_wait = 3")
            cur.execute(f"SELECT v FROM {table} WHERE k = 1")
            assert cur.fetchall() == ((0,),)
        first.begin()
        with first.cursor() as cur:
            cur.execute(f"UPDATE {table} SET v = 1 WHERE k = 1")
        with second.cursor() as cur:
            assert cur.execute(f"UPDATE {table} SET v = 2 WHERE k = 1") == 1  # commits first
        with pytest.raises(pymysql.err.OperationalError) as lost:
            first.commit()
        assert lost.value.args[0] == 1213
        assert classify(lost.value) is Failure.CONFLICT
    finally:
        first.rollback()
        with first.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {table}")
        first.close()
        second.close()


@pytest.mark.parametrize("mode", MODES)
def test_certification_conflicts_are_retried_never_theft(
    cluster: Callable[..., Nodes], galera_urls: list[str], mode: str
) -> None:
    """The 50-way race again, with ``wsrep_retry_autocommit = 0`` on the managers' connections:
    the server no longer retries a statement that lost certification, so every conflict reaches
    the store as error 1213. The store must run it again (its Backoff steps count them), and the
    race must end as without conflicts: one child, no theft, no "unauthorised", no error."""
    names = ("wsrep_local_cert_failures", "wsrep_local_bf_aborts")

    def conflicts() -> int:
        return sum(int(v) for url in galera_urls for v in server_status(url, *names).values())

    nodes = cluster(mode, session_sql=("SET SESSION wsrep_retry_autocommit = 0",))
    retries = nodes.count_backoffs()
    before = conflicts()
    kinds = race_rounds(nodes, f"{mode}, wsrep_retry_autocommit=0")
    seen = conflicts() - before
    print(f"{mode}: {seen} certification conflicts in the cluster, {sum(retries)} store retries")
    assert kinds == Counter(ok=ROUNDS * RACERS)
    assert seen > 0, "no conflict happened: the race proved nothing about them"
    assert sum(retries) > 0, "conflicts happened, yet the store never ran a statement again"


# --- a node dies under load, and comes back -------------------------------------------------------


def script_ports() -> set[int]:
    done = subprocess.run(
        ["bash", str(SCRIPT), "urls"], check=True, capture_output=True, text=True, timeout=30
    )
    return {make_url(u).port or 3306 for u in done.stdout.strip().split(",")}


class LoadRun:
    """CLIENTS clients, each rotating its session over the nodes in turn (refresh on one node,
    promote on the next) until ``stop``. A call that fails on the killed node is retried at once,
    with the same arguments, on another node; any other failure ends the client as a problem."""

    def __init__(self, nodes: Nodes, killed: int) -> None:
        self.nodes = nodes
        self.killed = killed
        self.down = threading.Event()  # set from the kill until the node is synced again
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.rotations = 0
        self.failed_calls: list[tuple[int, str]] = []  # (node, kind) of every failed call
        # A login whose answer the dead node lost may have committed: its retry on another node
        # then makes a second session, and the first is an orphan no client holds (it expires).
        self.failed_logins: Counter[str] = Counter()
        self.slowest_survivor_call_s = 0.0  # while the node is down: the cluster's stall
        self.slowest_failed_call_s = 0.0  # how long the dead node took to fail a call
        self.problems: list[str] = []  # anything that must not happen
        self.current: dict[int, SessionTokens] = {}
        self.created_while_down: dict[int, SessionTokens] = {}

    def call(self, node: int, name: str, *args: Any) -> tuple[int, Any]:
        started = time.monotonic()
        try:
            result = self.nodes.call(node, name, *args)
        except Exception as exc:
            with self.lock:
                self.failed_calls.append((node, outcome_of(exc)))
                if name == "create_new_session":
                    self.failed_logins[args[0]] += 1
                elapsed = time.monotonic() - started
                self.slowest_failed_call_s = max(self.slowest_failed_call_s, elapsed)
            if not isinstance(exc, GeneralError) or node != self.killed:
                raise
        else:
            if self.down.is_set():
                with self.lock:
                    elapsed = time.monotonic() - started
                    self.slowest_survivor_call_s = max(self.slowest_survivor_call_s, elapsed)
            return node, result
        other = next(n for n in ((node + 1) % 3, (node + 2) % 3) if n != self.killed)
        return other, self.nodes.call(other, name, *args)  # the same token, another node

    def client(self, c: int) -> None:
        try:
            node, tokens = self.call(c % 3, "create_new_session", f"client-{c}", {"c": c})
            while not self.stop.is_set():
                node, tokens = self.call(
                    (node + 1) % 3, "refresh_session", tokens.refresh_token.value
                )
                node, verified = self.call(
                    (node + 1) % 3, "get_session", tokens.access_token.value, tokens.anti_csrf_token
                )
                if verified.new_access_token is None:
                    raise AssertionError("a rotation was not promoted")
                with self.lock:
                    self.rotations += 1
                    self.current[c] = tokens
                if self.down.is_set() and c not in self.created_while_down:
                    _, extra = self.call((node + 1) % 3, "create_new_session", f"while-down-{c}")
                    with self.lock:
                        self.created_while_down[c] = extra
        except Exception as exc:
            with self.lock:
                self.problems.append(f"client {c}: {outcome_of(exc)}: {exc!r}")


class WebCheck:
    """One browser behind a load balancer: logged in through a surviving node's app, sent to the
    dead node's app (which must answer a generic 500 and leave the cookies alone), then back."""

    def __init__(self, framework: str, configs: list[Config], killed: int) -> None:
        self.stack = contextlib.ExitStack()
        settings = {**EXAMPLE_SETTINGS, "revocation_check": "cached"}
        apps = [
            self.stack.enter_context(
                contextlib.contextmanager(WEB_BUILDERS[framework])(
                    replace(config, **settings), time.time, NO_HOOKS
                )
            )
            for config in configs
        ]
        self.dead = apps[killed]
        self.survivor = apps[(killed + 1) % 3]
        self.browser = self.survivor.browser()

    def before_the_kill(self) -> None:
        self.browser.login("web-user")
        assert self.browser.refresh().status == 200
        assert self.browser.request("GET", "/me").status == 200  # confirms the new pair

    def while_down(self) -> None:
        self.browser.client = self.dead.client
        jar = dict(self.browser.jar)
        for _ in range(2):
            assert_generic_500_keeps_cookies(self.browser.refresh())
        assert self.browser.jar == jar
        self.browser.client = self.survivor.client
        assert self.browser.refresh().status == 200  # the very cookies the dead node refused
        assert self.browser.request("GET", "/me").status == 200

    def close(self) -> None:
        self.stack.close()


@pytest.mark.parametrize(
    ("mode", "killed", "framework"),
    [("sync", 1, "flask"), ("async", 2, "fastapi")],
    ids=["sync-node2-flask", "async-node3-fastapi"],
)
def test_node_loss_under_load(
    cluster: Callable[..., Nodes], galera_urls: list[str], mode: str, killed: int, framework: str
) -> None:
    if {make_url(u).port or 3306 for u in galera_urls} != script_ports():
        pytest.fail(f"the node-loss test kills nodes through {SCRIPT}: {ENV} must name its cluster")
    nodes = cluster(mode)
    for node in range(3):
        nodes.call(node, "create_tables")  # keys loaded on every node before the run
    run = LoadRun(nodes, killed)
    web = WebCheck(framework, nodes.configs, killed)
    threads = [threading.Thread(target=run.client, args=(c,)) for c in range(CLIENTS)]
    timeline: dict[str, float] = {}
    started = time.monotonic()
    try:
        web.before_the_kill()
        for thread in threads:
            thread.start()
        time.sleep(KILL_AT_S)
        timeline["rotations before the kill"] = run.rotations
        run.down.set()
        cluster_script("kill", str(killed + 1))
        killed_at = time.monotonic()
        web.while_down()
        time.sleep(max(0.0, DOWN_S - (time.monotonic() - killed_at)))
        restart_at = time.monotonic()
        cluster_script("start", str(killed + 1))  # returns once the node is Synced again
        run.down.clear()
        timeline["restart to synced, s"] = round(time.monotonic() - restart_at, 1)
        time.sleep(max(0.0, RUN_S - (time.monotonic() - started)))
    finally:
        run.stop.set()
        for thread in threads:
            thread.join(timeout=120)
        web.close()
        cluster_script("start", str(killed + 1))  # never leave the cluster short of a node
    failed = Counter(run.failed_calls)
    print(
        f"\n{mode}: {CLIENTS} clients, {run.rotations} rotations in {RUN_S:.0f} s; node "
        f"{killed + 1} killed: {timeline}; failed calls (node index, kind): {dict(failed)}; "
        f"slowest failed call: {run.slowest_failed_call_s:.2f} s; slowest successful call "
        f"while it was down: {run.slowest_survivor_call_s:.2f} s; "
        f"{len(run.created_while_down)} sessions created while it was down"
    )
    assert run.problems == [], run.problems[:3]
    assert set(failed) <= {(killed, "general")}, failed  # only the dead node, only GeneralError
    assert failed, "no call reached the dead node: the test proved nothing"
    assert run.rotations > timeline["rotations before the kill"] > 0
    assert len(run.current) == CLIENTS and run.created_while_down

    # The rejoined node serves the sessions created while it was down, and every session goes on.
    for tokens in run.created_while_down.values():
        rotate(nodes, killed, killed, tokens.refresh_token.value)
    for tokens in run.current.values():
        rotate(nodes, killed, (killed + 1) % 3, tokens.refresh_token.value)
    held = {f"client-{c}": t for c, t in run.current.items()}
    held |= {f"while-down-{c}": t for c, t in run.created_while_down.items()}
    orphans = 0
    for user, tokens in held.items():
        handles = nodes.call(killed, "get_all_session_handles_for_user", user)
        assert tokens.session.handle in handles, f"{user}'s session was lost"
        assert len(handles) <= 1 + run.failed_logins[user], f"{user} has sessions nobody made"
        orphans += len(handles) - 1
    sessions = len(held) + 1  # and the browser's
    assert row_count(nodes.configs[killed]) == sessions + orphans, "a session was duplicated"
    print(f"{orphans} orphan sessions of logins whose answer the dead node lost")


# --- the benchmark runner's --galera option -------------------------------------------------------


def test_benchmark_runner_compares_the_cluster_with_one_server(
    galera_urls: list[str], tmp_path: Path
) -> None:
    """``benchmarks/run.py --galera`` (tiny: figures meaningless) yields every row, the cluster's
    against the single server's. Databases ``<name>_bench``, as the runner's own."""
    import json
    import sys

    def bench(url: str) -> str:
        parsed = make_url(url)
        return parsed.set(database=f"{parsed.database}_bench").render_as_string(False)

    out = tmp_path / "galera.json"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
        "SESSIONWARD_BENCH_GALERA_URLS": ",".join(bench(u) for u in galera_urls),
        "SESSIONWARD_BENCH_MYSQL_URL": bench(ensure_database("mysql")),
    }
    subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--galera", "--tiny", "--json", out],
        check=True,
        env=env,
        capture_output=True,
        timeout=300,
    )
    from benchmarks.galera import rows as expected_rows

    rows = {row["name"]: row for row in json.loads(out.read_text())["rows"]}
    assert list(rows) == expected_rows(32)
    for name, row in rows.items():
        # A tiny window on a busy machine may complete no cycle: figures are not judged.
        assert row["ops_per_s"] >= 0, name
        _, operation, target, mode = name.split(".")
        single = f"galera.{operation}.single.{mode}"
        assert row["baseline"] == (None if target == "single" else single), name
