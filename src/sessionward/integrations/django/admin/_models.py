"""The admin's registry entry: an unmanaged model, never queried (no table, no migration)."""

from __future__ import annotations

from typing import Any

from django.db import models


class Session(models.Model):
    """A sessionward session as the admin names it; rows come from the manager."""

    handle: Any = models.CharField(max_length=128, primary_key=True)

    class Meta:
        managed = False
        app_label = "sessionward_admin"
        db_table = "sessionward_admin_session_never_created"
        verbose_name = "session"
        verbose_name_plural = "sessions"
        default_permissions = ("view",)
        permissions = (("revoke_session", "Can revoke sessions"),)

    def __str__(self) -> str:
        return str(self.handle)
