"""The opt-in sessions admin (sessionward.integrations.django.admin), driven with Django's test
Client as a logged-in superuser: search, the two actions (through the manager: the hooks fire,
and another process refuses the revoked tokens within the revocation bound), staff only, and
no Django migration touching sessionward's schema.

Django is configured once per process (tests/support/web_apps.py, with no database); the admin
needs Django's own tables (users, permissions, sessions), so each test points the ``default``
connection at an SQLite file of its own and migrates it. sessionward's tables are elsewhere,
on the backend under test, and the Django migration never creates them."""

from __future__ import annotations

import multiprocessing
import re
import sys
import time
import types
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from sessionward import ClientContext, Config, SessionHooks, SessionManager
from tests.conftest import backend_url, drop_tables, unique_tables
from tests.support.revocation_worker import verify_until
from tests.support.web_apps import EXAMPLE_SETTINGS, django_checks_restored, django_setup

CHANGELIST = "/admin/sessionward_admin/session/"
HOME = ClientContext("203.0.113.10", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Firefox/128.0")
APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "sessionward.integrations.django",
    "sessionward.integrations.django.admin",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "sessionward.integrations.django.middleware.SessionwardMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]


@contextmanager
def django_database(path: Path) -> Iterator[None]:
    """The ``default`` connection on an SQLite file, for this thread, then back (DATABASES
    itself is not overridden: Django warns that connections would not follow)."""
    from django.db import connections

    saved_private, saved = connections._settings, connections.__dict__.get("settings")
    previous = connections["default"]
    engine = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(path)}
    connections._settings = connections.configure_settings({"default": engine})
    connections.__dict__["settings"] = connections._settings
    connection = connections.create_connection("default")
    connections["default"] = connection
    try:
        yield
    finally:
        connection.close()
        connections["default"] = previous
        connections._settings = saved_private
        if saved is None:
            connections.__dict__.pop("settings", None)
        else:
            connections.__dict__["settings"] = saved


@contextmanager
def admin_site(tmp_path: Path, manager: SessionManager) -> Iterator[Any]:
    """A project with the admin and the sessions' admin installed; yields the test Client
    logged in as a superuser."""
    django_setup()
    from django.contrib import admin
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client, override_settings
    from django.urls import path

    from sessionward.integrations import django as sw

    sw.configure(manager)
    urls = types.ModuleType("sessionward_admin_test_urls")
    sys.modules[urls.__name__] = urls
    try:
        with (
            django_checks_restored(),
            django_database(tmp_path / "django.sqlite3"),
            override_settings(
                INSTALLED_APPS=APPS,
                MIDDLEWARE=MIDDLEWARE,
                TEMPLATES=TEMPLATES,
                ROOT_URLCONF=urls.__name__,
            ),
        ):
            urls.urlpatterns = [path("admin/", admin.site.urls)]  # type: ignore[attr-defined]
            call_command("migrate", verbosity=0)
            root = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
            client = Client()
            client.force_login(root)
            yield client
    finally:
        sw.configure(None)
        del sys.modules[urls.__name__]


@pytest.fixture
def manager(make_config: Callable[..., Config], clock: Any) -> Iterator[SessionManager]:
    revoked: list[Any] = []
    made = SessionManager(
        make_config(**EXAMPLE_SETTINGS),
        clock=clock,
        hooks=SessionHooks(on_session_revoked=revoked.append),
    )
    made.revoked = revoked  # type: ignore[attr-defined]
    yield made
    made.close()


@pytest.fixture
def site(tmp_path: Path, manager: SessionManager) -> Iterator[Any]:
    with admin_site(tmp_path, manager) as client:
        yield client


def handles(manager: SessionManager, user: str, tenant: str = "public") -> set[str]:
    return set(manager.get_all_session_handles_for_user(user, tenant_id=tenant))


def listed(page: Any) -> list[str]:
    """The session handles on a changelist page."""
    return re.findall(r'name="_selected_action" value="([^"]+)"', page.content.decode())


def test_the_changelist_lists_a_users_sessions_after_a_search(
    site: Any, manager: SessionManager
) -> None:
    ann = {manager.create_new_session("ann", client=HOME).session.handle for _ in range(2)}
    manager.create_new_session("bob", client=HOME)
    manager.create_new_session("ann", tenant_id="acme", client=HOME)

    index = site.get("/admin/")
    assert index.status_code == 200 and CHANGELIST in index.content.decode()
    empty = site.get(CHANGELIST)
    assert empty.status_code == 200 and listed(empty) == []
    page = site.get(CHANGELIST, {"q": "ann"})
    assert page.status_code == 200
    assert set(listed(page)) == ann  # not bob's, not ann's in another tenant
    html = page.content.decode()
    assert "Firefox" in html and "203.0.113.10" in html
    expires = manager.list_sessions_for_user("ann")[0].expires_at
    year = datetime.fromtimestamp(expires / 1000, tz=timezone.utc).year
    assert re.search(rf"<td>[A-Z][a-z]+\.? \d+, {year}, ", html), "times shown as dates"
    acme = site.get(CHANGELIST, {"q": "ann", "tenant": "acme"})
    assert len(listed(acme)) == 1 and ">acme<" in acme.content.decode()
    # Bad input: a clear message on the page, never a 500.
    bad = site.get(CHANGELIST, {"q": "ann", "tenant": "no/such tenant"})
    assert bad.status_code == 200 and "tenant_id must be" in bad.content.decode()
    assert site.get(CHANGELIST, {"q": "x" * 5000}).status_code == 200


def test_revoke_selected_ends_exactly_those_sessions(site: Any, manager: SessionManager) -> None:
    made = [manager.create_new_session("ann", client=HOME).session.handle for _ in range(3)]
    other = manager.create_new_session("bob", client=HOME).session.handle
    answer = site.post(
        CHANGELIST,
        {
            "action": "revoke_selected",
            "user_id": "ann",
            "tenant": "public",
            "_selected_action": [made[0], made[1], other],  # bob's: not ann's, left alone
        },
    )
    assert answer.status_code == 302 and answer.url == f"{CHANGELIST}?q=ann&tenant=public"
    assert handles(manager, "ann") == {made[2]}
    assert handles(manager, "bob") == {other}
    fired = manager.revoked  # type: ignore[attr-defined]
    assert sorted(e.session_handle for e in fired) == sorted(made[:2])
    assert {e.reason.value for e in fired} == {"admin"}
    page = site.get(answer.url)
    assert "Revoked 2 session(s) of ann." in page.content.decode()
    assert listed(page) == [made[2]]


def test_sign_out_everywhere_ends_the_users_sessions_in_that_tenant_only(
    site: Any, manager: SessionManager
) -> None:
    for _ in range(2):
        manager.create_new_session("ann", client=HOME)
    kept = manager.create_new_session("ann", tenant_id="acme").session.handle
    bob = manager.create_new_session("bob").session.handle
    answer = site.post(
        CHANGELIST, {"action": "sign_out_everywhere", "user_id": "ann", "tenant": "public"}
    )
    assert answer.status_code == 302
    assert handles(manager, "ann") == set()
    assert handles(manager, "ann", "acme") == {kept}
    assert handles(manager, "bob") == {bob}
    assert len(manager.revoked) == 2  # type: ignore[attr-defined]
    assert "2 session(s) ended" in site.get(answer.url).content.decode()


def test_staff_only_and_read_only(site: Any, manager: SessionManager) -> None:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission
    from django.test import Client

    handle = manager.create_new_session("ann").session.handle
    users = get_user_model().objects
    plain = Client()
    plain.force_login(users.create_user("joe", password="pw"))  # not staff
    refused = plain.get(CHANGELIST, {"q": "ann"})
    assert refused.status_code == 302 and refused.url.startswith("/admin/login/")
    assert plain.post(
        CHANGELIST, {"action": "sign_out_everywhere", "user_id": "ann"}
    ).url.startswith("/admin/login/")
    anonymous = Client().get(CHANGELIST)
    assert anonymous.status_code == 302 and anonymous.url.startswith("/admin/login/")

    staff = users.create_user("sue", password="pw", is_staff=True)
    viewer = Client()
    viewer.force_login(staff)
    assert viewer.get(CHANGELIST, {"q": "ann"}).status_code == 403  # staff, without the permission
    staff.user_permissions.add(
        Permission.objects.get(content_type__app_label="sessionward_admin", codename="view_session")
    )
    viewer.force_login(users.get(pk=staff.pk))
    page = viewer.get(CHANGELIST, {"q": "ann"})
    assert page.status_code == 200 and "Sign out this user everywhere" not in page.content.decode()
    assert (
        viewer.post(CHANGELIST, {"action": "sign_out_everywhere", "user_id": "ann"}).status_code
        == 403
    )
    assert handles(manager, "ann") == {handle}
    # No add, change or delete pages: the admin only lists and revokes.
    assert site.get(f"{CHANGELIST}add/").status_code == 404
    assert site.get(f"{CHANGELIST}{handle}/change/").status_code == 404
    assert {
        p.codename for p in Permission.objects.filter(content_type__app_label="sessionward_admin")
    } == {
        "view_session",
        "revoke_session",
    }


def test_no_django_migration_defines_sessionwards_schema(site: Any) -> None:
    from django.apps import apps
    from django.core.management import call_command
    from django.db import connection

    model = apps.get_model("sessionward_admin", "Session")
    assert model._meta.managed is False
    assert model._meta.db_table not in connection.introspection.table_names()
    # Nothing to make: no migrations module, and makemigrations creates none.
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)
    with pytest.raises(ModuleNotFoundError):
        __import__("sessionward.integrations.django.admin.migrations")


# The admin's revocation in another process, within the revocation bound.
INTERVAL_S = 2.0  # the default revocation_refresh_interval
BOUND_S = INTERVAL_S + 1.0
RUN_S = 8.0


@pytest.mark.multiprocess
@pytest.mark.parametrize("backend", ["sqlite", "mysql", "postgres"])
def test_the_admins_revocations_reach_another_process_within_the_bound(
    backend: str, tmp_path: Path
) -> None:
    url = backend_url(backend, tmp_path)
    tables = unique_tables()
    config = Config(refresh_path="/refresh", database_url=url, **tables)
    assert config.revocation_mode == "cached"
    assert config.revocation_refresh_interval == INTERVAL_S
    try:
        with SessionManager(config) as main, admin_site(tmp_path, main) as site:
            logins = {
                "selected": main.create_new_session("ann", client=HOME),
                "everywhere-1": main.create_new_session("ann", client=HOME),
                "everywhere-2": main.create_new_session("ann", client=HOME),
                "other-tenant": main.create_new_session("ann", tenant_id="acme"),
                "bystander": main.create_new_session("bob"),
            }
            tokens = {name: (t.access_token.value, t.anti_csrf_token) for name, t in logins.items()}
            context = multiprocessing.get_context("spawn")
            barrier = context.Manager().Barrier(2)
            with ProcessPoolExecutor(1, mp_context=context) as pool:
                future = pool.submit(verify_until, config, tokens, barrier, RUN_S, 0.0)
                barrier.wait(timeout=60)
                time.sleep(1.0)
                revoked_at = {}
                selected = logins["selected"].session.handle
                answer = site.post(
                    CHANGELIST,
                    {"action": "revoke_selected", "user_id": "ann", "_selected_action": selected},
                )
                assert answer.status_code == 302
                revoked_at["selected"] = time.time()
                time.sleep(1.5)
                answer = site.post(CHANGELIST, {"action": "sign_out_everywhere", "user_id": "ann"})
                assert answer.status_code == 302
                revoked_at["everywhere-1"] = revoked_at["everywhere-2"] = time.time()
                result = future.result(timeout=RUN_S + 60)
        assert result["errors"] == []
        refused = result["refused"]
        assert set(refused) == set(revoked_at), refused  # the other tenant's and bob's: working
        for name, at in revoked_at.items():
            assert refused[name] - at <= BOUND_S, (name, refused[name] - at)
    finally:
        drop_tables(url, tables)
