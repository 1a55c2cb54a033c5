"""The revocation feed (docs/microservices.md#revocations): the issuer serves it signed, remote
verifiers take it and refuse revoked sessions as the issuer does, and every attack on the feed
leaves them with their last state, within the staleness bound, or refusing (fail closed).

The issuer is a real Flask app (the feed's flow, its adapter and its headers as in production);
a loopback server in front of it passes its answers on over real HTTP, or breaks them on demand
(``fault``), so that httpx, the size limit and the timeouts are exercised as they are in use.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from flask import Flask

from sessionward import (
    AsyncRemoteVerifier,
    ConfigError,
    RemoteVerifier,
    SessionManager,
    TokenTheftDetectedError,
    UnauthorisedError,
)
from sessionward._encoding import b64url
from sessionward._revocations import Revocation
from sessionward._tokens.feed import (
    CAEP_SESSION_REVOKED,
    security_event,
    sign_feed,
    user_id_hash,
    verify_feed,
)
from sessionward._tokens.keys import asymmetric_key
from sessionward.integrations.flask import Sessionward
from tests.conftest import ConfigFactory, unique_tables

FEED_PATH = "/.well-known/revocations"
INTERVAL_S = 0.2  # the verifiers' revocation_refresh_interval in these tests
HANG_S = 3.0


class Issuer:
    """A Flask issuer behind a loopback server that can break the feed (``fault``)."""

    def __init__(self, manager: SessionManager) -> None:
        self.manager = manager
        app = Flask("issuer")
        Sessionward(app, manager)
        self.client = app.test_client()
        self.client_lock = threading.Lock()
        self.fault: str | None = None
        self.recorded: list[tuple[str, bytes]] = []  # (path, body) of every feed answered
        self.feed_requests = 0
        self.refused = 0
        self.stopping = threading.Event()
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                is_feed = self.path.startswith(FEED_PATH)
                if is_feed:
                    issuer.feed_requests += 1
                fault = issuer.fault if is_feed else None
                if fault == "hang":
                    issuer.stopping.wait(HANG_S)
                    return
                headers = {}
                if self.headers.get("authorization"):
                    headers["Authorization"] = self.headers["authorization"]
                with issuer.client_lock:
                    answer = issuer.client.get(self.path, headers=headers)
                status, body = answer.status_code, answer.get_data()
                if is_feed and status == 200:
                    issuer.recorded.append((self.path, body))
                    body = issuer.broken(fault, body)
                if fault == "down":
                    status, body = 503, b"down"
                if fault == "refuse-cursors" and "since=" in self.path:
                    status, body = 400, b'{"message": "since must be a cursor"}'
                    issuer.refused += 1
                self.send_response(status)
                self.send_header("Content-Type", answer.content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.jwks_url = f"{base}/.well-known/jwks.json"
        self.feed_url = f"{base}{FEED_PATH}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def broken(self, fault: str | None, body: bytes) -> bytes:
        header, claims, signature = body.decode().split(".")
        if fault == "tamper":  # one entry fewer, the signature kept
            content = json.loads(base64.urlsafe_b64decode(claims + "=="))
            content["revocations"] = content["revocations"][1:]
            return f"{header}.{b64url(json.dumps(content).encode())}.{signature}".encode()
        if fault == "other-key":  # the same feed, signed by another deployment's key
            content = json.loads(base64.urlsafe_b64decode(claims + "=="))
            kid = json.loads(base64.urlsafe_b64decode(header + "=="))["kid"]
            other = asymmetric_key(kid, ed25519.Ed25519PrivateKey.generate(), 0, 2**62)
            return sign_feed(
                other,
                [],
                issuer=content["iss"],
                now_ms=content["iat_ms"],
                since=content["since"],
                next_cursor=content["next"],
                hashed=False,
            ).encode()
        if fault == "replay":  # the first full feed ever answered, again
            return self.recorded[0][1]
        if fault == "huge":
            return body + b"A" * (2 * 1024 * 1024)
        return body

    def stop(self) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def issuer(make_config: ConfigFactory) -> Iterator[Callable[..., Issuer]]:
    made: list[Issuer] = []

    def start(**settings: Any) -> Issuer:
        settings.setdefault("signing_algorithm", "EdDSA")
        settings.setdefault("revocation_feed_path", FEED_PATH)
        made.append(Issuer(SessionManager(make_config(**settings))))
        return made[-1]

    yield start
    for one in made:
        one.stop()
        one.manager.close()


def verifier(issuer: Issuer, **options: Any) -> RemoteVerifier:
    options.setdefault("revocation_refresh_interval", INTERVAL_S)
    return RemoteVerifier(issuer.jwks_url, **options)


def refused_within(check: Callable[[], object], seconds: float) -> float:
    """Seconds until ``check()`` raises UnauthorisedError; fails after ``seconds``."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        try:
            check()
        except UnauthorisedError:
            return time.monotonic() - start
        time.sleep(0.02)
    raise AssertionError(f"still accepted after {seconds} s")


def header_of(document: str) -> dict[str, Any]:
    return json.loads(base64.urlsafe_b64decode(document.split(".")[0] + "=="))  # type: ignore[no-any-return]


def claims_of(document: bytes | str) -> dict[str, Any]:
    text = document.decode() if isinstance(document, bytes) else document
    return json.loads(base64.urlsafe_b64decode(text.split(".")[1] + "=="))  # type: ignore[no-any-return]


def test_the_feed_needs_an_asymmetric_key_and_the_cached_check(make_config: ConfigFactory):
    with pytest.raises(ConfigError, match="asymmetric signing_algorithm"):
        make_config(revocation_feed_path=FEED_PATH)
    with pytest.raises(ConfigError, match="revocation_check='cached'"):
        make_config(
            revocation_feed_path=FEED_PATH, signing_algorithm="EdDSA", revocation_check="exact"
        )
    with pytest.raises(ConfigError, match="revocation_feed_token"):
        make_config(
            revocation_feed_path=FEED_PATH, signing_algorithm="EdDSA", revocation_feed_token="short"
        )


def test_the_feed_is_signed_incremental_cacheable_and_refuses_bad_input(issuer):
    one = issuer()
    jwks = one.client.get("/.well-known/jwks.json").get_json()
    assert jwks["revocation_feed"] == FEED_PATH
    first = one.client.get(FEED_PATH)
    assert first.status_code == 200
    assert first.content_type == "application/jwt"
    assert first.headers["Cache-Control"] == "public, max-age=1"
    assert "Set-Cookie" not in first.headers
    header = json.loads(base64.urlsafe_b64decode(first.get_data(as_text=True).split(".")[0] + "=="))
    assert header == {"alg": "EdDSA", "kid": jwks["keys"][0]["kid"], "typ": "revocations+jwt"}
    cursor = claims_of(first.get_data())["next"]
    tokens = one.manager.create_new_session("ann")
    one.manager.revoke_session(tokens.session.handle)
    one.manager.revoke_all_sessions_for_user("bob", tenant_id="acme")
    one.manager.revoke_all_sessions_for_tenant("globex")
    new = claims_of(one.client.get(FEED_PATH, query_string={"since": cursor}).get_data())
    assert new["since"] == cursor
    entries = new["revocations"]
    assert [set(e) for e in entries] == [
        {"sid", "at", "until"},
        {"sub", "tId", "nbf", "at", "until"},
        {"tId", "nbf", "at", "until"},
    ]
    assert entries[0]["sid"] == tokens.session.handle
    assert (entries[1]["sub"], entries[1]["tId"], entries[2]["tId"]) == ("bob", "acme", "globex")
    # Nothing new: an incremental read transfers no entry at all.
    again = claims_of(one.client.get(FEED_PATH, query_string={"since": new["next"]}).get_data())
    assert again["revocations"] == []
    for bad in ("nope", "0" * 70, "ffffffffffffffff-x-1"):
        answer = one.client.get(FEED_PATH, query_string={"since": bad})
        assert answer.status_code == 400 and "message" in answer.get_json()
    ahead = new["next"].split("-")
    ahead[1] = str(int(ahead[1]) + 5)
    answer = one.client.get(FEED_PATH, query_string={"since": "-".join(ahead)})
    assert answer.status_code == 400 and answer.is_json
    assert one.client.get(f"{FEED_PATH}?since=a&since=b").status_code == 400
    # Another process's cursor (or a restart's): what was revoked after its read time.
    other = f"{'0' * 16}-3-{entries[1]['at']}"
    fallback = claims_of(one.client.get(FEED_PATH, query_string={"since": other}).get_data())
    assert {e.get("tId") for e in fallback["revocations"]} >= {"acme", "globex"}


def test_a_bearer_secret_and_hashed_user_ids(issuer):
    one = issuer(revocation_feed_token="s3cret-feed-token-0123", revocation_feed_hash_user_ids=True)
    answer = one.client.get(FEED_PATH)
    assert answer.status_code == 401 and answer.is_json
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = one.client.get(FEED_PATH, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    one.manager.revoke_all_sessions_for_user("ann@example.com")
    right = one.client.get(FEED_PATH, headers={"Authorization": "Bearer s3cret-feed-token-0123"})
    assert right.status_code == 200
    assert right.headers["Cache-Control"] == "private, max-age=1"
    content = claims_of(right.get_data())
    assert content["hashed"] is True
    assert "ann@example.com" not in right.get_data(as_text=True)
    assert content["revocations"][0]["sub"] == user_id_hash("public", "ann@example.com")
    # A verifier with the secret refuses the user's tokens by the hash.
    tokens = one.manager.create_new_session("cat@example.com")
    check = verifier(one, revocation_feed_token="s3cret-feed-token-0123")
    assert check.verify(tokens.access_token.value).user_id == "cat@example.com"
    one.manager.revoke_all_sessions_for_user("cat@example.com")
    refused_within(lambda: check.verify(tokens.access_token.value), 2.0)
    without = verifier(one)
    with pytest.raises(UnauthorisedError, match="stale"):  # 401 from the feed: fail closed
        without.verify(tokens.access_token.value)


def test_each_entry_maps_to_a_caep_session_revoked_set() -> None:
    session = security_event(Revocation("h-1", None, None, 1_700_000_000_123, 0), "https://a.b")
    assert session["events"][CAEP_SESSION_REVOKED]["event_timestamp"] == 1_700_000_000
    assert session["sub_id"] == {"format": "complex", "session": {"format": "opaque", "id": "h-1"}}
    assert {"iss", "iat", "jti", "events"} <= set(session)
    user = security_event(Revocation(None, "ann", 5, 6000, 0, "acme"), "https://a.b")
    assert user["sub_id"]["user"] == {"format": "opaque", "id": "ann"}
    assert user["sub_id"]["tenant"] == {"format": "opaque", "id": "acme"}


@pytest.mark.parametrize("kind", ["logout", "other-devices", "user", "tenant", "theft"])
def test_remote_verifiers_refuse_what_the_issuer_revoked(issuer, kind: str):
    one = issuer(refresh_grace_window=0) if kind == "theft" else issuer()
    manager = one.manager
    tenant = "acme" if kind == "tenant" else "public"
    tokens = manager.create_new_session("ann", tenant_id=tenant)
    kept = manager.create_new_session("ann", tenant_id=tenant)
    bystander = manager.create_new_session("bob")
    check = verifier(one)
    assert check.verify(tokens.access_token.value).user_id == "ann"
    if kind == "logout":
        manager.revoke_session(tokens.session.handle)
    elif kind == "other-devices":
        manager.revoke_other_sessions("ann", kept.session.handle)
    elif kind == "user":
        manager.revoke_all_sessions_for_user("ann")
    elif kind == "tenant":
        manager.revoke_all_sessions_for_tenant("acme")
    else:
        refreshed = manager.refresh_session(tokens.refresh_token.value)
        manager.get_session(refreshed.access_token.value)  # the child confirmed
        with pytest.raises(TokenTheftDetectedError):  # the parent again: theft
            manager.refresh_session(tokens.refresh_token.value)
        tokens = refreshed
    with pytest.raises(UnauthorisedError):
        manager.get_session(tokens.access_token.value)
    refused_within(lambda: check.verify(tokens.access_token.value), 2.0)
    with pytest.raises(UnauthorisedError, match="the session was revoked"):
        check.verify(tokens.access_token.value)  # the issuer's very error
    assert check.verify(bystander.access_token.value).user_id == "bob"
    if kind == "other-devices":
        assert check.verify(kept.access_token.value).user_id == "ann"


def test_discovery_can_be_turned_off_and_an_issuer_without_a_feed_is_read_as_before(issuer):
    one = issuer()
    tokens = one.manager.create_new_session("ann")
    one.manager.revoke_session(tokens.session.handle)
    off = verifier(one, revocation_feed_url=False)
    assert off.verify(tokens.access_token.value).user_id == "ann"
    assert one.feed_requests == 0
    explicit = verifier(one, revocation_feed_url=one.feed_url)
    with pytest.raises(UnauthorisedError):
        explicit.verify(tokens.access_token.value)


@pytest.mark.parametrize("fault", ["tamper", "other-key", "replay", "huge", "down", "hang"])
def test_a_broken_feed_keeps_the_last_state(issuer, fault: str, caplog):
    one = issuer()
    revoked = one.manager.create_new_session("ann")
    fine = one.manager.create_new_session("bob")
    check = verifier(one, timeout=0.5, max_revocation_staleness=30)
    check.max_feed_bytes = 1024 * 1024
    one.manager.revoke_session(revoked.session.handle)
    with pytest.raises(UnauthorisedError):
        check.verify(revoked.access_token.value)
    later = one.manager.create_new_session("cat")
    assert check.verify(later.access_token.value).user_id == "cat"
    one.fault = fault
    one.manager.revoke_session(later.session.handle)  # must not be learnt from a broken feed
    caplog.set_level(logging.WARNING, "sessionward.remote")
    time.sleep(INTERVAL_S)
    longest = 0.0
    for _ in range(3):
        start = time.monotonic()
        assert check.verify(later.access_token.value).user_id == "cat"
        assert check.verify(fine.access_token.value).user_id == "bob"
        longest = max(longest, time.monotonic() - start)
        with pytest.raises(UnauthorisedError):  # the last state stays
            check.verify(revoked.access_token.value)
        time.sleep(INTERVAL_S)
    assert longest < 0.5 + 0.3  # no request waits longer than one fetch timeout
    assert "revocation feed not taken" in caplog.text
    assert "s3cret" not in caplog.text
    one.fault = None
    refused_within(lambda: check.verify(later.access_token.value), 2.0)


@pytest.mark.parametrize("mode", ["closed", "open"])
def test_a_feed_down_beyond_the_staleness_bound(issuer, mode: str, caplog):
    one = issuer()
    tokens = one.manager.create_new_session("ann")
    check = verifier(one, max_revocation_staleness=0.6, revocation_failure=mode, timeout=0.5)
    assert check.verify(tokens.access_token.value).user_id == "ann"
    one.fault = "down"
    time.sleep(0.3)
    assert check.verify(tokens.access_token.value).user_id == "ann"  # within the bound
    time.sleep(0.6)
    caplog.set_level(logging.ERROR, "sessionward.remote")
    if mode == "closed":
        with pytest.raises(UnauthorisedError, match="stale"):
            check.verify(tokens.access_token.value)
    else:
        assert check.verify(tokens.access_token.value).user_id == "ann"
    assert "revocations are stale" in caplog.text
    one.fault = None
    time.sleep(INTERVAL_S)
    assert check.verify(tokens.access_token.value).user_id == "ann"  # read again: in order


def test_a_hanging_feed_at_start_stalls_nobody_beyond_one_timeout(issuer):
    one = issuer()
    tokens = one.manager.create_new_session("ann")
    one.fault = "hang"
    check = verifier(one, timeout=0.5, revocation_failure="open")
    results: list[float] = []

    def call() -> None:
        start = time.monotonic()
        check.verify(tokens.access_token.value)
        results.append(time.monotonic() - start)

    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert len(results) == 4 and max(results) < 0.5 + 0.5
    assert one.feed_requests == 1  # the waiters took the one fetch's outcome


async def test_the_async_verifier_refuses_revoked_sessions_too(issuer):
    one = issuer()
    tokens = one.manager.create_new_session("ann")
    check = AsyncRemoteVerifier(one.jwks_url, revocation_refresh_interval=INTERVAL_S)
    try:
        assert (await check.verify(tokens.access_token.value)).user_id == "ann"
        await asyncio.to_thread(one.manager.revoke_all_sessions_for_user, "ann")
        start = time.monotonic()
        while time.monotonic() - start < 2:
            try:
                await asyncio.gather(*(check.verify(tokens.access_token.value) for _ in range(5)))
            except UnauthorisedError:
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError("still accepted")
    finally:
        await check.aclose()


def test_a_feed_checks_its_own_signature_and_header() -> None:
    key = asymmetric_key("k1", ed25519.Ed25519PrivateKey.generate(), 0, 2**62)
    from sessionward._tokens.keys import ring_of

    document = sign_feed(key, [], issuer="x", now_ms=1, since=None, next_cursor="c", hashed=False)
    assert verify_feed(document, ring_of([key])).next_cursor == "c"
    header, claims, signature = document.split(".")
    from sessionward._tokens.feed import FeedError

    forged_header = b64url(
        json.dumps({"alg": "none", "kid": "k1", "typ": "revocations+jwt"}).encode()
    )
    for forged in (
        f"{forged_header}.{claims}.{signature}",
        f"{header}.{claims}.",
        f"{header}.{claims[:-2]}.{signature}",
        "not.a.feed",
    ):
        with pytest.raises(FeedError):
            verify_feed(forged, ring_of([key]))


def test_flask_and_django_resource_services_answer_as_the_issuer(issuer):
    """A resource service in Flask (sync decorator) and in Django (sync and async views):
    a valid token passes, with its claims checked; a revoked one gets the issuing app's
    session-expired answer, with no cookie written."""
    from django.test import AsyncRequestFactory, RequestFactory

    from sessionward.integrations.django.remote import RemoteSessions as DjangoRemote
    from sessionward.integrations.flask import RemoteSessions as FlaskRemote
    from tests.support.web_apps import django_setup

    one = issuer()
    tokens = one.manager.create_new_session("ann", tenant_id="acme")
    bearer = {"Authorization": f"Bearer {tokens.access_token.value}"}
    flask_app = Flask("resource")
    remote = FlaskRemote(verifier(one))
    remote.install(flask_app)

    @flask_app.get("/t/<tenant>/reports")
    @remote.verify_session(tenant_param="tenant")
    def reports(tenant: str) -> dict[str, str]:
        from flask import g

        return {"user": g.session.user_id}

    django_setup()
    sync_remote = DjangoRemote(verifier(one))
    async_remote = DjangoRemote(
        AsyncRemoteVerifier(one.jwks_url, revocation_refresh_interval=INTERVAL_S)
    )

    @sync_remote.verify_session(tenant_param="tenant")
    def sync_view(request: Any, tenant: str) -> Any:
        from django.http import JsonResponse

        return JsonResponse({"user": request.sessionward.user_id})

    @async_remote.verify_session()
    async def async_view(request: Any) -> Any:
        from django.http import JsonResponse

        return JsonResponse({"user": request.sessionward.user_id})

    client = flask_app.test_client()
    assert client.get("/t/acme/reports", headers=bearer).get_json() == {"user": "ann"}
    other = client.get("/t/globex/reports", headers=bearer)
    assert other.status_code == 403 and other.get_json()["claim"] == "in_tenant"
    header = {"HTTP_AUTHORIZATION": bearer["Authorization"]}
    assert sync_view(RequestFactory().get("/", **header), tenant="acme").status_code == 200
    assert sync_view(RequestFactory().get("/", **header), tenant="globex").status_code == 403
    assert (
        asyncio.run(async_view(AsyncRequestFactory().get("/", headers=bearer))).status_code == 200
    )

    one.manager.revoke_session(tokens.session.handle)
    time.sleep(INTERVAL_S + 0.1)
    answer = client.get("/t/acme/reports", headers=bearer)
    assert (answer.status_code, answer.get_json()) == (440, {"message": "unauthorised"})
    assert "Set-Cookie" not in answer.headers
    for response in (
        sync_view(RequestFactory().get("/", **header), tenant="acme"),
        asyncio.run(async_view(AsyncRequestFactory().get("/", headers=bearer))),
    ):
        assert response.status_code == 440
        assert json.loads(response.content) == {"message": "unauthorised"}
        assert not response.cookies
    with pytest.raises(TypeError):
        sync_remote.verify_session()(async_view)


def test_the_bearer_secret_goes_only_where_it_was_meant_to() -> None:
    """A discovered feed on another origin than the JWKS gets no secret; a URL given does."""
    found = RemoteVerifier("https://app.example/jwks", revocation_feed_token="t0ken")
    assert found._feed_request_headers("https://app.example/feed") == {
        "authorization": "Bearer t0ken"
    }
    assert found._feed_request_headers("https://elsewhere.example/feed") == {}
    given = RemoteVerifier(
        "https://app.example/jwks",
        revocation_feed_url="https://feeds.example/f",
        revocation_feed_token="t0ken",
    )
    assert given._feed_request_headers("https://feeds.example/f") != {}
    for bad in (
        {"revocation_feed_url": "ftp://x"},
        {"max_revocation_staleness": 0.01},
        {"revocation_failure": "maybe"},
        {"revocation_refresh_interval": 0},
    ):
        with pytest.raises(ConfigError):
            RemoteVerifier("https://app.example/jwks", **bad)  # type: ignore[arg-type]


def test_a_feed_signed_by_a_key_rotated_in_since_refetches_the_keys(issuer):
    """An emergency rotation signs the next feed with a key the verifier's cached JWK Set lacks:
    the verifier refetches the keys (within its cooldown) and takes the feed."""
    one = issuer()
    tokens = one.manager.create_new_session("ann")
    check = verifier(one, refetch_cooldown=0)
    assert check.verify(tokens.access_token.value).user_id == "ann"
    before = set(check.key_ids)
    one.manager.rotate_signing_key()
    one.manager.revoke_session(tokens.session.handle)
    refused_within(lambda: check.verify(tokens.access_token.value), 3.0)
    assert set(check.key_ids) > before


def test_switching_from_hs256_the_published_key_signs_the_feed(make_config: ConfigFactory):
    """In the 11 minutes after a switch to EdDSA, access tokens are still HS256; the feed is
    signed with the new key, which the JWK Set publishes from the start."""
    tables = unique_tables()
    with SessionManager(make_config(tables=tables)) as old:
        old.create_new_session("ann")
    config = make_config(tables=tables, signing_algorithm="EdDSA", revocation_feed_path=FEED_PATH)
    with SessionManager(config) as new:
        app = Flask("switching")
        Sessionward(app, new)
        client = app.test_client()
        tokens = new.create_new_session("bob")
        assert header_of(tokens.access_token.value)["alg"] == "HS256"
        jwks = client.get("/.well-known/jwks.json").get_json()
        answer = client.get(FEED_PATH)
        assert answer.status_code == 200
        header = header_of(answer.get_data(as_text=True))
        assert header["alg"] == "EdDSA"
        kid = header["kid"]
        assert kid in {key["kid"] for key in jwks["keys"]}


def test_each_revocation_is_reported_once_and_signs_as_a_security_event_token(make_config):
    """The interface for RFC 8935 push delivery: ``on_revocation_recorded`` fires once per
    revocation (a revoke-user is one, whatever its sessions), and the manager signs it as a SET
    that any JWT library checks with the JWKS."""
    import jwt

    from sessionward import RevocationRecorded, SessionHooks

    made: list[RevocationRecorded] = []
    hooks = SessionHooks(on_revocation_recorded=made.append)
    config = make_config(signing_algorithm="ES256", refresh_grace_window=0)
    with SessionManager(config, hooks=hooks) as manager:
        one = manager.create_new_session("ann")
        manager.create_new_session("bob")
        manager.create_new_session("bob")
        manager.revoke_session(one.session.handle)
        manager.revoke_all_sessions_for_user("bob")
        manager.revoke_all_sessions_for_tenant("acme")
        stolen = manager.create_new_session("dan")
        child = manager.refresh_session(stolen.refresh_token.value)
        manager.get_session(child.access_token.value)
        with pytest.raises(TokenTheftDetectedError):
            manager.refresh_session(stolen.refresh_token.value)
        kinds = [(m.session_handle is not None, m.user_id, m.tenant_id) for m in made]
        assert kinds == [(True, None, "public"), (False, "bob", "public"),
                         (False, None, "acme"), (True, None, "public")]  # fmt: skip
        token = manager.security_event_token(made[1], "https://issuer.example")
        keys = jwt.PyJWKSet.from_dict(manager.jwks().jwk_set)
        header = jwt.get_unverified_header(token)
        assert header["typ"] == "secevent+jwt"
        claims = jwt.decode(token, keys[header["kid"]].key, algorithms=["ES256"])
        assert claims["iss"] == "https://issuer.example"
        assert claims["sub_id"]["user"] == {"format": "opaque", "id": "bob"}
        event = claims["events"][CAEP_SESSION_REVOKED]
        assert event["sessionward_sessions_created_until"] == made[1].sessions_created_until


def test_a_cursor_the_feed_refuses_is_dropped_for_a_full_read(issuer):
    one = issuer()
    tokens = one.manager.create_new_session("ann")
    check = verifier(one)
    assert check.verify(tokens.access_token.value).user_id == "ann"
    one.fault = "refuse-cursors"  # a proxy, or a feed of another version, answers 400
    one.manager.revoke_session(tokens.session.handle)
    refused_within(lambda: check.verify(tokens.access_token.value), 3.0)
    assert one.refused >= 1
