"""``@verify_session()`` on the methods of class-based views: Django's ``View`` (sync and
async) and DRF's ``APIView`` (whose ``Request`` wraps the ``HttpRequest``), and the clear
``TypeError`` when a decorated callable receives no request at all (never the misleading
"SessionwardMiddleware is not in MIDDLEWARE")."""

from __future__ import annotations

import contextlib
import sys
import types
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sessionward import Config, SessionManager
from tests.support.web_apps import EXAMPLE_SETTINGS, django_setup

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])

ACCESS = "sAccessToken"
EXPIRED = 440  # the default session_expired_status: unauthorised, refresh or sign in


def _views() -> list[Any]:
    from django.http import HttpRequest, JsonResponse
    from django.urls import path
    from django.views import View

    from sessionward.integrations import django as sw

    def login(request: HttpRequest) -> JsonResponse:
        sw.create_new_session(request, "ann", {"role": "user"})
        return JsonResponse({})

    class Me(View):
        @sw.verify_session()
        def get(self, request: HttpRequest) -> JsonResponse:
            assert isinstance(self, Me)
            session = request.sessionward  # type: ignore[attr-defined]
            return JsonResponse({"userId": session.user_id})

        @sw.verify_session()
        def post(self, request: HttpRequest) -> JsonResponse:
            # A token update made in the method reaches the response.
            session = request.sessionward  # type: ignore[attr-defined]
            session.merge_into_jwt_payload({"role": "admin"})
            return JsonResponse({"role": session.jwt_payload["role"]})

    class AsyncMe(View):
        @sw.verify_session()
        async def get(self, request: HttpRequest, item: str) -> JsonResponse:
            session = request.sessionward  # type: ignore[attr-defined]
            return JsonResponse({"userId": session.user_id, "item": item})

    class Maybe(View):
        @sw.verify_session(optional=True)
        def get(self, request: HttpRequest) -> JsonResponse:
            session = request.sessionward  # type: ignore[attr-defined]
            return JsonResponse({"userId": None if session is None else session.user_id})

    return [
        path("login", login),
        path("me", Me.as_view()),
        path("async/<str:item>", AsyncMe.as_view()),
        path("maybe", Maybe.as_view()),
    ]


def _drf_views() -> list[Any]:
    from django.urls import path
    from rest_framework.request import Request
    from rest_framework.response import Response
    from rest_framework.views import APIView

    from sessionward.integrations import django as sw

    class DrfMe(APIView):
        @sw.verify_session()
        def get(self, request: Request) -> Response:
            assert isinstance(request, Request)
            # On the DRF wrapper and on the HttpRequest it wraps: the same session.
            assert request.sessionward is request._request.sessionward  # type: ignore[attr-defined]
            return Response({"userId": request.sessionward.user_id})  # type: ignore[attr-defined]

        @sw.verify_session()
        def post(self, request: Request) -> Response:
            session = request.sessionward  # type: ignore[attr-defined]
            session.merge_into_jwt_payload({"role": "admin"})
            return Response({"role": session.jwt_payload["role"]})

    return [path("drf/me", DrfMe.as_view())]


@pytest.fixture
def client(make_config: Callable[..., Config], clock: Any) -> Iterator[Any]:
    django_setup()
    from django.test import Client, override_settings

    from sessionward.integrations import django as sw

    patterns = _views()
    with contextlib.suppress(ImportError):  # no DRF here: its test skips
        patterns += _drf_views()
    urls = types.ModuleType("sessionward_method_urls")
    urls.urlpatterns = patterns  # type: ignore[attr-defined]
    sys.modules[urls.__name__] = urls
    manager = SessionManager(make_config(**EXAMPLE_SETTINGS), clock=clock)
    sw.configure(manager)
    drf = {  # DRF without django.contrib.auth: no authentication classes, no AnonymousUser
        "DEFAULT_AUTHENTICATION_CLASSES": [],
        "DEFAULT_PERMISSION_CLASSES": [],
        "UNAUTHENTICATED_USER": None,
    }
    try:
        with override_settings(ROOT_URLCONF=urls.__name__, REST_FRAMEWORK=drf):
            yield Client()
    finally:
        sw.configure(None)
        manager.close()
        del sys.modules[urls.__name__]


def _login(client: Any) -> str:
    login = client.post("/login")
    assert login.status_code == 200
    return str(login.headers["anti-csrf"])


def test_verify_session_on_a_view_method(client: Any) -> None:
    assert client.get("/me").status_code == EXPIRED  # no session: the protocol's answer
    csrf = _login(client)
    me = client.get("/me")
    assert me.status_code == 200 and me.json() == {"userId": "ann"}
    before = client.cookies[ACCESS].value
    assert client.post("/me").status_code == EXPIRED  # anti-CSRF applies to the method
    merged = client.post("/me", headers={"anti-csrf": csrf})
    assert merged.status_code == 200 and merged.json() == {"role": "admin"}
    assert merged.cookies[ACCESS].value != before  # the new access token reached the response


def test_verify_session_optional_on_a_view_method(client: Any) -> None:
    assert client.get("/maybe").json() == {"userId": None}
    _login(client)
    assert client.get("/maybe").json() == {"userId": "ann"}


def test_verify_session_on_an_async_view_method(client: Any) -> None:
    assert client.get("/async/x").status_code == EXPIRED
    _login(client)
    me = client.get("/async/book")
    assert me.status_code == 200 and me.json() == {"userId": "ann", "item": "book"}


def test_verify_session_on_a_drf_apiview_method(client: Any) -> None:
    pytest.importorskip("rest_framework")
    assert client.get("/drf/me").status_code == EXPIRED
    csrf = _login(client)
    me = client.get("/drf/me")
    assert me.status_code == 200 and me.json() == {"userId": "ann"}
    before = client.cookies[ACCESS].value
    merged = client.post("/drf/me", headers={"anti-csrf": csrf})
    assert merged.status_code == 200 and merged.json() == {"role": "admin"}
    # Written through the HttpRequest under DRF's Request: the update is not lost.
    assert merged.cookies[ACCESS].value != before
    assert client.get("/drf/me").json() == {"userId": "ann"}


def test_verify_session_without_a_request_says_what_to_use(client: Any) -> None:
    from sessionward.integrations import django as sw

    @sw.verify_session()
    def not_a_view(thing: object, other: object) -> None:
        raise AssertionError("never reached")

    with pytest.raises(TypeError, match=r"def get\(self, request") as caught:
        not_a_view(object(), "x")
    assert "MIDDLEWARE" not in str(caught.value)

    @sw.verify_session()
    async def not_an_async_view() -> None:
        raise AssertionError("never reached")

    with pytest.raises(TypeError, match="method_decorator"):
        not_an_async_view().send(None)
