"""The demo app over HTTP: the framework examples' whole scenario suite, and the demo-only routes.

The demo promises to serve the same JSON API as the framework examples, so the examples' shared
scenario suite (``tests/web/test_scenarios.py``) runs here unchanged against the demo app, on
every backend, and so do the devices-page tests. The demo's own routes (page, settings, event
log, the theft demonstration) are tested below with the same cookie-keeping test browser.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any

import jwt
import pytest
from starlette.testclient import TestClient

from sessionward import AsyncSessionManager, Config
from sessionward._events import NO_HOOKS, SessionHooks
from sessionward.demo import DemoEvents, DemoOptions, create_demo_app
from tests.support.web_apps import EXAMPLE_SETTINGS, Browser, WebApp
from tests.web import test_claims as claims
from tests.web import test_devices_over_http as devices
from tests.web import test_scenarios as scenarios
from tests.web import test_tenants_web as tenants

# The examples' scenarios, devices page and claims, collected again here against the demo app;
# and of the tenants' tests, those of the example API (the others build apps of their own).
for _module in (scenarios, devices, claims):
    for _name in dir(_module):
        if _name.startswith("test_"):
            globals()[_name] = getattr(_module, _name)
for _name in dir(tenants):
    _test = getattr(tenants, _name)
    if _name.startswith("test_") and next(iter(inspect.signature(_test).parameters)) == "web":
        globals()[_name] = _test


# What DemoOptions.config() sets differently from the examples (see sessionward.demo).
DEMO_DIFFERENCES = {"refresh_grace_window": 0, "access_token_leeway": 0}


@pytest.fixture
def make_web_app(make_config: Callable[..., Config], clock: Any) -> Iterator[Callable[..., WebApp]]:
    """The demo app on a fresh config, behind Starlette's TestClient (real ASGI stack)."""
    clients: list[TestClient] = []

    def factory(*, hooks: SessionHooks = NO_HOOKS, **settings: Any) -> WebApp:
        config = make_config(**{**EXAMPLE_SETTINGS, **DEMO_DIFFERENCES, **settings})
        events = DemoEvents()  # as the demo runs: its hooks feed the page's event log
        hooks = events.hooks() if hooks is NO_HOOKS else hooks
        manager = AsyncSessionManager(config, clock=clock, hooks=hooks)
        client = TestClient(create_demo_app(manager, events), base_url="http://testserver")
        client.__enter__()
        clients.append(client)

        def handles(user_id: str) -> list[str]:
            return list(client.portal.call(manager.get_all_session_handles_for_user, user_id))

        return WebApp("demo", config, clock, client, handles)

    yield factory
    for client in clients:
        client.__exit__(None, None, None)  # the app's lifespan closes its manager


@pytest.fixture
def web(make_web_app: Callable[..., WebApp]) -> WebApp:
    return make_web_app()


FIREFOX = devices.FIREFOX


def logged_in(web: WebApp, user: str = "alice") -> Browser:
    browser = web.browser()
    browser.login(user)
    return browser


# --- the demo's own routes -------------------------------------------------------------------


def test_page_client_and_assets_are_served(web: WebApp) -> None:
    page = web.client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'src="/assets/demo.js"' in page.text
    client_js = web.client.get("/sessionward.js")
    assert client_js.headers["content-type"].startswith("text/javascript")
    assert "navigator.locks" in client_js.text and "export function createClient" in client_js.text
    assert web.client.get("/assets/demo.js").status_code == 200
    assert web.client.get("/assets/../__init__.py").status_code == 404


def test_settings_tell_the_page_the_protocol_values(web: WebApp) -> None:
    settings = web.client.get("/demo/settings").json()
    assert settings == {
        "refreshPath": "/refresh",
        "sessionExpiredStatus": 440,
        "accessTokenValidity": 60,
        "blacklisting": False,
        "revocationCheck": "cached",
        "antiCsrf": True,
        "attackerCopyPath": "/refresh/attacker-copy",
    }


def test_event_log_shows_each_user_their_own_sessions_events(web: WebApp) -> None:
    laptop = web.browser()
    laptop.request("POST", "/login", json={"userId": "alice"}, headers={"user-agent": FIREFOX})
    phone = logged_in(web)
    bob = logged_in(web, "bob")
    assert phone.refresh().status == 200
    assert phone.request("POST", "/devices/revoke-others").json() == {"revoked": 1}
    assert web.browser().request("GET", "/demo/events").status == 440  # needs a session

    events = phone.request("GET", "/demo/events").json()["events"]
    laptop_handle, phone_handle = web_handles_in_order(events)
    assert [(e["type"], e["sessionHandle"], e.get("reason")) for e in events] == [
        ("revoked", laptop_handle, "logout"),  # newest first
        ("refreshed", phone_handle, None),
        ("created", phone_handle, None),
        ("created", laptop_handle, None),
    ]
    assert events[-1]["device"] == "Firefox on Linux"
    assert all(e["at"] > 0 for e in events) and "token" not in str(events).lower()
    assert [e["type"] for e in bob.request("GET", "/demo/events").json()["events"]] == ["created"]


def web_handles_in_order(events: list[dict[str, Any]]) -> tuple[str, str]:
    """The handles of the two created events, oldest first (the log is newest first)."""
    created = [e["sessionHandle"] for e in reversed(events) if e["type"] == "created"]
    assert len(created) == 2
    return created[0], created[1]


def test_event_log_records_theft_with_its_reason(web: WebApp) -> None:
    victim = logged_in(web)
    attacker_id = victim.request("POST", "/refresh/attacker-copy").json()["attackerId"]
    assert victim.refresh().status == 200
    assert victim.request("GET", "/me").status == 200  # uses (confirms) the new pair
    caught = victim.request("POST", "/demo/attacker/refresh", json={"attackerId": attacker_id})
    assert caught.json()["outcome"] == "theft"
    fresh = logged_in(web)  # the theft signed alice out; she logs in again to read her log
    events = fresh.request("GET", "/demo/events").json()["events"]
    theft = [e for e in events if e["type"] == "theft"]
    assert len(theft) == 1 and theft[0]["reason"] == "old_token"
    assert theft[0]["sessionRevoked"] is True
    assert theft[0]["device"] == "curl" and theft[0]["clientIp"] == "198.51.100.66"
    revoked = [e for e in events if e["type"] == "revoked"]
    assert [e["reason"] for e in revoked] == ["theft"]


def test_device_revoke_refuses_malformed_bodies(web: WebApp) -> None:
    alice = logged_in(web)
    handle = alice.request("GET", "/me").json()["sessionHandle"]
    for content in (b"\xff{", b"{" * 10_000, b"[]", b"null"):
        assert alice.request("POST", "/devices/revoke", content=content).status == 400
    # The anti-CSRF check applies: without the header the client must refresh first.
    no_csrf = alice.request("POST", "/devices/revoke", json={"sessionHandle": handle}, csrf=False)
    assert no_csrf.status == 440
    assert web.handles("alice") == [handle]


def test_theft_demo_attacker_uses_the_copy_then_the_victims_refresh_is_theft(web: WebApp) -> None:
    victim = logged_in(web)
    copy = victim.request("POST", "/refresh/attacker-copy")
    assert copy.status == 200
    attacker_id = copy.json()["attackerId"]
    used = victim.request("POST", "/demo/attacker/refresh", json={"attackerId": attacker_id})
    assert used.json()["outcome"] == "refreshed" and used.json()["userId"] == "alice"
    assert copy.json()["fingerprint"] != used.json()["fingerprint"]

    refused = victim.refresh()  # the victim's token is now the rotated one
    assert refused.status == 440 and refused.json() == {"message": "token theft detected"}
    assert refused.cleared_all
    assert web.handles("alice") == []
    again = victim.request("POST", "/demo/attacker/refresh", json={"attackerId": attacker_id})
    assert again.json()["outcome"] == "unauthorised"  # both are out


def test_theft_demo_the_victim_refreshes_first_then_the_attacker_is_caught(web: WebApp) -> None:
    victim = logged_in(web)
    attacker_id = victim.request("POST", "/refresh/attacker-copy").json()["attackerId"]
    assert victim.refresh().status == 200
    assert victim.request("GET", "/me").status == 200  # uses (confirms) the new pair
    caught = victim.request("POST", "/demo/attacker/refresh", json={"attackerId": attacker_id})
    assert caught.json()["outcome"] == "theft"
    assert web.handles("alice") == []
    # The theft revoked the session: its access token is refused at once (cached check), and
    # so is its refresh.
    assert victim.request("GET", "/me").status == 440
    assert victim.refresh().status == 440


def test_theft_demo_bad_input(web: WebApp) -> None:
    nobody = web.browser()
    assert nobody.request("POST", "/refresh/attacker-copy").status == 400  # no cookie, no copy
    for body in ({"attackerId": "nope"}, {"attackerId": 1}, None, "x"):
        reply = nobody.request("POST", "/demo/attacker/refresh", json=body)
        assert reply.status in (400, 404), body
    # Only the refresh path's subpath receives the refresh cookie: the copy route lives there.
    assert web.client.get("/demo/attacker-copy").status_code in (404, 405)


def test_the_demo_signs_with_an_asymmetric_key_and_serves_its_jwks(make_web_app) -> None:
    options = DemoOptions(signing_algorithm="EdDSA", database_url="sqlite:///unused.sqlite3")
    web = make_web_app(signing_algorithm=options.config().signing_algorithm)
    browser = logged_in(web)
    keys = web.client.get("/.well-known/jwks.json")
    assert keys.status_code == 200 and "max-age=" in keys.headers["cache-control"]
    [jwk] = keys.json()["keys"]
    assert (jwk["kty"], jwk["crv"], jwk["alg"]) == ("OKP", "Ed25519", "EdDSA")
    token = browser.cookie("sAccessToken") or ""
    public = jwt.PyJWK(jwk).key
    assert jwt.decode(token, public, algorithms=["EdDSA"])["sub"] == "alice"
