"""RFC 8935 push of revocations (sessionward.push): each revocation is POSTed once to every
receiver as a signed SET; refusals are dropped, failures retried with backoff, the queue is
bounded, and the async pusher delivers on a task of its own (no thread)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
import jwt
import pytest

from sessionward import AsyncSessionManager, ConfigError, SessionHooks, SessionManager
from sessionward.push import AsyncSetPusher, SetPusher
from tests.conftest import ConfigFactory

CAEP = "https://schemas.openid.net/secevent/caep/event-type/session-revoked"


class Receivers:
    """Receivers behind an httpx MockTransport: ``plan[url]`` lists the statuses to answer."""

    def __init__(self, plan: dict[str, list[int]]) -> None:
        self.plan = plan
        self.received: list[tuple[str, httpx.Request]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        self.received.append((url, request))
        statuses = self.plan[url]
        status = statuses.pop(0) if len(statuses) > 1 else statuses[0]
        if status == 0:
            raise httpx.ConnectError("refused")
        return httpx.Response(status, json={} if status >= 400 else None)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_each_revocation_is_pushed_to_each_receiver_as_a_signed_set(make_config: ConfigFactory):
    receivers = Receivers({"https://ok.example/e": [202], "https://flaky.example/e": [503, 0, 202]})
    clock = Clock()
    config = make_config(signing_algorithm="EdDSA")
    hooks_holder: dict[str, Any] = {}

    def hook(event: Any) -> None:
        hooks_holder["pusher"].on_revocation_recorded(event)

    with SessionManager(config, hooks=SessionHooks(on_revocation_recorded=hook)) as manager:
        pusher = SetPusher(
            manager,
            {"https://ok.example/e": "r3ceiver-secret", "https://flaky.example/e": None},
            "https://issuer.example",
            client=httpx.Client(transport=httpx.MockTransport(receivers)),
            clock=clock,
        )
        hooks_holder["pusher"] = pusher
        tokens = manager.create_new_session("ann")
        manager.create_new_session("bob")
        manager.create_new_session("bob")
        manager.revoke_session(tokens.session.handle)
        manager.revoke_all_sessions_for_user("bob")  # one revocation, one SET
        assert len(pusher) == 4 and not receivers.received  # the hook does no I/O
        # The good receiver takes both; the flaky one answers 503, then fails on the network.
        assert pusher.push() == 2
        assert len(pusher) == 2
        assert pusher.push() == 0  # nothing due yet: the first backoff is 1 s
        clock.now += 1.0
        assert pusher.push() == 2
        assert len(pusher) == 0 and pusher.delivered == 4
        keys = jwt.PyJWKSet.from_dict(manager.jwks().jwk_set)
        for url, request in receivers.received:
            assert request.headers["content-type"] == "application/secevent+jwt"
            assert ("authorization" in request.headers) is (url == "https://ok.example/e")
            token = request.content.decode()
            header = jwt.get_unverified_header(token)
            assert header["typ"] == "secevent+jwt"
            claims = jwt.decode(token, keys[header["kid"]].key, algorithms=["EdDSA"])
            assert CAEP in claims["events"] and claims["iss"] == "https://issuer.example"
        pusher.close()


def test_refusals_are_dropped_failures_give_up_and_the_queue_is_bounded(
    make_config: ConfigFactory, caplog
):
    receivers = Receivers({"https://no.example/e": [400], "https://down.example/e": [503]})
    clock = Clock()
    with SessionManager(make_config(signing_algorithm="ES256")) as manager:
        pusher = SetPusher(
            manager,
            ["https://no.example/e", "https://down.example/e"],
            "https://issuer.example",
            client=httpx.Client(transport=httpx.MockTransport(receivers)),
            clock=clock,
            max_attempts=3,
            max_queue=3,
        )
        caplog.set_level(logging.WARNING, "sessionward.push")
        for name in ("a", "b"):
            tokens = manager.create_new_session(name)
            from sessionward import RevocationRecorded

            pusher.on_revocation_recorded(
                RevocationRecorded(tokens.session.handle, None, "public", None, 1)
            )
        assert len(pusher) == 3 and pusher.dropped == 1  # the oldest delivery went
        assert "queue full" in caplog.text
        pusher.push()
        for _ in range(3):
            clock.now += 60
            pusher.push()
        assert len(pusher) == 0
        assert "refused a revocation SET (HTTP 400)" in caplog.text
        assert "after 3 attempts" in caplog.text
        assert "Bearer" not in caplog.text
        pusher.close()
    with pytest.raises(ConfigError):
        SetPusher(manager, [], "x")
    with pytest.raises(ConfigError):
        SetPusher(manager, ["ftp://x"], "x")


async def test_the_async_pusher_delivers_on_a_task_of_its_own(make_config: ConfigFactory):
    receivers = Receivers({"https://ok.example/e": [202]})
    holder: dict[str, AsyncSetPusher] = {}
    config = make_config(signing_algorithm="EdDSA")
    hooks = SessionHooks(on_revocation_recorded=lambda e: holder["p"].on_revocation_recorded(e))
    manager = AsyncSessionManager(config, hooks=hooks)
    try:
        holder["p"] = pusher = AsyncSetPusher(
            manager,
            ["https://ok.example/e"],
            "https://issuer.example",
            client=httpx.AsyncClient(transport=httpx.MockTransport(receivers)),
        )
        tokens = await manager.create_new_session("ann")
        await manager.revoke_session(tokens.session.handle)
        await asyncio.wait_for(pusher.drain(), 5)
        assert pusher.delivered == 1 and len(receivers.received) == 1
        await pusher.aclose()
    finally:
        await manager.aclose()
