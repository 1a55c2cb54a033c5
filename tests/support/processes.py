"""Starting and stopping the servers that tests run as real processes on loopback."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable
from typing import Any

import pytest


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def stop_process(process: subprocess.Popen[Any]) -> None:
    """Terminate, and kill if it does not go within 10 s; never leave a server behind."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def wait_until_listening(
    process: subprocess.Popen[Any], port: int, fail: Callable[[], str], seconds: float = 20
) -> None:
    """Return once ``process`` accepts connections on loopback ``port``; if it exits first or
    takes longer than ``seconds``, stop it and fail the test with ``fail()`` (its log)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                stop_process(process)
                pytest.fail(fail())
            time.sleep(0.05)
