"""Each example app started by its own command, as a real server on a free loopback port."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.processes import free_port, stop_process, wait_until_listening
from tests.support.web_apps import EXAMPLES

COMMANDS = {
    "fastapi": [str(EXAMPLES / "fastapi_app.py")],
    "flask": [str(EXAMPLES / "flask_app.py")],
    "django": [str(EXAMPLES / "django_app")],
}
SRC = Path(__file__).resolve().parents[2] / "src"


@contextmanager
def running_example(framework: str, tmp_path: Path, *options: str) -> Iterator[str]:
    """The example started by its command on a free loopback port; yields its base URL. Its
    stderr goes to ``<tmp_path>/<framework>.log``."""
    database = f"sqlite:///{tmp_path}/example.sqlite3"
    command = [*COMMANDS[framework], "--database-url", database, *options]
    with running_server(framework, tmp_path, *command) as url:
        yield url


@contextmanager
def running_server(name: str, tmp_path: Path, *command: str) -> Iterator[str]:
    """``python COMMAND --port P --host 127.0.0.1`` on a free port; yields its base URL. Its
    stderr goes to ``<tmp_path>/<name>.log``."""
    port = free_port()
    log_path = tmp_path / f"{name}.log"
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    argv = [sys.executable, *command, "--port", str(port), "--host", "127.0.0.1"]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            argv, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=log
        )
    try:
        wait_until_listening(
            process, port, lambda: f"{name} did not start: {log_path.read_text()[-2000:]}"
        )
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(process)
