"""One OS process of the cross-process revocation test: it verifies access tokens over and over
and notes when each was first refused (importable by spawned children)."""

from __future__ import annotations

import time
import traceback
from typing import Any

from sessionward import Config, SessionManager, UnauthorisedError


def verify_until(
    config: Config,
    tokens: dict[str, tuple[str, str | None]],
    barrier: Any,
    seconds: float,
    idle_for: float,
    refused_by: tuple[type[Exception], ...] = (UnauthorisedError,),
    login_after: bool = False,
) -> dict[str, Any]:
    """Verify every token every 50 ms for ``seconds`` (after ``idle_for`` seconds of doing
    nothing at all); return when each was first refused (by one of ``refused_by``), and any
    error; with ``login_after``, whether a login made here afterwards verifies here."""
    refused: dict[str, float] = {}
    first_look = 0.0
    login_worked = False
    errors: list[str] = []
    manager = SessionManager(config)
    try:
        for access, csrf in tokens.values():  # warm: keys and the revocation feed loaded
            manager.get_session(access, csrf)
        barrier.wait(timeout=60)
        started = time.time()
        time.sleep(idle_for)
        first_look = time.time()
        while time.time() - started < seconds:
            for name, (access, csrf) in tokens.items():
                if name in refused:
                    continue
                try:
                    manager.get_session(access, csrf)
                except refused_by:
                    refused[name] = time.time()
                except Exception:
                    errors.append(traceback.format_exc())
            time.sleep(0.05)
        if login_after:
            fresh = manager.create_new_session("after")
            logged_in = manager.get_session(fresh.access_token.value, fresh.anti_csrf_token)
            login_worked = logged_in.session.user_id == "after"
    finally:
        manager.close()
    return {
        "refused": refused,
        "errors": errors,
        "first_look": first_look,
        "login_worked": login_worked,
    }
