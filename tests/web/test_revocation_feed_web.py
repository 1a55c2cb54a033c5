"""Every framework serves the revocation feed beside the JWKS (docs/microservices.md#revocations):
named by the JWK Set, signed with the key the JWKS publishes, incremental, cacheable for a
second, 400 JSON for a bad cursor, 401 JSON without the bearer secret when one is set; and a
logout through the app's own endpoint is in the next incremental read."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from sessionward._remote.keyset import parse_jwk_set
from sessionward._tokens.feed import verify_feed
from tests.support.web_apps import WebApp

from .test_scenarios import COMBOS, logged_in

pytestmark = pytest.mark.parametrize(("framework", "backend"), COMBOS)

FEED = "/.well-known/revocations"
SECRET = "feed-secret-0123456789"


def claims(text: str) -> dict[str, Any]:
    return json.loads(base64.urlsafe_b64decode(text.split(".")[1] + "=="))  # type: ignore[no-any-return]


def test_the_feed_is_served_signed_and_incremental(make_web_app) -> None:
    web: WebApp = make_web_app(signing_algorithm="ES256", revocation_feed_path=FEED)
    jwks = web.browser().request("GET", "/.well-known/jwks.json")
    assert jwks.json()["revocation_feed"] == FEED
    ring = parse_jwk_set(jwks.response.content, None).ring
    first = web.browser().request("GET", FEED)
    assert first.status == 200
    assert first.headers["content-type"].startswith("application/jwt")
    assert first.headers["cache-control"] == "public, max-age=1"
    assert not first.cookies
    start = verify_feed(first.response.text, ring)
    alice = logged_in(web)
    handle = claims(alice.cookie("sAccessToken") or "")["sid"]
    assert alice.request("POST", "/logout").status == 200
    later = web.browser().request("GET", f"{FEED}?since={start.next_cursor}")
    feed = verify_feed(later.response.text, ring)
    assert feed.since == start.next_cursor
    assert [r.session_handle for r in feed.revocations] == [handle]
    for bad in ("?since=x", "?since=", "?since=a&since=b"):
        reply = web.browser().request("GET", FEED + bad)
        assert reply.status == 400 and "message" in reply.json()


def test_the_feed_behind_a_bearer_secret(make_web_app) -> None:
    web: WebApp = make_web_app(
        signing_algorithm="EdDSA", revocation_feed_path=FEED, revocation_feed_token=SECRET
    )
    refused = web.browser().request("GET", FEED)
    assert refused.status == 401 and refused.json()["message"]
    assert refused.headers["www-authenticate"].startswith("Bearer")
    allowed = web.browser().request("GET", FEED, headers={"Authorization": f"Bearer {SECRET}"})
    assert allowed.status == 200
    assert allowed.headers["cache-control"] == "private, max-age=1"
    assert "authorization" in allowed.headers["vary"].lower()
