"""Issue 24: metrics and traces through OpenTelemetry. Without the extra nothing is imported; with
the SDK, each counter, histogram, gauge and span says what happened, and never a token (the
secrets check itself is tests/test_theft_logging.py's, extended to spans and metrics)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from sessionward import (
    AsyncSessionManager,
    SessionManager,
    TokenTheftDetectedError,
    TryRefreshTokenError,
    UnauthorisedError,
)
from sessionward._models import ClientContext
from tests.conftest import FakeClock
from tests.test_theft_logging import secrets_of

pytest.importorskip("opentelemetry.sdk")

from tests.support.telemetry import Recorded

SRC = Path(__file__).resolve().parents[1] / "src"
VICTIM = ClientContext("203.0.113.10", "Firefox")
THIEF = ClientContext("198.51.100.7", "curl")


def run_python(tmp_path: Path, *parts: str) -> subprocess.CompletedProcess[str]:
    """The ``parts`` (each dedented) as one program, in a fresh interpreter."""
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    code = "\n".join(textwrap.dedent(part) for part in parts)
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )


SCENARIO = """
    import sessionward
    manager = sessionward.SessionManager(
        refresh_path="/r", database_url="sqlite:///s.db", allow_short_access_tokens=True
    )
    tokens = manager.create_new_session("alice")
    child = manager.refresh_session(tokens.refresh_token.value)
    manager.get_session(child.access_token.value, child.anti_csrf_token)
    try:
        manager.get_session("not a token")
    except sessionward.TryRefreshTokenError:
        pass
    try:
        thief = sessionward.ClientContext("1.2.3.4", "x")
        manager.refresh_session(tokens.refresh_token.value, client=thief)
    except sessionward.TokenTheftDetectedError:
        pass
    assert manager.revoke_all_sessions_for_user("alice") == 0
    manager.close()
"""


def test_without_the_extra_sessionward_imports_nothing_of_it_and_works(tmp_path: Path) -> None:
    """opentelemetry blocked (as if not installed): every operation works, none imports it."""
    result = run_python(
        tmp_path,
        """
        import sys
        sys.modules["opentelemetry"] = None  # an import of it raises ImportError
        """,
        SCENARIO,
        """
        loaded = [m for m, v in sys.modules.items() if m.startswith("opentelemetry") and v]
        assert loaded == [], loaded
        print("ok")
        """,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_the_api_is_imported_when_a_manager_is_built_not_at_import(tmp_path: Path) -> None:
    result = run_python(
        tmp_path,
        """
        import sys
        import sessionward
        assert not any(m.startswith("opentelemetry") for m in sys.modules), "at import"
        """,
        SCENARIO,
        """
        assert "opentelemetry.metrics" in sys.modules and "opentelemetry.trace" in sys.modules
        assert not any(m.startswith("opentelemetry.sdk") for m in sys.modules)
        print("ok")
        """,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def attributes(span: Any) -> dict[str, Any]:
    return dict(span.attributes or {})


def test_spans_of_create_refresh_theft_and_revoke(
    make_manager: Any, clock: FakeClock, telemetry: Recorded
) -> None:
    manager: SessionManager = make_manager()
    tokens = manager.create_new_session("alice", client=VICTIM, tenant_id="acme")
    handle = tokens.session.handle
    (create,) = telemetry.spans("sessionward.create_session")
    assert attributes(create) == {
        "sessionward.session.handle": handle,
        "sessionward.tenant": "acme",
        "sessionward.impersonation": False,
    }
    assert create.status.is_ok
    # The first use loads the key ring, inside the login's span.
    (reload,) = telemetry.spans("sessionward.keys.reload")
    assert attributes(reload) == {"sessionward.keys.trigger": "start"}
    assert reload.parent is not None and reload.parent.span_id == create.context.span_id

    child = manager.refresh_session(tokens.refresh_token.value, client=VICTIM)
    clock.advance(1)
    again = manager.refresh_session(tokens.refresh_token.value, client=VICTIM)  # answer lost
    assert again.refresh_token.value == child.refresh_token.value
    clock.advance(3)
    with pytest.raises(TokenTheftDetectedError):
        manager.refresh_session(tokens.refresh_token.value, client=THIEF)
    rotated, retried, theft = telemetry.spans("sessionward.refresh_session")
    assert attributes(rotated) == {
        "sessionward.session.handle": handle,
        "sessionward.tenant": "acme",
        "sessionward.outcome": "rotated",
    }
    assert attributes(retried)["sessionward.outcome"] == "lost_answer_retry"
    assert attributes(theft) == {
        "sessionward.session.handle": handle,
        "sessionward.tenant": "acme",
        "sessionward.reason": "other_client",
        "error.type": "TokenTheftDetectedError",
    }
    assert not theft.status.is_ok and theft.status.description is None  # no message
    assert theft.events == ()  # no exception event: its message is never recorded

    other = manager.create_new_session("bob")
    assert manager.revoke_session(other.session.handle, reason="logout")
    (revoke,) = telemetry.spans("sessionward.revoke_session")
    assert attributes(revoke) == {
        "sessionward.session.handle": other.session.handle,
        "sessionward.reason": "logout",
        "sessionward.revoked_sessions": 1,
    }
    manager.create_new_session("carol", tenant_id="acme")
    assert manager.revoke_all_sessions_for_user("carol", tenant_id="acme") == 1
    assert manager.revoke_all_sessions_for_tenant("acme") == 0  # alice's went with the theft
    (user,) = telemetry.spans("sessionward.revoke_user")
    assert attributes(user) == {
        "sessionward.tenant": "acme",
        "sessionward.reason": "admin",
        "sessionward.revoked_sessions": 1,
    }
    (tenant,) = telemetry.spans("sessionward.revoke_tenant")
    assert attributes(tenant)["sessionward.revoked_sessions"] == 0
    # No user id anywhere by default (telemetry_user_ids=False).
    recorded = telemetry.text()
    for name in ("alice", "bob", "carol"):
        assert name not in recorded
    for value in secrets_of(tokens, child, other):
        assert value not in recorded and value[:16] not in recorded


def test_telemetry_user_ids_puts_the_user_on_spans_never_on_metrics(
    make_manager: Any, telemetry: Recorded
) -> None:
    manager: SessionManager = make_manager(telemetry_user_ids=True)
    tokens = manager.create_new_session("dana")
    manager.refresh_session(tokens.refresh_token.value)
    manager.revoke_all_sessions_for_user("dana")
    for name in ("create_session", "refresh_session", "revoke_user"):
        (span,) = telemetry.spans(f"sessionward.{name}")
        assert attributes(span)["enduser.id"] == "dana"
    assert "dana" not in str(telemetry.totals())


def test_a_key_recheck_is_a_span(make_manager: Any, clock: FakeClock, telemetry: Recorded) -> None:
    manager: SessionManager = make_manager()
    manager.create_new_session("erin")
    clock.advance(3)  # past revocation_refresh_interval: the next signing looks again
    manager.create_new_session("erin")
    recheck = telemetry.spans("sessionward.keys.reload")[-1]
    assert attributes(recheck) == {
        "sessionward.keys.trigger": "recheck",
        "sessionward.keys.changed": False,
    }


def test_counters_of_refresh_outcomes_thefts_revocations_and_sessions(
    make_manager: Any, clock: FakeClock, telemetry: Recorded
) -> None:
    manager: SessionManager = make_manager(max_sessions_per_user=2)
    tokens = manager.create_new_session("frank", client=VICTIM)
    child = manager.refresh_session(tokens.refresh_token.value, client=VICTIM)  # rotated
    manager.refresh_session(tokens.refresh_token.value, client=VICTIM)  # its answer was lost
    manager.get_session(child.access_token.value, child.anti_csrf_token)  # the child in use
    manager.refresh_session(tokens.refresh_token.value, client=VICTIM)  # another tab: same child
    clock.advance(1)
    with pytest.raises(TokenTheftDetectedError):
        manager.refresh_session(tokens.refresh_token.value, client=THIEF)
    first = manager.create_new_session("gina")
    clock.advance(1)
    manager.create_new_session("gina")
    clock.advance(1)
    manager.create_new_session("gina")  # evicts the first
    assert manager.revoke_session(first.session.handle) is False  # already gone: not counted
    assert telemetry.added("sessionward.sessions.created") == {(): 4}
    assert telemetry.added("sessionward.refreshes") == {
        (("sessionward.outcome", "rotated"),): 1,
        (("sessionward.outcome", "lost_answer_retry"),): 1,
        (("sessionward.outcome", "grace_duplicate"),): 1,
    }
    assert telemetry.added("sessionward.thefts") == {(("sessionward.reason", "other_client"),): 1}
    assert telemetry.added("sessionward.revocations") == {
        (("sessionward.reason", "theft"),): 1,
        (("sessionward.reason", "evicted"),): 1,
    }
    assert telemetry.added("sessionward.refresh.duration") == {
        (): 3,
        (("error.type", "TokenTheftDetectedError"),): 1,
    }
    assert telemetry.added("sessionward.create.duration") == {(): 4}


def test_verify_failures_by_reason(
    make_manager: Any, clock: FakeClock, telemetry: Recorded
) -> None:
    manager: SessionManager = make_manager()
    tokens = manager.create_new_session("hana")
    access, csrf = tokens.access_token.value, tokens.anti_csrf_token
    manager.get_session(access, csrf)  # a success counts nothing
    with pytest.raises(TryRefreshTokenError):
        manager.get_session(access, "wrong")
    with pytest.raises(TryRefreshTokenError):
        manager.get_session(access[:-4] + "AAAA", csrf)
    manager.revoke_session(tokens.session.handle)
    with pytest.raises(UnauthorisedError):
        manager.get_session(access, csrf)
    clock.advance(3600 + 10)
    with pytest.raises(TryRefreshTokenError):
        manager.get_session(access, csrf)
    assert telemetry.added("sessionward.verify.failures") == {
        (("sessionward.reason", "anti_csrf_mismatch"),): 1,
        (("sessionward.reason", "invalid"),): 1,
        (("sessionward.reason", "revoked"),): 1,
        (("sessionward.reason", "expired"),): 1,
    }


def test_the_revocation_lag_and_the_gauges(
    make_manager: Any, clock: FakeClock, telemetry: Recorded
) -> None:
    """A revocation written by one process is known to another at its next read: the lag is
    how long after the write that was; read again later, it is not counted again."""
    writer: SessionManager = make_manager()
    tables = {
        "signing_key_table": writer.config.signing_key_table,
        "refresh_token_table": writer.config.refresh_token_table,
        "revocation_table": writer.config.revocation_table,
    }
    reader: SessionManager = make_manager(tables=tables)
    tokens = writer.create_new_session("ivan")
    reader.get_session(tokens.access_token.value, tokens.anti_csrf_token)  # first read: nothing
    writer.revoke_session(tokens.session.handle)
    clock.advance(1.5)
    reader.get_session(tokens.access_token.value, tokens.anti_csrf_token)  # not due yet: known
    clock.advance(1)
    with pytest.raises(UnauthorisedError):  # due: the read learns the revocation, 2.5 s late
        reader.get_session(tokens.access_token.value, tokens.anti_csrf_token)
    clock.advance(3)
    with pytest.raises(UnauthorisedError):  # read again (the look-back margin): not new
        reader.get_session(tokens.access_token.value, tokens.anti_csrf_token)
    assert telemetry.added("sessionward.revocation.lag") == {(): 1}
    (point,) = [
        p for name, p in telemetry._points() if name == "sessionward.revocation.lag"
    ]  # cumulative over the process: this test's sample is the one at 2.5 s
    assert point.sum >= 2.5
    # Both processes hold the revocation (the gauge sums every live manager of the process).
    assert telemetry.gauge("sessionward.revocation.cache.entries") >= 2
    assert telemetry.gauge("sessionward.proof.cache.entries") >= 0


async def test_the_async_manager_keeps_its_spans_nested(
    make_config: Any, clock: FakeClock, telemetry: Recorded
) -> None:
    manager = AsyncSessionManager(make_config(), clock=clock)
    try:
        tokens = await manager.create_new_session("jo")
        await manager.refresh_session(tokens.refresh_token.value)
    finally:
        await manager.close()
    (create,) = telemetry.spans("sessionward.create_session")
    (reload,) = telemetry.spans("sessionward.keys.reload")
    assert reload.parent is not None and reload.parent.span_id == create.context.span_id
    (refresh,) = telemetry.spans("sessionward.refresh_session")
    assert refresh.parent is None  # the login's span was no longer current
    assert attributes(refresh)["sessionward.outcome"] == "rotated"
