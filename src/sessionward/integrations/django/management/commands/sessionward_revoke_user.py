"""``manage.py sessionward_revoke_user USER_ID``: log a user out everywhere."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from sessionward.integrations.django import get_manager

__all__ = ["Command"]


class Command(BaseCommand):
    help = "Revoke every session of a user (they must log in again on every device)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("user_id")

    def handle(self, *args: Any, **options: Any) -> None:
        count = get_manager().revoke_all_sessions_for_user(options["user_id"])
        self.stdout.write(f"revoked {count} session(s)")
