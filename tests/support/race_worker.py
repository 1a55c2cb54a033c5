"""One OS process of the refresh race (importable by spawned children).

Each process runs ``threads`` threads. For every round, all threads of all processes meet at one
barrier (a ``multiprocessing.Manager`` barrier), are released together, and each presents the
round's refresh token once. Every outcome is recorded, never raised, so that the parent sees them
all.
"""

from __future__ import annotations

import threading
import time
import traceback
from typing import Any

from sqlalchemy.exc import DBAPIError

from sessionward import Config, SessionManager
from sessionward._errors import (
    GeneralError,
    TokenTheftDetectedError,
    TryRefreshTokenError,
    UnauthorisedError,
)

# Words by which MariaDB (1213 / 1205) and PostgreSQL (40P01 / 40001) name lock trouble.
LOCK_TROUBLE = ("deadlock", "lock wait timeout", "serializ", "could not serialize")


def classify(exc: BaseException) -> str:
    if isinstance(exc, TokenTheftDetectedError):
        return "theft"
    if isinstance(exc, UnauthorisedError):
        return "unauthorised"
    if isinstance(exc, TryRefreshTokenError):
        return "try_refresh"
    if isinstance(exc, GeneralError):
        cause = exc.__cause__
        detail = f"{exc} {cause.orig if isinstance(cause, DBAPIError) else cause}".lower()
        return "deadlock" if any(word in detail for word in LOCK_TROUBLE) else "general"
    return "unexpected"


def run_race_worker(
    config: Config, barrier: Any, refresh_tokens: list[str], threads: int, worker: int
) -> list[dict[str, Any]]:
    """Race every token of ``refresh_tokens`` (one per round) from ``threads`` threads."""
    manager = SessionManager(config)
    results: list[dict[str, Any]] = []
    lock = threading.Lock()
    manager.create_tables()  # load the keys before the first round, not during it

    def run(thread: int) -> None:
        for round_no, token in enumerate(refresh_tokens):
            record: dict[str, Any] = {"round": round_no, "worker": worker, "thread": thread}
            barrier.wait(timeout=120)
            record["start"] = time.time()
            try:
                tokens = manager.refresh_session(token)
                record.update(
                    kind="ok",
                    handle=tokens.session.handle,
                    refresh_token=tokens.refresh_token.value,
                    access_token=tokens.access_token.value,
                    anti_csrf=tokens.anti_csrf_token,
                    id_refresh=tokens.id_refresh_token.value,
                )
            except Exception as exc:
                record.update(kind=classify(exc), error=traceback.format_exc(limit=3))
            record["end"] = time.time()
            with lock:
                results.append(record)

    pool = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    try:
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
    finally:
        manager.close()
    return results
