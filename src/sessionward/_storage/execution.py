"""How a flow runs a statement: the steps a store performs, and the retry rule, written once.

A store offers three primitive steps: :class:`Attempt` (check a connection out of the pool, run
one statement, give the connection back), :class:`Backoff` (wait a little), and
:class:`CreateTables`. Everything else, in particular what to do when a statement fails, is the
flow :func:`execute`, shared by the sync and the async stores: a conflict (a deadlock, a Galera
certification failure) runs the statement again after a short wait; a lost connection runs it
again once on a fresh one (the store has discarded the dead one); anything else is a
``GeneralError``. Retrying is safe because every statement is a transaction of its own, and
every write is a compare-and-set that a repeat either re-applies or finds already applied.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, TypeVar

from sqlalchemy.sql.expression import Executable

from sessionward._flows import Flow, Step, perform
from sessionward._storage.failures import Failure, classify, database_error, is_database_error

R = TypeVar("R")

MAX_CONFLICT_RETRIES = 8
MAX_CONNECTION_RETRIES = 1
_BACKOFF_S = (0.0, 0.002, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16)


class Result(NamedTuple):
    """What a statement returned: the rows it matched (or changed), and any rows it read."""

    rowcount: int
    rows: Sequence[tuple[Any, ...]]


class SyncStore(Protocol):
    """A store for the sync manager: the three primitives, run in the calling thread."""

    def attempt(self, statement: Executable, parameters: Mapping[str, Any]) -> Result: ...
    def backoff(self, seconds: float) -> None: ...
    def create_tables(self) -> None: ...
    def close(self) -> None: ...


class AsyncStore(Protocol):
    """A store for the async manager: the same primitives, awaited."""

    async def attempt(self, statement: Executable, parameters: Mapping[str, Any]) -> Result: ...
    async def backoff(self, seconds: float) -> None: ...
    async def create_tables(self) -> None: ...
    async def close(self) -> None: ...


StoreFlow = Flow[SyncStore, AsyncStore, R]


@dataclass(frozen=True, slots=True)
class Attempt(Step[SyncStore, AsyncStore, Result]):
    """Run one statement once, on a connection from the pool."""

    statement: Executable
    parameters: Mapping[str, Any]

    def run(self, target: SyncStore) -> Result:
        return target.attempt(self.statement, self.parameters)

    async def arun(self, target: AsyncStore) -> Result:
        return await target.attempt(self.statement, self.parameters)


@dataclass(frozen=True, slots=True)
class Backoff(Step[SyncStore, AsyncStore, None]):
    seconds: float

    def run(self, target: SyncStore) -> None:
        target.backoff(self.seconds)

    async def arun(self, target: AsyncStore) -> None:
        await target.backoff(self.seconds)


@dataclass(frozen=True, slots=True)
class CreateTables(Step[SyncStore, AsyncStore, None]):
    """Create the tables that are missing, and the columns that older tables lack."""

    def run(self, target: SyncStore) -> None:
        target.create_tables()

    async def arun(self, target: AsyncStore) -> None:
        await target.create_tables()


def execute(
    statement: Executable,
    parameters: Mapping[str, Any],
    read: Callable[[Result], R],
    *,
    duplicate_reads_as_nothing: bool = False,
) -> StoreFlow[R]:
    """Run ``statement`` with the retry rule of this module; ``read`` turns its result into R.

    ``duplicate_reads_as_nothing``: a unique-key violation is an answer, not an error (an insert
    that lost a race, or one repeated after its first answer was lost): read as zero rows.
    """
    conflicts = connections = 0
    while True:
        try:
            result = yield from perform(Attempt(statement, parameters))
        except Exception as exc:
            if not is_database_error(exc):
                raise
            failure = classify(exc)
            if failure is Failure.DUPLICATE and duplicate_reads_as_nothing:
                return read(Result(0, ()))
            if failure is Failure.CONFLICT and conflicts < MAX_CONFLICT_RETRIES:
                yield from perform(Backoff(_BACKOFF_S[conflicts]))
                conflicts += 1
                continue
            if failure is Failure.CONNECTION and connections < MAX_CONNECTION_RETRIES:
                connections += 1
                continue
            raise database_error(exc) from exc
        return read(result)


def create_tables() -> StoreFlow[None]:
    """Create what is missing (the store turns its failures into ``GeneralError``)."""
    yield from perform(CreateTables())
