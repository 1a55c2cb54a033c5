"""Django REST framework (sessionward.integrations.drf) with DRF's ``APIClient``, on every
backend, through the Django example's ``/drf/`` routes (and a few views of this module's own):
cookie and Bearer modes, anti-CSRF, expired -> refresh -> retried, unauthorised, theft, claims
merged in a view, claim permissions, anonymous views and ``request.user`` both ways. Then the
example over a real server.

The answers must be the protocol's (the session-expired status, its body and ``reason``,
cookies cleared on unauthorised), never DRF's generic 401/403.
"""

from __future__ import annotations

import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from sessionward import has_role, payload_has
from sessionward.integrations.drf import ClaimPermission, SessionUser, SessionwardAuthentication
from tests.support.example_servers import running_example
from tests.support.web_apps import (
    TOKEN_COOKIES,
    Browser,
    DjangoTestClientTransport,
    HeaderClient,
    Reply,
    WebApp,
    django_checks_restored,
    django_setup,
)

EXPIRED = 440
UNAUTHORISED = {"message": "unauthorised"}
TRY_REFRESH = {"message": "try refresh token"}
ADMIN_REQUIRED = {"message": "the role 'admin' is required", "claim": "has_role"}


@pytest.fixture
def framework() -> str:
    return "django"


class APIClientTransport(DjangoTestClientTransport):
    """httpx requests through DRF's ``APIClient`` (the Browser keeps the cookies)."""

    def __init__(self) -> None:
        from rest_framework.test import APIClient

        self.client = APIClient()


@pytest.fixture
def app(make_web_app: Callable[..., WebApp]) -> Iterator[WebApp]:
    """The Django example (with its /drf/ routes) behind DRF's APIClient; revocations are
    checked on every request (``revocation_check="exact"``), so a revoked session is refused
    at once."""
    web = make_web_app(revocation_check="exact")
    with httpx.Client(transport=APIClientTransport(), base_url="http://testserver") as client:
        yield WebApp(web.framework, web.config, web.clock, client, web.handles)


def signed_in(app: WebApp, user_id: str = "alice") -> Browser:
    browser = app.browser()
    browser.login(user_id)
    return browser


def payload_of(token: str) -> object:
    return jwt.decode(token, options={"verify_signature": False})["pld"]


# --- cookie and Bearer modes ---------------------------------------------------------------------


def test_cookie_mode_authenticates_drf_views(app: WebApp) -> None:
    browser = signed_in(app)
    me = browser.request("GET", "/drf/me")
    assert me.status == 200, me.response.text
    body = me.json()
    assert body["userId"] == "alice" and body["user"] == "alice"
    assert body["tenantId"] == "public" and body["impersonatedBy"] is None
    assert body["jwtPayload"] == {"userId": "alice", "role": "tester"}
    assert me.headers["cache-control"] == "no-store"
    notes = browser.request("GET", "/drf/notes/")
    assert notes.status == 200 and notes.json()["userId"] == "alice"
    assert browser.request("GET", "/drf/notes/2/").json() == {"id": 2, "text": "second note"}
    assert browser.request("POST", "/drf/like").json() == {"liked": True, "userId": "alice"}


def test_bearer_mode_authenticates_drf_views(app: WebApp) -> None:
    client = app.header_client()
    login = client.request("POST", "/login", json={"userId": "bob"})
    assert login.status == 200 and client.access is not None
    me = client.request("GET", "/drf/me")
    assert me.status == 200 and me.json()["userId"] == "bob"
    # header mode carries no cookie a forged request could ride on: no anti-CSRF header needed
    assert client.request("POST", "/drf/like").json() == {"liked": True, "userId": "bob"}
    assert client.request("GET", "/drf/notes/").json()["userId"] == "bob"
    refused = client.request("GET", "/drf/me", token="not-a-token")
    assert refused.status == EXPIRED and refused.json() == TRY_REFRESH


def test_apiclient_idioms_credentials_and_cookies(app: WebApp) -> None:
    """DRF's APIClient used directly, as a DRF project's tests would: ``credentials()`` for a
    Bearer token, its own cookie jar and an ``anti-csrf`` header for cookie mode."""
    from rest_framework.test import APIClient

    bearer = APIClient()
    login = bearer.post("/login", {"userId": "carol"}, format="json", HTTP_ST_AUTH_MODE="header")
    assert login.status_code == 200
    bearer.credentials(HTTP_AUTHORIZATION=f"Bearer {login['st-access-token']}")
    me = bearer.get("/drf/me")
    assert me.status_code == 200 and me.json()["userId"] == "carol"

    cookies = APIClient()
    login = cookies.post("/login", {"userId": "dave"}, format="json")
    assert login.status_code == 200 and "sAccessToken" in cookies.cookies
    refused = cookies.post("/drf/like")
    assert refused.status_code == EXPIRED
    assert refused.json() == {**TRY_REFRESH, "reason": "anti_csrf_missing"}
    liked = cookies.post("/drf/like", HTTP_ANTI_CSRF=login["anti-csrf"])
    assert liked.status_code == 200 and liked.json()["userId"] == "dave"


# --- anti-CSRF -----------------------------------------------------------------------------------


def test_anti_csrf_missing_and_mismatched_answer_with_their_reasons(app: WebApp) -> None:
    browser = signed_in(app)
    missing = browser.request("POST", "/drf/like", csrf=False)
    assert missing.status == EXPIRED
    assert missing.json() == {**TRY_REFRESH, "reason": "anti_csrf_missing"}
    assert missing.cookies == {}  # the session is kept: only the header is wrong
    wrong = browser.request("POST", "/drf/like", headers={"anti-csrf": "x" * 22})
    assert wrong.status == EXPIRED
    assert wrong.json() == {**TRY_REFRESH, "reason": "anti_csrf_mismatch"}
    # a ViewSet's safe method needs no header; the same session still works
    assert browser.request("GET", "/drf/notes/", csrf=False).status == 200
    assert browser.request("POST", "/drf/like").status == 200


# --- expired, unauthorised, theft ----------------------------------------------------------------


def test_expired_access_token_refresh_and_retry(app: WebApp) -> None:
    browser = signed_in(app)
    app.clock.advance(app.config.access_token_validity + app.config.access_token_leeway + 1)
    for path in ("/drf/me", "/drf/notes/"):
        expired = browser.request("GET", path)
        assert expired.status == EXPIRED and expired.json() == TRY_REFRESH
        assert expired.cookies == {}  # not cleared: the frontend refreshes
    refreshed = browser.refresh()
    assert refreshed.status == 200 and refreshed.json() == {"status": "OK"}
    assert browser.request("GET", "/drf/me").status == 200
    assert browser.request("GET", "/drf/notes/").status == 200


def test_expired_in_header_mode_refresh_and_retry(app: WebApp) -> None:
    client = app.header_client()
    client.request("POST", "/login", json={"userId": "bob"})
    app.clock.advance(app.config.access_token_validity + app.config.access_token_leeway + 1)
    assert client.request("GET", "/drf/notes/").status == EXPIRED
    assert client.refresh().status == 200
    assert client.request("GET", "/drf/notes/").json()["userId"] == "bob"


def test_logout_in_a_drf_view_clears_the_cookies_and_a_copy_is_unauthorised(app: WebApp) -> None:
    browser = signed_in(app)
    copied = browser.cookie_header("/")
    assert browser.request("POST", "/drf/logout", csrf=False).status == EXPIRED
    out = browser.request("POST", "/drf/logout")
    assert out.status == 200 and out.json() == {"status": "OK"}
    assert out.cleared_all  # the revoke's writes reached DRF's response
    assert app.handles("alice") == []
    again = browser.request("GET", "/drf/me", cookies=copied)
    assert again.status == EXPIRED and again.json() == UNAUTHORISED
    assert again.cleared_all


def test_a_session_revoked_elsewhere_is_unauthorised_with_cookies_cleared(app: WebApp) -> None:
    from sessionward.integrations.django import get_manager

    browser = signed_in(app)
    cookies = browser.cookie_header("/")
    assert get_manager().revoke_all_sessions_for_user("alice") == 1
    for path in ("/drf/notes/", "/drf/public"):  # AllowAny too: credentials that fail, fail
        reply = browser.request("GET", path, cookies=cookies)
        assert reply.status == EXPIRED and reply.json() == UNAUTHORISED
        assert reply.cleared_all


def test_theft_is_answered_as_the_protocol_does(app: WebApp) -> None:
    victim = signed_in(app)
    stolen = f"sRefreshToken={victim.cookie('sRefreshToken')}; "
    stolen += f"sIdRefreshToken={victim.cookie('sIdRefreshToken')}"
    assert victim.refresh().status == 200
    assert victim.request("GET", "/drf/me").status == 200  # confirms the new refresh token
    app.clock.advance(31)  # past the grace window
    thief = app.browser().request("POST", "/refresh", cookies=stolen)
    assert thief.status == EXPIRED and thief.json() == {"message": "token theft detected"}
    assert thief.cleared_all
    assert app.handles("alice") == []
    # the victim's still unexpired access token is refused on a DRF route, cookies cleared
    after = victim.request("GET", "/drf/notes/")
    assert after.status == EXPIRED and after.json() == UNAUTHORISED and after.cleared_all


# --- claims --------------------------------------------------------------------------------------


def test_claims_merged_in_a_drf_view_reach_the_response(app: WebApp) -> None:
    browser = signed_in(app)
    refused = browser.request("GET", "/drf/admin")
    assert refused.status == 403 and refused.json() == ADMIN_REQUIRED
    assert refused.cookies == {}
    merged = browser.request("POST", "/drf/role", json={"role": "admin"})
    assert merged.status == 200, merged.response.text
    assert merged.json()["jwtPayload"] == {"userId": "alice", "role": "admin"}
    token = merged.cookies["sAccessToken"].value
    assert payload_of(token) == {"userId": "alice", "role": "admin"}
    assert browser.request("GET", "/drf/admin").json() == {"admin": True, "userId": "alice"}


def test_claims_merged_in_header_mode_reach_the_response_headers(app: WebApp) -> None:
    client = app.header_client()
    client.request("POST", "/login", json={"userId": "bob"})
    merged = client.request("POST", "/drf/role", json={"role": "admin"})
    assert merged.status == 200
    assert payload_of(merged.headers["st-access-token"]) == {"userId": "bob", "role": "admin"}
    assert client.request("GET", "/drf/admin").status == 200


def test_bad_input_to_a_drf_view_is_a_clear_4xx(app: WebApp) -> None:
    browser = signed_in(app)
    bad = browser.request(
        "POST", "/drf/role", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert bad.status == 400 and "detail" in bad.json()
    wrong = browser.request("POST", "/drf/role", json={"role": 5})
    assert wrong.status == 400 and wrong.json() == {"message": "role must be a string or null"}


# --- anonymous -----------------------------------------------------------------------------------


def test_is_authenticated_without_a_session_is_the_protocol_unauthorised_answer(
    app: WebApp,
) -> None:
    nobody = app.browser()
    for method, path in (("GET", "/drf/me"), ("GET", "/drf/notes/"), ("GET", "/drf/admin")):
        reply = nobody.request(method, path)
        assert reply.status == EXPIRED, path  # not DRF's 401 or 403
        assert reply.json() == UNAUTHORISED
        assert reply.cleared_all
    header = app.header_client().request("GET", "/drf/notes/")
    assert header.status == EXPIRED and header.json() == UNAUTHORISED


def test_allow_any_without_a_session_answers_as_usual(app: WebApp) -> None:
    reply = app.browser().request("GET", "/drf/public")
    assert reply.status == 200 and reply.json() == {"public": True, "userId": None}
    assert reply.cookies == {}
    browser = signed_in(app)
    assert browser.request("GET", "/drf/public").json() == {"public": True, "userId": "alice"}


# --- views of this module's own: ClaimPermission alone, IsAuthenticatedOrReadOnly, users ---------


def _views() -> list[Any]:
    from django.urls import include, path
    from rest_framework.decorators import api_view, permission_classes
    from rest_framework.permissions import IsAuthenticatedOrReadOnly
    from rest_framework.response import Response

    @api_view(["GET"])
    @permission_classes([ClaimPermission(payload_has("userId"), has_role("admin"))])
    def claims_only(request: Any) -> Any:
        return Response({"ok": True})

    @api_view(["GET", "POST"])
    @permission_classes([IsAuthenticatedOrReadOnly])
    def read_only(request: Any) -> Any:
        return Response({"method": request.method})

    @api_view(["GET"])
    def whoami(request: Any) -> Any:
        user = request.user
        return Response(
            {
                "type": type(user).__name__,
                "pk": user.pk,
                "id": user.id,
                "str": str(user),
                "isAuthenticated": user.is_authenticated,
                "isAnonymous": user.is_anonymous,
                "sameUser": user == request.user,
                "tenantId": getattr(user, "tenant_id", None),
                "username": getattr(user, "username", None),
            }
        )

    return [
        path("test/claims-only", claims_only),
        path("test/read-only", read_only),
        path("test/whoami", whoami),
        path("", include("django_app.urls")),
    ]


urlpatterns: list[Any] = []


@pytest.fixture
def own_views(app: WebApp) -> Iterator[WebApp]:
    """This module as the urlconf: the example's routes and the views above."""
    from django.test import override_settings

    urlpatterns[:] = _views()
    with override_settings(ROOT_URLCONF=__name__):
        yield app


def test_claim_permission_alone(own_views: WebApp) -> None:
    nobody = own_views.browser().request("GET", "/test/claims-only")
    assert nobody.status == EXPIRED and nobody.json() == UNAUTHORISED and nobody.cleared_all
    browser = signed_in(own_views)
    refused = browser.request("GET", "/test/claims-only")
    assert refused.status == 403 and refused.json() == ADMIN_REQUIRED
    browser.request("POST", "/role", json={"role": "admin"})  # the plain Django view
    assert browser.request("GET", "/test/claims-only").json() == {"ok": True}


def test_is_authenticated_or_read_only_keeps_drf_behaviour(own_views: WebApp) -> None:
    nobody = own_views.browser()
    assert nobody.request("GET", "/test/read-only").json() == {"method": "GET"}
    refused = nobody.request("POST", "/test/read-only")
    assert refused.status == EXPIRED and refused.json() == UNAUTHORISED
    browser = signed_in(own_views)
    assert browser.request("POST", "/test/read-only").json() == {"method": "POST"}


def test_request_user_is_a_session_user_by_default(own_views: WebApp) -> None:
    browser = own_views.browser()
    browser.login("erin", tenantId="acme")
    assert browser.request("GET", "/test/whoami").json() == {
        "type": "SessionUser",
        "pk": "erin",
        "id": "erin",
        "str": "erin",
        "isAuthenticated": True,
        "isAnonymous": False,
        "sameUser": True,
        "tenantId": "acme",
        "username": None,
    }


def test_session_user_equality_is_by_tenant_and_id() -> None:
    class Fake:
        def __init__(self, user_id: str, tenant_id: str) -> None:
            self.user_id, self.tenant_id, self.actor = user_id, tenant_id, None

    def user(user_id: str, tenant_id: str) -> SessionUser:
        return SessionUser(Fake(user_id, tenant_id))  # type: ignore[arg-type]

    assert user("a", "t1") == user("a", "t1")
    assert hash(user("a", "t1")) == hash(user("a", "t1"))
    assert user("a", "t1") != user("a", "t2")
    assert user("a", "t1") != user("b", "t1")
    assert SessionwardAuthentication().authenticate_header(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ClaimPermission()
    with pytest.raises(TypeError):
        ClaimPermission("admin")  # type: ignore[arg-type]


def test_without_the_exception_handler_the_middleware_still_answers(app: WebApp) -> None:
    """A project that kept DRF's exception handler: the error family is re-raised by DRF and
    answered by the middleware, so the protocol's answers hold; only DRF's own NotAuthenticated
    is then DRF's 401."""
    from django.conf import settings as django_settings
    from django.test import override_settings

    options = dict(django_settings.REST_FRAMEWORK)
    del options["EXCEPTION_HANDLER"]
    with override_settings(REST_FRAMEWORK=options):
        browser = signed_in(app)
        missing = browser.request("POST", "/drf/like", csrf=False)
        assert missing.status == EXPIRED
        assert missing.json() == {**TRY_REFRESH, "reason": "anti_csrf_missing"}
        assert browser.request("GET", "/drf/admin").json() == ADMIN_REQUIRED
        out = browser.request("POST", "/drf/logout")
        assert out.status == 200 and out.cleared_all
        assert app.browser().request("GET", "/drf/notes/").status == 401


def test_the_core_does_not_import_django_rest_framework() -> None:
    code = (
        "import sys, sessionward, sessionward.integrations.django;"
        "assert 'rest_framework' not in sys.modules, 'imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


LOADED: dict[str, Any] = {}


def load_user(session: Any) -> Any:
    """A USER_LOADER for the tests: the users in LOADED, by id."""
    return LOADED.get(session.user_id)


def test_user_loader_callable_by_dotted_path(own_views: WebApp) -> None:
    from django.conf import settings as django_settings
    from django.test import override_settings

    class Account:
        is_authenticated = True
        is_anonymous = False

        def __init__(self, pk: str) -> None:
            self.pk = self.id = pk
            self.username = f"user-{pk}"

    LOADED.clear()
    LOADED["frank"] = Account("frank")
    options = {**django_settings.SESSIONWARD, "USER_LOADER": f"{__name__}.load_user"}
    with override_settings(SESSIONWARD=options):
        frank = own_views.browser()
        frank.login("frank")
        me = frank.request("GET", "/test/whoami").json()
        assert me["type"] == "Account" and me["username"] == "user-frank"
        ghost = own_views.browser()
        ghost.login("ghost")  # no such user: unauthorised, cookies cleared
        reply = ghost.request("GET", "/test/whoami")
        assert reply.status == EXPIRED and reply.json() == UNAUTHORISED and reply.cleared_all


@pytest.fixture
def django_users(own_views: WebApp, tmp_path: Path) -> Iterator[WebApp]:
    """``django.contrib.auth`` installed, its tables in a SQLite file of this test's own, and
    ``SESSIONWARD["USER_LOADER"] = "django.contrib.auth"``."""
    from django.conf import settings as django_settings
    from django.core.management import call_command
    from django.db import connections
    from django.test import override_settings

    apps = [
        "django.contrib.contenttypes",
        "django.contrib.auth",
        *django_settings.INSTALLED_APPS,
    ]
    options = {**django_settings.SESSIONWARD, "USER_LOADER": "django.contrib.auth"}
    saved = connections.settings
    database = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "users.sqlite3")}
    with django_checks_restored(), override_settings(INSTALLED_APPS=apps, SESSIONWARD=options):
        connections.close_all()
        for alias in saved:
            if hasattr(connections._connections, alias):
                delattr(connections._connections, alias)
        connections.__dict__["settings"] = connections.configure_settings({"default": database})
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                call_command("migrate", verbosity=0, interactive=False)
            yield own_views
        finally:
            connections.close_all()
            delattr(connections._connections, "default")
            connections.__dict__["settings"] = saved


def test_user_loader_django_contrib_auth_gives_the_real_user(django_users: WebApp) -> None:
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user(username="grace")
    browser = django_users.browser()
    browser.login(str(user.pk))
    me = browser.request("GET", "/test/whoami")
    assert me.status == 200, me.response.text
    assert me.json()["type"] == "User"
    assert me.json()["pk"] == user.pk == me.json()["id"]
    assert me.json()["username"] == "grace"
    for missing in ("999999", "not-a-number"):  # no such user; an id the pk cannot be
        ghost = django_users.browser()
        ghost.login(missing)
        reply = ghost.request("GET", "/test/whoami")
        assert reply.status == EXPIRED and reply.json() == UNAUTHORISED and reply.cleared_all


def test_user_loader_is_not_a_config_setting(tmp_path: Path) -> None:
    """SESSIONWARD with USER_LOADER builds the manager from settings (before, Config refused
    the key: "unexpected keyword argument 'USER_LOADER'")."""
    django_setup()
    from django.test import override_settings

    from sessionward.integrations import django as sw_django

    options = {
        "refresh_path": "/refresh",
        "database_url": f"sqlite:///{tmp_path}/settings.sqlite3",
        "USER_LOADER": "django.contrib.auth",
    }
    with override_settings(SESSIONWARD=options):
        sw_django.configure(None)
        try:
            manager = sw_django.get_manager()
            assert manager.config.refresh_path == "/refresh"
        finally:
            manager = sw_django._settings._state.manager
            sw_django.configure(None)
            if manager is not None:
                manager.close()


# --- a real server -------------------------------------------------------------------------------


def test_the_example_server_serves_the_drf_routes(tmp_path: Path) -> None:
    options = ("--access-token-validity", "2", "--blacklisting")
    with (
        running_example("django", tmp_path, *options) as url,
        httpx.Client(base_url=url, timeout=10) as client,
    ):
        nobody = Browser(client, time.time)
        refused = nobody.request("GET", "/drf/notes/")
        assert refused.status == EXPIRED and refused.json() == UNAUTHORISED
        assert nobody.request("GET", "/drf/public").json() == {"public": True, "userId": None}

        browser = Browser(client, time.time)
        browser.login("dave")
        assert set(TOKEN_COOKIES) <= set(browser.jar)
        assert browser.request("GET", "/drf/me").json()["userId"] == "dave"
        missing = browser.request("POST", "/drf/like", csrf=False)
        assert missing.status == EXPIRED
        assert missing.json() == {**TRY_REFRESH, "reason": "anti_csrf_missing"}
        assert browser.request("GET", "/drf/admin").json() == ADMIN_REQUIRED
        merged = browser.request("POST", "/drf/role", json={"role": "admin"})
        assert payload_of(merged.cookies["sAccessToken"].value) == {
            "userId": "dave",
            "role": "admin",
        }
        assert browser.request("GET", "/drf/admin").status == 200

        time.sleep(2.05)  # --access-token-validity 2 (expiries are whole seconds)
        expired = browser.request("GET", "/drf/notes/")
        assert expired.status == EXPIRED and expired.json() == TRY_REFRESH
        assert browser.refresh().status == 200
        assert browser.request("GET", "/drf/notes/").status == 200

        header = HeaderClient(client)
        header.request("POST", "/login", json={"userId": "erin"})
        assert header.request("GET", "/drf/notes/").json()["userId"] == "erin"

        copied = browser.cookie_header("/")
        out = browser.request("POST", "/drf/logout")
        assert out.status == 200 and out.cleared_all
        after = Reply(client.get("/drf/me", headers={"Cookie": copied}))
        assert after.status == EXPIRED and after.json() == UNAUTHORISED and after.cleared_all
