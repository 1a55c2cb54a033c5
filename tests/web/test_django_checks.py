"""Django system checks (sessionward.integrations.django.checks): the middleware missing,
listed twice or above one that must wrap it; invalid ``SESSIONWARD`` and ``SESSIONWARD_HOOKS``
reported at ``manage.py check``; a hand-written refresh view behind CsrfViewMiddleware. And the
investigation behind having no check for the served refresh: CsrfViewMiddleware, in either
order, never refuses the refresh that SessionwardMiddleware answers."""

from __future__ import annotations

import sys
import types
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sessionward import Config, SessionManager
from tests.support.web_apps import EXAMPLE_SETTINGS, django_setup

OURS = "sessionward.integrations.django.middleware.SessionwardMiddleware"
CSRF = "django.middleware.csrf.CsrfViewMiddleware"
CORS = "corsheaders.middleware.CorsMiddleware"
SECURITY = "django.middleware.security.SecurityMiddleware"


@pytest.fixture(autouse=True)
def _django() -> None:
    django_setup()


def ids(**overrides: Any) -> list[str]:
    """The ids of sessionward's check messages under these settings (its tag only: other
    tests of this process install apps whose global checks would need their apps)."""
    from django.core.checks import run_checks
    from django.test import override_settings

    with override_settings(**overrides):
        return sorted(str(m.id) for m in run_checks(tags=["sessionward"]))


def test_the_examples_settings_pass() -> None:
    assert ids() == []


def test_the_middleware_missing_is_an_error() -> None:
    assert ids(MIDDLEWARE=[]) == ["sessionward.E001"]
    assert ids(MIDDLEWARE=[CSRF]) == ["sessionward.E001"]


def test_the_middleware_listed_twice_warns() -> None:
    assert ids(MIDDLEWARE=[OURS, OURS]) == ["sessionward.W001"]


def test_the_middleware_above_one_that_must_wrap_it_warns() -> None:
    from django.core.checks import run_checks
    from django.test import override_settings

    assert ids(MIDDLEWARE=[OURS, CORS]) == ["sessionward.W002"]
    assert ids(MIDDLEWARE=[OURS, SECURITY, CSRF]) == ["sessionward.W002"]
    assert ids(MIDDLEWARE=[SECURITY, CORS, OURS, CSRF]) == []
    with override_settings(MIDDLEWARE=[OURS, CORS]):
        (message,) = [m for m in run_checks() if m.id == "sessionward.W002"]
    assert "CORS headers" in message.msg and CORS in str(message.hint)


def test_invalid_sessionward_settings_fail_manage_py_check() -> None:
    from django.core.checks import run_checks
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError
    from django.test import override_settings

    bad = {"refresh_path": "/refresh", "database_url": "sqlite://", "access_token_validity": -5}
    with override_settings(SESSIONWARD=bad):
        (message,) = [m for m in run_checks() if str(m.id).startswith("sessionward.")]
        assert message.id == "sessionward.E002"
        assert "access_token_validity" in message.msg
        with pytest.raises(SystemCheckError, match=r"sessionward\.E002"):
            call_command("check")
    unknown = {"refresh_path": "/refresh", "database_url": "sqlite://", "refersh_ttl": 3}
    assert ids(SESSIONWARD=unknown) == ["sessionward.E002"]
    assert ids(SESSIONWARD=["refresh_path"]) == ["sessionward.E002"]
    oracle = {"default": {"ENGINE": "django.db.backends.oracle"}}
    # DATABASES itself is not overridden (Django warns): database_url is what is missing.
    from django.conf import settings

    with override_settings(SESSIONWARD={"refresh_path": "/refresh"}):
        saved = settings.DATABASES
        settings.DATABASES = oracle
        try:
            (message,) = [m for m in run_checks() if str(m.id).startswith("sessionward.")]
        finally:
            settings.DATABASES = saved
    assert message.id == "sessionward.E002" and "oracle" in message.msg


def test_sessionward_not_set_warns() -> None:
    from django.conf import settings
    from django.core.checks import run_checks
    from django.test import override_settings

    with override_settings():
        del settings.SESSIONWARD
        found = [m.id for m in run_checks() if str(m.id).startswith("sessionward.")]
    assert found == ["sessionward.W003"]


def test_invalid_hooks_are_an_error() -> None:
    assert ids(SESSIONWARD_HOOKS={"on_nothing": print}) == ["sessionward.E003"]
    assert ids(SESSIONWARD_HOOKS={"on_token_theft": "no.such.module.hook"}) == ["sessionward.E003"]
    assert ids(SESSIONWARD_HOOKS={"on_token_theft": "builtins.print"}) == []


@pytest.fixture
def refresh_urls() -> Iterator[str]:
    from django.http import HttpRequest, JsonResponse
    from django.urls import path
    from django.views.decorators.csrf import csrf_exempt

    def refresh(request: HttpRequest) -> JsonResponse:
        return JsonResponse({})

    urls = types.ModuleType("sessionward_check_urls")
    urls.urlpatterns = [path("refresh", refresh)]  # type: ignore[attr-defined]
    exempt = types.ModuleType("sessionward_check_exempt_urls")
    exempt.urlpatterns = [path("refresh", csrf_exempt(refresh))]  # type: ignore[attr-defined]
    sys.modules[urls.__name__] = urls
    sys.modules[exempt.__name__] = exempt
    yield urls.__name__
    del sys.modules[urls.__name__], sys.modules[exempt.__name__]


def test_a_refresh_view_behind_the_csrf_middleware_warns(refresh_urls: str) -> None:
    assert ids(ROOT_URLCONF=refresh_urls, MIDDLEWARE=[CSRF, OURS]) == ["sessionward.W004"]
    assert ids(ROOT_URLCONF=refresh_urls, MIDDLEWARE=[OURS]) == []  # no CSRF middleware
    exempt = "sessionward_check_exempt_urls"
    assert ids(ROOT_URLCONF=exempt, MIDDLEWARE=[CSRF, OURS]) == []
    assert ids(MIDDLEWARE=[CSRF, OURS]) == []  # the example routes nothing at /refresh


@pytest.fixture
def login_urls() -> Iterator[str]:
    from django.http import HttpRequest, JsonResponse
    from django.urls import path
    from django.views.decorators.csrf import csrf_exempt

    from sessionward.integrations import django as sw

    @csrf_exempt
    def login(request: HttpRequest) -> JsonResponse:
        sw.create_new_session(request, "ann")
        return JsonResponse({})

    def guarded(request: HttpRequest) -> JsonResponse:  # not exempt: the CSRF middleware's
        return JsonResponse({})

    urls = types.ModuleType("sessionward_check_login_urls")
    urls.urlpatterns = [path("login", login), path("guarded", guarded)]  # type: ignore[attr-defined]
    sys.modules[urls.__name__] = urls
    yield urls.__name__
    del sys.modules[urls.__name__]


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("order", [[CSRF, OURS], [OURS, CSRF]])
def test_the_csrf_middleware_never_refuses_the_served_refresh(
    order: list[str], login_urls: str, make_config: Callable[..., Config], clock: Any
) -> None:
    from django.test import Client, override_settings

    from sessionward.integrations import django as sw

    manager = SessionManager(make_config(**EXAMPLE_SETTINGS), clock=clock)
    sw.configure(manager)
    try:
        with override_settings(MIDDLEWARE=order, ROOT_URLCONF=login_urls):
            client = Client(enforce_csrf_checks=True)
            assert client.post("/login").status_code == 200
            assert client.post("/guarded").status_code == 403  # the CSRF middleware is on
            old = client.cookies["sRefreshToken"].value
            clock.advance(66)
            refreshed = client.post("/refresh")
            assert refreshed.status_code == 200 and refreshed.json() == {"status": "OK"}
            assert client.cookies["sRefreshToken"].value != old
    finally:
        sw.configure(None)
        manager.close()
