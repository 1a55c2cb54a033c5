"""HTTP benchmark: a protected GET against the same unprotected GET, under uvicorn, driven by wrk.

The app is ``examples/fastapi_app.py`` (started as ``python examples/fastapi_app.py --port P``)
when that file exists, else the tiny ASGI app in ``benchmarks/http_app.py`` under uvicorn. Both
get ``SESSIONWARD_DATABASE_URL`` pointing at a scratch SQLite file; the harness logs a user in
by creating a session on that same database (so it shares the signing key) and sends its access
token as the ``sAccessToken`` cookie. ``wrk`` is installed with apt-get when missing.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from sessionward import SessionManager

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "fastapi_app.py"
CONNECTIONS = 32


def ensure_wrk() -> str | None:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return None
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=300)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "wrk"], env=env, capture_output=True, timeout=300
    )
    return shutil.which("wrk")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, cookie: str | None = None) -> int:
    request = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def _wrk(wrk: str, url: str, seconds: float, cookie: str | None) -> float:
    cmd = [wrk, "-t1", f"-c{CONNECTIONS}", f"-d{max(1, round(seconds))}s", url]
    if cookie:
        cmd[1:1] = ["-H", f"Cookie: {cookie}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"wrk saw error responses from {url}:\n{out}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if match is None:
        raise RuntimeError(f"could not read wrk's output:\n{out}")
    return float(match.group(1))


def run(
    res: Any,
    mode: Any,
    tmp: Path,
    *,
    open_path: str | None,
    protected_path: str | None,
    src: str | None = None,
) -> None:
    """``src``: the sessionward source tree the server imports (default: this repository's)."""
    wrk = ensure_wrk()
    if wrk is None:
        res.notes.append("wrk is missing and could not be installed: no HTTP benchmark")
        return
    db_url = f"sqlite:///{tmp}/http.sqlite3"
    with SessionManager(refresh_path="/session/refresh", database_url=db_url) as mgr:
        token = mgr.create_new_session("anonymous").access_token.value
    cookie = f"sAccessToken={token}; sIdRefreshToken=bench"
    port = _free_port()
    if EXAMPLE.exists():
        cmd = [sys.executable, str(EXAMPLE), "--port", str(port), "--database-url", db_url]
        app_name = "examples/fastapi_app.py"
        open_path = open_path or "/ping"
        protected_path = protected_path or "/ping/protected"
    else:
        cmd = [
            sys.executable,
            "-m",
            "uvicorn",
            "benchmarks.http_app:app",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ]
        app_name = "benchmarks/http_app.py"
        open_path = open_path or "/open"
        protected_path = protected_path or "/protected"
    src = src or str(REPO / "src")
    env = {
        **os.environ,
        "SESSIONWARD_DATABASE_URL": db_url,
        "PYTHONPATH": os.pathsep.join([src, str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    server = subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                _get(base + open_path)
                break
            except OSError as exc:
                if server.poll() is not None or time.monotonic() > deadline:
                    stderr = server.stderr.read() if server.stderr else ""
                    raise RuntimeError(f"{app_name} did not start: {stderr}") from exc
                time.sleep(0.1)
        if _get(base + protected_path, cookie) != 200 or _get(base + protected_path) == 200:
            raise RuntimeError(f"{protected_path} must answer 200 with the cookie and not without")
        seconds = max(1.0, mode.seconds * 3)
        _wrk(wrk, base + open_path, 1, None)  # warm up both paths
        _wrk(wrk, base + protected_path, 1, cookie)
        # The example also has the same GET behind a FastAPI dependency that does nothing: what
        # any dependency-based protection pays before its own work.
        dependency_path = "/ping/dependency" if EXAMPLE.exists() else None
        opened, protected, dependency = [], [], []
        for _ in range(mode.reps):  # interleaved, so drift hits all alike
            opened.append(_wrk(wrk, base + open_path, seconds, None))
            protected.append(_wrk(wrk, base + protected_path, seconds, cookie))
            if dependency_path is not None:
                dependency.append(_wrk(wrk, base + dependency_path, seconds, None))
        res.add("http.open", opened, app=app_name)
        if dependency:
            res.add("http.dependency", dependency, "http.open", app=app_name)
        res.add("http.protected", protected, "http.open", app=app_name)
        cost = statistics.median(opened) / statistics.median(protected) - 1
        res.notes.append(
            f"HTTP ({app_name}, uvicorn, wrk -t1 -c{CONNECTIONS}): protection costs {cost:+.1%}"
        )
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
