"""SessionManager (sync) and AsyncSessionManager: the protocol, the storage and the keys together.

Every operation is written once, as a *flow*: a generator that does the protocol's work and
yields each storage call it needs as ``(method name, arguments)``. The sync manager answers those
calls from its store directly; the async manager awaits the same calls on its async store. The
protocol's decisions come from :mod:`sessionward.protocol`; this module only sequences them.

The verify path (``get_session`` for an access token without ``prt`` and blacklisting off) is
answered before any flow starts: it costs one HMAC and one JSON parse, and no database call.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable, Generator
from typing import Any, TypeVar, cast

from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from sessionward.clients import clean_client
from sessionward.config import Config
from sessionward.errors import (
    ConfigError,
    GeneralError,
    InvalidArgumentError,
    TokenTheftDetectedError,
    TryRefreshTokenError,
    UnauthorisedError,
)
from sessionward.events import (
    NO_HOOKS,
    Emission,
    RevokeReason,
    SessionCreated,
    SessionHooks,
    SessionRefreshed,
    SessionRevoked,
    TokenTheft,
    emit_async,
    emit_sync,
)
from sessionward.models import (
    JSON,
    ClientContext,
    Session,
    SessionSummary,
    SessionTokens,
    Token,
    VerifiedSession,
)
from sessionward.proof import InvalidProof, ProofOfPossession, SeenProofs, verify_proof
from sessionward.protocol import (
    Presentation,
    PromotionOutcome,
    RefreshOutcome,
    Timing,
    csrf_matches,
    decide_promotion,
    decide_refresh,
    purge_due,
    renewed_expiry,
    sha256_hex,
)
from sessionward.storage.base import AsyncSessionStore, SessionStore
from sessionward.storage.engines import create_async_sql_engine, create_sync_engine
from sessionward.storage.schema import build_statements
from sessionward.storage.sql import AsyncSqlStore, SyncSqlStore
from sessionward.tokens.access import (
    MAX_COOKIE_TOKEN_LENGTH,
    AccessClaims,
    InvalidAccessToken,
    UnknownSigningKey,
    read_header_kid,
    sign_access_token,
    verify_access_token,
)
from sessionward.tokens.keys import (
    ACCESS_KEY_NAME,
    REFRESH_KEY_NAME,
    KeyRing,
    SigningKey,
    build_dynamic_ring,
    build_static_ring,
    dynamic_key_name,
    expired_key_names,
    getter_kid,
    key_to_create,
    new_key_secret,
    next_key_check_ms,
    plausible_dynamic_kid,
)
from sessionward.tokens.refresh import (
    InvalidRefreshToken,
    RefreshClaims,
    RefreshTokenCipher,
    decode_refresh_key,
    new_refresh_key,
)
from sessionward.validation import (
    MAX_JWT_PAYLOAD_BYTES,
    MAX_SESSION_DATA_BYTES,
    check_identifier,
    check_user_id,
    to_json,
)

T = TypeVar("T")
StoreCall = tuple[str, tuple[Any, ...]]
Flow = Generator[StoreCall, Any, T]
Clock = Callable[[], float]

Emissions = list[Emission[Any]]
_NONE: Emissions = []  # operations without events (never appended to)
KEY_RECHECK_MS = 60_000  # a signing process looks for new or due keys at most this often
UNKNOWN_KID_RELOAD_COOLDOWN_MS = 1_000  # unknown kids trigger at most one key reload per second


def _call(method: str, *args: Any) -> StoreCall:
    return (method, args)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class SessionLogic:
    """Every operation of PROTOCOL §3, as I/O-free flows, plus the state they share.

    Shared by both managers; holds the key ring and the refresh-token cipher once loaded.
    """

    def __init__(self, config: Config, clock: Clock, hooks: SessionHooks = NO_HOOKS) -> None:
        self.config = config
        self.hooks = hooks
        self._clock = clock
        self._seen_proofs = SeenProofs()
        self._ready = False
        self._ring = KeyRing()
        self._cipher: RefreshTokenCipher | None = None
        self._keys_checked_ms = 0
        self._next_key_check_ms = 0
        self._unknown_kid_reload_ms = -UNKNOWN_KID_RELOAD_COOLDOWN_MS
        self._last_purge_ms: int | None = None
        self._leeway_ms = config.access_token_leeway * 1000
        self._verify_window_ms = config.access_token_validity_ms + self._leeway_ms

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    # --- start-up and keys -------------------------------------------------------------------

    def ready(self) -> Flow[None]:
        """Create the tables if missing and load (or create) the keys; once per process."""
        if self._ready:
            return
        yield _call("create_tables")
        rows = yield _call("load_keys")
        now = self.now_ms()
        rows = yield from self._ensure_refresh_key(rows, now)
        yield from self._install_signing_keys(rows, now)
        self._ready = True

    def _ensure_refresh_key(
        self, rows: list[tuple[str, str]], now: int
    ) -> Flow[list[tuple[str, str]]]:
        value = dict(rows).get(REFRESH_KEY_NAME)
        if value is None:
            yield _call("insert_key_if_absent", REFRESH_KEY_NAME, new_refresh_key(), now)
            rows = yield _call("load_keys")
            value = dict(rows).get(REFRESH_KEY_NAME)
            if value is None:
                raise GeneralError("the refresh token key could not be stored")
        try:
            self._cipher = RefreshTokenCipher(decode_refresh_key(value))
        except ValueError as exc:
            raise GeneralError(f"the stored refresh token key is unusable: {exc}") from None
        return rows

    def _install_signing_keys(self, rows: list[tuple[str, str]], now: int) -> Flow[None]:
        """Build the ring from key rows, first creating whatever key should exist but does not."""
        config = self.config
        if config.signing_key_getter is not None:
            self._install_getter_key()
        elif not config.signing_key_dynamic:
            value = dict(rows).get(ACCESS_KEY_NAME)
            if value is None:
                yield _call("insert_key_if_absent", ACCESS_KEY_NAME, new_key_secret(), now)
                rows = yield _call("load_keys")
                value = dict(rows).get(ACCESS_KEY_NAME)
                if value is None:
                    raise GeneralError("the signing key could not be stored")
            self._ring = build_static_ring(value, "static")
        else:
            interval = config.signing_key_interval_ms
            name = key_to_create(rows, now_ms=now, interval_ms=interval)
            if name is not None:
                yield _call("insert_key_if_absent", name, new_key_secret(), now)
                rows = yield _call("load_keys")
            self._apply_dynamic_rows(rows, now)
            self._next_key_check_ms = next_key_check_ms(rows, now_ms=now, interval_ms=interval)
        self._keys_checked_ms = now

    def _apply_dynamic_rows(self, rows: list[tuple[str, str]], now: int) -> None:
        self._ring = build_dynamic_ring(rows, now_ms=now, verify_window_ms=self._verify_window_ms)

    def _install_getter_key(self) -> None:
        getter = self.config.signing_key_getter
        assert getter is not None
        try:
            secret = getter()
        except Exception as exc:
            raise GeneralError(f"signing_key_getter failed: {type(exc).__name__}") from exc
        if type(secret) is not str or len(secret) < 32:
            raise GeneralError(
                "signing_key_getter must return a str of at least 32 characters (RFC 7518 §3.2)"
            )
        kid = getter_kid(secret)
        current = self._ring.keys[-1] if self._ring.keys else None
        if current is None or current.kid != kid:
            self._ring = build_static_ring(secret, kid, previous=self._ring)

    def _signing_key(self, now: int) -> Flow[SigningKey]:
        """The key to sign with now; looks at the key table when a key is due, or once a minute
        (to learn of keys rotated by hand in another process)."""
        yield from self.ready()
        if self.config.signing_key_getter is not None:
            self._install_getter_key()
        elif self.config.signing_key_dynamic and (
            now >= self._next_key_check_ms
            or now - self._keys_checked_ms >= KEY_RECHECK_MS
            or self._ring.signing_key(now) is None
        ):
            rows = yield _call("load_keys")
            yield from self._install_signing_keys(rows, now)
        key = self._ring.signing_key(now)
        if key is None:
            raise GeneralError("no signing key is available")
        return key

    def _reload_for_unknown_key(self, header_segment: str, now: int) -> Flow[None]:
        """A token names a key we do not know: maybe another process rotated. Reload, cheaply."""
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
            window_ms=self._verify_window_ms,
        ):
            return
        if now - self._unknown_kid_reload_ms < UNKNOWN_KID_RELOAD_COOLDOWN_MS:
            return
        self._unknown_kid_reload_ms = now
        rows = yield _call("load_keys")
        self._apply_dynamic_rows(rows, now)

    def rotate_signing_key(self) -> Flow[str]:
        """Start a new dynamic signing key now; older keys keep verifying their tokens."""
        if self.config.signing_key_getter is not None or not self.config.signing_key_dynamic:
            raise ConfigError("rotate_signing_key needs signing_key_dynamic=True and no getter")
        yield from self.ready()
        now = self.now_ms()
        # Kids are whole seconds: a second rotation within one second starts a second later.
        latest = max((k.signs_from_ms for k in self._ring.keys), default=0)
        name = dynamic_key_name(max(now, latest + 1000))
        yield _call("insert_key_if_absent", name, new_key_secret(), now)
        rows = yield _call("load_keys")
        yield from self._install_signing_keys(rows, now)
        return name.rsplit(":", 1)[1]

    def signing_keys(self) -> Flow[list[SigningKey]]:
        """The keys this deployment signs or verifies with, oldest first (secrets included).

        Reads the key table as it is: listing keys never creates one."""
        yield from self.ready()
        if self.config.signing_key_dynamic and self.config.signing_key_getter is None:
            rows = yield _call("load_keys")
            self._apply_dynamic_rows(rows, self.now_ms())
        return list(self._ring.keys)

    # --- tokens ------------------------------------------------------------------------------

    def _access_token(
        self,
        key: SigningKey,
        claims: AccessClaims,
        payload_json: str,
        now: int,
    ) -> Token:
        expires = (now + self.config.access_token_validity_ms) // 1000 * 1000
        value = sign_access_token(
            key,
            handle=claims.handle,
            user_id=claims.user_id,
            refresh_hash_1=claims.refresh_hash_1,
            parent_hash_1=claims.parent_hash_1,
            anti_csrf=claims.anti_csrf,
            payload_json=payload_json,
            expires_ms=expires,
        )
        if len(value) > MAX_COOKIE_TOKEN_LENGTH:
            raise InvalidArgumentError(
                f"jwt_payload is too large: the access token would be {len(value)} bytes, more "
                f"than browsers keep in a cookie; keep large values in session_data"
            )
        return Token(value, expires)

    def _timing(self, now: int) -> Timing:
        config = self.config
        lifetime = config.absolute_session_lifetime
        return Timing(
            now_ms=now,
            refresh_validity_ms=config.refresh_token_validity_ms,
            grace_window_ms=config.refresh_grace_window * 1000,
            absolute_lifetime_ms=None if lifetime is None else lifetime * 1000,
        )

    def _child_refresh_token(
        self, handle: str, user_id: str, parent_hash_1: str, anchor: int
    ) -> str:
        """The one child of a parent for an anchor time (see :mod:`sessionward.protocol`);
        random when the grace window is off.

        Its own expiry is an upper bound (anchor + twice the validity): the row's expiry, which
        promotion extends, is what actually ends the session.
        """
        assert self._cipher is not None
        expires = anchor + 2 * self.config.refresh_token_validity_ms
        claims = RefreshClaims(handle, user_id, parent_hash_1, expires)
        if self.config.refresh_grace_window == 0:  # the original: every child is random
            return self._cipher.seal(claims)
        return self._cipher.seal(claims, seed=f"{parent_hash_1}:{anchor}")

    def _token_set(
        self,
        key: SigningKey,
        *,
        refresh_token: str,
        session: Session,
        payload_json: str,
        parent_hash_1: str | None,
        session_expires: int,
        now: int,
    ) -> SessionTokens:
        """Everything issued with ``refresh_token``; anti-CSRF and id-refresh tokens derive from it,
        so that a re-issued refresh token comes with the very same companions."""
        assert self._cipher is not None
        refresh_hash_1 = sha256_hex(refresh_token)
        anti_csrf = None
        if self.config.anti_csrf:
            anti_csrf = _b64(self._cipher.derive("anti-csrf", refresh_hash_1))
        claims = AccessClaims(
            session.handle, session.user_id, refresh_hash_1, parent_hash_1, anti_csrf, None, 0
        )
        return SessionTokens(
            session=session,
            access_token=self._access_token(key, claims, payload_json, now),
            refresh_token=Token(refresh_token, session_expires),
            id_refresh_token=Token(self._id_refresh_token(refresh_hash_1), session_expires),
            anti_csrf_token=anti_csrf,
        )

    def _id_refresh_token(self, refresh_hash_1: str) -> str:
        """The id-refresh token that goes with a refresh token: derived, so it is the same
        whenever that refresh token is issued again, and only this deployment can compute it."""
        assert self._cipher is not None
        return _b64(self._cipher.derive("id-refresh", refresh_hash_1)[:24])

    def _verify(self, access_token: object, anti_csrf_token: str | None, now: int) -> AccessClaims:
        try:
            claims = verify_access_token(access_token, self._ring, now - self._leeway_ms)
        except UnknownSigningKey:
            raise
        except InvalidAccessToken:
            raise TryRefreshTokenError("the access token is invalid or expired") from None
        if self.config.anti_csrf and not csrf_matches(claims.anti_csrf, anti_csrf_token):
            raise TryRefreshTokenError("the anti-CSRF token does not match")
        return claims

    # --- operations --------------------------------------------------------------------------

    def create_new_session(
        self,
        user_id: str,
        jwt_payload: JSON,
        session_data: JSON,
        client: ClientContext | None,
        proof: ProofOfPossession | None,
        emissions: Emissions,
    ) -> Flow[SessionTokens]:
        user_id = check_user_id(user_id)
        payload_json = to_json(jwt_payload, "jwt_payload", MAX_JWT_PAYLOAD_BYTES)
        data_json = to_json(session_data, "session_data", MAX_SESSION_DATA_BYTES)
        client = clean_client(client)
        now = self.now_ms()
        thumbprint = None
        if proof is not None:
            try:
                thumbprint = verify_proof(proof, now_s=now / 1000).thumbprint
            except InvalidProof as exc:
                raise InvalidArgumentError(f"the DPoP proof is invalid: {exc}") from None
        key = yield from self._signing_key(now)
        yield from self._purge_if_due(now)
        assert self._cipher is not None
        handle = str(uuid.uuid4())
        expires = now + self.config.refresh_token_validity_ms
        lifetime = self.config.absolute_session_lifetime
        if lifetime is not None:
            expires = min(expires, now + lifetime * 1000)
        refresh_token = self._cipher.seal(RefreshClaims(handle, user_id, None, expires))
        tokens = self._token_set(
            key,
            refresh_token=refresh_token,
            session=Session(handle, user_id, json.loads(payload_json)),
            payload_json=payload_json,
            parent_hash_1=None,
            session_expires=expires,
            now=now,
        )
        row = {
            "session_handle": handle,
            "user_id": user_id,
            "refresh_token_hash_2": sha256_hex(sha256_hex(refresh_token)),
            "session_info": data_json,
            "expires_at": expires,
            "jwt_user_payload": payload_json,
            "created_at": now,
            "parent_issued_at": None,
            "child_issued_at": None,
            "created_ip": client.ip if client else None,
            "created_user_agent": client.user_agent if client else None,
            "refreshed_at": None,
            "refreshed_ip": None,
            "refreshed_user_agent": None,
            "pop_key_thumbprint": thumbprint,
        }
        yield _call("insert_session", row)
        emissions.append(
            Emission(
                self.hooks.on_session_created,
                SessionCreated(handle, user_id, client, thumbprint is not None),
            )
        )
        return tokens

    def quick_get_session(
        self, access_token: object, anti_csrf_token: str | None
    ) -> VerifiedSession | None:
        """``get_session`` when it needs no I/O (the common case), else None: run the flow."""
        try:
            claims = self._verify(access_token, anti_csrf_token, self.now_ms())
        except UnknownSigningKey:
            return None
        if claims.parent_hash_1 is not None or self.config.enable_blacklisting:
            return None
        return VerifiedSession(Session(claims.handle, claims.user_id, claims.payload))

    def get_session(
        self, access_token: object, anti_csrf_token: str | None
    ) -> Flow[VerifiedSession]:
        now = self.now_ms()
        try:
            claims = self._verify(access_token, anti_csrf_token, now)
        except UnknownSigningKey as exc:
            yield from self._reload_for_unknown_key(exc.header_segment, now)
            try:
                claims = self._verify(access_token, anti_csrf_token, now)
            except UnknownSigningKey:
                raise TryRefreshTokenError("the access token's signing key is unknown") from None
        session = Session(claims.handle, claims.user_id, claims.payload)
        parent_hash_1 = claims.parent_hash_1
        if parent_hash_1 is None:
            if self.config.enable_blacklisting:
                alive = yield _call("session_alive", claims.handle, now)
                if not alive:
                    raise UnauthorisedError("the session was revoked or has expired")
            return VerifiedSession(session)
        key = yield from self._signing_key(now)
        decision = yield _call(
            "decide_and_apply",
            claims.handle,
            lambda row: decide_promotion(
                row,
                token_user_id=claims.user_id,
                refresh_hash_1=claims.refresh_hash_1,
                parent_refresh_hash_1=parent_hash_1,
                timing=self._timing(now),
            ),
        )
        if decision.outcome is PromotionOutcome.UNAUTHORISED:
            raise UnauthorisedError("the session was revoked, has expired, or moved on")
        confirmed = AccessClaims(
            claims.handle, claims.user_id, claims.refresh_hash_1, None, claims.anti_csrf, None, 0
        )
        payload_json = to_json(claims.payload, "jwt_payload", MAX_SESSION_DATA_BYTES)
        return VerifiedSession(session, self._access_token(key, confirmed, payload_json, now))

    def refresh_session(
        self,
        refresh_token: object,
        client: ClientContext | None,
        proof: ProofOfPossession | None,
        emissions: Emissions,
    ) -> Flow[SessionTokens]:
        yield from self.ready()
        assert self._cipher is not None
        now = self.now_ms()
        try:
            token = self._cipher.open(refresh_token)
        except InvalidRefreshToken:
            raise UnauthorisedError("the refresh token is invalid") from None
        if token.expires_ms <= now:
            raise UnauthorisedError("the refresh token has expired")
        assert isinstance(refresh_token, str)
        client = clean_client(client)
        refresh_hash_1 = sha256_hex(refresh_token)
        refresh_hash_2 = sha256_hex(refresh_hash_1)
        presented = Presentation(
            user_id=token.user_id,
            hash_2=refresh_hash_2,
            parent_hash_1=token.parent_hash_1,
            client=client,
            proof_thumbprint=self._proof_thumbprint(proof, refresh_token, now),
            proof_presented=proof is not None,
        )
        key = yield from self._signing_key(now)

        def child_hash_2(anchor: int) -> str:
            child = self._child_refresh_token(token.handle, token.user_id, refresh_hash_1, anchor)
            return sha256_hex(sha256_hex(child))

        timing = self._timing(now)
        decision = yield _call(
            "decide_and_apply",
            token.handle,
            lambda row: decide_refresh(
                row,
                presented,
                child_hash_2=child_hash_2,
                timing=timing,
                binding=self.config.refresh_grace_binding,
                revoke_on_theft=self.config.revoke_session_on_theft,
            ),
        )
        if decision.outcome is RefreshOutcome.UNAUTHORISED:
            raise UnauthorisedError("the session was revoked or has expired")
        if decision.outcome is RefreshOutcome.THEFT:
            assert decision.row is not None and decision.theft_reason is not None
            row = decision.row
            revoked = decision.change.delete
            emissions.append(
                Emission(
                    self.hooks.on_token_theft,
                    TokenTheft(
                        session_handle=token.handle,
                        user_id=token.user_id,
                        reason=decision.theft_reason,
                        token_fingerprint=refresh_hash_2[:16],
                        seconds_since_rotation=None
                        if decision.rotated_at is None
                        else (now - decision.rotated_at) / 1000,
                        first_client=ClientContext(row.refreshed_ip, row.refreshed_user_agent),
                        replay_client=client,
                        session_revoked=revoked,
                    ),
                )
            )
            if revoked:
                emissions.append(
                    Emission(
                        self.hooks.on_session_revoked,
                        SessionRevoked(token.handle, token.user_id, "theft"),
                    )
                )
            raise TokenTheftDetectedError(token.handle, token.user_id, decision.theft_reason.value)
        row, anchor = decision.row, decision.child_anchor
        assert row is not None and anchor is not None
        child = self._child_refresh_token(token.handle, token.user_id, refresh_hash_1, anchor)
        payload_json = row.jwt_payload_json or "null"
        emissions.append(
            Emission(
                self.hooks.on_session_refreshed,
                SessionRefreshed(
                    token.handle,
                    token.user_id,
                    client,
                    repeated=decision.change.new_hash_2 is None,
                ),
            )
        )
        return self._token_set(
            key,
            refresh_token=child,
            session=Session(token.handle, token.user_id, json.loads(payload_json)),
            payload_json=payload_json,
            parent_hash_1=refresh_hash_1,
            session_expires=renewed_expiry(row, timing),
            now=now,
        )

    def _proof_thumbprint(
        self, proof: ProofOfPossession | None, refresh_token: str, now: int
    ) -> str | None:
        """The thumbprint of a valid, first-seen proof for this refresh token, else None."""
        if proof is None:
            return None
        assert self._cipher is not None
        id_refresh = self._id_refresh_token(sha256_hex(refresh_token))
        try:
            verified = verify_proof(proof, now_s=now / 1000, tokens=(refresh_token, id_refresh))
        except InvalidProof:
            return None
        if not self._seen_proofs.first_use(f"{verified.thumbprint}:{verified.jti}", now / 1000):
            return None
        return verified.thumbprint

    def revoke_session(
        self, session_handle: str, reason: RevokeReason, emissions: Emissions
    ) -> Flow[bool]:
        handle = check_identifier(session_handle, "session_handle")
        yield from self.ready()
        deleted: bool = yield _call("delete_session", handle)
        if deleted:
            emissions.append(
                Emission(self.hooks.on_session_revoked, SessionRevoked(handle, None, reason))
            )
        return deleted

    def revoke_all_sessions_for_user(self, user_id: str, emissions: Emissions) -> Flow[int]:
        user_id = check_user_id(user_id)
        yield from self.ready()
        handles: list[str] = []
        if self.hooks.on_session_revoked is not None:  # only then is it worth a read
            handles = yield from self.get_all_session_handles_for_user(user_id)
        count: int = yield _call("delete_user_sessions", user_id)
        for handle in handles:
            emissions.append(
                Emission(self.hooks.on_session_revoked, SessionRevoked(handle, user_id, "admin"))
            )
        return count

    def list_sessions_for_user(self, user_id: str) -> Flow[list[SessionSummary]]:
        user_id = check_user_id(user_id)
        yield from self.ready()
        rows: list[SessionSummary] = yield _call("list_user_sessions", user_id, self.now_ms())
        # The column compares exactly on every backend; this guards tables not yet migrated.
        return [row for row in rows if row.user_id == user_id]

    def get_all_session_handles_for_user(self, user_id: str) -> Flow[list[str]]:
        rows = yield from self.list_sessions_for_user(user_id)
        return [row.handle for row in rows]

    def get_session_data(self, session_handle: str) -> Flow[JSON]:
        handle = check_identifier(session_handle, "session_handle")
        yield from self.ready()
        found, data_json = yield _call("get_session_data", handle, self.now_ms())
        if not found:
            raise UnauthorisedError("the session does not exist or has expired")
        return None if data_json is None else json.loads(data_json)

    def update_session_data(self, session_handle: str, session_data: JSON) -> Flow[None]:
        handle = check_identifier(session_handle, "session_handle")
        data_json = to_json(session_data, "session_data", MAX_SESSION_DATA_BYTES)
        yield from self.ready()
        updated = yield _call("update_session_data", handle, data_json, self.now_ms())
        if not updated:
            raise UnauthorisedError("the session does not exist or has expired")

    def purge_expired(self) -> Flow[int]:
        """Delete expired sessions and signing keys that can no longer verify anything."""
        yield from self.ready()
        now = self.now_ms()
        count: int = yield _call("purge_expired", now)
        rows = yield _call("load_keys")
        dead = expired_key_names(rows, now_ms=now, verify_window_ms=self._verify_window_ms)
        yield _call("delete_keys", dead)
        self._last_purge_ms = now
        return count

    def _purge_if_due(self, now: int) -> Flow[None]:
        if purge_due(now, self._last_purge_ms, self.config.purge_interval * 1000):
            yield from self.purge_expired()


def _run_sync(store: SessionStore, flow: Flow[T]) -> T:
    """Drive a flow by answering each storage call from a sync store."""
    try:
        method, args = next(flow)
        while True:
            method, args = flow.send(getattr(store, method)(*args))
    except StopIteration as stop:
        return cast(T, stop.value)


async def _run_async(store: AsyncSessionStore, flow: Flow[T]) -> T:
    """Drive a flow by awaiting each storage call on an async store."""
    try:
        method, args = next(flow)
        while True:
            method, args = flow.send(await getattr(store, method)(*args))
    except StopIteration as stop:
        return cast(T, stop.value)


def _build_config(config: Config | None, settings: dict[str, Any]) -> Config:
    if config is not None and settings:
        raise ConfigError("pass either a Config or keyword settings, not both")
    if config is None:
        try:
            return Config(**settings)
        except TypeError as exc:
            raise ConfigError(str(exc)) from None
    if not isinstance(config, Config):
        raise ConfigError(f"config must be a sessionward.Config; got {type(config).__name__}")
    return config


class SessionManager:
    """Sessions for a synchronous application (Flask, Django, scripts). Thread-safe.

    ``SessionManager(refresh_path="/session/refresh")`` uses the embedded SQLite default; pass
    ``database_url=…`` (or ``engine=`` to share the application's SQLAlchemy engine).
    """

    def __init__(
        self,
        config: Config | None = None,
        *,
        engine: Engine | None = None,
        store: SessionStore | None = None,
        clock: Clock = time.time,
        hooks: SessionHooks = NO_HOOKS,
        **settings: Any,
    ) -> None:
        self.config = _build_config(config, settings)
        hooks.check(allow_async=False)
        if store is None:
            statements = build_statements(
                self.config.signing_key_table, self.config.refresh_token_table
            )
            own_engine = engine is None
            if engine is None:
                engine = create_sync_engine(self.config.database_url)
            store = SyncSqlStore(engine, statements, autocommit=own_engine)
        self.store = store
        self._logic = SessionLogic(self.config, clock, hooks)

    def _run(self, flow: Flow[T], emissions: Emissions = _NONE) -> T:
        """Drive ``flow``; then hand its events to the hooks (also when it raised)."""
        try:
            return _run_sync(self.store, flow)
        finally:
            for emission in emissions:
                emit_sync(emission)

    def create_tables(self) -> None:
        """Create the tables and keys now instead of on first use."""
        self._run(self._logic.ready())

    def create_new_session(
        self,
        user_id: str,
        jwt_payload: JSON = None,
        session_data: JSON = None,
        *,
        client: ClientContext | None = None,
        proof: ProofOfPossession | None = None,
    ) -> SessionTokens:
        """Log ``user_id`` in: a new handle, a new token set, one new row.

        ``client``: who is logging in (stored, and compared by the grace window). ``proof``: a
        DPoP proof whose key the session is then bound to (every refresh must prove it).
        """
        emissions: Emissions = []
        flow = self._logic.create_new_session(
            user_id, jwt_payload, session_data, client, proof, emissions
        )
        return self._run(flow, emissions)

    def get_session(self, access_token: str, anti_csrf_token: str | None = None) -> VerifiedSession:
        """Verify an access token; send ``new_access_token`` back to the client when set."""
        quick = self._logic.quick_get_session(access_token, anti_csrf_token)
        if quick is not None:
            return quick
        return self._run(self._logic.get_session(access_token, anti_csrf_token))

    def refresh_session(
        self,
        refresh_token: str,
        *,
        client: ClientContext | None = None,
        proof: ProofOfPossession | None = None,
    ) -> SessionTokens:
        """Rotate: new access, refresh, id-refresh and anti-CSRF tokens.

        ``client``: who presents the token (the grace window serves a duplicate only to the
        client that refreshed first). ``proof``: required for a session bound to a key.
        """
        emissions: Emissions = []
        flow = self._logic.refresh_session(refresh_token, client, proof, emissions)
        return self._run(flow, emissions)

    def revoke_session(self, session_handle: str, *, reason: RevokeReason = "admin") -> bool:
        """Delete the session; True if it existed. ``reason`` goes to the revoked event."""
        emissions: Emissions = []
        return self._run(self._logic.revoke_session(session_handle, reason, emissions), emissions)

    def revoke_all_sessions_for_user(self, user_id: str) -> int:
        """Delete all of a user's sessions; returns how many there were."""
        emissions: Emissions = []
        flow = self._logic.revoke_all_sessions_for_user(user_id, emissions)
        return self._run(flow, emissions)

    def get_all_session_handles_for_user(self, user_id: str) -> list[str]:
        """Handles of the user's live sessions, oldest first."""
        return self._run(self._logic.get_all_session_handles_for_user(user_id))

    def list_sessions_for_user(self, user_id: str) -> list[SessionSummary]:
        """The user's live sessions with creation and expiry times, oldest first."""
        return self._run(self._logic.list_sessions_for_user(user_id))

    def get_session_data(self, session_handle: str) -> JSON:
        """The server-side data of a session; UnauthorisedError when it is gone."""
        return self._run(self._logic.get_session_data(session_handle))

    def update_session_data(self, session_handle: str, session_data: JSON) -> None:
        """Replace the server-side data of a session; UnauthorisedError when it is gone."""
        self._run(self._logic.update_session_data(session_handle, session_data))

    def purge_expired_sessions(self) -> int:
        """Delete expired sessions (and dead signing keys) now; returns the sessions deleted."""
        return self._run(self._logic.purge_expired())

    def rotate_signing_key(self) -> str:
        """Start signing with a new key now; returns its kid. Old tokens keep verifying."""
        return self._run(self._logic.rotate_signing_key())

    def signing_keys(self) -> list[SigningKey]:
        """The signing keys in use, oldest first."""
        return self._run(self._logic.signing_keys())

    def close(self) -> None:
        """Release the database connections."""
        close = getattr(self.store, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> SessionManager:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncSessionManager:
    """Sessions for an asyncio application (Starlette, FastAPI): the same methods, awaited."""

    def __init__(
        self,
        config: Config | None = None,
        *,
        engine: AsyncEngine | None = None,
        store: AsyncSessionStore | None = None,
        clock: Clock = time.time,
        hooks: SessionHooks = NO_HOOKS,
        **settings: Any,
    ) -> None:
        self.config = _build_config(config, settings)
        hooks.check(allow_async=True)
        if store is None:
            statements = build_statements(
                self.config.signing_key_table, self.config.refresh_token_table
            )
            own_engine = engine is None
            if engine is None:
                engine = create_async_sql_engine(self.config.database_url)
            store = AsyncSqlStore(engine, statements, autocommit=own_engine)
        self.store = store
        self._logic = SessionLogic(self.config, clock, hooks)

    async def _run(self, flow: Flow[T], emissions: Emissions = _NONE) -> T:
        """Drive ``flow``; then hand its events to the hooks (also when it raised)."""
        try:
            return await _run_async(self.store, flow)
        finally:
            for emission in emissions:
                await emit_async(emission)

    async def create_tables(self) -> None:
        """Create the tables and keys now instead of on first use."""
        await self._run(self._logic.ready())

    async def create_new_session(
        self,
        user_id: str,
        jwt_payload: JSON = None,
        session_data: JSON = None,
        *,
        client: ClientContext | None = None,
        proof: ProofOfPossession | None = None,
    ) -> SessionTokens:
        """Log ``user_id`` in: a new handle, a new token set, one new row (see the sync
        manager for ``client`` and ``proof``)."""
        emissions: Emissions = []
        flow = self._logic.create_new_session(
            user_id, jwt_payload, session_data, client, proof, emissions
        )
        return await self._run(flow, emissions)

    async def get_session(
        self, access_token: str, anti_csrf_token: str | None = None
    ) -> VerifiedSession:
        """Verify an access token; send ``new_access_token`` back to the client when set."""
        quick = self._logic.quick_get_session(access_token, anti_csrf_token)
        if quick is not None:
            return quick
        return await self._run(self._logic.get_session(access_token, anti_csrf_token))

    async def refresh_session(
        self,
        refresh_token: str,
        *,
        client: ClientContext | None = None,
        proof: ProofOfPossession | None = None,
    ) -> SessionTokens:
        """Rotate: new access, refresh, id-refresh and anti-CSRF tokens (see the sync manager
        for ``client`` and ``proof``)."""
        emissions: Emissions = []
        flow = self._logic.refresh_session(refresh_token, client, proof, emissions)
        return await self._run(flow, emissions)

    async def revoke_session(self, session_handle: str, *, reason: RevokeReason = "admin") -> bool:
        """Delete the session; True if it existed. ``reason`` goes to the revoked event."""
        emissions: Emissions = []
        flow = self._logic.revoke_session(session_handle, reason, emissions)
        return await self._run(flow, emissions)

    async def revoke_all_sessions_for_user(self, user_id: str) -> int:
        """Delete all of a user's sessions; returns how many there were."""
        emissions: Emissions = []
        flow = self._logic.revoke_all_sessions_for_user(user_id, emissions)
        return await self._run(flow, emissions)

    async def get_all_session_handles_for_user(self, user_id: str) -> list[str]:
        """Handles of the user's live sessions, oldest first."""
        return await self._run(self._logic.get_all_session_handles_for_user(user_id))

    async def list_sessions_for_user(self, user_id: str) -> list[SessionSummary]:
        """The user's live sessions with creation and expiry times, oldest first."""
        return await self._run(self._logic.list_sessions_for_user(user_id))

    async def get_session_data(self, session_handle: str) -> JSON:
        """The server-side data of a session; UnauthorisedError when it is gone."""
        return await self._run(self._logic.get_session_data(session_handle))

    async def update_session_data(self, session_handle: str, session_data: JSON) -> None:
        """Replace the server-side data of a session; UnauthorisedError when it is gone."""
        await self._run(self._logic.update_session_data(session_handle, session_data))

    async def purge_expired_sessions(self) -> int:
        """Delete expired sessions (and dead signing keys) now; returns the sessions deleted."""
        return await self._run(self._logic.purge_expired())

    async def rotate_signing_key(self) -> str:
        """Start signing with a new key now; returns its kid. Old tokens keep verifying."""
        return await self._run(self._logic.rotate_signing_key())

    async def signing_keys(self) -> list[SigningKey]:
        """The signing keys in use, oldest first."""
        return await self._run(self._logic.signing_keys())

    async def close(self) -> None:
        """Release the database connections."""
        close = getattr(self.store, "close", None)
        if close is not None:
            await close()

    async def __aenter__(self) -> AsyncSessionManager:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
