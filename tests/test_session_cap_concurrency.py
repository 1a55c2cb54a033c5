"""Issue 19, finding 7: simultaneous logins under ``max_sessions_per_user`` on every backend.

Each login inserts its session and then evicts what is beyond the cap. When every login kept
itself and evicted all the others it saw, six at once under a cap of 1 could leave no session
at all. Now they agree on the survivors (the most recently active, ties broken by handle), so
the cap holds and the newest sessions are kept.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from sessionward import SessionManager, SessionTokens
from sessionward._events import SessionHooks, SessionRevoked
from tests.conftest import FakeClock

LOGINS = 6
TRIALS = 10


def simultaneous_logins(manager: SessionManager, user_id: str) -> list[SessionTokens]:
    barrier = threading.Barrier(LOGINS)
    results: list[SessionTokens] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def login() -> None:
        barrier.wait()
        try:
            tokens = manager.create_new_session(user_id)
        except BaseException as exc:  # reported below, with the trial
            errors.append(exc)
            return
        with lock:
            results.append(tokens)

    threads = [threading.Thread(target=login) for _ in range(LOGINS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    assert len(results) == LOGINS
    return results


@pytest.mark.parametrize("cap", [1, 2])
def test_simultaneous_logins_keep_exactly_the_cap_and_the_newest(
    make_manager: Any, clock: FakeClock, cap: int
) -> None:
    revoked: list[SessionRevoked] = []
    base = make_manager(max_sessions_per_user=cap)
    manager = SessionManager(
        base.config, clock=clock, hooks=SessionHooks(on_session_revoked=revoked.append)
    )
    try:
        manager.create_new_session("warmup")  # tables and keys made before the race
        for trial in range(TRIALS):
            user = f"user{trial}"
            # An older session, which must go first.
            old = manager.create_new_session(user)
            clock.advance(1)
            logins = simultaneous_logins(manager, user)
            left = manager.get_all_session_handles_for_user(user)
            handles = {t.session.handle for t in logins}
            assert len(left) == cap, f"trial {trial}: {len(left)} sessions left, cap {cap}"
            assert set(left) <= handles, f"trial {trial}: a survivor is not one of the logins"
            assert old.session.handle not in left
            # The survivors are the newest: same login time here, so the highest handles.
            assert sorted(left) == sorted(handles)[-cap:], f"trial {trial}"
            evicted = [e.session_handle for e in revoked if e.reason == "evicted"]
            assert len(evicted) == len(set(evicted)), "a session was reported evicted twice"
            clock.advance(1)
    finally:
        manager.close()


def test_simultaneous_logins_on_the_real_clock_keep_one_of_them(make_config: Any) -> None:
    """The same race with distinct login times (the real clock): one session is left, and it
    is one of the logins."""
    manager = SessionManager(make_config(max_sessions_per_user=1), clock=time.time)
    try:
        manager.create_new_session("warmup")
        for trial in range(TRIALS):
            user = f"user{trial}"
            logins = simultaneous_logins(manager, user)
            left = manager.get_all_session_handles_for_user(user)
            assert len(left) == 1, f"trial {trial}: {len(left)} sessions left"
            assert left[0] in {t.session.handle for t in logins}
    finally:
        manager.close()
