"""Settings of the Django example, built from the command line (no settings module needed)."""

from __future__ import annotations

import secrets
from typing import Any


def build_settings(
    *,
    database_url: str = "sqlite:///sessionward-example.sqlite3",
    access_token_validity: int = 3600,
    blacklisting: bool = False,
    signing_algorithm: str = "HS256",
    trusted_proxies: tuple[str, ...] = (),
    forwarded_header: str = "x-forwarded-for",
    allowed_hosts: tuple[str, ...] = ("127.0.0.1", "localhost", "testserver"),
) -> dict[str, Any]:
    """Keyword arguments for ``django.conf.settings.configure``."""
    return {
        "DEBUG": False,
        "SECRET_KEY": secrets.token_urlsafe(32),
        "ALLOWED_HOSTS": list(allowed_hosts),
        "ROOT_URLCONF": "django_app.urls",
        "INSTALLED_APPS": ["rest_framework", "sessionward.integrations.django"],
        "MIDDLEWARE": ["sessionward.integrations.django.middleware.SessionwardMiddleware"],
        "DATABASES": {},
        "USE_TZ": True,
        "SESSIONWARD": {
            "refresh_path": "/refresh",
            "database_url": database_url,
            "access_token_validity": access_token_validity,
            "allow_short_access_tokens": True,
            "revocation_check": "exact" if blacklisting else None,
            "signing_algorithm": signing_algorithm,
            # The revocation feed for resource services: it needs an asymmetric key.
            "revocation_feed_path": None
            if signing_algorithm == "HS256" or blacklisting
            else "/.well-known/revocations",
            "cookie_secure": False,  # plain http on a development machine
            "cookie_same_site": "lax",
            "trusted_proxies": trusted_proxies,
            "forwarded_header": forwarded_header,
        },
        # Django REST framework, under /drf/ (drf_views.py): the session authenticates, and the
        # error family gets the protocol's answers.
        "REST_FRAMEWORK": {
            "DEFAULT_AUTHENTICATION_CLASSES": [
                "sessionward.integrations.drf.SessionwardAuthentication"
            ],
            "EXCEPTION_HANDLER": "sessionward.integrations.drf.exception_handler",
            "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
            "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
            "UNAUTHENTICATED_USER": None,  # no django.contrib.auth in this example
        },
        "LOGGING_CONFIG": None,
    }
