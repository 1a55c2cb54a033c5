"""Hostile input against the example API in every framework and on every backend: each gets a
clear 4xx with a JSON message (never a 500), and nothing is stored or lost.

These reproduce the findings of a review done as an attacker would: emoji user ids, lone
surrogates, NUL bytes, large and deeply nested bodies, login CSRF, and caching of personal
responses.
"""

from __future__ import annotations

import pytest

from tests.support.web_apps import WebApp

from .test_scenarios import COMBOS, logged_in

pytestmark = pytest.mark.parametrize(("framework", "backend"), COMBOS)

JSON_TYPE = {"content-type": "application/json"}
MIB = 1 << 20


def _login_raw(web: WebApp, body: bytes, content_type: str = "application/json"):
    return web.browser().request(
        "POST", "/login", content=body, headers={"content-type": content_type}
    )


def test_a_user_id_of_128_emoji_logs_in_and_129_is_refused(web: WebApp) -> None:
    emoji = "\U0001f600" * 128
    browser = web.browser()
    reply = browser.login(emoji)
    assert reply.json()["userId"] == emoji
    me = browser.request("GET", "/me")
    assert me.status == 200 and me.json()["userId"] == emoji
    assert web.handles(emoji) == [reply.json()["sessionHandle"]]
    too_long = browser.request("POST", "/login", json={"userId": emoji + "\U0001f600"})
    assert too_long.status == 400 and "128" in too_long.json()["message"]


@pytest.mark.parametrize(
    "raw",
    [
        b'{"userId": "\\ud800"}',  # a lone surrogate: valid JSON, not valid Unicode
        b'{"userId": "al\\u0000ice"}',  # a NUL byte (PostgreSQL cannot store it)
        b'{"userId": "line\\nbreak"}',
    ],
)
def test_user_ids_that_no_database_can_store_are_a_400(web: WebApp, raw: bytes) -> None:
    reply = _login_raw(web, raw)
    assert reply.status == 400
    assert "user_id" in reply.json()["message"]
    assert reply.cookies == {}


def test_deeply_nested_json_is_a_400_everywhere(web: WebApp) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    reply = _login_raw(web, deep)
    assert reply.status == 400 and "nested" in reply.json()["message"]
    browser = logged_in(web)
    put = browser.request("PUT", "/session-data", content=deep, headers=JSON_TYPE)
    assert put.status == 400 and "nested" in put.json()["message"]
    assert browser.request("GET", "/session-data").json() == {"data": {"visits": 0}}


def test_session_data_up_to_one_mebibyte_is_kept_and_more_is_a_413(web: WebApp) -> None:
    browser = logged_in(web)
    blob = "é" * ((MIB - 20) // 2)  # two bytes each in UTF-8: the limit counts bytes
    put = browser.request("PUT", "/session-data", json={"blob": blob})
    assert put.status == 200, put.response.text[:200]
    got = browser.request("GET", "/session-data").json()["data"]["blob"]
    assert got == blob
    over = browser.request("PUT", "/session-data", json={"blob": "x" * MIB})
    assert over.status == 413 and "too large" in over.json()["message"]
    assert over.cookies == {}  # the session is untouched
    assert browser.request("GET", "/session-data").json()["data"]["blob"] == blob


def test_lone_surrogate_in_session_data_is_a_400_and_nothing_changes(web: WebApp) -> None:
    browser = logged_in(web)
    reply = browser.request(
        "PUT", "/session-data", content=b'{"note": "\\udfff"}', headers=JSON_TYPE
    )
    assert reply.status == 400 and "surrogate" in reply.json()["message"]
    assert browser.request("GET", "/session-data").json() == {"data": {"visits": 0}}


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_login_accepts_only_json_so_a_cross_site_form_cannot_log_anyone_in(
    web: WebApp, content_type: str
) -> None:
    reply = _login_raw(web, b'{"userId": "attacker"}', content_type)
    assert reply.status == 415
    assert reply.cookies == {} and web.handles("attacker") == []


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/me"), ("GET", "/session-data"), ("GET", "/sessions"), ("POST", "/logout")],
)
def test_every_response_to_a_verified_session_is_not_cached(
    web: WebApp, method: str, path: str
) -> None:
    browser = logged_in(web)
    reply = browser.request(method, path)
    assert reply.status == 200
    assert reply.headers["cache-control"] == "no-store"
