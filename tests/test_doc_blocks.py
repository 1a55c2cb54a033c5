"""Every code block of docs/ is run by a test, as the README's are (tests/test_readme.py), or
says why not (tests/support/doc_blocks.py: the markers).

A page's Python blocks are one program, run as a reader runs it: in a fresh process, from an
empty temporary folder, and a second time in the same folder, where its SQLite file holds what
the first run left. Blocks that speak to a server (``localhost:8000``) run against one on a free
loopback port. The framework guides' Python is run by tests/test_docs.py (each block extends the
app of the first), twice as well.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import yaml

from tests.support.doc_blocks import ROOT, doc_blocks, pages, runnable
from tests.support.example_servers import running_example

SRC = ROOT / "src"
NOT_CODE = {"text", "mermaid"}
# Pages whose Python blocks another test runs, as one app.
PYTHON_RUN_BY = {
    "frameworks/fastapi.md": "tests/test_docs.py::test_the_fastapi_guide_runs_as_written",
    "frameworks/flask.md": "tests/test_docs.py::test_the_flask_guide_runs_as_written",
    "frameworks/django.md": "tests/test_docs.py::test_the_django_guide_views_run_as_written",
}

# What each page's program must do besides exiting 0, run after its blocks in the same process.
CHECKS = {
    "concepts.md": """
assert sessions.list_sessions_for_user("ann") == []
""",
    "frontend.md": """
import asyncio
assert client_script_url(manager.config).startswith("/sessionward.js?v=")
asyncio.run(manager.aclose())
""",
    "microservices.md": """
import asyncio
from starlette.testclient import TestClient
with TestClient(app, base_url="http://127.0.0.1") as client:  # no token: no key fetched
    for path in ("/reports", "/t/acme/reports"):
        assert client.get(path).status_code in (401, 440), path
    assert client.post("/exports").status_code in (401, 440)
asyncio.run(manager.aclose())
""",
    "operations.md": """
import urllib.request
logging.getLogger("sessionward").warning("probe", extra={"sessionward_reason": "doc-test"})
with urllib.request.urlopen("http://127.0.0.1:9464/metrics", timeout=5) as reply:
    assert reply.status == 200
""",
}
# The pages whose sh blocks run here, against a server on loopback (see the tests below).
SHELL_HERE = {"frameworks/fastapi.md", "frameworks/transport.md", "frameworks/django.md"}
# The pages whose Python blocks need a server: run against one, below.
PYTHON_WITH_SERVER = {"frameworks/transport.md"}


def _all_blocks():
    return [block for page in pages() for block in doc_blocks(page)]


def _test_exists(reference: str) -> bool:
    path, _, name = reference.partition("::")
    file = ROOT / path
    return file.is_file() and re.search(rf"^def {name}\(", file.read_text(), re.M) is not None


def test_every_block_is_run_or_says_why_not() -> None:
    unrun = []
    for block in _all_blocks():
        if block.how == "not run":
            assert len(block.why) > 10, f"{block.where}: say why it is not run"
        elif block.how == "run by":
            assert _test_exists(block.why.split()[0]), f"{block.where}: {block.why}"
        elif block.language in NOT_CODE or block.language == "yaml":
            continue
        elif block.language == "python":
            covered = block.page in PYTHON_RUN_BY or block.page in CHECKS
            if not (covered or block.page in PYTHON_WITH_SERVER):
                unrun.append(block.where)
        elif block.language == "sh" and block.page in SHELL_HERE:
            continue
        else:
            unrun.append(f"{block.where} ({block.language or 'no language'})")
    assert unrun == [], (
        "blocks no test runs: run them here (CHECKS), or mark them `<!-- not run: why -->` or "
        "`<!-- run by: tests/...::test_... -->`, or tag output `text`"
    )
    for reference in PYTHON_RUN_BY.values():
        assert _test_exists(reference), reference


def test_every_page_with_python_is_run() -> None:
    with_python = {b.page for b in _all_blocks() if b.language == "python" and b.how is None}
    assert with_python == set(PYTHON_RUN_BY) | set(CHECKS) | PYTHON_WITH_SERVER


def _run(program: str, folder: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", program],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(SRC), **env},
    )


@pytest.mark.parametrize("page", sorted(CHECKS))
def test_the_pages_python_runs_twice_from_an_empty_folder(page: str, tmp_path: Path) -> None:
    blocks = runnable(page, "python")
    assert blocks, page
    program = "\n\n".join(blocks) + "\n" + CHECKS[page]
    outputs = []
    for attempt in range(2):
        result = _run(program, tmp_path)
        assert result.returncode == 0, f"{page}, run {attempt + 1}:\n{result.stderr[-3000:]}"
        outputs.append(result)
    if page == "concepts.md":
        assert outputs[1].stdout.splitlines() == [
            "theft: other_client",
            "the victim logs in again",
        ]
    if page == "operations.md":  # the JSON formatter: one object a line, the fields as fields
        [line] = [json.loads(x) for x in outputs[0].stderr.splitlines() if "probe" in x]
        assert line["sessionward_reason"] == "doc-test" and line["level"] == "WARNING"
    # Nothing left behind but the folder's own files.
    assert {p.name for p in tmp_path.iterdir()} <= {
        "sessionward.sqlite3",
        "concepts.sqlite3",
        "sessionward.sqlite3-wal",
        "sessionward.sqlite3-shm",
    }


def test_the_yaml_blocks_parse_and_name_real_metrics() -> None:
    """The Prometheus configuration and rules: valid YAML; each metric a rule names is one that
    sessionward exports (tests/web/test_metrics_over_http.py scrapes them)."""
    blocks = [b for b in _all_blocks() if b.language == "yaml" and b.how is None]
    assert blocks
    text = (ROOT / "docs" / "operations.md").read_text()
    table = text.split("## Metrics and traces", 1)[1]
    # The metrics table's OpenTelemetry names, as the Prometheus exporter writes them.
    exported = {m.replace(".", "_") for m in re.findall(r"`(sessionward\.[a-z_.]+)`", table)}
    suffix = re.compile(r"_(total|seconds_count|seconds_bucket|seconds_sum|seconds)$")
    checked = 0
    for block in blocks:
        loaded = yaml.safe_load(block.code)
        assert isinstance(loaded, dict), block.where
        for group in loaded.get("groups", []):
            for rule in group["rules"]:
                for metric in re.findall(r"sessionward_[a-z_]+", rule["expr"]):
                    assert suffix.sub("", metric) in exported, f"{block.where}: {metric}"
                    checked += 1
    assert checked >= 3


# --- blocks that speak to a server on loopback --------------------------------------------------


def _against(code: str, url: str) -> str:
    """The block with its ``localhost:8000`` pointed at the server under test."""
    host = url.removeprefix("http://")
    return code.replace("http://localhost:8000", url).replace("localhost:8000", host)


def _bash(script: str, folder: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", script],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )


@contextmanager
def _guide_app(tmp_path: Path) -> Iterator[str]:
    from tests.web.test_guides_over_http import serving_guide

    with serving_guide("fastapi", tmp_path) as (url, _log):
        yield url


def test_the_fastapi_guides_curl_block_against_its_app(tmp_path: Path) -> None:
    [block] = runnable("frameworks/fastapi.md", "sh")
    with _guide_app(tmp_path) as url:
        for _ in range(2):
            result = _bash(_against(block, url), tmp_path)
            assert result.returncode == 0, result.stderr
            assert "HTTP/1.1 200" in result.stdout and "anti-csrf:" in result.stdout.lower()
            assert '"reason":"anti_csrf_mismatch"' in result.stdout.replace(" ", "")  # the <...>


def test_the_django_guides_curl_block_against_a_django_server(tmp_path: Path) -> None:
    """Against the Django example (the guide's API: login, me): tests/web/test_django_guide.py
    serves the guide's own project."""
    [block] = runnable("frameworks/django.md", "sh")
    with running_example("django", tmp_path) as url:
        for _ in range(2):
            result = _bash(_against(block, url), tmp_path)
            assert result.returncode == 0, result.stderr
            assert "HTTP/1.1 200" in result.stdout and '"userId": "u1"' in result.stdout


def test_the_transport_guides_blocks_against_a_server(tmp_path: Path) -> None:
    """The header-mode curl lines (with ``$ACCESS`` and ``$REFRESH`` set from a login, as a
    reader would) and the ``SessionAuth`` client, against the FastAPI example."""
    [curl] = runnable("frameworks/transport.md", "sh")
    [python] = runnable("frameworks/transport.md", "python")
    with running_example("fastapi", tmp_path) as url:
        for _ in range(2):
            login = httpx.post(
                url + "/login", json={"userId": "u1"}, headers={"st-auth-mode": "header"}
            )
            tokens = {"ACCESS": login.headers["st-access-token"]}
            tokens["REFRESH"] = login.headers["st-refresh-token"]
            result = _bash(_against(curl, url), tmp_path, **tokens)
            assert result.returncode == 0, result.stderr
            assert "st-access-token:" in result.stdout.lower() and '"userId":"u1"' in (
                result.stdout.replace(" ", "")
            )
            ran = _run(_against(python, url), tmp_path)
            assert ran.returncode == 0, ran.stderr[-3000:]
            assert "u1" in ran.stdout
