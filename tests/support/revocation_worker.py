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
) -> dict[str, Any]:
    """Verify every token every 50 ms for ``seconds`` (after ``idle_for`` seconds of doing
    nothing at all); return when each was first refused, and any error."""
    refused: dict[str, float] = {}
    first_look = 0.0
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
                except UnauthorisedError:
                    refused[name] = time.time()
                except Exception:
                    errors.append(traceback.format_exc())
            time.sleep(0.05)
    finally:
        manager.close()
    return {"refused": refused, "errors": errors, "first_look": first_look}
