"""The documentation holds: the security checklist names tests that exist, every link leads
somewhere (the protocol document included), and the framework guides' code runs as written."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from tests.support.doc_blocks import runnable

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = re.compile(r"`(?:((?:web/|hardening/)?test_\w+\.py))?(?:::(\w+))?`")


def test_security_checklist_names_existing_tests():
    """``file.py::test`` names a test; a bare ``::test`` refers to the last file in its cell."""
    text = (ROOT / "docs" / "security.md").read_text()
    checked = 0
    for cell in re.findall(r"\|([^|\n]*test_[^|\n]*)\|", text):
        current = None
        for file_name, test_name in REFERENCE.findall(cell):
            if file_name:
                current = file_name
                assert (ROOT / "tests" / current).is_file(), f"missing test file {current}"
            if test_name:
                assert current is not None, cell
                body = (ROOT / "tests" / current).read_text()
                assert re.search(rf"def {test_name}\(", body), f"missing {current}::{test_name}"
                checked += 1
    assert checked > 30


# --- the protocol document and every reference to it ------------------------------------------

PROTOCOL_DOC = ROOT / "docs" / "protocol.md"
TEXT_SUFFIXES = {".py", ".md", ".js", ".html", ".css", ".toml", ".txt", ""}


def _tracked_text_files() -> dict[str, str]:
    """Every text file git tracks or would track (new files included), by relative path."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    files = {}
    for name in listed:
        path = ROOT / name
        if path.suffix in TEXT_SUFFIXES and path.is_file():
            files[name] = path.read_text(errors="replace")
    return files


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(markdown: str) -> set[str]:
    outside_code = re.sub(r"```.*?```", "", markdown, flags=re.DOTALL)
    return {github_slug(h) for h in re.findall(r"^#+ (.+)$", outside_code, flags=re.MULTILINE)}


def test_no_reference_points_outside_the_repository() -> None:
    files = _tracked_text_files()
    assert "docs/protocol.md" in files
    outside, citation = "shared/" + "PROTOCOL", "PROTOCOL " + "§"  # (not found in this file)
    for name, text in files.items():
        assert outside not in text, name
        assert citation not in text, f"{name} cites the old specification"


def test_every_link_to_the_protocol_document_names_one_of_its_sections() -> None:
    anchors = _anchors(PROTOCOL_DOC.read_text())
    assert {"on-the-wire", "when-a-refresh-is-theft", "the-grace-window"} <= anchors
    checked = 0
    for name, text in _tracked_text_files().items():
        for anchor in re.findall(r"protocol\.md#([\w-]+)", text):
            assert anchor in anchors, f"{name}: protocol.md#{anchor} is not a heading"
            checked += 1
    assert checked > 25


def test_relative_links_in_the_docs_lead_somewhere() -> None:
    """Every relative Markdown link of the README and docs/ names an existing file and, for a
    Markdown file, an existing heading."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    checked = 0
    for page in pages:
        text = re.sub(r"```.*?```", "", page.read_text(), flags=re.DOTALL)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue  # http(s), mailto: not ours to check here
            path_part, _, anchor = target.partition("#")
            linked = (page.parent / path_part).resolve() if path_part else page
            assert linked.exists(), f"{page.name}: {target}"
            # A generated page's anchors exist only in the site: `mkdocs build --strict` checks
            # them (tests/test_site.py).
            generated = linked.suffix == ".md" and "<!-- generated:" in linked.read_text()
            if anchor and linked.suffix == ".md" and not generated:
                assert anchor in _anchors(linked.read_text()), f"{page.name}: {target}"
            checked += 1
    assert checked > 15


# --- the framework guides' code, run as written ------------------------------------------------


def guide_blocks(name: str) -> list[str]:
    """The Python blocks of ``docs/frameworks/<name>.md`` that are code to run: all but those
    marked ``<!-- not run: ... -->`` (the one-line idiom each guide opens with, a fragment)."""
    blocks = runnable(f"frameworks/{name}.md", "python")
    assert all(len(b.strip().splitlines()) > 1 for b in blocks), f"{name}: an unmarked fragment"
    return blocks


def test_the_fastapi_guide_runs_as_written(tmp_path, monkeypatch):
    """Every block in order, in one module (each extends the app of the first); then its routes
    answer, through Starlette's test client."""
    monkeypatch.chdir(tmp_path)
    for _ in range(2):  # twice in the same folder: its SQLite file holds the first run's rows
        _run_the_fastapi_guide()


def _run_the_fastapi_guide() -> None:
    import asyncio

    from starlette.testclient import TestClient

    namespace: dict[str, object] = {"__name__": "guide_fastapi"}
    managers = []
    for block in guide_blocks("fastapi"):
        exec(compile(block, "fastapi.md", "exec"), namespace)
        managers.append(namespace["manager"])
    # The text says to route `sessions.refresh_endpoint` yourself: the code must define it.
    assert callable(namespace["sessions"].refresh_endpoint)  # type: ignore[attr-defined]
    try:
        with TestClient(namespace["app"], base_url="http://127.0.0.1") as client:
            login = client.post("/login", json={"userId": "u1"})
            assert login.status_code == 200 and login.json() == {"userId": "u1"}
            csrf = {"anti-csrf": login.headers["anti-csrf"]}
            assert client.post("/like", headers=csrf).json() == {"user": "u1"}
            devices = client.get("/devices").json()["devices"]
            assert [d["current"] for d in devices] == [True]
            assert client.post("/devices/revoke-others", headers=csrf).json() == {"revoked": 0}
            assert client.post("/logout", headers=csrf).status_code == 200
    finally:
        for manager in {id(m): m for m in managers}.values():
            asyncio.run(manager.close())


def test_the_flask_guide_runs_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for _ in range(2):  # twice in the same folder: its SQLite file holds the first run's rows
        _run_the_flask_guide()


def _run_the_flask_guide() -> None:
    namespace: dict[str, object] = {"__name__": "guide_flask"}
    for block in guide_blocks("flask"):
        exec(compile(block, "flask.md", "exec"), namespace)
    client = namespace["app"].test_client()
    try:
        login = client.post("/login", json={"userId": "u2"})
        assert login.status_code == 200 and login.get_json() == {"userId": "u2"}
        csrf = {"anti-csrf": login.headers["anti-csrf"]}
        assert client.post("/like", headers=csrf).get_json() == {"user": "u2"}
        assert [d["current"] for d in client.get("/devices").get_json()["devices"]] == [True]
        assert client.post("/devices/revoke-others", headers=csrf).get_json() == {"revoked": 0}
        # The CORS section: a preflight from the named origin may send the anti-csrf header.
        preflight = client.options(
            "/like",
            headers={
                "Origin": "https://app.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "anti-csrf, content-type",
            },
        )
        allowed = preflight.headers["Access-Control-Allow-Headers"].lower()
        assert preflight.headers["Access-Control-Allow-Origin"] == "https://app.example"
        assert preflight.headers["Access-Control-Allow-Credentials"] == "true"
        assert "anti-csrf" in allowed
        assert client.post("/logout", headers=csrf).status_code == 200
    finally:
        namespace["manager"].close()


def test_the_django_guide_views_run_as_written(tmp_path, monkeypatch):
    """The guide's settings additions (its ``SESSIONWARD`` dict builds the manager) and its
    ``mysite/views.py`` blocks, through the middleware, with the example's Django settings; every
    block compiles, and each Python block is a file (its first line names it) or the one-line
    headline. tests/web/test_django_guide.py builds the whole project and serves it."""
    from tests.support.guides import guide_files
    from tests.support.web_apps import django_setup

    text = (ROOT / "docs" / "frameworks" / "django.md").read_text()
    files = guide_files("django")
    assert len(guide_blocks("django")) == len(files)  # no unmarked block to run
    for file in files:
        compile(file.code, f"django.md ({file.path})", "exec")
    assert "csrf_exempt" in text and "uvicorn mysite.asgi:application" in text
    assert 'pip install ".[django]"' in text and 'pip install "sessionward[django]"' in text
    # A fresh startproject's settings (what matters here), then the guide's additions.
    settings_namespace: dict[str, object] = {"DEBUG": True, "INSTALLED_APPS": [], "MIDDLEWARE": []}
    for file in files:
        if file.path == "mysite/settings.py":
            assert file.append
            exec(compile(file.code, "django.md", "exec"), settings_namespace)
    assert "sessionward.integrations.django" in settings_namespace["INSTALLED_APPS"]
    middleware = "sessionward.integrations.django.middleware.SessionwardMiddleware"
    assert middleware in settings_namespace["MIDDLEWARE"]
    drf = "sessionward.integrations.drf"
    assert settings_namespace["REST_FRAMEWORK"] == {
        "DEFAULT_AUTHENTICATION_CLASSES": [f"{drf}.SessionwardAuthentication"],
        "EXCEPTION_HANDLER": f"{drf}.exception_handler",
    }
    django_setup()
    from django.test import RequestFactory

    from sessionward import SessionManager
    from sessionward.integrations import django as sw_django
    from sessionward.integrations.django.middleware import SessionwardMiddleware

    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "guide_django"}
    for file in files:
        if file.path == "mysite/views.py":
            exec(compile(file.code, "django.md", "exec"), namespace)
    factory = RequestFactory()

    def call(view, method, body=b"", **meta):
        request = factory.generic(method, "/", body, "application/json", **meta)
        return SessionwardMiddleware(view)(request)

    for _ in range(2):  # twice in the same folder: its SQLite file holds the first run's rows
        options = {**settings_namespace["SESSIONWARD"], "database_url": "sqlite:///guide.sqlite3"}
        manager = SessionManager(**options)
        sw_django.configure(manager)
        try:
            login = call(namespace["login"], "POST", b'{"userId": "u3"}')
            assert login.status_code == 200 and json.loads(login.content) == {"userId": "u3"}
            assert not login.cookies["sAccessToken"]["secure"]  # the guide's local settings (DEBUG)
            assert call(namespace["login"], "POST", b"[]").status_code == 400  # no userId
            cookies = "; ".join(f"{name}={m.value}" for name, m in login.cookies.items())
            csrf = login.headers["anti-csrf"]
            me = call(namespace["me"], "GET", HTTP_COOKIE=cookies)
            assert me.status_code == 200 and json.loads(me.content) == {
                "userId": "u3",
                "role": "user",
            }
            devices = call(namespace["devices"], "GET", HTTP_COOKIE=cookies)
            assert [d["current"] for d in json.loads(devices.content)["devices"]] == [True]
            others = call(
                namespace["revoke_others"], "POST", HTTP_COOKIE=cookies, HTTP_ANTI_CSRF=csrf
            )
            assert json.loads(others.content) == {"revoked": 0}
            logout = call(namespace["logout"], "POST", HTTP_COOKIE=cookies, HTTP_ANTI_CSRF=csrf)
            assert logout.status_code == 200 and logout.cookies["sAccessToken"].value == ""
        finally:
            sw_django.configure(None)
            manager.close()


def test_the_transport_guide_snippets_compile():
    """Its client snippet needs a server on localhost:8000 (tests/web/test_proof_client.py runs
    SessionAuth against real servers); here it must at least be valid Python."""
    text = (ROOT / "docs" / "frameworks" / "transport.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    assert blocks
    for block in blocks:
        compile(block, "transport.md", "exec")


def test_every_extra_the_docs_install_exists() -> None:
    """Each ``sessionward[X]`` / ``.[X]`` / ``...whl)[X]`` an install line names is an extra of
    pyproject.toml: an install line that works as written names no extra that is not there."""
    import tomllib

    extras = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    )
    named: set[str] = set()
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        for match in re.finditer(r"(?:sessionward|\.|whl\))\[([\w,-]+)\]", path.read_text()):
            named |= set(match.group(1).split(","))
    assert named >= {"fastapi", "flask", "django", "drf", "flask-cors", "django-cors"}
    assert named - extras == set()
