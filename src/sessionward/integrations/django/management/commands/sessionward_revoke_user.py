"""``manage.py sessionward_revoke_user USER_ID [--tenant T]``: log a user out everywhere."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from sessionward._errors import InvalidArgumentError
from sessionward._models import DEFAULT_TENANT
from sessionward.integrations.django import get_manager

__all__ = ["Command"]


class Command(BaseCommand):
    help = "Revoke every session of a user (they must log in again on every device)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("user_id")
        parser.add_argument(
            "--tenant",
            default=DEFAULT_TENANT,
            help=f"the tenant the user belongs to (default {DEFAULT_TENANT!r})",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        user_id, tenant = options["user_id"], options["tenant"]
        try:
            count = get_manager().revoke_all_sessions_for_user(user_id, tenant_id=tenant)
        except InvalidArgumentError as exc:  # a malformed id: a clear message, no traceback
            raise CommandError(str(exc)) from None
        self.stdout.write(f"revoked {count} session(s)")
