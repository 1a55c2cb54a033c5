"""The whole system in a real browser: Debian's Chromium, headless, driven over CDP (Playwright).

- The demo page (the real ``sessionward demo`` command, access tokens of 2 s): log in, call the
  API, wait past expiry, the next call succeeds through exactly one refresh; two tabs hitting
  expiry at the same moment share one refresh (Web Locks) and neither is logged out; the theft
  demonstration; logout. A screenshot is saved to ``artifacts/browser/`` (and to
  ``docs/demo.png`` with ``SESSIONWARD_UPDATE_SCREENSHOT=1``).
- The original frontend SDK, npm ``supertokens-website`` 4.2.0 and 5.x (installed at run time
  into a scratch folder, never committed), loaded into a page served next to the unchanged demo
  API: login, an API call with its anti-CSRF header, a transparent refresh, logout.

Chromium is required: without it these tests fail (``.ci/run`` installs it), never skip.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.demo_server import ROOT, DemoProcess, free_port, running_demo, wait_until_serving

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("SESSIONWARD_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--disable-quic",
    "--disable-component-update",
    "--disable-sync",
]
VALIDITY = 2  # seconds of access-token life in these tests
PAST_EXPIRY = VALIDITY + 0.6  # expiry is rounded down to the second, so this is always past it
ARTIFACTS = ROOT / "artifacts" / "browser"
NPM_CACHE = Path(tempfile.gettempdir()) / "sessionward-test-npm"


# --- the browser ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """One headless Chromium for the module; each test gets fresh contexts (cookie jars)."""
    if not shutil.which(CHROMIUM):
        pytest.fail(
            f"no Chromium at {CHROMIUM}: `apt-get install chromium` (as .ci/run does)",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # Playwright starts Chromium with a fresh temporary --user-data-dir of its own.
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class Wire:
    """Every request and response of a browser context, as (method, path, status)."""

    def __init__(self, context: Any) -> None:
        self.events: list[tuple[str, str, int]] = []
        context.on("response", self._on_response)

    def _on_response(self, response: Any) -> None:
        path = re.sub(r"^https?://[^/]+", "", response.url).split("?")[0]
        self.events.append((response.request.method, path, response.status))

    def count(self, method: str, path: str) -> int:
        return sum(1 for m, p, _ in self.events if (m, p) == (method, path))

    def statuses(self, method: str, path: str) -> list[int]:
        return [s for m, p, s in self.events if (m, p) == (method, path)]

    def clear(self) -> None:
        self.events.clear()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoProcess]:
    """The real ``sessionward demo`` command with 2-second access tokens, on a temp SQLite file."""
    folder = tmp_path_factory.mktemp("demo")
    with running_demo(folder, "--access-token-validity", str(VALIDITY)) as process:
        yield process
    assert "Traceback" not in process.log()


def open_demo(context: Any, demo: DemoProcess) -> Any:
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(demo.url + "/")
    page.wait_for_selector("body[data-ready=true]", timeout=10_000)
    assert errors == [], errors
    return page


def log_in(page: Any, user: str, *, bind: bool = True) -> None:
    page.fill("#user-id-input", user)
    page.set_checked("#bind-key", bind)
    page.click("#login-button")
    page.wait_for_selector("#session-panel:not([hidden])", timeout=10_000)


def click_call_api(page: Any) -> str:
    page.evaluate("document.getElementById('api-result').textContent = 'pending'")
    page.click("#call-api")
    page.wait_for_function(
        "document.getElementById('api-result').textContent !== 'pending'", timeout=10_000
    )
    return str(page.text_content("#api-result"))


# --- the demo page ---------------------------------------------------------------------------


def test_login_api_expiry_one_refresh_logout(chromium: Any, demo: DemoProcess) -> None:
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    wire = Wire(context)
    page = open_demo(context, demo)
    assert page.text_content("#status") == "not logged in"

    log_in(page, "alice")
    assert page.text_content("#status") == "logged in as alice"
    assert page.text_content("#user-id") == "alice"
    assert json.loads(page.text_content("#jwt-payload") or "") == {
        "userId": "alice",
        "role": "tester",
    }
    assert json.loads(page.input_value("#session-data")) == {"visits": 0}
    assert page.locator("#sessions-body tr").count() == 1
    cookies = {c["name"]: c for c in context.cookies()}
    assert cookies["sAccessToken"]["httpOnly"] and cookies["sRefreshToken"]["httpOnly"]
    assert cookies["sRefreshToken"]["path"] == "/refresh"
    assert not cookies["sIdRefreshToken"]["httpOnly"]
    assert all(not c["secure"] and c["sameSite"] == "Lax" for c in cookies.values())

    assert click_call_api(page).startswith('200 {"liked":true')
    assert wire.count("POST", "/refresh") == 0

    time.sleep(PAST_EXPIRY)
    assert click_call_api(page).startswith('200 {"liked":true')
    assert wire.statuses("POST", "/like") == [200, 440, 200]
    assert wire.statuses("POST", "/refresh") == [200]  # exactly one refresh
    assert page.text_content("#refresh-count") == "1"
    assert page.text_content("#status") == "logged in as alice"

    # A write after another expiry: the body is sent again on the retry.
    time.sleep(PAST_EXPIRY)
    page.fill("#session-data", '{"visits": 7}')
    page.click("#save-data")
    page.wait_for_function("document.getElementById('data-result').textContent === 'saved'")
    assert wire.statuses("POST", "/refresh") == [200, 200]
    assert page.evaluate("fetch('/session-data').then(r => r.json())") == {"data": {"visits": 7}}

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "demo.png"), full_page=True)
    if os.environ.get("SESSIONWARD_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(ARTIFACTS / "demo.png", ROOT / "docs" / "demo.png")

    page.click("#logout")
    page.wait_for_selector("#login-panel:not([hidden])")
    assert page.text_content("#status") == "logged out"
    assert page.is_disabled("#attacker-copy") and page.is_disabled("#victim-refresh")
    assert {c["name"] for c in context.cookies()} & {"sAccessToken", "sIdRefreshToken"} == set()
    assert page.evaluate("window.demo.client.doesSessionExist()") is False
    wire.clear()
    assert page.evaluate("window.demo.client.fetch('/me').then(r => r.status)") == 440
    assert wire.count("POST", "/refresh") == 0  # no session: nothing to refresh
    context.close()


def test_two_tabs_at_expiry_share_one_refresh(chromium: Any, demo: DemoProcess) -> None:
    context = chromium.new_context()
    wire = Wire(context)
    first = open_demo(context, demo)
    log_in(first, "bob")
    second = open_demo(context, demo)  # the same browser: it finds the session
    assert second.text_content("#status") == "logged in as bob"
    handle = first.text_content("#session-handle")
    assert second.text_content("#session-handle") == handle

    time.sleep(PAST_EXPIRY)
    wire.clear()
    # (a slow start may already have refreshed once: count from here)
    before = [p.evaluate("window.demo.client.refreshCount") for p in (first, second)]
    # Hold the refresh until both tabs have met the expired token, so that the two really
    # collide however slowly this machine runs (otherwise a late tab simply finds new cookies).
    held: list[Any] = []
    context.route("**/refresh", lambda route: held.append(route))
    start_at = first.evaluate("Date.now() + 400")
    schedule = """at => {
        window.callResult = null;
        setTimeout(async () => {
            const r = await window.demo.callApi();
            window.callResult = r.status;
        }, at - Date.now());
    }"""
    first.evaluate(schedule, start_at)
    second.evaluate(schedule, start_at)
    deadline = time.monotonic() + 15
    while not (held and wire.statuses("POST", "/like").count(440) == 2):
        assert time.monotonic() < deadline, (held, wire.events)
        first.wait_for_timeout(20)
    first.wait_for_timeout(200)  # a second refresh, if the client were to send one, shows up
    for route in held:
        route.continue_()
    context.unroute("**/refresh")
    for page in (first, second):
        page.wait_for_function("window.callResult !== null", timeout=15_000)
        assert page.evaluate("window.callResult") == 200, wire.events
    assert sorted(wire.statuses("POST", "/like")) == [200, 200, 440, 440]  # both hit expiry
    assert wire.statuses("POST", "/refresh") == [200]  # one refresh; the other tab retried
    counts = [p.evaluate("window.demo.client.refreshCount") for p in (first, second)]
    assert sorted(c - b for c, b in zip(counts, before, strict=True)) == [0, 1]

    for page in (first, second):
        assert page.text_content("#status") == "logged in as bob"
        assert page.evaluate("window.demo.client.doesSessionExist()") is True
    # Through the client, which refreshes if the 2-second token has expired again by now (a
    # plain fetch would then read the 440's body, not the devices).
    listing = first.evaluate("window.demo.client.fetch('/devices').then(r => r.json())")
    assert [d["sessionHandle"] for d in listing["devices"]] == [handle]  # still the one session
    assert "theft" not in demo.log()
    context.close()


IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
DESKTOP_CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


def test_devices_panel_signs_out_the_other_browser_at_its_next_request(
    chromium: Any, demo: DemoProcess
) -> None:
    """Two browser profiles of one user: each lists both devices and marks itself; "sign out
    all other devices" in one ends the other at its very next request (its access token is
    still valid: the revocation, not the expiry, refuses it), and the event log says why."""
    laptop_context = chromium.new_context(user_agent=DESKTOP_CHROME)
    phone_context = chromium.new_context(user_agent=IPHONE)
    phone_wire = Wire(phone_context)
    laptop = open_demo(laptop_context, demo)
    phone = open_demo(phone_context, demo)
    log_in(laptop, "dave")
    log_in(phone, "dave")
    laptop.click("#reload-sessions")
    laptop.wait_for_function("document.querySelectorAll('#sessions-body tr').length === 2")
    rows = laptop.locator("#sessions-body tr")
    labels = sorted(rows.nth(i).locator("td").first.text_content() or "" for i in range(2))
    assert labels == ["Chrome on Linux", "Mobile Safari on iOS"], labels
    current = laptop.locator("#sessions-body tr.current")
    assert current.count() == 1
    assert current.get_attribute("data-handle") == laptop.text_content("#session-handle")
    assert "this device" in (current.text_content() or "")
    assert (phone.locator("#sessions-body tr.current").get_attribute("data-handle")
            == phone.text_content("#session-handle"))  # fmt: skip

    laptop.click("#revoke-others")
    laptop.wait_for_function("document.querySelectorAll('#sessions-body tr').length === 1")
    assert laptop.locator("#sessions-body tr.current").count() == 1
    phone_wire.clear()
    signed_out_at = time.monotonic()
    assert click_call_api(phone).startswith("440")  # well inside its 2-s access token's life
    assert time.monotonic() - signed_out_at < VALIDITY
    phone.wait_for_selector("#login-panel:not([hidden])")
    assert phone.text_content("#status") == "logged out: the session is over"
    assert phone_wire.statuses("POST", "/like") == [440]
    # The refusal cleared its cookies, so its client knows the session is over: no refresh.
    assert phone_wire.statuses("POST", "/refresh") == []
    assert phone.evaluate("window.demo.client.doesSessionExist()") is False

    assert click_call_api(laptop).startswith('200 {"liked":true')
    laptop.click("#reload-sessions")
    laptop.wait_for_selector("#events li[data-type=revoked][data-reason=logout]")
    # Newest first: the revocation, unless the laptop's 2-s access token expired meanwhile (a
    # loaded machine) and its call refreshed, which is then the only newer kind of event.
    types = laptop.locator("#events li").evaluate_all("items => items.map(i => i.dataset.type)")
    newer = types[: types.index("revoked")]
    assert set(newer) <= {"refreshed"}, types
    revoked = laptop.locator("#events li[data-type=revoked]").first
    assert "Mobile Safari" not in (revoked.text_content() or "")  # no client on a revoke
    created = laptop.locator("#events li[data-type=created]")
    assert created.count() == 2
    assert "Mobile Safari on iOS" in (laptop.text_content("#events") or "")
    laptop_context.close()
    phone_context.close()


def test_theft_demonstration_logs_both_out(chromium: Any, demo: DemoProcess) -> None:
    """An unbound session: the copy works once, and the rotation catches it."""
    context = chromium.new_context()
    page = open_demo(context, demo)
    session_buttons = ("#attacker-copy", "#victim-refresh")
    # Logged out, the demonstration's own steps cannot start.
    assert all(page.is_disabled(button) for button in session_buttons)
    log_in(page, "carol", bind=False)
    assert all(page.is_enabled(button) for button in session_buttons)
    page.click("#attacker-copy")
    page.wait_for_function("document.getElementById('theft-status').textContent.includes('copy')")
    page.click("#attacker-use")
    page.wait_for_function(
        "document.getElementById('theft-status').textContent.includes('working session')"
    )
    page.click("#victim-refresh")
    page.wait_for_selector("#theft-status.theft")
    assert "token theft detected" in (page.text_content("#theft-status") or "")
    page.wait_for_selector("#login-panel:not([hidden])")
    assert "token theft" in (page.text_content("#status") or "")
    # The wire log names the refresh's answer for what it is, not "the session is over".
    wire = page.locator("#log li").all_text_contents()
    refused = [line for line in wire if "POST /refresh → 440" in line]
    assert refused and "token theft detected" in refused[0], wire
    assert all(page.is_disabled(button) for button in session_buttons)
    page.click("#attacker-again")
    page.wait_for_function(
        "document.getElementById('theft-status').textContent.includes('session is over')"
    )
    assert page.evaluate("window.demo.client.doesSessionExist()") is False
    context.close()


def test_a_bound_session_makes_a_copied_refresh_token_worthless(
    chromium: Any, demo: DemoProcess
) -> None:
    """Proof of possession, by default: the key lives in IndexedDB, non-extractable, shared by
    the tabs; refreshes from any tab are signed; the attacker's copy is theft at first use."""
    context = chromium.new_context()
    wire = Wire(context)
    page = open_demo(context, demo)
    log_in(page, "erin")
    key = page.evaluate(
        """() => new Promise((resolve, reject) => {
            const open = indexedDB.open("sessionward");
            open.onerror = () => reject(open.error);
            open.onsuccess = () => {
                const get = open.result.transaction("keys").objectStore("keys")
                    .get("key:" + location.origin);
                get.onsuccess = () => resolve({
                    type: get.result.privateKey.type,
                    extractable: get.result.privateKey.extractable,
                    algorithm: get.result.privateKey.algorithm,
                });
            };
        })"""
    )
    assert key == {
        "type": "private",
        "extractable": False,
        "algorithm": {"name": "ECDSA", "namedCurve": "P-256"},
    }
    # A second tab (same browser profile) refreshes with the same key, found in IndexedDB.
    second = open_demo(context, demo)
    assert second.text_content("#status") == "logged in as erin"
    time.sleep(PAST_EXPIRY)
    wire.clear()
    assert click_call_api(second).startswith('200 {"liked":true')
    assert wire.statuses("POST", "/refresh") == [200]
    # ...and after a reload of the first tab too.
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    time.sleep(PAST_EXPIRY)
    assert click_call_api(page).startswith('200 {"liked":true')
    assert wire.statuses("POST", "/refresh") == [200, 200]

    page.click("#attacker-copy")
    page.wait_for_function("document.getElementById('theft-status').textContent.includes('copy')")
    page.click("#attacker-use")
    page.wait_for_selector("#theft-status.theft")
    status = page.text_content("#theft-status") or ""
    assert "token theft detected" in status and "cannot sign a proof" in status
    # The session is revoked for the victim too: its next refresh finds no session.
    assert page.evaluate("window.demo.client.refresh()") == "expired"
    context.close()


# --- the original frontend SDK ---------------------------------------------------------------


def npm_package(name: str, version: str) -> Path:
    """``node_modules`` with ``name@version`` installed (cached in a scratch folder)."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is needed to fetch the frontend SDK (.ci/run installs it)", pytrace=False)
    folder = NPM_CACHE / f"{name}-{version}"
    modules = folder / "node_modules"
    if not (modules / name / "package.json").is_file():
        folder.mkdir(parents=True, exist_ok=True)
        quiet = ["--no-audit", "--no-fund", "--ignore-scripts", "--no-save"]
        result = subprocess.run(
            [npm, "install", *quiet, "--prefix", str(folder), f"{name}@{version}"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr
    return modules


_REQUIRE = re.compile(r"""require\(\s*["']([^"']+)["']\s*\)""")


def bundle_commonjs(modules: Path, package: str, global_name: str) -> str:
    """A browser script that defines ``window[global_name] = require(package)``: the package's
    CommonJS files as published, wrapped in a tiny loader (no build tool, no changes)."""

    def resolve(base: Path, spec: str) -> Path:
        if spec.startswith("."):
            target = (base / spec).resolve()
        else:
            meta = json.loads((modules / spec / "package.json").read_text())
            target = (modules / spec / meta.get("main", "index.js")).resolve()
        for candidate in (target, Path(f"{target}.js"), target / "index.js"):
            if candidate.is_file():
                return candidate
        raise AssertionError(f"cannot resolve require({spec!r}) from {base}")

    entry = resolve(modules, package)
    ids: dict[Path, int] = {}
    pending = [entry]
    definitions: list[str] = []
    while pending:
        path = pending.pop()
        if path in ids:
            continue
        ids[path] = len(ids)
        source = path.read_text()
        deps = {spec: resolve(path.parent, spec) for spec in _REQUIRE.findall(source)}
        pending += [d for d in deps.values() if d not in ids]
        wrapper = "function (module, exports, require, global, process)"
        requires = json.dumps({spec: str(dep) for spec, dep in deps.items()})
        definitions.append(f"defs[{ids[path]}] = [{wrapper} {{\n{source}\n}}, {requires}];")
    table = json.dumps({str(path): number for path, number in ids.items()})
    return (
        "(function () {\nvar defs = {}, cache = {}, ids = " + table + ";\n"
        + "\n".join(definitions)
        + """
function load(id) {
  if (cache[id]) return cache[id].exports;
  var module = { exports: {} };
  cache[id] = module;
  var def = defs[id];
  def[0].call(module.exports, module, module.exports, function (spec) {
    if (!(spec in def[1])) throw new Error("module not bundled: " + spec);
    return load(ids[def[1][spec]]);
  }, window, { env: {} });  // as bundlers provide them
  return module.exports;
}
window[""" + json.dumps(global_name) + "] = load(0);\n})();\n"
    )  # fmt: skip


class InProcessDemo:
    """The demo app (unchanged) plus a static folder for an SDK test page, on uvicorn."""

    def __init__(self, tmp: Path, static: Path, refresh_path: str) -> None:
        import uvicorn
        from starlette.staticfiles import StaticFiles

        from sessionward import AsyncSessionManager
        from sessionward.demo import DemoOptions, create_demo_app

        options = DemoOptions(
            database_url=f"sqlite:///{tmp}/sdk.sqlite3",
            access_token_validity=VALIDITY,
            refresh_path=refresh_path,
        )
        app = create_demo_app(AsyncSessionManager(options.config()))
        app.mount("/sdk-test", StaticFiles(directory=static, html=True), name="sdk-test")
        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> InProcessDemo:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            assert self.thread.is_alive(), "uvicorn stopped"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


SDK_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>sdk</title></head>
<body><script src="bundle.js"></script>
<script>window.sdk = window.supertokens.default; window.sdk.init(%s);</script></body></html>
"""


def run_sdk_scenario(chromium: Any, url: str, refresh_path: str) -> None:
    """Login, an API call (anti-CSRF), a transparent refresh, logout; all through the SDK's
    intercepted ``window.fetch``, exactly as an unchanged frontend would."""
    context = chromium.new_context()
    wire = Wire(context)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url + "/sdk-test/")
    page.wait_for_function("window.sdk !== undefined")

    def call(method: str, path: str, body: Any = None) -> Any:
        return page.evaluate(
            """async ([method, path, body]) => {
                const init = { method };
                if (body !== null) {
                    init.body = JSON.stringify(body);
                    init.headers = { "content-type": "application/json" };
                }
                const r = await fetch(path, init);
                return [r.status, await r.json().catch(() => null)];
            }""",
            [method, path, body],
        )

    assert page.evaluate("window.sdk.doesSessionExist()") is False
    assert call("POST", "/login", {"userId": "sdk-user"})[0] == 200
    assert page.evaluate("window.sdk.doesSessionExist()") is True
    assert call("POST", "/like") == [200, {"liked": True, "userId": "sdk-user"}]
    assert call("GET", "/me")[1]["userId"] == "sdk-user"
    assert wire.count("POST", refresh_path) == 0

    time.sleep(PAST_EXPIRY)
    assert call("POST", "/like") == [200, {"liked": True, "userId": "sdk-user"}]
    assert wire.statuses("POST", "/like")[-2:] == [440, 200]
    assert wire.statuses("POST", refresh_path) == [200]
    assert call("PUT", "/session-data", {"n": 1}) == [200, {"data": {"n": 1}}]  # new anti-CSRF

    assert call("POST", "/logout") == [200, {"status": "OK"}]
    assert page.evaluate("window.sdk.doesSessionExist()") is False
    assert call("POST", "/like")[0] == 440
    assert wire.count("POST", refresh_path) == 1  # no refresh attempted after logout
    assert errors == [], errors
    context.close()


def _sdk_site(tmp_path: Path, version: str, init: dict[str, Any]) -> Path:
    modules = npm_package("supertokens-website", version)
    site = tmp_path / "site"
    site.mkdir()
    (site / "bundle.js").write_text(bundle_commonjs(modules, "supertokens-website", "supertokens"))
    (site / "index.html").write_text(SDK_PAGE % json.dumps(init))
    return site


def test_supertokens_website_4_against_the_demo_api(chromium: Any, tmp_path: Path) -> None:
    site = _sdk_site(tmp_path, "4.2.0", {})
    with InProcessDemo(tmp_path, site, "/refresh") as server:
        url = f"http://localhost:{server.port}"
        # 4.x takes the refresh URL itself; it keys its id cookie on the page's host name.
        init = {"refreshTokenUrl": url + "/refresh", "sessionExpiredStatusCode": 440}
        (site / "index.html").write_text(SDK_PAGE % json.dumps(init))
        run_sdk_scenario(chromium, url, "/refresh")


def test_supertokens_website_5_against_the_demo_on_session_refresh(
    chromium: Any, tmp_path: Path
) -> None:
    site = _sdk_site(tmp_path, "5", {})
    with InProcessDemo(tmp_path, site, "/session/refresh") as server:
        url = f"http://localhost:{server.port}"
        # 5.x derives the refresh URL: apiDomain + apiBasePath + "/session/refresh".
        init = {"apiDomain": url, "apiBasePath": "/", "sessionExpiredStatusCode": 440}
        (site / "index.html").write_text(SDK_PAGE % json.dumps(init))
        run_sdk_scenario(chromium, url, "/session/refresh")


def test_the_demo_command_honours_refresh_path(tmp_path: Path) -> None:
    """``sessionward demo --refresh-path /session/refresh`` serves refresh (and the refresh
    cookie) there: what supertokens-website 5.x needs."""
    import httpx

    with running_demo(tmp_path, "--refresh-path", "/session/refresh") as process:
        wait_until_serving(process.url, process.process, process.log_path)
        with httpx.Client(base_url=process.url) as client:
            login = client.post("/login", json={"userId": "u"})
            assert "Path=/session/refresh" in ";".join(login.headers.get_list("set-cookie"))
            assert client.post("/session/refresh").status_code == 200
            assert client.post("/refresh").status_code in (404, 405)
