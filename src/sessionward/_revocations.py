"""Revocation that reaches every process (docs/protocol.md#revocation): what this process knows
of revoked sessions, so that verify can refuse their access tokens without a query.

Revocations are rows of the revocation table: one per revoked session, one per user whose
sessions were all revoked at once ("every session of the user in its tenant created up to
``not_before``"), or one per tenant whose sessions were (offboarding a customer). Each process
keeps them in three dictionaries and reads only the rows written since its last read, at most once
per ``revocation_refresh_interval``; whichever request first finds the interval over does the
read (one at a time: the others go on with what is known), so no background thread is needed
and verify itself stays a few dictionary lookups. An entry is forgotten once every access token it
could concern has expired (``drop_after``).

Learning a revocation costs the same whatever the cache holds (a busy site keeps an hour of
logouts, 100,000 entries, and each logout learns one more on the request's thread or event
loop): the dictionaries are changed in place, one item at a time, never copied. Verify reads
them without a lock, which is safe because a lookup and an item assignment or deletion are each
atomic on a dict, so a reader sees an entry either before or after a change, never half of one.
Writers (a logout here, a read of the table) take a short lock among themselves, so that two of
them never lose each other's maximum. Expiry is amortised: each entry is filed under the second
it may be dropped (a bucket), and every learn drops a bounded number of entries from the oldest
buckets whose second is over, so no learn ever walks the whole cache.

The bound: a session revoked in any process is refused everywhere within the interval plus one
read (and the clocks of the application servers must agree within :data:`READ_MARGIN_MS`,
which each read looks back over, as they must for access-token expiry anyway).
"""

from __future__ import annotations

import heapq
import secrets
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from sessionward._models import DEFAULT_TENANT

READ_MARGIN_MS = 10_000  # each read looks back this far: writers' clocks and slow commits
BUCKET_MS = 1_000  # entries are filed for expiry by the second: dropped at most 1 s late
# Each learn drops at most this many expired entries, plus two per entry it adds: enough to keep
# up with any steady rate of revocations (each entry is added once and dropped once), and a
# backlog left by a burst drains on the reads every interval, never in one long step.
PRUNE_PER_LEARN = 64
PRUNE_PER_ENTRY = 2

_Kind = Literal["handle", "user", "tenant"]
_UserKey = tuple[str, str]  # (tenant id, user id): a user id is unique within its tenant only


@dataclass(frozen=True, slots=True)
class Revocation:
    """One row of the revocation table (times in milliseconds since the epoch)."""

    session_handle: str | None
    user_id: str | None  # with not_before: every session of the user created until then
    not_before: int | None
    revoked_at: int
    drop_after: int
    # The user's tenant (None: the default one); without a user id, with not_before: every
    # session of the tenant created until then.
    tenant_id: str | None = None
    # A retired signing key instead (the other fields None): see ProcessKeys.drop_retired.
    retired_kid: str | None = None


@dataclass(frozen=True, slots=True)
class FeedSlice:
    """Entries of an issuer's log for one read of the feed (:meth:`RevocationCache.log_since`)."""

    entries: list[Revocation]
    end: int  # the log position after the last entry: the next read's start
    read_since_ms: int  # what this process has read the table from (for another's cursor)


class RevocationCache:
    """The revocations this process knows, and when to read the table again."""

    def __init__(self, interval_ms: int, *, keep_log: bool = False) -> None:
        self._interval_ms = interval_ms
        # With keep_log (an issuer serving the revocation feed): every revocation that changed
        # what is known, in the order learnt; ``_log_base`` is the sequence number of its first
        # entry, so that a reader's cursor names a position that survives the trimming of
        # expired entries at the front. ``instance`` tells this log's cursors from another's.
        self.keeps_log = keep_log
        self._log: list[Revocation] = []
        self._log_base = 0
        self.instance = secrets.token_hex(8)
        # Never replaced: verify reads them without a lock while writers change single items.
        self._handles: dict[str, int] = {}  # session handle -> drop_after
        # (tenant, user) -> (not_before, drop_after); tenant -> (not_before, drop_after)
        self._users: dict[_UserKey, tuple[int, int]] = {}
        self._tenants: dict[str, tuple[int, int]] = {}
        # Expiry schedule: second (drop_after // BUCKET_MS) -> the entries that may go then, and
        # a heap of those seconds. A key is filed again when its drop_after grows; a filing
        # whose key has since been dropped or extended is skipped when its second comes.
        self._due: dict[int, deque[tuple[_Kind, Any]]] = {}
        self._seconds: list[int] = []
        self._next_read_ms = 0
        self._read_since: int | None = None  # None: nothing read yet, read all that matters
        self._reading = threading.Lock()
        self._writing = threading.Lock()  # among writers only; held for O(1) work per entry

    def due(self, now_ms: int, within_ms: int | None = None) -> bool:
        """Whether the table should be read before trusting what is known: the interval is
        over, or, with ``within_ms``, the last read started longer ago than that (the feed's
        readers need fresher news than verify does)."""
        if within_ms is not None and within_ms < self._interval_ms:
            return now_ms >= self._next_read_ms - self._interval_ms + within_ms
        return now_ms >= self._next_read_ms

    def revoked(
        self,
        session_handle: str,
        user_id: str,
        created_at_ms: int | None,
        tenant_id: str = DEFAULT_TENANT,
    ) -> bool:
        """Whether an access token of this session must be refused. A token that does not say
        when its session was created (older versions) is refused if its user was revoked."""
        if session_handle in self._handles:
            return True
        if self._users:
            epoch = self._users.get((tenant_id, user_id))
            if epoch is not None and (created_at_ms is None or created_at_ms <= epoch[0]):
                return True
        if self._tenants:
            epoch = self._tenants.get(tenant_id)
            if epoch is not None and (created_at_ms is None or created_at_ms <= epoch[0]):
                return True
        return False

    def begin_read(self) -> bool:
        """Take the right to read (False: another request is reading; use what is known)."""
        return self._reading.acquire(blocking=False)

    def end_read(self) -> None:
        self._reading.release()

    def read_since(self) -> int:
        """The ``revoked_at`` from which the next read must look."""
        return 0 if self._read_since is None else self._read_since

    def learn(self, revocations: Iterable[Revocation], now_ms: int) -> list[int]:
        """Add revocations (read, or written by this process), each at a constant cost, then
        drop a bounded number of expired entries. Verify may run meanwhile without a lock: it
        sees each entry before or after its change (see the module's docstring).

        Returns the ``revoked_at`` of each revocation that was new here (not one read again,
        nor one this process wrote and knew already): the revocation lag's samples."""
        new: list[int] = []
        with self._writing:
            filed = 0
            for revocation in revocations:
                drop_after = revocation.drop_after
                if drop_after <= now_ms:
                    continue
                handle, user_id = revocation.session_handle, revocation.user_id
                changed = False
                if handle is not None:
                    known = self._handles.get(handle)
                    if known is None or known < drop_after:
                        self._handles[handle] = drop_after
                        self._file("handle", handle, drop_after)
                        filed += 1
                        changed = True
                not_before = revocation.not_before
                if not_before is not None:
                    tenant = revocation.tenant_id or DEFAULT_TENANT
                    if user_id is not None:
                        change = self._extend(
                            self._users, "user", (tenant, user_id), not_before, drop_after
                        )
                    elif revocation.tenant_id is not None:
                        change = self._extend(
                            self._tenants, "tenant", tenant, not_before, drop_after
                        )
                    else:
                        change = 0
                    filed += change == 2
                    changed = changed or change > 0
                if changed:
                    new.append(revocation.revoked_at)
                    if self.keeps_log:
                        self._log.append(revocation)
            self._prune(now_ms, PRUNE_PER_LEARN + PRUNE_PER_ENTRY * filed)
            if self.keeps_log:
                self._trim_log(now_ms)
        return new

    def _extend(
        self,
        epochs: dict[Any, tuple[int, int]],
        kind: _Kind,
        key: Any,
        not_before: int,
        drop_after: int,
    ) -> int:
        """Revoke what ``key`` names up to ``not_before``, known until ``drop_after`` (the
        writer's lock held); 2 if it was filed for expiry, 1 if it changed otherwise, else 0."""
        epoch = epochs.get(key)
        if epoch is None:
            epochs[key] = (not_before, drop_after)
            self._file(kind, key, drop_after)
            return 2
        if epoch[0] < not_before or epoch[1] < drop_after:
            # One assignment of a new tuple: a reader sees the old epoch or the new.
            epochs[key] = (max(epoch[0], not_before), max(epoch[1], drop_after))
            if epoch[1] < drop_after:
                self._file(kind, key, drop_after)
                return 2
            return 1
        return 0

    def _file(self, kind: _Kind, key: Any, drop_after: int) -> None:
        """Schedule ``key`` to be looked at once ``drop_after`` is over (the writer's lock held)."""
        second = drop_after // BUCKET_MS
        bucket = self._due.get(second)
        if bucket is None:
            bucket = self._due[second] = deque()
            heapq.heappush(self._seconds, second)  # once per second that has entries
        bucket.append((kind, key))

    def _prune(self, now_ms: int, budget: int) -> None:
        """Drop up to ``budget`` entries whose ``drop_after`` is over, oldest second first (the
        writer's lock held). An entry goes only when its current ``drop_after`` is over, so one
        extended since it was filed stays."""
        while budget > 0 and self._seconds and (self._seconds[0] + 1) * BUCKET_MS <= now_ms:
            second = self._seconds[0]
            bucket = self._due[second]
            while bucket and budget > 0:
                kind, key = bucket.popleft()
                budget -= 1
                if kind == "handle":
                    drop_after = self._handles.get(key)
                    if drop_after is not None and drop_after <= now_ms:
                        del self._handles[key]
                else:
                    epochs: dict[Any, tuple[int, int]] = (
                        self._users if kind == "user" else self._tenants
                    )
                    epoch = epochs.get(key)
                    if epoch is not None and epoch[1] <= now_ms:
                        del epochs[key]
            if not bucket:
                heapq.heappop(self._seconds)
                del self._due[second]

    def _trim_log(self, now_ms: int) -> None:
        """Forget the log's expired front (the writer's lock held). Entries are appended in
        nearly ``drop_after`` order (each lives the deployment's revocation life), so the front
        is where they expire; the list is cut only once a good part of it is dead, so that the
        cost of the cut stays a constant per entry."""
        log = self._log
        dead = 0
        limit = len(log)
        while dead < limit and log[dead].drop_after <= now_ms:
            dead += 1
        if dead and (dead >= 1024 or dead * 2 >= limit):
            del log[:dead]
            self._log_base += dead

    def log_since(self, position: int | None, read_since_ms: int | None) -> FeedSlice:
        """What an issuer's feed serves: the entries after ``position`` of this log (None: all
        that still matter), or, for a cursor of another log (another process), those revoked
        from ``read_since_ms`` on, which that process had not read yet. With the position the
        next read starts from, and the ``read_since`` a reader of another process needs."""
        with self._writing:  # a consistent base and list; a copy of only what is asked for
            end = self._log_base + len(self._log)
            if position is not None:
                start = max(position, self._log_base) - self._log_base
                entries = self._log[start:]
            elif read_since_ms is not None:
                entries = [entry for entry in self._log if entry.revoked_at >= read_since_ms]
            else:
                entries = list(self._log)
        return FeedSlice(entries, end, self.read_since())

    def log_end(self) -> int:
        """The sequence number the next entry of the log will have."""
        return self._log_base + len(self._log)

    def read_done(self, read_started_ms: int, now_ms: int) -> None:
        """A read that started at ``read_started_ms`` succeeded: look back from there next."""
        self._read_since = read_started_ms - READ_MARGIN_MS
        self._next_read_ms = now_ms + self._interval_ms

    def read_failed(self, now_ms: int) -> None:
        """The table could not be read: go on with what is known, try again after an interval
        (the database being down, nobody can revoke meanwhile)."""
        self._next_read_ms = now_ms + self._interval_ms

    def __len__(self) -> int:
        return len(self._handles) + len(self._users) + len(self._tenants)
