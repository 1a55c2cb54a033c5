"""The deployment's keys as this process knows them, and the flows that load, create, rotate and
reload them (docs/protocol.md#signing-keys). The decisions (which key signs, which to create,
when to look again) are the pure functions of :mod:`sessionward._tokens.keys`; this module holds
the state they act on, and reads or writes the key table through
:class:`~sessionward._key_table.KeyTable` (opened rows in, sealed rows out).

:class:`ProcessKeys` composes the two other holders of key state: the key table's access
(``table``) and the refresh-token keys (``refresh``,
:class:`~sessionward._refresh_keyring.RefreshKeys`). Callers that need the refresh-token cipher
or the derivation reach ``keys.refresh`` directly; the ring loads the refresh-token keys with
its own reads, so that a rotated refresh key is learnt on them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from sessionward import _security_log as security_log
from sessionward import _telemetry as telemetry
from sessionward._config import Algorithm, Config
from sessionward._errors import ConfigError, GeneralError, InvalidArgumentError
from sessionward._key_table import KeyRows, KeyTable, find_row
from sessionward._refresh_keyring import RefreshKeys
from sessionward._storage.execution import StoreFlow, create_tables
from sessionward._storage.queries import Queries
from sessionward._tokens.access import read_header_kid
from sessionward._tokens.algorithms import KeyFormatError
from sessionward._tokens.keys import (
    DYNAMIC_PREFIX,
    JWKS_MAX_AGE_S,
    KeyRing,
    SigningKey,
    UnusableKeyRow,
    build_dynamic_ring,
    build_getter_ring,
    build_static_ring,
    deployed_algorithm,
    dynamic_key_name,
    expired_key_names,
    getter_key,
    key_to_create,
    new_key_row_values,
    next_key_check_ms,
    plausible_dynamic_kid,
    ring_of,
    static_key_name,
)
from sessionward._tokens.refresh_keys import expired_refresh_key_names

UNKNOWN_KID_RELOAD_COOLDOWN_MS = 1_000  # unknown kids trigger at most one key reload per second

RowsSeen = frozenset[tuple[str, int | None, int]]  # (name, verify_window_ms, hash of value)


class ProcessKeys:
    """The signing-key ring of one process; it composes the key table's access (``table``)
    and the refresh-token keys (``refresh``).

    ``ring`` is replaced whole whenever keys are (re)loaded, so the verify path reads it without
    a lock. ``now_ms`` is this module's clock (milliseconds since the epoch).

    A signing process looks at the key table again at most once per
    ``revocation_refresh_interval`` (2 s by default), the bound that revocations have, so that
    a key started by ``sessionward rotate-key`` in another process signs here within it (a
    leaked key must stop signing everywhere as soon as a revoked session stops verifying).
    That look is a statement of its own, not part of the revocation read: the paths that sign
    (login, refresh, confirmation) are not the one that reads revocations (verify), and a
    process that only verifies needs no signing key. It costs one SELECT of a few rows per
    interval per signing process, made by one request while the others sign on.
    """

    def __init__(self, config: Config, queries: Queries, now_ms: Callable[[], int]) -> None:
        self.config = config
        self.ring = KeyRing()
        self._queries = queries
        self._now_ms = now_ms
        self._ready = False
        self._checked_ms = 0
        self._next_check_ms = 0
        self._recheck_ms = int(config.revocation_refresh_interval * 1000)
        self._rechecking = threading.Lock()  # one recheck at a time; the others do not wait
        self._rows_seen: RowsSeen | None = None
        self._unknown_kid_reload_ms = -UNKNOWN_KID_RELOAD_COOLDOWN_MS
        leeway_ms = config.access_token_leeway * 1000
        self.verify_window_ms = config.access_token_validity_ms + leeway_ms
        self.table = KeyTable(config.key_wrapper, queries, self.verify_window_ms)
        self.refresh = RefreshKeys(self.table, queries, now_ms)

    @property
    def ready_now(self) -> bool:
        return self._ready

    def ready(self) -> StoreFlow[None]:
        """Create the tables if missing and load (or create) the keys; once per process."""
        if self._ready:
            return
        with telemetry.operation("keys.reload", keys_trigger="start"):
            yield from create_tables()
            if self.config.key_wrapper is not None:
                yield from self.table.reseal(rewrap=False)  # keys written in the clear: sealed now
            rows = yield from self.table.load()
            now = self._now_ms()
            rows = yield from self.refresh.ensure(rows, now)
            rows = yield from self._install_signing_keys(rows, now)
            if self.config.signing_key_dynamic and self.config.signing_key_getter is None:
                yield from self._record_window(rows)
        self._ready = True

    def rotate_refresh_key(self, *, retire_now: bool) -> StoreFlow[str]:
        """:meth:`RefreshKeys.rotate <sessionward._refresh_keyring.RefreshKeys.rotate>` once
        the keys are ready; the next signing then looks at the table again."""
        yield from self.ready()
        name = yield from self.refresh.rotate(retire_now=retire_now)
        self._rows_seen = None  # the next signing looks at the table again
        return name

    def current(self, now: int) -> StoreFlow[None]:
        """Look at the key table if ``revocation_refresh_interval`` is over, as signing does:
        a refresh calls this before it opens a token, so that a key rotated in another process
        opens here too."""
        yield from self.ready()
        if now - self._checked_ms >= self._recheck_ms:
            yield from self._recheck(now)

    def _install_signing_keys(self, rows: KeyRows, now: int) -> StoreFlow[KeyRows]:
        """Build the ring from key rows, first creating whatever key should exist but does not;
        returns the rows as they are now."""
        config = self.config
        algorithm = config.signing_algorithm
        self.refresh.install(rows)  # a rotated refresh key is learnt on the same reads
        if config.signing_key_getter is not None:
            self._install_getter_key()
        elif not config.signing_key_dynamic:
            rows, _ = yield from self.table.stored_or_created(
                rows, static_key_name(algorithm), lambda: new_key_row_values(algorithm), now
            )
            window = self.verify_window_ms
            self.ring = _usable(
                lambda: build_static_ring(rows, algorithm, now_ms=now, verify_window_ms=window)
            )
        else:
            interval = config.signing_key_interval_ms
            # Two may be due: on a first start within the last tenth of an interval, the key
            # that signs now and its successor, published ahead.
            for _ in range(2):
                name = key_to_create(rows, now_ms=now, interval_ms=interval, algorithm=algorithm)
                if name is None:
                    break
                values = new_key_row_values(algorithm)
                rows = yield from self.table.insert_and_reload(name, values, now)
                _log_created(rows, name, values, algorithm, rotated=False)
            self._apply_dynamic_rows(rows, now)
            self._next_check_ms = next_key_check_ms(
                rows, now_ms=now, interval_ms=interval, algorithm=algorithm
            )
        self._checked_ms = now
        return rows

    def _apply_dynamic_rows(self, rows: KeyRows, now: int) -> None:
        window = self.verify_window_ms
        self.ring = _usable(lambda: build_dynamic_ring(rows, now_ms=now, verify_window_ms=window))
        self._rows_seen = _rows_seen(rows)

    def _install_getter_key(self) -> None:
        getter = self.config.signing_key_getter
        assert getter is not None
        algorithm = self.config.signing_algorithm
        try:
            value = getter()
        except Exception as exc:
            raise GeneralError(f"signing_key_getter failed: {type(exc).__name__}") from exc
        if type(value) is not str:
            raise GeneralError("signing_key_getter must return the key as a str")
        try:
            key = getter_key(value, algorithm)
        except KeyFormatError as exc:
            what = "a secret" if algorithm == "HS256" else f"a PEM private key for {algorithm}"
            raise GeneralError(f"signing_key_getter must return {what}: {exc}") from None
        current = self.ring.keys[-1] if self.ring.keys else None
        if current is None or current.kid != key.kid:
            self.ring = build_getter_ring(key, previous=self.ring)

    def signing_key(self, now: int) -> StoreFlow[SigningKey]:
        """The key to sign with now. Looks at the key table when a key is due (every request
        that needs one waits for it), and otherwise once per ``revocation_refresh_interval`` to
        learn of keys rotated in another process (one request at a time, without waiting)."""
        yield from self.ready()
        if self.config.signing_key_getter is not None:
            self._install_getter_key()
        elif self.config.signing_key_dynamic:
            if now >= self._next_check_ms or self.ring.signing_key(now) is None:
                with telemetry.operation("keys.reload", keys_trigger="due"):
                    rows = yield from self.table.load()
                    yield from self._install_signing_keys(rows, now)
            elif now - self._checked_ms >= self._recheck_ms:
                yield from self._recheck(now)
        key = self.ring.signing_key(now)
        if key is None:
            raise GeneralError("no signing key is available")
        return key

    def _recheck(self, now: int) -> StoreFlow[None]:
        """One read of the key table; the ring is rebuilt only if the rows changed, so that an
        unchanged ring keeps the asymmetric tokens it has verified. A request that finds another
        one rechecking signs with the key it knows (that key is valid: none is due)."""
        if not self._rechecking.acquire(blocking=False):
            return
        try:
            with telemetry.operation("keys.reload", keys_trigger="recheck") as span:
                rows = yield from self.table.load()
                changed = _rows_seen(rows) != self._rows_seen
                span.set("sessionward.keys.changed", changed)
                if changed:
                    yield from self._install_signing_keys(rows, now)
                else:
                    self._checked_ms = now
        finally:
            self._rechecking.release()

    def reload_for_unknown_key(self, header_segment: str, now: int) -> StoreFlow[None]:
        """A token names a key we do not know: maybe another process rotated. Reload, cheaply:
        only for a plausible kid, and at most once a second."""
        if not self._ready:
            yield from self.ready()
            return
        config = self.config
        if config.signing_key_getter is not None:
            self._install_getter_key()
            return
        if not config.signing_key_dynamic:
            return
        kid = read_header_kid(header_segment)
        if not plausible_dynamic_kid(
            kid,
            now_ms=now,
            interval_ms=config.signing_key_interval_ms,
            window_ms=self.verify_window_ms,
        ):
            return
        if now - self._unknown_kid_reload_ms < UNKNOWN_KID_RELOAD_COOLDOWN_MS:
            return
        self._unknown_kid_reload_ms = now
        with telemetry.operation("keys.reload", keys_trigger="unknown_kid"):
            rows = yield from self.table.load()
            self._apply_dynamic_rows(rows, now)

    def rotate(self) -> StoreFlow[str]:
        """Start a new dynamic signing key now; older keys keep verifying their tokens."""
        if self.config.signing_key_getter is not None or not self.config.signing_key_dynamic:
            raise ConfigError("rotate_signing_key needs signing_key_dynamic=True and no getter")
        yield from self.ready()
        now = self._now_ms()
        # Kids are whole seconds: a second rotation within one second starts a second later.
        # Only keys that already sign count: a successor published ahead (it starts at the end
        # of the interval) keeps its start, and the rotated key signs now until then.
        latest = max((k.signs_from_ms for k in self.ring.keys if k.signs_from_ms <= now), default=0)
        algorithm = self.config.signing_algorithm
        name = dynamic_key_name(max(now, latest + 1000), algorithm)
        values = new_key_row_values(algorithm)
        rows = yield from self.table.insert_and_reload(name, values, now)
        _log_created(rows, name, values, algorithm, rotated=True)
        yield from self._install_signing_keys(rows, now)
        return name.split(":", 1)[1]

    def retire(self, kid: str) -> StoreFlow[str]:
        """Delete key ``kid`` (a leaked one) and drop it here at once; if it signs now, a new
        key signs first. Returns the kid that signs now. Other processes drop it when they
        read the retirement's revocation row (see :meth:`drop_retired`)."""
        if self.config.signing_key_getter is not None or not self.config.signing_key_dynamic:
            raise ConfigError(
                "retiring a key needs signing_key_dynamic=True and no signing_key_getter (a "
                "static or supplied key is replaced where it is configured)"
            )
        yield from self.ready()
        now = self._now_ms()
        rows = yield from self.table.load()
        name = f"{DYNAMIC_PREFIX}{kid}"
        if find_row(rows, name) is None:
            raise InvalidArgumentError(f"no signing key {kid!r}: 'sessionward keys' lists them")
        self._apply_dynamic_rows(rows, now)
        current = self.ring.signing_key(now)
        if current is not None and current.kid == kid:
            yield from self.rotate()  # a new key signs at once
        yield from self._queries.delete_keys([name])
        self.drop_retired([kid])
        key = yield from self.signing_key(now)
        return key.kid

    def drop_retired(self, kids: Iterable[str]) -> None:
        """Forget retired keys at once: the tokens they signed no longer verify here (an
        unknown kid is looked up in the table, where the row is gone), the JWKS no longer
        lists them, and if one signed here, the next signing reads the table for its
        successor."""
        retired = set(kids)
        ring = self.ring
        if any(key.kid in retired for key in ring.keys):
            self.ring = ring_of(key for key in ring.keys if key.kid not in retired)
            self._next_check_ms = 0  # look at the key table before signing again
            self._rows_seen = None

    def deployed_algorithm(self) -> StoreFlow[Algorithm | None]:
        """The algorithm the stored dynamic keys sign with now (None: none yet); creates no
        key, so that a tool can ask before it acts with the right configuration."""
        yield from create_tables()
        rows = yield from self.table.load()
        return deployed_algorithm(rows, now_ms=self._now_ms())

    def listing(self) -> StoreFlow[list[SigningKey]]:
        """The keys this deployment signs or verifies with, oldest first (secrets included).

        Reads the key table as it is: listing keys never creates one."""
        yield from self.ready()
        if self.config.signing_key_dynamic and self.config.signing_key_getter is None:
            rows = yield from self.table.load()
            self._apply_dynamic_rows(rows, self._now_ms())
        return list(self.ring.keys)

    def _record_window(self, rows: KeyRows) -> StoreFlow[None]:
        """Make the live keys' recorded verify windows at least this process's (tokens it signs
        live that long), so that a purge by any process, or the command, keeps them."""
        window = self.verify_window_ms
        for key in self.ring.keys:
            row = find_row(rows, f"{DYNAMIC_PREFIX}{key.kid}")
            if row is not None and (row.verify_window_ms or 0) < window:
                yield from self._queries.widen_key_window(row.name, window)

    def purge(self, now: int) -> StoreFlow[int]:
        """Delete signing keys that can neither sign nor verify any more: each verifies for the
        window recorded with it (or this process's, if longer)."""
        rows = yield from self.table.load()
        dead = expired_key_names(rows, now_ms=now, verify_window_ms=self.verify_window_ms)
        life_ms = 2 * self.config.refresh_token_validity * 1000  # a child's longest expiry
        dead += expired_refresh_key_names(rows, now_ms=now, token_life_ms=life_ms)
        deleted = yield from self._queries.delete_keys(dead)
        if deleted:
            security_log.keys_purged(name.split(":", 1)[-1] for name in dead)
        return deleted

    def published(self) -> StoreFlow[tuple[dict[str, list[dict[str, str]]], int]]:
        """The JWK Set to publish (the public keys that verify now or will sign next) and how
        many seconds it may be cached: until the next key is due to be published, at most
        :data:`~sessionward._tokens.keys.JWKS_MAX_AGE_S`. HS256 keys are never published."""
        now = self._now_ms()
        yield from self.signing_key(now)  # creates and loads whatever key is due
        max_age = JWKS_MAX_AGE_S
        if self.config.signing_key_dynamic and self.config.signing_key_getter is None:
            max_age = max(1, min(max_age, (self._next_check_ms - now) // 1000))
        return self.ring.jwk_set(), max_age


def _log_created(
    rows: KeyRows, name: str, values: tuple[str, str | None], algorithm: Algorithm, *, rotated: bool
) -> None:
    """Log the key this process created, unless another process won the race to create it:
    the row then holds the other's secret, and the other logs it."""
    row = find_row(rows, name)
    if row is not None and (row.value, row.material) == values:
        security_log.key_created(name.split(":", 1)[1], algorithm, rotated=rotated)


def _rows_seen(rows: KeyRows) -> RowsSeen:
    """What a recheck compares: a key row added, deleted, widened or written anew (a refresh
    key replaced under its own name) changes the ring."""
    return frozenset((row.name, row.verify_window_ms, hash(row.value)) for row in rows)


def _usable(build: Callable[[], KeyRing]) -> KeyRing:
    """``build()``, with a key row that cannot be read reported as the general error it is."""
    try:
        return build()
    except UnusableKeyRow as exc:
        raise GeneralError(str(exc)) from None
