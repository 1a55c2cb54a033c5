"""Issue 24: the security log, by default and with no hooks configured. Thefts, revocations by
theft, evictions and key changes are logged with structured ``extra`` fields, and so are
refresh failures on the server's side, at ERROR and once. Never a token or a key."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy

from sessionward import GeneralError, SessionManager, TokenTheftDetectedError
from sessionward._models import ClientContext
from tests.conftest import FakeClock
from tests.test_theft_logging import assert_no_secret, secrets_of

VICTIM = ClientContext("203.0.113.10", "Firefox")
THIEF = ClientContext("198.51.100.7", "curl")
DOCS = Path(__file__).resolve().parents[1] / "docs"


def records(caplog: pytest.LogCaptureFixture, event: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "sessionward_event", None) == event]


def test_theft_and_its_revocation_carry_their_fields(
    make_manager: Any, clock: FakeClock, caplog: pytest.LogCaptureFixture, telemetry: Any
) -> None:
    manager = make_manager()  # no hooks
    tokens = manager.create_new_session("alice", client=VICTIM, tenant_id="acme")
    with caplog.at_level(logging.INFO, logger="sessionward"):
        child = manager.refresh_session(tokens.refresh_token.value, client=VICTIM)
        clock.advance(4)
        with pytest.raises(TokenTheftDetectedError):
            manager.refresh_session(tokens.refresh_token.value, client=THIEF)
    (theft,) = records(caplog, "token_theft")
    assert theft.levelno == logging.WARNING
    assert theft.sessionward_handle == tokens.session.handle  # type: ignore[attr-defined]
    assert theft.sessionward_tenant == "acme"  # type: ignore[attr-defined]
    assert theft.sessionward_reason  # type: ignore[attr-defined]
    assert theft.sessionward_networks == ["203.0.113.0/24", "198.51.100.0/24"]  # type: ignore[attr-defined]
    (revoked,) = records(caplog, "session_revoked")
    assert revoked.levelno == logging.WARNING and revoked.sessionward_reason == "theft"  # type: ignore[attr-defined]
    assert_no_secret(caplog, secrets_of(tokens, child), telemetry)


def test_an_eviction_is_logged_at_info(
    make_manager: Any, clock: FakeClock, caplog: pytest.LogCaptureFixture, telemetry: Any
) -> None:
    manager = make_manager(max_sessions_per_user=1)
    first = manager.create_new_session("bob")
    clock.advance(1)  # the newer login keeps its place
    with caplog.at_level(logging.INFO, logger="sessionward"):
        second = manager.create_new_session("bob")
    (evicted,) = records(caplog, "session_revoked")
    assert evicted.levelno == logging.INFO
    assert evicted.sessionward_handle == first.session.handle  # type: ignore[attr-defined]
    assert evicted.sessionward_reason == "evicted"  # type: ignore[attr-defined]
    assert evicted.sessionward_tenant == "public"  # type: ignore[attr-defined]
    assert "max_sessions_per_user" in evicted.getMessage()
    assert_no_secret(caplog, secrets_of(first, second), telemetry)


def test_key_creation_rotation_and_purge_are_logged_without_key_material(
    make_manager: Any, clock: FakeClock, caplog: pytest.LogCaptureFixture, telemetry: Any
) -> None:
    with caplog.at_level(logging.INFO, logger="sessionward"):
        manager = make_manager()
        manager.create_tables()
        created = records(caplog, "signing_key_created")
        assert [r.sessionward_rotated for r in created] == [False]  # type: ignore[attr-defined]
        other = make_manager(
            tables={
                "signing_key_table": manager.config.signing_key_table,
                "refresh_token_table": manager.config.refresh_token_table,
                "revocation_table": manager.config.revocation_table,
            }
        )
        other.create_tables()  # finds the key: creates none, logs none
        assert len(records(caplog, "signing_key_created")) == 1
        clock.advance(2)
        kid = manager.rotate_signing_key()
        rotated = records(caplog, "signing_key_created")[-1]
        assert rotated.sessionward_kid == kid and rotated.sessionward_rotated  # type: ignore[attr-defined]
        assert rotated.sessionward_algorithm == "HS256"  # type: ignore[attr-defined]
        assert "it signs now" in rotated.getMessage()
        clock.advance(10 * 86_400)  # every old key is past its verify window
        manager.create_new_session("carol")
        manager.purge_expired_sessions()
    (purged,) = records(caplog, "signing_keys_purged")
    assert kid in purged.sessionward_kid  # type: ignore[attr-defined]
    secrets = [k.secret.hex() for k in manager.signing_keys()]
    recorded = "" if telemetry is None else telemetry.text()  # spans and metrics: no key either
    assert telemetry is None or "sessionward.keys.reload" in recorded
    for secret in secrets:
        assert secret not in caplog.text and secret not in recorded


def test_a_refresh_the_database_fails_is_logged_at_error_once(
    make_manager: Any, caplog: pytest.LogCaptureFixture, telemetry: Any
) -> None:
    manager: SessionManager = make_manager()
    tokens = manager.create_new_session("dave")
    engine = sqlalchemy.create_engine(manager.config.database_url)
    with engine.begin() as connection:  # the session table is gone under the running process
        connection.execute(sqlalchemy.text(f"DROP TABLE {manager.config.refresh_token_table}"))
    engine.dispose()
    with caplog.at_level(logging.INFO, logger="sessionward"), pytest.raises(GeneralError):
        manager.refresh_session(tokens.refresh_token.value)
    (failed,) = records(caplog, "operation_failed")
    assert failed.levelno == logging.ERROR and failed.sessionward_operation == "refresh"  # type: ignore[attr-defined]
    assert failed.exc_info is not None
    assert [r.levelno for r in caplog.records].count(logging.ERROR) == 1
    assert_no_secret(caplog, secrets_of(tokens), telemetry)


def test_the_docs_json_logging_recipe_emits_the_fields(
    make_manager: Any, clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    """docs/operations.md's formatter, as written: one JSON object per line, the extra fields
    as fields."""
    text = (DOCS / "operations.md").read_text()
    (recipe,) = re.findall(r"```python\n(# JSON logs.*?)```", text, re.DOTALL)
    logger = logging.getLogger("sessionward")
    handlers, level, propagate = list(logger.handlers), logger.level, logger.propagate
    try:
        exec(compile(recipe, "operations.md", "exec"), {})
        manager = make_manager(max_sessions_per_user=1)
        manager.create_new_session("erin")
        manager.create_new_session("erin")
    finally:
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    evicted = [line for line in lines if line.get("sessionward_event") == "session_revoked"]
    assert evicted and evicted[0]["sessionward_reason"] == "evicted"
    assert evicted[0]["level"] == "INFO" and evicted[0]["logger"] == "sessionward"
