"""The demo app over HTTP: the framework examples' whole scenario suite, and the demo-only routes.

The demo promises to serve the same JSON API as the framework examples, so the examples' shared
scenario suite (``tests/web/test_scenarios.py``) runs here unchanged against the demo app, on
every backend. The demo's own routes (page, settings, session list and revoke, the theft
demonstration) are tested below with the same cookie-keeping test browser.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from sessionward import AsyncSessionManager, Config
from sessionward.demo import create_demo_app
from sessionward.events import NO_HOOKS, SessionHooks
from tests.web import test_scenarios as scenarios
from tests.web.conftest import EXAMPLE_SETTINGS, Browser, WebApp

# The examples' scenarios, collected again in this module against the demo app.
for _name in dir(scenarios):
    if _name.startswith("test_"):
        globals()[_name] = getattr(scenarios, _name)


# What DemoOptions.config() sets differently from the examples (see sessionward.demo).
DEMO_DIFFERENCES = {"refresh_grace_window": 0, "access_token_leeway": 0}


@pytest.fixture
def make_web_app(make_config: Callable[..., Config], clock: Any) -> Iterator[Callable[..., WebApp]]:
    """The demo app on a fresh config, behind Starlette's TestClient (real ASGI stack)."""
    clients: list[TestClient] = []

    def factory(*, hooks: SessionHooks = NO_HOOKS, **settings: Any) -> WebApp:
        config = make_config(**{**EXAMPLE_SETTINGS, **DEMO_DIFFERENCES, **settings})
        manager = AsyncSessionManager(config, clock=clock, hooks=hooks)
        client = TestClient(create_demo_app(manager), base_url="http://testserver")
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
        "antiCsrf": True,
        "attackerCopyPath": "/refresh/attacker-copy",
    }


def test_sessions_with_times_and_the_current_one_marked(web: WebApp) -> None:
    other = logged_in(web)
    me = logged_in(web)
    assert web.browser().request("GET", "/demo/sessions").status == 440  # needs a session
    listed = me.request("GET", "/demo/sessions").json()["sessions"]
    mine = me.request("GET", "/me").json()["sessionHandle"]
    assert len(listed) == 2
    assert {s["handle"]: s["current"] for s in listed}[mine] is True
    assert sorted(s["current"] for s in listed) == [False, True]
    now_ms = web.clock() * 1000
    assert all(s["createdAt"] <= now_ms < s["expiresAt"] for s in listed)
    assert other.request("GET", "/me").status == 200


def test_revoke_another_session_keeps_mine(web: WebApp) -> None:
    other = logged_in(web)
    other_handle = other.request("GET", "/me").json()["sessionHandle"]
    me = logged_in(web)
    reply = me.request("POST", "/demo/revoke", json={"sessionHandle": other_handle})
    assert (reply.status, reply.json()) == (200, {"revoked": True, "current": False})
    assert not reply.cookies  # my cookies are untouched
    assert other.refresh().status == 440
    assert me.request("GET", "/me").status == 200


def test_revoke_my_own_session_clears_my_cookies(web: WebApp) -> None:
    me = logged_in(web)
    handle = me.request("GET", "/me").json()["sessionHandle"]
    reply = me.request("POST", "/demo/revoke", json={"sessionHandle": handle})
    assert reply.json() == {"revoked": True, "current": True}
    assert reply.cleared_all
    assert web.handles("alice") == []


def test_revoke_refuses_other_users_sessions_and_bad_input(web: WebApp) -> None:
    bob = logged_in(web, "bob")
    bob_handle = bob.request("GET", "/me").json()["sessionHandle"]
    alice = logged_in(web, "alice")
    assert alice.request("POST", "/demo/revoke", json={"sessionHandle": bob_handle}).status == 404
    assert bob.request("GET", "/me").status == 200
    for body in (None, [], {"sessionHandle": 7}, {"sessionHandle": ""}):
        assert alice.request("POST", "/demo/revoke", json=body).status == 400
    assert alice.request("POST", "/demo/revoke", content=b"\xff{").status == 400
    assert alice.request("POST", "/demo/revoke", content=b"{" * 10_000).status == 400
    # The anti-CSRF check applies: without the header the client must refresh first.
    no_csrf = alice.request("POST", "/demo/revoke", json={"sessionHandle": bob_handle}, csrf=False)
    assert no_csrf.status == 440


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
