"""The shared scenario suite of issue 3, run against every example app
(docs/protocol.md#on-the-wire).

Every framework runs on every backend of ``SESSIONWARD_TEST_BACKENDS`` (FastAPI through the async
drivers, Flask and Django through the sync ones); the whole matrix takes seconds.
"""

from __future__ import annotations

import os
import re
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from sessionward._events import SessionHooks
from sessionward._protocol import TheftReason
from sessionward._storage.engines import resolve_url
from tests.support.web_apps import FRAMEWORKS, TOKEN_COOKIES, Browser, WebApp

BACKENDS = [
    b.strip()
    for b in os.environ.get("SESSIONWARD_TEST_BACKENDS", "sqlite,mysql,postgres").split(",")
    if b.strip()
]
COMBOS = [(f, "sqlite") for f in FRAMEWORKS if "sqlite" in BACKENDS] + [
    (f, b) for b in ("mysql", "postgres") if b in BACKENDS for f in FRAMEWORKS
]
pytestmark = pytest.mark.parametrize(("framework", "backend"), COMBOS)

EXPIRED = 440


def logged_in(web: WebApp, user: str = "alice") -> Browser:
    browser = web.browser()
    browser.login(user)
    return browser


def test_login_sets_cookies_and_headers_with_the_right_attributes(web: WebApp) -> None:
    browser = web.browser()
    reply = browser.login("alice")
    assert reply.json()["userId"] == "alice"
    access, refresh, idr = (reply.cookies[n] for n in TOKEN_COOKIES)
    for cookie in (access, refresh, idr):
        assert cookie.value
        assert cookie.attrs["samesite"].lower() == "lax"
        assert "secure" not in cookie.attrs  # the examples run on plain http
        assert "domain" not in cookie.attrs
        assert cookie.expires_s > web.clock()
    assert "httponly" in access.attrs and "httponly" in refresh.attrs
    assert "httponly" not in idr.attrs  # the frontend reads it
    assert access.attrs["path"] == "/" and idr.attrs["path"] == "/"
    assert refresh.attrs["path"] == "/refresh"
    assert abs(access.expires_s - (web.clock() + 60)) <= 1
    assert refresh.expires_s > web.clock() + 99 * 86400
    value, _, expiry = reply.headers["id-refresh-token"].partition(";")
    assert value == idr.value and int(expiry) == pytest.approx(idr.expires_s * 1000, abs=1000)
    assert len(reply.headers["anti-csrf"]) >= 32
    exposed = {h.strip() for h in reply.headers["access-control-expose-headers"].split(",")}
    assert {"anti-csrf", "id-refresh-token"} <= exposed
    assert reply.headers["cache-control"] == "no-store"


def test_protected_get(web: WebApp) -> None:
    browser = logged_in(web)
    reply = browser.request("GET", "/me", csrf=False)
    assert reply.status == 200
    body = reply.json()
    assert body["userId"] == "alice"
    assert body["jwtPayload"] == {"userId": "alice", "role": "tester"}
    assert web.handles("alice") == [body["sessionHandle"]]
    assert reply.cookies == {}  # a plain verification writes nothing


def test_login_rejects_bad_input(web: WebApp) -> None:
    browser = web.browser()
    for body in ({}, {"userId": ""}, {"userId": 7}, ["x"], {"userId": "x" * 200}):
        assert browser.request("POST", "/login", json=body).status == 400
    json_type = {"content-type": "application/json"}
    assert browser.request("POST", "/login", content=b"{not json", headers=json_type).status == 400
    assert browser.jar == {}


def test_post_needs_the_right_anti_csrf_header(web: WebApp) -> None:
    browser = logged_in(web)
    missing = browser.request("POST", "/like", csrf=False)
    assert missing.status == EXPIRED and missing.cookies == {}
    wrong = browser.request("POST", "/like", headers={"anti-csrf": "x" * 43})
    assert wrong.status == EXPIRED and wrong.cookies == {}
    right = browser.request("POST", "/like")
    assert right.status == 200 and right.json()["liked"] is True


def test_expired_access_token_gets_session_expired_and_keeps_cookies(web: WebApp) -> None:
    browser = logged_in(web)
    web.clock.advance(66)  # validity 60 s + leeway 5 s
    reply = browser.request("GET", "/me")
    assert reply.status == EXPIRED
    assert reply.cookies == {} and "id-refresh-token" not in reply.headers
    # no sAccessToken at all (the browser dropped it): also "try refresh"
    reply = browser.request(
        "GET", "/me", cookies=f"sIdRefreshToken={browser.cookie('sIdRefreshToken')}"
    )
    assert reply.status == EXPIRED and reply.cookies == {}


def test_refresh_rotates_everything(web: WebApp) -> None:
    browser = logged_in(web)
    handle = browser.request("GET", "/me").json()["sessionHandle"]
    before = {n: browser.cookie(n) for n in TOKEN_COOKIES}
    csrf_before, idr_header_before = browser.anti_csrf, browser.id_refresh_header
    web.clock.advance(66)  # validity 60 s + leeway 5 s
    reply = browser.refresh()
    assert reply.status == 200
    for name in TOKEN_COOKIES:
        assert reply.cookies[name].value not in ("", before[name])
    assert reply.cookies["sRefreshToken"].attrs["path"] == "/refresh"
    assert browser.anti_csrf != csrf_before and browser.id_refresh_header != idr_header_before
    assert reply.headers["cache-control"] == "no-store"
    # the first use of the new access token confirms the rotation and swaps the token once
    first = browser.request("POST", "/like")
    assert first.status == 200
    assert set(first.cookies) == {"sAccessToken"} and first.cookies["sAccessToken"].value
    assert first.headers["cache-control"] == "no-store"
    second = browser.request("GET", "/me")
    assert second.status == 200 and second.cookies == {}
    assert second.json()["sessionHandle"] == handle
    # the old anti-CSRF token is dead with its access token
    assert browser.request("POST", "/like", headers={"anti-csrf": csrf_before or ""}).status == 440


def test_replayed_refresh_token_is_theft_and_ends_the_session(web: WebApp) -> None:
    victim = logged_in(web)
    stolen = victim.cookie("sRefreshToken")
    stolen_idr = victim.cookie("sIdRefreshToken")
    assert victim.refresh().status == 200
    assert victim.request("GET", "/me").status == 200  # confirms the new refresh token
    web.clock.advance(31)  # a replay within the grace window would get the same child
    thief = web.browser()
    reply = thief.request(
        "POST", "/refresh", cookies=f"sRefreshToken={stolen}; sIdRefreshToken={stolen_idr}"
    )
    assert reply.status == EXPIRED
    assert reply.json() == {"message": "token theft detected"}
    assert reply.cleared_all
    assert web.handles("alice") == []
    # the legitimate client is logged out too: its next refresh fails and clears its cookies
    again = victim.refresh()
    assert again.status == EXPIRED and again.cleared_all
    assert victim.jar == {}


def test_theft_hook_receives_the_event_and_the_session_can_be_kept(make_web_app: Any) -> None:
    seen: list[Any] = []
    # records, does not revoke (nor does the library, with revoke_session_on_theft off)
    web = make_web_app(
        hooks=SessionHooks(on_token_theft=seen.append), revoke_session_on_theft=False
    )
    victim = logged_in(web)
    stolen = victim.cookie("sRefreshToken")
    victim.refresh()
    victim.refresh()  # refreshing twice in a row promotes the first child
    web.clock.advance(31)  # past the grace window
    reply = web.browser().request(
        "POST", "/refresh", cookies=f"sRefreshToken={stolen}; sIdRefreshToken=x"
    )
    assert reply.status == EXPIRED and reply.cleared_all
    assert [e.user_id for e in seen] == ["alice"]
    assert not seen[0].session_revoked
    if web.config.refresh_grace_window:  # a derived child: the replayed generation is known
        assert seen[0].reason is TheftReason.REPLAYED_PARENT
        assert seen[0].seconds_since_rotation >= 31
    else:  # the original's random children: only "an old token"
        assert seen[0].reason is TheftReason.OLD_TOKEN
    assert web.handles("alice") == [seen[0].session_handle]  # not revoked by the library


def test_logout_clears_cookies_and_revokes(web: WebApp) -> None:
    browser = logged_in(web)
    refresh_token = browser.cookie("sRefreshToken")
    assert browser.request("POST", "/logout", csrf=False).status == EXPIRED  # anti-CSRF checked
    reply = browser.request("POST", "/logout")
    assert reply.status == 200 and reply.cleared_all
    assert web.handles("alice") == []
    replay = web.browser().request(
        "POST", "/refresh", cookies=f"sRefreshToken={refresh_token}; sIdRefreshToken=x"
    )
    assert replay.status == EXPIRED and replay.cleared_all


@pytest.mark.parametrize("check", ["cached", "exact", "none"])
def test_the_revocation_check_decides_whether_a_revoked_access_token_still_works(
    make_web_app: Any, check: str
) -> None:
    web = make_web_app(revocation_check=check)
    browser = logged_in(web)
    copied = browser.cookie_header("/")
    assert browser.request("POST", "/logout").status == 200
    reply = browser.request("GET", "/me", cookies=copied)
    if check != "none":  # cached: this process knows at once; others within the interval
        assert reply.status == EXPIRED and reply.cleared_all
    else:  # verified from the token alone, as the original protocol does, until it expires
        assert reply.status == 200
        web.clock.advance(66)  # validity 60 s + leeway 5 s
        assert browser.request("GET", "/me", cookies=copied).status == EXPIRED


def test_missing_id_refresh_cookie_is_unauthorised_and_clears(web: WebApp) -> None:
    browser = logged_in(web)
    access = browser.cookie("sAccessToken")
    reply = browser.request("GET", "/me", cookies=f"sAccessToken={access}")
    assert reply.status == EXPIRED and reply.cleared_all
    assert reply.json() == {"message": "unauthorised"}
    handles = web.handles("alice")
    refresh = browser.request(
        "POST", "/refresh", cookies=f"sRefreshToken={browser.cookie('sRefreshToken')}"
    )
    # A refresh without sIdRefreshToken is "no session", as in the original: unauthorised, not
    # theft, so the session is not revoked.
    assert refresh.status == EXPIRED and refresh.cleared_all
    assert refresh.json() == {"message": "unauthorised"}
    assert web.handles("alice") == handles != []
    assert web.browser().request("GET", "/me").status == EXPIRED  # no cookies at all


def test_cleared_cookies_keep_their_paths(web: WebApp) -> None:
    browser = logged_in(web)
    reply = browser.request("POST", "/logout")
    assert reply.cookies["sRefreshToken"].attrs["path"] == "/refresh"
    assert reply.cookies["sAccessToken"].attrs["path"] == "/"
    assert reply.cookies["sIdRefreshToken"].attrs["path"] == "/"
    assert "httponly" not in reply.cookies["sIdRefreshToken"].attrs
    exposed = reply.headers["access-control-expose-headers"].lower()
    assert "id-refresh-token" in exposed


def test_session_data_read_and_replace(web: WebApp) -> None:
    browser = logged_in(web)
    assert browser.request("GET", "/session-data").json() == {"data": {"visits": 0}}
    assert browser.request("PUT", "/session-data", json={"visits": 3}, csrf=False).status == 440
    reply = browser.request("PUT", "/session-data", json={"visits": 3, "x": [1]})
    assert reply.status == 200
    assert browser.request("GET", "/session-data").json() == {"data": {"visits": 3, "x": [1]}}
    # the session is revoked elsewhere: data access is unauthorised and clears cookies
    other = logged_in(web)
    assert other.request("POST", "/revoke-all").json() == {"revoked": 2}
    gone = browser.request("GET", "/session-data")
    assert gone.status == EXPIRED and gone.cleared_all


def test_sessions_lists_and_revoke_all_ends_them(web: WebApp) -> None:
    first, second = logged_in(web), logged_in(web)
    logged_in(web, "bob")
    handles = first.request("GET", "/sessions").json()["sessions"]
    assert len(handles) == 2 and handles == web.handles("alice")
    reply = second.request("POST", "/revoke-all")
    assert reply.status == 200 and reply.json() == {"revoked": 2} and reply.cleared_all
    assert web.handles("alice") == [] and len(web.handles("bob")) == 1
    assert first.refresh().status == EXPIRED


GARBAGE = [
    "",
    "x",
    "null",
    "a.b.c",
    "eyJhbGciOiJIUzI1NiJ9.e30.AAAA",
    "%00%ff%fe",
    "\u00e9\u00e8",
    '"quoted"',
    "A" * 5000,
    "=" * 64,
    "../../etc/passwd",
    "Bearer",
]


def test_garbage_in_every_cookie_and_header_never_gives_a_5xx(web: WebApp) -> None:
    browser = logged_in(web)
    good = {n: browser.cookie(n) or "" for n in TOKEN_COOKIES}
    routes = [
        ("GET", "/me"),
        ("POST", "/like"),
        ("POST", "/refresh"),
        ("POST", "/logout"),
        ("PUT", "/session-data"),
    ]
    statuses = set()
    for junk in GARBAGE:
        for target in [*TOKEN_COOKIES, "anti-csrf", "Authorization", "st-auth-mode"]:
            cookies = dict(good)
            headers = {"anti-csrf": browser.anti_csrf or ""}
            if target in cookies:
                cookies[target] = junk
            else:
                headers[target] = junk
            raw_cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
            raw_cookie_bytes = raw_cookie.encode("utf-8")  # raw bytes on the wire, as sent
            raw_headers = {k: v.encode("utf-8") for k, v in headers.items()}
            for method, path in routes[:2] if junk != GARBAGE[0] else routes:
                reply = web.browser().request(
                    method, path, cookies=raw_cookie_bytes, headers=raw_headers, json={}, csrf=False
                )
                statuses.add(reply.status)
                assert reply.status < 500, (target, junk, method, path, reply.response.text)
                assert "Traceback" not in reply.response.text
    assert EXPIRED in statuses
    # a malformed Cookie header as a whole
    for raw in ["sAccessToken", ";;;", "sIdRefreshToken=\x7f; ==; a", "=" * 100]:
        assert web.browser().request("GET", "/me", cookies=raw).status < 500
    # and sessions still work afterwards. (Not necessarily this one: among the requests above
    # are well-formed logouts that carry garbage only in a header the logout does not need.)
    assert logged_in(web, "after-garbage").request("GET", "/me").status == 200


def test_database_failure_is_a_generic_500(web: WebApp, caplog: Any) -> None:
    browser = logged_in(web)
    tokens = [browser.cookie(n) for n in TOKEN_COOKIES]
    engine = create_engine(resolve_url(web.config.database_url, asynchronous=False))
    with engine.begin() as conn:
        conn.execute(text(f"DROP TABLE {web.config.refresh_token_table}"))
    engine.dispose()
    reply = browser.refresh()
    assert reply.status == 500
    assert reply.json() == {"message": "internal server error"}
    assert reply.cookies == {}
    logged = caplog.text
    assert all(t and t not in logged and t not in reply.response.text for t in tokens)


def test_bearer_mode_end_to_end(web: WebApp) -> None:
    client = web.header_client()
    login = client.request("POST", "/login", json={"userId": "carol"})
    assert login.status == 200
    assert client.access and client.refresh_token
    assert "anti-csrf" not in login.headers and login.headers["cache-control"] == "no-store"
    exposed = login.headers["access-control-expose-headers"].lower()
    assert "st-access-token" in exposed and "st-refresh-token" in exposed
    me = client.request("GET", "/me")
    assert me.status == 200 and me.json()["userId"] == "carol"
    # no ambient credentials, so no anti-CSRF token is needed
    assert client.request("POST", "/like").status == 200
    # without Authorization and without cookies: unauthorised
    nothing = client.request("GET", "/me", token="")
    assert nothing.status == EXPIRED and nothing.headers["st-access-token"] == "remove"
    web.clock.advance(66)  # validity 60 s + leeway 5 s
    assert client.request("GET", "/me").status == EXPIRED
    first_refresh = client.refresh_token
    rotated = client.refresh()
    assert rotated.status == 200 and client.refresh_token != first_refresh
    # the first use of the rotated access token returns its confirmed replacement
    confirmed = client.request("GET", "/me")
    assert confirmed.status == 200 and confirmed.headers.get("st-access-token")
    assert client.request("GET", "/me").status == 200
    # theft: the first refresh token comes back, after the grace window
    web.clock.advance(31)
    theft = client.refresh(first_refresh)
    assert theft.status == EXPIRED and theft.headers["st-refresh-token"] == "remove"
    assert web.handles("carol") == []
    assert client.refresh().status == EXPIRED
    # a Bearer token alone (no st-auth-mode header) also selects header mode
    client.request("POST", "/login", json={"userId": "carol"})
    reply = Browser(web.client, web.clock).request(
        "POST", "/like", headers={"Authorization": f"Bearer {client.access}"}, csrf=False
    )
    assert reply.status == 200 and reply.cookies == {}


def test_the_same_session_is_not_usable_across_modes_without_its_token(web: WebApp) -> None:
    browser = logged_in(web)
    # header mode ignores cookies: the cookie session does not leak into a Bearer request
    reply = browser.request("GET", "/me", headers={"st-auth-mode": "header"})
    assert reply.status == EXPIRED
    assert re.fullmatch(r"remove", reply.headers["st-access-token"])
