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


class RevocationCache:
    """The revocations this process knows, and when to read the table again."""

    def __init__(self, interval_ms: int) -> None:
        self._interval_ms = interval_ms
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

    def due(self, now_ms: int) -> bool:
        """Whether the table should be read before trusting what is known."""
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
                before = filed
                drop_after = revocation.drop_after
                if drop_after <= now_ms:
                    continue
                handle, user_id = revocation.session_handle, revocation.user_id
                if handle is not None:
                    known = self._handles.get(handle)
                    if known is None or known < drop_after:
                        self._handles[handle] = drop_after
                        self._file("handle", handle, drop_after)
                        filed += 1
                not_before = revocation.not_before
                if not_before is not None:
                    tenant = revocation.tenant_id or DEFAULT_TENANT
                    if user_id is not None:
                        filed += self._extend(
                            self._users, "user", (tenant, user_id), not_before, drop_after
                        )
                    elif revocation.tenant_id is not None:
                        filed += self._extend(
                            self._tenants, "tenant", tenant, not_before, drop_after
                        )
                if filed != before:
                    new.append(revocation.revoked_at)
            self._prune(now_ms, PRUNE_PER_LEARN + PRUNE_PER_ENTRY * filed)
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
        writer's lock held); 1 if it was filed for expiry, else 0."""
        epoch = epochs.get(key)
        if epoch is None:
            epochs[key] = (not_before, drop_after)
            self._file(kind, key, drop_after)
            return 1
        if epoch[0] < not_before or epoch[1] < drop_after:
            # One assignment of a new tuple: a reader sees the old epoch or the new.
            epochs[key] = (max(epoch[0], not_before), max(epoch[1], drop_after))
            if epoch[1] < drop_after:
                self._file(kind, key, drop_after)
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
