"""What only one framework has: options of the protection idiom, CORS, Django's commands."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from flask import Flask, g, jsonify
from starlette.requests import Request

from sessionward import AsyncSessionManager, Config, ConfigError, SessionManager
from sessionward.integrations import flask as sw_flask
from sessionward.integrations import starlette as sw_starlette
from tests.support.web_apps import (
    EXAMPLE_SETTINGS,
    FRAMEWORKS,
    TOKEN_COOKIES,
    Browser,
    FlaskTestClientTransport,
    WebApp,
    django_setup,
    load_example,
)


@pytest.fixture
def config(make_config: Callable[..., Config]) -> Config:
    return make_config(**EXAMPLE_SETTINGS)


@pytest.mark.parametrize("backend", ["sqlite"])
def test_fastapi_optional_session_and_forced_csrf_and_cors(config: Config, clock: Any) -> None:
    from starlette.testclient import TestClient

    manager = AsyncSessionManager(config, clock=clock)
    app = FastAPI()
    sessions = sw_starlette.Sessionward(manager)
    sessions.install(app)
    sw_starlette.add_cors(app, ["https://app.example"])

    @app.get("/maybe")
    async def maybe(
        session: Annotated[
            sw_starlette.AsyncRequestSession | None,
            Depends(sw_starlette.verify_session(optional=True)),
        ],
    ) -> Any:
        return {"user": session.user_id if session else None}

    @app.get("/strict")
    async def strict(
        session: Annotated[
            sw_starlette.AsyncRequestSession, Depends(sw_starlette.verify_session(anti_csrf=True))
        ],
    ) -> Any:
        return {"user": session.user_id}

    @app.post("/login")
    async def login(request: Request) -> Any:
        await sw_starlette.create_new_session(request, "erin")
        return {}

    with TestClient(app) as client:
        browser = Browser(client, clock)
        assert browser.request("GET", "/maybe").json() == {"user": None}
        browser.request("POST", "/login")
        assert browser.request("GET", "/maybe").json() == {"user": "erin"}
        assert browser.request("GET", "/strict", csrf=False).status == 440
        assert browser.request("GET", "/strict").json() == {"user": "erin"}
        preflight = client.options(
            "/strict",
            headers={
                "Origin": "https://app.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "anti-csrf, supertokens-sdk-name, "
                "supertokens-sdk-version",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-credentials"] == "true"
        assert "anti-csrf" in preflight.headers["access-control-allow-headers"].lower()
        client.portal.call(manager.close)


@pytest.mark.parametrize("backend", ["sqlite"])
def test_flask_optional_session_and_csrf_off(config: Config, clock: Any) -> None:
    manager = SessionManager(config, clock=clock)
    app = Flask(__name__)
    sw_flask.Sessionward(app, manager)

    @app.get("/maybe")
    @sw_flask.verify_session(optional=True)
    def maybe() -> Any:
        return jsonify({"user": g.session.user_id if g.session else None})

    @app.post("/lenient")
    @sw_flask.verify_session(anti_csrf=False)
    def lenient() -> Any:
        return jsonify({"user": g.session.user_id})

    @app.post("/login")
    def login() -> Any:
        sw_flask.create_new_session("frank")
        return jsonify({})

    with httpx.Client(transport=FlaskTestClientTransport(app), base_url="http://t") as client:
        browser = Browser(client, clock)
        assert browser.request("GET", "/maybe").json() == {"user": None}
        browser.request("POST", "/login")
        assert browser.request("GET", "/maybe").json() == {"user": "frank"}
        assert browser.request("POST", "/lenient", csrf=False).json() == {"user": "frank"}
        # optional means "no session is fine", but a broken access token still asks for refresh
        assert (
            browser.request("GET", "/maybe", cookies="sIdRefreshToken=x; sAccessToken=y").status
            == 440
        )
    manager.close()


@pytest.mark.parametrize("backend", ["sqlite"])
def test_django_management_commands(config: Config, clock: Any) -> None:
    django_setup()
    from django.core.management import call_command

    from sessionward.integrations import django as sw_django

    manager = SessionManager(config, clock=clock)
    sw_django.configure(manager)
    try:
        out = io.StringIO()
        call_command("sessionward_create_tables", stdout=out)
        assert "ready" in out.getvalue()
        manager.create_new_session("gina")
        manager.create_new_session("gina")
        call_command("sessionward_revoke_user", "gina", stdout=out)
        assert "revoked 2 session(s)" in out.getvalue()
        assert manager.get_all_session_handles_for_user("gina") == []
        manager.create_new_session("hal")
        clock.advance(config.refresh_token_validity + 1)
        call_command("sessionward_purge", stdout=out)
        assert "purged 1 expired session(s)" in out.getvalue()
    finally:
        sw_django.configure(None)
        manager.close()


def test_django_database_url_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Read from a ``DATABASES`` entry (passed in: overriding ``DATABASES`` itself makes Django
    warn), and by default from the settings' ``default`` entry."""
    django_setup()
    from django.conf import settings

    from sessionward.integrations.django import database_url_from_django

    pg = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "app",
        "USER": "u",
        "PASSWORD": "p@ss",
        "HOST": "db",
        "PORT": "5432",
    }
    assert database_url_from_django(pg) == "postgresql://u:p%40ss@db:5432/app"
    lite = {"ENGINE": "django.db.backends.sqlite3", "NAME": "/tmp/x.sqlite3"}
    assert database_url_from_django(lite) == "sqlite:////tmp/x.sqlite3"
    with pytest.raises(ConfigError, match="oracle"):
        database_url_from_django({"ENGINE": "django.db.backends.oracle"})
    # By default the settings' "default" entry (set here without override_settings, whose
    # signal is what warns about DATABASES).
    monkeypatch.setattr(settings, "DATABASES", {"default": pg})
    assert database_url_from_django() == "postgresql://u:p%40ss@db:5432/app"


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_django_under_asgi_uses_the_async_middleware_path(config: Config, clock: Any) -> None:
    django_setup()
    from django.test import AsyncClient

    from sessionward.integrations import django as sw_django

    manager = SessionManager(config, clock=clock)
    sw_django.configure(manager)
    try:
        client = AsyncClient()
        login = await client.post("/login", {"userId": "ivy"}, content_type="application/json")
        assert login.status_code == 200
        cookies = {name: login.cookies[name].value for name in login.cookies}
        assert set(cookies) == {"sAccessToken", "sRefreshToken", "sIdRefreshToken"}
        me = await client.get("/me")  # the async view, in an async middleware chain
        assert me.status_code == 200 and me.json()["userId"] == "ivy"
        clock.advance(66)  # validity 60 s + leeway 5 s
        assert (await client.get("/me")).status_code == 440
        refreshed = await client.post("/refresh")  # served by the middleware's async branch
        assert refreshed.status_code == 200
        assert refreshed.cookies["sRefreshToken"].value != cookies["sRefreshToken"]
        assert (await client.get("/me")).status_code == 200
        csrf = refreshed.headers["anti-csrf"]
        assert (await client.post("/logout", headers={"anti-csrf": csrf})).status_code == 200
        after = await client.post("/refresh")
        assert after.status_code == 440 and after.headers["id-refresh-token"] == "remove"
    finally:
        sw_django.configure(None)
        manager.close()


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_secure_cookies_over_plain_http_log_one_warning_naming_the_setting(
    make_web_app: Callable[..., WebApp], caplog: pytest.LogCaptureFixture
) -> None:
    """The guides' trap: Secure cookies set over http are never sent back, so every later
    request is refused. The first such login says so, once, and names ``cookie_secure``."""
    web = make_web_app(cookie_secure=True)
    with caplog.at_level(logging.WARNING, logger="sessionward"):
        first = web.browser()
        login = first.login("amy")
        assert "secure" in login.cookies["sAccessToken"].attrs
        assert first.refresh().status == 200  # (this test browser ignores Secure)
        web.browser().login("bob")
    warnings = [r for r in caplog.records if r.name == "sessionward"]
    assert [r.levelno for r in warnings] == [logging.WARNING]
    message = warnings[0].getMessage()
    assert "cookie_secure=False" in message and "plain-http" in message
    for name in TOKEN_COOKIES:  # never a token in the log
        assert str(first.cookie(name)) not in caplog.text


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_no_warning_behind_a_tls_proxy_or_with_cookie_secure_off(
    make_web_app: Callable[..., WebApp], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="sessionward"):
        behind_tls = make_web_app(cookie_secure=True)
        reply = behind_tls.browser().request(
            "POST", "/login", json={"userId": "amy"}, headers={"X-Forwarded-Proto": "https"}
        )
        assert reply.status == 200 and "secure" in reply.cookies["sAccessToken"].attrs
        # (after the first: Django's integration has one manager per process)
        local_browser = make_web_app(cookie_secure=False).browser()
        assert "secure" not in local_browser.login("bob").cookies["sAccessToken"].attrs
        assert local_browser.refresh().status == 200
    # Nothing to warn of (the security log's INFO records, a signing key created, may be there).
    warned = [r for r in caplog.records if r.name == "sessionward" and r.levelno >= logging.WARNING]
    assert warned == []


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_anti_csrf_failures_say_which_in_the_body(make_web_app: Callable[..., WebApp]) -> None:
    """The status stays the protocol's (the SDKs read only that), the body tells a curl user
    that the header, not the token, is the problem."""
    browser = make_web_app().browser()
    browser.login("amy")
    missing = browser.request("POST", "/like", csrf=False)
    assert missing.status == 440
    assert missing.json() == {"message": "try refresh token", "reason": "anti_csrf_missing"}
    wrong = browser.request("POST", "/like", headers={"anti-csrf": "x" * 43})
    assert wrong.status == 440
    assert wrong.json() == {"message": "try refresh token", "reason": "anti_csrf_mismatch"}
    expired = browser.request("GET", "/me", cookies="sIdRefreshToken=x; sAccessToken=garbage")
    assert expired.status == 440 and expired.json() == {"message": "try refresh token"}


@pytest.mark.parametrize("backend", ["sqlite"])
def test_440_has_a_reason_phrase_so_django_logs_no_unknown_status(
    config: Config, clock: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Django logs every 4xx as "<reason phrase>: <path>"; 440 has no standard phrase, so
    without one each expiry logged "Unknown Status Code: /me"."""
    django_setup()
    from django.test import Client

    from sessionward.integrations import django as sw_django

    manager = SessionManager(config, clock=clock)
    sw_django.configure(manager)
    try:
        with caplog.at_level(logging.WARNING, logger="django.request"):
            response = Client().get("/me")
        assert response.status_code == 440 and response.reason_phrase == "Session Expired"
        assert "Unknown Status Code" not in caplog.text
        assert "Session Expired: /me" in caplog.text
    finally:
        sw_django.configure(None)
        manager.close()
    flask_manager = SessionManager(config, clock=clock)
    app = load_example("flask_app").create_app(flask_manager)
    assert app.test_client().get("/me").status == "440 Session Expired"  # not "440 UNKNOWN"
    flask_manager.close()


_TWO_LINES = [("x-forwarded-for", "203.0.113.99"), ("x-forwarded-for", "198.51.100.66")]


def _asgi_scope(lines: list[tuple[str, str]]) -> dict[str, Any]:
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in lines]
    return {"type": "http", "method": "GET", "path": "/", "query_string": b"", "headers": headers}


@pytest.mark.parametrize("framework", [*FRAMEWORKS, "django-asgi"])
def test_every_adapter_reads_a_repeated_header_as_one_list_in_order(framework: str) -> None:
    """A proxy that adds its own X-Forwarded-For line after a client's (HAProxy) must reach
    client_ip as the right end of one list, whatever the framework (docs/security.md)."""
    if framework == "fastapi":
        request = Request(_asgi_scope(_TWO_LINES))
        value = sw_starlette._RequestAdapter(request).get_header("X-Forwarded-For")
    elif framework == "flask":
        with Flask(__name__).test_request_context(headers=_TWO_LINES):
            value = sw_flask._RequestAdapter().get_header("X-Forwarded-For")
    else:
        django_setup()
        from django.core.handlers.asgi import ASGIRequest
        from django.test import RequestFactory

        from sessionward.integrations import django as sw_django

        if framework == "django":  # what a WSGI server hands in: the lines already joined
            wsgi = RequestFactory().get("/", HTTP_X_FORWARDED_FOR="203.0.113.99,198.51.100.66")
            value = sw_django._RequestAdapter(wsgi).get_header("X-Forwarded-For")
        else:
            asgi = ASGIRequest(_asgi_scope(_TWO_LINES), io.BytesIO())
            value = sw_django._RequestAdapter(asgi).get_header("X-Forwarded-For")
    assert [hop.strip() for hop in (value or "").split(",")] == ["203.0.113.99", "198.51.100.66"]


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a_verified_request_writes_only_cache_control(
    make_web_app: Callable[..., WebApp],
) -> None:
    """A protected GET whose token changed nothing answers with no cookie and no token header:
    only ``Cache-Control: no-store`` (its answer is personal), so that the response costs
    nothing more than the route's own, and a shared cache keeps none of it."""
    web = make_web_app()
    browser = web.browser()
    browser.login("amy")
    me = browser.request("GET", "/me")
    assert me.status == 200 and me.cookies == {}
    assert me.headers["cache-control"] == "no-store"
    ours = {"front-token", "st-access-token", "st-refresh-token", "anti-csrf", "id-refresh-token"}
    assert ours.isdisjoint(me.headers.keys())
    assert "access-control-expose-headers" not in me.headers


def test_cgi_header_reads_any_case_and_the_two_unprefixed_names() -> None:
    from sessionward._transport import cgi_header

    environ = {
        "HTTP_ANTI_CSRF": "a",
        "HTTP_X_FORWARDED_FOR": "203.0.113.1, 10.0.0.2",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": "2",
        "HTTP_BROKEN": b"bytes",  # not a str: never handed on
    }
    assert cgi_header(environ, "anti-csrf") == cgi_header(environ, "Anti-CSRF") == "a"
    assert cgi_header(environ, "X-Forwarded-For") == "203.0.113.1, 10.0.0.2"
    assert cgi_header(environ, "content-type") == "application/json"
    assert cgi_header(environ, "Content-Length") == "2"
    assert cgi_header(environ, "authorization") is None
    assert cgi_header(environ, "broken") is None
