"""docs/protocol.md#revocation with the default settings: four OS processes on one database; after a
revocation in another process, every one of them refuses the session's access token within the
revocation interval plus one second, without a query per request. One of them sits idle for
longer than the interval first. The revocations: a logout, a user's sessions, the other devices,
a theft, and a whole tenant (one row for all its sessions), which leaves another tenant's
sessions, of the same user ids, working in the same processes."""

from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor

import pytest

from sessionward import ClientContext, Config, SessionManager, TokenTheftDetectedError
from tests.conftest import drop_tables, ensure_database, unique_tables
from tests.support.revocation_worker import verify_until

PROCESSES = 4
INTERVAL_S = 2.0  # the default revocation_refresh_interval
BOUND_S = INTERVAL_S + 1.0
STEP_S = 1.5  # between the revocations
IDLE_S = 11.5  # idle far longer than the interval, until after every revocation + an interval
RUN_S = 18.0
HOME = ClientContext("203.0.113.10", "Firefox")
ELSEWHERE = ClientContext("198.51.100.5", "Firefox")


@pytest.mark.multiprocess
@pytest.mark.parametrize("backend", ["mysql", "postgres"])
def test_a_revocation_reaches_every_process_within_the_interval(backend: str) -> None:
    url = ensure_database(backend)
    tables = unique_tables()
    config = Config(refresh_path="/refresh", database_url=url, **tables)
    assert config.revocation_mode == "cached"
    assert config.revocation_refresh_interval == INTERVAL_S
    try:
        with SessionManager(config) as main:
            logins = {
                "logout": main.create_new_session("ann", client=HOME),
                "all-1": main.create_new_session("bob", client=HOME),
                "all-2": main.create_new_session("bob", client=HOME),
                "others-kept": main.create_new_session("cat", client=HOME),
                "others-1": main.create_new_session("cat", client=HOME),
                "others-2": main.create_new_session("cat", client=HOME),
                "theft": main.create_new_session("dan", client=HOME),
                "bystander": main.create_new_session("eve", client=HOME),
                "tenant-1": main.create_new_session("ann", tenant_id="acme", client=HOME),
                "tenant-2": main.create_new_session("bob", tenant_id="acme", client=HOME),
                # The same user ids in another tenant: never refused.
                "other-tenant-1": main.create_new_session("ann", tenant_id="globex"),
                "other-tenant-2": main.create_new_session("bob", tenant_id="globex"),
            }
            tokens = {name: (t.access_token.value, t.anti_csrf_token) for name, t in logins.items()}
            context = multiprocessing.get_context("spawn")
            barrier = context.Manager().Barrier(PROCESSES + 1)
            with ProcessPoolExecutor(PROCESSES, mp_context=context) as pool:
                futures = [
                    pool.submit(
                        verify_until,
                        config,
                        tokens,
                        barrier,
                        RUN_S,
                        IDLE_S if worker == PROCESSES - 1 else 0.0,
                    )
                    for worker in range(PROCESSES)
                ]
                barrier.wait(timeout=60)
                revoked_at = {}
                time.sleep(STEP_S)
                main.revoke_session(logins["logout"].session.handle, reason="logout")
                revoked_at["logout"] = time.time()
                time.sleep(STEP_S)
                main.revoke_all_sessions_for_user("bob")
                revoked_at["all-1"] = revoked_at["all-2"] = time.time()
                time.sleep(STEP_S)
                kept = logins["others-kept"].session.handle
                assert main.revoke_other_sessions("cat", kept) == 2
                revoked_at["others-1"] = revoked_at["others-2"] = time.time()
                time.sleep(STEP_S)
                stolen = logins["theft"].refresh_token.value
                main.refresh_session(stolen, client=HOME)
                with pytest.raises(TokenTheftDetectedError):
                    main.refresh_session(stolen, client=ELSEWHERE)
                revoked_at["theft"] = time.time()
                time.sleep(STEP_S)
                assert main.revoke_all_sessions_for_tenant("acme") == 2
                revoked_at["tenant-1"] = revoked_at["tenant-2"] = time.time()
                results = [f.result(timeout=120) for f in futures]
    finally:
        drop_tables(url, tables)

    delays = []
    for worker, result in enumerate(results):
        assert result["errors"] == [], result["errors"][0]
        refused = result["refused"]
        assert set(refused) == set(revoked_at), (worker, refused)  # the kept ones never
        for name, when in refused.items():
            if worker == PROCESSES - 1:
                # Idle for longer than the interval, past every revocation: its very first
                # look (one read of the feed) refuses them all.
                assert result["first_look"] > max(revoked_at.values()) + INTERVAL_S
                assert when - result["first_look"] < 0.5, (name, when - result["first_look"])
            else:
                delay = when - revoked_at[name]
                delays.append(delay)
                assert 0 <= delay <= BOUND_S, (worker, name, round(delay, 2))
    print(f"{backend}: refused after {min(delays):.2f} to {max(delays):.2f} s (bound {BOUND_S} s)")
