"""The deployment's keys as this process knows them, and the flows that load, create, rotate and
reload them (docs/protocol.md#signing-keys). The decisions (which key signs, which to create,
when to look again) are the pure functions of :mod:`sessionward._tokens.keys`; this module holds
the state they act on, and reads or writes the key table through
:class:`~sessionward._storage.queries.Queries`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from sessionward import _security_log as security_log
from sessionward import _telemetry as telemetry
from sessionward._config import Algorithm, Config
from sessionward._errors import ConfigError, GeneralError, InvalidArgumentError
from sessionward._rows import KeyRow
from sessionward._storage.execution import StoreFlow, create_tables
from sessionward._storage.queries import Queries
from sessionward._tokens.access import read_header_kid
from sessionward._tokens.algorithms import KeyFormatError
from sessionward._tokens.derivation import KeyDerivation
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
from sessionward._tokens.refresh import RefreshTokenCipher, decode_refresh_key, new_refresh_key
from sessionward._tokens.refresh_keys import (
    REFRESH_KEY_NAME,
    expired_refresh_key_names,
    refresh_key_rows,
    rotated_key_name,
)
from sessionward._tokens.sealing import needs_sealing, open_row, seal_values

UNKNOWN_KID_RELOAD_COOLDOWN_MS = 1_000  # unknown kids trigger at most one key reload per second

KeyRows = list[KeyRow]
RowsSeen = frozenset[tuple[str, int | None, int]]  # (name, verify_window_ms, hash of value)


class ProcessKeys:
    """The signing-key ring and the refresh-token cipher of one process.

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
        self._cipher: RefreshTokenCipher | None = None
        self._derivation: KeyDerivation | None = None
        self._ready = False
        self._checked_ms = 0
        self._next_check_ms = 0
        self._recheck_ms = int(config.revocation_refresh_interval * 1000)
        self._rechecking = threading.Lock()  # one recheck at a time; the others do not wait
        self._rows_seen: RowsSeen | None = None
        self._opened: dict[KeyRow, KeyRow] = {}  # sealed row as stored -> the row opened
        self._unknown_kid_reload_ms = -UNKNOWN_KID_RELOAD_COOLDOWN_MS
        leeway_ms = config.access_token_leeway * 1000
        self.verify_window_ms = config.access_token_validity_ms + leeway_ms

    @property
    def ready_now(self) -> bool:
        return self._ready

    @property
    def cipher(self) -> RefreshTokenCipher:
        """The refresh-token cipher (after :meth:`ready`)."""
        if self._cipher is None:
            raise GeneralError("the keys are not loaded yet")
        return self._cipher

    @property
    def derivation(self) -> KeyDerivation:
        """The key derivation for child seeds, anti-CSRF and id-refresh tokens (after ready)."""
        if self._derivation is None:
            raise GeneralError("the keys are not loaded yet")
        return self._derivation

    def ready(self) -> StoreFlow[None]:
        """Create the tables if missing and load (or create) the keys; once per process."""
        if self._ready:
            return
        with telemetry.operation("keys.reload", keys_trigger="start"):
            yield from create_tables()
            if self.config.key_wrapper is not None:
                yield from self.reseal(rewrap=False)  # keys written in the clear: sealed now
            rows = yield from self._load_keys()
            now = self._now_ms()
            rows = yield from self._ensure_refresh_key(rows, now)
            rows = yield from self._install_signing_keys(rows, now)
            if self.config.signing_key_dynamic and self.config.signing_key_getter is None:
                yield from self._record_window(rows)
        self._ready = True

    def _insert_and_reload(
        self, name: str, values: tuple[str, str | None], now: int
    ) -> StoreFlow[KeyRows]:
        """Insert a key unless it exists (another process may win the race), then re-read."""
        value, material = seal_values(self.config.key_wrapper, name, *values)
        yield from self._queries.insert_key(name, value, now, material, self.verify_window_ms)
        return (yield from self._load_keys())

    def _load_keys(self) -> StoreFlow[KeyRows]:
        """The key rows, with their secrets in the clear. Each sealed value is opened once (a
        KMS unwrap is a network call; the table is read every few seconds)."""
        rows = yield from self._queries.load_keys()
        wrapper = self.config.key_wrapper
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

    def reseal(self, *, rewrap: bool) -> StoreFlow[int]:
        """Seal the key rows stored in the clear (and, with ``rewrap``, those sealed with a
        key-encryption key other than the one that seals now) with the current one; returns
        how many rows were written. Every row is opened first, so a process that cannot open
        one changes nothing."""
        wrapper = self.config.key_wrapper
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

    def _stored_or_created(
        self, rows: KeyRows, name: str, make: Callable[[], tuple[str, str | None]], now: int
    ) -> StoreFlow[tuple[KeyRows, KeyRow]]:
        """The row of key ``name``, created (``make()``) if it is not among ``rows``."""
        row = _find(rows, name)
        if row is None:
            rows = yield from self._insert_and_reload(name, make(), now)
            row = _find(rows, name)
            if row is None:
                raise GeneralError(f"the key {name!r} could not be stored")
        return rows, row

    def _ensure_refresh_key(self, rows: KeyRows, now: int) -> StoreFlow[KeyRows]:
        if not refresh_key_rows(rows):
            rows, _ = yield from self._stored_or_created(
                rows, REFRESH_KEY_NAME, lambda: (new_refresh_key(), None), now
            )
        self._install_refresh_keys(rows)
        return rows

    def _install_refresh_keys(self, rows: KeyRows) -> None:
        """The refresh-token cipher of the stored keys (kept as it is while a retirement has
        deleted them and not yet written the new one); the first key keys the derivation."""
        found = refresh_key_rows(rows)
        if not found:
            return
        try:
            keys = [(start, decode_refresh_key(row.value)) for start, row in found]
        except ValueError as exc:
            raise GeneralError(f"a stored refresh token key is unusable: {exc}") from None
        self._derivation = KeyDerivation(keys[0][1])
        self._cipher = RefreshTokenCipher(keys, self._derivation)

    def rotate_refresh_key(self, *, retire_now: bool) -> StoreFlow[str]:
        """A new refresh-token key. Without ``retire_now`` it seals from
        :data:`~sessionward._tokens.refresh_keys.ROTATION_DELAY_MS` from now and the old keys
        keep opening the tokens they sealed until those rotate or expire; returns its name.
        With it, every refresh-token key (and the derivation) is replaced at once: no refresh
        token issued so far opens, so every session must log in again."""
        yield from self.ready()
        now = self._now_ms()
        rows = yield from self._load_keys()
        if retire_now:
            names = [row.name for _, row in refresh_key_rows(rows)]
            yield from self._queries.delete_keys(names)
            name = REFRESH_KEY_NAME
        else:
            name = rotated_key_name(rows, now)
        yield from self._insert_and_reload(name, (new_refresh_key(), None), now)
        rows = yield from self._load_keys()
        self._install_refresh_keys(rows)
        self._rows_seen = None  # the next signing looks at the table again
        security_log.refresh_key_rotated(name, retire_now=retire_now)
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
        self._install_refresh_keys(rows)  # a rotated refresh key is learnt on the same reads
        if config.signing_key_getter is not None:
            self._install_getter_key()
        elif not config.signing_key_dynamic:
            rows, _ = yield from self._stored_or_created(
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
                rows = yield from self._insert_and_reload(name, values, now)
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
                    rows = yield from self._load_keys()
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
                rows = yield from self._load_keys()
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
            rows = yield from self._load_keys()
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
        rows = yield from self._insert_and_reload(name, values, now)
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
        rows = yield from self._load_keys()
        name = f"{DYNAMIC_PREFIX}{kid}"
        if _find(rows, name) is None:
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
        rows = yield from self._load_keys()
        return deployed_algorithm(rows, now_ms=self._now_ms())

    def listing(self) -> StoreFlow[list[SigningKey]]:
        """The keys this deployment signs or verifies with, oldest first (secrets included).

        Reads the key table as it is: listing keys never creates one."""
        yield from self.ready()
        if self.config.signing_key_dynamic and self.config.signing_key_getter is None:
            rows = yield from self._load_keys()
            self._apply_dynamic_rows(rows, self._now_ms())
        return list(self.ring.keys)

    def _record_window(self, rows: KeyRows) -> StoreFlow[None]:
        """Make the live keys' recorded verify windows at least this process's (tokens it signs
        live that long), so that a purge by any process, or the command, keeps them."""
        window = self.verify_window_ms
        for key in self.ring.keys:
            row = _find(rows, f"{DYNAMIC_PREFIX}{key.kid}")
            if row is not None and (row.verify_window_ms or 0) < window:
                yield from self._queries.widen_key_window(row.name, window)

    def purge(self, now: int) -> StoreFlow[int]:
        """Delete signing keys that can neither sign nor verify any more: each verifies for the
        window recorded with it (or this process's, if longer)."""
        rows = yield from self._load_keys()
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
    row = _find(rows, name)
    if row is not None and (row.value, row.material) == values:
        security_log.key_created(name.split(":", 1)[1], algorithm, rotated=rotated)


def _rows_seen(rows: KeyRows) -> RowsSeen:
    """What a recheck compares: a key row added, deleted, widened or written anew (a refresh
    key replaced under its own name) changes the ring."""
    return frozenset((row.name, row.verify_window_ms, hash(row.value)) for row in rows)


def _find(rows: KeyRows, name: str) -> KeyRow | None:
    return next((row for row in rows if row.name == name), None)


def _usable(build: Callable[[], KeyRing]) -> KeyRing:
    """``build()``, with a key row that cannot be read reported as the general error it is."""
    try:
        return build()
    except UnusableKeyRow as exc:
        raise GeneralError(str(exc)) from None
