"""Resident memory of a process after many logins and refreshes, and what each cache holds.

    PYTHONPATH=src python benchmarks/memory.py            # 100,000 logins + 100,000 refreshes
    PYTHONPATH=src python benchmarks/memory.py --size 10000

One process with a sync manager on an SQLite file, EdDSA access tokens (so that the cache of
verified asymmetric tokens is in use), ``--users`` users (10,000 by default): first
``--size`` logins across those users, each followed by a refresh of its session, every new
access token verified (the harness keeps no token, so that its own lists do not count); then one
in ten sessions logged out, so that the revocation cache holds entries. At each quarter it
prints the resident set (``VmRSS``) and the size of each cache; the bounds come last. A fresh
process's figure is the first line: what the library costs before any traffic. Figures are for
this interpreter and machine; what is meant to hold anywhere is that no cache grows past its
bound.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sessionward import SessionManager
from sessionward._proof import SEEN_LIMIT
from sessionward._tokens.keys import VERIFIED_CACHE_SIZE


def rss_mb() -> float:
    """This process's resident set, in MB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def caches(manager: SessionManager) -> dict[str, int]:
    """How many entries each of the process's caches holds now."""
    context = manager._context
    revocations = context.revocations
    return {
        "verified_tokens": len(context.keys.ring.verified),
        "revoked_handles": len(revocations._handles),
        "revoked_users": len(revocations._users) + len(revocations._tenants),
        "proof_ids": len(context.seen_proofs),
        "keys": len(context.keys.ring.keys),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=100_000, help="logins, then refreshes")
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args(argv)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        manager = SessionManager(
            refresh_path="/refresh",
            database_url=f"sqlite:///{tmp}/memory.sqlite3",
            signing_algorithm="EdDSA",
        )

        def row(phase: str, started: float) -> None:
            gc.collect()
            figures = {"phase": phase, "rss_mb": round(rss_mb(), 1), **caches(manager)}
            figures["seconds"] = round(time.perf_counter() - started, 1)
            rows.append(figures)
            print(json.dumps(figures), flush=True)

        started = time.perf_counter()
        first = manager.create_new_session("warm-up")
        manager.get_session(first.access_token.value, first.anti_csrf_token)
        row("fresh (one login)", started)
        handles = []
        started = time.perf_counter()
        quarter = max(1, args.size // 4)
        for n in range(args.size):
            tokens = manager.create_new_session(f"user-{n % args.users}")
            manager.get_session(tokens.access_token.value, tokens.anti_csrf_token)
            tokens = manager.refresh_session(tokens.refresh_token.value)
            manager.get_session(tokens.access_token.value, tokens.anti_csrf_token)
            if n % 10 == 0:
                handles.append(tokens.session.handle)
            if (n + 1) % quarter == 0:
                row(f"{n + 1} logins and refreshes", started)
        started = time.perf_counter()
        for handle in handles:
            manager.revoke_session(handle)
        manager.get_session(first.access_token.value, first.anti_csrf_token)  # reads revocations
        row(f"{len(handles)} logouts", started)
        manager.close()
    bounds = {
        "verified_tokens": VERIFIED_CACHE_SIZE,
        "proof_ids": SEEN_LIMIT,
        "revoked_handles": "revocations of the last access-token validity + leeway",
        "keys": "the keys that sign or verify now: 2-3 per algorithm",
    }
    print(json.dumps({"bounds": bounds}))
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "bounds": bounds}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
