"""docs/protocol.md#the-grace-window: the grace window serves a duplicate only to the client that
refreshed first; sessions bound to a key refuse refreshes without a valid proof; security
events."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from sessionward import (
    AsyncSessionManager,
    ClientContext,
    ConfigError,
    InvalidArgumentError,
    SessionManager,
    TokenTheftDetectedError,
    UnauthorisedError,
)
from sessionward._clients import client_ip, network_of, parse_networks, same_client
from sessionward._events import SessionHooks
from sessionward._proof import ProofKey, ProofOfPossession
from sessionward._protocol import TheftReason
from tests.conftest import FakeClock, read_row

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"
VICTIM = ClientContext("203.0.113.10", FIREFOX)
VICTIM_OTHER_TAB = ClientContext("203.0.113.10", FIREFOX)
VICTIM_NEW_ADDRESS = ClientContext("203.0.113.77", FIREFOX)  # same /24: e.g. a DHCP renewal
THIEF = ClientContext("198.51.100.5", FIREFOX)  # copied the User-Agent too, another network
REFRESH_URL = "https://app.example/session/refresh"


# --- the grace window, bound to the client --------------------------------------------------


def test_two_tabs_of_one_client_racing_get_the_same_tokens(manager: SessionManager):
    tokens = manager.create_new_session("alice", client=VICTIM)
    first = manager.refresh_session(tokens.refresh_token.value, client=VICTIM)
    second = manager.refresh_session(tokens.refresh_token.value, client=VICTIM_OTHER_TAB)
    third = manager.refresh_session(tokens.refresh_token.value, client=VICTIM_NEW_ADDRESS)
    assert first.refresh_token.value == second.refresh_token.value == third.refresh_token.value
    assert manager.get_session(second.access_token.value).new_access_token is not None


@pytest.mark.parametrize("victim_first", [True, False], ids=["victim-first", "thief-first"])
def test_a_thief_on_another_network_is_caught_at_the_first_shared_rotation(
    manager: SessionManager, clock: FakeClock, victim_first: bool
):
    tokens = manager.create_new_session("alice", client=VICTIM)
    stolen = tokens.refresh_token.value
    order = [VICTIM, THIEF] if victim_first else [THIEF, VICTIM]
    first = manager.refresh_session(stolen, client=order[0])
    clock.advance(2)  # both refresh within seconds of each other: inside the 30 s window
    with pytest.raises(TokenTheftDetectedError) as caught:
        manager.refresh_session(stolen, client=order[1])
    assert caught.value.reason == "other_client"
    # The session is revoked: nobody's refresh or pending access token works any more.
    with pytest.raises(UnauthorisedError):
        manager.refresh_session(first.refresh_token.value, client=order[0])
    with pytest.raises(UnauthorisedError):
        manager.get_session(first.access_token.value)
    assert manager.get_all_session_handles_for_user("alice") == []


def test_a_thief_replaying_a_promoted_parent_inside_the_window_is_caught(
    manager: SessionManager, clock: FakeClock
):
    tokens = manager.create_new_session("alice", client=VICTIM)
    fresh = manager.refresh_session(tokens.refresh_token.value, client=VICTIM)
    manager.get_session(fresh.access_token.value)  # the victim confirms the new pair
    clock.advance(5)
    with pytest.raises(TokenTheftDetectedError) as caught:
        manager.refresh_session(tokens.refresh_token.value, client=THIEF)
    assert caught.value.reason == "other_client"
    assert manager.get_all_session_handles_for_user("alice") == []


def test_a_different_user_agent_on_the_same_network_is_another_client(
    manager: SessionManager,
):
    tokens = manager.create_new_session("alice", client=VICTIM)
    manager.refresh_session(tokens.refresh_token.value, client=VICTIM)
    with pytest.raises(TokenTheftDetectedError):
        manager.refresh_session(tokens.refresh_token.value, client=ClientContext(VICTIM.ip, CHROME))


def test_binding_user_agent_only_lets_a_moving_phone_through(make_manager: Any):
    manager = make_manager(refresh_grace_binding="user_agent")
    tokens = manager.create_new_session("alice", client=VICTIM)
    on_wifi = manager.refresh_session(tokens.refresh_token.value, client=VICTIM)
    on_cell = manager.refresh_session(
        tokens.refresh_token.value, client=ClientContext("192.0.2.200", FIREFOX)
    )
    assert on_cell.refresh_token.value == on_wifi.refresh_token.value
    with pytest.raises(TokenTheftDetectedError):
        manager.refresh_session(tokens.refresh_token.value, client=ClientContext(VICTIM.ip, CHROME))


def test_binding_none_is_the_unbound_window(make_manager: Any):
    manager = make_manager(refresh_grace_binding="none")
    tokens = manager.create_new_session("alice", client=VICTIM)
    first = manager.refresh_session(tokens.refresh_token.value, client=VICTIM)
    again = manager.refresh_session(tokens.refresh_token.value, client=THIEF)
    assert again.refresh_token.value == first.refresh_token.value


def test_a_lost_refresh_answer_is_recovered_by_retrying_from_the_same_client(
    manager: SessionManager, clock: FakeClock
):
    tokens = manager.create_new_session("alice", client=VICTIM)
    manager.refresh_session(tokens.refresh_token.value, client=VICTIM)  # the answer is lost
    clock.advance(3)
    retried = manager.refresh_session(tokens.refresh_token.value, client=VICTIM)
    assert manager.get_session(retried.access_token.value).new_access_token is not None
    # ...and much later too, as in the original, as long as the child was never used
    clock.advance(600)
    later = manager.refresh_session(retried.refresh_token.value, client=VICTIM)
    assert manager.get_session(later.access_token.value).new_access_token is not None


def test_the_client_is_stored_with_the_session(manager: SessionManager, clock: FakeClock):
    tokens = manager.create_new_session("alice", client=VICTIM)
    clock.advance(10)
    manager.refresh_session(tokens.refresh_token.value, client=VICTIM_NEW_ADDRESS)
    row = read_row(manager, tokens.session.handle)
    assert row is not None
    assert (row.refreshed_ip, row.refreshed_user_agent) == (VICTIM_NEW_ADDRESS.ip, FIREFOX)
    assert row.refreshed_at == int(clock.now * 1000)


# --- client context, pure ---------------------------------------------------------------------


def test_networks_group_a_customer_and_separate_others():
    assert network_of("203.0.113.10") == network_of("203.0.113.250") == "203.0.113.0/24"
    assert network_of("203.0.114.10") != network_of("203.0.113.10")
    assert network_of("2001:db8:1:2::1") == network_of("2001:db8:1:2:ffff::9")
    assert network_of("2001:db8:1:3::1") != network_of("2001:db8:1:2::1")
    assert network_of("::ffff:203.0.113.9") == "203.0.113.0/24"  # IPv4-mapped is IPv4
    assert same_client(
        ClientContext("10.1.1.1", "a"), ClientContext("10.1.1.2", "a"), "network_and_user_agent"
    )
    assert not same_client(None, ClientContext("10.1.1.1", "a"), "network_and_user_agent")
    assert same_client(None, None, "network_and_user_agent")


def test_forwarding_headers_are_believed_only_from_trusted_proxies():
    proxies = parse_networks(["10.0.0.0/8"])
    forged = "6.6.6.6, 203.0.113.10"
    assert client_ip("198.51.100.1", forged, trusted_proxies=proxies) == (
        "198.51.100.1"  # the peer is not a proxy: its header is ignored
    )
    assert client_ip("10.0.0.2", forged, trusted_proxies=proxies) == (
        "203.0.113.10"  # the rightmost hop not a trusted proxy; the forged part is never read
    )
    assert client_ip("10.0.0.2", forged) == "10.0.0.2"  # no proxies trusted
    chain = "203.0.113.10, 10.9.9.9"
    assert client_ip("10.0.0.2", chain, trusted_proxies=proxies) == ("203.0.113.10")
    rfc7239 = 'for=6.6.6.6, for="[2001:db8::17]:4711";proto=https'
    assert client_ip("10.0.0.2", rfc7239, header="forwarded", trusted_proxies=proxies) == (
        "2001:db8::17"
    )
    unknown = "for=unknown"
    assert client_ip("10.0.0.2", unknown, header="forwarded", trusted_proxies=proxies) is None


PROXIES = parse_networks(["127.0.0.2/32", "10.0.0.0/8"])


@pytest.mark.parametrize(
    ("header", "value", "expected"),
    [
        # A client with no header of its own: the entry the proxy wrote.
        ("x-forwarded-for", "198.51.100.66", "198.51.100.66"),
        # nginx ($proxy_add_x_forwarded_for): the client's own entry, then the real peer.
        ("x-forwarded-for", "203.0.113.99, 198.51.100.66", "198.51.100.66"),
        # HAProxy (option forwardfor) adds a line after the client's: joined, in order.
        ("x-forwarded-for", "203.0.113.99,198.51.100.66", "198.51.100.66"),
        # Two trusted proxies (10.1.1.1 in front of 127.0.0.2): walked past both.
        ("x-forwarded-for", "203.0.113.99, 198.51.100.66, 10.1.1.1", "198.51.100.66"),
        # RFC 7239: the proxy appends an element; a forged element to its left is never read.
        ("forwarded", "for=203.0.113.99, for=198.51.100.66;proto=https", "198.51.100.66"),
        ("forwarded", 'for=203.0.113.99,for="198.51.100.66:4711"', "198.51.100.66"),
        # A trusted proxy's element that names no client is an unknown hop, not skipped over
        # to the client's own element.
        ("forwarded", "for=203.0.113.99, proto=https", None),
        ("x-forwarded-for", "203.0.113.99, unknown", None),
        # The trusted proxy sent no header: the proxy is the client.
        ("x-forwarded-for", "", "127.0.0.2"),
    ],
)
def test_the_configured_header_is_walked_from_the_right(
    header: Any, value: str, expected: str | None
):
    assert client_ip("127.0.0.2", value, header=header, trusted_proxies=PROXIES) == expected


def test_only_the_configured_forwarding_header_is_read():
    """A proxy that appends to X-Forwarded-For passes a client's Forwarded on untouched (and the
    other way round): that header names whatever the client likes, so it is never read, not
    even preferred "when present"."""
    from sessionward import Config
    from sessionward._transport import client_context

    class Request:
        peer_address = "127.0.0.2"

        def __init__(self, **headers: str) -> None:
            self.headers = {name.replace("_", "-"): value for name, value in headers.items()}

        def get_header(self, name: str) -> str | None:
            return self.headers.get(name)

    by_nginx = Request(forwarded="for=203.0.113.99", x_forwarded_for="203.0.113.99, 198.51.100.66")
    by_rfc7239 = Request(
        x_forwarded_for="203.0.113.99", forwarded="for=203.0.113.99, for=198.51.100.66"
    )
    proxies = ("127.0.0.2/32",)
    default = Config(refresh_path="/r", trusted_proxies=proxies)
    assert client_context(by_nginx, default).ip == "198.51.100.66"
    assert default.forwarded_header == "x-forwarded-for"
    rfc7239 = Config(refresh_path="/r", trusted_proxies=proxies, forwarded_header="forwarded")
    assert client_context(by_rfc7239, rfc7239).ip == "198.51.100.66"
    # Not even when the configured one is missing: the proxy itself is then the client.
    only_xff = Request(x_forwarded_for="198.51.100.66")
    assert client_context(only_xff, rfc7239).ip == "127.0.0.2"
    only_forwarded = Request(forwarded="for=198.51.100.66")
    assert client_context(only_forwarded, default).ip == "127.0.0.2"


def test_a_header_longer_than_the_hop_cap_is_not_walked_further():
    proxies = parse_networks(["10.0.0.0/8"])
    chain = ", ".join(["203.0.113.99"] + [f"10.0.0.{n}" for n in range(1, 40)])
    # Every walked hop is a trusted proxy: the walk stops at the 32nd from the right, never
    # reaching the client's own entry at the start.
    assert client_ip("10.0.0.200", chain, trusted_proxies=proxies) == "10.0.0.8"


@pytest.mark.parametrize("bad", [["10.0.0.0/33"], ["not-an-ip"], "10.0.0.0/8", [7]])
def test_trusted_proxies_are_validated(bad: Any):
    from sessionward import Config

    with pytest.raises(ConfigError, match="trusted_proxies"):
        Config(refresh_path="/r", trusted_proxies=bad)


def test_grace_binding_is_validated():
    from sessionward import Config

    with pytest.raises(ConfigError, match="refresh_grace_binding"):
        Config(refresh_path="/r", refresh_grace_binding="ip")


# --- proof of possession ----------------------------------------------------------------------


def _bound_session(manager: SessionManager, key: ProofKey, now: float) -> Any:
    login = ProofOfPossession(key.proof("POST", "https://app.example/login", now_s=now), "POST",
                              "https://app.example/login")  # fmt: skip
    return manager.create_new_session("alice", client=VICTIM, proof=login)


def _refresh_proof(key: ProofKey, token: str, now: float) -> ProofOfPossession:
    return ProofOfPossession(key.proof("POST", REFRESH_URL, token=token, now_s=now), "POST",
                             REFRESH_URL)  # fmt: skip


def test_a_bound_session_refreshes_with_proofs_by_its_key(manager: SessionManager, clock):
    key = ProofKey()
    tokens = _bound_session(manager, key, clock.now)
    for _ in range(3):
        proof = _refresh_proof(key, tokens.refresh_token.value, clock.now)
        tokens = manager.refresh_session(tokens.refresh_token.value, client=VICTIM, proof=proof)
        assert manager.get_session(tokens.access_token.value).new_access_token is not None
        clock.advance(45)


@pytest.mark.parametrize(
    ("make_proof", "reason"),
    [
        (lambda key, token, now: None, "proof_missing"),
        (lambda key, token, now: _refresh_proof(ProofKey(), token, now), "proof_invalid"),
        (lambda key, token, now: _refresh_proof(key, token + "x", now), "proof_invalid"),
        (lambda key, token, now: _refresh_proof(key, token, now - 120), "proof_invalid"),
        (
            lambda key, token, now: ProofOfPossession(
                key.proof("POST", "https://app.example/elsewhere", token=token, now_s=now),
                "POST",
                REFRESH_URL,
            ),
            "proof_invalid",
        ),
        (lambda key, token, now: ProofOfPossession("a.b.c", "POST", REFRESH_URL), "proof_invalid"),
    ],
    ids=["missing", "other-key", "other-token", "stale", "other-url", "garbage"],
)
def test_a_copied_refresh_token_of_a_bound_session_is_worthless(
    manager: SessionManager, clock: FakeClock, make_proof: Any, reason: str
):
    key = ProofKey()
    tokens = _bound_session(manager, key, clock.now)
    stolen = tokens.refresh_token.value
    with pytest.raises(TokenTheftDetectedError) as caught:
        manager.refresh_session(stolen, client=VICTIM, proof=make_proof(key, stolen, clock.now))
    assert caught.value.reason == reason
    assert manager.get_all_session_handles_for_user("alice") == []  # revoked


def test_a_proof_is_accepted_once(manager: SessionManager, clock: FakeClock):
    key = ProofKey()
    tokens = _bound_session(manager, key, clock.now)
    proof = _refresh_proof(key, tokens.refresh_token.value, clock.now)
    manager.refresh_session(tokens.refresh_token.value, client=VICTIM, proof=proof)
    with pytest.raises(TokenTheftDetectedError, match="proof_invalid"):
        manager.refresh_session(tokens.refresh_token.value, client=VICTIM, proof=proof)


def test_a_bound_client_racing_itself_still_gets_one_child(manager: SessionManager, clock):
    key = ProofKey()
    tokens = _bound_session(manager, key, clock.now)
    rt = tokens.refresh_token.value
    one = manager.refresh_session(rt, client=VICTIM, proof=_refresh_proof(key, rt, clock.now))
    two = manager.refresh_session(rt, client=VICTIM, proof=_refresh_proof(key, rt, clock.now))
    assert one.refresh_token.value == two.refresh_token.value


@pytest.mark.parametrize(
    "proof",
    [
        ProofOfPossession("not-a-jwt", "POST", "/login"),
        ProofOfPossession("x" * 5000, "POST", "/login"),
    ],
)
def test_an_invalid_proof_at_login_is_a_clear_error(manager: SessionManager, proof: Any):
    with pytest.raises(InvalidArgumentError, match="DPoP proof is invalid"):
        manager.create_new_session("alice", proof=proof)
    assert manager.get_all_session_handles_for_user("alice") == []


def test_unbound_sessions_ignore_proofs(manager: SessionManager, clock: FakeClock):
    tokens = manager.create_new_session("alice", client=VICTIM)
    stray = _refresh_proof(ProofKey(), tokens.refresh_token.value, clock.now)
    fresh = manager.refresh_session(tokens.refresh_token.value, client=VICTIM, proof=stray)
    assert manager.get_session(fresh.access_token.value).new_access_token is not None


# --- events ---------------------------------------------------------------------------------


def test_events_tell_what_happened_and_theft_names_both_clients(make_manager: Any, clock):
    seen: list[Any] = []
    hooks = SessionHooks(
        on_token_theft=seen.append,
        on_session_created=seen.append,
        on_session_refreshed=seen.append,
        on_session_revoked=seen.append,
    )
    manager = SessionManager(make_manager().config, clock=clock, hooks=hooks)
    try:
        tokens = manager.create_new_session("alice", client=VICTIM)
        manager.refresh_session(tokens.refresh_token.value, client=VICTIM)
        manager.refresh_session(tokens.refresh_token.value, client=VICTIM)
        clock.advance(4)
        with pytest.raises(TokenTheftDetectedError):
            manager.refresh_session(tokens.refresh_token.value, client=THIEF)
        other = manager.create_new_session("bob")
        manager.revoke_session(other.session.handle)
    finally:
        manager.close()
    kinds = [type(e).__name__ for e in seen]
    assert kinds == [
        "SessionCreated",
        "SessionRefreshed",
        "SessionRefreshed",
        "TokenTheft",
        "SessionRevoked",
        "SessionCreated",
        "SessionRevoked",
    ]
    created, first, repeat, theft, revoked_theft, _, revoked_admin = seen
    assert created.client == VICTIM and not created.proof_bound
    assert not first.repeated and repeat.repeated
    assert theft.reason is TheftReason.OTHER_CLIENT
    assert theft.first_client == VICTIM and theft.replay_client == THIEF
    assert theft.seconds_since_rotation == pytest.approx(4)
    assert theft.session_revoked and len(theft.token_fingerprint) == 16
    assert tokens.refresh_token.value[:16] not in repr(theft)  # no token in the event
    assert (revoked_theft.reason, revoked_theft.user_id) == ("theft", "alice")
    assert (revoked_admin.reason, revoked_admin.session_handle) == ("admin", other.session.handle)


def test_a_hook_that_raises_is_logged_and_the_request_goes_on(
    make_manager: Any, clock: FakeClock, caplog: Any
):
    def broken(event: Any) -> None:
        raise RuntimeError("the alerting service is down")

    manager = SessionManager(
        make_manager().config, clock=clock, hooks=SessionHooks(on_session_created=broken)
    )
    try:
        with caplog.at_level(logging.ERROR, logger="sessionward"):
            tokens = manager.create_new_session("alice")
        assert manager.get_session(tokens.access_token.value).session.user_id == "alice"
        assert "SessionCreated hook raised" in caplog.text
        assert "alerting service is down" in caplog.text
    finally:
        manager.close()


async def test_async_hooks_are_awaited_by_the_async_manager(make_config: Any, clock: FakeClock):
    seen: list[Any] = []

    async def on_theft(event: Any) -> None:
        seen.append(event)

    async with AsyncSessionManager(
        make_config(), clock=clock, hooks=SessionHooks(on_token_theft=on_theft)
    ) as manager:
        tokens = await manager.create_new_session("alice", client=VICTIM)
        await manager.refresh_session(tokens.refresh_token.value, client=VICTIM)
        with pytest.raises(TokenTheftDetectedError):
            await manager.refresh_session(tokens.refresh_token.value, client=THIEF)
    assert [e.reason for e in seen] == [TheftReason.OTHER_CLIENT]


def test_an_async_hook_on_the_sync_manager_is_a_config_error(make_config: Any):
    async def hook(event: Any) -> None: ...

    with pytest.raises(ConfigError, match="AsyncSessionManager"):
        SessionManager(make_config(), hooks=SessionHooks(on_session_created=hook))


def test_a_browser_proves_possession_over_its_id_refresh_token(manager: SessionManager, clock):
    """A browser cannot read its HttpOnly refresh-token cookie; the id-refresh token it can read
    is derived from that refresh token, so a proof over it is bound just as tightly."""
    key = ProofKey()
    tokens = _bound_session(manager, key, clock.now)
    proof = _refresh_proof(key, tokens.id_refresh_token.value, clock.now)
    fresh = manager.refresh_session(tokens.refresh_token.value, client=VICTIM, proof=proof)
    # ...but only the id-refresh token of the refresh token actually presented
    stale = _refresh_proof(key, tokens.id_refresh_token.value, clock.now)
    with pytest.raises(TokenTheftDetectedError, match="proof_invalid"):
        manager.refresh_session(fresh.refresh_token.value, client=VICTIM, proof=stale)
