"""A client behind a trusted proxy cannot choose its own address (docs/security.md, trusted
proxies), over real HTTP in every framework.

Each example runs as a real server on loopback trusting only the proxy of
:mod:`tests.support.forwarding_proxy`, which reaches it from 127.0.0.2 and adds the client's address
as nginx, HAProxy or an RFC 7239 proxy would. The clients connect to the proxy from their own
loopback addresses (the victim from 127.0.0.1, the thief from 127.0.1.2) and forge every
forwarding header they like. The address the app records must be the one the proxy saw, so a
thief's duplicate refresh inside the grace window stays theft however it names itself.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import httpx
import pytest

from tests.support.example_servers import COMMANDS, running_example
from tests.support.forwarding_proxy import PROXY_ADDRESS, Style, forwarding_proxy
from tests.support.web_apps import Browser

VICTIM_ADDRESS = "127.0.0.1"
THIEF_ADDRESS = "127.0.1.2"
FORGED_ADDRESS = "203.0.113.99"
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
# The forwarding header each proxy style writes, and so the one its app is configured to read.
HEADER_OF: dict[Style, str] = {
    "nginx": "x-forwarded-for",
    "haproxy": "x-forwarded-for",
    "rfc7239": "forwarded",
}
FRAMEWORKS = sorted(COMMANDS)


def _forged(address: str) -> dict[str, str]:
    """Both forwarding headers, as a client that wants to be seen at ``address`` sends them."""
    return {"Forwarded": f"for={address}", "X-Forwarded-For": address}


@pytest.fixture(scope="module")
def example_behind_proxy(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[[str, str], str]]:
    """``(framework, forwarding header) -> base URL`` of an example trusting only the proxy;
    each is started once for the module."""
    with ExitStack() as stack:
        urls: dict[tuple[str, str], str] = {}

        def url(framework: str, header: str) -> str:
            if (framework, header) not in urls:
                options = ["--trusted-proxy", f"{PROXY_ADDRESS}/32"]
                if header != "x-forwarded-for":  # the default
                    options += ["--forwarded-header", header]
                path = tmp_path_factory.mktemp(f"{framework}-{header}")
                urls[framework, header] = stack.enter_context(
                    running_example(framework, path, *options)
                )
            return urls[framework, header]

        yield url


@pytest.fixture
def through_proxy(
    example_behind_proxy: Callable[[str, str], str], framework: str, style: Style
) -> Iterator[str]:
    """The base URL of a ``style`` proxy in front of the ``framework`` example."""
    with forwarding_proxy(example_behind_proxy(framework, HEADER_OF[style]), style) as url:
        yield url


def _client(base_url: str, address: str) -> httpx.Client:
    return httpx.Client(
        base_url=base_url,
        timeout=10,
        headers={"user-agent": USER_AGENT},
        transport=httpx.HTTPTransport(local_address=address),
    )


def _login(browser: Browser, headers: dict[str, str] | None = None) -> str:
    user_id = f"user-{secrets.token_hex(6)}"  # the servers are shared by the module's tests
    reply = browser.request("POST", "/login", json={"userId": user_id}, headers=headers)
    assert reply.status == 200, reply.response.text
    return user_id


def _recorded_addresses(browser: Browser, headers: dict[str, str] | None = None) -> list[str]:
    reply = browser.request("GET", "/devices", headers=headers)
    assert reply.status == 200, reply.response.text
    return [device["clientIp"] for device in reply.json()["devices"]]


@pytest.mark.parametrize("style", ["nginx", "haproxy", "rfc7239"])
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_the_address_recorded_is_the_one_the_proxy_saw(through_proxy: str) -> None:
    with _client(through_proxy, THIEF_ADDRESS) as client:
        browser = Browser(client, time.time)
        _login(browser, _forged(FORGED_ADDRESS))
        assert _recorded_addresses(browser, _forged(FORGED_ADDRESS)) == [THIEF_ADDRESS]


@pytest.mark.parametrize("style", ["haproxy"])
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a_client_line_before_the_proxys_own_line_is_not_believed(through_proxy: str) -> None:
    """HAProxy adds its own ``X-Forwarded-For`` line after the client's: the lines are one list,
    read from the right, whichever the framework's server hands over first."""
    forged = {"X-Forwarded-For": FORGED_ADDRESS}
    with _client(through_proxy, THIEF_ADDRESS) as client:
        browser = Browser(client, time.time)
        _login(browser, forged)
        assert _recorded_addresses(browser, forged) == [THIEF_ADDRESS]


@pytest.mark.parametrize("style", ["nginx", "haproxy", "rfc7239"])
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a_forged_duplicate_refresh_in_the_grace_window_is_theft(through_proxy: str) -> None:
    with _client(through_proxy, VICTIM_ADDRESS) as v, _client(through_proxy, THIEF_ADDRESS) as t:
        victim = Browser(v, time.time)
        _login(victim)
        thief = Browser(t, time.time)
        thief.jar, thief.anti_csrf = dict(victim.jar), victim.anti_csrf  # the copy
        retry = Browser(v, time.time)
        retry.jar, retry.anti_csrf = dict(victim.jar), victim.anti_csrf
        # With the copied access token the thief reads where the victim is.
        assert _recorded_addresses(thief) == [VICTIM_ADDRESS]
        assert victim.refresh().status == 200
        # The victim's own duplicate (a lost answer, retried) is served by the grace window...
        assert retry.refresh().status == 200
        # ...the thief's is not, although it names the victim's address in every header.
        caught = thief.request("POST", "/refresh", headers=_forged(VICTIM_ADDRESS))
        assert caught.status == 440, caught.response.text
        assert caught.json() == {"message": "token theft detected"}
