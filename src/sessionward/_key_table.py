"""The sealed key table as the key rings see it (docs/operations.md#signing-keys-at-rest): rows
read come out *opened* (their secrets in the clear), rows written go in *sealed* with the
key-encryption key, so that neither the signing ring (:mod:`sessionward._keyring`) nor the
refresh-token keys (:mod:`sessionward._refresh_keyring`) ever handle a sealed value.

How a row is sealed and opened is :mod:`sessionward._tokens.sealing`; what seals is the
configured :class:`~sessionward._key_wrapping.KeyWrapper`. This module holds what the process
remembers of the table (the rows it has opened) and reads or writes it through
:class:`~sessionward._storage.queries.Queries`. Statements that touch no secret (deleting a key,
widening its recorded window) are the rings' own, on the queries directly.
"""

from __future__ import annotations

from collections.abc import Callable

from sessionward import _security_log as security_log
from sessionward._errors import ConfigError, GeneralError
from sessionward._key_wrapping import KeyWrapper
from sessionward._rows import KeyRow
from sessionward._storage.execution import StoreFlow
from sessionward._storage.queries import Queries
from sessionward._tokens.sealing import needs_sealing, open_row, seal_values

KeyRows = list[KeyRow]


class KeyTable:
    """Opened rows out, sealed rows in. ``verify_window_ms`` is recorded with each key this
    process writes (see :meth:`~sessionward._storage.queries.Queries.insert_key`)."""

    def __init__(self, wrapper: KeyWrapper | None, queries: Queries, verify_window_ms: int) -> None:
        self._wrapper = wrapper
        self._queries = queries
        self._verify_window_ms = verify_window_ms
        self._opened: dict[KeyRow, KeyRow] = {}  # sealed row as stored -> the row opened

    def load(self) -> StoreFlow[KeyRows]:
        """The key rows, with their secrets in the clear. Each sealed value is opened once (a
        KMS unwrap is a network call; the table is read every few seconds)."""
        rows = yield from self._queries.load_keys()
        wrapper = self._wrapper
        known = self._opened
        opened: dict[KeyRow, KeyRow] = {}
        result = []
        for row in rows:
            clear = known.get(row)
            if clear is None:
                clear = open_row(wrapper, row)
            if clear is not row:
                opened[row] = clear
            result.append(clear)
        self._opened = opened  # replaced whole: only the rows still in the table
        return result

    def insert_and_reload(
        self, name: str, values: tuple[str, str | None], now: int
    ) -> StoreFlow[KeyRows]:
        """Insert a key unless it exists (another process may win the race), then re-read."""
        value, material = seal_values(self._wrapper, name, *values)
        yield from self._queries.insert_key(name, value, now, material, self._verify_window_ms)
        return (yield from self.load())

    def stored_or_created(
        self, rows: KeyRows, name: str, make: Callable[[], tuple[str, str | None]], now: int
    ) -> StoreFlow[tuple[KeyRows, KeyRow]]:
        """The row of key ``name``, created (``make()``) if it is not among ``rows``."""
        row = find_row(rows, name)
        if row is None:
            rows = yield from self.insert_and_reload(name, make(), now)
            row = find_row(rows, name)
            if row is None:
                raise GeneralError(f"the key {name!r} could not be stored")
        return rows, row

    def reseal(self, *, rewrap: bool) -> StoreFlow[int]:
        """Seal the key rows stored in the clear (and, with ``rewrap``, those sealed with a
        key-encryption key other than the one that seals now) with the current one; returns
        how many rows were written. Every row is opened first, so a process that cannot open
        one changes nothing."""
        wrapper = self._wrapper
        if wrapper is None:
            raise ConfigError(
                "no key_encryption_key is set (nor SESSIONWARD_KEY_ENCRYPTION_KEY): there is "
                "nothing to seal the keys with"
            )
        rows = yield from self._queries.load_keys()
        due = [(row, open_row(wrapper, row)) for row in rows]
        due = [(row, clear) for row, clear in due if needs_sealing(wrapper, row, rewrap=rewrap)]
        written = 0
        for row, clear in due:
            value, material = seal_values(wrapper, row.name, clear.value, clear.material)
            written += yield from self._queries.reseal_key(row.name, value, material)
        security_log.keys_resealed(written, wrapper.key_id)
        return written


def find_row(rows: KeyRows, name: str) -> KeyRow | None:
    return next((row for row in rows if row.name == name), None)
