"""The statements sessionward sends, replayed through the bare driver (issue 26, part 3).

    PYTHONPATH=src python benchmarks/statements.py DATABASE_URL [CYCLES]   # per statement

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


class _Replayer:
    """One DB-API connection of the manager's engine, on which recorded statements run again.
    Each must change as many rows as when it was recorded, else it would not be the same work."""

    def __init__(self, manager: Any) -> None:
        self.autocommit = manager.store._autocommit
        self.connection = manager.store.engine.raw_connection()
        self.cursor = self.connection.cursor()

    def run(self, op: list[Recorded]) -> None:
        cursor = self.cursor
        for sql, parameters, rowcount in op:
            cursor.execute(sql, parameters)
            if cursor.description:
                cursor.fetchall()
            if not self.autocommit:
                self.connection.commit()
            if cursor.rowcount != rowcount and rowcount >= 0:
                raise AssertionError(f"replay changed {cursor.rowcount} rows, not {rowcount}")

    def close(self) -> None:
        self.cursor.close()
        self.connection.close()


def _record(
    manager: Any, op: Callable[[int], None], start: int, count: int
) -> list[list[Recorded]]:
    """The statements of ``op(start)`` .. ``op(start + count - 1)``, one list per call."""
    ops: list[list[Recorded]] = []
    with Recorder(manager.store) as recorder:
        for i in range(start, start + count):
            first = len(recorder.statements)
            op(i)
            ops.append(recorder.statements[first:])
    return ops


Alternated = dict[str, list[float]]  # row -> its rates, one per round


def _interleaved(count: int, steps: dict[str, Callable[[int], object]], rates: Alternated) -> None:
    """``count`` times each step in turn, each timed on its own: one rate per step appended."""
    spent = dict.fromkeys(steps, 0.0)
    clock = time.perf_counter
    for i in range(count):
        for name, step in steps.items():
            start = clock()
            step(i)
            spent[name] += clock() - start
    for name, seconds in spent.items():
        rates.setdefault(name, []).append(count / seconds)


def rotation_rounds(
    manager: Any,
    table: Table,
    cycles: tuple[Callable[[int], None], Callable[[int], None]],
    recorded_handle: str,
    count: int,
    reps: int,
) -> Alternated:
    """Rounds of: ``count`` cycles of the second session (``cycles[1]``, of the session
    ``recorded_handle``) recorded, its row put back as it was; then, ``count`` times in turn,
    one sessionward cycle of the first session (``sw``), the replay of one recorded cycle
    (``replay``), one cycle of two bare UPDATEs (``update2``). So all three see the same moments
    of the database. Cycles/s per round."""
    engine, where = manager.store.engine, table.c.session_handle == recorded_handle
    rates: Alternated = {}
    replayer = _Replayer(manager)
    try:
        with _TwoRows(manager) as update2:
            for round_ in range(reps):
                before = _rows(engine, table, where)
                ops = _record(manager, cycles[1], round_ * count, count)
                # Two round trips a cycle (tests/test_round_trips.py), and now and then the
                # cached revocation check's read (every revocation_refresh_interval).
                if min(len(op) for op in ops) != 2:
                    raise AssertionError("a rotation cycle did not send its two statements")
                _put_back(engine, table, where, before)
                steps = {
                    "sw": cycles[0],
                    "replay": lambda i, ops=ops: replayer.run(ops[i]),
                    "update2": update2.cycle,
                }
                _interleaved(count, steps, rates)
    finally:
        replayer.close()
    return rates


def create_rounds(
    manager: Any, table: Table, create: Callable[[str], None], count: int, reps: int
) -> Alternated:
    """Rounds of: ``count`` creates recorded (users ``replay-r<i>``) and their rows deleted;
    then, ``count`` times in turn, one sessionward create (users ``replay-s<i>``: ``sw``) and
    the replay of one recorded ``INSERT`` (``replay``). Creates/s per round."""
    engine, where = manager.store.engine, table.c.user_id.like("replay-r%")
    rates: Alternated = {}
    replayer = _Replayer(manager)
    try:
        for round_ in range(reps):
            ops = _record(manager, lambda i: create(f"replay-r{i}"), round_ * count, count)
            if min(len(op) for op in ops) != 1:
                raise AssertionError("a create did not send its one statement")
            _put_back(engine, table, where, [])
            base = round_ * count
            steps = {
                "sw": lambda i, base=base: create(f"replay-s{base + i}"),
                "replay": lambda i, ops=ops: replayer.run(ops[i]),
            }
            _interleaved(count, steps, rates)
    finally:
        replayer.close()
    return rates


class _TwoRows:
    """A 2-row table (a key, a counter) and two autocommitted single-row UPDATEs of it a
    cycle, through the manager's driver: the minimal floor of a rotation."""

    NAME = "sw_bench_update2"

    def __init__(self, manager: Any) -> None:
        self.engine = manager.store.engine
        self.autocommit = manager.store._autocommit

    def __enter__(self) -> _TwoRows:
        name = self.NAME
        with self.engine.begin() as conn:
            conn.execute(text(f"DROP TABLE IF EXISTS {name}"))
            conn.execute(text(f"CREATE TABLE {name} (k VARCHAR(64) PRIMARY KEY, e BIGINT)"))
            conn.execute(text(f"INSERT INTO {name} (k, e) VALUES ('a', 0), ('b', 0)"))
        marker = "?" if self.engine.dialect.paramstyle == "qmark" else "%s"
        self.sql = f"UPDATE {name} SET e = e + 1 WHERE k = {marker}"
        self.connection = self.engine.raw_connection()
        self.cursor = self.connection.cursor()
        return self

    def cycle(self, _: int = 0) -> None:
        for key in ("a", "b"):
            self.cursor.execute(self.sql, (key,))
            if not self.autocommit:
                self.connection.commit()

    def __exit__(self, *exc: object) -> None:
        self.cursor.close()
        self.connection.close()
        with self.engine.begin() as conn:
            conn.execute(text(f"DROP TABLE IF EXISTS {self.NAME}"))


def per_statement(url: str, count: int) -> dict[str, float]:
    """Microseconds (the median) of each statement of a rotation replayed, beside a bare
    single-row UPDATE of a tiny row and a bare UPDATE of one column of a session's row,
    the four interleaved statement by statement: where the gap to the minimal floor comes from
    (the row, or the statement)."""
    import os
    import statistics

    from sessionward import SessionManager

    suffix = os.getpid()  # fresh tables: no key ring or sessions of an earlier run
    names = {"refresh_token_table": f"sw_stmt_rt_{suffix}"}
    names["signing_key_table"] = f"sw_stmt_sk_{suffix}"
    names["revocation_table"] = f"sw_stmt_rv_{suffix}"
    manager = SessionManager(refresh_path="/r", database_url=url, revocation_check="none", **names)
    try:
        manager.create_tables()
        table = manager.store._metadata.tables[names["refresh_token_table"]]
        tokens = manager.create_new_session("user-1", {"role": "user", "tenant": "acme"}, {"n": 1})
        state = {"rt": tokens.refresh_token.value}

        def cycle(_: int) -> None:
            new = manager.refresh_session(state["rt"])
            manager.get_session(new.access_token.value, new.anti_csrf_token)
            state["rt"] = new.refresh_token.value

        cycle(0)
        engine, handle = manager.store.engine, tokens.session.handle
        where = table.c.session_handle == handle
        # A row like the session's, of another session: the replayed one is left alone.
        twin = manager.create_new_session("user-2", {"role": "user", "tenant": "acme"}, {"n": 1})
        cycle_twin = manager.refresh_session(twin.refresh_token.value)
        manager.get_session(cycle_twin.access_token.value, cycle_twin.anti_csrf_token)
        before = _rows(engine, table, where)
        ops = _record(manager, cycle, 0, count)
        _put_back(engine, table, where, before)
        marker = "?" if engine.dialect.paramstyle == "qmark" else "%s"
        own_row = f"UPDATE {table.name} SET refreshed_at = refreshed_at + 1 "
        own_row += f"WHERE session_handle = {marker}"
        replayer = _Replayer(manager)
        spent: dict[str, list[float]] = {
            "refresh UPDATE": [],
            "promotion UPDATE": [],
            "bare UPDATE, tiny row": [],
            "bare UPDATE, a session's row": [],
        }
        clock = time.perf_counter
        try:
            with _TwoRows(manager) as tiny:
                for op in ops:
                    # A cycle is the refresh and the promotion; a read between them (the key
                    # ring's, when due) runs untimed.
                    if len(op) > 2:
                        replayer.run(op[1:-1])
                    steps = [
                        lambda op=op: replayer.run([op[0]]),
                        lambda op=op: replayer.run([op[-1]]),
                        lambda: tiny.cursor.execute(tiny.sql, ("a",)),
                        lambda: replayer.cursor.execute(own_row, (twin.session.handle,)),
                    ]
                    for name, step in zip(spent, steps, strict=True):
                        start = clock()
                        step()
                        spent[name].append(clock() - start)
        finally:
            replayer.close()
        return {name: statistics.median(times) * 1e6 for name, times in spent.items()}
    finally:
        manager.store._metadata.drop_all(manager.store.engine)
        manager.close()


def main(argv: list[str]) -> int:
    url, count = argv[0], int(argv[1]) if len(argv) > 1 else 800
    for name, micros in per_statement(url, count).items():
        print(f"{name:32} {micros:8.1f} µs")
    return 0


__all__ = ["Recorder", "create_rounds", "per_statement", "rotation_rounds"]


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
