"""Start the real ``sessionward demo`` command on a free port, and stop it (by its own pid)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.processes import free_port, stop_process

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class DemoProcess:
    """A running demo: its base URL, process, and the file its stdout/stderr go to."""

    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def wait_until_serving(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the demo exited early:\n{log_path.read_text()}")
        try:
            with urllib.request.urlopen(url + "/demo/settings", timeout=2) as reply:
                if reply.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    raise AssertionError(f"the demo did not answer within 30 s:\n{log_path.read_text()}")


@contextmanager
def running_demo(cwd: Path, *args: str) -> Iterator[DemoProcess]:
    """``python -m sessionward demo --port <free> *args`` in ``cwd`` (its SQLite file goes
    there unless ``args`` name another database)."""
    port = free_port()
    log_path = cwd / f"demo-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "sessionward", "demo", "--port", str(port), *args],
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(ROOT / "src"), "PYTHONUNBUFFERED": "1"},
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(url, process, log_path)
        yield DemoProcess(url, process, log_path)
    finally:
        stop_process(process)
