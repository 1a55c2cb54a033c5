"""What protecting a GET costs, beside the libraries a user would pick instead (issue 26).

    PYTHONPATH=src python benchmarks/peers.py                 # in-process, ~2 min on 2 vCPU
    PYTHONPATH=src python benchmarks/peers.py --quick --http  # and over HTTP, ~3 min
    PYTHONPATH=src python benchmarks/peers.py --base OLD/src --quick --passes 3 --cpu
        # before/after: the same routes of two source trees, alternating, side by side

Each framework's app is called in-process (the WSGI or ASGI callable itself: no network, no test
client), in a process of its own (Django is configured once per process). Every route returns
the same small JSON body; they differ only in their protection, each at its peer's own
idiomatic one line:

- Flask: none; an empty decorator; sessionward ``@verify_session()`` (cookie, and Bearer);
  flask-jwt-extended ``@jwt_required()`` (cookie, whose CSRF check covers only unsafe methods, as
  sessionward's does; and header).
- FastAPI: none; an empty dependency; sessionward ``Depends(verify_session())`` (cookie, Bearer);
  AuthX ``Depends(auth.access_token_required)`` (cookie, header); fastapi-users
  ``Depends(current_user(active=True))`` with its JWT strategy and Bearer transport, over an
  in-memory user database (the real one is a database read per request: more work than here).
- Django and DRF: a plain view and one with sessionward ``@verify_session()``, the sessionward
  middleware installed (it is, for every route); DRF ``APIView`` with no authentication,
  with sessionward's ``SessionwardAuthentication`` + ``IsAuthenticated``, and with
  djangorestframework-simplejwt's ``JWTAuthentication`` (a user SELECT per request, from an
  in-memory SQLite) and its ``JWTStatelessUserAuthentication`` (no database).

The floor of each framework is what protection cannot avoid: the framework's own cookie parser
on the request's ``Cookie`` header plus sessionward's verify of the token (the sync manager's
``get_session``). The ``by-hand`` route is the least a user could write instead: the
framework's own way to read the cookie in a view (a decorator, or a FastAPI dependency taking
``Request``), then the manager's ``get_session``; unlike the floor it includes what the
framework charges for reaching the request. The overhead of a route is its time minus the
unprotected route's; issue 26's target is an overhead at most 2x the floor.

``--http`` serves the same apps on loopback, as in production (uvicorn for FastAPI, gunicorn
with one sync worker for Flask and Django), and drives each request with wrk (32
connections): microseconds per request are 1 / throughput.

Rounds alternate between the routes, and each figure is the median of the rounds' means, so that
a slower moment of the machine falls on every route alike. Peers do less than sessionward: none
of them checks revocation (sessionward's default cached check is on), and their tokens do not
rotate.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
FRAMEWORKS = ("flask", "fastapi", "django")
SECRET = "benchmark-secret-of-thirty-two-bytes!!"
BODY = {"user": "bench-user"}
Timings = dict[str, float]  # route -> microseconds per request
# The in-process clock: wall time, or with --cpu this thread's CPU time, which leaves out the
# moments the process waits for a core (on a machine shared with other work, most of the noise).
CLOCK: list[Callable[[], float]] = [time.perf_counter]


@dataclass(frozen=True)
class Size:
    calls: int  # per route per round
    rounds: int
    http_seconds: int = 2  # per route per round, over HTTP
    http_rounds: int = 3


SIZES = {
    "full": Size(2_000, 9, 3, 3),
    "quick": Size(800, 5, 1, 2),
    "tiny": Size(20, 2, 1, 1),
}


Get = tuple[str, dict[str, str]]  # a GET's path and headers


@dataclass
class Built:
    """One framework's app, the requests to measure it with, and its floor."""

    app: Any  # the WSGI or ASGI callable
    asgi: bool
    requests: dict[str, Get]
    floor: Callable[[], object]  # the framework's cookie parser + sessionward's verify
    close: Callable[[], None]


def alternate(routes: dict[str, Callable[[], object]], size: Size) -> Timings:
    """Microseconds per call of each route: rounds alternate between the routes (the order
    rotated each round), each figure the median of its rounds' means."""
    names = list(routes)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for name in names:  # warm-up: first-call caches, imports, key loading
        for _ in range(max(10, size.calls // 20)):
            routes[name]()
    clock = CLOCK[0]
    for round_ in range(size.rounds):
        order = names[round_ % len(names) :] + names[: round_ % len(names)]
        for name in order:
            call = routes[name]
            start = clock()
            for _ in range(size.calls):
                call()
            samples[name].append((clock() - start) / size.calls * 1e6)
    return {name: statistics.median(values) for name, values in samples.items()}


def alternate_async(routes: dict[str, Callable[[], Awaitable[object]]], size: Size) -> Timings:
    """:func:`alternate` for coroutines, every call awaited in one event loop."""

    async def run() -> Timings:
        names = list(routes)
        samples: dict[str, list[float]] = {name: [] for name in names}
        for name in names:
            for _ in range(max(10, size.calls // 20)):
                await routes[name]()
        clock = CLOCK[0]
        for round_ in range(size.rounds):
            order = names[round_ % len(names) :] + names[: round_ % len(names)]
            for name in order:
                call = routes[name]
                start = clock()
                for _ in range(size.calls):
                    await call()
                samples[name].append((clock() - start) / size.calls * 1e6)
        return {name: statistics.median(values) for name, values in samples.items()}

    return asyncio.run(run())


def _manager(tmp: Path) -> Any:
    from sessionward import SessionManager

    return SessionManager(
        refresh_path="/refresh", database_url=f"sqlite:///{tmp}/peers.sqlite3", cookie_secure=False
    )


def _cookies(tokens: Any) -> str:
    """The ``Cookie`` header a browser sends on a GET after login: the access token and the
    id-refresh token (its presence says that a session exists)."""
    access, id_refresh = tokens.access_token.value, tokens.id_refresh_token.value
    return f"sAccessToken={access}; sIdRefreshToken={id_refresh}"


def _empty(view: Callable[..., Any]) -> Callable[..., Any]:
    """A decorator that does nothing: what any decorator costs."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return view(*args, **kwargs)

    return wrapper


# --- WSGI --------------------------------------------------------------------------------------


def _wsgi_caller(app: Any, path: str, headers: dict[str, str]) -> Callable[[], object]:
    """A GET of ``path`` through the WSGI callable; asserts the answer is a 200."""
    from werkzeug.test import EnvironBuilder

    environ = EnvironBuilder(path=path, headers=headers).get_environ()
    statuses: list[str] = []

    def start_response(status: str, headers: Any, exc_info: Any = None) -> None:
        statuses.append(status)

    def call() -> object:
        body = app(dict(environ), start_response)
        try:
            for _ in body:
                pass
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
        status = statuses.pop()
        if not status.startswith("200"):
            raise AssertionError(
                f"GET {path} answered {status}: {b''.join(app(dict(environ), start_response))!r}"
            )
        return None

    call()
    return call


def build_flask(tmp: Path) -> Built:
    from flask import Flask, jsonify, request
    from flask_jwt_extended import JWTManager, create_access_token, get_jwt_identity, jwt_required
    from werkzeug.http import parse_cookie

    from sessionward.integrations.flask import Sessionward, verify_session

    manager = _manager(tmp)
    app = Flask("peers")
    app.config.update(JWT_SECRET_KEY=SECRET, JWT_TOKEN_LOCATION=["cookies", "headers"])
    JWTManager(app)
    Sessionward(app, manager)

    @app.get("/open")
    def open_() -> Any:
        return jsonify(BODY)

    @app.get("/empty")
    @_empty
    def empty() -> Any:
        return jsonify(BODY)

    @app.get("/sessionward")
    @verify_session()
    def protected() -> Any:
        return jsonify(BODY)

    def by_hand(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            manager.get_session(request.cookies["sAccessToken"])
            return view(*args, **kwargs)

        return wrapper

    @app.get("/by-hand")
    @by_hand
    def hand() -> Any:
        return jsonify(BODY)

    @app.get("/flask-jwt-extended")
    @jwt_required()
    def fjwt() -> Any:
        assert get_jwt_identity() == "bench-user"
        return jsonify(BODY)

    tokens = manager.create_new_session("bench-user")
    access = tokens.access_token.value
    with app.app_context():
        peer = create_access_token(identity="bench-user")
    cookie = {"Cookie": _cookies(tokens)}
    routes = {
        "open": ("/open", {}),
        "empty": ("/empty", {}),
        "by-hand.cookie": ("/by-hand", cookie),
        "sessionward.cookie": ("/sessionward", cookie),
        "sessionward.header": ("/sessionward", {"Authorization": f"Bearer {access}"}),
        "flask-jwt-extended.cookie": (
            "/flask-jwt-extended",
            {"Cookie": f"access_token_cookie={peer}"},
        ),
        "flask-jwt-extended.header": ("/flask-jwt-extended", {"Authorization": f"Bearer {peer}"}),
    }
    floor = lambda: manager.get_session(parse_cookie(cookie["Cookie"])["sAccessToken"])  # noqa: E731
    return Built(app, False, routes, floor, manager.close)


# --- ASGI --------------------------------------------------------------------------------------


def _asgi_caller(app: Any, path: str, headers: dict[str, str]) -> Callable[[], Awaitable[object]]:
    """A GET of ``path`` through the ASGI callable; asserts the answer is a 200."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver")]
        + [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 40000),
        "server": ("testserver", 80),
    }
    request = {"type": "http.request", "body": b"", "more_body": False}

    async def receive() -> dict[str, Any]:
        return request

    async def call() -> object:
        status = 0

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        await app(dict(scope), receive, send)
        if status != 200:
            raise AssertionError(f"GET {path} answered {status}")
        return None

    return call


@dataclass
class _User:
    """What fastapi-users needs of a user (its ``UserProtocol``)."""

    id: uuid.UUID
    email: str
    hashed_password: str = ""
    is_active: bool = True
    is_superuser: bool = False
    is_verified: bool = True


def _fastapi_users(app: Any) -> tuple[Any, Callable[[], Awaitable[str]]]:
    """fastapi-users' JWT strategy with a Bearer transport over an in-memory user database:
    the dependency, and a coroutine that mints a token for the benchmark's user."""
    from fastapi_users import BaseUserManager, FastAPIUsers, UUIDIDMixin
    from fastapi_users.authentication import AuthenticationBackend, BearerTransport, JWTStrategy
    from fastapi_users.db import BaseUserDatabase

    user = _User(uuid.uuid4(), "bench@example.com")

    class Users(BaseUserDatabase[_User, uuid.UUID]):
        async def get(self, id: uuid.UUID) -> _User | None:
            return user if id == user.id else None

    class Manager(UUIDIDMixin, BaseUserManager[_User, uuid.UUID]):
        reset_password_token_secret = SECRET
        verification_token_secret = SECRET

    async def get_user_manager() -> Any:
        yield Manager(Users())

    def get_strategy() -> JWTStrategy[_User, uuid.UUID]:
        return JWTStrategy(secret=SECRET, lifetime_seconds=3600)

    backend = AuthenticationBackend(
        name="jwt", transport=BearerTransport(tokenUrl="login"), get_strategy=get_strategy
    )
    users = FastAPIUsers[_User, uuid.UUID](get_user_manager, [backend])

    async def token() -> str:
        return await get_strategy().write_token(user)

    return users.current_user(active=True), token


def build_fastapi(tmp: Path) -> Built:
    from authx import AuthX, AuthXConfig
    from fastapi import Depends, FastAPI, Request
    from starlette.requests import cookie_parser

    from sessionward import AsyncSessionManager
    from sessionward.integrations.starlette import Sessionward, verify_session

    manager = AsyncSessionManager(
        refresh_path="/refresh", database_url=f"sqlite:///{tmp}/peers.sqlite3", cookie_secure=False
    )
    sync_manager = _manager(tmp)  # the floor's verify, on the same key table
    app = FastAPI()
    Sessionward(manager).install(app)
    authx = AuthX(
        config=AuthXConfig(JWT_SECRET_KEY=SECRET, JWT_TOKEN_LOCATION=["cookies", "headers"])
    )
    current_user, mint = _fastapi_users(app)

    async def nothing() -> None:
        return None

    @app.get("/open")
    async def open_() -> dict[str, str]:
        return BODY

    # Dependencies as defaults: this module's annotations are strings, which FastAPI resolves
    # in the module's globals, where these local names are not.
    @app.get("/empty")
    async def empty(_: object = Depends(nothing)) -> dict[str, str]:
        return BODY

    @app.get("/sessionward")
    async def protected(session: object = Depends(verify_session())) -> dict[str, str]:
        return BODY

    async def by_hand(request: Request) -> object:
        return await manager.get_session(request.cookies["sAccessToken"])

    by_hand.__annotations__["request"] = Request  # a class, not this module's string

    @app.get("/by-hand")
    async def hand(session: object = Depends(by_hand)) -> dict[str, str]:
        return BODY

    @app.get("/authx", dependencies=[Depends(authx.access_token_required)])
    async def with_authx() -> dict[str, str]:
        return BODY

    @app.get("/fastapi-users")
    async def with_fastapi_users(user: object = Depends(current_user)) -> dict[str, str]:
        return BODY

    async def tokens() -> tuple[Any, str, str]:
        made = await manager.create_new_session("bench-user")
        return made, authx.create_access_token(uid="bench-user"), await mint()

    made, peer, users_token = asyncio.run(tokens())
    access, cookie = made.access_token.value, _cookies(made)
    routes = {
        "open": ("/open", {}),
        "empty": ("/empty", {}),
        "by-hand.cookie": ("/by-hand", {"Cookie": cookie}),
        "sessionward.cookie": ("/sessionward", {"Cookie": cookie}),
        "sessionward.header": ("/sessionward", {"Authorization": f"Bearer {access}"}),
        "authx.cookie": ("/authx", {"Cookie": f"access_token_cookie={peer}"}),
        "authx.header": ("/authx", {"Authorization": f"Bearer {peer}"}),
        "fastapi-users.header": ("/fastapi-users", {"Authorization": f"Bearer {users_token}"}),
    }

    def close() -> None:
        sync_manager.close()
        asyncio.run(manager.close())

    floor = lambda: sync_manager.get_session(cookie_parser(cookie)["sAccessToken"])  # noqa: E731
    return Built(app, True, routes, floor, close)


# --- Django and DRF ----------------------------------------------------------------------------


def build_django(tmp: Path) -> Built:
    import types

    import django
    from django.conf import settings

    urls = types.ModuleType("peers_urls")
    sys.modules[urls.__name__] = urls
    settings.configure(
        DEBUG=False,
        SECRET_KEY=SECRET,
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF=urls.__name__,
        INSTALLED_APPS=[
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "rest_framework",
            "sessionward.integrations.django",
        ],
        MIDDLEWARE=["sessionward.integrations.django.middleware.SessionwardMiddleware"],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        SESSIONWARD={
            "refresh_path": "/refresh",
            "database_url": f"sqlite:///{tmp}/peers.sqlite3",
            "cookie_secure": False,
        },
        SIMPLE_JWT={"SIGNING_KEY": SECRET},
        REST_FRAMEWORK={"UNAUTHENTICATED_USER": None},
        USE_TZ=True,
    )
    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.management import call_command
    from django.http import HttpRequest, JsonResponse
    from django.http.cookie import parse_cookie
    from django.urls import path
    from rest_framework.permissions import AllowAny, IsAuthenticated
    from rest_framework.request import Request
    from rest_framework.response import Response
    from rest_framework.views import APIView
    from rest_framework_simplejwt.authentication import (
        JWTAuthentication,
        JWTStatelessUserAuthentication,
    )
    from rest_framework_simplejwt.tokens import AccessToken

    from sessionward.integrations.django import get_manager, verify_session
    from sessionward.integrations.drf import SessionwardAuthentication

    def open_(request: HttpRequest) -> JsonResponse:
        return JsonResponse(BODY)

    @_empty
    def empty(request: HttpRequest) -> JsonResponse:
        return JsonResponse(BODY)

    @verify_session()
    def protected(request: HttpRequest) -> JsonResponse:
        return JsonResponse(BODY)

    def hand(request: HttpRequest) -> JsonResponse:
        get_manager().get_session(request.COOKIES["sAccessToken"])
        return JsonResponse(BODY)

    def api(*authentication: type, allow_any: bool = False) -> Any:
        class View(APIView):
            authentication_classes: ClassVar = list(authentication)
            permission_classes: ClassVar = [AllowAny if allow_any else IsAuthenticated]

            def get(self, request: Request) -> Response:
                return Response(BODY)

        return View.as_view()

    urls.urlpatterns = [  # type: ignore[attr-defined]
        path("open", open_),
        path("empty", empty),
        path("sessionward", protected),
        path("by-hand", hand),
        path("drf/open", api(allow_any=True)),
        path("drf/sessionward", api(SessionwardAuthentication)),
        path("drf/simplejwt", api(JWTAuthentication)),
        path("drf/simplejwt-stateless", api(JWTStatelessUserAuthentication)),
    ]
    call_command("migrate", verbosity=0, interactive=False)
    user = get_user_model().objects.create_user(username="bench-user")
    peer = str(AccessToken.for_user(user))
    made = get_manager().create_new_session("bench-user")
    access = made.access_token.value
    app = WSGIHandler()
    cookie = {"Cookie": _cookies(made)}
    bearer = {"Authorization": f"Bearer {peer}"}
    routes = {
        "open": ("/open", {}),
        "empty": ("/empty", {}),
        "by-hand.cookie": ("/by-hand", cookie),
        "sessionward.cookie": ("/sessionward", cookie),
        "drf.open": ("/drf/open", {}),
        "drf.sessionward.cookie": ("/drf/sessionward", cookie),
        "drf.sessionward.header": ("/drf/sessionward", {"Authorization": f"Bearer {access}"}),
        "drf.simplejwt.header": ("/drf/simplejwt", bearer),
        "drf.simplejwt-stateless.header": ("/drf/simplejwt-stateless", bearer),
    }
    manager = get_manager()
    floor = lambda: manager.get_session(parse_cookie(cookie["Cookie"])["sAccessToken"])  # noqa: E731
    return Built(app, False, routes, floor, manager.close)


BUILDERS: dict[str, Callable[[Path], Built]] = {
    "flask": build_flask,
    "fastapi": build_fastapi,
    "django": build_django,
}


def in_process(built: Built, size: Size) -> Timings:
    """Every request of ``built`` called through its app, and its floor, alternating."""
    if built.asgi:
        calls = {name: _asgi_caller(built.app, *spec) for name, spec in built.requests.items()}

        async def floor() -> object:
            return built.floor()

        return alternate_async({**calls, "floor": floor}, size)
    calls = {name: _wsgi_caller(built.app, *spec) for name, spec in built.requests.items()}
    return alternate({**calls, "floor": built.floor}, size)


# Each protected route and the unprotected route it is measured over.
BASES = {"drf.": "drf.open"}


def overheads(timings: Timings) -> dict[str, dict[str, float]]:
    """Per protected route: its overhead over its unprotected route (µs), that overhead in
    floors (parse + verify), and in hand-written protections (the framework's own way to
    read the cookie, then verify: what the framework itself charges for reaching the request,
    a FastAPI dependency taking ``Request`` for example, is in it)."""
    rows = {}
    floor = timings["floor"]
    by_hand = timings["by-hand.cookie"] - timings["open"]
    for name, micros in timings.items():
        if name in ("open", "drf.open", "floor"):
            continue
        base = next((b for prefix, b in BASES.items() if name.startswith(prefix)), "open")
        extra = micros - timings[base]
        rows[name] = {
            "us": micros,
            "overhead_us": extra,
            "floors": extra / floor,
            "by_hand": extra / by_hand,
        }
    return rows


def serve(built: Built, port: int) -> None:
    """Serve ``built`` on 127.0.0.1:``port`` as in production: uvicorn for an ASGI app, gunicorn
    (one sync worker) for a WSGI one; returns when the server stops."""
    if built.asgi:
        import uvicorn

        uvicorn.run(built.app, host="127.0.0.1", port=port, log_level="warning")
        return
    from gunicorn.app.base import BaseApplication

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", f"127.0.0.1:{port}")
            self.cfg.set("workers", 1)
            self.cfg.set("loglevel", "warning")

        def load(self) -> Any:
            return built.app

    Server().run()


def _wait_until_up(url: str, server: subprocess.Popen[bytes], specs: Path) -> None:
    """Until the server answers ``url`` (and has written its requests), or fail if it died."""
    import urllib.request

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as reply:
                if reply.status == 200 and specs.exists():
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within 60 s")


def _env(src: str | None) -> dict[str, str] | None:
    """The environment of a child that imports sessionward from ``src`` (None: this one's)."""
    if src is None:
        return None
    return {**os.environ, "PYTHONPATH": str(Path(src).resolve())}


def over_http(framework: str, size: Size, src: str | None = None) -> Timings:
    """Microseconds per request (1 / throughput) of each request of the framework's app over
    loopback HTTP, driven by wrk with 32 connections; rounds alternate between the requests.
    ``src``: the sessionward source tree the server imports (default: this process's)."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from benchmarks.httpbench import CONNECTIONS, _free_port, ensure_wrk

    wrk = ensure_wrk()
    if wrk is None:
        raise RuntimeError("wrk is missing and could not be installed")
    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        specs = Path(tmp) / "requests.json"
        argv = [sys.executable, str(HERE / "peers.py"), "--serve", framework]
        argv += ["--port", str(port), "--requests-file", str(specs)]
        server = subprocess.Popen(argv, cwd=REPO, env=_env(src))
        try:
            _wait_until_up(f"http://127.0.0.1:{port}/open", server, specs)
            requests: dict[str, Get] = {
                k: tuple(v) for k, v in json.loads(specs.read_text()).items()
            }
            samples: dict[str, list[float]] = {name: [] for name in requests}
            names = list(requests)
            for round_ in range(size.http_rounds):
                order = names[round_ % len(names) :] + names[: round_ % len(names)]
                for name in order:
                    path, headers = requests[name]
                    command = [wrk, "-t1", f"-c{CONNECTIONS}", f"-d{size.http_seconds}s"]
                    for key, value in headers.items():
                        command += ["-H", f"{key}: {value}"]
                    out = subprocess.run(
                        [*command, f"http://127.0.0.1:{port}{path}"],
                        capture_output=True,
                        text=True,
                        timeout=120,
                    ).stdout
                    if "Non-2xx" in out or "Requests/sec" not in out:
                        raise RuntimeError(f"{framework} {name}: wrk saw errors:\n{out}")
                    rate = float(out.split("Requests/sec:")[1].split()[0])
                    samples[name].append(1e6 / rate)
        finally:
            server.terminate()
            server.wait(timeout=30)
    return {name: statistics.median(values) for name, values in samples.items()}


def measure(framework: str, size_name: str, src: str | None = None) -> dict[str, Any]:
    """One framework in a process of its own; its figures as JSON. ``src``: the sessionward
    source tree it imports (default: this process's)."""
    argv = [sys.executable, str(HERE / "peers.py"), "--only", framework, "--size", size_name]
    if CLOCK[0] is time.thread_time:
        argv.append("--cpu")
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=900, cwd=REPO, env=_env(src)
    )
    if done.returncode != 0:
        raise RuntimeError(f"{framework}: {done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def print_table(results: dict[str, dict[str, Any]]) -> None:
    print(f"{'route':38} {'µs/req':>8} {'overhead µs':>12} {'x floor':>8} {'x by hand':>9}")
    for framework, result in results.items():
        timings = result["timings"]
        print(f"-- {framework}: floor (cookie parse + verify) {timings['floor']:.1f} µs")
        for base in ("open", "drf.open"):
            if base in timings:
                print(
                    f"{framework + '.' + base:38} {timings[base]:8.1f} {'-':>12} {'-':>8} {'-':>9}"
                )
        for name, row in overheads(timings).items():
            print(
                f"{framework + '.' + name:38} {row['us']:8.1f} {row['overhead_us']:12.1f} "
                f"{row['floors']:8.2f} {row['by_hand']:9.2f}"
            )


def print_http(results: dict[str, dict[str, Any]]) -> None:
    print(f"\n{'over HTTP (wrk -c32)':38} {'µs/req':>8} {'over open':>10}")
    for framework, result in results.items():
        timings = result.get("http")
        if not timings:
            continue
        for name, micros in timings.items():
            base = next((b for prefix, b in BASES.items() if name.startswith(prefix)), "open")
            extra = "-" if name == base else f"{micros / timings[base] - 1:+.0%}"
            print(f"{framework + '.' + name:38} {micros:8.1f} {extra:>10}")


def _pooled(runs: list[Timings]) -> Timings:
    """Each route's median over several runs."""
    return {name: statistics.median(run[name] for run in runs) for name in runs[0]}


def compare(
    base: str, frameworks: list[str], size: Size, size_name: str, passes: int, http: bool
) -> dict[str, Any]:
    """The same measurements of two source trees side by side: ``base`` and this process's.
    Each pass runs every framework once per tree, the trees' order alternating between passes,
    so that a slower moment of the machine falls on both; each figure is pooled over the
    passes (the median)."""
    trees: dict[str, str | None] = {"before": base, "after": None}
    found: dict[str, dict[str, dict[str, list[Timings]]]] = {
        tree: {name: {"timings": [], "http": []} for name in frameworks} for tree in trees
    }
    for pass_ in range(passes):
        order = list(trees) if pass_ % 2 == 0 else list(reversed(trees))
        for name in frameworks:
            for tree in order:
                found[tree][name]["timings"].append(
                    measure(name, size_name, trees[tree])["timings"]
                )
                if http:
                    found[tree][name]["http"].append(over_http(name, size, trees[tree]))
    return {
        tree: {
            name: {kind: _pooled(runs) for kind, runs in kinds.items() if runs}
            for name, kinds in by_framework.items()
        }
        for tree, by_framework in found.items()
    }


def print_comparison(results: dict[str, Any]) -> None:
    """Before and after, each route's overhead in floors and in hand-written protections, and
    over HTTP its time over the unprotected route's."""
    before, after = results["before"], results["after"]
    print(f"{'route':38} {'x floor':>15} {'x by hand':>15} {'HTTP over open':>17}")
    print(
        f"{'':38} {'before':>7} {'after':>7} {'before':>7} {'after':>7} {'before':>8} {'after':>8}"
    )
    for framework in after:
        rows = [overheads(tree[framework]["timings"]) for tree in (before, after)]
        https = [tree[framework].get("http") for tree in (before, after)]
        for name in rows[1]:
            cells = [f"{row[name]['floors']:7.2f}" for row in rows]
            cells += [f"{row[name]['by_hand']:7.2f}" for row in rows]
            for timings in https:
                if timings and name in timings:
                    base = next(
                        (b for prefix, b in BASES.items() if name.startswith(prefix)), "open"
                    )
                    cells.append(f"{timings[name] / timings[base] - 1:+8.0%}")
            print(f"{framework + '.' + name:38} " + " ".join(cells))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument("--quick", action="store_const", const="quick", dest="size")
    parser.add_argument("--frameworks", default=",".join(FRAMEWORKS))
    parser.add_argument("--http", action="store_true", help="also over loopback HTTP (wrk)")
    parser.add_argument("--json", help="also write the figures here")
    parser.add_argument(
        "--base",
        metavar="SRC",
        help="also measure the sessionward source tree SRC, alternating with this one, and "
        "print both side by side (before/after a change)",
    )
    parser.add_argument("--passes", type=int, default=2, help="with --base: runs per tree")
    parser.add_argument(
        "--cpu",
        action="store_true",
        help="in-process figures in CPU time of the measuring thread, not wall time",
    )
    # The children: one framework measured in-process, or served for the HTTP rows.
    parser.add_argument("--only", choices=FRAMEWORKS, help=argparse.SUPPRESS)
    parser.add_argument("--serve", choices=FRAMEWORKS, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--requests-file", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.cpu:
        CLOCK[0] = time.thread_time
    if args.serve:
        with tempfile.TemporaryDirectory() as tmp:
            built = BUILDERS[args.serve](Path(tmp))
            Path(args.requests_file).write_text(json.dumps(built.requests))
            serve(built, args.port)
        return 0
    if args.only:
        with tempfile.TemporaryDirectory() as tmp:
            built = BUILDERS[args.only](Path(tmp))
            timings = in_process(built, SIZES[args.size])
            built.close()
            print(json.dumps({"timings": timings}))
        return 0
    if args.base:
        frameworks = args.frameworks.split(",")
        both = compare(args.base, frameworks, SIZES[args.size], args.size, args.passes, args.http)
        print_comparison(both)
        if args.json:
            Path(args.json).write_text(json.dumps(both, indent=2))
        return 0
    results = {name: measure(name, args.size) for name in args.frameworks.split(",")}
    if args.http:
        for name, result in results.items():
            result["http"] = over_http(name, SIZES[args.size])
    print_table(results)
    print_http(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
