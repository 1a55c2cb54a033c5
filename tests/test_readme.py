"""The README's code is part of the product: run every Python block and the quickstart."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.support.demo_server import running_demo

ROOT = Path(__file__).resolve().parent.parent
BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL)


def test_readme_has_sync_and_async_examples():
    assert any("SessionManager(" in b for b in BLOCKS)
    assert any("AsyncSessionManager(" in b for b in BLOCKS)


@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_block_runs(block, tmp_path, monkeypatch, capsys):
    """Each block as a reader runs it: in an empty folder, and a second time in the same
    folder, where its SQLite file holds what the first run left (it must still pass)."""
    monkeypatch.chdir(tmp_path)
    for _ in range(2):
        exec(compile(block, "README.md", "exec"), {"__name__": "__readme__"})
    assert list(tmp_path.glob("readme*.sqlite3")), "the example should use its SQLite file"
    if "AsyncSessionManager" in block:
        assert "revoked: the user must log in again" in capsys.readouterr().out


def test_readme_starts_with_the_two_commands():
    commands = (ROOT / "README.md").read_text().split("```sh\n", 1)[1].split("```", 1)[0]
    assert commands.splitlines() == [
        "pip install -e '.[demo]' && sessionward demo",
        "pip install -e '.[dev]' && pytest",
    ]
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'sessionward = "sessionward._cli:main"' in pyproject  # the command the README runs


def test_readme_first_command_starts_the_demo_and_serves_the_page(tmp_path):
    """``sessionward demo`` (the entry point's module, this checkout's code) on a free port, in
    an empty folder as a newcomer would: it must serve the page, its client and its API."""
    with running_demo(tmp_path) as demo:
        with urllib.request.urlopen(demo.url + "/") as reply:
            page = reply.read().decode()
            assert reply.status == 200 and "text/html" in reply.headers["content-type"]
        assert "<title>sessionward demo</title>" in page and "/assets/demo.js" in page
        with urllib.request.urlopen(demo.url + "/sessionward.js") as reply:
            assert "export function createClient" in reply.read().decode()
        login = urllib.request.Request(
            demo.url + "/login",
            data=b'{"userId": "newcomer"}',
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(login) as reply:
            assert json.loads(reply.read())["userId"] == "newcomer"
    assert (tmp_path / "sessionward.sqlite3").is_file()  # the embedded SQLite default
    assert "open http://127.0.0.1:" in demo.log()
    # The default revocation check, not the original's "blacklisting off" (which read as if a
    # signed-out device kept access until its token expired).
    assert "revoked sessions refused within 2 s" in demo.log()
    assert "Traceback" not in demo.log()


def test_quickstart_runs(tmp_path):
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


def test_the_readme_names_every_demo_flag() -> None:
    """The README's sentence on ``sessionward demo`` names each of its options (it once
    omitted ``--signing-algorithm``)."""
    from sessionward._cli.parser import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command")
    demo = commands.choices["demo"]  # type: ignore[index]
    flags = {s for action in demo._actions for s in action.option_strings if s.startswith("--")}
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert {flag for flag in flags - {"--help"} if f"`{flag}" not in text} == set()
