"""The admin's app: ``INSTALLED_APPS += ["sessionward.integrations.django.admin"]``."""

from __future__ import annotations

from importlib import import_module

from django.apps import AppConfig

__all__ = ["SessionwardAdminConfig"]


class SessionwardAdminConfig(AppConfig):
    """Registers the sessions' admin; its model is unmanaged, without migrations."""

    name = "sessionward.integrations.django.admin"
    label = "sessionward_admin"
    verbose_name = "sessionward"
    default_auto_field = "django.db.models.AutoField"

    def import_models(self) -> None:
        # The model module is private (a public module must import without Django configured).
        assert self.apps is not None  # set by the registry before it imports models
        self.models = self.apps.all_models[self.label]
        self.models_module = import_module(f"{self.name}._models")

    def ready(self) -> None:
        import_module(f"{self.name}._admin")
