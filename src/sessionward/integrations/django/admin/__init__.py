"""An opt-in Django admin of sessionward's sessions: ``INSTALLED_APPS +=
["sessionward.integrations.django.admin"]`` (with ``django.contrib.admin``, its usual
companions, and ``sessionward.integrations.django``).

The admin shows one user's live sessions in a tenant (search by user id; tenant ``public`` by
default): user id, tenant, device, IP, created, last active, expiry and, for an impersonation,
who acts. Its two actions, "revoke selected sessions" and "sign out this user everywhere", go
through the project's manager (``get_manager()``), so the revocation reaches every process
within the revocation bound and the hooks fire (reason ``admin``).

Staff only: viewing needs ``sessionward_admin.view_session`` (or a superuser), the actions
``sessionward_admin.revoke_session``. Nothing can be added or edited.

No migration: the app's model is unmanaged and has no migrations module, and it is only the
admin's registry entry; every read and write goes through the manager, never the ORM. The
tables are the engine's (``manage.py sessionward_create_tables``).

The model and the admin class live in private modules (``_models``, ``_admin``) that the app
config loads, so that this package imports without a configured Django.
"""

from __future__ import annotations

__all__: list[str] = []
