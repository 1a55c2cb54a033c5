"""``manage.py sessionward_revoke_tenant TENANT``: log every user of a tenant out everywhere."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from sessionward._errors import InvalidArgumentError
from sessionward.integrations.django import get_manager

__all__ = ["Command"]


class Command(BaseCommand):
    help = "Revoke every session of a tenant (offboarding a customer): all its users are out."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("tenant")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            count = get_manager().revoke_all_sessions_for_tenant(options["tenant"])
        except InvalidArgumentError as exc:  # a malformed id: a clear message, no traceback
            raise CommandError(str(exc)) from None
        self.stdout.write(f"revoked {count} session(s) of tenant {options['tenant']!r}")
