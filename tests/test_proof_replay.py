"""Issue 19, findings 5 and 6: the proof replay cache.

5. It kept 10,000 ids first in, first out, so a client that pushed 10,050 proofs of its own
   flushed it, and a captured request (refresh token and proof) was accepted a second time. Now
   an id is kept for its proof's whole acceptance window, and memory is bounded by refusing new
   proofs (per key, then in all) instead of forgetting live ids.
6. It was not thread-safe: with a full cache, threads calling ``first_use`` raised KeyError and
   "OrderedDict mutated during iteration", a 500 on a refresh in a threaded server.
"""

from __future__ import annotations

import itertools
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from sessionward import ClientContext, SessionManager, TokenTheftDetectedError
from sessionward._proof import ProofKey, ProofOfPossession, SeenProofs
from tests.conftest import FakeClock

VICTIM = ClientContext("203.0.113.10", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Firefox/128.0")
ATTACKER = ClientContext("198.51.100.66", "curl/8.5.0")
LOGIN_URL = "https://app.example/login"
REFRESH_URL = "https://app.example/session/refresh"
OLD_CAPACITY = 10_000  # what the first-in-first-out cache held
NOW = 1_800_000_000.0


@pytest.fixture
def tight_switching() -> Iterator[None]:
    """Switch threads as often as possible, so that races show within a short test."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


def _hammer(threads: int, work: Callable[[int], Any]) -> list[Any]:
    """``work(i)`` for each thread index, all released at once; results in index order."""
    start = threading.Barrier(threads)

    def run(i: int) -> Any:
        start.wait()
        return work(i)

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(run, range(threads)))


def _first_use_or_refusal(seen: SeenProofs, key: str, now_s: float) -> bool | str:
    """True/False from first_use, or the name of the error it raised."""
    try:
        return seen.first_use(key, now_s)
    except Exception as exc:
        return type(exc).__name__


# --- 5: no flushing ---------------------------------------------------------------------------


def test_one_key_pushing_more_than_the_old_capacity_cannot_flush_a_captured_id(
    tight_switching: None,
) -> None:
    seen = SeenProofs()
    assert seen.first_use("victim-key:captured", NOW)
    per_thread = (OLD_CAPACITY + 50) // 8 + 1

    def push(i: int) -> list[bool | str]:
        return [
            _first_use_or_refusal(seen, f"attacker-key:{i}-{n}", NOW + n / per_thread)
            for n in range(per_thread)
        ]

    outcomes = [o for results in _hammer(8, push) for o in results]
    assert len(outcomes) > OLD_CAPACITY
    assert seen.first_use("victim-key:captured", NOW + 1) is False  # still refused as replayed
    # The flooding key is refused past its own limit, with an error that says retry (not a
    # verdict of theft); nothing else went wrong.
    assert set(outcomes) == {True, "TooManyProofsError"}
    assert seen.first_use("victim-key:a-new-proof", NOW + 1) is True  # not starved
    # Ids leave only once their proofs are stale: after the window the flooding key may go on.
    assert seen.first_use("victim-key:captured", NOW + 120) is False
    assert seen.first_use("attacker-key:after-the-window", NOW + 122) is True


def test_many_keys_filling_the_cache_get_refusals_never_a_forgotten_id() -> None:
    seen = SeenProofs(limit=OLD_CAPACITY)  # 150 keys, each far under its own limit
    assert seen.first_use("victim-key:captured", NOW)
    outcomes = [
        _first_use_or_refusal(seen, f"key-{n % 150}:{n}", NOW + n / 1000)
        for n in range(OLD_CAPACITY + 50)
    ]
    assert outcomes.count(True) == OLD_CAPACITY - 1  # full: the captured id is one of them
    assert set(outcomes) == {True, "TooManyProofsError"}
    assert seen.first_use("victim-key:captured", NOW + 60) is False
    assert len(seen) == OLD_CAPACITY


def _bound_session(manager: SessionManager, key: ProofKey, client: ClientContext) -> Any:
    login = ProofOfPossession(key.proof("POST", LOGIN_URL, now_s=NOW), "POST", LOGIN_URL)
    return manager.create_new_session("alice", client=client, proof=login)


def _refresh_proof(key: ProofKey, token: str) -> ProofOfPossession:
    return ProofOfPossession(key.proof("POST", REFRESH_URL, token=token, now_s=NOW), "POST",
                             REFRESH_URL)  # fmt: skip


def test_a_captured_refresh_stays_refused_after_a_flood_of_proofs_through_one_session(
    manager: SessionManager, clock: FakeClock
) -> None:
    """The review's attack, through the manager: the attacker's own bound session refreshes one
    token over and over (each a duplicate inside the grace window), each time with a new proof,
    from 8 threads, more than the old cache held; then replays a victim's captured request."""
    clock.now = NOW
    victim_key, attacker_key = ProofKey(), ProofKey()
    victim = _bound_session(manager, victim_key, VICTIM)
    captured_token = victim.refresh_token.value
    captured_proof = _refresh_proof(victim_key, captured_token)
    manager.refresh_session(captured_token, client=VICTIM, proof=captured_proof)

    own = _bound_session(manager, attacker_key, ATTACKER).refresh_token.value
    proofs = [_refresh_proof(attacker_key, own) for _ in range(OLD_CAPACITY + 50)]

    def push(i: int) -> list[str]:
        outcomes = []
        for proof in proofs[i::8]:
            try:
                manager.refresh_session(own, client=ATTACKER, proof=proof)
                outcomes.append("refreshed")
            except Exception as exc:
                outcomes.append(type(exc).__name__)
        return outcomes

    outcomes = [o for results in _hammer(8, push) for o in results]
    with pytest.raises(TokenTheftDetectedError, match="proof_invalid"):
        manager.refresh_session(captured_token, client=VICTIM, proof=captured_proof)
    # The attacker's own key was refused past its limit, with an error to retry on; no 500.
    assert set(outcomes) == {"refreshed", "TooManyProofsError"}


# --- 6: thread safety -------------------------------------------------------------------------


def test_eight_threads_on_a_full_cache_accept_each_id_exactly_once(
    tight_switching: None,
) -> None:
    """The cache starts full of ids that expire one by one (one per call, about) while 8 threads
    check and insert new ones, each id offered by two threads: the path on which the old cache,
    full and so evicting on every call, raised KeyError. No exception (not even a refusal:
    expiry keeps up), and every id is accepted exactly once."""
    old_ids, ids_per_thread, step_s = 40_000, 5_000, 0.001
    seen = SeenProofs(limit=old_ids + 500)
    for n in range(old_ids):  # seen 120 s before the threads' calls, spread over 40 s
        assert seen.first_use(f"old-{n // 500}:{n}", NOW - 120 + n * step_s)
    calls = itertools.count()  # next() on it is atomic: a clock shared by the threads

    def offer(i: int) -> list[tuple[str, bool | str]]:
        pair = i // 2  # threads 2k and 2k+1 offer the same ids in the same order
        results = []
        for n in range(ids_per_thread):
            key = f"key-{pair}-{n // 500}:{n}"  # a few keys, each under its own limit
            now_s = NOW + next(calls) * step_s
            results.append((key, _first_use_or_refusal(seen, key, now_s)))
        return results

    accepted: dict[str, int] = {}
    for results in _hammer(8, offer):
        for key, outcome in results:
            assert outcome in (True, False), f"{key}: {outcome}"
            accepted[key] = accepted.get(key, 0) + (outcome is True)
    assert len(accepted) == 4 * ids_per_thread
    assert set(accepted.values()) == {1}
    assert len(seen) < old_ids  # the old ids did expire meanwhile


def test_a_full_replay_cache_is_answered_503_not_500() -> None:
    """A process refusing one more proof id is a temporary refusal, not a server error."""
    from sessionward._proof import TooManyProofsError
    from sessionward._transport import reply_for

    reply = reply_for(TooManyProofsError("too many proofs in flight; retry shortly"), 440)
    assert reply.status == 503
    assert "retry" in reply.body["message"]
