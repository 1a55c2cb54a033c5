"""Claims mid-session and claim checks in every framework: a payload merged in a request comes
back as a new access token in that very response; other sessions see it at their next refresh;
a failed check answers 403 naming the claim, never the session-expired status."""

from __future__ import annotations

import jwt
import pytest

from tests.support.web_apps import WebApp

from .test_scenarios import COMBOS, logged_in

pytestmark = pytest.mark.parametrize(("framework", "backend"), COMBOS)


def payload_of(token: str | None) -> object:
    assert token is not None
    return jwt.decode(token, options={"verify_signature": False})["pld"]


def test_a_merged_role_is_in_the_same_response_and_reaches_other_sessions_on_refresh(
    web: WebApp,
) -> None:
    laptop = logged_in(web, "alice")
    phone = logged_in(web, "alice")
    refused = laptop.request("GET", "/admin")
    assert refused.status == 403
    assert refused.json() == {"message": "the role 'admin' is required", "claim": "has_role"}
    assert refused.cookies == {}  # the session is kept as it is

    before = laptop.cookie("sAccessToken")
    merged = laptop.request("POST", "/role", json={"role": "admin"})
    assert merged.status == 200
    assert merged.json()["jwtPayload"] == {"userId": "alice", "role": "admin"}
    # The same response carries the access token with the new payload; only the payload and
    # the time of signing differ, the expiry is the old token's.
    new_token = merged.cookies["sAccessToken"].value
    assert payload_of(new_token) == {"userId": "alice", "role": "admin"}
    old_claims = jwt.decode(before or "", options={"verify_signature": False})
    new_claims = jwt.decode(new_token, options={"verify_signature": False})
    assert {k: v for k, v in new_claims.items() if k != "pld"} == {
        k: v for k, v in old_claims.items() if k != "pld"
    }
    assert laptop.request("GET", "/admin").json() == {"admin": True, "userId": "alice"}

    # The other session keeps its token until its next refresh, which carries the change.
    assert phone.request("GET", "/admin").status == 403
    assert phone.refresh().status == 200
    assert payload_of(phone.cookie("sAccessToken")) == {"userId": "alice", "role": "admin"}
    assert phone.request("GET", "/admin").status == 200

    # And so does the laptop's own refresh token: the change persists in the session row.
    assert laptop.refresh().status == 200
    assert laptop.request("GET", "/me").json()["jwtPayload"]["role"] == "admin"
    # A None value removes the key.
    removed = laptop.request("POST", "/role", json={"role": None})
    assert removed.json()["jwtPayload"] == {"userId": "alice"}
    assert laptop.request("GET", "/admin").status == 403


def test_fresh_login_and_mark_fresh(web: WebApp) -> None:
    browser = logged_in(web, "alice")
    assert browser.request("POST", "/sensitive").json() == {"done": True}  # just logged in
    web.clock.advance(301)
    assert browser.request("POST", "/sensitive").status in (200, 440)  # token may be expired
    assert browser.refresh().status == 200
    stale = browser.request("POST", "/sensitive")
    assert stale.status == 403
    assert stale.json() == {
        "message": "a login within the last 300 s is required",
        "claim": "fresh_login",
    }
    reauth = browser.request("POST", "/reauth")
    assert reauth.status == 200 and "sAccessToken" in reauth.cookies
    assert browser.request("POST", "/sensitive").json() == {"done": True}
    # The re-authentication is stored: the next refreshed token carries it too.
    assert browser.refresh().status == 200
    assert browser.request("POST", "/sensitive").status == 200


def test_header_mode_gets_the_reissued_token_in_a_header(web: WebApp) -> None:
    client = web.header_client()
    assert client.request("POST", "/login", json={"userId": "carol"}).status == 200
    reply = client.request("POST", "/role", json={"role": "admin"})
    assert reply.status == 200
    assert payload_of(reply.headers["st-access-token"]) == {"userId": "carol", "role": "admin"}
    assert client.request("GET", "/admin").status == 200


def test_bad_role_input_is_a_400_and_keeps_the_session(web: WebApp) -> None:
    browser = logged_in(web, "alice")
    reply = browser.request("POST", "/role", json={"role": ["admin"]})
    assert reply.status == 400 and reply.cookies == {}
    assert browser.request("GET", "/me").status == 200
