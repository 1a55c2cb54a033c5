"""Each example started by its one command, as a real server on loopback, spoken to over TCP."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.support.example_servers import COMMANDS, running_example, running_server
from tests.support.web_apps import EXAMPLES, TOKEN_COOKIES, Browser, Reply


@pytest.fixture(params=sorted(COMMANDS))
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    options = ("--access-token-validity", "2", "--blacklisting")
    with running_example(request.param, tmp_path, *options) as url:
        yield url


def test_example_server_speaks_the_api(server: str) -> None:
    with httpx.Client(base_url=server, timeout=10) as client:
        browser = Browser(client, time.time)
        login = browser.login("dave")
        assert set(TOKEN_COOKIES) <= set(login.cookies)
        assert "secure" not in login.cookies["sAccessToken"].attrs
        assert login.cookies["sRefreshToken"].attrs["path"] == "/refresh"
        me = browser.request("GET", "/me")
        assert me.status == 200 and me.json()["jwtPayload"] == {"userId": "dave", "role": "tester"}
        assert browser.request("POST", "/like", csrf=False).status == 440
        assert browser.request("POST", "/like").status == 200
        time.sleep(2.05)  # --access-token-validity 2 (expiries are whole seconds)
        expired = browser.request("GET", "/me")
        assert expired.status == 440 and expired.cookies == {}
        assert browser.refresh().status == 200
        assert browser.request("GET", "/me").status == 200
        copied = browser.cookie_header("/")
        assert browser.request("POST", "/logout").status == 200
        # --blacklisting: the copied access token is refused as unauthorised (cookies
        # cleared), not merely as expired
        after = browser.request("GET", "/me", cookies=copied)
        assert after.status == 440 and after.cleared_all


def test_resource_service_trusts_the_fastapi_example_by_its_jwks_url(tmp_path: Path) -> None:
    """Two servers over real HTTP: the FastAPI example signs with EdDSA; the resource service
    knows only its JWKS URL, and protects its routes with the same answers."""
    options = ("--signing-algorithm", "EdDSA")
    with running_example("fastapi", tmp_path, *options) as main_url:
        jwks_url = f"{main_url}/.well-known/jwks.json"
        resource = [str(EXAMPLES / "resource_service.py"), "--jwks-url", jwks_url]
        with (
            running_server("resource service", tmp_path, *resource) as resource_url,
            httpx.Client(base_url=main_url, timeout=10) as client,
            httpx.Client(base_url=resource_url, timeout=10) as other,
        ):
            browser = Browser(client, time.time)
            browser.login("dave")

            def call(method: str, *, csrf: bool = True, cookie: str | None = None) -> Reply:
                headers = {"Cookie": cookie or browser.cookie_header("/reports")}
                if csrf and browser.anti_csrf:
                    headers["anti-csrf"] = browser.anti_csrf
                return Reply(other.request(method, "/reports", headers=headers))

            reply = call("GET", csrf=False)
            assert reply.status == 200, reply.response.text
            assert reply.json() == {"user": "dave", "role": "tester"}
            refused = call("POST", csrf=False)  # a state change needs the anti-CSRF header
            assert refused.status == 440 and refused.json() == {
                "message": "try refresh token",
                "reason": "anti_csrf_missing",
            }
            assert refused.cookies == {}  # never touches the main app's cookies
            assert call("POST").json() == {"saved_for": "dave"}

            access = browser.cookie("sAccessToken")
            assert access is not None
            head, body, signature = access.split(".")
            tampered = f"sAccessToken={head}.{body[:-2]}AA.{signature}; sIdRefreshToken=x"
            assert call("GET", csrf=False, cookie=tampered).status == 440
            assert call("GET", csrf=False, cookie="sAccessToken=x").status == 440  # no session

            # A refreshed token works at once: the key was fetched, and a header-mode client
            # is served the same way.
            assert browser.refresh().status == 200
            assert browser.cookie("sAccessToken") != access
            assert call("GET", csrf=False).status == 200
            bearer = other.get("/reports", headers={"Authorization": f"Bearer {access}"})
            assert bearer.status_code == 200 and bearer.json()["user"] == "dave"
            published = client.get("/.well-known/jwks.json")
            assert published.json()["keys"][0]["alg"] == "EdDSA"
            assert "max-age=" in published.headers["cache-control"]

            # A logout at the main app reaches the resource service through the revocation
            # feed the JWK Set names, with no other flag (docs/microservices.md#revocations).
            current = browser.cookie_header("/reports")
            assert browser.request("POST", "/logout").status == 200
            started = time.monotonic()
            while call("GET", csrf=False, cookie=current).status == 200:
                assert time.monotonic() - started < 3.0, "the logout did not reach the service"
                time.sleep(0.05)
            after = call("GET", csrf=False, cookie=current)
            assert after.status == 440 and after.json() == {"message": "unauthorised"}


@pytest.mark.parametrize("framework", sorted(COMMANDS))
def test_example_says_where_it_listens_and_logs_no_unknown_status(
    framework: str, tmp_path: Path
) -> None:
    """Each example prints its address at start-up; a 440 is logged (Django logs every 4xx)
    with a reason phrase, never as "Unknown Status Code"."""
    with running_example(framework, tmp_path) as url, httpx.Client(base_url=url) as client:
        assert client.get("/me", timeout=10).status_code == 440
        time.sleep(0.2)  # let the server write its log line
    log = (tmp_path / f"{framework}.log").read_text()
    assert f"{framework} example: the API is at {url}/" in log
    assert "Unknown Status Code" not in log and "Traceback" not in log
    if framework == "django":
        assert "Session Expired: /me" in log


CONCURRENT_USERS = 50


def _one_user(url: str, user_id: str, start: threading.Barrier) -> list[int]:
    """A user's whole visit, started together with the others: every status it got."""
    with httpx.Client(base_url=url, timeout=30) as client:
        browser = Browser(client, time.time)
        start.wait(timeout=60)
        statuses = [browser.request("POST", "/login", json={"userId": user_id}).status]
        statuses.append(browser.request("GET", "/me").status)
        statuses.append(browser.refresh().status)
        statuses.append(browser.request("POST", "/like").status)
        statuses.append(browser.request("POST", "/logout").status)
        statuses.append(browser.request("GET", "/me").status)
        return statuses


@pytest.mark.parametrize("framework", sorted(COMMANDS))
def test_example_serves_fifty_concurrent_users(framework: str, tmp_path: Path) -> None:
    """Each example under 50 users at once (a login storm, then each one's requests): no
    connection reset or refused, no 5xx, every answer the protocol's. Django's development
    server once reset a login's connection here; the examples are served by uvicorn or a WSGI
    server with a real listen backlog. Bounded: 300 requests to loopback."""
    start = threading.Barrier(CONCURRENT_USERS)
    with (
        running_example(framework, tmp_path) as url,
        ThreadPoolExecutor(CONCURRENT_USERS) as pool,
    ):
        visits = [pool.submit(_one_user, url, f"user-{n}", start) for n in range(CONCURRENT_USERS)]
        statuses = [visit.result(timeout=120) for visit in visits]
    assert statuses == [[200, 200, 200, 200, 200, 440]] * CONCURRENT_USERS


@pytest.mark.parametrize("framework", sorted(COMMANDS))
def test_the_session_expired_status_line_is_as_documented(framework: str, tmp_path: Path) -> None:
    """docs/frameworks/transport.md: Flask and Django send "440 Session Expired"; uvicorn (ASGI
    has no reason phrase) sends "440" with none. Read from the raw status line."""
    import socket

    expected = {"fastapi": b"HTTP/1.1 440 \r\n", "flask": b"HTTP/1.1 440 Session Expired\r\n"}
    expected["django"] = b"HTTP/1.1 440 \r\n"  # served by uvicorn too (examples/django_app/asgi.py)
    with running_example(framework, tmp_path) as url:
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as connection:
            connection.sendall(b"GET /me HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            status_line = connection.makefile("rb").readline()
    assert status_line == expected[framework]
