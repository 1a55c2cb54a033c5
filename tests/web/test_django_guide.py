"""docs/frameworks/django.md works as written: its project is built from its own code blocks in a
fresh ``startproject``, served by uvicorn on loopback, and driven over real HTTP with httpx (its
own cookie jar: Secure and path rules as a real client applies them)."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.example_servers import SRC, running_server
from tests.support.guides import guide_files, write_guide_files

DRF_SECTION = "Django REST framework"
CHANGELIST = "/admin/sessionward_admin/session/"


STAFF = {"DJANGO_SUPERUSER_USERNAME": "staff", "DJANGO_SUPERUSER_PASSWORD": "staff-pw-1"}


def _env() -> dict[str, str]:
    path = f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"
    return {
        **os.environ,
        **STAFF,
        "DJANGO_SUPERUSER_EMAIL": "staff@example.com",
        "PYTHONPATH": path,
    }


def _run(*argv: str, cwd: Path) -> str:
    done = subprocess.run(
        [sys.executable, *argv], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"{' '.join(argv)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


@pytest.fixture
def guide_project(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The guide's project (with its DRF section when ``request.param`` is "drf"), checked,
    migrated and served; yields its base URL."""
    with_drf = request.param == "drf"
    files = [f for f in guide_files("django") if with_drf or f.section != DRF_SECTION]
    assert {f.path for f in files} >= {"mysite/settings.py", "mysite/urls.py", "mysite/views.py"}
    _run("-m", "django", "startproject", "mysite", cwd=tmp_path)  # django-admin startproject
    root = tmp_path / "mysite"
    write_guide_files(root, files)
    _run("manage.py", "check", cwd=root)  # the guide's step 5, as written
    _run("manage.py", "migrate", "--noinput", cwd=root)
    _run("manage.py", "createsuperuser", "--noinput", cwd=root)  # the admin's section
    app = ("-m", "uvicorn", "--app-dir", str(root), "mysite.asgi:application")
    with running_server("guide", tmp_path, *app) as url:
        yield url


def _login(client: httpx.Client, user_id: str) -> dict[str, str]:
    """Log in; the anti-CSRF header a frontend keeps for its non-GET requests."""
    login = client.post("/login", json={"userId": user_id})
    assert login.status_code == 200, login.text
    assert login.json() == {"userId": user_id}
    assert {"sAccessToken", "sRefreshToken"} <= set(client.cookies.keys())
    return {"anti-csrf": login.headers["anti-csrf"]}


def _refresh(client: httpx.Client, csrf: dict[str, str]) -> dict[str, str]:
    """POST the refresh path; the refresh cookie (path /refresh) goes only there."""
    before = client.cookies.get("sAccessToken")
    refreshed = client.post("/refresh", headers=csrf)
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json() == {"status": "OK"}
    assert client.cookies.get("sAccessToken") not in (None, before)  # a new access token
    return {"anti-csrf": refreshed.headers.get("anti-csrf", csrf["anti-csrf"])}


def _assert_unauthorised(reply: httpx.Response) -> None:
    assert reply.status_code == 440, reply.text
    assert reply.json() == {"message": "unauthorised"}


@pytest.mark.parametrize("guide_project", ["django"], indirect=True)
def test_the_guide_project_serves_login_protected_refresh_logout(guide_project: str) -> None:
    with httpx.Client(base_url=guide_project, timeout=10) as client:
        _assert_unauthorised(client.get("/me"))  # no session yet
        not_json = client.post("/login", content=b"{", headers={"content-type": "application/json"})
        assert not_json.status_code == 400 and "message" in not_json.json()
        csrf = _login(client, "u1")
        assert client.get("/me").json() == {"userId": "u1", "role": "user"}
        csrf = _refresh(client, csrf)
        me = client.get("/me")
        assert me.status_code == 200 and me.json() == {"userId": "u1", "role": "user"}
        assert client.post("/logout").status_code == 440  # no anti-csrf header: refused
        logout = client.post("/logout", headers=csrf)  # csrf_exempt: Django lets it through
        assert logout.status_code == 200 and logout.json() == {"status": "OK"}
        assert client.cookies.get("sAccessToken") is None  # the cookies were cleared
        _assert_unauthorised(client.get("/me"))
        # The CORS section: a preflight may send anti-csrf, and sessionward's own answers (a
        # 440) carry the CORS headers, the middleware being above sessionward's.
        origin = {"Origin": "https://app.example"}
        preflight = client.options(
            "/refresh",
            headers={**origin, "Access-Control-Request-Method": "POST"}
            | {"Access-Control-Request-Headers": "anti-csrf"},
        )
        assert preflight.headers["access-control-allow-origin"] == "https://app.example"
        assert "anti-csrf" in preflight.headers["access-control-allow-headers"].lower()
        refused = client.get("/me", headers=origin)
        assert refused.status_code == 440
        assert refused.headers["access-control-allow-origin"] == "https://app.example"
        assert refused.headers["access-control-allow-credentials"] == "true"


@pytest.mark.parametrize("guide_project", ["drf"], indirect=True)
def test_the_guide_drf_viewset_serves_login_protected_refresh_logout(guide_project: str) -> None:
    with httpx.Client(base_url=guide_project, timeout=10) as client:
        _assert_unauthorised(client.get("/api/account/"))  # IsAuthenticated, no session
        csrf = _login(client, "u2")
        account = client.get("/api/account/")
        assert account.status_code == 200 and account.json() == {"userId": "u2", "role": "user"}
        report = client.get("/api/report/")  # ClaimPermission(has_role("admin")), role "user"
        assert report.status_code == 403 and report.json()["claim"], report.text
        assert set(report.json()) == {"message", "claim"}
        csrf = _refresh(client, csrf)
        assert client.get("/api/account/").json() == {"userId": "u2", "role": "user"}
        logout = client.post("/api/account/logout/", headers=csrf)
        assert logout.status_code == 200 and logout.json() == {"status": "OK"}
        assert client.cookies.get("sAccessToken") is None  # revoke()'s writes reached DRF's reply
        _assert_unauthorised(client.get("/api/account/"))
        assert client.get("/me").status_code == 440  # the plain views are there too


def _csrf_form(client: httpx.Client, path: str) -> str:
    """The CSRF token of the admin form at ``path`` (Django's own protection, not ours)."""
    page = client.get(path)
    assert page.status_code == 200, page.text
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


@pytest.mark.parametrize("guide_project", ["django"], indirect=True)
def test_the_guide_admin_signs_a_user_out_everywhere(guide_project: str) -> None:
    """The admin section as written: a superuser searches a user's sessions and signs them out
    everywhere, over real HTTP; the user's next request is refused."""
    with (
        httpx.Client(base_url=guide_project, timeout=10) as phone,
        httpx.Client(base_url=guide_project, timeout=10) as laptop,
        httpx.Client(base_url=guide_project, timeout=10, follow_redirects=True) as staff,
    ):
        _login(phone, "u3")
        _login(laptop, "u3")
        login = staff.post(
            "/admin/login/?next=/admin/",
            data={
                "username": STAFF["DJANGO_SUPERUSER_USERNAME"],
                "password": STAFF["DJANGO_SUPERUSER_PASSWORD"],
                "csrfmiddlewaretoken": _csrf_form(staff, "/admin/login/"),
                "next": "/admin/",
            },
        )
        assert login.status_code == 200 and CHANGELIST in login.text, login.text
        listing = staff.get(CHANGELIST, params={"q": "u3"})
        handles = re.findall(r'name="_selected_action" value="([^"]+)"', listing.text)
        assert len(handles) == 2, listing.text
        token = _csrf_form(staff, f"{CHANGELIST}?q=u3")
        action = {"action": "sign_out_everywhere", "user_id": "u3", "tenant": "public"}
        done = staff.post(CHANGELIST, data={**action, "csrfmiddlewaretoken": token})
        assert done.status_code == 200 and "u3" in done.text
        assert re.findall(r'name="_selected_action"', done.text) == []  # none left to list
        _assert_unauthorised(phone.get("/me"))
        _assert_unauthorised(laptop.get("/me"))


@pytest.fixture(autouse=True)
def _drf_integration(request: pytest.FixtureRequest) -> None:
    """The DRF half needs djangorestframework and ``sessionward.integrations.drf``: found, not
    imported (importing DRF here would need this process's Django settings; the server imports
    it)."""
    if "drf" in request.node.name:
        for module in ("rest_framework", "sessionward.integrations.drf"):
            if importlib.util.find_spec(module) is None:
                pytest.skip(f"could not find {module!r}")
