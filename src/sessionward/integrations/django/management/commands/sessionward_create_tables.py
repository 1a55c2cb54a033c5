"""``manage.py sessionward_create_tables``: create the tables and keys at deploy time."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from sessionward.integrations.django import get_manager

__all__ = ["Command"]


class Command(BaseCommand):
    help = "Create sessionward's tables (if missing) and its keys now rather than on first use."

    def handle(self, *args: Any, **options: Any) -> None:
        get_manager().create_tables()
        self.stdout.write("sessionward tables ready")
