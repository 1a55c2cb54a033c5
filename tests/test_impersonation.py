"""Impersonation through the managers, on every backend (issue 21): support staff acting as a
user get a session whose tokens say who acts (``act: {"sub": actor}``, RFC 8693), which ends
``ttl`` after it starts whatever its refreshes, never takes one of the user's places under
``max_sessions_per_user``, is listed to the user marked ``impersonated_by``, is refused by
``not_impersonated()``, and whose events name the actor (an audit log from the hooks alone)."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from sessionward import (
    AsyncSessionManager,
    ClaimValidationError,
    ClientContext,
    InvalidArgumentError,
    SessionCreated,
    SessionHooks,
    SessionManager,
    SessionRefreshed,
    SessionRevoked,
    SessionTokens,
    TokenTheft,
    TokenTheftDetectedError,
    TryRefreshTokenError,
    UnauthorisedError,
    in_tenant,
    not_impersonated,
)
from sessionward._claims import validate_claims
from tests.conftest import ConfigFactory, FakeClock, read_row

DESK = ClientContext("192.0.2.50", "Firefox")
ELSEWHERE = ClientContext("198.51.100.5", "Chrome")
TTL = 1800  # shorter than the access-token validity (an hour), so the ttl is what bounds them


def claims_of(access_token: str) -> dict[str, Any]:
    body = access_token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    return decoded


def now_ms(clock: FakeClock) -> int:
    return int(clock.now * 1000)


def verify(manager: SessionManager, tokens: SessionTokens) -> Any:
    return manager.get_session(tokens.access_token.value, tokens.anti_csrf_token)


@pytest.fixture
def hooked(make_config: ConfigFactory, clock: FakeClock) -> Iterator[Callable[..., Any]]:
    managers: list[SessionManager] = []

    def factory(**settings: Any) -> tuple[SessionManager, list[Any]]:
        events: list[Any] = []
        hooks = SessionHooks(
            on_token_theft=events.append,
            on_session_created=events.append,
            on_session_refreshed=events.append,
            on_session_revoked=events.append,
        )
        manager = SessionManager(make_config(**settings), clock=clock, hooks=hooks)
        managers.append(manager)
        return manager, events

    yield factory
    for manager in managers:
        manager.close()


@pytest.fixture
async def async_hooked(
    make_config: ConfigFactory, clock: FakeClock
) -> AsyncIterator[Callable[..., Any]]:
    managers: list[AsyncSessionManager] = []

    def factory(**settings: Any) -> tuple[AsyncSessionManager, list[Any]]:
        events: list[Any] = []

        async def note(event: Any) -> None:
            events.append(event)

        hooks = SessionHooks(
            on_token_theft=note,
            on_session_created=note,
            on_session_refreshed=note,
            on_session_revoked=note,
        )
        manager = AsyncSessionManager(make_config(**settings), clock=clock, hooks=hooks)
        managers.append(manager)
        return manager, events

    yield factory
    for manager in managers:
        await manager.close()


# --- what the tokens and the session say -------------------------------------------------------


def test_the_access_token_names_the_actor(manager: SessionManager, clock: FakeClock):
    tokens = manager.create_impersonation_session("support-7", "alice", {"role": "user"})
    claims = claims_of(tokens.access_token.value)
    assert claims["act"] == {"sub": "support-7"}
    assert claims["sub"] == "alice"
    assert claims["ttl"] == 3600 * 1000  # the default ttl, in milliseconds
    assert claims["pld"] == {"role": "user"}
    assert "per" not in claims
    assert (tokens.session.user_id, tokens.session.actor) == ("alice", "support-7")
    assert verify(manager, tokens).session.actor == "support-7"

    clock.advance(60)
    refreshed = manager.refresh_session(tokens.refresh_token.value)
    assert refreshed.session.actor == "support-7"
    assert claims_of(refreshed.access_token.value)["act"] == {"sub": "support-7"}
    promoted = verify(manager, refreshed)
    assert promoted.session.actor == "support-7"
    assert promoted.new_access_token is not None
    assert claims_of(promoted.new_access_token.value)["act"] == {"sub": "support-7"}
    assert read_row(manager, tokens.session.handle).actor_id == "support-7"


def test_the_users_own_session_names_no_actor(manager: SessionManager):
    tokens = manager.create_new_session("alice")
    assert tokens.session.actor is None
    assert "act" not in claims_of(tokens.access_token.value)
    assert "ttl" not in claims_of(tokens.access_token.value)
    assert verify(manager, tokens).session.actor is None
    assert read_row(manager, tokens.session.handle).actor_id is None


# --- its lifetime -------------------------------------------------------------------------------


def test_it_is_never_refreshed_past_its_ttl(manager: SessionManager, clock: FakeClock):
    tokens = manager.create_impersonation_session("support-7", "alice", ttl=TTL)
    end = now_ms(clock) + TTL * 1000
    assert claims_of(tokens.access_token.value)["ttl"] == TTL * 1000
    assert tokens.access_token.expires == end  # not created + an hour
    assert tokens.refresh_token.expires == end
    issued = [tokens.access_token]

    clock.advance(TTL / 2)
    tokens = manager.refresh_session(tokens.refresh_token.value)
    issued.append(tokens.access_token)
    promoted = verify(manager, tokens)
    assert promoted.new_access_token is not None
    issued.append(promoted.new_access_token)
    assert read_row(manager, tokens.session.handle).expires_at == end

    clock.advance(TTL / 2 - 1)  # one second before its end: refreshed, up to its end only
    last = manager.refresh_session(tokens.refresh_token.value)
    issued.append(last.access_token)
    promoted = verify(manager, last)
    assert promoted.new_access_token is not None
    issued.append(promoted.new_access_token)
    for access in issued:  # no access token outlives created + ttl
        assert access.expires <= end
        assert claims_of(access.value)["exp"] * 1000 <= end

    clock.advance(2)  # past the ttl
    with pytest.raises(UnauthorisedError):
        manager.refresh_session(last.refresh_token.value)
    clock.advance(5)  # past the leeway too: its access tokens are expired
    with pytest.raises(TryRefreshTokenError):
        verify(manager, last)
    assert manager.list_sessions_for_user("alice") == []


def test_the_absolute_lifetime_bounds_it_when_shorter(
    make_manager: Callable[..., SessionManager], clock: FakeClock
):
    manager = make_manager(absolute_session_lifetime=3600)
    tokens = manager.create_impersonation_session("support-7", "alice", ttl=86_400)
    assert tokens.refresh_token.expires == now_ms(clock) + 3600 * 1000
    clock.advance(3601)
    with pytest.raises(UnauthorisedError):
        manager.refresh_session(tokens.refresh_token.value)


def test_it_neither_counts_against_the_cap_nor_evicts(
    make_manager: Callable[..., SessionManager], clock: FakeClock
):
    manager = make_manager(max_sessions_per_user=1)
    own = manager.create_new_session("alice")
    clock.advance(1)
    support = manager.create_impersonation_session("support-7", "alice")
    second = manager.create_impersonation_session("support-8", "alice")  # two: still fine
    verify(manager, own)  # the user's only session was not evicted by them
    clock.advance(1)
    again = manager.create_new_session("alice")  # the user logs in again: one own place
    with pytest.raises(UnauthorisedError):
        verify(manager, own)
    for tokens in (support, second, again):
        verify(manager, tokens)
    clock.advance(1)
    assert manager.refresh_session(support.refresh_token.value).session.actor == "support-7"
    listed = manager.list_sessions_for_user("alice")
    assert sorted((s.handle, s.impersonated_by) for s in listed) == sorted(
        [
            (again.session.handle, None),
            (support.session.handle, "support-7"),
            (second.session.handle, "support-8"),
        ]
    )


# --- the listing and the claim check ------------------------------------------------------------


def test_the_listing_marks_it_and_the_user_can_end_it(manager: SessionManager, clock: FakeClock):
    own = manager.create_new_session("alice", client=ELSEWHERE)
    clock.advance(1)
    support = manager.create_impersonation_session("support-7", "alice", client=DESK)
    listed = {s.handle: s for s in manager.list_sessions_for_user("alice")}
    assert listed[own.session.handle].impersonated_by is None
    assert listed[support.session.handle].impersonated_by == "support-7"
    assert listed[support.session.handle].as_json()["impersonatedBy"] == "support-7"
    assert listed[own.session.handle].as_json()["impersonatedBy"] is None
    assert listed[support.session.handle].client_ip == DESK.ip
    assert manager.list_sessions_for_user("support-7") == []  # not the actor's own session

    assert manager.revoke_session(support.session.handle, reason="logout")
    with pytest.raises(UnauthorisedError):
        verify(manager, support)
    with pytest.raises(UnauthorisedError):
        manager.refresh_session(support.refresh_token.value)
    verify(manager, own)


def test_signing_out_the_other_devices_ends_it(manager: SessionManager):
    own = manager.create_new_session("alice")
    support = manager.create_impersonation_session("support-7", "alice")
    assert manager.revoke_other_sessions("alice", own.session.handle) == 1
    with pytest.raises(UnauthorisedError):
        verify(manager, support)
    verify(manager, own)


def test_not_impersonated_refuses_it(manager: SessionManager, clock: FakeClock):
    own = verify(manager, manager.create_new_session("alice")).session
    acting = verify(manager, manager.create_impersonation_session("support-7", "alice")).session
    now = now_ms(clock)
    validate_claims(own, [not_impersonated()], now)
    not_impersonated().validate(own, now)
    with pytest.raises(ClaimValidationError) as caught:
        validate_claims(acting, [not_impersonated()], now)
    assert caught.value.claim == "not_impersonated"
    with pytest.raises(ClaimValidationError):
        not_impersonated().validate(acting, now)


def test_an_impersonation_in_a_tenant(manager: SessionManager, clock: FakeClock):
    tokens = manager.create_impersonation_session("support-7", "alice", tenant_id="acme")
    assert claims_of(tokens.access_token.value)["tId"] == "acme"
    assert claims_of(tokens.access_token.value)["act"] == {"sub": "support-7"}
    session = verify(manager, tokens).session
    assert (session.tenant_id, session.actor) == ("acme", "support-7")
    in_tenant("acme").validate(session, now_ms(clock))
    with pytest.raises(ClaimValidationError):
        in_tenant("public").validate(session, now_ms(clock))
    (listed,) = manager.list_sessions_for_user("alice", tenant_id="acme")
    assert (listed.tenant_id, listed.impersonated_by) == ("acme", "support-7")
    assert manager.list_sessions_for_user("alice") == []
    refreshed = manager.refresh_session(tokens.refresh_token.value)
    assert (refreshed.session.tenant_id, refreshed.session.actor) == ("acme", "support-7")

    public = manager.create_new_session("alice")
    clock.advance(1)
    assert manager.revoke_all_sessions_for_tenant("acme") == 1
    with pytest.raises(UnauthorisedError):
        verify(manager, refreshed)
    verify(manager, public)


# --- the events name the actor ------------------------------------------------------------------


def test_the_events_name_the_actor(hooked: Callable[..., Any], clock: FakeClock):
    manager, events = hooked()
    tokens = manager.create_impersonation_session(
        "support-7", "alice", tenant_id="acme", client=DESK
    )
    (created,) = events
    assert isinstance(created, SessionCreated)
    assert (created.session_handle, created.user_id, created.tenant_id, created.actor) == (
        tokens.session.handle,
        "alice",
        "acme",
        "support-7",
    )
    assert created.client == DESK and created.proof_bound is False
    events.clear()

    clock.advance(60)
    refreshed = manager.refresh_session(tokens.refresh_token.value, client=DESK)
    (event,) = events
    assert isinstance(event, SessionRefreshed)
    assert (event.user_id, event.tenant_id, event.actor, event.repeated) == (
        "alice",
        "acme",
        "support-7",
        False,
    )
    events.clear()
    manager.refresh_session(tokens.refresh_token.value, client=DESK)  # within the grace window
    (event,) = events
    assert isinstance(event, SessionRefreshed) and event.repeated and event.actor == "support-7"
    events.clear()

    assert manager.revoke_session(tokens.session.handle)
    (revoked,) = events
    assert isinstance(revoked, SessionRevoked)
    assert (revoked.session_handle, revoked.user_id, revoked.tenant_id, revoked.actor) == (
        tokens.session.handle,
        "alice",
        "acme",
        "support-7",
    )
    assert revoked.reason == "admin"
    assert refreshed.session.actor == "support-7"
    events.clear()

    # Revoked with the user's other sessions, by user and by tenant: each names the actor.
    own = manager.create_new_session("bob")
    manager.create_impersonation_session("support-8", "bob")
    events.clear()
    manager.revoke_other_sessions("bob", own.session.handle)
    assert [(e.actor, e.reason) for e in events] == [("support-8", "logout")]
    events.clear()
    manager.create_impersonation_session("support-9", "bob")
    events.clear()
    assert manager.revoke_all_sessions_for_user("bob") == 2
    assert sorted((e.actor or "") for e in events) == ["", "support-9"]
    events.clear()
    manager.create_impersonation_session("support-7", "carol", tenant_id="globex")
    events.clear()
    assert manager.revoke_all_sessions_for_tenant("globex") == 1
    assert [(e.user_id, e.tenant_id, e.actor) for e in events] == [("carol", "globex", "support-7")]


def test_a_theft_of_its_token_names_the_actor(hooked: Callable[..., Any], clock: FakeClock):
    manager, events = hooked()
    tokens = manager.create_impersonation_session("support-7", "alice", client=DESK)
    verify(manager, manager.refresh_session(tokens.refresh_token.value, client=DESK))
    clock.advance(31)  # past the grace window
    events.clear()
    with pytest.raises(TokenTheftDetectedError):
        manager.refresh_session(tokens.refresh_token.value, client=ELSEWHERE)
    theft = [e for e in events if isinstance(e, TokenTheft)]
    assert [(e.user_id, e.actor) for e in theft] == [("alice", "support-7")]
    revoked = [e for e in events if isinstance(e, SessionRevoked)]
    assert [(e.actor, e.reason) for e in revoked] == [("support-7", "theft")]


async def test_the_async_manager_names_the_actor_too(
    async_hooked: Callable[..., Any], clock: FakeClock
):
    manager, events = async_hooked(max_sessions_per_user=1)
    own = await manager.create_new_session("alice")
    tokens = await manager.create_impersonation_session("support-7", "alice", ttl=TTL)
    assert claims_of(tokens.access_token.value)["act"] == {"sub": "support-7"}
    assert tokens.access_token.expires == now_ms(clock) + TTL * 1000
    verified = await manager.get_session(tokens.access_token.value, tokens.anti_csrf_token)
    assert verified.session.actor == "support-7"
    clock.advance(60)
    refreshed = await manager.refresh_session(tokens.refresh_token.value)
    await manager.get_session(own.access_token.value, own.anti_csrf_token)  # not evicted
    listed = await manager.list_sessions_for_user("alice")
    assert sorted((s.impersonated_by or "") for s in listed) == ["", "support-7"]
    assert await manager.revoke_session(tokens.session.handle)
    assert [(type(e).__name__, e.actor) for e in events] == [
        ("SessionCreated", None),
        ("SessionCreated", "support-7"),
        ("SessionRefreshed", "support-7"),
        ("SessionRevoked", "support-7"),
    ]
    with pytest.raises(UnauthorisedError):
        await manager.get_session(refreshed.access_token.value, refreshed.anti_csrf_token)

    past = await manager.create_impersonation_session("support-7", "alice", ttl=60)
    clock.advance(61)
    with pytest.raises(UnauthorisedError):
        await manager.refresh_session(past.refresh_token.value)
    with pytest.raises(InvalidArgumentError, match="ttl"):
        await manager.create_impersonation_session("support-7", "alice", ttl=59)


# --- what is refused ----------------------------------------------------------------------------


@pytest.mark.parametrize("ttl", [59, 0, -1, 86_401, 3600.0, "3600", None, True])
def test_the_ttl_is_bounded(manager: SessionManager, ttl: Any):
    with pytest.raises(InvalidArgumentError, match="ttl"):
        manager.create_impersonation_session("support-7", "alice", ttl=ttl)
    assert manager.list_sessions_for_user("alice") == []


@pytest.mark.parametrize("ttl", [60, 86_400])
def test_the_ttl_at_its_bounds(manager: SessionManager, clock: FakeClock, ttl: int):
    tokens = manager.create_impersonation_session("support-7", "alice", ttl=ttl)
    assert claims_of(tokens.access_token.value)["ttl"] == ttl * 1000
    assert tokens.access_token.expires == now_ms(clock) + min(ttl, 3600) * 1000


@pytest.mark.parametrize("actor", ["", None, 7, "x" * 129])
def test_the_actor_must_be_an_identifier(manager: SessionManager, actor: Any):
    with pytest.raises(InvalidArgumentError, match="actor_id"):
        manager.create_impersonation_session(actor, "alice")
    assert manager.list_sessions_for_user("alice") == []
