"""The store interface both SQL stores implement, and what they share.

A store knows SQL, not the protocol: the managers hand it a pure ``decide`` function to run on
the row as read, and it applies the change that function asks for if the row has not changed
since (otherwise it reads again and asks again).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, Protocol, TypeVar

from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from sessionward.errors import GeneralError
from sessionward.models import SessionRow, SessionSummary
from sessionward.protocol import RowUpdate


class LockedDecision(Protocol):
    """A decision about a row as read; its ``change`` says what to write back, if anything."""

    @property
    def change(self) -> RowUpdate: ...


D = TypeVar("D", bound=LockedDecision)
P = ParamSpec("P")
R = TypeVar("R")


class SessionStore(Protocol):
    """Synchronous storage of sessions and keys."""

    def create_tables(self) -> None: ...
    def insert_session(self, values: dict[str, Any]) -> None: ...
    def decide_and_apply(self, handle: str, decide: Callable[[SessionRow | None], D]) -> D: ...
    def session_alive(self, handle: str, now_ms: int) -> bool: ...
    def delete_session(self, handle: str) -> bool: ...
    def delete_user_sessions(self, user_id: str) -> int: ...
    def list_user_sessions(self, user_id: str, now_ms: int) -> list[SessionSummary]: ...
    def get_session_data(self, handle: str, now_ms: int) -> tuple[bool, str | None]: ...
    def update_session_data(self, handle: str, data_json: str, now_ms: int) -> bool: ...
    def purge_expired(self, now_ms: int) -> int: ...
    def load_keys(self) -> list[tuple[str, str]]: ...
    def insert_key_if_absent(self, name: str, value: str, now_ms: int) -> bool: ...
    def delete_keys(self, names: list[str]) -> int: ...


class AsyncSessionStore(Protocol):
    """Asynchronous storage of sessions and keys: the same methods, awaited."""

    async def create_tables(self) -> None: ...
    async def insert_session(self, values: dict[str, Any]) -> None: ...
    async def decide_and_apply(
        self, handle: str, decide: Callable[[SessionRow | None], D]
    ) -> D: ...
    async def session_alive(self, handle: str, now_ms: int) -> bool: ...
    async def delete_session(self, handle: str) -> bool: ...
    async def delete_user_sessions(self, user_id: str) -> int: ...
    async def list_user_sessions(self, user_id: str, now_ms: int) -> list[SessionSummary]: ...
    async def get_session_data(self, handle: str, now_ms: int) -> tuple[bool, str | None]: ...
    async def update_session_data(self, handle: str, data_json: str, now_ms: int) -> bool: ...
    async def purge_expired(self, now_ms: int) -> int: ...
    async def load_keys(self) -> list[tuple[str, str]]: ...
    async def insert_key_if_absent(self, name: str, value: str, now_ms: int) -> bool: ...
    async def delete_keys(self, names: list[str]) -> int: ...


def lost_connection(exc: GeneralError) -> bool:
    """Whether a database error came from a connection the pool has now discarded as dead.

    The store then retries the whole method once on a fresh connection: every store method is
    one transaction that either committed or did not, and the managers' decisions are re-taken
    from what the retry reads.
    """
    cause = exc.__cause__
    return isinstance(cause, DBAPIError) and bool(cause.connection_invalidated)


def retry_once_if_connection_lost(method: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except GeneralError as exc:
            if not lost_connection(exc):
                raise
        return method(*args, **kwargs)

    return wrapper


def async_retry_once_if_connection_lost(
    method: Callable[P, Coroutine[Any, Any, R]],
) -> Callable[P, Coroutine[Any, Any, R]]:
    @functools.wraps(method)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await method(*args, **kwargs)
        except GeneralError as exc:
            if not lost_connection(exc):
                raise
        return await method(*args, **kwargs)

    return wrapper


@contextmanager
def database_errors() -> Iterator[None]:
    """Turn any database failure into GeneralError, without the SQL parameters in the message."""
    try:
        yield
    except DBAPIError as exc:
        detail = type(exc.orig).__name__ if exc.orig is not None else type(exc).__name__
        raise GeneralError(f"database error: {detail}") from exc
    except (SQLAlchemyError, OSError) as exc:
        raise GeneralError(f"database error: {type(exc).__name__}") from exc


def row_from(result_row: Any) -> SessionRow | None:
    """A ``read_session`` result as a :class:`SessionRow` (None when there is no row)."""
    if result_row is None:
        return None
    (
        handle,
        user_id,
        hash_2,
        expires_at,
        payload,
        created_at,
        parent_issued_at,
        child_issued_at,
        refreshed_at,
        refreshed_ip,
        refreshed_user_agent,
        pop_thumbprint,
    ) = result_row
    return SessionRow(
        handle,
        user_id,
        hash_2,
        int(expires_at),
        payload,
        _int_or_none(created_at),
        _int_or_none(parent_issued_at),
        _int_or_none(child_issued_at),
        _int_or_none(refreshed_at),
        refreshed_ip,
        refreshed_user_agent,
        pop_thumbprint,
    )


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def update_parameters(handle: str, change: RowUpdate) -> dict[str, Any]:
    client = change.new_refreshed_client
    return {
        "handle": handle,
        "new_hash_2": change.new_hash_2,
        "new_expires_at": change.new_expires_at,
        "new_parent_issued_at": change.new_parent_issued_at,
        "new_child_issued_at": change.new_child_issued_at,
        "new_refreshed_at": change.new_refreshed_at,
        "new_refreshed_ip": client.ip if client else None,
        "new_refreshed_user_agent": client.user_agent if client else None,
    }


def summaries_from(rows: Any) -> list[SessionSummary]:
    return [
        SessionSummary(handle, user_id, None if created is None else int(created), int(expires))
        for handle, user_id, created, expires in rows
    ]
