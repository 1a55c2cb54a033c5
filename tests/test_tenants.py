"""Tenants through the managers, on every backend (issue 21): a user id is unique within its
tenant only, so every per-user operation stays inside the tenant it names; a whole tenant can be
revoked at once (one revocation row, read by every process within the interval); the access
token says the tenant (``tId``), the session exposes it, ``in_tenant`` checks it, the events carry
it; and tables of the previous version are upgraded in place, their rows in the default tenant."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import (
    Column,
    Index,
    MetaData,
    Table,
    create_engine,
    insert,
    inspect,
    select,
)

from sessionward import (
    DEFAULT_TENANT,
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
    UnauthorisedError,
    in_tenant,
)
from sessionward._claims import validate_claims
from sessionward._flows import run_flow
from sessionward._protocol import sha256_hex
from sessionward._storage.engines import resolve_url
from sessionward._storage.schema import build_tables
from sessionward._tokens.refresh import RefreshClaims
from tests.conftest import ConfigFactory, FakeClock, read_row

HOME = ClientContext("203.0.113.10", "Firefox")
ELSEWHERE = ClientContext("198.51.100.5", "Chrome")
BAD_TENANTS: list[Any] = [
    "",
    "a b",
    "x" * 65,
    "acme/evil",
    "acme\n",
    "ümlaut",
    "a;b",
    None,
    7,
    b"acme",
]


def claims_of(access_token: str) -> dict[str, Any]:
    """The payload of a JWT, decoded without checking it (the tests check what it says)."""
    body = access_token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    return decoded


def verify(manager: SessionManager, tokens: SessionTokens) -> Any:
    return manager.get_session(tokens.access_token.value, tokens.anti_csrf_token)


def sibling(manager: SessionManager, clock: FakeClock, **settings: Any) -> SessionManager:
    """Another process of the same deployment: same tables, its own keys and cache."""
    return SessionManager(replace(manager.config, **settings), clock=clock)


@pytest.fixture
def hooked(make_config: ConfigFactory, clock: FakeClock) -> Iterator[Callable[..., Any]]:
    """A sync manager whose every hook appends its event to the list returned with it."""
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
    """An async manager with async hooks that append their events."""
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


# --- two tenants, two users of the same id ------------------------------------------------------


def test_the_same_user_id_in_two_tenants_has_two_inventories(
    manager: SessionManager, clock: FakeClock
):
    acme = [manager.create_new_session("alice", tenant_id="acme", client=HOME) for _ in range(2)]
    clock.advance(1)
    globex = manager.create_new_session("alice", tenant_id="globex", client=ELSEWHERE)
    public = manager.create_new_session("alice")

    listed = manager.list_sessions_for_user("alice", tenant_id="acme")
    assert sorted(s.handle for s in listed) == sorted(t.session.handle for t in acme)
    assert {(s.tenant_id, s.user_id) for s in listed} == {("acme", "alice")}
    assert {s.as_json()["tenantId"] for s in listed} == {"acme"}
    (other,) = manager.list_sessions_for_user("alice", tenant_id="globex")
    assert (other.handle, other.tenant_id, other.client_ip) == (
        globex.session.handle,
        "globex",
        ELSEWHERE.ip,
    )
    assert manager.get_all_session_handles_for_user("alice", tenant_id="globex") == [
        globex.session.handle
    ]
    assert manager.get_all_session_handles_for_user("alice") == [public.session.handle]
    assert manager.get_all_session_handles_for_user("alice", tenant_id=DEFAULT_TENANT) == [
        public.session.handle
    ]
    assert manager.list_sessions_for_user("alice", tenant_id="initech") == []


async def test_the_async_manager_keeps_the_inventories_apart(
    async_manager: AsyncSessionManager,
):
    acme = await async_manager.create_new_session("alice", tenant_id="acme")
    globex = await async_manager.create_new_session("alice", tenant_id="globex")
    assert await async_manager.get_all_session_handles_for_user("alice", tenant_id="acme") == [
        acme.session.handle
    ]
    (listed,) = await async_manager.list_sessions_for_user("alice", tenant_id="globex")
    assert (listed.handle, listed.tenant_id) == (globex.session.handle, "globex")
    assert await async_manager.get_all_session_handles_for_user("alice") == []

    assert await async_manager.revoke_all_sessions_for_user("alice", tenant_id="acme") == 1
    with pytest.raises(UnauthorisedError):
        await async_manager.get_session(acme.access_token.value, acme.anti_csrf_token)
    with pytest.raises(UnauthorisedError):
        await async_manager.refresh_session(acme.refresh_token.value)
    verified = await async_manager.get_session(globex.access_token.value, globex.anti_csrf_token)
    assert verified.session.tenant_id == "globex"
    refreshed = await async_manager.refresh_session(globex.refresh_token.value)
    assert refreshed.session.tenant_id == "globex"

    assert await async_manager.revoke_all_sessions_for_tenant("globex") == 1
    with pytest.raises(UnauthorisedError):
        await async_manager.get_session(refreshed.access_token.value, refreshed.anti_csrf_token)


@pytest.mark.parametrize("check", ["cached", "exact"])
def test_revoking_a_user_in_one_tenant_leaves_the_same_id_elsewhere_working(
    make_manager: Callable[..., SessionManager], clock: FakeClock, check: str
):
    manager = make_manager(revocation_check=check)
    acme = manager.create_new_session("alice", tenant_id="acme")
    globex = manager.create_new_session("alice", tenant_id="globex")
    public = manager.create_new_session("alice")
    other = sibling(manager, clock)
    try:
        for tokens in (acme, globex, public):  # the other process trusts all three
            verify(other, tokens)
        clock.advance(1)

        assert manager.revoke_all_sessions_for_user("alice", tenant_id="acme") == 1
        with pytest.raises(UnauthorisedError):
            verify(manager, acme)
        with pytest.raises(UnauthorisedError):
            manager.refresh_session(acme.refresh_token.value)
        assert verify(manager, globex).session.tenant_id == "globex"
        assert verify(manager, public).session.tenant_id == DEFAULT_TENANT
        clock.advance(2)  # past the other process's interval: it has read the revocation
        with pytest.raises(UnauthorisedError):
            verify(other, acme)
        assert verify(other, globex).session.user_id == "alice"
        assert verify(other, public).session.user_id == "alice"

        # Revoking the default tenant's alice (its row names no tenant) spares acme's and
        # globex's: the other process reads it as the default tenant's user.
        assert manager.revoke_all_sessions_for_user("alice") == 1
        clock.advance(2.5)
        with pytest.raises(UnauthorisedError):
            verify(other, public)
        with pytest.raises(UnauthorisedError):
            verify(manager, public)
        refreshed = manager.refresh_session(globex.refresh_token.value)
        assert refreshed.session.tenant_id == "globex"
        promoted = verify(other, refreshed)
        assert promoted.new_access_token is not None
        assert claims_of(promoted.new_access_token.value)["tId"] == "globex"
        assert manager.get_all_session_handles_for_user("alice", tenant_id="globex") == [
            globex.session.handle
        ]
    finally:
        other.close()


def test_signing_out_other_devices_stays_in_the_tenant(manager: SessionManager):
    mine, theirs = (manager.create_new_session("alice", tenant_id="acme") for _ in range(2))
    globex = manager.create_new_session("alice", tenant_id="globex")
    public = manager.create_new_session("alice")

    assert manager.revoke_other_sessions("alice", mine.session.handle, tenant_id="acme") == 1
    assert manager.get_all_session_handles_for_user("alice", tenant_id="acme") == [
        mine.session.handle
    ]
    with pytest.raises(UnauthorisedError):
        verify(manager, theirs)
    for tokens in (mine, globex, public):
        verify(manager, tokens)
    # Keeping a session of another tenant keeps nothing here: all of acme's go, nothing else.
    assert manager.revoke_other_sessions("alice", globex.session.handle, tenant_id="acme") == 1
    assert manager.get_all_session_handles_for_user("alice", tenant_id="acme") == []
    assert manager.get_all_session_handles_for_user("alice", tenant_id="globex") == [
        globex.session.handle
    ]
    assert manager.revoke_other_sessions("alice", public.session.handle) == 0
    verify(manager, globex)
    verify(manager, public)


def test_a_payload_change_for_a_user_stays_in_the_tenant(manager: SessionManager):
    acme = manager.create_new_session("alice", {"role": "user"}, tenant_id="acme")
    globex = manager.create_new_session("alice", {"role": "user"}, tenant_id="globex")
    public = manager.create_new_session("alice", {"role": "user"})

    assert (
        manager.merge_into_jwt_payload_for_user("alice", {"role": "admin"}, tenant_id="acme") == 1
    )
    assert manager.refresh_session(acme.refresh_token.value).session.jwt_payload == {
        "role": "admin"
    }
    refreshed = manager.refresh_session(globex.refresh_token.value)
    assert refreshed.session.jwt_payload == {"role": "user"}
    assert claims_of(refreshed.access_token.value)["pld"] == {"role": "user"}
    assert manager.refresh_session(public.refresh_token.value).session.jwt_payload == {
        "role": "user"
    }
    # The default tenant's change reaches only the default tenant's alice.
    assert manager.merge_into_jwt_payload_for_user("alice", {"plan": "pro"}) == 1
    assert read_row(manager, public.session.handle).jwt_payload_json == (
        '{"role":"user","plan":"pro"}'
    )
    assert json.loads(read_row(manager, globex.session.handle).jwt_payload_json) == {"role": "user"}
    assert manager.merge_into_jwt_payload_for_user("alice", {"x": 1}, tenant_id="initech") == 0


def test_the_session_cap_counts_per_tenant(make_manager: Callable[..., Any], clock: FakeClock):
    manager = make_manager(max_sessions_per_user=2)
    acme = []
    globex = []
    for _ in range(2):
        acme.append(manager.create_new_session("alice", tenant_id="acme"))
        clock.advance(1)
        globex.append(manager.create_new_session("alice", tenant_id="globex"))
        clock.advance(1)
    public = manager.create_new_session("alice")
    for tokens in (*acme, *globex, public):  # four in two tenants, one in a third: all kept
        verify(manager, tokens)

    newest = manager.create_new_session("alice", tenant_id="acme")
    assert sorted(manager.get_all_session_handles_for_user("alice", tenant_id="acme")) == sorted(
        [acme[1].session.handle, newest.session.handle]
    )
    with pytest.raises(UnauthorisedError):
        verify(manager, acme[0])
    assert sorted(manager.get_all_session_handles_for_user("alice", tenant_id="globex")) == sorted(
        t.session.handle for t in globex
    )
    for tokens in (*globex, public):
        verify(manager, tokens)


# --- the whole tenant ---------------------------------------------------------------------------


@pytest.mark.parametrize("check", ["cached", "exact"])
def test_revoking_a_tenant_ends_its_sessions_and_no_other(
    make_manager: Callable[..., SessionManager], clock: FakeClock, check: str
):
    manager = make_manager(revocation_check=check)
    alice = manager.create_new_session("alice", tenant_id="acme")
    bob = manager.create_new_session("bob", tenant_id="acme")
    refreshed_bob = manager.refresh_session(bob.refresh_token.value)  # unconfirmed pair
    other_alice = manager.create_new_session("alice", tenant_id="globex")
    public = manager.create_new_session("bob")
    other = sibling(manager, clock)
    try:
        for tokens in (alice, bob, other_alice, public):
            verify(other, tokens)
        clock.advance(1)

        assert manager.revoke_all_sessions_for_tenant("acme") == 2
        # In this process at once, without waiting for an interval (the cache, or the row).
        for tokens in (alice, bob, refreshed_bob):
            with pytest.raises(UnauthorisedError):
                verify(manager, tokens)
        for tokens in (alice, bob, refreshed_bob):
            with pytest.raises(UnauthorisedError):
                manager.refresh_session(tokens.refresh_token.value)
        assert manager.list_sessions_for_user("alice", tenant_id="acme") == []
        assert manager.list_sessions_for_user("bob", tenant_id="acme") == []
        verify(manager, other_alice)
        verify(manager, public)

        clock.advance(2)  # the other process's interval is over: one read, and it refuses them
        for tokens in (alice, bob):
            with pytest.raises(UnauthorisedError):
                verify(other, tokens)
        verify(other, other_alice)
        verify(other, public)
        assert manager.refresh_session(other_alice.refresh_token.value).session.tenant_id == (
            "globex"
        )

        # The tenant's users log in again afterwards: only earlier sessions were revoked.
        clock.advance(0.001)
        again = manager.create_new_session("alice", tenant_id="acme")
        assert verify(manager, again).session.tenant_id == "acme"
        assert verify(other, again).session.tenant_id == "acme"
        assert manager.revoke_all_sessions_for_tenant("initech") == 0
    finally:
        other.close()


def test_a_tenant_revocation_is_one_row(manager: SessionManager, clock: FakeClock):
    for user in ("alice", "bob", "carol"):
        manager.create_new_session(user, tenant_id="acme")
    manager.create_new_session("alice")  # the default tenant's first rows
    clock.advance(1)
    assert manager.revoke_all_sessions_for_tenant("acme") == 3
    rows = run_flow(manager._context.queries.revocations_since(0, 0), manager.store)
    assert [(r.session_handle, r.user_id, r.tenant_id) for r in rows] == [(None, None, "acme")]
    assert rows[0].not_before == int(clock.now * 1000)


def test_revoking_the_default_tenant_spares_the_named_ones(manager: SessionManager):
    public = manager.create_new_session("alice")
    acme = manager.create_new_session("alice", tenant_id="acme")
    assert manager.revoke_all_sessions_for_tenant(DEFAULT_TENANT) == 1
    with pytest.raises(UnauthorisedError):
        verify(manager, public)
    assert verify(manager, acme).session.tenant_id == "acme"


# --- what the tokens and the session say -------------------------------------------------------


def test_the_access_token_names_the_tenant(manager: SessionManager):
    acme = manager.create_new_session("alice", tenant_id="acme")
    public = manager.create_new_session("alice")
    assert claims_of(acme.access_token.value)["tId"] == "acme"
    assert claims_of(public.access_token.value)["tId"] == DEFAULT_TENANT == "public"
    for tokens, tenant in ((acme, "acme"), (public, "public")):
        assert tokens.session.tenant_id == tenant
        assert verify(manager, tokens).session.tenant_id == tenant
        refreshed = manager.refresh_session(tokens.refresh_token.value)
        assert refreshed.session.tenant_id == tenant
        assert claims_of(refreshed.access_token.value)["tId"] == tenant
        promoted = verify(manager, refreshed)
        assert promoted.session.tenant_id == tenant
        assert promoted.new_access_token is not None
        assert claims_of(promoted.new_access_token.value)["tId"] == tenant
        again = manager.refresh_session(refreshed.refresh_token.value)
        assert claims_of(again.access_token.value)["tId"] == tenant


def test_the_row_names_the_tenant(manager: SessionManager):
    acme = manager.create_new_session("alice", tenant_id="acme")
    public = manager.create_new_session("alice")
    assert read_row(manager, acme.session.handle).tenant_id == "acme"
    assert read_row(manager, public.session.handle).tenant_id == DEFAULT_TENANT


def test_in_tenant_passes_its_tenant_only(manager: SessionManager, clock: FakeClock):
    acme = verify(manager, manager.create_new_session("alice", tenant_id="acme")).session
    globex = verify(manager, manager.create_new_session("alice", tenant_id="globex")).session
    public = verify(manager, manager.create_new_session("alice")).session
    now = int(clock.now * 1000)
    validate_claims(acme, [in_tenant("acme")], now)
    in_tenant("globex").validate(globex, now)
    in_tenant(DEFAULT_TENANT).validate(public, now)
    for session, claim in ((globex, "acme"), (public, "acme"), (acme, "public")):
        with pytest.raises(ClaimValidationError) as caught:
            validate_claims(session, [in_tenant(claim)], now)
        assert caught.value.claim == "in_tenant"
        assert claim in str(caught.value)


# --- events -------------------------------------------------------------------------------------


def test_every_event_names_the_tenant(hooked: Callable[..., Any], clock: FakeClock):
    manager, events = hooked(max_sessions_per_user=2)
    first = manager.create_new_session("alice", tenant_id="acme", client=HOME)
    created = events.pop()
    assert isinstance(created, SessionCreated)
    assert (created.session_handle, created.user_id, created.tenant_id, created.actor) == (
        first.session.handle,
        "alice",
        "acme",
        None,
    )
    clock.advance(1)
    refreshed = manager.refresh_session(first.refresh_token.value, client=HOME)
    (event,) = events
    assert isinstance(event, SessionRefreshed) and event.tenant_id == "acme"
    events.clear()

    # Revoked by handle: the owner (and so the tenant) is read for the hook.
    second = manager.create_new_session("alice", tenant_id="acme")
    assert manager.revoke_session(second.session.handle)
    revoked = [e for e in events if isinstance(e, SessionRevoked)]
    assert [(e.session_handle, e.tenant_id, e.user_id) for e in revoked] == [
        (second.session.handle, "acme", "alice")
    ]
    events.clear()

    # Evicted past the cap, in acme only (globex's alice is not counted).
    manager.create_new_session("alice", tenant_id="globex")
    clock.advance(1)
    third = manager.create_new_session("alice", tenant_id="acme")
    clock.advance(1)
    manager.create_new_session("alice", tenant_id="acme")
    evicted = [e for e in events if isinstance(e, SessionRevoked)]
    assert [(e.session_handle, e.reason, e.tenant_id) for e in evicted] == [
        (first.session.handle, "evicted", "acme")
    ]
    events.clear()

    # Signed out of the others, then revoked as a user, then as a tenant.
    manager.revoke_other_sessions("alice", third.session.handle, tenant_id="acme")
    (other,) = events
    assert (other.reason, other.tenant_id) == ("logout", "acme")
    events.clear()
    assert manager.revoke_all_sessions_for_user("alice", tenant_id="acme") == 1
    (by_user,) = events
    assert (by_user.session_handle, by_user.tenant_id, by_user.user_id) == (
        third.session.handle,
        "acme",
        "alice",
    )
    events.clear()
    globex_bob = manager.create_new_session("bob", tenant_id="globex")
    events.clear()
    assert manager.revoke_all_sessions_for_tenant("globex") == 2
    assert all(isinstance(e, SessionRevoked) for e in events)
    assert sorted((e.user_id, e.tenant_id, e.reason) for e in events) == [
        ("alice", "globex", "admin"),
        ("bob", "globex", "admin"),
    ]
    assert globex_bob.session.handle in {e.session_handle for e in events}
    events.clear()

    # Theft: the replay of a spent refresh token of a tenant's session.
    victim = manager.create_new_session("dan", tenant_id="initech", client=HOME)
    child = manager.refresh_session(victim.refresh_token.value, client=HOME)
    verify(manager, child)
    clock.advance(31)
    events.clear()
    with pytest.raises(TokenTheftDetectedError):
        manager.refresh_session(victim.refresh_token.value, client=ELSEWHERE)
    theft = [e for e in events if isinstance(e, TokenTheft)]
    assert [(e.session_handle, e.tenant_id) for e in theft] == [(victim.session.handle, "initech")]
    assert [e.tenant_id for e in events if isinstance(e, SessionRevoked)] == ["initech"]
    assert refreshed.session.tenant_id == "acme"


async def test_every_event_names_the_tenant_on_the_async_manager(
    async_hooked: Callable[..., Any], clock: FakeClock
):
    manager, events = async_hooked()
    tokens = await manager.create_new_session("alice", tenant_id="acme")
    clock.advance(1)
    refreshed = await manager.refresh_session(tokens.refresh_token.value)
    await manager.get_session(refreshed.access_token.value, refreshed.anti_csrf_token)
    assert await manager.revoke_session(tokens.session.handle)
    await manager.create_new_session("bob", tenant_id="acme")
    assert await manager.revoke_all_sessions_for_tenant("acme") == 1
    kinds = [(type(e).__name__, e.tenant_id) for e in events]
    assert kinds == [
        ("SessionCreated", "acme"),
        ("SessionRefreshed", "acme"),
        ("SessionRevoked", "acme"),
        ("SessionCreated", "acme"),
        ("SessionRevoked", "acme"),
    ]
    assert events[-1].user_id == "bob"


# --- what is refused ----------------------------------------------------------------------------


@pytest.mark.parametrize("tenant", BAD_TENANTS, ids=repr)
def test_a_bad_tenant_id_is_an_invalid_argument_everywhere(manager: SessionManager, tenant: Any):
    tokens = manager.create_new_session("alice")
    calls: list[Callable[[], Any]] = [
        lambda: manager.create_new_session("alice", tenant_id=tenant),
        lambda: manager.create_impersonation_session("support", "alice", tenant_id=tenant),
        lambda: manager.list_sessions_for_user("alice", tenant_id=tenant),
        lambda: manager.get_all_session_handles_for_user("alice", tenant_id=tenant),
        lambda: manager.revoke_all_sessions_for_user("alice", tenant_id=tenant),
        lambda: manager.revoke_all_sessions_for_tenant(tenant),
        lambda: manager.revoke_other_sessions("alice", tokens.session.handle, tenant_id=tenant),
        lambda: manager.merge_into_jwt_payload_for_user("alice", {"a": 1}, tenant_id=tenant),
        lambda: in_tenant(tenant),
    ]
    for call in calls:
        with pytest.raises(InvalidArgumentError, match="tenant_id"):
            call()
    verify(manager, tokens)  # nothing was revoked on the way
    assert manager.get_all_session_handles_for_user("alice") == [tokens.session.handle]


async def test_a_bad_tenant_id_is_an_invalid_argument_on_the_async_manager(
    async_manager: AsyncSessionManager,
):
    for tenant in ("", "a b", "x" * 65, None):
        with pytest.raises(InvalidArgumentError):
            await async_manager.create_new_session("alice", tenant_id=tenant)  # type: ignore[arg-type]
        with pytest.raises(InvalidArgumentError):
            await async_manager.revoke_all_sessions_for_tenant(tenant)  # type: ignore[arg-type]
        with pytest.raises(InvalidArgumentError):
            await async_manager.list_sessions_for_user("alice", tenant_id=tenant)  # type: ignore[arg-type]


@pytest.mark.parametrize("tenant", ["a", "x" * 64, "Acme.Corp_eu-1", "0"])
def test_tenant_ids_at_the_limits_work(manager: SessionManager, tenant: str):
    tokens = manager.create_new_session("alice", tenant_id=tenant)
    assert claims_of(tokens.access_token.value)["tId"] == tenant
    assert manager.get_all_session_handles_for_user("alice", tenant_id=tenant) == [
        tokens.session.handle
    ]


def test_tenant_ids_compare_exactly(manager: SessionManager):
    tokens = manager.create_new_session("alice", tenant_id="Acme")
    for other in ("acme", "ACME", "aCME"):  # a case-insensitive collation would match these
        assert manager.get_all_session_handles_for_user("alice", tenant_id=other) == []
    assert manager.revoke_all_sessions_for_tenant("acme") == 0
    assert verify(manager, tokens).session.tenant_id == "Acme"


# --- tables of the previous version -------------------------------------------------------------


def _previous_version_tables(config: Any) -> tuple[MetaData, Table, Table]:
    """The session and revocation tables as the version before tenants created them: no
    ``tenant_id`` and ``actor_id``, the index on ``user_id`` alone, no ``tenant_id`` on the
    revocations."""
    current = build_tables(
        config.signing_key_table, config.refresh_token_table, config.revocation_table
    )
    metadata = MetaData()

    def copy(table: Table, dropped: set[str]) -> Table:
        return Table(
            table.name,
            metadata,
            *(
                Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
                for c in table.columns
                if c.name not in dropped
            ),
        )

    sessions = copy(current.sessions, {"tenant_id", "actor_id"})
    Index(f"{sessions.name}_user_id_idx", sessions.c.user_id)
    Index(f"{sessions.name}_expires_at_idx", sessions.c.expires_at)
    revocations = copy(current.revocations, {"tenant_id"})
    Index(f"{revocations.name}_revoked_at_idx", revocations.c.revoked_at)
    Index(f"{revocations.name}_drop_after_idx", revocations.c.drop_after)
    return metadata, sessions, revocations


def test_tables_of_the_previous_version_are_upgraded_and_their_rows_are_the_default_tenants(
    make_config: ConfigFactory, clock: FakeClock
):
    config = make_config()
    url = resolve_url(config.database_url, asynchronous=False)
    # The previous version's deployment: its key table (with the refresh-token key that sealed
    # its tokens), its session and revocation tables, and a session it wrote.
    with SessionManager(config, clock=clock) as before:
        before.create_tables()
        cipher = before._context.keys.refresh.cipher
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP TABLE {config.refresh_token_table}")
            conn.exec_driver_sql(f"DROP TABLE {config.revocation_table}")
        metadata, sessions, revocations = _previous_version_tables(config)
        metadata.create_all(engine)
        now = int(clock.now * 1000)
        handle = str(uuid.uuid4())
        expires = now + config.refresh_token_validity_ms
        # A refresh token as the previous version sealed it: no tenant, actor or terms.
        old_token = cipher.seal(
            RefreshClaims(handle, "olduser", None, expires, now, '{"r":1}'), now
        )
        with engine.begin() as conn:
            conn.execute(
                insert(sessions).values(
                    session_handle=handle,
                    user_id="olduser",
                    refresh_token_hash_2=sha256_hex(sha256_hex(old_token)),
                    session_info=None,
                    expires_at=expires,
                    jwt_user_payload='{"r":1}',
                    created_at=now,
                )
            )
        clock.advance(60)

        with SessionManager(config, clock=clock) as after:
            after.create_tables()
            inspector = inspect(engine)
            session_columns = {c["name"] for c in inspector.get_columns(sessions.name)}
            assert {"tenant_id", "actor_id"} <= session_columns
            index_names = {i["name"] for i in inspector.get_indexes(sessions.name)}
            assert f"{sessions.name}_tenant_user_idx" in index_names
            assert f"{sessions.name}_user_id_idx" in index_names  # left as it was
            revocation_columns = {c["name"] for c in inspector.get_columns(revocations.name)}
            assert "tenant_id" in revocation_columns
            with engine.connect() as conn:
                stored = conn.execute(
                    select(build_tables(*_names(config)).sessions.c.tenant_id)
                ).all()
            assert stored == [(DEFAULT_TENANT,)]

            (listed,) = after.list_sessions_for_user("olduser")
            assert (listed.handle, listed.tenant_id, listed.impersonated_by) == (
                handle,
                DEFAULT_TENANT,
                None,
            )
            assert after.list_sessions_for_user("olduser", tenant_id="acme") == []
            refreshed = after.refresh_session(old_token)
            assert refreshed.session.tenant_id == DEFAULT_TENANT
            assert claims_of(refreshed.access_token.value)["tId"] == DEFAULT_TENANT
            assert after.get_session(
                refreshed.access_token.value, refreshed.anti_csrf_token
            ).new_access_token
            acme = after.create_new_session("olduser", tenant_id="acme")
            clock.advance(1)

            assert after.revoke_all_sessions_for_user("olduser") == 1
            with pytest.raises(UnauthorisedError):
                after.refresh_session(refreshed.refresh_token.value)
            with pytest.raises(UnauthorisedError):
                after.get_session(refreshed.access_token.value, refreshed.anti_csrf_token)
            assert verify(after, acme).session.tenant_id == "acme"
    finally:
        engine.dispose()


def _names(config: Any) -> tuple[str, str, str]:
    return (config.signing_key_table, config.refresh_token_table, config.revocation_table)


def test_a_revocation_row_without_a_tenant_is_the_default_tenants_user(
    manager: SessionManager, clock: FakeClock
):
    """A process of the previous version writes its revoke-all row without a tenant: this
    version reads it as the revocation of the default tenant's user, and of no other's."""
    public = manager.create_new_session("alice")
    acme = manager.create_new_session("alice", tenant_id="acme")
    verify(manager, public)
    verify(manager, acme)
    now = int(clock.now * 1000)
    revocations = build_tables(*_names(manager.config)).revocations
    engine = create_engine(resolve_url(manager.config.database_url, asynchronous=False))
    try:
        with engine.begin() as conn:  # the previous version's insert: no tenant_id column
            conn.execute(
                insert(revocations).values(
                    revocation_id=str(uuid.uuid4()),
                    session_handle=None,
                    user_id="alice",
                    not_before=now,
                    revoked_at=now,
                    drop_after=now + 3_600_000,
                )
            )
            assert conn.execute(select(revocations.c.tenant_id)).scalar_one() is None
    finally:
        engine.dispose()
    clock.advance(2)  # the interval is over: the next verify reads the table
    with pytest.raises(UnauthorisedError):
        verify(manager, public)
    assert verify(manager, acme).session.tenant_id == "acme"
