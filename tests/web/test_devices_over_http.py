"""The example API's devices page in every framework: list my sessions (this one marked),
sign out one of them, sign out all the others; another user's session is never touched."""

from __future__ import annotations

import pytest

from tests.support.web_apps import WebApp

from .test_scenarios import COMBOS, EXPIRED, logged_in

pytestmark = pytest.mark.parametrize(("framework", "backend"), COMBOS)

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def test_devices_lists_mine_with_this_one_marked(web: WebApp) -> None:
    laptop = web.browser()
    laptop.request("POST", "/login", json={"userId": "alice"}, headers={"user-agent": FIREFOX})
    web.clock.advance(1)
    phone = logged_in(web, "alice")
    logged_in(web, "bob")
    web.clock.advance(1)
    reply = laptop.request("GET", "/devices", headers={"user-agent": FIREFOX})
    assert reply.status == 200 and reply.headers["cache-control"] == "no-store"
    devices = reply.json()["devices"]
    assert len(devices) == 2
    current = [d for d in devices if d["current"]]
    assert len(current) == 1 and current[0]["device"] == "Firefox on Linux"
    assert current[0]["userAgent"] == FIREFOX
    assert {d["sessionHandle"] for d in devices} == set(web.handles("alice"))
    assert all(d["lastActiveAt"] >= d["createdAt"] for d in devices)
    assert phone.request("GET", "/devices").json()["devices"][0]["current"] is True  # newest


def test_sign_out_all_other_devices(web: WebApp) -> None:
    mine = logged_in(web, "alice")
    others = [logged_in(web, "alice") for _ in range(2)]
    bob = logged_in(web, "bob")
    reply = mine.request("POST", "/devices/revoke-others")
    assert reply.status == 200 and reply.json() == {"revoked": 2}
    assert mine.request("GET", "/me").status == 200
    for other in others:  # refused at once: their access token, not only their next refresh
        gone = other.request("GET", "/me")
        assert gone.status == EXPIRED and gone.cleared_all
    assert bob.request("GET", "/me").status == 200
    assert len(web.handles("alice")) == 1
    assert mine.request("POST", "/devices/revoke-others", csrf=False).status == EXPIRED


def test_sign_out_one_device_or_this_one(web: WebApp) -> None:
    mine = logged_in(web, "alice")
    other = logged_in(web, "alice")
    bobs = logged_in(web, "bob")
    other_handle = other.request("GET", "/me").json()["sessionHandle"]
    bobs_handle = bobs.request("GET", "/me").json()["sessionHandle"]
    # Someone else's session: refused, and untouched.
    refused = mine.request("POST", "/devices/revoke", json={"sessionHandle": bobs_handle})
    assert refused.status == 400 and refused.cookies == {}
    assert bobs.request("GET", "/me").status == 200
    for body in ({}, {"sessionHandle": ""}, {"sessionHandle": 7}):
        assert mine.request("POST", "/devices/revoke", json=body).status == 400
    one = mine.request("POST", "/devices/revoke", json={"sessionHandle": other_handle})
    assert one.json() == {"revoked": True, "current": False} and one.cookies == {}
    assert other.request("GET", "/me").status == EXPIRED
    my_handle = mine.request("GET", "/me").json()["sessionHandle"]
    this = mine.request("POST", "/devices/revoke", json={"sessionHandle": my_handle})
    assert this.json() == {"revoked": True, "current": True} and this.cleared_all
    assert web.handles("alice") == []
