"""The npm package ``clients/js`` (sessionward-client) for the tests: its dev dependencies
installed from the npm registry (``npm ci``, from the committed lock; never committed), and
npm run in it. npm is required: ``.ci/run`` installs it; without it these tests fail."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "clients" / "js"
_STAMP = PACKAGE / "node_modules" / ".sessionward-lock-sha256"
_lock = threading.Lock()


def npm() -> str:
    found = shutil.which("npm")
    if found is None:
        pytest.fail("npm is needed for the browser client's package (.ci/run installs it)")
    return found


def run_npm(*args: str, cwd: Path = PACKAGE, timeout: float = 300) -> str:
    """``npm ARGS`` in ``cwd``; its output, or the test fails with it."""
    result = subprocess.run(
        [npm(), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, f"npm {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def package_ready() -> Path:
    """``clients/js`` with its dev dependencies (typescript, axios, @types/react) installed as
    its lock says; reinstalled only when the lock changed."""
    with _lock:
        lock = hashlib.sha256((PACKAGE / "package-lock.json").read_bytes()).hexdigest()
        if not (_STAMP.is_file() and _STAMP.read_text() == lock):
            run_npm("ci", "--no-audit", "--no-fund", "--ignore-scripts")
            _STAMP.write_text(lock)
    return PACKAGE
