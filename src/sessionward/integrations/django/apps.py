"""The Django app: ``INSTALLED_APPS += ["sessionward.integrations.django"]``."""

from __future__ import annotations

from django.apps import AppConfig

__all__ = ["SessionwardConfig"]


class SessionwardConfig(AppConfig):
    """Provides the management commands and the system checks
    (:mod:`sessionward.integrations.django.checks`); the tables are the engine's (see
    docs/frameworks)."""

    name = "sessionward.integrations.django"
    label = "sessionward"
    verbose_name = "sessionward sessions"

    def ready(self) -> None:
        from django.core import checks

        from sessionward.integrations.django import checks as ours

        for check in (
            ours.check_middleware,
            ours.check_settings,
            ours.check_hooks,
            ours.check_refresh_view,
        ):
            checks.register(check, "sessionward")
