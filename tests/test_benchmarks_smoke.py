"""The benchmark runner works: a tiny run on SQLite (no Node, no HTTP) yields every row, > 0.

Figures of a tiny run mean nothing; no wall-clock limit is asserted anywhere.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def run_script(name: str, tmp_path: Path, *args: str, timeout: int = 300) -> None:
    """``benchmarks/<name>`` with the repository's sources, in ``tmp_path``; fails on error."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / name), *args],
        check=True,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        timeout=timeout,
    )


def test_tiny_run_writes_every_row(tmp_path: Path) -> None:
    sys.path.insert(0, str(REPO))
    from benchmarks.run import expected_rows

    out = tmp_path / "bench.json"
    options = ("--tiny", "--backends", "sqlite", "--no-node", "--no-http", "--json", str(out))
    run_script("run.py", tmp_path, *options, timeout=60)
    document = json.loads(out.read_text())
    rows = {row["name"]: row for row in document["rows"]}
    for name in expected_rows(["sqlite"], node=False, http=False):
        assert name in rows, name
        assert rows[name]["ops_per_s"] > 0, name
        if rows[name]["baseline"] is not None:
            assert rows[name]["ratio"] > 0, name
    assert {t["row"] for t in document["targets"]} >= {"sw.verify.sync", "http.protected"}


def test_peers_tiny_run_measures_every_route(tmp_path: Path) -> None:
    """benchmarks/peers.py: every framework's routes answer 200 (each call checks it) and get a
    figure; the peers (flask-jwt-extended, AuthX, fastapi-users, simplejwt) are in the bench
    extra, which dev includes."""
    out = tmp_path / "peers.json"
    run_script("peers.py", tmp_path, "--size", "tiny", "--json", str(out))
    results = json.loads(out.read_text())
    routes = {framework: set(result["timings"]) for framework, result in results.items()}
    assert routes["flask"] >= {"open", "sessionward.cookie", "flask-jwt-extended.cookie", "floor"}
    assert routes["fastapi"] >= {"sessionward.header", "authx.cookie", "fastapi-users.header"}
    assert routes["django"] >= {"drf.sessionward.cookie", "drf.simplejwt.header"}
    assert all(v > 0 for result in results.values() for v in result["timings"].values())


def test_memory_run_keeps_every_cache_within_its_bound(tmp_path: Path) -> None:
    """benchmarks/memory.py past the verified-token cache's bound: the cache stops there (it
    drops its oldest entries), and the revocation cache holds exactly the logouts."""
    from sessionward._tokens.keys import VERIFIED_CACHE_SIZE

    out = tmp_path / "memory.json"
    size = VERIFIED_CACHE_SIZE // 2 + 500  # two tokens verified per login: past the bound
    run_script("memory.py", tmp_path, "--size", str(size), "--users", "500", "--json", str(out))
    rows = json.loads(out.read_text())["rows"]
    assert max(r["verified_tokens"] for r in rows) <= VERIFIED_CACHE_SIZE
    assert rows[-2]["verified_tokens"] == VERIFIED_CACHE_SIZE  # filled, then the oldest went
    assert rows[-1]["revoked_handles"] == len(range(0, size, 10))
    assert all(r["keys"] <= 3 and r["proof_ids"] == 0 for r in rows)


def test_compare_runs_reads_ratios_and_flags_a_regression(tmp_path: Path, capsys: Any) -> None:
    """Two runs' rows compared by their ratio to their own baselines: a row whose ops/s fell with
    its baseline is no regression; one whose ratio fell below --worse is, and exits 1."""
    from benchmarks import compare_runs

    def run(rows: list[tuple[str, float, str | None, float | None]]) -> Path:
        path = tmp_path / f"run{len(list(tmp_path.iterdir()))}.json"
        document = {
            "rows": [
                {"name": n, "ops_per_s": ops, "baseline": b, "ratio": r} for n, ops, b, r in rows
            ]
        }
        path.write_text(json.dumps(document))
        return path

    before = run([("sw.a", 100.0, "floor.a", 0.5), ("sw.b", 100.0, "floor.b", 0.8)])
    slower_machine = run([("sw.a", 50.0, "floor.a", 0.5), ("sw.b", 90.0, "floor.b", 0.8)])
    assert compare_runs.main([str(before), str(slower_machine)]) == 0
    regressed = run([("sw.a", 100.0, "floor.a", 0.5), ("sw.b", 100.0, "floor.b", 0.6)])
    assert compare_runs.main([str(before), str(regressed)]) == 1
    assert "below 0.9 of before: sw.b" in capsys.readouterr().out
