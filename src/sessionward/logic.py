"""Every operation of docs/protocol.md#operations-and-errors, written once as a flow (see
:mod:`sessionward.flows`).

Both managers run these flows: the sync one on a sync store, the async one on an async store.
The decisions come from :mod:`sessionward.protocol`; the statements from
:mod:`sessionward.storage.queries`; this module sequences them.

The common cases cost one statement each: a refresh by the current parent
(:meth:`Queries.refresh_by_parent`), the promotion of a confirmed child
(:meth:`Queries.promote_child`), a login, a logout. The row is read, and the decision taken on
it by the pure functions of ``protocol.py`` and written back by compare-and-set, only when that
one statement matched nothing: a duplicate inside the grace window, a child refreshed before its
access token was used, theft, a revoked session, a payload changed since the token was issued.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from sessionward.clients import clean_client, network_of
from sessionward.config import Algorithm, Config
from sessionward.devices import device_label
from sessionward.encoding import b64url
from sessionward.errors import (
    ANTI_CSRF_MISMATCH,
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
)
from sessionward.keyring import Keys
from sessionward.models import (
    JSON,
    ClientContext,
    PublishedKeys,
    Session,
    SessionRow,
    SessionSummary,
    SessionTokens,
    Token,
    VerifiedSession,
)
from sessionward.proof import InvalidProof, ProofOfPossession, SeenProofs, verify_proof
from sessionward.protocol import (
    Presentation,
    PromotionOutcome,
    RefreshDecision,
    RefreshOutcome,
    RowUpdate,
    Timing,
    child_takes_row_payload,
    csrf_matches,
    decide_promotion,
    decide_refresh,
    next_payload_version,
    purge_due,
    sha256_hex,
)
from sessionward.revocations import READ_MARGIN_MS, Revocation, RevocationCache
from sessionward.storage.execution import StoreFlow
from sessionward.storage.queries import Queries
from sessionward.storage.schema import build_statements
from sessionward.tokens.access import (
    MAX_COOKIE_TOKEN_LENGTH,
    AccessClaims,
    AccessContent,
    InvalidAccessToken,
    UnknownSigningKey,
    sign_access_token,
    verify_access_token,
)
from sessionward.tokens.keys import SigningKey
from sessionward.tokens.refresh import InvalidRefreshToken, RefreshClaims
from sessionward.validation import (
    MAX_JWT_PAYLOAD_BYTES,
    MAX_SESSION_DATA_BYTES,
    check_identifier,
    check_user_id,
    merged_payload,
    to_json,
)

logger = logging.getLogger("sessionward")

Clock = Callable[[], float]
Emissions = list[Emission[Any]]
REVOCATION_PURGE_INTERVAL_MS = 300_000
MAX_DECISION_ATTEMPTS = 10  # each lost compare-and-set means another request moved the row on


def _recency(session: SessionSummary) -> tuple[int, int, str]:
    """How recently a session was active, as a total order (the handle breaks ties)."""
    return (session.last_refreshed_at or 0, session.created_at or 0, session.handle)


def _log_theft(event: TokenTheft) -> None:
    """Say at WARNING that a theft was detected, and that its session was revoked if it was.

    Logged whether or not an ``on_token_theft`` hook is configured: a deployment that set no
    hooks must still see an attack in its logs. Only what an operator needs to act on is named
    (the handle, the reason, and the /24 or /64 of the first and the replaying client, the
    networks the grace window compares); never a token, nor a hash of one.
    """
    first = event.first_client.ip if event.first_client else None
    replay = event.replay_client.ip if event.replay_client else None
    logger.warning(
        "sessionward: token theft detected on session %s (%s): first client's network %s, "
        "replaying client's network %s",
        event.session_handle,
        event.reason.value,
        network_of(first) or "unknown",
        network_of(replay) or "unknown",
    )
    if event.session_revoked:
        logger.warning(
            "sessionward: session %s revoked because of token theft (%s)",
            event.session_handle,
            event.reason.value,
        )


def _contention() -> GeneralError:
    return GeneralError("the session kept changing under concurrent requests; try again")


class SessionLogic:
    """The operations as flows, and the state they share (keys, seen proofs, the last purge)."""

    def __init__(self, config: Config, clock: Clock = time.time, hooks: SessionHooks = NO_HOOKS):
        self.config = config
        self.hooks = hooks
        self._clock = clock
        self.queries = Queries(
            build_statements(
                config.signing_key_table, config.refresh_token_table, config.revocation_table
            )
        )
        self.keys = Keys(config, self.queries, self.now_ms)
        self._seen_proofs = SeenProofs()
        self._last_purge_ms: int | None = None
        self._leeway_ms = config.access_token_leeway * 1000
        lifetime = config.absolute_session_lifetime
        self._lifetime_ms = None if lifetime is None else lifetime * 1000
        self._revocation_mode = config.revocation_mode
        self._revocations_purged_ms = self.now_ms()  # the first purge: minutes from now
        self.revocations = RevocationCache(int(config.revocation_refresh_interval * 1000))
        # How long a revocation can matter: until the last access token it concerns expires.
        self._revocation_life_ms = (
            config.access_token_validity_ms + self._leeway_ms + READ_MARGIN_MS
        )

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    def ready(self) -> StoreFlow[None]:
        """Create the tables if missing and load (or create) the keys; once per process."""
        return self.keys.ready()

    # --- tokens ------------------------------------------------------------------------------

    def _timing(self, now: int) -> Timing:
        return Timing(
            now_ms=now,
            refresh_validity_ms=self.config.refresh_token_validity_ms,
            grace_window_ms=self.config.refresh_grace_window * 1000,
            absolute_lifetime_ms=self._lifetime_ms,
        )

    def _access_token(
        self, key: SigningKey, content: AccessContent, now: int, not_after: int | None = None
    ) -> Token:
        """Sign ``content``; it expires after the validity, but never after ``not_after`` (the
        session's end), so no access token outlives its session."""
        expires = now + self.config.access_token_validity_ms
        if not_after is not None:
            expires = min(expires, not_after)
        expires = expires // 1000 * 1000
        value = sign_access_token(key, content, expires)
        if len(value) > MAX_COOKIE_TOKEN_LENGTH:
            raise InvalidArgumentError(
                f"the access token would be {len(value)} characters, more than browsers keep in "
                "a cookie: shorten jwt_payload (keep large values in session_data)"
            )
        return Token(value, expires)

    def _child_refresh_token(self, parent: RefreshClaims, parent_hash_1: str, anchor: int) -> str:
        """The one child of a parent for an anchor time (see :mod:`sessionward.protocol`);
        random when the grace window is off.

        Its own expiry is an upper bound (anchor + twice the validity): the row's expiry, which
        promotion extends, is what actually ends the session. ``parent`` supplies what the child
        carries on (creation time, payload and its version, re-authentication time).
        """
        claims = RefreshClaims(
            parent.handle,
            parent.user_id,
            parent_hash_1,
            anchor + 2 * self.config.refresh_token_validity_ms,
            parent.created_at_ms,
            parent.payload_json,
            parent.payload_version,
            parent.authenticated_at_ms,
        )
        if self.config.refresh_grace_window == 0:  # the original: every child is random
            return self.keys.cipher.seal(claims)
        seed = f"{parent_hash_1}:{anchor}"
        if parent.payload_version is not None:
            # Each payload version its own seed: one nonce never seals two contents.
            seed += f":v{parent.payload_version}"
        return self.keys.cipher.seal(claims, seed=seed)

    def _id_refresh_token(self, refresh_hash_1: str) -> str:
        """The id-refresh token that goes with a refresh token: derived, so it is the same
        whenever that refresh token is issued again, and only this deployment can compute it."""
        return b64url(self.keys.derivation.derive("id-refresh", refresh_hash_1)[:24])

    def _token_set(
        self,
        key: SigningKey,
        *,
        refresh_token: str,
        claims: RefreshClaims,
        parent_hash_1: str | None,
        session_expires: int,
        now: int,
        access_not_after: int | None = None,
    ) -> SessionTokens:
        """Everything issued with ``refresh_token``; anti-CSRF and id-refresh tokens derive from it,
        so that a re-issued refresh token comes with the very same companions. The access token
        expires after its validity, but not after the session, nor after ``access_not_after``."""
        refresh_hash_1 = sha256_hex(refresh_token)
        anti_csrf = None
        if self.config.anti_csrf:
            anti_csrf = b64url(self.keys.derivation.derive("anti-csrf", refresh_hash_1))
        payload_json = claims.payload_json or "null"
        content = AccessContent(
            claims.handle,
            claims.user_id,
            refresh_hash_1,
            parent_hash_1,
            anti_csrf,
            payload_json,
            claims.created_at_ms,
            claims.authenticated_at_ms,
        )
        not_after = session_expires
        if access_not_after is not None:
            not_after = min(not_after, access_not_after)
        access = self._access_token(key, content, now, not_after=not_after)
        authenticated_at = claims.authenticated_at_ms or claims.created_at_ms
        return SessionTokens(
            session=Session(
                claims.handle, claims.user_id, json.loads(payload_json), authenticated_at
            ),
            access_token=access,
            refresh_token=Token(refresh_token, session_expires),
            id_refresh_token=Token(self._id_refresh_token(refresh_hash_1), session_expires),
            anti_csrf_token=anti_csrf,
        )

    def _session_end(self, claims: AccessClaims) -> int | None:
        """When the absolute lifetime ends the session of ``claims`` (None: not bounded)."""
        if self._lifetime_ms is None or claims.created_at_ms is None:
            return None
        return claims.created_at_ms + self._lifetime_ms

    def _verify(self, access_token: object, anti_csrf_token: str | None, now: int) -> AccessClaims:
        try:
            claims = verify_access_token(access_token, self.keys.ring, now - self._leeway_ms)
        except UnknownSigningKey:
            raise
        except InvalidAccessToken:
            raise TryRefreshTokenError("the access token is invalid or expired") from None
        if self.config.anti_csrf and not csrf_matches(claims.anti_csrf, anti_csrf_token):
            raise TryRefreshTokenError(
                "the anti-CSRF token does not match", reason=ANTI_CSRF_MISMATCH
            )
        return claims

    # --- create ------------------------------------------------------------------------------

    def create_new_session(
        self,
        user_id: str,
        jwt_payload: JSON,
        session_data: JSON,
        client: ClientContext | None,
        proof: ProofOfPossession | None,
        emissions: Emissions,
    ) -> StoreFlow[SessionTokens]:
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
        key = yield from self.keys.signing_key(now)
        yield from self._purge_if_due(now)
        handle = str(uuid.uuid4())
        expires = now + self.config.refresh_token_validity_ms
        if self._lifetime_ms is not None:
            expires = min(expires, now + self._lifetime_ms)
        claims = RefreshClaims(handle, user_id, None, expires, now, payload_json, None)
        refresh_token = self.keys.cipher.seal(claims)
        tokens = self._token_set(
            key,
            refresh_token=refresh_token,
            claims=claims,
            parent_hash_1=None,
            session_expires=expires,
            now=now,
        )
        yield from self.queries.insert_session(
            dict(
                session_handle=handle,
                user_id=user_id,
                refresh_token_hash_2=sha256_hex(sha256_hex(refresh_token)),
                session_info=data_json,
                expires_at=expires,
                jwt_user_payload=payload_json,
                created_at=now,
                parent_issued_at=None,
                child_issued_at=None,
                created_ip=client.ip if client else None,
                created_user_agent=client.user_agent if client else None,
                refreshed_at=None,
                refreshed_ip=None,
                refreshed_user_agent=None,
                pop_key_thumbprint=thumbprint,
                payload_version=None,
                authenticated_at=None,
            )
        )
        emissions.append(
            Emission(
                self.hooks.on_session_created,
                SessionCreated(handle, user_id, client, thumbprint is not None),
            )
        )
        yield from self._evict_beyond_cap(user_id, emissions)
        return tokens

    # --- verify ------------------------------------------------------------------------------

    def quick_get_session(
        self, access_token: object, anti_csrf_token: str | None
    ) -> VerifiedSession | None:
        """``get_session`` when it needs no I/O (the common case), else None: run the flow."""
        now = self.now_ms()
        try:
            claims = self._verify(access_token, anti_csrf_token, now)
        except UnknownSigningKey:
            return None
        if claims.parent_hash_1 is not None:
            return None
        mode = self._revocation_mode
        if mode == "cached":
            if self.revocations.due(now):
                return None  # the flow reads the new revocations first
            if self.revocations.revoked(claims.handle, claims.user_id, claims.created_at_ms):
                raise UnauthorisedError("the session was revoked")
        elif mode == "exact":
            return None
        session = Session(claims.handle, claims.user_id, claims.payload, claims.authenticated_at)
        return VerifiedSession(session)

    def get_session(
        self, access_token: object, anti_csrf_token: str | None
    ) -> StoreFlow[VerifiedSession]:
        now = self.now_ms()
        try:
            claims = self._verify(access_token, anti_csrf_token, now)
        except UnknownSigningKey as exc:
            yield from self.keys.reload_for_unknown_key(exc.header_segment, now)
            try:
                claims = self._verify(access_token, anti_csrf_token, now)
            except UnknownSigningKey:
                raise TryRefreshTokenError("the access token's signing key is unknown") from None
        session = Session(claims.handle, claims.user_id, claims.payload, claims.authenticated_at)
        if self._revocation_mode == "cached":
            yield from self._read_revocations(now)
            if self.revocations.revoked(claims.handle, claims.user_id, claims.created_at_ms):
                raise UnauthorisedError("the session was revoked")
        if claims.parent_hash_1 is None:
            if self._revocation_mode == "exact":
                alive = yield from self.queries.session_alive(claims.handle, now)
                if not alive:
                    raise UnauthorisedError("the session was revoked or has expired")
            return VerifiedSession(session)
        yield from self._confirm(claims, now)
        return VerifiedSession(session, (yield from self._confirmed_token(claims, now)))

    def _confirmed_token(self, claims: AccessClaims, now: int) -> StoreFlow[Token]:
        """The replacement for a confirmed access token: the same claims without ``prt``, and
        the presented token's own expiry.

        Why the old expiry and not a fresh validity: the token carries the payload it was
        issued with, and the row may have changed since (``merge_into_jwt_payload_for_user``
        removing a role). Re-signing that payload with a new validity would let a removed claim
        live for up to two validities after the change. Keeping the expiry means no access
        token carries a claim longer than one validity plus leeway after its removal, at no
        cost: the confirmation stays the one ``UPDATE`` of :meth:`Queries.promote_child`, where
        putting the row's current payload in would need a read of the row on every
        confirmation (the access token carries no payload version to compare in the
        statement). A client that confirms late simply refreshes sooner; that refresh reads the
        row whenever the payload changed, so it carries the current payload.
        """
        key = yield from self.keys.signing_key(now)
        payload_json = to_json(claims.payload, "jwt_payload", MAX_SESSION_DATA_BYTES)
        content = AccessContent(
            claims.handle,
            claims.user_id,
            claims.refresh_hash_1,
            None,
            claims.anti_csrf,
            payload_json,
            claims.created_at_ms,
            claims.authenticated_at_ms,
        )
        end = self._session_end(claims)
        not_after = claims.expires_ms if end is None else min(end, claims.expires_ms)
        return self._access_token(key, content, now, not_after=not_after)

    def _confirm(self, claims: AccessClaims, now: int) -> StoreFlow[None]:
        """docs/protocol.md#verifying-a-request step 5: the access token's refresh token is
        confirmed: promoted if the row still holds its parent (one statement), or already
        current."""
        assert claims.parent_hash_1 is not None
        parent_hash_2 = sha256_hex(claims.parent_hash_1)
        child_hash_2 = sha256_hex(claims.refresh_hash_1)
        renewed, lifetime = now + self.config.refresh_token_validity_ms, self._lifetime_ms
        promoted = yield from self.queries.promote_child(
            claims.handle, claims.user_id, parent_hash_2, child_hash_2, now, renewed, lifetime
        )
        if promoted:
            return
        timing = self._timing(now)
        for _ in range(MAX_DECISION_ATTEMPTS):
            row = yield from self.queries.read_session(claims.handle)
            decision = decide_promotion(
                row,
                token_user_id=claims.user_id,
                refresh_hash_1=claims.refresh_hash_1,
                parent_refresh_hash_1=claims.parent_hash_1,
                timing=timing,
            )
            if decision.outcome is PromotionOutcome.UNAUTHORISED:
                raise UnauthorisedError("the session was revoked, has expired, or moved on")
            if decision.outcome is PromotionOutcome.ALREADY_CURRENT:
                return
            assert row is not None
            if (yield from self.queries.apply_change(row, decision.change)):
                return
        raise _contention()

    # --- refresh -----------------------------------------------------------------------------

    def refresh_session(
        self,
        refresh_token: object,
        client: ClientContext | None,
        proof: ProofOfPossession | None,
        emissions: Emissions,
    ) -> StoreFlow[SessionTokens]:
        yield from self.ready()
        now = self.now_ms()
        try:
            token = self.keys.cipher.open(refresh_token)
        except InvalidRefreshToken:
            raise UnauthorisedError("the refresh token is invalid") from None
        if token.expires_ms <= now:
            raise UnauthorisedError("the refresh token has expired")
        assert isinstance(refresh_token, str)
        if (
            self._lifetime_ms is not None
            and token.created_at_ms is not None
            and token.created_at_ms + self._lifetime_ms <= now
        ):
            raise UnauthorisedError("the session has reached its absolute lifetime")
        client = clean_client(client)
        refresh_hash_1 = sha256_hex(refresh_token)
        presented = Presentation(
            user_id=token.user_id,
            hash_2=sha256_hex(refresh_hash_1),
            parent_hash_1=token.parent_hash_1,
            client=client,
            proof_thumbprint=self._proof_thumbprint(proof, refresh_token, refresh_hash_1, now),
            proof_presented=proof is not None,
        )
        key = yield from self.keys.signing_key(now)
        decided_in_one = False
        if token.created_at_ms is not None and token.payload_json is not None:
            # The common case, decided and recorded by one statement (tokens of older versions
            # carry no payload, and take the path below).
            decided_in_one = yield from self.queries.refresh_by_parent(
                handle=token.handle,
                hash_2=presented.hash_2,
                user_id=token.user_id,
                now=now,
                grace_cutoff=now - self.config.refresh_grace_window * 1000 - 1,
                payload_version=token.payload_version,
                pop_thumbprint=presented.proof_thumbprint,
                client=client,
            )
        access_not_after = None
        if decided_in_one:
            anchor, carried, repeated = now, token, False
        else:
            decision = yield from self._decide_refresh(
                token, refresh_hash_1, presented, now, emissions
            )
            assert decision.row is not None and decision.child_anchor is not None
            anchor = decision.child_anchor
            carried = self._carried(token, decision.row, anchor)
            repeated = decision.change.new_hash_2 is None
            if decision.row.payload_version not in (None, carried.payload_version):
                # A duplicate inside the grace window is served the first refresh's child, with
                # the payload it had before a change made since: its access token expires when
                # the first one's did, so that a removed claim outlives its removal by no more
                # than one access-token validity (plus leeway).
                access_not_after = anchor + self.config.access_token_validity_ms
        child = self._child_refresh_token(carried, refresh_hash_1, anchor)
        emissions.append(
            Emission(
                self.hooks.on_session_refreshed,
                SessionRefreshed(token.handle, token.user_id, client, repeated=repeated),
            )
        )
        expires = now + self.config.refresh_token_validity_ms
        if self._lifetime_ms is not None and carried.created_at_ms is not None:
            expires = min(expires, carried.created_at_ms + self._lifetime_ms)
        return self._token_set(
            key,
            refresh_token=child,
            claims=carried,
            parent_hash_1=refresh_hash_1,
            session_expires=expires,
            now=now,
            access_not_after=access_not_after,
        )

    @staticmethod
    def _carried(token: RefreshClaims, row: SessionRow, anchor: int) -> RefreshClaims:
        """What the child for ``anchor`` carries on: the row's creation time, and the payload
        (with its version and re-authentication time) that ``child_takes_row_payload`` picks,
        so that a duplicate gets exactly the child the first refresh got."""
        created = row.created_at if row.created_at is not None else token.created_at_ms
        if child_takes_row_payload(
            token.payload_version, token.payload_json is not None, row.payload_version, anchor
        ):
            payload_json = row.jwt_payload_json or "null"
            version, authenticated = row.payload_version, row.authenticated_at
        else:
            assert token.payload_json is not None
            payload_json = token.payload_json
            version, authenticated = token.payload_version, token.authenticated_at_ms
        return RefreshClaims(
            token.handle,
            token.user_id,
            token.parent_hash_1,
            token.expires_ms,
            created,
            payload_json,
            version,
            authenticated,
        )

    def _decide_refresh(
        self,
        token: RefreshClaims,
        refresh_hash_1: str,
        presented: Presentation,
        now: int,
        emissions: Emissions,
    ) -> StoreFlow[RefreshDecision]:
        """The uncommon cases: read the row, decide (docs/protocol.md#when-a-refresh-is-theft),
        write by compare-and-set; theft and unauthorised end here, reported."""
        timing = self._timing(now)
        for _ in range(MAX_DECISION_ATTEMPTS):
            row = yield from self.queries.read_session(token.handle)

            def child_hash_2(anchor: int, row: SessionRow | None = row) -> str:
                assert row is not None  # asked only about a live row
                carried = self._carried(token, row, anchor)
                child = self._child_refresh_token(carried, refresh_hash_1, anchor)
                return sha256_hex(sha256_hex(child))

            decision = decide_refresh(
                row,
                presented,
                child_hash_2=child_hash_2,
                timing=timing,
                binding=self.config.refresh_grace_binding,
                revoke_on_theft=self.config.revoke_session_on_theft,
            )
            if row is not None and not (yield from self._write(row, decision.change)):
                continue  # the row moved on meanwhile: read it again, decide again
            if decision.outcome is RefreshOutcome.UNAUTHORISED:
                raise UnauthorisedError("the session was revoked or has expired")
            if decision.outcome is RefreshOutcome.THEFT:
                if decision.change.delete:
                    yield from self._record_revocation(now, handle=token.handle)
                raise self._theft(decision, token, presented, now, emissions)
            return decision
        raise _contention()

    def _write(self, row: SessionRow, change: RowUpdate) -> StoreFlow[bool]:
        """Apply a decision's change to the row as read; True if there was none to apply."""
        if change.new_hash_2 is None and not change.delete:
            return True
        return (yield from self.queries.apply_change(row, change))

    def _theft(
        self,
        decision: RefreshDecision,
        token: RefreshClaims,
        presented: Presentation,
        now: int,
        emissions: Emissions,
    ) -> TokenTheftDetectedError:
        """The error to raise, after recording the theft event (and the revocation, if any)."""
        row, reason = decision.row, decision.theft_reason
        assert row is not None and reason is not None
        revoked = decision.change.delete
        event = TokenTheft(
            session_handle=token.handle,
            user_id=token.user_id,
            reason=reason,
            token_fingerprint=presented.hash_2[:16],
            seconds_since_rotation=None
            if decision.rotated_at is None
            else (now - decision.rotated_at) / 1000,
            first_client=ClientContext(row.refreshed_ip, row.refreshed_user_agent),
            replay_client=presented.client,
            session_revoked=revoked,
        )
        emissions.append(Emission(self.hooks.on_token_theft, event))
        _log_theft(event)
        if revoked:
            revocation = SessionRevoked(token.handle, token.user_id, RevokeReason.THEFT)
            emissions.append(Emission(self.hooks.on_session_revoked, revocation))
        return TokenTheftDetectedError(token.handle, token.user_id, reason.value)

    def _proof_thumbprint(
        self,
        proof: ProofOfPossession | None,
        refresh_token: str,
        refresh_hash_1: str,
        now: int,
    ) -> str | None:
        """The thumbprint of a valid, first-seen proof for this refresh token, else None."""
        if proof is None:
            return None
        tokens = (refresh_token, self._id_refresh_token(refresh_hash_1))
        try:
            verified = verify_proof(proof, now_s=now / 1000, tokens=tokens)
        except InvalidProof:
            return None
        if not self._seen_proofs.first_use(f"{verified.thumbprint}:{verified.jti}", now / 1000):
            return None
        return verified.thumbprint

    # --- the rest ----------------------------------------------------------------------------

    # --- revocation (docs/protocol.md#revocation) --------------------------------------------

    def _record_revocation(
        self,
        now: int,
        *,
        handle: str | None = None,
        user_id: str | None = None,
        not_before: int | None = None,
    ) -> StoreFlow[None]:
        """For the cached check: write a revocation (other processes read it within their
        interval) and know it here at once. Written before the session is deleted, so that a
        failure between the two can only leave a revoked session's tokens refused, never the
        other way round."""
        if self._revocation_mode != "cached":
            return
        revocation = Revocation(handle, user_id, not_before, now, now + self._revocation_life_ms)
        yield from self.queries.insert_revocation(revocation)
        self.revocations.learn([revocation], now)
        # Rows are useful for an access token's life only: keep the table that small, without
        # waiting for the weekly purge (one indexed DELETE per process every few minutes).
        if now - self._revocations_purged_ms >= REVOCATION_PURGE_INTERVAL_MS:
            self._revocations_purged_ms = now
            yield from self.queries.purge_revocations(now)

    def _read_revocations(self, now: int) -> StoreFlow[None]:
        """Read the revocations written since the last read, if the interval is over and no
        other request is reading already. A failed read is logged and retried after an
        interval: meanwhile verify goes on with what is known."""
        cache = self.revocations
        if not cache.due(now) or not cache.begin_read():
            return
        try:
            try:
                found = yield from self.queries.revocations_since(cache.read_since(), now)
            except GeneralError as exc:
                logger.warning(
                    "sessionward: revocations could not be read (%s); verify goes on with what "
                    "this process knows and reads again after revocation_refresh_interval (%s s)",
                    exc,
                    self.config.revocation_refresh_interval,
                )
                cache.read_failed(now)
                return
            cache.learn(found, self.now_ms())
            cache.read_done(now, self.now_ms())
        finally:
            cache.end_read()

    def _revoke_one(
        self, handle: str, user_id: str | None, reason: RevokeReason, emissions: Emissions
    ) -> StoreFlow[bool]:
        """Record the revocation, delete the row, report it; True if the session existed."""
        yield from self._record_revocation(self.now_ms(), handle=handle)
        deleted = yield from self.queries.delete_session(handle)
        if deleted:
            emissions.append(
                Emission(self.hooks.on_session_revoked, SessionRevoked(handle, user_id, reason))
            )
        return deleted

    def revoke_session(
        self, session_handle: str, reason: RevokeReason, emissions: Emissions
    ) -> StoreFlow[bool]:
        handle = check_identifier(session_handle, "session_handle")
        yield from self.ready()
        return (yield from self._revoke_one(handle, None, reason, emissions))

    def revoke_all_sessions_for_user(self, user_id: str, emissions: Emissions) -> StoreFlow[int]:
        user_id = check_user_id(user_id)
        yield from self.ready()
        handles: list[str] = []
        if self.hooks.on_session_revoked is not None:  # only then is it worth a read
            handles = yield from self.get_all_session_handles_for_user(user_id)
        now = self.now_ms()
        yield from self._record_revocation(now, user_id=user_id, not_before=now)
        count = yield from self.queries.delete_user_sessions(user_id)
        for handle in handles:
            emissions.append(
                Emission(
                    self.hooks.on_session_revoked,
                    SessionRevoked(handle, user_id, RevokeReason.ADMIN),
                )
            )
        return count

    def revoke_other_sessions(
        self,
        user_id: str,
        keep_session_handle: str,
        reason: RevokeReason,
        emissions: Emissions,
    ) -> StoreFlow[int]:
        """Revoke every session of ``user_id`` but ``keep_session_handle`` ("sign out all other
        devices"); returns how many there were."""
        user_id = check_user_id(user_id)
        keep = check_identifier(keep_session_handle, "keep_session_handle")
        yield from self.ready()
        handles = yield from self.queries.list_other_sessions(user_id, keep)
        revoked = 0
        for handle in handles:
            revoked += yield from self._revoke_one(handle, user_id, reason, emissions)
        return revoked

    def _evict_beyond_cap(self, user_id: str, emissions: Emissions) -> StoreFlow[None]:
        """``max_sessions_per_user``: after the insert of a login's session, evict every session
        that is not among the ``cap`` most recently active ones.

        The survivors are ranked over all the user's sessions, the new one included, by last
        activity (the last refresh, else the login), then creation time, then handle, so that
        the order is total. Concurrent logins each list the sessions after their own insert and
        evict only sessions with at least ``cap`` ranked above them: they converge on the same
        survivors, the ``cap`` newest, instead of each keeping itself and evicting the others
        (six simultaneous logins under a cap of 1 could leave none). A login can so evict the
        session it has just created, when newer ones exist; its tokens are then those of an
        evicted session, as an older login's are.
        """
        cap = self.config.max_sessions_per_user
        if cap is None:
            return
        sessions = yield from self.list_sessions_for_user(user_id)
        ranked = sorted(sessions, key=_recency, reverse=True)
        for session in ranked[cap:]:
            yield from self._revoke_one(session.handle, user_id, RevokeReason.EVICTED, emissions)

    # --- the jwt payload, changed mid-session ------------------------------------------------

    def update_jwt_payload(
        self, session_handle: str, payload: JSON, access_token: object | None
    ) -> StoreFlow[VerifiedSession]:
        return self.change_jwt_payload(
            session_handle, lambda _: payload, fresh=False, access_token=access_token
        )

    def merge_into_jwt_payload(
        self, session_handle: str, changes: object, access_token: object | None
    ) -> StoreFlow[VerifiedSession]:
        merged_payload({}, changes)  # refuse ill-typed changes before any I/O

        def merge(stored: JSON) -> JSON:
            return merged_payload(stored, changes)

        return self.change_jwt_payload(
            session_handle, merge, fresh=False, access_token=access_token
        )

    def merge_into_jwt_payload_for_user(
        self, user_id: str, changes: object, except_handle: str | None
    ) -> StoreFlow[int]:
        """Merge ``changes`` into each live session of ``user_id`` (but ``except_handle``);
        returns how many. Each picks the change up at its next refresh."""
        user_id = check_user_id(user_id)
        merged_payload({}, changes)
        sessions = yield from self.list_sessions_for_user(user_id)
        changed = 0
        for session in sessions:
            if session.handle == except_handle:
                continue
            try:
                yield from self.merge_into_jwt_payload(session.handle, changes, None)
            except UnauthorisedError:
                continue  # it ended meanwhile
            changed += 1
        return changed

    def mark_fresh(
        self, session_handle: str, access_token: object | None
    ) -> StoreFlow[VerifiedSession]:
        return self.change_jwt_payload(session_handle, None, fresh=True, access_token=access_token)

    def change_jwt_payload(
        self,
        session_handle: str,
        change: Callable[[JSON], JSON] | None,
        *,
        fresh: bool,
        access_token: object | None,
    ) -> StoreFlow[VerifiedSession]:
        """Store a new jwt payload (``change`` applied to the stored one; None keeps it) and,
        with ``fresh``, a re-authentication now: compare-and-set on the payload version, so
        concurrent changes are applied one after the other, none lost. The session's next
        refresh carries it; ``access_token`` (the caller's own) is re-signed with it at once."""
        handle = check_identifier(session_handle, "session_handle")
        yield from self.ready()
        for _ in range(MAX_DECISION_ATTEMPTS):
            now = self.now_ms()
            row = yield from self.queries.read_session(handle)
            if row is None or row.expires_at <= now:
                raise UnauthorisedError("the session does not exist or has expired")
            stored = None if row.jwt_payload_json is None else json.loads(row.jwt_payload_json)
            payload = stored if change is None else change(stored)
            payload_json = to_json(payload, "jwt_payload", MAX_JWT_PAYLOAD_BYTES)
            authenticated = now if fresh else row.authenticated_at
            version = next_payload_version(row.payload_version, now)
            if (
                yield from self.queries.update_payload(
                    row, payload_json, version, authenticated, now
                )
            ):
                break
        else:
            raise _contention()
        since = authenticated if authenticated is not None else row.created_at
        session = Session(handle, row.user_id, json.loads(payload_json), since)
        if access_token is None:
            return VerifiedSession(session)
        token = yield from self._reissued(access_token, handle, payload_json, authenticated, now)
        return VerifiedSession(session, token)

    def _reissued(
        self,
        access_token: object,
        handle: str,
        payload_json: str,
        authenticated: int | None,
        now: int,
    ) -> StoreFlow[Token]:
        """``access_token`` signed again with a new payload: every other claim, and the expiry,
        as they were."""
        try:
            claims = verify_access_token(access_token, self.keys.ring, now - self._leeway_ms)
        except InvalidAccessToken:
            raise TryRefreshTokenError(
                "the access token to re-issue is invalid or expired"
            ) from None
        if claims.handle != handle:
            raise InvalidArgumentError("the access token belongs to another session")
        key = yield from self.keys.signing_key(now)
        content = AccessContent(
            claims.handle,
            claims.user_id,
            claims.refresh_hash_1,
            claims.parent_hash_1,
            claims.anti_csrf,
            payload_json,
            claims.created_at_ms,
            authenticated,
        )
        return self._access_token(key, content, now, not_after=claims.expires_ms)

    # --- listing and data ----------------------------------------------------------------------

    def list_sessions_for_user(self, user_id: str) -> StoreFlow[list[SessionSummary]]:
        user_id = check_user_id(user_id)
        yield from self.ready()
        rows = yield from self.queries.list_user_sessions(user_id, self.now_ms())
        # The column compares exactly on every backend; this guards tables not yet migrated.
        listed = [
            replace(row, device=device_label(row.user_agent))
            for row in rows
            if row.user_id == user_id
        ]
        listed.sort(key=lambda s: (s.last_refreshed_at or 0, s.created_at or 0), reverse=True)
        return listed

    def get_all_session_handles_for_user(self, user_id: str) -> StoreFlow[list[str]]:
        rows = yield from self.list_sessions_for_user(user_id)
        return [row.handle for row in rows]

    def get_session_data(self, session_handle: str) -> StoreFlow[JSON]:
        handle = check_identifier(session_handle, "session_handle")
        yield from self.ready()
        found, data_json = yield from self.queries.get_session_data(handle, self.now_ms())
        if not found:
            raise UnauthorisedError("the session does not exist or has expired")
        return None if data_json is None else json.loads(data_json)

    def update_session_data(self, session_handle: str, session_data: JSON) -> StoreFlow[None]:
        handle = check_identifier(session_handle, "session_handle")
        data_json = to_json(session_data, "session_data", MAX_SESSION_DATA_BYTES)
        yield from self.ready()
        updated = yield from self.queries.update_session_data(handle, data_json, self.now_ms())
        if not updated:
            raise UnauthorisedError("the session does not exist or has expired")

    def purge_expired(self) -> StoreFlow[int]:
        """Delete expired sessions and signing keys that can no longer verify anything."""
        yield from self.ready()
        now = self.now_ms()
        count = yield from self.queries.purge_expired(now)
        yield from self.queries.purge_revocations(now)
        yield from self.keys.purge(now)
        self._last_purge_ms = now
        return count

    def _purge_if_due(self, now: int) -> StoreFlow[None]:
        if purge_due(now, self._last_purge_ms, self.config.purge_interval * 1000):
            yield from self.purge_expired()

    def rotate_signing_key(self) -> StoreFlow[str]:
        return self.keys.rotate()

    def deployed_signing_algorithm(self) -> StoreFlow[Algorithm | None]:
        return self.keys.deployed_algorithm()

    def signing_keys(self) -> StoreFlow[list[SigningKey]]:
        return self.keys.listing()

    def published_keys(self) -> StoreFlow[PublishedKeys]:
        yield from self.ready()
        jwk_set, max_age = yield from self.keys.published()
        return PublishedKeys(jwk_set, max_age)


__all__ = ["Emissions", "SessionLogic"]
