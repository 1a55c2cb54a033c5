"""The npm package in a real bundled app, in Debian's Chromium (headless, driven as in
``tests/test_browser.py``, whose browser fixture and helpers this reuses).

``npm pack`` makes the tarball of ``clients/js``; it is installed into the small Vite + React +
TypeScript app ``tests/js_app/`` (its other dependencies come from the npm registry at test
time, by ``npm ci`` from its committed lock, into its git-ignored ``node_modules/``), which is
type-checked and built with Vite. The FastAPI example (access tokens of 2 s) serves the API; the
built app is served

- on its own origin with a proxy route to the API (same-origin, cookie mode), and
- with the API on another origin (``http://localhost:<api port>``), in header mode.

Covered: login, a request after expiry (one refresh, then the retry), two tabs meeting expiry at
once (one refresh, no logout), fetch and axios, ``useSession()`` re-rendering, sign-out (seen by
the other tab too), and theft ending the session with the theft event.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.js_client import ROOT, package_ready, run_npm
from tests.support.processes import free_port
from tests.support.web_apps import load_example
from tests.test_browser import PAST_EXPIRY, VALIDITY, Wire, chromium

pytestmark = pytest.mark.browser
__all__ = ["chromium"]  # the browser fixture, shared with tests/test_browser.py

APP = ROOT / "tests" / "js_app"
_APP_STAMP = APP / "node_modules" / ".sessionward-lock-sha256"
HOP_BY_HOP = {
    b"connection",
    b"content-length",
    b"transfer-encoding",
    b"content-encoding",
    b"keep-alive",
}


# --- the app, built ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def built_app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``tests/js_app/dist``: the app built against the packed tarball of ``clients/js``."""
    package = package_ready()
    packs = tmp_path_factory.mktemp("pack")
    meta = json.loads(run_npm("pack", "--json", "--pack-destination", str(packs), cwd=package))
    tarball = packs / meta[0]["filename"]
    files = {f["path"] for f in meta[0]["files"]}
    assert {"dist/index.js", "dist/index.d.ts", "dist/react.js", "README.md"} <= files, files
    assert not any(f.startswith(("node_modules/", "test/")) for f in files), files

    wanted = hashlib.sha256((APP / "package-lock.json").read_bytes()).hexdigest()
    if not (_APP_STAMP.is_file() and _APP_STAMP.read_text() == wanted):
        run_npm("ci", "--no-audit", "--no-fund", cwd=APP)  # the committed lock: vite 8.3.8
        _APP_STAMP.write_text(wanted)
    shutil.rmtree(APP / "node_modules" / "sessionward-client", ignore_errors=True)
    run_npm("install", "--no-audit", "--no-fund", "--no-save", str(tarball), cwd=APP)
    installed = APP / "node_modules" / "sessionward-client"
    assert not installed.is_symlink() and (installed / "dist" / "react.d.ts").is_file()
    run_npm("run", "build", cwd=APP)  # tsc --noEmit (strict), then vite build
    dist = APP / "dist"
    assert (dist / "index.html").is_file()
    return dist


# --- the servers ---------------------------------------------------------------------------------


class ThreadServer:
    """An ASGI app on uvicorn in a thread, on 127.0.0.1:``port``."""

    def __init__(self, app: Any, port: int) -> None:
        import uvicorn

        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ThreadServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "uvicorn did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def page_server(dist: Path, api: str) -> Any:
    """The built app at ``/`` and ``/assets``; every other path is proxied to ``api``."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import FileResponse, Response
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    upstream = httpx.AsyncClient(base_url=api, timeout=10)

    async def index(request: Request) -> Response:
        return FileResponse(dist / "index.html", headers={"Cache-Control": "no-store"})

    async def proxy(request: Request) -> Response:
        dropped = {b"host", *HOP_BY_HOP}
        headers = [(k, v) for k, v in request.headers.raw if k.lower() not in dropped]
        reply = await upstream.request(
            request.method,
            request.url.path,
            params=request.url.query or None,
            headers=headers,
            content=await request.body(),
        )
        response = Response(reply.content, status_code=reply.status_code)
        kept = [(k, v) for k, v in reply.headers.raw if k.lower() not in HOP_BY_HOP]
        response.raw_headers = [*kept, (b"content-length", str(len(reply.content)).encode())]
        return response

    methods = ["GET", "POST", "PUT", "DELETE", "PATCH"]
    return Starlette(
        routes=[
            Route("/", index),
            Mount("/assets", StaticFiles(directory=dist / "assets"), name="assets"),
            Route("/{path:path}", proxy, methods=methods),
        ]
    )


@dataclass
class Servers:
    page: str  # the app (and, through its proxy, the API): same origin
    api: str  # the API itself, on 127.0.0.1
    cross_api: str  # the API under another host name: another origin, another site
    log: list[str]


@pytest.fixture(scope="module")
def servers(built_app: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    from sessionward import AsyncSessionManager, Config, SessionHooks, SessionManager
    from sessionward.integrations.starlette import add_cors

    folder = tmp_path_factory.mktemp("js-app-api")
    api_port, page_port = free_port(), free_port()
    page = f"http://127.0.0.1:{page_port}"
    config = Config(
        refresh_path="/refresh",
        database_url=f"sqlite:///{folder}/api.sqlite3",
        access_token_validity=VALIDITY,
        allow_short_access_tokens=True,
        access_token_leeway=0,  # one server, one clock: expiry shows exactly when it happens
        cookie_secure=False,
    )
    with SessionManager(config) as setup:
        setup.create_tables()
    log: list[str] = []
    hooks = SessionHooks(on_token_theft=lambda event: log.append(f"theft {event.reason}"))
    manager = AsyncSessionManager(config, hooks=hooks)
    api_app = load_example("fastapi_app").create_app(manager)
    add_cors(api_app, [page])  # the header-mode page calls the API from another origin
    api = f"http://127.0.0.1:{api_port}"
    with ThreadServer(api_app, api_port), ThreadServer(page_server(built_app, api), page_port):
        yield Servers(page, api, f"http://localhost:{api_port}", log)


# --- driving the app -----------------------------------------------------------------------------


def open_app(context: Any, url: str) -> Any:
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    warnings: list[str] = []
    page.on("console", lambda m: warnings.append(m.text) if m.type == "warning" else None)
    page.goto(url)
    page.wait_for_selector("#status:not([data-status=loading])", timeout=10_000)
    page.errors, page.warnings = errors, warnings
    return page


def status(page: Any) -> str:
    return str(page.get_attribute("#status", "data-status"))


def log_in(page: Any, user: str) -> None:
    page.fill("#user-input", user)
    page.click("#login")
    page.wait_for_selector("#status[data-status=signedIn]", timeout=10_000)
    page.wait_for_function("document.getElementById('user').textContent !== ''")


def click(page: Any, button: str) -> str:
    seq = page.get_attribute("#result", "data-seq")
    page.click(button)
    page.wait_for_function(
        f"document.getElementById('result').dataset.seq !== {seq!r}", timeout=10_000
    )
    return str(page.text_content("#result"))


def test_same_origin_cookie_mode(chromium: Any, servers: Servers) -> None:
    context = chromium.new_context()
    wire = Wire(context)
    first = open_app(context, servers.page + "/")
    assert status(first) == "signedOut" and first.text_content("#end-reason") == ""

    log_in(first, "alice")
    assert first.text_content("#user") == "alice"  # from the front token, no /me call
    assert json.loads(first.text_content("#payload") or "") == {"userId": "alice", "role": "tester"}
    assert wire.count("GET", "/me") == 0
    cookies = {c["name"]: c for c in context.cookies()}
    assert cookies["sRefreshToken"]["httpOnly"] and cookies["sRefreshToken"]["path"] == "/refresh"
    assert click(first, "#like-fetch").startswith('fetch 200 {"liked":true')
    assert wire.count("POST", "/refresh") == 0

    # Expired: fetch refreshes exactly once and retries; useSession re-renders on the refresh.
    renders = first.evaluate("window.app.renders")
    time.sleep(PAST_EXPIRY)
    assert click(first, "#like-fetch").startswith('fetch 200 {"liked":true')
    assert wire.statuses("POST", "/like") == [200, 440, 200], wire.events
    assert wire.statuses("POST", "/refresh") == [200], wire.events
    first.wait_for_function(f"window.app.renders > {renders} + 1")  # the result, and the refresh
    assert first.evaluate("window.app.events") == ["refreshed"]

    # ...and axios the same, sharing the session with fetch.
    time.sleep(PAST_EXPIRY)
    assert click(first, "#like-axios").startswith('axios 200 {"liked":true')
    assert wire.statuses("POST", "/like")[-2:] == [440, 200], wire.events
    assert wire.statuses("POST", "/refresh") == [200, 200]

    # Two tabs meet the expired token at once, one through fetch, one through axios: the
    # refresh is held until both have, so they really collide. One refresh; both retry.
    second = open_app(context, servers.page + "/")
    assert status(second) == "signedIn" and second.text_content("#user") == "alice"
    time.sleep(PAST_EXPIRY)
    wire.clear()
    held: list[Any] = []
    context.route("**/refresh", lambda route: held.append(route))
    start_at = first.evaluate("Date.now() + 400")
    schedule = """([at, how]) => {
        window.callResult = null;
        setTimeout(async () => {
            try {
                window.callResult = how === "fetch"
                    ? (await window.app.client.fetch("/like", { method: "POST" })).status
                    : (await window.app.api.post("/like")).status;
            } catch (error) {
                window.callResult = error.response ? error.response.status : String(error);
            }
        }, at - Date.now());
    }"""
    first.evaluate(schedule, [start_at, "fetch"])
    second.evaluate(schedule, [start_at, "axios"])
    deadline = time.monotonic() + 15
    while not (held and wire.statuses("POST", "/like").count(440) == 2):
        assert time.monotonic() < deadline, (held, wire.events)
        first.wait_for_timeout(20)
    first.wait_for_timeout(200)  # a second refresh, if one were sent, shows up here
    for route in held:
        route.continue_()
    context.unroute("**/refresh")
    for page in (first, second):
        page.wait_for_function("window.callResult !== null", timeout=15_000)
        assert page.evaluate("window.callResult") == 200, wire.events
    assert wire.statuses("POST", "/refresh") == [200], wire.events
    assert sorted(wire.statuses("POST", "/like")) == [200, 200, 440, 440]
    assert status(first) == status(second) == "signedIn"

    # Sign-out: this tab at once, the other through the storage event.
    first.click("#sign-out")
    first.wait_for_selector("#status[data-status=signedOut]")
    assert first.text_content("#end-reason") == "signedOut"
    second.wait_for_selector("#status[data-status=signedOut]", timeout=5_000)
    assert {c["name"] for c in context.cookies()} & {"sAccessToken", "sIdRefreshToken"} == set()
    assert first.evaluate("window.app.events")[-1] == "signedOut"
    for page in (first, second):
        assert page.errors == [] and page.warnings == [], (page.errors, page.warnings)
    assert not [line for line in servers.log if line.startswith("theft")]
    context.close()


def test_cross_origin_header_mode(chromium: Any, servers: Servers) -> None:
    context = chromium.new_context()
    wire = Wire(context)
    sent: list[tuple[str, dict[str, str]]] = []
    context.on("request", lambda r: sent.append((r.url, r.headers)) if "/like" in r.url else None)
    page = open_app(context, f"{servers.page}/?mode=header&api={servers.cross_api}")
    assert status(page) == "signedOut"
    log_in(page, "bob")
    assert page.text_content("#user") == "bob"
    assert context.cookies() == []  # header mode: no cookie, on either origin
    assert click(page, "#like-fetch").startswith('fetch 200 {"liked":true')
    url, headers = sent[-1]
    assert url == servers.cross_api + "/like"  # another origin (another site, even)
    assert headers["authorization"].startswith("Bearer ") and "anti-csrf" not in headers
    time.sleep(PAST_EXPIRY)
    assert click(page, "#like-axios").startswith('axios 200 {"liked":true')
    assert wire.statuses("POST", "/refresh") == [200], wire.events
    assert wire.statuses("POST", "/like") == [200, 440, 200], wire.events
    time.sleep(PAST_EXPIRY)
    assert click(page, "#like-fetch").startswith("fetch 200")
    assert wire.statuses("POST", "/refresh") == [200, 200]
    assert page.evaluate("window.app.client.serverProtocol") == 1  # exposed through CORS
    page.click("#sign-out")
    page.wait_for_selector("#status[data-status=signedOut]")
    assert wire.statuses("POST", "/logout") == [200]
    assert page.evaluate("window.app.client.doesSessionExist()") is False
    assert page.errors == [] and page.warnings == [], (page.errors, page.warnings)
    context.close()


def test_theft_ends_the_session_with_the_theft_event(chromium: Any, servers: Servers) -> None:
    """An unbound session (``?pop=0``): a copy of the cookies is refreshed and used elsewhere;
    the app's next refresh presents the spent token: theft, and the hook says so."""
    context = chromium.new_context()
    page = open_app(context, servers.page + "/?pop=0")
    log_in(page, "carol")
    jar = {c["name"]: c["value"] for c in context.cookies()}
    with httpx.Client(base_url=servers.api, headers={"User-Agent": "attacker/1.0"}) as thief:
        refresh = thief.post(
            "/refresh",
            headers={"Cookie": f"sRefreshToken={jar['sRefreshToken']}; "
                     f"sIdRefreshToken={jar['sIdRefreshToken']}"},
        )  # fmt: skip
        assert refresh.status_code == 200
        access = refresh.cookies["sAccessToken"]
        copied = f"sAccessToken={access}; sIdRefreshToken={jar['sIdRefreshToken']}"
        me = thief.get("/me", headers={"Cookie": copied})
        assert me.status_code == 200 and me.json()["userId"] == "carol"  # the copy works once
    assert page.evaluate("window.app.client.refresh()") == "theft"
    page.wait_for_selector("#status[data-status=signedOut]")
    assert page.text_content("#end-reason") == "theftDetected"
    assert page.evaluate("window.app.events") == ["theftDetected"]
    assert any(line.startswith("theft") for line in servers.log), servers.log
    context.close()
