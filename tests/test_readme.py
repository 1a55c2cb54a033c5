"""The README's code is part of the product: run every Python block and the quickstart."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL)


def test_readme_has_sync_and_async_examples():
    assert any("SessionManager(" in b for b in BLOCKS)
    assert any("AsyncSessionManager(" in b for b in BLOCKS)


@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_block_runs(block, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    exec(compile(block, "README.md", "exec"), {"__name__": "__readme__"})
    assert list(tmp_path.glob("readme*.sqlite3")), "the example should use its SQLite file"
    if "AsyncSessionManager" in block:
        assert "revoked: the user must log in again" in capsys.readouterr().out


def test_readme_first_command_runs_the_quickstart(tmp_path):
    first = (ROOT / "README.md").read_text().split("```sh\n", 1)[1].splitlines()[0]
    assert first == "pip install -e . && python examples/quickstart.py"
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    assert result.returncode == 0, result.stderr
    assert "replayed refresh token caught" in result.stdout
    assert "its refresh is refused" in result.stdout
