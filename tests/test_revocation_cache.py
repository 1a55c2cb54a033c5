"""The per-process revocation cache (sessionward._revocations, issue 19 finding 8): learning one
revocation costs the same whatever the cache holds, entries go only once every token they
concern has expired, and verify reads the cache without a lock while threads learn.

No wall-clock limit: the cost of a learn is shown by what it allocates (the old cache copied
both dictionaries on every learn, megabytes at 100,000 entries) and by the dictionaries staying
the same objects; the timing comparison is a row of benchmarks/run.py (``--revocations``).
"""

from __future__ import annotations

import sys
import threading
import tracemalloc
from collections.abc import Iterator

import pytest

from sessionward._revocations import BUCKET_MS, Revocation, RevocationCache

NOW = 1_800_000_000_000
LIFE = 3_615_000  # a default deployment: validity + leeway + the read margin


def handle(h: str, revoked_at: int = NOW, life: int = LIFE) -> Revocation:
    return Revocation(h, None, None, revoked_at, revoked_at + life)


def user(u: str, not_before: int, revoked_at: int = NOW, life: int = LIFE) -> Revocation:
    return Revocation(None, u, not_before, revoked_at, revoked_at + life)


def filled(count: int) -> RevocationCache:
    """A cache holding ``count`` live revocations, spread over the last hour as logouts are."""
    cache = RevocationCache(2000)
    cache.learn(
        (handle(f"s{i}", NOW - LIFE + 60_000 + i * 30) for i in range(count)),
        NOW,
    )
    assert len(cache) == count
    return cache


def test_learn_revoked_and_expiry() -> None:
    cache = RevocationCache(2000)
    cache.learn([handle("a"), user("u", not_before=NOW - 5)], NOW)
    assert cache.revoked("a", "x", NOW - 100)
    assert not cache.revoked("b", "x", NOW - 100)
    assert cache.revoked("b", "u", NOW - 5)  # created at not_before: revoked
    assert not cache.revoked("b", "u", NOW - 4)  # created later: not
    assert cache.revoked("b", "u", None)  # an older token that does not say: refused
    # Until drop_after, and up to one bucket beyond it, the entries stay.
    cache.learn([], NOW + LIFE - 1)
    assert cache.revoked("a", "x", 0) and cache.revoked("b", "u", 0)
    cache.learn([], NOW + LIFE + BUCKET_MS)
    assert not cache.revoked("a", "x", 0) and not cache.revoked("b", "u", 0)
    assert len(cache) == 0


def test_an_entry_extended_after_it_was_filed_stays_until_its_new_drop_after() -> None:
    cache = RevocationCache(2000)
    cache.learn([handle("a"), user("u", not_before=NOW)], NOW)
    later = NOW + 600_000
    cache.learn([handle("a", later), user("u", not_before=later, revoked_at=later)], later)
    cache.learn([], NOW + LIFE + BUCKET_MS)  # the first filing's second is over
    assert cache.revoked("a", "x", 0)
    assert cache.revoked("b", "u", later)  # the user's epoch moved on, and stays
    cache.learn([], later + LIFE + BUCKET_MS)
    assert len(cache) == 0


def test_a_user_epoch_only_grows() -> None:
    cache = RevocationCache(2000)
    cache.learn([user("u", not_before=NOW)], NOW)
    cache.learn([user("u", not_before=NOW - 1000, revoked_at=NOW - 1000)], NOW)  # a re-read
    assert cache.revoked("b", "u", NOW)


def test_an_expired_row_is_not_learned() -> None:
    cache = RevocationCache(2000)
    cache.learn([handle("old", NOW - LIFE)], NOW)
    assert len(cache) == 0 and not cache.revoked("old", "x", 0)


def test_learn_changes_the_dictionaries_in_place() -> None:
    """The old cache replaced both dictionaries on every learn (a full copy of each)."""
    cache = filled(1000)
    handles, users = cache._handles, cache._users
    cache.learn([handle("new"), user("u", NOW)], NOW)
    assert cache._handles is handles and cache._users is users
    assert cache.revoked("new", "x", 0) and cache.revoked("b", "u", NOW)


def test_one_learn_allocates_the_same_whatever_the_cache_holds() -> None:
    """With 100,000 live revocations the old learn allocated two whole dictionaries (about
    10 MB) per logout; now one entry (a few hundred bytes, a new bucket's at most)."""
    peaks = {}
    for count in (10, 100_000):
        cache = filled(count)
        tracemalloc.start()
        try:
            cache.learn([handle(f"new-{count}")], NOW)
            peaks[count] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peaks[100_000] < 64 * 1024, peaks
    assert peaks[10] < 64 * 1024, peaks


def test_expiry_of_a_large_backlog_is_spread_over_learns() -> None:
    """100,000 entries expiring in the same second are not dropped by one learn, and every one
    is gone after enough learns (each learn drops a bounded number)."""
    cache = filled(0)
    cache.learn((handle(f"s{i}") for i in range(100_000)), NOW)
    later = NOW + LIFE + BUCKET_MS
    cache.learn([], later)
    assert 90_000 < len(cache) < 100_000
    for _ in range(2000):
        cache.learn([], later)
    assert len(cache) == 0


@pytest.fixture
def fast_switching() -> Iterator[None]:
    """Switch threads as often as the interpreter allows: races show within a short run."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


def test_concurrent_learners_and_readers(fast_switching: None) -> None:
    """Four threads learn distinct revocations (as concurrent logouts do) while four threads
    verify: every learned revocation is known at the end (the old copy-and-replace lost some
    when two learns overlapped), a revocation once seen by a reader stays revoked, and no
    reader ever raises."""
    cache = filled(20_000)
    stop = threading.Event()
    errors: list[BaseException] = []
    learners, per_learner = 4, 300

    def learn(t: int) -> None:
        try:
            for i in range(per_learner):
                cache.learn([handle(f"t{t}-{i}"), user(f"u{t}-{i}", NOW)], NOW)
        except BaseException as exc:  # pragma: no cover - the failure being tested
            errors.append(exc)

    def read(t: int) -> None:
        try:
            seen: set[str] = set()
            while not stop.is_set():
                for i in range(per_learner):
                    key = f"t{t % learners}-{i}"
                    revoked = cache.revoked(key, f"u{t % learners}-{i}", NOW)
                    if key in seen:
                        assert revoked, key
                    elif revoked:
                        seen.add(key)
                assert cache.revoked("s0", "x", 0)  # the old entries stay throughout
        except BaseException as exc:  # pragma: no cover - the failure being tested
            errors.append(exc)

    writers = [threading.Thread(target=learn, args=(t,)) for t in range(learners)]
    readers = [threading.Thread(target=read, args=(t,)) for t in range(4)]
    for thread in readers + writers:
        thread.start()
    for thread in writers:
        thread.join()
    stop.set()
    for thread in readers:
        thread.join()
    assert errors == []
    missing = [
        (t, i)
        for t in range(learners)
        for i in range(per_learner)
        if not cache.revoked(f"t{t}-{i}", "x", 0) or not cache.revoked("y", f"u{t}-{i}", NOW)
    ]
    assert missing == []
    assert len(cache) == 20_000 + 2 * learners * per_learner


def test_concurrent_learners_while_entries_expire(fast_switching: None) -> None:
    """Learning and expiring at once, from several threads: live entries stay, the expired
    ones go, and the bookkeeping ends empty once everything has expired."""
    cache = RevocationCache(2000)
    cache.learn((handle(f"old{i}", NOW - LIFE + 500) for i in range(5000)), NOW - 1)
    errors: list[BaseException] = []

    def learn(t: int) -> None:
        try:
            for i in range(500):
                cache.learn([handle(f"t{t}-{i}")], NOW + BUCKET_MS)
        except BaseException as exc:  # pragma: no cover - the failure being tested
            errors.append(exc)

    threads = [threading.Thread(target=learn, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert all(cache.revoked(f"t{t}-{i}", "x", 0) for t in range(4) for i in range(500))
    assert not any(cache.revoked(f"old{i}", "x", 0) for i in range(5000))
    for _ in range(100):
        cache.learn([], NOW + LIFE + 10 * BUCKET_MS)
    assert len(cache) == 0 and cache._due == {} and cache._seconds == []


def test_the_feed_log_holds_each_change_once_and_positions_survive_trimming() -> None:
    """What the revocation feed serves (issue 25): every revocation that changed what is known,
    in order, once (a table read's look-back re-learns rows: they change nothing); a position
    stays valid when the expired front of the log is cut."""
    cache = RevocationCache(2000, keep_log=True)
    cache.learn([handle("a"), user("u", NOW - 5), handle("b", life=1000)], NOW)
    start = cache.log_end()
    assert start == 3
    cache.learn([handle("a"), user("u", NOW - 5)], NOW + 10)  # a read's look-back: no change
    assert cache.log_end() == start
    cache.learn([user("u", NOW + 5, revoked_at=NOW + 5)], NOW + 10)  # the epoch moves on
    assert [r.user_id for r in cache.log_since(start, None).entries] == ["u"]
    # A cursor of another process: what was revoked from its read time on.
    assert [r.user_id for r in cache.log_since(None, NOW + 1).entries] == ["u"]
    # Many more, then the first ones expire (entries expire in about the order they are
    # learnt: each lives the deployment's revocation life): the front is cut, the positions
    # keep counting.
    cache.learn([handle(f"x{i}", revoked_at=NOW + 20) for i in range(2000)], NOW + 20)
    end = cache.log_end()
    later = NOW + 20 + LIFE
    cache.learn([handle("late", revoked_at=later)], later)
    assert [r.session_handle for r in cache.log_since(end, None).entries] == ["late"]
    assert len(cache.log_since(None, None).entries) == 1  # the dead front is gone
    assert cache.log_end() == end + 1
    assert RevocationCache(2000).log_end() == 0  # without keep_log nothing is kept
