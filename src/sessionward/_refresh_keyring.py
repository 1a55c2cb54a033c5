"""The refresh-token keys as this process knows them, and the flows that create and rotate them
(docs/operations.md#rotating-the-refresh-token-key). Which key seals, which open and which may
go are the pure functions of :mod:`sessionward._tokens.refresh_keys`; this module holds the
cipher and the key derivation they give, and reads or writes the key table through
:class:`~sessionward._key_table.KeyTable`.

The signing ring (:class:`~sessionward._keyring.ProcessKeys`) reads the same rows and hands
them here (:meth:`RefreshKeys.install`), so a refresh-token key rotated in another process is
learnt on the signing ring's reads, with no statement of its own.
"""

from __future__ import annotations

from collections.abc import Callable

from sessionward import _security_log as security_log
from sessionward._errors import GeneralError
from sessionward._key_table import KeyRows, KeyTable
from sessionward._storage.execution import StoreFlow
from sessionward._storage.queries import Queries
from sessionward._tokens.derivation import KeyDerivation
from sessionward._tokens.refresh import RefreshTokenCipher, new_refresh_key
from sessionward._tokens.refresh_keys import (
    REFRESH_KEY_NAME,
    refresh_cipher,
    refresh_key_rows,
    rotated_key_name,
)


class RefreshKeys:
    """The refresh-token cipher and the key derivation of one process. ``now_ms`` is this
    module's clock (milliseconds since the epoch)."""

    def __init__(self, table: KeyTable, queries: Queries, now_ms: Callable[[], int]) -> None:
        self._table = table
        self._queries = queries
        self._now_ms = now_ms
        self._cipher: RefreshTokenCipher | None = None
        self._derivation: KeyDerivation | None = None

    @property
    def cipher(self) -> RefreshTokenCipher:
        """The refresh-token cipher (after the keys are ready)."""
        if self._cipher is None:
            raise GeneralError("the keys are not loaded yet")
        return self._cipher

    @property
    def derivation(self) -> KeyDerivation:
        """The key derivation for child seeds, anti-CSRF and id-refresh tokens (after ready)."""
        if self._derivation is None:
            raise GeneralError("the keys are not loaded yet")
        return self._derivation

    def ensure(self, rows: KeyRows, now: int) -> StoreFlow[KeyRows]:
        """Create the first refresh-token key if none is stored, and install the keys; returns
        the rows as they are now."""
        if not refresh_key_rows(rows):
            rows, _ = yield from self._table.stored_or_created(
                rows, REFRESH_KEY_NAME, lambda: (new_refresh_key(), None), now
            )
        self.install(rows)
        return rows

    def install(self, rows: KeyRows) -> None:
        """The refresh-token cipher of the stored keys (kept as it is while a retirement has
        deleted them and not yet written the new one); the first key keys the derivation."""
        try:
            installed = refresh_cipher(rows)
        except ValueError as exc:
            raise GeneralError(f"a stored refresh token key is unusable: {exc}") from None
        if installed is not None:
            self._derivation, self._cipher = installed

    def rotate(self, *, retire_now: bool) -> StoreFlow[str]:
        """A new refresh-token key (the keys must be ready). Without ``retire_now`` it seals
        from :data:`~sessionward._tokens.refresh_keys.ROTATION_DELAY_MS` from now and the old
        keys keep opening the tokens they sealed until those rotate or expire; returns its name.
        With it, every refresh-token key (and the derivation) is replaced at once: no refresh
        token issued so far opens, so every session must log in again."""
        now = self._now_ms()
        rows = yield from self._table.load()
        if retire_now:
            names = [row.name for _, row in refresh_key_rows(rows)]
            yield from self._queries.delete_keys(names)
            name = REFRESH_KEY_NAME
        else:
            name = rotated_key_name(rows, now)
        yield from self._table.insert_and_reload(name, (new_refresh_key(), None), now)
        rows = yield from self._table.load()
        self.install(rows)
        security_log.refresh_key_rotated(name, retire_now=retire_now)
        return name
