"""The Django app: ``INSTALLED_APPS += ["sessionward.integrations.django"]``."""

from __future__ import annotations

from django.apps import AppConfig

__all__ = ["SessionwardConfig"]


class SessionwardConfig(AppConfig):
    """Provides the management commands; the tables are the engine's (see docs/frameworks)."""

    name = "sessionward.integrations.django"
    label = "sessionward"
    verbose_name = "sessionward sessions"
