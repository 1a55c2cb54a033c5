"""Remote verifiers: another service verifies access tokens with only the JWKS URL.

The JWK Set is served over real HTTP on loopback by a small server in front of a real manager,
so fetching, caching, refetching and every fault go through httpx as in production. The attack
cases are those the library's own verify refuses; here they must be refused without a database.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from sessionward import (
    AsyncRemoteVerifier,
    GeneralError,
    RemoteVerifier,
    SessionManager,
    TryRefreshTokenError,
)
from sessionward._remote.fetching import MAX_JWKS_BYTES
from sessionward._remote.keyset import cache_lifetime_s
from tests.test_signing_algorithms import forgeries

ASYMMETRIC = ["EdDSA", "ES256", "RS256"]


HANG_S = 3.0  # how long the "hang" fault keeps a request unanswered


class JwksServer:
    """Serves a manager's JWK Set (with its Cache-Control) on loopback; ``fault`` breaks it.

    ``fault = "hang"`` reads the request and answers nothing, as an issuer stuck on its database
    does, then closes the connection after :data:`HANG_S` (far beyond any fetch timeout of these
    tests) or at once on :meth:`stop`, so that the server always ends by itself. ``"trickle"``
    answers at once but sends the body a byte every 0.1 s (each network wait is short, the fetch
    is not), bounded the same way.
    """

    def __init__(self, manager: SessionManager) -> None:
        self.manager = manager
        self.fault: str | None = None
        self.requests = 0
        self.count_lock = threading.Lock()  # handlers run in threads of their own
        self.stopping = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with server.count_lock:
                    server.requests += 1
                if server.fault == "hang":
                    server.stopping.wait(HANG_S)
                    return  # close without an answer
                published = server.manager.jwks()
                body = json.dumps(published.jwk_set).encode()
                status, cache = 200, f"public, max-age={published.max_age}"
                if server.fault == "500":
                    status, body = 500, b"oops"
                elif server.fault == "garbage":
                    body = b"<html>not json</html>"
                elif server.fault == "huge":
                    body = b'{"keys": [' + b" " * (MAX_JWKS_BYTES + 10) + b"]}"
                elif server.fault == "no-cache-header":
                    cache = ""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                if cache:
                    self.send_header("Cache-Control", cache)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if server.fault == "trickle":
                    self.trickle(body)
                else:
                    self.wfile.write(body)

            def trickle(self, body: bytes) -> None:
                ends = time.monotonic() + HANG_S
                try:
                    for byte in body:
                        if server.stopping.wait(0.1) or time.monotonic() > ends:
                            return
                        self.wfile.write(bytes([byte]))
                except OSError:
                    pass  # the client gave up

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/.well-known/jwks.json"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def issuer(make_manager: Callable[..., SessionManager]) -> Callable[..., SessionManager]:
    """The issuing app's manager, on each backend (the verifier itself needs none)."""
    return make_manager


@pytest.fixture
def serve() -> Iterator[Callable[[SessionManager], JwksServer]]:
    servers: list[JwksServer] = []

    def start(manager: SessionManager) -> JwksServer:
        servers.append(JwksServer(manager))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.mark.parametrize("algorithm", ASYMMETRIC)
def test_tokens_verify_remotely_with_the_issuers_checks(issuer, serve, clock, algorithm):
    manager = issuer(signing_algorithm=algorithm)
    server = serve(manager)
    tokens = manager.create_new_session("alice", {"role": "admin"})
    with RemoteVerifier(server.url, clock=clock) as verifier:
        session = verifier.verify(tokens.access_token.value)
        assert (session.user_id, session.jwt_payload) == ("alice", {"role": "admin"})
        assert session.handle == tokens.session.handle
        # The anti-CSRF token is checked in constant time when given, and required on demand.
        assert verifier.verify(tokens.access_token.value, tokens.anti_csrf_token).user_id == "alice"
        with pytest.raises(TryRefreshTokenError, match="anti-CSRF"):
            verifier.verify(tokens.access_token.value, "wrong")
        with pytest.raises(TryRefreshTokenError, match="no anti-csrf"):
            verifier.verify(tokens.access_token.value, require_anti_csrf=True)
        # Expiry with the leeway (5 s by default), as the issuer does.
        clock.advance(3600 + 4)
        assert verifier.verify(tokens.access_token.value).user_id == "alice"
        clock.advance(2)
        with pytest.raises(TryRefreshTokenError, match="expired"):
            verifier.verify(tokens.access_token.value)
        assert server.requests == 2  # the first verify, then once the max-age ran out


@pytest.mark.parametrize("algorithm", ASYMMETRIC)
def test_forged_and_confused_tokens_are_refused_remotely(issuer, serve, clock, algorithm):
    manager = issuer(signing_algorithm=algorithm)
    server = serve(manager)
    tokens = manager.create_new_session("alice")
    token = tokens.access_token.value
    attacks = {
        **forgeries(token, manager.signing_keys()[-1], key_url=server.url),
        "not a string": 12345,
    }
    with RemoteVerifier(server.url, clock=clock, refetch_cooldown=0) as verifier:
        assert verifier.verify(token).user_id == "alice"
        fetched = server.requests
        for name, forged in attacks.items():
            with pytest.raises(TryRefreshTokenError):
                verifier.verify(forged)
                pytest.fail(f"accepted: {name}")
        # None of these is a new key of ours: no attack made the verifier fetch again.
        assert server.requests == fetched
        assert verifier.verify(token).user_id == "alice"


def test_unknown_kid_refetches_with_a_cooldown_and_rotation_never_misses(issuer, serve, clock):
    manager = issuer(
        signing_algorithm="EdDSA", signing_key_rotation_interval=3600, access_token_validity=3600
    )
    server = serve(manager)
    clock.now = 1_800_000_000 + 10 * 60
    first = manager.create_new_session("alice")
    with RemoteVerifier(server.url, clock=clock, refetch_cooldown=10) as verifier:
        assert verifier.verify(first.access_token.value).user_id == "alice"
        assert len(verifier.key_ids) == 1
        # The successor is published in the last tenth of the interval, and the JWKS max-age
        # runs out before it signs: a verifier that honours max-age already holds it.
        clock.advance(45 * 60)
        assert verifier.verify(first.access_token.value).user_id == "alice"
        assert len(verifier.key_ids) == 2
        known = verifier.key_ids
        clock.advance(6 * 60)
        second = manager.create_new_session("bob").access_token.value
        assert jwt.get_unverified_header(second)["kid"] == known[1]
        # No miss: the verifier held the key before it signed, so even with the issuer
        # failing now, the new token verifies.
        server.fault = "500"
        assert verifier.verify(second).user_id == "bob"
        server.fault = None

    # A verifier whose cache is still fresh but lacks a key refetches once, then cools down.
    other = issuer(signing_algorithm="EdDSA")
    other_server = serve(other)
    with RemoteVerifier(other_server.url, clock=clock, refetch_cooldown=10) as verifier:
        verifier.verify(other.create_new_session("carol").access_token.value)
        other.rotate_signing_key()  # an emergency rotation signs at once, unpublished
        newer = other.create_new_session("dave").access_token.value
        clock.advance(10)  # one cooldown after the first fetch
        fetches = other_server.requests
        assert verifier.verify(newer).user_id == "dave"
        assert other_server.requests == fetches + 1
        forged_kid = jwt.encode(
            {"sub": "x"}, ed25519.Ed25519PrivateKey.generate(), "EdDSA", {"kid": "1-EdDSA"}
        )
        with pytest.raises(TryRefreshTokenError, match="unknown key"):
            verifier.verify(forged_kid)
        assert other_server.requests == fetches + 1  # within the cooldown: no fetch
        clock.advance(10)
        with pytest.raises(TryRefreshTokenError):
            verifier.verify(forged_kid)
        assert other_server.requests == fetches + 2  # cooled down: one more fetch, still refused


def test_hs256_issuers_publish_nothing_and_hs256_tokens_never_refetch(issuer, serve, clock):
    manager = issuer()  # HS256, the default
    server = serve(manager)
    tokens = manager.create_new_session("alice")
    with RemoteVerifier(server.url, clock=clock, refetch_cooldown=0) as verifier:
        for _ in range(3):
            with pytest.raises(TryRefreshTokenError, match="unknown key"):
                verifier.verify(tokens.access_token.value)
        assert verifier.key_ids == []
        assert server.requests == 1  # the first fetch only: no JWK Set verifies HS256


def test_fetch_faults_are_general_errors_and_stale_keys_keep_working(issuer, serve, clock):
    manager = issuer(signing_algorithm="ES256")
    server = serve(manager)
    token = manager.create_new_session("alice").access_token.value
    for fault, message in [("500", "HTTP 500"), ("garbage", "not JSON"), ("huge", "larger")]:
        server.fault = fault
        with (
            RemoteVerifier(server.url, clock=clock) as verifier,
            pytest.raises(GeneralError, match=message),
        ):
            verifier.verify(token)
    server.fault = None
    with RemoteVerifier(server.url, clock=clock) as verifier:
        assert verifier.verify(token).user_id == "alice"
        server.stop()
        clock.advance(301)  # the cache is stale and the issuer is down: the old keys still verify
        assert verifier.verify(token).user_id == "alice"
    with (
        RemoteVerifier(server.url, clock=clock, timeout=1) as verifier,
        pytest.raises(GeneralError, match="could not be fetched"),
    ):
        verifier.verify(token)


def test_cache_lifetime_follows_cache_control() -> None:
    assert cache_lifetime_s("public, max-age=120") == 120
    assert cache_lifetime_s('max-age="60"') == 60
    assert cache_lifetime_s(None) == 300
    assert cache_lifetime_s("public") == 300
    assert cache_lifetime_s("no-store") == 1
    assert cache_lifetime_s("max-age=0") == 1
    assert cache_lifetime_s("max-age=99999999") == 3600


def test_a_client_of_the_application_is_used_and_left_open(issuer, serve, clock):
    manager = issuer(signing_algorithm="EdDSA")
    server = serve(manager)
    token = manager.create_new_session("alice").access_token.value
    with httpx.Client() as client:
        with RemoteVerifier(server.url, client=client, clock=clock) as verifier:
            assert verifier.verify(token).user_id == "alice"
        assert not client.is_closed  # the application's client is the application's to close
        assert client.get(server.url).status_code == 200


def test_bad_settings_are_refused() -> None:
    with pytest.raises(GeneralError, match="jwks_url"):
        RemoteVerifier("file:///etc/passwd")
    with pytest.raises(GeneralError, match="leeway"):
        RemoteVerifier("http://127.0.0.1/jwks", leeway=-1)


async def test_async_verifier_shares_one_fetch_between_concurrent_callers(issuer, serve, clock):
    manager = issuer(signing_algorithm="EdDSA")
    server = serve(manager)
    tokens = [manager.create_new_session(f"user{i}").access_token.value for i in range(20)]
    async with AsyncRemoteVerifier(server.url, clock=clock) as verifier:
        sessions = await asyncio.gather(*(verifier.verify(t) for t in tokens))
        assert [s.user_id for s in sessions] == [f"user{i}" for i in range(20)]
        assert server.requests == 1
        with pytest.raises(TryRefreshTokenError):
            await verifier.verify(tokens[0][:-3] + "AAA")


def test_any_jwt_library_verifies_our_tokens_from_the_served_jwks(issuer, serve, clock):
    """PyJWT's PyJWKClient, knowing only the URL, verifies what the issuer signs."""
    for algorithm in ASYMMETRIC:
        manager = issuer(signing_algorithm=algorithm)
        server = serve(manager)
        token = manager.create_new_session("alice", {"role": "admin"}).access_token.value
        client = jwt.PyJWKClient(server.url)
        key = client.get_signing_key_from_jwt(token)
        claims = jwt.decode(token, key.key, algorithms=[algorithm])
        assert claims["sub"] == "alice" and claims["pld"] == {"role": "admin"}
        assert httpx.get(server.url).headers["cache-control"].startswith("public, max-age=")


FETCH_TIMEOUT = 0.5  # seconds; the verifiers' `timeout` in the hanging-issuer tests
WAITERS = 10
Answer = tuple[float, "str | Exception"]  # seconds waited, and the user id or the error


class Requests:
    """Requests to one verifier, the sync one from threads, the async one as tasks on an event
    loop of its own, so that the hanging-issuer scenarios are written once for both."""

    def __init__(self, kind: str, url: str, **options: Any) -> None:
        self.kind = kind
        self.loop = asyncio.new_event_loop() if kind == "async" else None
        self.verifier: RemoteVerifier | AsyncRemoteVerifier = (
            AsyncRemoteVerifier(url, **options)
            if kind == "async"
            else RemoteVerifier(url, **options)
        )

    def one(self, token: str) -> Answer:
        return self.together(token, 1)[0]

    def fetches(self, server: JwksServer) -> int:
        """The key-set fetches this verifier made, failed ones included, counted at the client:
        on a loaded machine a fetch can time out while connecting, before the server counts a
        request. Every request the server counted was one of them."""
        made: int = self.verifier._cache.attempts
        assert server.requests <= made
        return made

    def together(self, token: str, count: int = WAITERS) -> list[Answer]:
        """``count`` requests at the same moment, each answered with how long it waited."""
        if isinstance(self.verifier, AsyncRemoteVerifier):
            verifier = self.verifier
            assert self.loop is not None

            async def all_of_them() -> list[Answer]:
                return await asyncio.gather(
                    *(timed(lambda: verifier.verify(token)) for _ in range(count))
                )

            return self.loop.run_until_complete(all_of_them())
        sync = self.verifier
        answers: list[Answer] = []
        start = threading.Barrier(count)

        def request() -> None:
            start.wait()
            began = time.monotonic()
            try:
                outcome: str | Exception = sync.verify(token).user_id
            except Exception as exc:
                outcome = exc
            answers.append((time.monotonic() - began, outcome))

        threads = [threading.Thread(target=request) for _ in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert len(answers) == count, "a request never returned"
        return answers

    def close(self) -> None:
        if isinstance(self.verifier, AsyncRemoteVerifier):
            assert self.loop is not None
            self.loop.run_until_complete(self.verifier.aclose())
            self.loop.close()
        else:
            self.verifier.close()


async def timed(call: Callable[[], Awaitable[Any]]) -> Answer:
    began = time.monotonic()
    try:
        outcome: str | Exception = (await call()).user_id
    except Exception as exc:
        outcome = exc
    return time.monotonic() - began, outcome


@pytest.fixture(params=["sync", "async"])
def requests_to(request: pytest.FixtureRequest) -> Iterator[Callable[..., Requests]]:
    """Open a :class:`Requests` to the sync or the async verifier; all are closed afterwards."""
    made: list[Requests] = []

    def start(url: str, **options: Any) -> Requests:
        made.append(Requests(str(request.param), url, **options))
        return made[-1]

    yield start
    for requests in made:
        requests.close()


def assert_all_answered_at_once(answers: list[Answer], expected: str | type[Exception]) -> None:
    """Every request got ``expected`` (a user id, or an error of that type), none of them
    later than a few fetch timeouts: a bound, not a measurement. Requests queued one timeout
    each would make the last of the ten wait ten; four leaves room for a thread the 2 cores
    schedule late (one waited 1.6 s in CI, the other nine 0.5 s)."""
    for waited, outcome in answers:
        if isinstance(expected, str):
            assert outcome == expected
        else:
            assert isinstance(outcome, expected), outcome
        assert waited < 4 * FETCH_TIMEOUT, f"waited {waited:.2f} s: {sorted(a[0] for a in answers)}"


@pytest.mark.parametrize("fault", ["hang", "trickle"])
def test_a_hanging_issuer_costs_one_fetch_and_one_timeout_at_most(
    issuer, serve, clock, requests_to, fault
):
    """Ten requests with a stale cache and an issuer that accepts and never answers (or answers
    a byte at a time): one fetch, every request answered with the cached keys within one
    timeout; the next fetch only after the cooldown (issue 19, finding 3: the requests used to
    queue, one timeout each)."""
    manager = issuer(signing_algorithm="EdDSA")
    server = serve(manager)
    token = manager.create_new_session("alice").access_token.value
    verifier = requests_to(server.url, clock=clock, timeout=FETCH_TIMEOUT, refetch_cooldown=10)
    assert verifier.one(token)[1] == "alice"
    assert verifier.fetches(server) == 1

    server.fault = fault
    clock.advance(manager.jwks().max_age + 1)  # the cached keys are stale now
    assert_all_answered_at_once(verifier.together(token), "alice")
    assert verifier.fetches(server) == 2  # one fetch for all ten
    clock.advance(5)  # within the cooldown: the cached keys, no fetch, no wait
    assert_all_answered_at_once(verifier.together(token), "alice")
    assert verifier.fetches(server) == 2

    clock.advance(5)  # the cooldown is over: one new fetch for all, still the cached keys
    assert_all_answered_at_once(verifier.together(token), "alice")
    assert verifier.fetches(server) == 3
    server.fault = None  # the issuer is back: the next fetch (after the cooldown) succeeds
    clock.advance(10)
    assert_all_answered_at_once(verifier.together(token), "alice")
    assert verifier.fetches(server) == 4
    assert_all_answered_at_once(verifier.together(token), "alice")
    assert verifier.fetches(server) == 4  # fresh again for the set's max-age


def test_with_no_keys_yet_a_hanging_issuer_fails_every_waiter_with_its_one_error(
    issuer, serve, clock, requests_to
):
    """The first fetch hangs and there are no cached keys: every waiter gets that fetch's error
    (a GeneralError) at once, instead of each trying again; so do requests until the cooldown."""
    manager = issuer(signing_algorithm="ES256")
    server = serve(manager)
    token = manager.create_new_session("alice").access_token.value
    verifier = requests_to(server.url, clock=clock, timeout=FETCH_TIMEOUT, refetch_cooldown=10)
    server.fault = "hang"
    answers = verifier.together(token)
    assert_all_answered_at_once(answers, GeneralError)
    assert all("could not be fetched" in str(outcome) for _, outcome in answers)
    assert verifier.fetches(server) == 1
    assert_all_answered_at_once(verifier.together(token), GeneralError)
    assert verifier.fetches(server) == 1  # within the cooldown: the same error, no fetch

    server.fault = None
    clock.advance(10)
    assert_all_answered_at_once(verifier.together(token), "alice")
    assert verifier.fetches(server) == 2
