"""What Python allows: the baselines that run.py measures beside sessionward in the same run.

* ``stdlib_verify``: a hand-checked HS256 verify with nothing but ``hmac``, ``base64`` and
  ``json`` (signature, JSON body, expiry), the least work any verifier must do;
* PyJWT ``jwt.decode`` and joserfc ``jwt.decode`` of the very same token;
* the raw driver transactions of a rotation: ``SELECT … FOR UPDATE`` + ``UPDATE`` + ``COMMIT``
  (and a point ``SELECT``, an ``INSERT`` + ``COMMIT``), straight on the DB-API drivers that the
  managers use underneath (sqlite3 / PyMySQL / psycopg sync, aiosqlite / asyncmy / psycopg async),
  with one connection per worker.
"""

from __future__ import annotations

import base64
import hmac
import json
import sqlite3
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

_b64e = base64.urlsafe_b64encode
_b64d = base64.urlsafe_b64decode


def stdlib_verify(token: str, key: bytes, now_s: float) -> dict[str, Any]:
    """The floor: the minimum a correct HS256 verifier does, in plain stdlib."""
    header, body, signature = token.split(".")
    expected = _b64e(hmac.digest(key, f"{header}.{body}".encode(), "sha256")).rstrip(b"=")
    if not hmac.compare_digest(expected, signature.encode()):
        raise ValueError("bad signature")
    claims: dict[str, Any] = json.loads(_b64d(body + "=" * (-len(body) % 4)))
    if claims["exp"] <= now_s:
        raise ValueError("expired")
    return claims


def pyjwt_verifier(token: str, key: bytes) -> Callable[[], Any]:
    import jwt

    decode = jwt.decode
    return lambda: decode(token, key, algorithms=["HS256"])


def joserfc_verifier(token: str, key: bytes) -> Callable[[], Any] | None:
    try:
        from joserfc import jwt
        from joserfc.jwk import OctKey
    except ImportError:
        return None
    k = OctKey.import_key(key)
    decode = jwt.decode
    return lambda: decode(token, k, algorithms=["HS256"])


# --- raw driver transactions ---------------------------------------------------------------

TABLE = "sw_bench_floor"
ROWS = 64


def _mysql_params(url: str) -> dict[str, Any]:
    u = urlsplit(url)
    return {
        "host": u.hostname or "127.0.0.1",
        "port": u.port or 3306,
        "user": u.username or "root",
        "password": u.password or "",
        "database": u.path.lstrip("/"),
        "autocommit": False,
    }


def _pg_conninfo(url: str) -> str:
    u = urlsplit(url)
    return (
        f"host={u.hostname or '127.0.0.1'} port={u.port or 5432} "
        f"user={u.username or 'postgres'} dbname={u.path.lstrip('/')}"
        + (f" password={u.password}" if u.password else "")
    )


class SyncFloor:
    """One DB-API connection of a backend and the floor transactions on it."""

    def __init__(self, backend: str, url: str) -> None:
        self.backend = backend
        if backend == "sqlite":
            path = url.split("///", 1)[1]
            self.conn: Any = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self.conn.execute("PRAGMA busy_timeout = 10000")
            self.conn.execute("PRAGMA journal_mode = WAL")
            self.conn.execute("PRAGMA synchronous = NORMAL")
            self.p = "?"
        elif backend == "mysql":
            import pymysql

            self.conn = pymysql.connect(**_mysql_params(url))
            self.p = "%s"
        else:
            import psycopg

            self.conn = psycopg.connect(_pg_conninfo(url))
            self.p = "%s"
        self.cur = self.conn.cursor()

    def setup(self) -> None:
        c, p = self.cur, self.p
        c.execute(f"DROP TABLE IF EXISTS {TABLE}")
        c.execute(f"CREATE TABLE {TABLE} (k VARCHAR(64) PRIMARY KEY, v VARCHAR(64), e BIGINT)")
        self.begin()
        for i in range(ROWS):
            c.execute(f"INSERT INTO {TABLE} VALUES ({p}, {p}, {p})", (f"k{i}", "x" * 64, 0))
        self.conn.commit() if self.backend != "sqlite" else c.execute("COMMIT")

    def begin(self, lock: bool = False) -> None:
        if self.backend == "sqlite":
            self.cur.execute("BEGIN IMMEDIATE" if lock else "BEGIN")

    def commit(self) -> None:
        if self.backend == "sqlite":
            self.cur.execute("COMMIT")
        else:
            self.conn.commit()

    def txn(self, key: str) -> None:
        """The rotation's transaction: lock the row, update it, commit."""
        c, p = self.cur, self.p
        self.begin(lock=True)
        lock = "" if self.backend == "sqlite" else " FOR UPDATE"
        c.execute(f"SELECT k, v, e FROM {TABLE} WHERE k = {p}{lock}", (key,))
        c.fetchone()
        c.execute(f"UPDATE {TABLE} SET v = {p}, e = e + 1 WHERE k = {p}", (uuid.uuid4().hex, key))
        self.commit()

    def select(self, key: str) -> None:
        """Blacklisting's lookup: one primary-key read in its own transaction."""
        self.begin()
        self.cur.execute(f"SELECT k FROM {TABLE} WHERE k = {self.p} AND e >= 0", (key,))
        self.cur.fetchone()
        self.commit()

    def insert(self) -> None:
        """Create's write: one INSERT and COMMIT."""
        self.begin(lock=True)
        self.cur.execute(
            f"INSERT INTO {TABLE} VALUES ({self.p}, {self.p}, 1)", (uuid.uuid4().hex, "y" * 64)
        )
        self.commit()

    def cleanup_inserts(self) -> None:
        self.begin(lock=True)
        self.cur.execute(f"DELETE FROM {TABLE} WHERE e = 1 AND k NOT LIKE 'k%'")
        self.commit()

    def close(self) -> None:
        self.conn.close()


class AsyncFloor:
    """The same rotation transaction on the async drivers (aiosqlite / asyncmy / psycopg)."""

    def __init__(self, backend: str, url: str) -> None:
        self.backend = backend
        self.url = url
        self.conn: Any = None

    async def open(self) -> AsyncFloor:
        b = self.backend
        if b == "sqlite":
            import aiosqlite

            self.conn = await aiosqlite.connect(self.url.split("///", 1)[1], isolation_level=None)
            await self.conn.execute("PRAGMA busy_timeout = 10000")
            self.p = "?"
        elif b == "mysql":
            import asyncmy

            self.conn = await asyncmy.connect(**_mysql_params(self.url))
            self.p = "%s"
        else:
            import psycopg

            self.conn = await psycopg.AsyncConnection.connect(_pg_conninfo(self.url))
            self.p = "%s"
        return self

    async def txn(self, key: str) -> None:
        p = self.p
        lock = "" if self.backend == "sqlite" else " FOR UPDATE"
        select = f"SELECT k, v, e FROM {TABLE} WHERE k = {p}{lock}"
        update = f"UPDATE {TABLE} SET v = {p}, e = e + 1 WHERE k = {p}"
        if self.backend == "sqlite":
            await self.conn.execute("BEGIN IMMEDIATE")
            async with self.conn.execute(select, (key,)) as cur:
                await cur.fetchone()
            await self.conn.execute(update, (uuid.uuid4().hex, key))
            await self.conn.execute("COMMIT")
        elif self.backend == "mysql":
            async with self.conn.cursor() as cur:
                await cur.execute(select, (key,))
                await cur.fetchone()
                await cur.execute(update, (uuid.uuid4().hex, key))
            await self.conn.commit()
        else:
            async with self.conn.cursor() as cur:
                await cur.execute(select, (key,))
                await cur.fetchone()
                await cur.execute(update, (uuid.uuid4().hex, key))
            await self.conn.commit()

    async def close(self) -> None:
        if self.backend == "mysql":
            self.conn.close()
        else:
            await self.conn.close()


def txn_worker(floor: SyncFloor | AsyncFloor, i: int) -> Callable[[], Any]:
    key = f"k{i % ROWS}"
    return lambda: floor.txn(key)


def async_txn_worker(floor: AsyncFloor, i: int) -> Callable[[], Awaitable[None]]:
    key = f"k{i % ROWS}"
    return lambda: floor.txn(key)
