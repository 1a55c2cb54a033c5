"""The FastAPI and Flask guides' code as a newcomer runs it: saved as ``app.py``, served by the
command the guide gives on a real loopback port, and spoken to over TCP by httpx with its own
cookie jar (as curl or a script would, so ``Secure`` cookies are not sent back over http).

With the guides' local settings (``cookie_secure=False``): login, a protected route, refresh,
logout. Without that line, the trap of issue 14: login works, the next request answers 440, and
the server log says why, once, naming the setting.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.support.processes import free_port, stop_process, wait_until_listening
from tests.test_docs import guide_blocks

SRC = Path(__file__).resolve().parents[2] / "src"
LOCAL_SETTING = "    cookie_secure=False,  # plain http on your machine only"


def serve_command(framework: str, port: int) -> list[str]:
    """The guide's command (``uvicorn app:app --port 8000``, ``flask --app app run --port
    8000``), through this interpreter, on a free port of 127.0.0.1."""
    if framework == "fastapi":
        return [
            sys.executable,
            "-m",
            "uvicorn",
            "app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
    return [
        sys.executable,
        "-m",
        "flask",
        "--app",
        "app",
        "run",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]


@contextmanager
def serving_guide(
    framework: str, folder: Path, *, local_settings: bool = True
) -> Iterator[tuple[str, Path]]:
    """The guide's set-up block as ``folder/app.py``, served; yields the base URL and the log."""
    code = guide_blocks(framework)[0]
    assert LOCAL_SETTING in code, "the guide should show cookie_secure=False for local http"
    if not local_settings:
        code = "\n".join(line for line in code.splitlines() if not line.startswith(LOCAL_SETTING))
    (folder / "app.py").write_text(code)
    port = free_port()
    log_path = folder / "server.log"
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            serve_command(framework, port),
            cwd=folder,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_listening(
            process,
            port,
            lambda: f"the {framework} guide's app did not start:\n{log_path.read_text()}",
        )
        yield f"http://127.0.0.1:{port}", log_path
    finally:
        stop_process(process)


@pytest.mark.parametrize("framework", ["fastapi", "flask"])
def test_the_guide_works_over_loopback_http_with_its_local_settings(
    framework: str, tmp_path: Path
) -> None:
    with (
        serving_guide(framework, tmp_path) as (url, log_path),
        httpx.Client(base_url=url, timeout=10) as client,
    ):
        login = client.post("/login", json={"userId": "newcomer"})
        assert login.status_code == 200 and login.json() == {"userId": "newcomer"}
        set_cookies = login.headers.get_list("set-cookie")
        assert len(set_cookies) == 3 and not any("Secure" in c for c in set_cookies)
        csrf = login.headers["anti-csrf"]

        like = client.post("/like", headers={"anti-csrf": csrf})
        assert like.status_code == 200 and like.json() == {"user": "newcomer"}
        missing = client.post("/like")
        assert missing.status_code == 440 and missing.json()["reason"] == "anti_csrf_missing"

        refreshed = client.post("/refresh")  # the jar sends sRefreshToken to its path only
        assert refreshed.status_code == 200
        new_csrf = refreshed.headers["anti-csrf"]
        assert new_csrf != csrf
        assert client.post("/like", headers={"anti-csrf": new_csrf}).json() == {"user": "newcomer"}

        logout = client.post("/logout", headers={"anti-csrf": new_csrf})
        assert logout.status_code == 200
        assert not {"sAccessToken", "sRefreshToken", "sIdRefreshToken"} & set(client.cookies)
        after = client.post("/like", headers={"anti-csrf": new_csrf})
        assert after.status_code == 440 and after.json() == {"message": "unauthorised"}
    log = log_path.read_text()
    assert "cookie_secure" not in log and "Traceback" not in log


@pytest.mark.parametrize("framework", ["fastapi", "flask"])
def test_without_the_local_setting_the_server_log_says_why_every_request_fails(
    framework: str, tmp_path: Path
) -> None:
    with (
        serving_guide(framework, tmp_path, local_settings=False) as (url, log_path),
        httpx.Client(base_url=url, timeout=10) as client,
    ):
        login = client.post("/login", json={"userId": "newcomer"})
        assert login.status_code == 200
        assert all("Secure" in c for c in login.headers.get_list("set-cookie"))
        csrf = login.headers["anti-csrf"]
        for _ in range(2):  # httpx does not send Secure cookies over http: no session
            like = client.post("/like", headers={"anti-csrf": csrf})
            assert like.status_code == 440 and like.json() == {"message": "unauthorised"}
        client.post("/login", json={"userId": "again"})
        time.sleep(0.2)  # let the server write its log
    log = log_path.read_text()
    # One warning for the two logins and the refused requests, naming the setting; with no
    # logging configured, Python's last-resort handler prints it to the server's console.
    assert log.count("sessionward: session cookies marked Secure (cookie_secure=True)") == 1, log
    assert log.count("set cookie_secure=False") == 1
