"""The ride-along thief, over real HTTP, with the library's default settings
(docs/protocol.md#the-grace-window).

A thief copies the victim's cookies and simply refreshes whenever it gets the session-expired
status. With an unbound grace window both would end up holding identical tokens at every
rotation. The thief works from another loopback network (127.0.1.2; the victim from 127.0.0.1),
with the victim's very User-Agent: the client-bound window must catch it at the first rotation
both take part in. Two honest tabs sharing one cookie jar, refreshing at the same moment without
any lock, must never be logged out; a refresh whose answer was lost must work when retried.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.example_servers import COMMANDS, running_example
from tests.support.web_apps import Browser, Reply

VALIDITY = 2  # seconds: --access-token-validity of the example
VICTIM_ADDRESS = "127.0.0.1"
THIEF_ADDRESS = "127.0.1.2"
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
# How long an access token the thief already holds may keep working after the theft is
# detected: until it expires (validity) plus the default verification leeway, plus 1 s.
ACCESS_TOKEN_BOUND = VALIDITY + 5 + 1


@pytest.fixture(params=sorted(COMMANDS))
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with running_example(request.param, tmp_path, "--access-token-validity", str(VALIDITY)) as url:
        yield url


def _client(base_url: str, address: str) -> httpx.Client:
    return httpx.Client(
        base_url=base_url,
        timeout=10,
        headers={"user-agent": USER_AGENT},
        transport=httpx.HTTPTransport(local_address=address),
    )


def _until(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def _use_or_refresh(browser: Browser) -> tuple[str, Reply]:
    """What the frontend SDK does: a request; on the session-expired status, one refresh."""
    reply = browser.request("GET", "/me")
    if reply.status != 440 or reply.json().get("message") != "try refresh token":
        return "use", reply
    return "refresh", browser.refresh()


@pytest.mark.parametrize("thief_first", [False, True], ids=["victim-first", "thief-first"])
def test_the_ride_along_thief_is_caught_at_the_first_shared_rotation(
    server: str, thief_first: bool
) -> None:
    with _client(server, VICTIM_ADDRESS) as v, _client(server, THIEF_ADDRESS) as t:
        victim, thief = Browser(v, time.time), Browser(t, time.time)
        victim.login("alice")
        thief.jar = dict(victim.jar)  # the copy: every cookie, the refresh token included
        thief.anti_csrf = victim.anti_csrf
        order = [thief, victim] if thief_first else [victim, thief]
        thief_refreshes = 0
        caught: Reply | None = None
        deadline = time.monotonic() + 4 * VALIDITY + 2
        while caught is None and time.monotonic() < deadline:
            for actor in order:  # both active: each acts within a moment of the other
                kind, reply = _use_or_refresh(actor)
                if kind == "refresh" and reply.status == 200 and actor is thief:
                    thief_refreshes += 1
                if kind == "refresh" and reply.status != 200:
                    caught = reply
                    break
            time.sleep(0.1)
        assert caught is not None, "the thief rode along undetected"
        assert caught.status == 440 and caught.json() == {"message": "token theft detected"}
        assert caught.cleared_all
        # Caught at the first rotation both take part in: whoever of the two refreshed first
        # (the order in which their copies expire decides it), the other one's refresh is theft.
        assert thief_refreshes <= 1
        # After that, neither the thief's refresh nor its access token works; nor the victim's.
        assert thief.refresh().status == 440
        assert _until(lambda: thief.request("GET", "/me").status == 440, ACCESS_TOKEN_BOUND)
        assert victim.refresh().status == 440


def test_two_honest_tabs_refreshing_at_once_without_a_lock_stay_logged_in(server: str) -> None:
    with _client(server, VICTIM_ADDRESS) as one, _client(server, VICTIM_ADDRESS) as two:
        jar = Browser(one, time.time)
        jar.login("alice")
        lock = threading.Lock()
        tabs = [Browser(one, time.time), Browser(two, time.time)]
        barrier = threading.Barrier(2)
        failures: list[str] = []

        def tab(browser: Browser) -> None:
            for _ in range(3):
                with lock:  # each tab reads the shared jar (a browser's cookie store)
                    browser.jar, browser.anti_csrf = dict(jar.jar), jar.anti_csrf
                wait = min(e for _, _, e in browser.jar.values()) - time.time()
                time.sleep(max(0.0, wait) + 0.05)  # until the access token has expired
                barrier.wait(timeout=30)  # then both refresh at the same moment
                reply = browser.refresh()
                if reply.status != 200:
                    failures.append(f"refresh: {reply.status} {reply.response.text}")
                    return
                with lock:
                    jar.jar.update(browser.jar)
                    jar.anti_csrf = browser.anti_csrf
                me = browser.request("GET", "/me")
                if me.status != 200:
                    failures.append(f"/me: {me.status} {me.response.text}")
                    return

        threads = [threading.Thread(target=tab, args=(b,)) for b in tabs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert failures == []
        assert jar.request("GET", "/me").status == 200


def test_a_refresh_whose_answer_was_lost_succeeds_when_retried(server: str) -> None:
    with _client(server, VICTIM_ADDRESS) as client:
        browser = Browser(client, time.time)
        browser.login("alice")
        before: dict[str, Any] = dict(browser.jar)
        anti_csrf = browser.anti_csrf
        assert browser.refresh().status == 200
        browser.jar, browser.anti_csrf = before, anti_csrf  # the answer never arrived
        retried = browser.refresh()
        assert retried.status == 200
        assert browser.request("GET", "/me").status == 200
        assert browser.request("POST", "/like").status == 200
