"""``manage.py sessionward_purge``: delete expired sessions and dead signing keys now."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from sessionward.integrations.django import get_manager

__all__ = ["Command"]


class Command(BaseCommand):
    help = "Delete expired sessions (and signing keys that can no longer verify anything)."

    def handle(self, *args: Any, **options: Any) -> None:
        count = get_manager().purge_expired_sessions()
        self.stdout.write(f"purged {count} expired session(s)")
