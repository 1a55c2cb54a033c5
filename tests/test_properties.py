"""Property-based tests of the protocol (hypothesis): arbitrary interleavings of refresh, verify,
replay, lost responses, clock jumps and revoke, by an honest client and by a thief."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sessionward import (
    ClientContext,
    Config,
    SessionManager,
    SessionTokens,
    TokenTheftDetectedError,
    TryRefreshTokenError,
    UnauthorisedError,
)
from tests.conftest import FakeClock

HONEST_STEPS = st.lists(
    st.one_of(
        st.just(("refresh",)),
        st.just(("use",)),
        st.just(("refresh_lost",)),
        st.just(("refresh_twice",)),
        st.tuples(st.just("wait"), st.integers(min_value=0, max_value=2 * 3600)),
    ),
    max_size=25,
)

# One honest client: its requests come from any address of its /24 (DHCP, several devices
# behind one router) with its one User-Agent. The thief is on another network.
HOME_HOSTS = st.integers(min_value=1, max_value=254)
UA = "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"


def home(host: int) -> ClientContext:
    return ClientContext(f"203.0.113.{host}", UA)


THIEF_CLIENT = ClientContext("198.51.100.7", UA)

BOUND_HONEST_STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("refresh"), HOME_HOSTS),
        st.tuples(st.just("use"), HOME_HOSTS),
        st.tuples(st.just("refresh_lost"), HOME_HOSTS),
        st.tuples(st.just("refresh_twice"), HOME_HOSTS, HOME_HOSTS),
        st.tuples(st.just("wait"), st.integers(min_value=0, max_value=2 * 3600)),
    ),
    max_size=25,
)

ACTORS = st.sampled_from(["victim", "thief"])
ATTACK_STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("refresh"), ACTORS),
        st.tuples(st.just("use"), ACTORS),
        st.just(("steal",)),
        st.just(("replay_original",)),
        st.tuples(st.just("wait"), st.integers(min_value=0, max_value=120)),
    ),
    max_size=25,
)

SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def new_manager(tmp_path, clock: FakeClock, **settings_: object) -> SessionManager:
    suffix = secrets.token_hex(4)
    config = Config(
        refresh_path="/r",
        database_url=f"sqlite:///{tmp_path}/properties.sqlite3",
        signing_key_table=f"sk_{suffix}",
        refresh_token_table=f"rt_{suffix}",
        **settings_,  # type: ignore[arg-type]
    )
    return SessionManager(config, clock=clock)


@dataclass
class Client:
    tokens: SessionTokens | None


@SETTINGS
@given(steps=HONEST_STEPS, grace=st.sampled_from([0, 30]))
def test_an_honest_client_is_never_logged_out_nor_called_a_thief(tmp_path, steps, grace):
    clock = FakeClock()
    manager = new_manager(tmp_path, clock, refresh_grace_window=grace)
    try:
        client = Client(manager.create_new_session("honest"))
        for step in steps:
            assert client.tokens is not None
            kind = step[0]
            if kind == "wait":
                clock.advance(step[1])
            elif kind == "refresh":
                client.tokens = manager.refresh_session(client.tokens.refresh_token.value)
            elif kind == "refresh_lost":  # the response never arrives; the client keeps its tokens
                manager.refresh_session(client.tokens.refresh_token.value)
            elif kind == "refresh_twice":  # two tabs refresh at once; the last response wins
                manager.refresh_session(client.tokens.refresh_token.value)
                client.tokens = manager.refresh_session(client.tokens.refresh_token.value)
            elif kind == "use":
                tokens = client.tokens
                try:
                    manager.get_session(tokens.access_token.value, tokens.anti_csrf_token)
                except TryRefreshTokenError:
                    # Only an expired access token may ask for a refresh; then refresh works.
                    assert tokens.access_token.expires <= clock.now * 1000
                    client.tokens = manager.refresh_session(tokens.refresh_token.value)
    finally:
        manager.close()


@SETTINGS
@given(steps=ATTACK_STEPS)
def test_once_theft_is_reported_the_thief_has_no_working_session(tmp_path, steps):
    clock = FakeClock()
    manager = new_manager(tmp_path, clock, revocation_check="exact")
    try:
        original = manager.create_new_session("victim")
        holders = {"victim": Client(original), "thief": Client(None)}
        theft_reported = False
        for step in steps:
            kind = step[0]
            if kind == "wait":
                clock.advance(step[1])
                continue
            if kind == "steal":
                holders["thief"].tokens = holders["victim"].tokens
                continue
            if kind == "replay_original":
                actor, tokens = "thief", original
            else:
                actor = step[1]
                tokens = holders[actor].tokens
            if tokens is None:
                continue
            try:
                if kind == "use":
                    manager.get_session(tokens.access_token.value, tokens.anti_csrf_token)
                else:
                    client = home(1) if actor == "victim" else THIEF_CLIENT
                    holders[actor].tokens = manager.refresh_session(
                        tokens.refresh_token.value, client=client
                    )
                succeeded = True
            except TokenTheftDetectedError:
                theft_reported = True
                succeeded = False
            except (UnauthorisedError, TryRefreshTokenError):
                succeeded = False
            if theft_reported and actor == "thief":
                assert not succeeded, f"thief succeeded at {kind} after theft was reported"
        if theft_reported:
            assert manager.get_all_session_handles_for_user("victim") == []
    finally:
        manager.close()


@SETTINGS
@given(steps=BOUND_HONEST_STEPS)
def test_an_honest_client_on_one_network_is_never_called_a_thief(tmp_path, steps):
    """With the default (client-bound) grace window: tabs racing, lost answers, retries, any
    address of the client's /24: never logged out, never a theft report."""
    clock = FakeClock()
    manager = new_manager(tmp_path, clock)
    try:
        client = Client(manager.create_new_session("honest", client=home(1)))
        for step in steps:
            assert client.tokens is not None
            kind = step[0]
            tokens = client.tokens
            if kind == "wait":
                clock.advance(step[1])
            elif kind == "refresh":
                client.tokens = manager.refresh_session(
                    tokens.refresh_token.value, client=home(step[1])
                )
            elif kind == "refresh_lost":
                manager.refresh_session(tokens.refresh_token.value, client=home(step[1]))
            elif kind == "refresh_twice":  # two tabs on two devices of the same home
                manager.refresh_session(tokens.refresh_token.value, client=home(step[1]))
                client.tokens = manager.refresh_session(
                    tokens.refresh_token.value, client=home(step[2])
                )
            elif kind == "use":
                try:
                    manager.get_session(tokens.access_token.value, tokens.anti_csrf_token)
                except TryRefreshTokenError:
                    assert tokens.access_token.expires <= clock.now * 1000
                    client.tokens = manager.refresh_session(
                        tokens.refresh_token.value, client=home(step[1])
                    )
    finally:
        manager.close()
