"""What a driver's error means for a statement, and what the retry rule does with it."""

from __future__ import annotations

import sqlite3
from typing import Any

import psycopg
import pymysql
import pytest
from sqlalchemy import select, table

from sessionward import GeneralError
from sessionward._flows import run_flow
from sessionward._storage.execution import MAX_CONFLICT_RETRIES, Result, execute
from sessionward._storage.failures import Failure, classify, is_database_error


@pytest.mark.parametrize(
    ("error", "failure"),
    [
        (pymysql.err.IntegrityError(1062, "Duplicate entry"), Failure.DUPLICATE),
        (pymysql.err.OperationalError(1213, "Deadlock found"), Failure.CONFLICT),
        (pymysql.err.OperationalError(1205, "Lock wait timeout"), Failure.CONFLICT),
        (pymysql.err.OperationalError(2013, "Lost connection"), Failure.CONNECTION),
        (pymysql.err.OperationalError(1047, "WSREP has not yet prepared node"), Failure.CONNECTION),
        (pymysql.err.InterfaceError(0, ""), Failure.CONNECTION),
        (pymysql.err.OperationalError(1054, "Unknown column"), Failure.OTHER),
        (pymysql.err.ProgrammingError(1146, "Table doesn't exist"), Failure.OTHER),
        (psycopg.errors.UniqueViolation("duplicate key"), Failure.DUPLICATE),
        (psycopg.errors.SerializationFailure("could not serialize"), Failure.CONFLICT),
        (psycopg.errors.DeadlockDetected("deadlock"), Failure.CONFLICT),
        (psycopg.errors.AdminShutdown("terminating"), Failure.CONNECTION),
        (psycopg.OperationalError("connection is bad"), Failure.CONNECTION),
        (psycopg.errors.UndefinedTable("no such table"), Failure.OTHER),
        (sqlite3.IntegrityError("UNIQUE constraint failed: t.k"), Failure.DUPLICATE),
        (sqlite3.OperationalError("database is locked"), Failure.CONFLICT),
        (sqlite3.OperationalError("no such table: t"), Failure.OTHER),
        (ConnectionRefusedError(111, "Connection refused"), Failure.CONNECTION),
        (TimeoutError(), Failure.CONNECTION),
    ],
)
def test_driver_errors_are_classified(error: Exception, failure: Failure) -> None:
    assert is_database_error(error)
    assert classify(error) is failure


def test_a_bug_is_not_a_database_error() -> None:
    assert not is_database_error(ValueError("a bug"))
    assert not is_database_error(KeyError("row"))


class ScriptedStore:
    """A store whose attempts fail as scripted, then succeed; it records what it was asked."""

    def __init__(self, *failures: Exception) -> None:
        self.failures = list(failures)
        self.attempts = 0
        self.waits: list[float] = []

    def attempt(self, statement: Any, parameters: Any) -> Result:
        self.attempts += 1
        if self.failures:
            raise self.failures.pop(0)
        return Result(1, [("row",)])

    def backoff(self, seconds: float) -> None:
        self.waits.append(seconds)


STATEMENT = select(table("t"))


def run(store: ScriptedStore, **options: Any) -> Any:
    flow = execute(STATEMENT, {}, lambda result: result.rowcount, **options)
    return run_flow(flow, store)  # type: ignore[arg-type]


def test_conflicts_are_run_again_after_growing_waits() -> None:
    deadlock = pymysql.err.OperationalError(1213, "Deadlock found")
    store = ScriptedStore(deadlock, deadlock, deadlock)
    assert run(store) == 1
    assert store.attempts == 4
    assert store.waits == sorted(store.waits) and len(store.waits) == 3


def test_endless_conflicts_end_in_a_general_error() -> None:
    deadlock = psycopg.errors.DeadlockDetected("deadlock")
    store = ScriptedStore(*[deadlock] * (MAX_CONFLICT_RETRIES + 1))
    with pytest.raises(GeneralError, match="DeadlockDetected"):
        run(store)
    assert store.attempts == MAX_CONFLICT_RETRIES + 1


def test_a_lost_connection_is_retried_once_on_a_fresh_one() -> None:
    lost = pymysql.err.OperationalError(2013, "Lost connection")
    assert run(ScriptedStore(lost)) == 1
    store = ScriptedStore(lost, lost)
    with pytest.raises(GeneralError, match="database error: OperationalError"):
        run(store)
    assert store.attempts == 2 and store.waits == []


def test_a_duplicate_key_is_an_answer_only_where_asked() -> None:
    duplicate = sqlite3.IntegrityError("UNIQUE constraint failed: t.k")
    assert run(ScriptedStore(duplicate), duplicate_reads_as_nothing=True) == 0
    with pytest.raises(GeneralError, match="IntegrityError"):
        run(ScriptedStore(duplicate))


def test_other_errors_fail_at_once_and_bugs_pass_through_untouched() -> None:
    store = ScriptedStore(sqlite3.OperationalError("no such table: t"))
    with pytest.raises(GeneralError) as raised:
        run(store)
    assert store.attempts == 1
    assert isinstance(raised.value.__cause__, sqlite3.OperationalError)
    assert "no such table" not in str(raised.value)  # only the class name: never the statement
    with pytest.raises(KeyError):
        run(ScriptedStore(KeyError("a bug in a reader")))
