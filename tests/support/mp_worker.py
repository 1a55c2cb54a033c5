"""Work done by one OS process in the multi-process tests (importable by spawned children)."""

from __future__ import annotations

import time
import traceback
from typing import Any

from sessionward import Config, SessionManager


def run_worker(
    config: Config, clock_start: float, barrier: Any, seconds: float, worker: int
) -> dict[str, Any]:
    """Create, verify, refresh and promote sessions for ``seconds``, on a clock that reads
    ``clock_start`` when all the processes have started (however long starting took); report
    what happened."""
    errors: list[str] = []
    sessions: list[tuple[str, str, str]] = []
    offset = [0.0]
    manager = SessionManager(config, clock=lambda: time.time() + offset[0])
    try:
        barrier.wait(timeout=60)
        offset[0] = clock_start - time.time()
        deadline = time.monotonic() + seconds
        i = 0
        while time.monotonic() < deadline:
            try:
                tokens = manager.create_new_session(f"w{worker}-u{i}", {"worker": worker})
                verified = manager.get_session(tokens.access_token.value, tokens.anti_csrf_token)
                assert verified.session.handle == tokens.session.handle
                refreshed = manager.refresh_session(tokens.refresh_token.value)
                promoted = manager.get_session(
                    refreshed.access_token.value, refreshed.anti_csrf_token
                )
                assert promoted.new_access_token is not None
                sessions.append(
                    (
                        tokens.session.handle,
                        promoted.new_access_token.value,
                        refreshed.refresh_token.value,
                    )
                )
            except Exception:
                errors.append(traceback.format_exc())
            i += 1
    finally:
        manager.close()
    return {"errors": errors, "sessions": sessions}


def start_on_new_sqlite_file(url: str, barrier: Any) -> str:
    """Open a SessionManager on a SQLite file that other processes open at the same moment.

    Returns "ok", or the error that the first session met.
    """
    manager = SessionManager(Config(refresh_path="/refresh", database_url=url))
    try:
        barrier.wait(timeout=60)
        manager.create_new_session("alice", {})
        return "ok"
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        manager.close()
