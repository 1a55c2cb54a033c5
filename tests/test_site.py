"""The documentation site (mkdocs.yml, scripts/docs_site.py, docs/site.md): it builds with
``--strict``; its API reference has every public name; its settings reference and the README's
table agree with ``Config``; options link to their entries; and, in headless Chromium from a
loopback server, it renders (screenshots) with the sequence diagram drawn and nothing fetched
from another host."""

from __future__ import annotations

import dataclasses
import functools
import html
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from scripts import docs_site

from sessionward import Config

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "artifacts" / "site"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``mkdocs build --strict`` of this checkout, into a temporary folder."""
    if not _has_mkdocs():
        pytest.fail("mkdocs is missing: pip install '.[docs]' (the dev extra has it)")
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return out


def _has_mkdocs() -> bool:
    try:
        import mkdocs  # noqa: F401
    except ImportError:
        return False
    return True


def _page(site: Path, src_uri: str) -> str:
    """The built HTML of a page by its source path (``frameworks/fastapi.md``)."""
    stem = src_uri.removesuffix(".md")
    path = site / "index.html" if stem == "index" else site / stem / "index.html"
    return path.read_text()


# --- the API reference ----------------------------------------------------------------------


def test_the_api_reference_has_every_public_name(site: Path) -> None:
    """Each name of the design's public-API table (held to the modules' ``__all__`` by
    tests/test_public_api.py) has its entry, with its signature, in the built reference."""
    page = _page(site, docs_site.API_PAGE)
    ids = set(re.findall(r'id="([\w.]+)"', page))
    table = docs_site.public_api()
    assert {"sessionward", "sessionward.integrations.starlette"} <= set(table)
    missing = [
        f"{module}.{name}"
        for module, names in table.items()
        for name in names
        if f"{module}.{name}" not in ids
    ]
    assert missing == []
    # The parameters and the errors: the signature of a method, and its Raises section.
    create = page.split('id="sessionward.SessionManager.create_new_session"', 1)[1][:6000]
    assert "tenant_id" in html.unescape(re.sub(r"<[^>]+>", "", create))
    refresh = page.split('id="sessionward.SessionManager.refresh_session"', 1)[1][:8000]
    assert "TokenTheftDetectedError" in refresh and "Raises" in refresh


# --- the settings ---------------------------------------------------------------------------


def _config_settings() -> set[str]:
    return {f.name for f in dataclasses.fields(Config) if f.init} | {
        "enable_blacklisting",
        "signing_key_update_interval",
    }


def test_the_settings_reference_is_every_field_of_config(site: Path) -> None:
    settings = docs_site.settings()
    assert {s.name for s in settings} == _config_settings()
    assert {s.name for s in settings if s.deprecated} == {
        "enable_blacklisting",
        "signing_key_update_interval",
    }
    page = _page(site, docs_site.SETTINGS_PAGE)
    uses = docs_site.setting_uses()
    for setting in settings:
        entry = page.split(f'id="{setting.name}"', 1)[1].split("<h3", 1)[0]
        assert setting.description and "type" in entry and "default" in entry, setting.name
        # Each entry names the pages that use the setting (the README's table, at least).
        assert uses[setting.name], f"{setting.name}: named on no page"
        assert "named in" in entry, setting.name
    durations = {s.name: s.unit for s in settings}
    assert durations["access_token_validity"] == "seconds"
    assert durations["refresh_grace_window"] == "seconds"


def _number_or_text(value: str) -> str:
    value = re.sub(r"\(.*\)", "", value).replace("`", "").strip().strip('"')
    digits = value.replace(" ", "").replace(",", "")
    if re.fullmatch(r"\d+(\.\d+)?", digits):
        return repr(float(digits))
    return value


def readme_settings() -> dict[str, str]:
    """The README's Configuration table: setting -> its default, as written."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    table: dict[str, str] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0].startswith("`"):
            continue
        names = re.findall(r"`(\w+)`", cells[0])
        defaults = [d.strip() for d in re.split(r",\s+(?![^(]*\))", cells[1])]
        assert len(defaults) == len(names), line
        table.update(zip(names, defaults, strict=True))
    return table


def test_the_readme_settings_table_agrees_with_config() -> None:
    """The README's table has every setting of Config (the deprecated aside, which the text
    after it names) with Config's default, and nothing else: it cannot drift from the code."""
    table = readme_settings()
    reference = {s.name: s for s in docs_site.settings()}
    current = {name for name, s in reference.items() if not s.deprecated}
    assert set(table) == current
    for name, written in table.items():
        assert _number_or_text(written) == _number_or_text(reference[name].default), name
    text = (ROOT / "README.md").read_text()
    for name, setting in reference.items():
        if setting.deprecated:
            assert f"`{name}" in text, f"the README does not name the deprecated {name}"


# --- cross-links ------------------------------------------------------------------------------

GUIDES = [
    "index.md",
    "concepts.md",
    "frameworks/fastapi.md",
    "frameworks/flask.md",
    "frameworks/django.md",
    "frameworks/transport.md",
    "frontend.md",
    "operations.md",
    "microservices.md",
    "security.md",
    "protocol.md",
]


def test_each_option_named_in_a_guide_links_to_its_entry(site: Path) -> None:
    names = {s.name for s in docs_site.settings()}
    linked = 0
    for guide in GUIDES:
        page = _page(site, guide)
        body = re.sub(r"<pre.*?</pre>|<h\d.*?</h\d>", "", page, flags=re.DOTALL)
        for match in re.finditer(r"<code>([a-z_]+)(=[^<]*)?</code>", body):
            if match.group(1) not in names:
                continue
            before = body[: match.start()]
            anchor = re.search(r'<a href="([^"]*)"[^>]*>$', before)
            assert anchor, f"{guide}: {match.group(0)} is not a link"
            assert anchor.group(1).endswith(f"reference/settings/#{match.group(1)}"), guide
            linked += 1
    assert linked > 50


def test_each_reference_entry_names_the_pages_that_use_it(site: Path) -> None:
    """ "Named in" is the truth: each page it lists links to the entry, and each guide that
    links to an entry is listed there."""
    page = _page(site, docs_site.SETTINGS_PAGE)
    uses = docs_site.setting_uses()
    for guide in GUIDES:
        built = _page(site, guide)
        for name, pages in uses.items():
            linking = f"reference/settings/#{name}" in built
            assert linking == (guide in pages), f"{guide} and {name}"
    fastapi = [name for name, pages in uses.items() if "frameworks/fastapi.md" in pages]
    assert "cookie_secure" in fastapi
    # Named only in code (the Django guide's SESSIONWARD dict): linked from the page's end.
    assert "frameworks/django.md" in uses["cookie_secure"]
    assert "Settings on this page" in _page(site, "frameworks/django.md")
    entry = page.split('id="cookie_secure"', 1)[1].split("<h3", 1)[0]
    assert "frameworks/fastapi/" in entry


# --- in the browser -------------------------------------------------------------------------


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def served(site: Path) -> Iterator[str]:
    """The built site on a loopback HTTP server (a plain file server, as any host would be)."""
    handler = functools.partial(_Quiet, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _texts_in_closed_shadow_roots(cdp: Any) -> list[list[str]]:
    """The text of every ``svg`` in the page, closed shadow roots included (Material draws the
    diagram into one): CDP's DOM, pierced, as the browser holds it."""
    document = cdp.send("DOM.getDocument", {"depth": -1, "pierce": True})["root"]
    found: list[list[str]] = []

    def texts(node: dict[str, Any]) -> list[str]:
        own = [node["nodeValue"].strip()] if node.get("nodeType") == 3 else []
        for child in node.get("children", []) + node.get("shadowRoots", []):
            own += texts(child)
        return [t for t in own if t]

    def walk(node: dict[str, Any]) -> None:
        if node.get("nodeName", "").lower() == "svg":
            found.append(texts(node))
        for child in node.get("children", []) + node.get("shadowRoots", []):
            walk(child)
        if "contentDocument" in node:
            walk(node["contentDocument"])

    walk(document)
    return found


@pytest.mark.browser
def test_the_site_renders_offline_in_chromium(served: str, tmp_path: Path) -> None:
    """Home, a guide, an API page and Concepts, from the loopback server: screenshots of each
    (artifacts/site/), the sequence diagram drawn (its participants and a message in the DOM),
    and no request to any other host (no CDN: fonts, scripts, Mermaid)."""
    from playwright.sync_api import sync_playwright

    from tests.test_browser import CHROMIUM, CHROMIUM_ARGS

    if not shutil.which(CHROMIUM):
        pytest.fail(f"no Chromium at {CHROMIUM}: `apt-get install chromium`", pytrace=False)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    elsewhere: list[str] = []
    errors: list[str] = []

    def only_loopback(route: Any) -> None:
        if route.request.url.startswith(served + "/"):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.route("**/*", only_loopback)
            page = context.new_page()
            page.on("pageerror", lambda error: errors.append(str(error)))
            shots = {
                "home": ("/", "sessionward gives Python web backends secure user sessions"),
                "guide-fastapi": ("/frameworks/fastapi/", "FastAPI"),
                "api-reference": ("/reference/api/", "SessionManager"),
                "settings-reference": ("/reference/settings/", "refresh_grace_window"),
                "concepts": ("/concepts/", "Login, refresh, a grace-window duplicate"),
            }
            for name, (path, expected) in shots.items():
                reply = page.goto(served + path)
                assert reply is not None and reply.status == 200, path
                page.wait_for_load_state("networkidle")
                assert expected in page.inner_text("article"), path
                for folder in (ARTIFACTS, tmp_path):
                    page.screenshot(path=str(folder / f"{name}.png"))
            # The diagram, drawn by the site's own mermaid.min.js into a (closed) shadow root.
            page.goto(served + "/concepts/")
            page.wait_for_function("typeof mermaid !== 'undefined'")
            page.wait_for_function("!document.querySelector('pre.mermaid')", timeout=20_000)
            cdp = context.new_cdp_session(page)
            diagrams = [t for t in _texts_in_closed_shadow_roots(cdp) if "Browser (the user)" in t]
            assert diagrams, "the sequence diagram was not drawn"
            [drawn] = diagrams[:1]
            for text in ("Your backend (sessionward)", "Thief (a copy of RT1)", "POST /login"):
                assert text in drawn, text
            assert any("theft" in t for t in drawn)
            page.locator("div.mermaid").first.screenshot(path=str(ARTIFACTS / "diagram.png"))
        finally:
            browser.close()
    assert elsewhere == [], f"the site fetched from other hosts: {elsewhere}"
    assert errors == []
    assert all((ARTIFACTS / f"{name}.png").stat().st_size > 10_000 for name in shots)
