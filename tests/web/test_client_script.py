"""The browser client served by every integration at ``client_script_path`` (off by default),
cached by content hash; and what the client reads from every token write: the front token and
the protocol header (docs/frontend.md)."""

from __future__ import annotations

import base64
import json
from importlib import resources

import pytest

from sessionward import Config, ConfigError
from sessionward._transport.script import client_script
from sessionward.integrations import client_script_url
from tests.support.web_apps import FRAMEWORKS, HeaderClient, WebApp

pytestmark = pytest.mark.parametrize(("framework", "backend"), [(f, "sqlite") for f in FRAMEWORKS])

PATH = "/static/sessionward.js"
PACKAGED = (resources.files("sessionward") / "js" / "sessionward.js").read_bytes()


def front(value: str) -> object:
    return json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))


def test_off_by_default(web: WebApp) -> None:
    assert web.browser().request("GET", "/sessionward.js").status == 404
    assert web.browser().request("GET", PATH).status == 404


def test_served_at_the_path_with_a_content_hash(make_web_app) -> None:
    web: WebApp = make_web_app(client_script_path=PATH)
    browser = web.browser()
    url = client_script_url(Config(refresh_path="/refresh", client_script_path=PATH))
    assert client_script_url(Config(refresh_path="/refresh")) is None
    digest = client_script().digest
    assert url == f"{PATH}?v={digest}"

    bare = browser.request("GET", PATH)
    assert bare.status == 200 and bare.response.content == PACKAGED
    assert bare.headers["content-type"].startswith("text/javascript")
    assert bare.headers["etag"] == f'"{digest}"'
    assert bare.headers["cache-control"] == "no-cache"  # the bare path: revalidate
    assert not bare.cookies

    hashed = browser.request("GET", url)
    assert hashed.status == 200 and hashed.response.content == PACKAGED
    assert hashed.headers["cache-control"] == "public, max-age=31536000, immutable"

    again = browser.request("GET", url, headers={"If-None-Match": f'"{digest}"'})
    assert again.status == 304 and again.response.content == b""
    assert again.headers["etag"] == f'"{digest}"'

    for odd in ("?v=0123456789abcdef", "?v=" + "x" * 5000, "?v=%ff%00", "?v=&v=1"):
        reply = browser.request("GET", PATH + odd)  # another release's hash, or junk: no error
        assert reply.status == 200 and reply.headers["cache-control"] == "no-cache", odd
    stale = browser.request("GET", PATH, headers={"If-None-Match": '"old", W/"older"'})
    assert stale.status == 200 and stale.response.content == PACKAGED
    assert browser.request("POST", PATH).status in (404, 405)
    assert browser.request("HEAD", url).status == 200


def test_every_token_write_carries_the_front_token_and_the_protocol(make_web_app) -> None:
    web: WebApp = make_web_app()
    browser = web.browser()
    login = browser.login("alice")
    assert login.headers["sessionward-protocol"] == "1"
    claims = front(login.headers["front-token"])
    assert isinstance(claims, dict) and claims["uid"] == "alice"
    assert claims["tId"] == "public" and claims["ate"] % 1000 == 0
    assert claims["up"] == login.json().get("payload", claims["up"])
    exposed = {h.strip().lower() for h in login.headers["access-control-expose-headers"].split(",")}
    assert {"front-token", "sessionward-protocol"} <= exposed
    refreshed = browser.refresh()
    assert front(refreshed.headers["front-token"]) == front(login.headers["front-token"]) | {
        "ate": front(refreshed.headers["front-token"])["ate"]  # type: ignore[index]
    }
    out = browser.request("POST", "/logout")
    assert out.headers["front-token"] == "remove" and out.headers["sessionward-protocol"] == "1"

    header = HeaderClient(web.browser().client)
    reply = header.request("POST", "/login", json={"userId": "bob"})
    assert reply.status == 200 and reply.headers["sessionward-protocol"] == "1"
    assert front(reply.headers["front-token"])["uid"] == "bob"  # type: ignore[index]


def test_the_path_is_checked(framework: str, backend: str) -> None:
    for bad in ("sessionward.js", "/a b.js", 7):
        with pytest.raises(ConfigError, match="client_script_path"):
            Config(refresh_path="/refresh", client_script_path=bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="client_script_path"):
        Config(refresh_path="/refresh", client_script_path="/refresh")
