"""The "remember me" choice in a real browser: Debian's Chromium, headless, driven over CDP
(Playwright), with the same browser fixture as ``tests/test_browser.py``.

The app is ``tests/support/remember_me_app.py``: the Starlette integration, a ``/login`` that
passes ``persistent=rememberMe``, and the packaged browser client ``sessionward.js``.

- A login without "remember me" gets session cookies (no expiry: access, refresh and
  id-refresh); with it, cookies that expire in the future. After a browser restart on the same
  profile the first is gone and the second is still signed in.
- Idle past ``session_idle_timeout``, a session without "remember me" is over: the page's next
  call meets a refused refresh and ends signed out, cookies cleared. Active (a call every
  second, past the idle limit in total), it stays alive: each refresh slides the limit. A
  persistent session survives the same idle period.

Chromium is required: without it these tests fail (``.ci/run`` installs it), never skip.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sessionward import Config
from tests.support.remember_me_app import running_app
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, Wire, chromium

__all__ = ["chromium"]  # the module's Chromium fixture, shared with tests/test_browser.py

pytestmark = pytest.mark.browser

VALIDITY = 2  # seconds of access-token life in the idle tests
IDLE = 10  # session_idle_timeout in the idle tests: the lowest the library allows
LONG_VALIDITY = 60  # the cookie tests: an access token that cannot expire while looked at
REFRESH_VALIDITY = 100 * 24 * 3600  # the library's default refresh_token_validity
SESSION_COOKIES = ("sAccessToken", "sRefreshToken", "sIdRefreshToken")


def _config(tmp: Path, **settings: Any) -> Config:
    return Config(
        refresh_path="/refresh",
        database_url=f"sqlite:///{tmp}/remember-me.sqlite3",
        cookie_secure=False,  # plain http on loopback
        cookie_same_site="lax",
        **settings,
    )


@pytest.fixture(scope="module")
def idle_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """2-s access tokens, a 10-s idle limit, no leeway (one server, one clock)."""
    config = _config(
        tmp_path_factory.mktemp("idle"),
        access_token_validity=VALIDITY,
        allow_short_access_tokens=True,
        access_token_leeway=0,
        session_idle_timeout=IDLE,
    )
    assert config.refresh_token_validity == REFRESH_VALIDITY
    with running_app(config) as url:
        yield url


@pytest.fixture(scope="module")
def long_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The default idle limit (12 h) and 60-s access tokens."""
    config = _config(tmp_path_factory.mktemp("long"), access_token_validity=LONG_VALIDITY)
    with running_app(config) as url:
        yield url


def open_app(context: Any, url: str) -> Any:
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url + "/")
    page.wait_for_selector("body[data-ready=true]", state="attached", timeout=10_000)
    assert errors == [], errors
    return page


def log_in(page: Any, user: str, *, remember_me: bool) -> dict[str, Any]:
    reply = page.evaluate("([u, r]) => window.app.login(u, r)", [user, remember_me])
    assert reply["status"] == 200, reply
    assert reply["body"]["persistent"] is remember_me, reply
    return dict(reply["body"])


def me(page: Any) -> dict[str, Any]:
    return dict(page.evaluate("window.app.me()"))


def announced_end_ms(page: Any) -> int:
    """When the server said the session ends if not refreshed (the id-refresh-token header's
    expiry, as the client keeps it)."""
    return int(page.evaluate("window.app.announced().expires"))


def cookies_by_name(page: Any) -> dict[str, dict[str, Any]]:
    """The browser's cookies, from Chromium itself (CDP ``Network.getAllCookies``: each with
    ``session`` and ``expires``, in seconds, -1 for a session cookie)."""
    cdp = page.context.new_cdp_session(page)
    try:
        return {c["name"]: c for c in cdp.send("Network.getAllCookies")["cookies"]}
    finally:
        cdp.detach()


def sleep_until(epoch_seconds: float) -> None:
    """Wait until the wall clock (the server's clock: the same machine) passes a moment."""
    while (left := epoch_seconds - time.time()) > 0:
        time.sleep(min(left, 0.5))


# --- the cookies ---------------------------------------------------------------------------


def test_a_login_without_remember_me_gets_session_cookies(chromium: Any, long_app: str) -> None:
    context = chromium.new_context()
    page = open_app(context, long_app)
    log_in(page, "sam", remember_me=False)
    cookies = cookies_by_name(page)
    assert set(SESSION_COOKIES) <= set(cookies), cookies
    for name in SESSION_COOKIES:
        assert cookies[name]["session"] is True, cookies[name]
        assert cookies[name]["expires"] == -1, cookies[name]
    assert cookies["sRefreshToken"]["path"] == "/refresh"
    assert me(page)["body"]["persistent"] is False  # the server knows the kind too
    context.close()


def test_a_login_with_remember_me_gets_cookies_that_expire_later(
    chromium: Any, long_app: str
) -> None:
    context = chromium.new_context()
    page = open_app(context, long_app)
    before = time.time()
    log_in(page, "pat", remember_me=True)
    after = time.time()
    cookies = cookies_by_name(page)
    assert set(SESSION_COOKIES) <= set(cookies), cookies
    for name in SESSION_COOKIES:
        assert cookies[name]["session"] is False, cookies[name]
        assert cookies[name]["expires"] > after, cookies[name]
    # The access cookie lives as long as its token (rounded down to the second); the refresh
    # and id-refresh cookies as long as the session (refresh_token_validity). Chromium counts
    # Expires from the response's Date header (whole seconds): up to a second more.
    access = cookies["sAccessToken"]["expires"]
    assert before + LONG_VALIDITY - 1 <= access <= after + LONG_VALIDITY + 1, access
    for name in ("sRefreshToken", "sIdRefreshToken"):
        expires = cookies[name]["expires"]
        assert before + REFRESH_VALIDITY - 1 <= expires <= after + REFRESH_VALIDITY + 1, name
    assert me(page)["body"]["persistent"] is True
    context.close()


def test_after_a_browser_restart_only_the_remembered_login_is_still_signed_in(
    chromium: Any, tmp_path: Path, long_app: str
) -> None:
    """Two fresh profiles, one login each; the browser closes and starts again on each
    profile: the session cookies are gone, the persistent ones still sign the page in."""
    profiles = {True: tmp_path / "remembered", False: tmp_path / "not-remembered"}

    def launch(remember_me: bool) -> Any:
        # A browser of its own on that profile (the module's browser has no profile to keep).
        return chromium.browser_type.launch_persistent_context(
            str(profiles[remember_me]), executable_path=CHROMIUM, args=CHROMIUM_ARGS
        )

    handles: dict[bool, str] = {}
    for remember_me in (True, False):
        context = launch(remember_me)
        page = open_app(context, long_app)
        handles[remember_me] = log_in(page, "rae", remember_me=remember_me)["sessionHandle"]
        assert set(SESSION_COOKIES) <= set(cookies_by_name(page))
        context.close()  # the browser exits: it writes its persistent cookies to the profile

    context = launch(True)
    page = open_app(context, long_app)
    assert set(SESSION_COOKIES) <= set(cookies_by_name(page))
    assert page.evaluate("window.app.client.doesSessionExist()") is True
    reply = me(page)
    assert reply["status"] == 200 and reply["body"]["sessionHandle"] == handles[True], reply
    assert page.evaluate("window.app.client.refresh()") == "refreshed"  # its refresh cookie
    assert me(page)["body"]["sessionHandle"] == handles[True]
    context.close()

    context = launch(False)
    wire = Wire(context)
    page = open_app(context, long_app)
    assert set(SESSION_COOKIES) & set(cookies_by_name(page)) == set()
    assert page.evaluate("window.app.client.doesSessionExist()") is False
    assert me(page)["status"] == 440
    assert wire.count("POST", "/refresh") == 0  # no session left to refresh
    context.close()


# --- the idle limit ------------------------------------------------------------------------


def test_an_idle_session_without_remember_me_ends_after_the_idle_limit(
    chromium: Any, idle_app: str
) -> None:
    context = chromium.new_context()
    wire = Wire(context)
    page = open_app(context, idle_app)
    before = time.time() * 1000
    log_in(page, "ida", remember_me=False)
    after = time.time() * 1000
    end = announced_end_ms(page)
    # The session ends IDLE seconds after the login, not after refresh_token_validity.
    assert before + IDLE * 1000 - 1000 <= end <= after + IDLE * 1000 + 1000, (before, end)
    assert me(page)["status"] == 200

    sleep_until(end / 1000 + 1)  # idle past the limit (no leeway on this server)
    wire.clear()
    with page.expect_response(lambda r: r.url.endswith("/refresh")) as refresh:
        reply = me(page)
    assert reply["status"] == 440, reply
    assert refresh.value.status == 440
    assert refresh.value.json() == {"message": "unauthorised"}  # refused, not theft
    assert wire.statuses("GET", "/me") == [440]  # the expired access token
    assert wire.statuses("POST", "/refresh") == [440]  # one refresh, refused: no retry
    assert page.evaluate("window.app.events") == ["session-expired"]
    assert page.evaluate("window.app.client.doesSessionExist()") is False
    assert set(SESSION_COOKIES) & set(cookies_by_name(page)) == set()  # cleared
    # Signed out for good: the next call does not even try to refresh.
    assert me(page)["status"] == 440
    assert wire.statuses("POST", "/refresh") == [440]
    context.close()


def test_an_active_session_without_remember_me_outlives_the_idle_limit(
    chromium: Any, idle_app: str
) -> None:
    """A call every second: the access token expires every 2 s, each refresh (and its
    confirmation) slides the idle limit, so the session lives past the login's limit."""
    context = chromium.new_context()
    wire = Wire(context)
    page = open_app(context, idle_app)
    handle = log_in(page, "ace", remember_me=False)["sessionHandle"]
    first_end = announced_end_ms(page)
    deadline = time.monotonic() + 25
    while time.time() * 1000 < first_end + 2000:  # until well past the login's idle limit
        assert time.monotonic() < deadline, wire.events
        reply = me(page)
        assert reply["status"] == 200, (reply, wire.events)
        assert reply["body"]["sessionHandle"] == handle
        page.wait_for_timeout(1000)
    # Past the limit the login set, the same session still answers: it was slid along.
    reply = me(page)
    assert reply["status"] == 200 and reply["body"]["sessionHandle"] == handle, reply
    refreshes = wire.statuses("POST", "/refresh")
    assert refreshes and set(refreshes) == {200}, refreshes  # every refresh accepted
    assert announced_end_ms(page) > first_end  # the limit moved on with the activity
    assert page.evaluate("window.app.client.doesSessionExist()") is True
    assert "session-expired" not in page.evaluate("window.app.events")
    context.close()


def test_a_remembered_session_survives_the_same_idle_period(chromium: Any, idle_app: str) -> None:
    context = chromium.new_context()
    wire = Wire(context)
    page = open_app(context, idle_app)
    before = time.time()
    handle = log_in(page, "pia", remember_me=True)["sessionHandle"]
    end = announced_end_ms(page)
    assert end >= (before + REFRESH_VALIDITY - 1) * 1000  # not the idle limit
    assert me(page)["status"] == 200

    sleep_until(before + IDLE + 2)  # past where the idle limit would have ended it
    wire.clear()
    reply = me(page)
    assert reply["status"] == 200, (reply, wire.events)
    assert reply["body"]["sessionHandle"] == handle
    assert wire.statuses("GET", "/me") == [440, 200]  # expired, refreshed, retried
    assert wire.statuses("POST", "/refresh") == [200]
    assert page.evaluate("window.app.client.doesSessionExist()") is True
    assert set(SESSION_COOKIES) <= set(cookies_by_name(page))
    context.close()
