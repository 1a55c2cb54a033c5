"""The sessionward benchmark: every figure next to its baseline, measured in the same run.

    PYTHONPATH=src python benchmarks/run.py            # full run, ~5 min on 2 vCPU
    PYTHONPATH=src python benchmarks/run.py --quick    # ~1 min, noisier
    PYTHONPATH=src python benchmarks/run.py --tiny --backends sqlite --no-node --no-http
    PYTHONPATH=src python benchmarks/run.py --telemetry   # only the OpenTelemetry rows

Each figure is the median of several repetitions (ops/s). Baselines: the stdlib HS256 floor,
PyJWT and joserfc for verify; the raw DB-API driver transactions for everything that touches the
database; the original (npm supertokens-node-mysql-ref-jwt@5.0.4 under Node, same MariaDB) when
node and npm exist; the unprotected GET for the protected one. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks import floors, statements, telemetry  # noqa: E402
from benchmarks.common import (  # noqa: E402
    MODES,
    MYSQL_URL,
    TABLES,
    Mode,
    Results,
    backend_url,
    loop_async,
    loop_sync,
    prepare_database,
    sample_tasks,
    sample_threads,
)
from sessionward import AsyncSessionManager, SessionManager  # noqa: E402

ORIGINAL_PACKAGE = "supertokens-node-mysql-ref-jwt@5.0.4"
ORIGINAL_DIR = Path(os.environ.get("SESSIONWARD_BENCH_NODE_DIR", "/tmp/orig-bench"))
ORIGINAL_DB = "sessionward_bench_orig"
INFLIGHT = 32
SETTINGS: dict[str, Any] = {}  # extra manager settings from the command line (--grace-window)
PAYLOAD = {"role": "user", "tenant": "acme"}

# --- targets: (row, compared with, minimum ratio) ---------------------------------------------
TARGETS: list[tuple[str, str, float]] = [
    # verify (issue 6)
    ("sw.verify.sync", "orig.verify", 1.3),
    ("sw.verify.async", "orig.verify", 1.3),
    ("sw.verify.sync", "floor.verify.stdlib", 0.8),
    ("sw.verify.async", "floor.verify.stdlib", 0.8),
    ("sw.verify.sync", "floor.verify.pyjwt", 4.0),
    ("sw.verify.async", "floor.verify.pyjwt", 4.0),
    # the write path (issue 11), against the original on the same MariaDB
    ("sw.rotation_seq.mysql.sync", "orig.rotation_seq", 3.0),
    ("sw.rotation_seq.mysql.async", "orig.rotation_seq", 3.0),
    ("sw.rotation_c32.mysql.sync", "orig.rotation_c32", 1.5),
    ("sw.rotation_c32.mysql.async", "orig.rotation_c32", 1.5),
    ("sw.create.mysql.sync", "orig.create", 2.0),
    ("sw.create.mysql.async", "orig.create", 2.0),
    ("sw.verify_blacklist.mysql.sync", "orig.verify_blacklist", 1.5),
    ("sw.verify_blacklist.mysql.async", "orig.verify_blacklist", 1.5),
    # the write path at its own statements' floor, through the bare driver (issue 26)
    *(
        target
        for b in ("sqlite", "mysql", "postgres")
        for target in (
            (f"sw.rotation_own.{b}.sync", f"floor.rotation_sql.{b}.seq", 0.9),
            (f"sw.create_own.{b}.sync", f"floor.create_sql.{b}.seq", 0.95),
        )
    ),
    # revocation that reaches every process at no per-request cost (issue 10)
    ("sw.verify_cached.sync", "sw.verify.sync", 0.9),
    ("sw.verify_cached.async", "sw.verify.async", 0.9),
    ("sw.verify_cached.sync", "orig.verify_blacklist", 10.0),
    ("sw.verify_cached.async", "orig.verify_blacklist", 10.0),
    # async as fast as sync at 32 in flight (issue 11)
    ("sw.rotation_c32.mysql.async", "sw.rotation_c32.mysql.sync", 1.0),
    ("sw.rotation_c32.postgres.async", "sw.rotation_c32.postgres.sync", 1.0),
    ("http.protected", "http.open", 1 / 1.15),  # protected costs at most 15 % more
    # asymmetric access tokens against PyJWT with the same algorithm (issue 12)
    ("sw.verify.EdDSA", "pyjwt.verify.EdDSA", 1.5),
    ("sw.verify.ES256", "pyjwt.verify.ES256", 1.5),
    ("sw.verify.EdDSA.uncached", "pyjwt.verify.EdDSA", 1.5),
    ("sw.verify.ES256.uncached", "pyjwt.verify.ES256", 1.5),
    # revocations reach resource services at no per-request cost (issue 25)
    ("remote.verify.EdDSA.feed", "remote.verify.EdDSA", 0.9),
    # a logout costs the same whatever the number of live revocations (issue 19, finding 8)
    ("revocations.learn.100k", "revocations.learn.10", 0.8),
    ("sw.logout.sqlite.revocations_100k", "sw.logout.sqlite.revocations_10", 0.8),
    ("sw.logout.mysql.revocations_100k", "sw.logout.mysql.revocations_10", 0.8),
    ("sw.logout.postgres.revocations_100k", "sw.logout.postgres.revocations_10", 0.8),
    # metrics and traces cost verify nothing: with the otel extra and no SDK, and with an SDK
    # and a Prometheus reader, verify runs at the plain speed (issue 24)
    ("otel.verify.api", "otel.verify.plain", 0.95),
    ("otel.verify.sdk", "otel.verify.plain", 0.95),
]


# --- sessionward -------------------------------------------------------------------------------


def _check_promoted(verified: Any) -> None:
    if verified.new_access_token is None:
        raise AssertionError("the first verify after a refresh did not promote the new token")


def bench_verify_no_db(res: Results, mode: Mode, tmp: Path) -> None:
    """verify without DB (sync and async managers) and the verify floors, on the same token:
    plain (no revocation check, as the original without blacklisting) and with the default
    cached revocation check (an in-memory lookup; the feed is read every 2 s meanwhile)."""
    url = backend_url("sqlite", tmp)
    plain = {**SETTINGS, "revocation_check": "none"}
    with SessionManager(
        refresh_path="/session/refresh", database_url=url, **TABLES, **plain
    ) as mgr:
        tokens = mgr.create_new_session("verify-user", PAYLOAD)
        at, csrf = tokens.access_token.value, tokens.anti_csrf_token
        # The HMAC key that signed the token, for the baselines (a successor may be published
        # ahead of it in the ring).
        ring = mgr._context.keys.ring
        key = ring.signing_key(int(time.time() * 1000)).secret
        assert mgr.get_session(at, csrf).new_access_token is None
        now_s = time.time()
        assert floors.stdlib_verify(at, key, now_s)["sub"] == "verify-user"
        res.add(
            "floor.verify.stdlib", loop_sync(lambda: floors.stdlib_verify(at, key, now_s), mode)
        )
        pyjwt = floors.pyjwt_verifier(at, key)
        assert pyjwt()["sub"] == "verify-user"
        res.add("floor.verify.pyjwt", loop_sync(pyjwt, mode), "floor.verify.stdlib")
        jose = floors.joserfc_verifier(at, key)
        if jose is not None:
            res.add("floor.verify.joserfc", loop_sync(jose, mode), "floor.verify.stdlib")
        get = mgr.get_session
        res.add(
            "sw.verify.sync",
            loop_sync(lambda: get(at, csrf), mode),
            "floor.verify.stdlib",
            compare="orig.verify",
        )
    cached = {**SETTINGS, "revocation_check": "cached"}
    with SessionManager(
        refresh_path="/session/refresh", database_url=url, **TABLES, **cached
    ) as cmgr:
        cmgr.revoke_session(cmgr.create_new_session("revoked-user").session.handle)
        cget = cmgr.get_session
        assert cget(at, csrf).session.user_id == "verify-user"
        res.add(
            "sw.verify_cached.sync",
            loop_sync(lambda: cget(at, csrf), mode),
            "sw.verify.sync",
            compare="orig.verify_blacklist",
        )

    async def run_async() -> None:
        async with AsyncSessionManager(
            refresh_path="/session/refresh", database_url=url, **TABLES, **plain
        ) as am:
            aget = am.get_session
            assert (await aget(at, csrf)).session.user_id == "verify-user"
            res.add(
                "sw.verify.async",
                await loop_async(lambda: aget(at, csrf), mode),
                "floor.verify.stdlib",
                compare="orig.verify",
            )
        async with AsyncSessionManager(
            refresh_path="/session/refresh", database_url=url, **TABLES, **cached
        ) as cam:
            caget = cam.get_session
            assert (await caget(at, csrf)).session.user_id == "verify-user"
            res.add(
                "sw.verify_cached.async",
                await loop_async(lambda: caget(at, csrf), mode),
                "sw.verify.async",
                compare="orig.verify_blacklist",
            )

    asyncio.run(run_async())
    bench_proof_of_possession(res, mode, url)


ASYMMETRIC_BENCHED = ("EdDSA", "ES256")


def bench_asymmetric(res: Results, mode: Mode, tmp: Path) -> None:
    """Asymmetric access tokens beside PyJWT with the same algorithm and a pre-loaded key.

    ``sw.verify.ALG`` is the manager's verify of a token presented again (the common case: a
    verified token is remembered by the key ring); ``.uncached`` forgets it before every call,
    so each call checks the signature, as PyJWT does. ``floor.verify.ALG.crypto`` is the bare
    signature check of ``cryptography``, the floor under both. Sign: our signer against
    ``jwt.encode``.
    """
    for algorithm in ASYMMETRIC_BENCHED:
        _bench_algorithm(res, mode, tmp, algorithm)


def _bench_algorithm(res: Results, mode: Mode, tmp: Path, algorithm: str) -> None:
    import jwt

    from sessionward._encoding import from_b64url_canonical
    from sessionward._tokens.access import AccessContent, sign_access_token
    from sessionward._tokens.algorithms import generate_private_key

    plain = {**SETTINGS, "revocation_check": "none"}
    url = backend_url("sqlite", tmp).replace(".sqlite3", f"-{algorithm}.sqlite3")
    with SessionManager(
        refresh_path="/session/refresh",
        database_url=url,
        signing_algorithm=algorithm,
        **TABLES,
        **plain,
    ) as mgr:
        tokens = mgr.create_new_session("verify-user", PAYLOAD)
        at, csrf = tokens.access_token.value, tokens.anti_csrf_token
        ring = mgr._context.keys.ring
        key = ring.signing_key(int(time.time() * 1000))
        assert key is not None and key.public is not None and key.sign is not None
        public = key.public
        decode = jwt.decode
        assert decode(at, public, algorithms=[algorithm])["sub"] == "verify-user"
        pyjwt_row = f"pyjwt.verify.{algorithm}"
        res.add(pyjwt_row, loop_sync(lambda: decode(at, public, algorithms=[algorithm]), mode))
        signing_input, _, signature = at.rpartition(".")
        raw = from_b64url_canonical(signature)
        verify = key.verify
        assert verify(signing_input.encode(), raw)
        res.add(
            f"floor.verify.{algorithm}.crypto",
            loop_sync(lambda: verify(signing_input.encode(), raw), mode),
            pyjwt_row,
        )
        get = mgr.get_session
        assert get(at, csrf).session.user_id == "verify-user"
        res.add(f"sw.verify.{algorithm}", loop_sync(lambda: get(at, csrf), mode), pyjwt_row)
        forget = ring.verified.clear

        def uncached() -> Any:
            forget()
            return get(at, csrf)

        res.add(f"sw.verify.{algorithm}.uncached", loop_sync(uncached, mode), pyjwt_row)

        private = generate_private_key(algorithm)  # same algorithm, same signing cost
        claims = jwt.decode(at, options={"verify_signature": False})
        headers = {"kid": key.kid}
        encode = jwt.encode
        pyjwt_sign = f"pyjwt.sign.{algorithm}"
        res.add(
            pyjwt_sign,
            loop_sync(lambda: encode(claims, private, algorithm=algorithm, headers=headers), mode),
        )
        content = AccessContent(
            claims["sid"], claims["sub"], claims["rt"], None, claims["csrf"],
            '{"role":"user","tenant":"acme"}', claims["cat"],
        )  # fmt: skip
        expires = claims["exp"] * 1000
        res.add(
            f"sw.sign.{algorithm}",
            loop_sync(lambda: sign_access_token(key, content, expires), mode),
            pyjwt_sign,
        )


def bench_proof_of_possession(res: Results, mode: Mode, url: str) -> None:
    """What binding a session to a key costs: one ECDSA P-256 verify per refresh (none per
    request), shown alone and inside a sequential rotation on SQLite (where the database costs
    least, so the proof's share is largest), against the same rotation unbound."""
    from sessionward._proof import SEEN_LIMIT, ProofKey, ProofOfPossession, SeenProofs, verify_proof

    key = ProofKey()
    refresh_url = "https://bench.example/session/refresh"
    token = "r" * 200
    header = key.proof("POST", refresh_url, token=token)
    proof = ProofOfPossession(header, "POST", refresh_url)
    assert verify_proof(proof, now_s=time.time(), tokens=(token,)).thumbprint == key.thumbprint
    res.add("pop.sign_proof", loop_sync(lambda: key.proof("POST", refresh_url, token=token), mode))
    res.add(
        "pop.verify_proof",
        loop_sync(lambda: verify_proof(proof, now_s=time.time(), tokens=(token,)), mode),
    )
    with SessionManager(
        refresh_path="/session/refresh", database_url=url, **TABLES, **SETTINGS
    ) as mgr:
        # One key makes every proof of the run, far beyond the per-key limit an honest client
        # never reaches (1,000 in 2 min): this row measures what a proof costs, not that limit.
        mgr._context.seen_proofs = SeenProofs(per_key_limit=SEEN_LIMIT)
        login = ProofOfPossession(
            key.proof("POST", "https://bench.example/login"), "POST", "/login"
        )

        def rotation(bound: bool) -> Callable[[], None]:
            first = mgr.create_new_session("pop-user", PAYLOAD, proof=login if bound else None)
            state = {"rt": first.refresh_token.value}

            def cycle() -> None:
                rt = state["rt"]
                pop = None
                if bound:
                    pop = ProofOfPossession(
                        key.proof("POST", refresh_url, token=rt), "POST", refresh_url
                    )
                tokens = mgr.refresh_session(rt, proof=pop)
                _check_promoted(mgr.get_session(tokens.access_token.value, tokens.anti_csrf_token))
                state["rt"] = tokens.refresh_token.value

            return cycle

        res.add("pop.rotation_seq.sqlite.unbound", sample_threads([rotation(False)], mode))
        res.add(
            "pop.rotation_seq.sqlite.bound",
            sample_threads([rotation(True)], mode),
            "pop.rotation_seq.sqlite.unbound",
        )


LIVE_REVOCATIONS = (10, 100_000)  # a quiet site, and an hour of logouts on a busy one


def _label(count: int) -> str:
    return f"{count // 1000}k" if count >= 1000 else str(count)


def _fill(cache: Any, count: int, life_ms: int) -> None:
    """``count`` live revocations in ``cache``, revoked over the last hour as logouts are (the
    cache only: what a logout's cost could grow with is the cache, which verify reads)."""
    from sessionward._revocations import Revocation

    now = int(time.time() * 1000)
    start = now - 3_600_000
    cache.learn(
        (
            Revocation(f"live-{i}", None, None, at, at + life_ms)
            for i, at in ((i, start + i * 3_600_000 // count) for i in range(count))
        ),
        now,
    )
    assert len(cache) >= count


def bench_revocation_cache(res: Results, mode: Mode) -> None:
    """``RevocationCache.learn`` of one revocation, what every logout, sign-out, theft and
    eviction does in the process (on the event loop, for the async manager), with 10 and with
    100,000 live revocations; the second row's ratio is to the first."""
    from sessionward._revocations import Revocation, RevocationCache

    life = 3_615_000  # the default validity + leeway + read margin
    for count in LIVE_REVOCATIONS:
        cache = RevocationCache(2000)
        _fill(cache, count, life)
        serial = iter(range(10**12))

        def learn_one(cache: RevocationCache = cache, serial: Any = serial) -> None:
            now = int(time.time() * 1000)
            cache.learn([Revocation(f"new-{next(serial)}", None, None, now, now + life)], now)

        name = f"revocations.learn.{_label(count)}"
        base = None if count == LIVE_REVOCATIONS[0] else "revocations.learn.10"
        res.add(name, loop_sync(learn_one, mode), base)


FEED_LIVE = 100_000  # revocations of the last hour in the feed (10,000 in a tiny run)
FEED_NEW_PER_2S = 56  # what 100,000 an hour bring in the 2 s between two reads


def bench_revocation_feed(res: Results, mode: Mode, tmp: Path, tiny: bool) -> None:
    """The revocation feed of an issuer holding an hour of revocations (issue 25): a full read
    (a verifier starting), and the incremental read 2 s later, which must carry only the
    entries new since (their bytes are in the row); then a remote verify (EdDSA, the token
    presented again, the common case) with the feed read every 2 s, beside the same verify
    without the feed (today's), both with the feed's entries known."""
    import httpx

    from sessionward import RemoteVerifier
    from sessionward._operations.revocation import revocation_feed
    from sessionward._revocations import Revocation
    from sessionward._tokens.feed import parse_cursor

    live = 10_000 if tiny else FEED_LIVE
    url = backend_url("sqlite", tmp).replace(".sqlite3", "-feed.sqlite3")
    path = "/.well-known/revocations"
    with SessionManager(
        refresh_path="/session/refresh",
        database_url=url,
        signing_algorithm="EdDSA",
        revocation_feed_path=path,
        **TABLES,
        **SETTINGS,
    ) as mgr:
        tokens = mgr.create_new_session("verify-user", PAYLOAD)
        context = mgr._context
        life = context.revocation_life_ms
        _fill(context.revocations, live, life)
        issuer = "https://issuer.example"
        full = mgr._drive(revocation_feed, None, issuer)
        cursor = parse_cursor(json.loads(_claims_json(full))["next"])
        res.add(
            "feed.full",
            loop_sync(lambda: mgr._drive(revocation_feed, None, issuer), mode),
            live=live,
            bytes=len(full),
        )
        now = int(time.time() * 1000)
        context.revocations.learn(
            [Revocation(f"new-{i}", None, None, now, now + life) for i in range(FEED_NEW_PER_2S)],
            now,
        )
        incremental = mgr._drive(revocation_feed, cursor, issuer)
        entries = len(json.loads(_claims_json(incremental))["revocations"])
        assert entries == FEED_NEW_PER_2S, entries  # only what is new
        res.add(
            "feed.incremental",
            loop_sync(lambda: mgr._drive(revocation_feed, cursor, issuer), mode),
            "feed.full",
            live=live,
            entries=entries,
            bytes=len(incremental),
        )
        res.notes.append(
            f"revocation feed with {live:,} live revocations: full read {len(full):,} bytes, "
            f"incremental read 2 s later {len(incremental):,} bytes ({entries} entries)"
        )

        def serve(request: httpx.Request) -> httpx.Response:
            if request.url.path == path:
                since = request.url.params.get("since")
                found = None if since is None else parse_cursor(since)
                body = mgr._drive(revocation_feed, found, issuer)
                return httpx.Response(200, text=body, headers={"cache-control": "max-age=1"})
            jwk_set = {**mgr.jwks().jwk_set, "revocation_feed": path}
            return httpx.Response(200, json=jwk_set, headers={"cache-control": "max-age=300"})

        at = tokens.access_token.value
        jwks_url = "http://issuer.example/.well-known/jwks.json"
        clients = [httpx.Client(transport=httpx.MockTransport(serve)) for _ in range(2)]
        plain = RemoteVerifier(jwks_url, client=clients[0], revocation_feed_url=False)
        fed = RemoteVerifier(jwks_url, client=clients[1])  # the feed the JWK Set names
        try:
            assert plain.verify(at).user_id == fed.verify(at).user_id == "verify-user"
            # the hour's oldest expire while the run goes on
            assert fed.revocations_known >= live * 0.9 and plain.revocations_known == 0
            # Alternated, each row pooling its passes: the machine's drift hits both alike.
            for _ in range(2):
                res.add("remote.verify.EdDSA", loop_sync(lambda: plain.verify(at), mode))
                res.add(
                    "remote.verify.EdDSA.feed",
                    loop_sync(lambda: fed.verify(at), mode),
                    "remote.verify.EdDSA",
                )
        finally:
            for client in clients:
                client.close()


def _claims_json(document: str) -> bytes:
    from sessionward._encoding import from_b64url

    return from_b64url(document.split(".")[1])


def bench_logout(res: Results, backend: str, url: str, mode: Mode) -> None:
    """A logout (``revoke_session``: the revocation row, the DELETE, and learning it here) with
    10 and with 100,000 live revocations in the process, the two measured in alternation so
    that drift hits both alike. Each repetition's first 200 logouts end real sessions; the
    later ones revoke handles that no longer exist (the same INSERT and DELETE, of no row), as
    creating a session per logout would measure the logins too."""
    rows = {count: f"sw.logout.{backend}.revocations_{_label(count)}" for count in LIVE_REVOCATIONS}
    managers = {}
    try:
        for count in LIVE_REVOCATIONS:
            mgr = SessionManager(
                refresh_path="/session/refresh", database_url=url, **TABLES, **SETTINGS
            )
            mgr.create_tables()
            _fill(mgr._context.revocations, count, mgr._context.revocation_life_ms)
            managers[count] = mgr
        for _ in range(2):
            for count, mgr in managers.items():
                handles = iter(
                    [mgr.create_new_session("logout-user").session.handle for _ in range(200)]
                )
                serial = iter(range(10**12))

                def logout(
                    mgr: SessionManager = mgr, handles: Any = handles, serial: Any = serial
                ) -> None:
                    handle = next(handles, None) or f"gone-{next(serial)}"
                    mgr.revoke_session(handle)

                base = None if count == LIVE_REVOCATIONS[0] else rows[LIVE_REVOCATIONS[0]]
                res.add(rows[count], loop_sync(logout, mode), base)
    finally:
        for mgr in managers.values():
            mgr.close()


def bench_floors_db(res: Results, backend: str, url: str, mode: Mode) -> None:
    """The raw driver floors: point select, insert, and the lock+update transaction."""
    main = floors.SyncFloor(backend, url)
    main.setup()
    res.add(f"floor.select.{backend}.seq", sample_threads([lambda: main.select("k1")], mode))
    res.add(f"floor.insert.{backend}.seq", sample_threads([main.insert], mode))
    main.cleanup_inserts()
    res.add(f"floor.txn.{backend}.seq", sample_threads([floors.txn_worker(main, 0)], mode))
    conns = [floors.SyncFloor(backend, url) for _ in range(INFLIGHT)]
    res.add(
        f"floor.txn.{backend}.c32.threads",
        sample_threads([floors.txn_worker(c, i) for i, c in enumerate(conns)], mode),
    )
    for c in conns:
        c.close()
    main.close()

    async def run_async() -> None:
        aconns = [await floors.AsyncFloor(backend, url).open() for _ in range(INFLIGHT)]
        res.add(
            f"floor.txn.{backend}.c32.async",
            await sample_tasks([floors.async_txn_worker(c, i) for i, c in enumerate(aconns)], mode),
        )
        for c in aconns:
            await c.close()

    asyncio.run(run_async())


def bench_backend_sync(res: Results, backend: str, url: str, mode: Mode) -> None:
    b = backend
    with (
        SessionManager(
            refresh_path="/session/refresh", database_url=url, **TABLES, **SETTINGS
        ) as mgr,
        SessionManager(
            refresh_path="/session/refresh", database_url=url, revocation_check="exact", **TABLES
        ) as bl,
    ):
        mgr.create_tables()
        t = bl.create_new_session("bl-user", PAYLOAD)
        at, csrf = t.access_token.value, t.anti_csrf_token
        bl.get_session(at, csrf)
        res.add(
            f"sw.verify_blacklist.{b}.sync",
            sample_threads([lambda: bl.get_session(at, csrf)], mode),
            f"floor.select.{b}.seq",
            compare="orig.verify_blacklist",
        )
        counter = iter(range(10**9))
        res.add(
            f"sw.create.{b}.sync",
            sample_threads(
                [lambda: mgr.create_new_session(f"c{next(counter)}", PAYLOAD, {"n": 1})], mode
            ),
            f"floor.insert.{b}.seq",
            compare="orig.create",
        )

        def rotation(i: int) -> Callable[[], None]:
            state = {"rt": mgr.create_new_session(f"rot{i}", PAYLOAD, {"i": i}).refresh_token.value}

            def cycle() -> None:
                tokens = mgr.refresh_session(state["rt"])
                _check_promoted(mgr.get_session(tokens.access_token.value, tokens.anti_csrf_token))
                state["rt"] = tokens.refresh_token.value

            return cycle

        res.add(
            f"sw.rotation_seq.{b}.sync",
            sample_threads([rotation(0)], mode),
            f"floor.txn.{b}.seq",
            compare="orig.rotation_seq",
        )
        bench_own_statements(res, b, mgr, mode)
        res.add(
            f"sw.rotation_c32.{b}.sync",
            sample_threads([rotation(i) for i in range(1, INFLIGHT + 1)], mode),
            f"floor.txn.{b}.c32.threads",
            compare="orig.rotation_c32",
        )


# Rotations and creates per round of the statement floors, per mode.
REPLAYED = {"full": 500, "quick": 150, "tiny": 6}


def bench_own_statements(res: Results, b: str, mgr: SessionManager, mode: Mode) -> None:
    """Issue 26, part 3: the statements a rotation and a create send, recorded and replayed
    through the bare driver on the rows they touched (``benchmarks/statements.py``), each round
    of sessionward followed by its replay, so that both see the same moment of the database;
    and the minimal floor of two bare UPDATEs. Targets: a rotation at 0.9 of its own
    statements, a create at 0.95 of its INSERT."""
    count = REPLAYED[next(name for name, m in MODES.items() if m is mode)]
    sessions = mgr.store._metadata.tables[TABLES["refresh_token_table"]]

    def rotating(user: str) -> tuple[Callable[[int], None], str]:
        tokens = mgr.create_new_session(user, PAYLOAD, {"i": 0})
        state = {"rt": tokens.refresh_token.value}

        def cycle(_: int) -> None:
            new = mgr.refresh_session(state["rt"])
            _check_promoted(mgr.get_session(new.access_token.value, new.anti_csrf_token))
            state["rt"] = new.refresh_token.value

        cycle(0)  # the first cycle promotes as every later one does
        return cycle, tokens.session.handle

    (measured, _), (recorded, handle) = rotating("replay-user-1"), rotating("replay-user-2")
    rounds = statements.rotation_rounds(
        mgr, sessions, (measured, recorded), handle, count, mode.reps
    )
    res.add(f"floor.update2.{b}.seq", rounds["update2"])
    res.add(f"floor.rotation_sql.{b}.seq", rounds["replay"], f"floor.update2.{b}.seq")
    res.add(f"sw.rotation_own.{b}.sync", rounds["sw"], f"floor.rotation_sql.{b}.seq")

    def create(user: str) -> None:
        mgr.create_new_session(user, PAYLOAD, {"n": 1})

    rounds = statements.create_rounds(mgr, sessions, create, count, mode.reps)
    res.add(f"floor.create_sql.{b}.seq", rounds["replay"], f"floor.insert.{b}.seq")
    res.add(f"sw.create_own.{b}.sync", rounds["sw"], f"floor.create_sql.{b}.seq")


def bench_backend_async(res: Results, backend: str, url: str, mode: Mode) -> None:
    b = backend

    async def run() -> None:
        async with (
            AsyncSessionManager(
                refresh_path="/session/refresh", database_url=url, **TABLES, **SETTINGS
            ) as mgr,
            AsyncSessionManager(
                refresh_path="/session/refresh",
                database_url=url,
                revocation_check="exact",
                **TABLES,
            ) as bl,
        ):
            t = await bl.create_new_session("abl-user", PAYLOAD)
            at, csrf = t.access_token.value, t.anti_csrf_token
            res.add(
                f"sw.verify_blacklist.{b}.async",
                await sample_tasks([lambda: bl.get_session(at, csrf)], mode),
                f"floor.select.{b}.seq",
                compare="orig.verify_blacklist",
            )
            counter = iter(range(10**9))
            res.add(
                f"sw.create.{b}.async",
                await sample_tasks(
                    [lambda: mgr.create_new_session(f"ac{next(counter)}", PAYLOAD, {"n": 1})], mode
                ),
                f"floor.insert.{b}.seq",
                compare="orig.create",
            )

            async def rotation(i: int) -> Callable[[], Awaitable[None]]:
                created = await mgr.create_new_session(f"arot{i}", PAYLOAD, {"i": i})
                state = {"rt": created.refresh_token.value}

                async def cycle() -> None:
                    tokens = await mgr.refresh_session(state["rt"])
                    _check_promoted(
                        await mgr.get_session(tokens.access_token.value, tokens.anti_csrf_token)
                    )
                    state["rt"] = tokens.refresh_token.value

                return cycle

            res.add(
                f"sw.rotation_seq.{b}.async",
                await sample_tasks([await rotation(0)], mode),
                f"floor.txn.{b}.seq",
                compare="orig.rotation_seq",
            )
            workers = [await rotation(i) for i in range(1, INFLIGHT + 1)]
            res.add(
                f"sw.rotation_c32.{b}.async",
                await sample_tasks(workers, mode),
                f"floor.txn.{b}.c32.async",
                compare="orig.rotation_c32",
            )

    asyncio.run(run())


# --- the original under Node ------------------------------------------------------------------


def ensure_original(res: Results) -> Path | None:
    """Install the original from npm into a scratch folder outside the repository."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        res.notes.append("node/npm not found: the original was not measured")
        return None
    module = ORIGINAL_DIR / "node_modules" / "supertokens-node-mysql-ref-jwt"
    if not (module / "package.json").exists():
        ORIGINAL_DIR.mkdir(parents=True, exist_ok=True)
        print(f"installing {ORIGINAL_PACKAGE} into {ORIGINAL_DIR}", file=sys.stderr)
        done = subprocess.run(
            [
                npm,
                "install",
                "--prefix",
                str(ORIGINAL_DIR),
                "--no-audit",
                "--no-fund",
                "--loglevel",
                "error",
                ORIGINAL_PACKAGE,
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            res.notes.append(f"npm install failed: {done.stderr.strip()[-300:]}")
            return None
    return module


def bench_original(res: Results, mode: Mode) -> None:
    module = ensure_original(res)
    if module is None:
        return
    from sqlalchemy import create_engine, text

    from sessionward._storage.engines import resolve_url

    parsed = resolve_url(MYSQL_URL, asynchronous=False)
    admin = create_engine(parsed.set(database="mysql"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE IF NOT EXISTS `{ORIGINAL_DB}`"))
        conn.execute(text(f"DROP TABLE IF EXISTS `{ORIGINAL_DB}`.refresh_token"))
        conn.execute(text(f"DROP TABLE IF EXISTS `{ORIGINAL_DB}`.signing_key"))
    admin.dispose()
    base = {
        "host": parsed.host or "127.0.0.1",
        "port": parsed.port or 3306,
        "user": parsed.username or "root",
        "password": parsed.password or "",
        "database": ORIGINAL_DB,
        "seconds": mode.seconds,
        "reps": mode.reps,
        "inflight": INFLIGHT,
    }
    runs = [
        ({"blacklisting": False, "ops": ["verify", "create", "rotation_seq", "rotation_c32"]}, ""),
        ({"blacklisting": True, "ops": ["verify"]}, "_blacklist"),
    ]
    for extra, suffix in runs:
        done = subprocess.run(
            ["node", str(HERE / "original.js"), json.dumps({**base, **extra})],
            capture_output=True,
            text=True,
            timeout=600,
            env={**os.environ, "ORIG_MODULE": str(module)},
        )
        if done.returncode != 0:
            res.notes.append(f"the original failed: {done.stderr.strip()[-400:]}")
            return
        out = json.loads(done.stdout.strip().splitlines()[-1])
        note = (
            f"original ({ORIGINAL_PACKAGE}) measured under Node {out['node']} on the same MariaDB"
        )
        if note not in res.notes:
            res.notes.append(note)
        for op, figures in out["results"].items():
            name = "orig.verify_blacklist" if (op == "verify" and suffix) else f"orig.{op}"
            res.add(name, figures["rates"])


# --- report -------------------------------------------------------------------------------------


def evaluate_targets(res: Results) -> list[dict[str, Any]]:
    out = []
    for row, other, minimum in TARGETS:
        ratio = res.ratio(row, other)
        out.append(
            {
                "row": row,
                "compared_with": other,
                "minimum_ratio": round(minimum, 3),
                "ratio": None if ratio is None else round(ratio, 3),
                "met": None if ratio is None else ratio >= minimum,
            }
        )
    return out


def print_table(res: Results, targets: list[dict[str, Any]]) -> None:
    head = (
        f"{'benchmark':<38} {'ops/s':>10} {'µs/op':>8}  "
        f"{'baseline':<28} {'ratio':>6}  {'vs orig':>7}"
    )
    print(head)
    print("-" * len(head))
    for name, row in res.rows.items():
        ops = row["ops_per_s"] or float("nan")
        base = row.get("baseline")
        ratio = res.ratio(name, base)
        vs = res.ratio(name, row.get("compare"))
        print(
            f"{name:<38} {ops:>10,.0f} {1e6 / ops:>8.1f}  {base or '':<28} "
            f"{'' if ratio is None else f'{ratio:.2f}':>6}  {'' if vs is None else f'{vs:.2f}x':>7}"
        )
    print()
    print("targets (issues 6, 10, 11, 12, 19, 24 and 25):")
    for t in targets:
        state = "n/a " if t["met"] is None else ("MET " if t["met"] else "MISS")
        r = "—" if t["ratio"] is None else f"{t['ratio']:.2f}"
        print(f"  [{state}] {t['row']} / {t['compared_with']} = {r} (needs ≥ {t['minimum_ratio']})")
    for note in res.notes:
        print(f"note: {note}")


FEED_ROWS = ["feed.full", "feed.incremental", "remote.verify.EdDSA", "remote.verify.EdDSA.feed"]


def expected_rows(backends: list[str], *, node: bool, http: bool) -> list[str]:
    """Every row a run with these options must produce (the smoke test checks them)."""
    rows = ["floor.verify.stdlib", "floor.verify.pyjwt", "sw.verify.sync", "sw.verify.async"]
    rows += ["sw.verify_cached.sync", "sw.verify_cached.async"]
    for algorithm in ASYMMETRIC_BENCHED:
        rows += [
            f"pyjwt.verify.{algorithm}",
            f"floor.verify.{algorithm}.crypto",
            f"sw.verify.{algorithm}",
            f"sw.verify.{algorithm}.uncached",
            f"pyjwt.sign.{algorithm}",
            f"sw.sign.{algorithm}",
        ]
    rows += [
        "pop.sign_proof",
        "pop.verify_proof",
        "pop.rotation_seq.sqlite.unbound",
        "pop.rotation_seq.sqlite.bound",
    ]
    for b in backends:
        rows += [
            f"floor.select.{b}.seq",
            f"floor.insert.{b}.seq",
            f"floor.txn.{b}.seq",
            f"floor.txn.{b}.c32.threads",
            f"floor.txn.{b}.c32.async",
            f"floor.update2.{b}.seq",
            f"floor.rotation_sql.{b}.seq",
            f"floor.create_sql.{b}.seq",
            f"sw.rotation_own.{b}.sync",
            f"sw.create_own.{b}.sync",
        ]
        for m in ("sync", "async"):
            rows += [
                f"sw.verify_blacklist.{b}.{m}",
                f"sw.create.{b}.{m}",
                f"sw.rotation_seq.{b}.{m}",
                f"sw.rotation_c32.{b}.{m}",
            ]
    rows += [f"revocations.learn.{_label(count)}" for count in LIVE_REVOCATIONS]
    rows += FEED_ROWS
    for b in backends:
        rows += [f"sw.logout.{b}.revocations_{_label(count)}" for count in LIVE_REVOCATIONS]
    if node:
        rows += [
            "orig.verify",
            "orig.verify_blacklist",
            "orig.create",
            "orig.rotation_seq",
            "orig.rotation_c32",
        ]
    rows += telemetry.rows()
    if http:
        rows += ["http.open", "http.protected"]
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="short repetitions (~1 min)")
    size.add_argument("--tiny", action="store_true", help="smoke-test size; figures meaningless")
    parser.add_argument("--backends", default="sqlite,mysql,postgres")
    parser.add_argument("--no-node", action="store_true", help="do not measure the original")
    parser.add_argument("--no-http", action="store_true", help="skip the HTTP benchmark")
    parser.add_argument("--json", default="benchmark-results.json", help="where to write JSON")
    parser.add_argument(
        "--grace-window",
        type=int,
        metavar="SECONDS",
        help="refresh_grace_window of every manager (default: the library's, 30; 0 measures the "
        "original's semantics, without the anchor write)",
    )
    parser.add_argument(
        "--galera",
        action="store_true",
        help="only the rotation on the 3-node Galera cluster of scripts/galera-cluster.sh next "
        "to one MariaDB (benchmarks/galera.py)",
    )
    parser.add_argument(
        "--revocations",
        action="store_true",
        help="only the cost of a logout and of learning one revocation, with 10 and with "
        "100,000 live revocations (on --backends)",
    )
    parser.add_argument(
        "--telemetry",
        action="store_true",
        help="only verify, refresh and create without OpenTelemetry, with its API and no SDK, "
        "and with an SDK and a Prometheus reader (benchmarks/telemetry.py)",
    )
    parser.add_argument(
        "--feed",
        action="store_true",
        help="only the revocation feed: a full and an incremental read with 100,000 live "
        "revocations, and remote verify with the feed on and off",
    )
    parser.add_argument("--http-open-path", help="default: /ping (example app) or /open")
    parser.add_argument(
        "--http-protected-path", help="default: /ping/protected (example app) or /protected"
    )
    args = parser.parse_args(argv)
    if args.grace_window is not None:
        SETTINGS["refresh_grace_window"] = args.grace_window
    mode_name = "tiny" if args.tiny else "quick" if args.quick else "full"
    mode = MODES[mode_name]
    if args.galera:  # a run of its own (docs/scaling.md)
        from benchmarks import galera

        res = Results()
        galera.run(res, mode, MYSQL_URL, TABLES, INFLIGHT)
        print_table(res, [])
        rows = [{**r, "ratio": res.ratio(n, r["baseline"])} for n, r in res.rows.items()]
        Path(args.json).write_text(json.dumps({"mode": mode_name, "rows": rows}, indent=2) + "\n")
        return 0
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    res = Results()
    started = time.perf_counter()
    if args.revocations or args.telemetry or args.feed:  # a run of its own: a few rows, seconds
        with tempfile.TemporaryDirectory(prefix="sessionward-bench-") as tmp_name:
            if args.feed:
                print("the revocation feed, and remote verify with it", file=sys.stderr)
                bench_revocation_feed(res, mode, Path(tmp_name), args.tiny)
        with tempfile.TemporaryDirectory(prefix="sessionward-bench-") as tmp_name:
            if args.telemetry:
                print("OpenTelemetry: plain, API without SDK, SDK + Prometheus", file=sys.stderr)
                telemetry.run(res, mode_name, Path(tmp_name))
            if args.revocations:
                print("learning one revocation, 10 and 100,000 live", file=sys.stderr)
                bench_revocation_cache(res, mode)
            for b in backends if args.revocations else []:
                url = backend_url(b, Path(tmp_name))
                prepare_database(b, url)
                print(f"{b}: a logout, 10 and 100,000 live revocations", file=sys.stderr)
                bench_logout(res, b, url, mode)
        targets = [t for t in evaluate_targets(res) if t["ratio"] is not None]
        print_table(res, targets)
        rows = [{**r, "ratio": res.ratio(n, r["baseline"])} for n, r in res.rows.items()]
        document = {"mode": mode_name, "rows": rows, "targets": targets}
        Path(args.json).write_text(json.dumps(document, indent=2) + "\n")
        return 0
    with tempfile.TemporaryDirectory(prefix="sessionward-bench-") as tmp_name:
        tmp = Path(tmp_name)
        print("verify without DB, and its floors", file=sys.stderr)
        bench_verify_no_db(res, mode, tmp)
        print("asymmetric access tokens beside PyJWT", file=sys.stderr)
        bench_asymmetric(res, mode, tmp)
        print("learning one revocation, 10 and 100,000 live", file=sys.stderr)
        bench_revocation_cache(res, mode)
        print("OpenTelemetry: plain, API without SDK, SDK + Prometheus", file=sys.stderr)
        telemetry.run(res, mode_name, tmp)
        print("the revocation feed, and remote verify with it", file=sys.stderr)
        bench_revocation_feed(res, mode, tmp, args.tiny)
        # On MariaDB ours and the original alternate (ours, original, ours, original), each row
        # pooling its repetitions over the passes, so that the machine's drift during the run
        # hits both sides alike.
        passes = 1 if args.no_node or mode_name != "full" else 2
        for b in backends:
            url = backend_url(b, tmp)
            prepare_database(b, url)
            bench_floors_db(res, b, url, mode)
            for number in range(passes if b == "mysql" else 1):
                print(f"{b}: sync and async managers (pass {number + 1})", file=sys.stderr)
                bench_backend_sync(res, b, url, mode)
                bench_backend_async(res, b, url, mode)
                if b == "mysql" and not args.no_node:
                    print("the original under Node, same MariaDB", file=sys.stderr)
                    bench_original(res, mode)
            print(f"{b}: a logout, 10 and 100,000 live revocations", file=sys.stderr)
            bench_logout(res, b, url, mode)
        if "mysql" not in backends and not args.no_node:
            print("the original under Node, same MariaDB", file=sys.stderr)
            bench_original(res, mode)
        if not args.no_http:
            from benchmarks import httpbench

            print("HTTP: protected vs unprotected GET", file=sys.stderr)
            httpbench.run(
                res,
                mode,
                tmp,
                open_path=args.http_open_path,
                protected_path=args.http_protected_path,
            )
    targets = evaluate_targets(res)
    elapsed = time.perf_counter() - started
    print_table(res, targets)
    print(
        f"\n{mode_name} run, {elapsed:.0f} s, "
        f"python {platform.python_version()}, {os.cpu_count()} CPUs"
    )
    document = {
        "mode": mode_name,
        "seconds_per_rep": mode.seconds,
        "reps": mode.reps,
        "elapsed_s": round(elapsed, 1),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "rows": [
            {
                **row,
                "ratio": res.ratio(name, row.get("baseline")),
                "vs_original": res.ratio(name, row.get("compare")),
            }
            for name, row in res.rows.items()
        ],
        "targets": targets,
        "notes": res.notes,
    }
    Path(args.json).write_text(json.dumps(document, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
