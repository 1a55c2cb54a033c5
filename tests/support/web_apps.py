"""Each example app behind its framework's real request path, and a test browser.

- FastAPI: Starlette's ``TestClient`` (ASGI, one event loop for the whole test).
- Flask: Flask's test client (Werkzeug); Django: Django's test ``Client`` (full middleware
  stack). Both sit behind a small httpx transport so one :class:`Browser` drives all three;
  header bytes are passed on latin-1 decoded, as WSGI servers do (PEP 3333).

The :class:`Browser` keeps cookies itself (honouring ``Path`` and expiry, like a browser) so that
tests can read every ``Set-Cookie`` and send anything, including garbage.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx

from sessionward import AsyncSessionManager, Config, SessionManager
from sessionward._events import SessionHooks

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FRAMEWORKS = ["fastapi", "flask", "django"]
TOKEN_COOKIES = ("sAccessToken", "sRefreshToken", "sIdRefreshToken")


def load_example(name: str) -> Any:
    """Import ``examples/<name>.py`` as a module (examples are scripts, not a package)."""
    module_name = f"sessionward_example_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


@dataclass
class SetCookie:
    """One parsed ``Set-Cookie`` header (attribute names lower-cased)."""

    name: str
    value: str
    attrs: dict[str, str] = field(default_factory=dict)

    @property
    def cleared(self) -> bool:
        expires = self.attrs.get("expires")
        return (
            self.value == ""
            and expires is not None
            and parsedate_to_datetime(expires).timestamp() <= 0
        )

    @property
    def expires_s(self) -> float:
        return parsedate_to_datetime(self.attrs["expires"]).timestamp()

    @property
    def session_cookie(self) -> bool:
        """No Expires and no Max-Age: the browser drops it when it closes."""
        return "expires" not in self.attrs and "max-age" not in self.attrs


def parse_set_cookie(header: str) -> SetCookie:
    first, *rest = header.split(";")
    name, _, value = first.strip().partition("=")
    value = value.strip()
    if value == '""':  # Django quotes an empty value
        value = ""
    attrs: dict[str, str] = {}
    for part in rest:
        key, _, val = part.strip().partition("=")
        attrs[key.lower()] = val
    return SetCookie(name, value, attrs)


class Reply:
    """A response with its cookies parsed."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.status = response.status_code
        self.headers = response.headers
        self.cookies = {
            c.name: c for c in map(parse_set_cookie, response.headers.get_list("set-cookie"))
        }

    def json(self) -> Any:
        return self.response.json()

    @property
    def cleared_all(self) -> bool:
        return all(self.cookies.get(n) and self.cookies[n].cleared for n in TOKEN_COOKIES) and (
            self.headers.get("id-refresh-token") == "remove"
        )


class Browser:
    """A cookie-mode client that behaves like the frontend SDK: keeps cookies per path,
    stores the ``anti-csrf`` header and sends it back on request."""

    def __init__(self, client: httpx.Client, clock: Any) -> None:
        self.client = client
        self.clock = clock
        self.jar: dict[str, tuple[str, str, float]] = {}  # name -> (value, path, expires s)
        self.anti_csrf: str | None = None
        self.id_refresh_header: str | None = None

    def cookie(self, name: str) -> str | None:
        entry = self.jar.get(name)
        return entry[0] if entry else None

    def cookie_header(self, path: str) -> str:
        now = self.clock()
        return "; ".join(
            f"{name}={value}"
            for name, (value, cpath, expires) in self.jar.items()
            if path.startswith(cpath) and expires > now
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        csrf: bool = True,
        headers: dict[str, Any] | None = None,
        cookies: str | bytes | None = None,
        content: bytes | None = None,
    ) -> Reply:
        sent: dict[str, Any] = dict(headers or {})
        cookie = self.cookie_header(path) if cookies is None else cookies
        if cookie:
            sent["Cookie"] = cookie
        if csrf and self.anti_csrf is not None:
            sent.setdefault("anti-csrf", self.anti_csrf)
        self.client.cookies.clear()
        response = self.client.request(method, path, json=json, headers=sent, content=content)
        reply = Reply(response)
        for c in reply.cookies.values():
            if c.cleared:
                self.jar.pop(c.name, None)
            else:
                expires = math.inf if c.session_cookie else c.expires_s  # until it closes
                self.jar[c.name] = (c.value, c.attrs.get("path", "/"), expires)
        if "anti-csrf" in reply.headers:
            self.anti_csrf = reply.headers["anti-csrf"]
        if "id-refresh-token" in reply.headers:
            self.id_refresh_header = reply.headers["id-refresh-token"]
        return reply

    def login(self, user_id: str = "alice", **fields: Any) -> Reply:
        """``fields``: more of the body (``tenantId``, ``rememberMe``)."""
        reply = self.request("POST", "/login", json={"userId": user_id, **fields})
        assert reply.status == 200, reply.response.text
        return reply

    def refresh(self) -> Reply:
        return self.request("POST", "/refresh")


class HeaderClient:
    """A non-browser client in header (Bearer) mode: no cookies at all."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.access: str | None = None
        self.refresh_token: str | None = None

    def request(self, method: str, path: str, *, token: str | None = None, **kw: Any) -> Reply:
        headers = {"st-auth-mode": "header", **kw.pop("headers", {})}
        bearer = token if token is not None else self.access
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        self.client.cookies.clear()
        reply = Reply(self.client.request(method, path, headers=headers, **kw))
        assert "set-cookie" not in reply.headers
        if reply.headers.get("st-access-token") not in (None, "remove"):
            self.access = reply.headers["st-access-token"]
        if reply.headers.get("st-refresh-token") not in (None, "remove"):
            self.refresh_token = reply.headers["st-refresh-token"]
        return reply

    def refresh(self, token: str | None = None) -> Reply:
        return self.request("POST", "/refresh", token=token or self.refresh_token)


def _raw_headers(request: httpx.Request) -> list[tuple[str, str]]:
    return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw]


class FlaskTestClientTransport(httpx.BaseTransport):
    """httpx requests through ``app.test_client()`` (cookies off: the Browser keeps them)."""

    def __init__(self, app: Any) -> None:
        self.client = app.test_client(use_cookies=False)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.client.open(
            request.url.raw_path.decode("ascii"),
            method=request.method,
            headers=_raw_headers(request),
            data=request.read(),
        )
        return httpx.Response(
            response.status_code,
            headers=response.headers.to_wsgi_list(),
            content=response.get_data(),
        )


class DjangoTestClientTransport(httpx.BaseTransport):
    """httpx requests through ``django.test.Client``."""

    def __init__(self) -> None:
        from django.test import Client

        self.client = Client()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.client.cookies.clear()
        headers = dict(_raw_headers(request))
        content_type = headers.pop("content-type", "application/octet-stream")
        headers.pop("content-length", None)
        headers.pop("host", None)
        response = self.client.generic(
            request.method,
            request.url.raw_path.decode("ascii"),
            data=request.read(),
            content_type=content_type,
            headers=headers,
        )
        pairs = [*response.items()]
        pairs += [("Set-Cookie", c.output(header="").strip()) for c in response.cookies.values()]
        return httpx.Response(response.status_code, headers=pairs, content=response.content)


@dataclass
class WebApp:
    """One running example app: a manager (sync view of the database) and a client factory."""

    framework: str
    config: Config
    clock: Any
    client: httpx.Client
    handles: Callable[[str], list[str]]

    def browser(self) -> Browser:
        return Browser(self.client, self.clock)

    def header_client(self) -> HeaderClient:
        return HeaderClient(self.client)


EXAMPLE_SETTINGS = {
    "refresh_path": "/refresh",
    "cookie_secure": False,
    "cookie_same_site": "lax",
    "access_token_validity": 60,
}


def _fastapi(config: Config, clock: Any, hooks: SessionHooks) -> Iterator[WebApp]:
    from starlette.testclient import TestClient

    manager = AsyncSessionManager(config, clock=clock, hooks=hooks)
    app = load_example("fastapi_app").create_app(manager)
    with TestClient(app, base_url="http://testserver") as client:

        def handles(user_id: str) -> list[str]:
            return list(client.portal.call(manager.get_all_session_handles_for_user, user_id))

        try:
            yield WebApp("fastapi", config, clock, client, handles)
        finally:
            client.portal.call(manager.close)


def _flask(config: Config, clock: Any, hooks: SessionHooks) -> Iterator[WebApp]:
    manager = SessionManager(config, clock=clock, hooks=hooks)
    app = load_example("flask_app").create_app(manager)
    transport = FlaskTestClientTransport(app)
    with httpx.Client(transport=transport, base_url="http://testserver") as client:
        try:
            yield WebApp("flask", config, clock, client, manager.get_all_session_handles_for_user)
        finally:
            manager.close()


_django_ready = False


def django_setup() -> None:
    """Configure Django once per process with the example's settings."""
    global _django_ready
    if _django_ready:
        return
    import django
    from django.conf import settings

    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    from django_app.settings import build_settings

    settings.configure(**build_settings())
    django.setup()
    _django_ready = True


@contextmanager
def django_checks_restored() -> Iterator[None]:
    """Put Django's global check registry back after a test that installs more apps: their
    ``ready()`` registers checks (auth's, the admin's) that every later ``run_checks()`` of this
    process would run, without their apps installed."""
    from django.core.checks.registry import registry

    saved = set(registry.registered_checks)
    try:
        yield
    finally:
        registry.registered_checks.clear()
        registry.registered_checks.update(saved)


def _django(config: Config, clock: Any, hooks: SessionHooks) -> Iterator[WebApp]:
    django_setup()
    from sessionward.integrations import django as sw_django

    manager = SessionManager(config, clock=clock, hooks=hooks)
    sw_django.configure(manager)
    transport = DjangoTestClientTransport()
    with httpx.Client(transport=transport, base_url="http://testserver") as client:
        try:
            yield WebApp("django", config, clock, client, manager.get_all_session_handles_for_user)
        finally:
            sw_django.configure(None)
            manager.close()


BUILDERS = {"fastapi": _fastapi, "flask": _flask, "django": _django}
