"""The statements sessionward sends, replayed through the bare driver (issue 26, part 3).

A rotation cycle (``refresh_session`` then the promoting ``get_session``) and a create are
recorded at the store, as the driver receives them: the SQL text compiled for the dialect and
its parameters, value for value. The rows they touch are then put back as they were, and the
very same statements are replayed in the same order on one DB-API connection of the manager's
own engine (the same driver, the same autocommit mode), with nothing of sessionward around them.
So the replay changes the same rows the same way, and the difference to the ``sw.*`` row is
sessionward's Python (the flows, the crypto, JSON, the pool checkout per statement), not the
database.

A third floor is the minimal one of the issue: two single-row ``UPDATE``\\s of a small table,
each autocommitted, through the same driver (``floor.update2``). The gap between it and the
replayed rotation is the database's work on a real row: its size, its indexes, the statement's
``WHERE`` clause.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Table, text

Recorded = tuple[str, Any, int]  # SQL text, its parameters as the driver gets them, row count


class Recorder:
    """Wraps a sync store's ``attempt`` while on: each statement's compiled SQL text,
    parameters and row count, in order."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.statements: list[Recorded] = []
        self._attempt = store.attempt

    def __enter__(self) -> Recorder:
        compile_ = self.store._compile

        def attempt(statement: Any, parameters: Mapping[str, Any]) -> Any:
            compiled = compile_(statement)
            result = self._attempt(statement, parameters)
            self.statements.append((compiled.sql, compiled.parameters(parameters), result.rowcount))
            return result

        self.store.attempt = attempt
        return self

    def __exit__(self, *exc: object) -> None:
        del self.store.attempt  # back to the class's method


def _rows(engine: Any, table: Table, where: Any) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(table.select().where(where))]


def _put_back(engine: Any, table: Table, where: Any, rows: list[dict[str, Any]]) -> None:
    """The rows of ``where`` as they were: deleted, and ``rows`` inserted again."""
    with engine.begin() as conn:
        conn.execute(table.delete().where(where))
        if rows:
            conn.execute(table.insert(), rows)


def replay(engine: Any, autocommit: bool, ops: list[list[Recorded]], reps: int) -> list[float]:
    """Ops/s: the statements of ``ops`` (one list per op) executed in order on one DB-API
    connection, a warm-up share first, then ``reps`` equal chunks timed. Each statement must
    change as many rows as when it was recorded, else the figure would not be the same work."""
    connection = engine.raw_connection()
    cursor = connection.cursor()

    def run(chunk: list[list[Recorded]]) -> None:
        for op in chunk:
            for sql, parameters, rowcount in op:
                cursor.execute(sql, parameters)
                if cursor.description:
                    cursor.fetchall()
                if not autocommit:
                    connection.commit()
                if cursor.rowcount != rowcount and rowcount >= 0:
                    raise AssertionError(f"replay changed {cursor.rowcount} rows, not {rowcount}")

    try:
        warm = max(1, len(ops) // (reps + 1) // 4)
        run(ops[:warm])
        size = (len(ops) - warm) // reps
        rates = []
        for i in range(reps):
            chunk = ops[warm + i * size : warm + (i + 1) * size]
            start = time.perf_counter()
            run(chunk)
            rates.append(len(chunk) / (time.perf_counter() - start))
        return rates
    finally:
        cursor.close()
        connection.close()


def rotation_statements(
    manager: Any, table: Table, cycle: Callable[[], None], handle: str, cycles: int, reps: int
) -> tuple[list[float], list[Recorded]]:
    """Record ``cycles`` rotation cycles of the session ``handle`` (``cycle`` runs one), put its
    row back, and replay them: cycles/s of the bare statements."""
    engine, where = manager.store.engine, table.c.session_handle == handle
    before = _rows(engine, table, where)
    ops: list[list[Recorded]] = []
    with Recorder(manager.store) as recorder:
        for _ in range(cycles):
            start = len(recorder.statements)
            cycle()
            ops.append(recorder.statements[start:])
    # Two round trips a cycle (tests/test_round_trips.py), and now and then the cached
    # revocation check's read (every revocation_refresh_interval), as in the sw.* row.
    if sorted({len(op) for op in ops})[0] != 2:
        raise AssertionError("a rotation cycle did not send its two statements")
    _put_back(engine, table, where, before)
    return replay(engine, manager.store._autocommit, ops, reps), recorder.statements


def create_statements(
    manager: Any, table: Table, create: Callable[[int], None], prefix: str, count: int, reps: int
) -> tuple[list[float], list[Recorded]]:
    """Record ``count`` creates (``create(i)`` logs in the user ``prefix + str(i)``), delete their
    rows, and replay their statements: creates/s of the bare ``INSERT``."""
    engine, where = manager.store.engine, table.c.user_id.like(f"{prefix}%")
    ops: list[list[Recorded]] = []
    with Recorder(manager.store) as recorder:
        for i in range(count):
            start = len(recorder.statements)
            create(i)
            ops.append(recorder.statements[start:])
    if sorted({len(op) for op in ops})[0] != 1:
        raise AssertionError("a create did not send its one statement")
    _put_back(engine, table, where, [])
    return replay(engine, manager.store._autocommit, ops, reps), recorder.statements


def two_updates(manager: Any, name: str, seconds: float, reps: int) -> list[float]:
    """Cycles/s of two autocommitted single-row ``UPDATE``\\s of a 2-row table (a key, a short
    value, a counter), through the manager's driver: the minimal floor of a rotation."""
    engine = manager.store.engine
    with engine.begin() as conn:
        conn.execute(text(f"DROP TABLE IF EXISTS {name}"))
        conn.execute(text(f"CREATE TABLE {name} (k VARCHAR(64) PRIMARY KEY, e BIGINT)"))
        conn.execute(text(f"INSERT INTO {name} (k, e) VALUES ('a', 0), ('b', 0)"))
    marker = "?" if engine.dialect.paramstyle == "qmark" else "%s"
    sql = f"UPDATE {name} SET e = e + 1 WHERE k = {marker}"
    autocommit = manager.store._autocommit
    connection = engine.raw_connection()
    cursor = connection.cursor()

    def cycle() -> None:
        for key in ("a", "b"):
            cursor.execute(sql, (key,))
            if not autocommit:
                connection.commit()

    try:
        n, elapsed = 1, 0.0
        while elapsed < seconds / 5:
            n *= 4
            start = time.perf_counter()
            for _ in range(n):
                cycle()
            elapsed = time.perf_counter() - start
        n = max(1, round(n * seconds / elapsed))
        rates = []
        for _ in range(reps):
            start = time.perf_counter()
            for _ in range(n):
                cycle()
            rates.append(n / (time.perf_counter() - start))
        return rates
    finally:
        cursor.close()
        connection.close()
        with engine.begin() as conn:
            conn.execute(text(f"DROP TABLE IF EXISTS {name}"))


__all__ = ["Recorder", "create_statements", "replay", "rotation_statements", "two_updates"]
