"""Every framework serves the JWK Set at the default path: the keys that verify its tokens, with a
cache lifetime from the rotation schedule; an HS256 deployment serves an empty set."""

from __future__ import annotations

import re

import jwt
import pytest

from tests.support.web_apps import WebApp

from .test_scenarios import COMBOS, logged_in

pytestmark = pytest.mark.parametrize(("framework", "backend"), COMBOS)

JWKS_PATH = "/.well-known/jwks.json"


def max_age(reply: object) -> int:
    header = reply.headers["cache-control"]  # type: ignore[attr-defined]
    found = re.fullmatch(r"public, max-age=(\d+)", header)
    assert found, header
    return int(found.group(1))


def test_the_jwks_verifies_the_apps_access_tokens(make_web_app) -> None:
    web: WebApp = make_web_app(signing_algorithm="EdDSA")
    alice = logged_in(web)
    token = alice.cookie("sAccessToken")
    assert token is not None
    reply = web.browser().request("GET", JWKS_PATH)  # no session needed
    assert reply.status == 200 and reply.headers["content-type"].startswith("application/json")
    assert 1 <= max_age(reply) <= 600
    assert not reply.cookies  # a public document: nothing of the caller's is touched
    keys = jwt.PyJWKSet.from_dict(reply.json())
    kid = jwt.get_unverified_header(token)["kid"]
    claims = jwt.decode(token, keys[kid].key, algorithms=["EdDSA"])
    assert claims["sub"] == "alice"
    assert web.browser().request("POST", JWKS_PATH).status in (404, 405)


def test_an_hs256_app_serves_an_empty_key_set(web: WebApp) -> None:
    logged_in(web)
    reply = web.browser().request("GET", JWKS_PATH)
    assert reply.status == 200 and reply.json() == {"keys": []}
    assert max_age(reply) == 600


def test_the_jwks_path_is_configurable_and_can_be_turned_off(make_web_app) -> None:
    moved = make_web_app(signing_algorithm="ES256", jwks_path="/keys")
    assert len(moved.browser().request("GET", "/keys").json()["keys"]) == 1
    assert moved.browser().request("GET", JWKS_PATH).status == 404
    off = make_web_app(signing_algorithm="ES256", jwks_path=None)
    assert off.browser().request("GET", JWKS_PATH).status == 404
