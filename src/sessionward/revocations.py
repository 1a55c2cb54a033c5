"""Revocation that reaches every process (docs/protocol.md#revocation): what this process knows
of revoked sessions, so that verify can refuse their access tokens without a query.

Revocations are rows of the revocation table: one per revoked session, or one per user whose
sessions were all revoked at once ("every session created up to ``not_before``"). Each process
keeps them in two dictionaries and reads only the rows written since its last read, at most once
per ``revocation_refresh_interval``; whichever request first finds the interval over does the
read (one at a time: the others go on with what is known), so no background thread is needed
and verify itself stays two dictionary lookups. An entry is forgotten once every access token it
could concern has expired (``drop_after``).

The bound: a session revoked in any process is refused everywhere within the interval plus one
read (and the clocks of the application servers must agree within :data:`READ_MARGIN_MS`,
which each read looks back over, as they must for access-token expiry anyway).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

READ_MARGIN_MS = 10_000  # each read looks back this far: writers' clocks and slow commits


@dataclass(frozen=True, slots=True)
class Revocation:
    """One row of the revocation table (times in milliseconds since the epoch)."""

    session_handle: str | None
    user_id: str | None  # with not_before: every session of the user created until then
    not_before: int | None
    revoked_at: int
    drop_after: int


class RevocationCache:
    """The revocations this process knows, and when to read the table again."""

    def __init__(self, interval_ms: int) -> None:
        self._interval_ms = interval_ms
        self._handles: dict[str, int] = {}  # session handle -> drop_after
        self._users: dict[str, tuple[int, int]] = {}  # user id -> (not_before, drop_after)
        self._next_read_ms = 0
        self._read_since: int | None = None  # None: nothing read yet, read all that matters
        self._reading = threading.Lock()

    def due(self, now_ms: int) -> bool:
        """Whether the table should be read before trusting what is known."""
        return now_ms >= self._next_read_ms

    def revoked(self, session_handle: str, user_id: str, created_at_ms: int | None) -> bool:
        """Whether an access token of this session must be refused. A token that does not say
        when its session was created (older versions) is refused if its user was revoked."""
        if session_handle in self._handles:
            return True
        epoch = self._users.get(user_id)
        return epoch is not None and (created_at_ms is None or created_at_ms <= epoch[0])

    def begin_read(self) -> bool:
        """Take the right to read (False: another request is reading; use what is known)."""
        return self._reading.acquire(blocking=False)

    def end_read(self) -> None:
        self._reading.release()

    def read_since(self) -> int:
        """The ``revoked_at`` from which the next read must look."""
        return 0 if self._read_since is None else self._read_since

    def learn(self, revocations: Iterable[Revocation], now_ms: int) -> None:
        """Add revocations (read, or written by this process). Dictionaries are replaced, not
        changed in place, so that concurrent lookups never see one half-updated."""
        handles, users = dict(self._handles), dict(self._users)
        for revocation in revocations:
            if revocation.drop_after <= now_ms:
                continue
            if revocation.session_handle is not None:
                handles[revocation.session_handle] = max(
                    revocation.drop_after, handles.get(revocation.session_handle, 0)
                )
            if revocation.user_id is not None and revocation.not_before is not None:
                known = users.get(revocation.user_id, (0, 0))
                users[revocation.user_id] = (
                    max(known[0], revocation.not_before),
                    max(known[1], revocation.drop_after),
                )
        self._handles = {h: d for h, d in handles.items() if d > now_ms}
        self._users = {u: e for u, e in users.items() if e[1] > now_ms}

    def read_done(self, read_started_ms: int, now_ms: int) -> None:
        """A read that started at ``read_started_ms`` succeeded: look back from there next."""
        self._read_since = read_started_ms - READ_MARGIN_MS
        self._next_read_ms = now_ms + self._interval_ms

    def read_failed(self, now_ms: int) -> None:
        """The table could not be read: go on with what is known, try again after an interval
        (the database being down, nobody can revoke meanwhile)."""
        self._next_read_ms = now_ms + self._interval_ms

    def __len__(self) -> int:
        return len(self._handles) + len(self._users)
