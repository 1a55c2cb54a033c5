"""Tenants, "remember me" and impersonation over HTTP, in every framework and on every backend.

The example apps' routes (shared with the demo): ``/login`` with ``tenantId`` and
``rememberMe``, ``/me`` saying who the session is (``tenantId``, ``persistent``,
``impersonatedBy``), ``/t/{tenant}/whoami`` behind ``verify_session(tenant_param="tenant")``,
``POST /admin/impersonate`` behind ``has_role("admin")`` and ``POST /change-password`` behind
``not_impersonated()``. Then ``in_tenant`` as a plain claim on a small app of each framework.
The resource service and Django's commands are in test_tenant_services.py.
"""

from __future__ import annotations

import base64
import json
import sys
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from starlette.requests import Request

from sessionward import (
    AsyncSessionManager,
    Config,
    SessionManager,
    in_tenant,
)
from tests.support.web_apps import (
    EXAMPLE_SETTINGS,
    TOKEN_COOKIES,
    Browser,
    DjangoTestClientTransport,
    FlaskTestClientTransport,
    WebApp,
    django_setup,
)

from .test_scenarios import COMBOS, EXPIRED

pytestmark = pytest.mark.parametrize(("framework", "backend"), COMBOS)

GLOBEX_ONLY = {"message": "a session of the tenant 'globex' is required", "claim": "in_tenant"}
ACME_ONLY = {"message": "a session of the tenant 'acme' is required", "claim": "in_tenant"}
IMPERSONATING = {
    "message": "this action is not allowed while impersonating",
    "claim": "not_impersonated",
}
BAD_TENANTS = ["bad!tenant", "x" * 65]


def token_claims(token: str | None) -> dict[str, Any]:
    """The JWT's payload segment, decoded (no signature check: what it says, not if it holds)."""
    assert token is not None
    segment = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    )
    return decoded


def in_tenant_of(web: WebApp, user: str, tenant: str | None = None, **fields: Any) -> Browser:
    browser = web.browser()
    body = {} if tenant is None else {"tenantId": tenant}
    browser.login(user, **body, **fields)
    return browser


def handle_of(browser: Browser) -> str:
    me = browser.request("GET", "/me")
    assert me.status == 200, me.response.text
    handle: str = me.json()["sessionHandle"]
    return handle


# --- tenants ---------------------------------------------------------------------------------


def test_the_same_user_id_in_two_tenants_is_two_users(web: WebApp) -> None:
    acme_laptop = web.browser()
    login = acme_laptop.login("alice", tenantId="acme")
    assert login.json()["tenantId"] == "acme" and login.json()["impersonatedBy"] is None
    acme_phone = in_tenant_of(web, "alice", "acme")
    globex = in_tenant_of(web, "alice", "globex")
    public = in_tenant_of(web, "alice")  # no tenantId: the default tenant
    assert public.request("GET", "/me").json()["tenantId"] == "public"

    acme_handles = {handle_of(acme_laptop), handle_of(acme_phone)}
    devices = acme_laptop.request("GET", "/devices").json()["devices"]
    assert {d["sessionHandle"] for d in devices} == acme_handles
    assert {d["tenantId"] for d in devices} == {"acme"}
    assert all(d["impersonatedBy"] is None for d in devices)
    assert set(acme_laptop.request("GET", "/sessions").json()["sessions"]) == acme_handles
    theirs = globex.request("GET", "/devices").json()["devices"]
    assert [(d["sessionHandle"], d["tenantId"]) for d in theirs] == [(handle_of(globex), "globex")]
    assert [d["tenantId"] for d in public.request("GET", "/devices").json()["devices"]] == [
        "public"
    ]

    # Another tenant's handle cannot be signed out from here, and stays.
    refused = acme_laptop.request(
        "POST", "/devices/revoke", json={"sessionHandle": handle_of(globex)}
    )
    assert refused.status == 400
    # "Revoke all my sessions" in acme ends acme's two, not globex's nor the default tenant's.
    revoked = acme_laptop.request("POST", "/revoke-all")
    assert revoked.json() == {"revoked": 2} and revoked.cleared_all
    assert acme_phone.request("GET", "/me").status == EXPIRED
    assert globex.request("GET", "/me").status == 200
    assert public.request("GET", "/me").status == 200


def test_a_tenant_route_accepts_only_its_own_tenants_sessions(web: WebApp) -> None:
    acme = in_tenant_of(web, "alice", "acme")
    mine = acme.request("GET", "/t/acme/whoami")
    assert mine.status == 200 and mine.json() == {"userId": "alice", "tenantId": "acme"}
    theirs = acme.request("GET", "/t/globex/whoami")
    assert theirs.status == 403 and theirs.json() == GLOBEX_ONLY
    assert theirs.cookies == {}  # the session is valid, only not here: kept as it is
    assert acme.request("GET", "/me").status == 200
    globex = in_tenant_of(web, "alice", "globex")
    assert globex.request("GET", "/t/globex/whoami").json()["tenantId"] == "globex"
    assert globex.request("GET", "/t/acme/whoami").json() == ACME_ONLY
    public = in_tenant_of(web, "bob")
    assert public.request("GET", "/t/public/whoami").status == 200
    assert public.request("GET", "/t/acme/whoami").status == 403
    # Header mode: the same answers.
    client = web.header_client()
    client.request("POST", "/login", json={"userId": "carol", "tenantId": "acme"})
    assert client.request("GET", "/t/acme/whoami").status == 200
    assert client.request("GET", "/t/globex/whoami").json() == GLOBEX_ONLY
    # No session at all: the usual answer, not a 403.
    assert web.browser().request("GET", "/t/acme/whoami").status == EXPIRED


@pytest.mark.parametrize("route_tenant", BAD_TENANTS)
def test_a_malformed_route_tenant_is_a_400_never_a_500(web: WebApp, route_tenant: str) -> None:
    acme = in_tenant_of(web, "alice", "acme")
    reply = acme.request("GET", f"/t/{route_tenant}/whoami")
    assert reply.status == 400, reply.response.text
    assert "the route's 'tenant' must be 1 to 64 letters" in reply.json()["message"]
    assert reply.cookies == {}
    assert acme.request("GET", "/me").status == 200


@pytest.mark.parametrize("tenant", [*BAD_TENANTS, "", 7, None, ["acme"]])
def test_login_refuses_a_malformed_tenant(web: WebApp, tenant: object) -> None:
    reply = web.browser().request("POST", "/login", json={"userId": "alice", "tenantId": tenant})
    assert reply.status == 400, reply.response.text
    assert "tenant_id must be" in reply.json()["message"]
    assert reply.cookies == {}


# --- "remember me" ---------------------------------------------------------------------------


def test_remember_me_off_gives_session_cookies_through_refresh_and_promotion(web: WebApp) -> None:
    kept = web.browser()
    kept_login = kept.login("alice")  # rememberMe defaults to true
    assert kept_login.json()["persistent"] is True
    for name in TOKEN_COOKIES:
        assert not kept_login.cookies[name].session_cookie
        assert kept_login.cookies[name].expires_s > web.clock()
    assert "per" not in token_claims(kept.cookie("sAccessToken"))

    browser = web.browser()
    login = browser.login("alice", rememberMe=False)
    assert login.json()["persistent"] is False
    for name in TOKEN_COOKIES:
        cookie = login.cookies[name]
        assert cookie.value and cookie.session_cookie, (name, cookie.attrs)
    assert token_claims(browser.cookie("sAccessToken"))["per"] is False
    me = browser.request("GET", "/me").json()
    assert me["persistent"] is False and me["impersonatedBy"] is None

    web.clock.advance(66)  # the access token has expired: validity 60 s + leeway 5 s
    assert browser.request("GET", "/me").status == EXPIRED
    refreshed = browser.refresh()
    assert refreshed.status == 200
    for name in TOKEN_COOKIES:
        assert refreshed.cookies[name].value and refreshed.cookies[name].session_cookie, name
    # The first use of the new access token confirms the rotation and re-issues the access
    # token: a session cookie too.
    promoted = browser.request("POST", "/like")
    assert promoted.status == 200 and set(promoted.cookies) == {"sAccessToken"}
    assert promoted.cookies["sAccessToken"].session_cookie
    assert token_claims(browser.cookie("sAccessToken"))["per"] is False
    assert browser.request("GET", "/me").json()["persistent"] is False

    # The persistent session's refresh keeps its expiries.
    again = kept.refresh()
    assert again.status == 200
    assert all(not again.cookies[name].session_cookie for name in TOKEN_COOKIES)


@pytest.mark.parametrize("remember", ["yes", 1, None, {}])
def test_login_refuses_a_remember_me_that_is_not_a_boolean(web: WebApp, remember: object) -> None:
    reply = web.browser().request(
        "POST", "/login", json={"userId": "alice", "rememberMe": remember}
    )
    assert reply.status == 400 and reply.json() == {"message": "rememberMe must be true or false"}
    assert reply.cookies == {}


# --- impersonation ---------------------------------------------------------------------------


def an_admin(web: WebApp, user: str = "alice-admin", **fields: Any) -> Browser:
    """A user who has the role ``admin`` (the examples' demo rule: anyone may take it)."""
    admin = web.browser()
    admin.login(user, **fields)
    assert admin.request("POST", "/role", json={"role": "admin"}).status == 200
    return admin


def test_an_admin_acts_as_a_user_who_sees_it_in_their_devices(web: WebApp) -> None:
    user = in_tenant_of(web, "alice")
    refused = user.request("POST", "/admin/impersonate", json={"userId": "bob"})
    assert refused.status == 403 and refused.json()["claim"] == "has_role"

    admin = an_admin(web)
    own_access = admin.cookie("sAccessToken")
    started = admin.request("POST", "/admin/impersonate", json={"userId": "alice"})
    assert started.status == 200, started.response.text
    body = started.json()
    assert body["userId"] == "alice" and body["impersonatedBy"] == "alice-admin"
    assert body["tenantId"] == "public" and body["persistent"] is True
    # The answer carries the impersonation's tokens: this client is now alice, acted by the admin.
    assert set(TOKEN_COOKIES) <= set(started.cookies)
    assert admin.cookie("sAccessToken") != own_access
    assert token_claims(admin.cookie("sAccessToken"))["act"] == {"sub": "alice-admin"}
    assert token_claims(admin.cookie("sAccessToken"))["sub"] == "alice"
    me = admin.request("GET", "/me").json()
    assert me["userId"] == "alice" and me["impersonatedBy"] == "alice-admin"
    assert me["sessionHandle"] == body["sessionHandle"]
    assert "act" not in token_claims(user.cookie("sAccessToken"))
    assert user.request("GET", "/me").json()["impersonatedBy"] is None

    # A sensitive action: refused while impersonating, allowed to the user in person.
    blocked = admin.request("POST", "/change-password")
    assert blocked.status == 403 and blocked.json() == IMPERSONATING
    assert blocked.cookies == {}
    assert user.request("POST", "/change-password").status == 204
    # An impersonation session cannot start another one.
    assert admin.request("POST", "/admin/impersonate", json={"userId": "carol"}).status == 403

    # The user's devices show the impersonation, marked with who acts.
    devices = user.request("GET", "/devices").json()["devices"]
    assert {d["sessionHandle"]: d["impersonatedBy"] for d in devices} == {
        handle_of(user): None,
        body["sessionHandle"]: "alice-admin",
    }


def test_an_impersonation_ends_at_its_ttl_and_may_be_in_another_tenant(web: WebApp) -> None:
    admin = an_admin(web, tenantId="acme")
    started = admin.request("POST", "/admin/impersonate", json={"userId": "dora", "ttl": 120})
    assert started.status == 200 and started.json()["tenantId"] == "acme"  # the admin's tenant
    assert admin.request("GET", "/t/acme/whoami").json() == {"userId": "dora", "tenantId": "acme"}
    web.clock.advance(66)
    assert admin.refresh().status == 200  # refreshes within its ttl
    web.clock.advance(60)  # 126 s after it started: past its ttl of 120 s
    assert admin.request("GET", "/me").status == EXPIRED
    ended = admin.refresh()
    assert ended.status == EXPIRED and ended.cleared_all

    other = an_admin(web, "root")
    there = other.request(
        "POST", "/admin/impersonate", json={"userId": "dora", "tenantId": "globex"}
    )
    assert there.status == 200 and there.json()["tenantId"] == "globex"
    assert other.request("GET", "/t/globex/whoami").status == 200
    assert other.request("GET", "/t/public/whoami").status == 403


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"userId": ""},
        {"userId": 7},
        {"userId": "bob", "ttl": 5},
        {"userId": "bob", "ttl": "3600"},
        {"userId": "bob", "ttl": True},
        {"userId": "bob", "tenantId": "bad tenant"},
        {"userId": "bob", "tenantId": 3},
    ],
)
def test_impersonation_refuses_malformed_bodies(web: WebApp, body: dict[str, Any]) -> None:
    admin = an_admin(web)
    access = admin.cookie("sAccessToken")
    reply = admin.request("POST", "/admin/impersonate", json=body)
    assert reply.status == 400, reply.response.text
    assert reply.cookies == {} and admin.cookie("sAccessToken") == access
    assert admin.request("GET", "/me").json()["impersonatedBy"] is None


# --- in_tenant as a claim, on a small app of each framework ----------------------------------


@contextmanager
def _fastapi_claim_app(config: Config, clock: Any) -> Iterator[httpx.Client]:
    from fastapi import FastAPI
    from starlette.testclient import TestClient

    from sessionward.integrations import starlette as sw

    manager = AsyncSessionManager(config, clock=clock)
    app = FastAPI()
    sw.Sessionward(manager).install(app)

    @app.post("/login")
    async def login(request: Request) -> Any:
        body = await request.json()
        await sw.create_new_session(request, body["userId"], tenant_id=body["tenantId"])
        return {}

    acme_only = sw.verify_session(claims=[in_tenant("acme")])

    @app.get("/acme")
    async def acme(request: Request) -> Any:
        session = await acme_only(request)  # what Depends(acme_only) does
        return {"tenantId": session.tenant_id}

    with TestClient(app, base_url="http://testserver") as client:
        try:
            yield client
        finally:
            client.portal.call(manager.close)


@contextmanager
def _flask_claim_app(config: Config, clock: Any) -> Iterator[httpx.Client]:
    from flask import Flask, g, jsonify, request

    from sessionward.integrations import flask as sw

    manager = SessionManager(config, clock=clock)
    app = Flask(__name__)
    sw.Sessionward(app, manager)

    @app.post("/login")
    def login() -> Any:
        body = request.get_json()
        sw.create_new_session(body["userId"], tenant_id=body["tenantId"])
        return jsonify({})

    @app.get("/acme")
    @sw.verify_session(claims=[in_tenant("acme")])
    def acme() -> Any:
        return jsonify({"tenantId": g.session.tenant_id})

    with httpx.Client(transport=FlaskTestClientTransport(app), base_url="http://t") as client:
        try:
            yield client
        finally:
            manager.close()


@contextmanager
def _django_claim_app(config: Config, clock: Any) -> Iterator[httpx.Client]:
    django_setup()
    from django.http import HttpRequest, JsonResponse
    from django.test import override_settings
    from django.urls import path

    from sessionward.integrations import django as sw

    def login(request: HttpRequest) -> JsonResponse:
        body = json.loads(request.body)
        sw.create_new_session(request, body["userId"], tenant_id=body["tenantId"])
        return JsonResponse({})

    @sw.verify_session(claims=[in_tenant("acme")])
    async def acme(request: HttpRequest) -> JsonResponse:  # async: the other path
        return JsonResponse({"tenantId": request.sessionward.tenant_id})  # type: ignore[attr-defined]

    urls = types.ModuleType("tenant_claim_urls")
    urls.urlpatterns = [path("login", login), path("acme", acme)]  # type: ignore[attr-defined]
    sys.modules[urls.__name__] = urls
    manager = SessionManager(config, clock=clock)
    sw.configure(manager)
    try:
        with (
            override_settings(ROOT_URLCONF=urls.__name__),
            httpx.Client(transport=DjangoTestClientTransport(), base_url="http://t") as client,
        ):
            yield client
    finally:
        sw.configure(None)
        manager.close()
        del sys.modules[urls.__name__]


CLAIM_APPS = {"fastapi": _fastapi_claim_app, "flask": _flask_claim_app, "django": _django_claim_app}


@pytest.fixture
def claim_app(framework: str, make_config: Callable[..., Config], clock: Any) -> Iterator[Browser]:
    config = make_config(**EXAMPLE_SETTINGS)
    with CLAIM_APPS[framework](config, clock) as client:
        yield Browser(client, clock)


def test_in_tenant_as_a_claim_refuses_another_tenants_session(claim_app: Browser) -> None:
    browser = claim_app
    assert (
        browser.request("POST", "/login", json={"userId": "alice", "tenantId": "acme"}).status
        == 200
    )
    assert browser.request("GET", "/acme").json() == {"tenantId": "acme"}
    assert (
        browser.request("POST", "/login", json={"userId": "alice", "tenantId": "globex"}).status
        == 200
    )
    refused = browser.request("GET", "/acme")
    assert refused.status == 403 and refused.json() == ACME_ONLY and refused.cookies == {}
