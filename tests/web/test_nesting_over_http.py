"""Issue 19, finding 9, over HTTP: ``PUT /session-data`` with 300 levels of nesting answered 500
on FastAPI, and so did every later ``GET /session-data`` of that session (the stored value was
too deep for the framework's JSON encoder). Now the library's input check refuses it: a 400
with a JSON message in every framework, and the session's data is as it was."""

from __future__ import annotations

import json

import pytest

from tests.support.web_apps import WebApp

from .test_scenarios import COMBOS, logged_in

pytestmark = pytest.mark.parametrize(("framework", "backend"), COMBOS)

JSON_TYPE = {"content-type": "application/json"}


def _nested_body(levels: int) -> bytes:
    return b'{"k":' * (levels - 1) + b"[0]" + b"}" * (levels - 1)


def test_session_data_nested_300_deep_is_a_400_and_the_session_stays_readable(
    web: WebApp,
) -> None:
    browser = logged_in(web)
    put = browser.request("PUT", "/session-data", content=_nested_body(300), headers=JSON_TYPE)
    assert put.status == 400, put.response.text[:200]
    assert "nested too deeply" in put.json()["message"] and "64" in put.json()["message"]
    got = browser.request("GET", "/session-data")
    assert got.status == 200 and got.json() == {"data": {"visits": 0}}


def test_session_data_at_the_limit_is_kept_and_read_back(web: WebApp) -> None:
    browser = logged_in(web)
    body = _nested_body(64)
    put = browser.request("PUT", "/session-data", content=body, headers=JSON_TYPE)
    assert put.status == 200, put.response.text[:200]
    got = browser.request("GET", "/session-data")
    assert got.status == 200 and got.json() == {"data": json.loads(body)}
