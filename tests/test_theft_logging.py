"""Issue 19: a detected theft is logged at WARNING in the ``sessionward`` logger, and so is the
revocation it causes, with no hooks configured: the handle, the reason and both clients'
networks, never a token (nor anything derived from one that the log could leak). Issue 24: nor
in any metric or span (OpenTelemetry's SDK recording, when installed)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from sessionward import AsyncSessionManager, SessionTokens, TokenTheftDetectedError
from sessionward._models import ClientContext
from sessionward._protocol import sha256_hex
from tests.conftest import FakeClock

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
VICTIM = ClientContext("203.0.113.10", FIREFOX)
THIEF = ClientContext("2001:db8:1:2::5", FIREFOX)


def secrets_of(*issued: SessionTokens) -> list[str]:
    """Every token value issued, and the hashes of the refresh tokens (H1, H2)."""
    values = []
    for tokens in issued:
        for token in (tokens.access_token, tokens.refresh_token, tokens.id_refresh_token):
            if token is not None:
                values.append(token.value)
        if tokens.anti_csrf_token:
            values.append(tokens.anti_csrf_token)
        hash_1 = sha256_hex(tokens.refresh_token.value)
        values += [hash_1, sha256_hex(hash_1)]
    return values


def theft_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "sessionward" and "theft" in r.getMessage()]


def assert_no_secret(
    caplog: pytest.LogCaptureFixture, issued: list[str], telemetry: Any = None
) -> None:
    """No issued value in any log line, nor (``telemetry``: a ``tests.support.telemetry.
    Recorded``) in any span or metric recorded meanwhile."""
    text = "\n".join(r.getMessage() for r in caplog.records) + caplog.text
    if telemetry is not None:
        recorded = telemetry.text()
        assert "sessionward." in recorded  # the spans and metrics are there to be read
        text += recorded
    for value in issued:
        # Not the value, nor any 16-character piece of it (a prefix, a fingerprint).
        assert value not in text
        assert value[:16] not in text and value[-16:] not in text


@pytest.mark.parametrize("revoke", [True, False])
def test_a_theft_without_hooks_is_logged_with_handle_reason_and_networks(
    make_manager: Any,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
    revoke: bool,
    telemetry: Any,
) -> None:
    manager = make_manager(revoke_session_on_theft=revoke)  # no hooks
    tokens = manager.create_new_session("alice", client=VICTIM)
    handle = tokens.session.handle
    with caplog.at_level(logging.DEBUG, logger="sessionward"):
        first = manager.refresh_session(tokens.refresh_token.value, client=VICTIM)
        clock.advance(4)
        with pytest.raises(TokenTheftDetectedError):  # inside the window, another network
            manager.refresh_session(tokens.refresh_token.value, client=THIEF)
    lines = theft_lines(caplog)
    assert [r.levelno for r in lines] == [logging.WARNING] * (2 if revoke else 1)
    detected = lines[0].getMessage()
    assert handle in detected and "other_client" in detected
    assert "203.0.113.0/24" in detected and "2001:db8:1:2::/64" in detected
    assert "203.0.113.10" not in detected  # the network, not the address
    if revoke:
        revoked = lines[1].getMessage()
        assert handle in revoked and "revoked" in revoked
    assert_no_secret(caplog, secrets_of(tokens, first), telemetry)


def test_every_theft_is_logged_and_the_revocation_once(
    make_manager: Any, clock: FakeClock, caplog: pytest.LogCaptureFixture, telemetry: Any
) -> None:
    """A replay after the window (replayed parent), then the session's later refresh token (the
    session is gone by then: no theft, nothing more logged)."""
    manager = make_manager()
    tokens = manager.create_new_session("alice", client=VICTIM)
    with caplog.at_level(logging.WARNING, logger="sessionward"):
        child = manager.refresh_session(tokens.refresh_token.value, client=VICTIM)
        manager.get_session(child.access_token.value, child.anti_csrf_token)
        clock.advance(60)
        with pytest.raises(TokenTheftDetectedError):
            manager.refresh_session(tokens.refresh_token.value, client=None)
    lines = [r.getMessage() for r in theft_lines(caplog)]
    assert len(lines) == 2, lines
    assert "replayed_parent" in lines[0] and "unknown" in lines[0]  # no client context
    assert "revoked" in lines[1]
    assert_no_secret(caplog, secrets_of(tokens, child), telemetry)


async def test_the_async_manager_logs_theft_too(
    make_config: Any, clock: FakeClock, caplog: pytest.LogCaptureFixture, telemetry: Any
) -> None:
    manager = AsyncSessionManager(make_config(), clock=clock)
    try:
        tokens = await manager.create_new_session("alice", client=VICTIM)
        with caplog.at_level(logging.WARNING, logger="sessionward"):
            first = await manager.refresh_session(tokens.refresh_token.value, client=VICTIM)
            clock.advance(4)
            with pytest.raises(TokenTheftDetectedError):
                await manager.refresh_session(tokens.refresh_token.value, client=THIEF)
        lines = [r.getMessage() for r in theft_lines(caplog)]
        assert len(lines) == 2 and tokens.session.handle in lines[0]
        assert_no_secret(caplog, secrets_of(tokens, first), telemetry)
    finally:
        await manager.close()
