"""Django system checks for sessionward, run by ``manage.py check`` (and before ``runserver``,
``migrate`` and the test runner), registered by the app's ``AppConfig.ready`` with the tag
``sessionward`` (``manage.py check --tag sessionward`` runs only these).

The check ids (silence one with ``SILENCED_SYSTEM_CHECKS``):

- ``sessionward.E001``: ``SessionwardMiddleware`` is not in ``MIDDLEWARE``: no refresh endpoint,
  no cookies written, and ``@verify_session()`` cannot work.
- ``sessionward.E002``: ``SESSIONWARD`` is invalid: the message is the ``ConfigError`` the
  first request would raise (an unknown setting, a value out of range, an unsupported
  ``DATABASES`` engine without ``database_url``).
- ``sessionward.E003``: ``SESSIONWARD_HOOKS`` is invalid (not a dict, an unknown hook name, a
  dotted path that does not import).
- ``sessionward.W001``: ``SessionwardMiddleware`` is listed more than once.
- ``sessionward.W002``: ``SessionwardMiddleware`` sits above a middleware that must wrap it
  (django-cors-headers' ``CorsMiddleware``, Django's ``SecurityMiddleware``): the refresh and
  error answers, which it writes itself, would miss that middleware's headers (a browser
  refuses a cross-origin refresh answer without its CORS headers).
- ``sessionward.W003``: ``SESSIONWARD`` is not set (fine only if the project calls
  ``sessionward.integrations.django.configure(manager)`` before the first request).
- ``sessionward.W004``: a URL pattern routes the refresh path to a view that is not
  ``csrf_exempt`` while ``CsrfViewMiddleware`` is on: Django would refuse that view's POST
  (``CSRF cookie not set``).

``CsrfViewMiddleware`` cannot refuse the refresh that ``SessionwardMiddleware`` serves,
wherever the two are placed: the CSRF middleware refuses in ``process_view``, which runs only
once every middleware has passed the request on, and ``SessionwardMiddleware`` answers the
refresh before that (the refresh is protected by the refresh token's cookie path, SameSite and
the transport's anti-CSRF rules instead). So no check is needed for that case; only a
hand-written refresh view behind the CSRF middleware is reported (W004).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning
from django.urls import Resolver404, resolve
from django.utils.module_loading import import_string

from sessionward._errors import ConfigError
from sessionward.integrations.django.middleware import SessionwardMiddleware

__all__ = ["check_hooks", "check_middleware", "check_refresh_view", "check_settings"]

_OURS = "sessionward.integrations.django.middleware.SessionwardMiddleware"
_CSRF = "django.middleware.csrf.CsrfViewMiddleware"
# Middleware whose headers the refresh and error answers need: they must come first.
_MUST_WRAP = {
    "corsheaders.middleware.CorsMiddleware": "its CORS headers",
    "django.middleware.security.SecurityMiddleware": "its security headers and HTTPS redirect",
}


def _is(entry: str, cls: type[Any], path: str) -> bool:
    """Whether the MIDDLEWARE entry names ``cls`` (or a subclass); an entry that does not
    import is Django's to report."""
    if entry == path:
        return True
    try:
        found = import_string(entry)
    except ImportError:
        return False
    return isinstance(found, type) and issubclass(found, cls)


def _middleware() -> list[str]:
    return [str(entry) for entry in (getattr(settings, "MIDDLEWARE", None) or [])]


def _ours(entries: Sequence[str]) -> list[int]:
    return [i for i, entry in enumerate(entries) if _is(entry, SessionwardMiddleware, _OURS)]


def check_middleware(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """E001 (missing), W001 (listed twice), W002 (above a middleware that must wrap it)."""
    entries = _middleware()
    positions = _ours(entries)
    if not positions:
        return [
            Error(
                "SessionwardMiddleware is not in MIDDLEWARE.",
                hint=f"Add '{_OURS}' to MIDDLEWARE (below CorsMiddleware and SecurityMiddleware).",
                id="sessionward.E001",
            )
        ]
    found: list[CheckMessage] = []
    if len(positions) > 1:
        found.append(
            Warning(
                f"SessionwardMiddleware is listed {len(positions)} times in MIDDLEWARE.",
                hint="Keep one entry.",
                id="sessionward.W001",
            )
        )
    first = positions[0]
    for index, entry in enumerate(entries):
        for path, why in _MUST_WRAP.items():
            if index > first and entry == path:
                found.append(
                    Warning(
                        f"SessionwardMiddleware is above {path} in MIDDLEWARE: the refresh "
                        f"and error answers it writes itself would miss {why}.",
                        hint=f"Move '{path}' above '{entries[first]}'.",
                        id="sessionward.W002",
                    )
                )
    return found


def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """E002: the Config of ``SESSIONWARD`` built as the first request would, its error
    reported now; W003: no ``SESSIONWARD`` at all."""
    from sessionward.integrations.django._settings import _config_from_settings, _state

    if not hasattr(settings, "SESSIONWARD"):
        if _state.configured:
            return []
        return [
            Warning(
                "SESSIONWARD is not set.",
                hint="Set SESSIONWARD = {'refresh_path': '/refresh', ...} (any sessionward.Config "
                "setting), or call sessionward.integrations.django.configure(manager) at start-up.",
                id="sessionward.W003",
            )
        ]
    try:
        _config_from_settings()
    except ConfigError as exc:
        return [Error(f"SESSIONWARD is invalid: {exc}", id="sessionward.E002")]
    return []


def check_hooks(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """E003: ``SESSIONWARD_HOOKS`` that the first request could not load."""
    from sessionward.integrations.django._settings import hooks_from_settings

    try:
        hooks_from_settings()
    except (ConfigError, ImportError) as exc:
        return [Error(f"SESSIONWARD_HOOKS is invalid: {exc}", id="sessionward.E003")]
    return []


def check_refresh_view(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """W004: the refresh path routed to a view that CsrfViewMiddleware would refuse."""
    from sessionward.integrations.django._settings import _config_from_settings

    if not any(entry == _CSRF for entry in _middleware()):
        return []
    try:
        refresh_path = _config_from_settings().refresh_path
    except ConfigError:
        return []  # E002 says why
    try:
        match = resolve(refresh_path)
    except Resolver404:
        return []
    except Exception:  # a broken URLconf: Django's own URL checks report it
        return []
    if getattr(match.func, "csrf_exempt", False):
        return []
    return [
        Warning(
            f"The refresh path {refresh_path!r} is routed to {match._func_path}, which "
            "CsrfViewMiddleware refuses without a CSRF token.",
            hint="SessionwardMiddleware serves POST on the refresh path itself: remove the route, "
            "or mark the view with django.views.decorators.csrf.csrf_exempt.",
            id="sessionward.W004",
        )
    ]
