"""Refresh (docs/protocol.md#refresh-and-rotation): rotate, serve a duplicate inside the grace
window, or detect theft. The flow side of ``protocol.decide_refresh`` (and
``protocol.child_takes_row_payload``, which payload a child carries).

The common case is one statement (:meth:`Queries.refresh_by_parent`); only when it matches
nothing is the row read, decided on and written back by compare-and-set (:func:`_decide`).
"""

from __future__ import annotations

from dataclasses import replace

from sessionward import _security_log as security_log
from sessionward import _telemetry as telemetry
from sessionward._clients import clean_client
from sessionward._errors import GeneralError, TokenTheftDetectedError, UnauthorisedError
from sessionward._events import Emission, RevokeReason, SessionRefreshed, SessionRevoked, TokenTheft
from sessionward._models import ClientContext, SessionTokens
from sessionward._operations import minting, revocation
from sessionward._operations.context import MAX_DECISION_ATTEMPTS, Context, Emissions, contention
from sessionward._proof import InvalidProof, ProofOfPossession, verify_proof
from sessionward._protocol import (
    Presentation,
    RefreshDecision,
    RefreshOutcome,
    RowUpdate,
    child_takes_row_payload,
    decide_refresh,
    sha256_hex,
)
from sessionward._rows import SessionRow
from sessionward._storage.execution import StoreFlow
from sessionward._tokens.refresh import InvalidRefreshToken, RefreshClaims


def refresh_session(
    context: Context,
    emissions: Emissions,
    refresh_token: object,
    client: ClientContext | None,
    proof: ProofOfPossession | None,
) -> StoreFlow[SessionTokens]:
    """Rotate (or detect theft), in a span (``sessionward.refresh_session``) and timed; a
    failure on the server's side (the database) is logged at ERROR, since every client of the
    session then falls back to logging in again."""
    with telemetry.operation("refresh_session", "refresh") as span:
        try:
            return (yield from _refresh(context, emissions, refresh_token, client, proof, span))
        except TokenTheftDetectedError as theft:
            span.set(telemetry.HANDLE, theft.session_handle)
            span.set(telemetry.REASON, theft.reason.value)
            raise
        except GeneralError as error:
            security_log.failed("refresh", error)
            raise


def _refresh(
    context: Context,
    emissions: Emissions,
    refresh_token: object,
    client: ClientContext | None,
    proof: ProofOfPossession | None,
    span: telemetry.Span,
) -> StoreFlow[SessionTokens]:
    config = context.config
    now = context.now_ms()
    yield from context.keys.current(now)  # a refresh key rotated elsewhere opens here too
    try:
        token = context.keys.refresh.cipher.open(refresh_token)
    except InvalidRefreshToken:
        raise UnauthorisedError("the refresh token is invalid") from None
    if token.expires_ms <= now:
        raise UnauthorisedError("the refresh token has expired")
    assert isinstance(refresh_token, str)
    span.set(telemetry.HANDLE, token.handle)
    span.set(telemetry.TENANT, token.tenant_id)
    span.set_user(token.user_id, config.telemetry_user_ids)
    lifetime_ms = minting.lifetime_ms(context, token.ttl_ms)
    if (
        lifetime_ms is not None
        and token.created_at_ms is not None
        and token.created_at_ms + lifetime_ms <= now
    ):
        raise UnauthorisedError("the session has reached its absolute lifetime")
    client = clean_client(client)
    refresh_hash_1 = sha256_hex(refresh_token)
    presented = Presentation(
        user_id=token.user_id,
        hash_2=sha256_hex(refresh_hash_1),
        parent_hash_1=token.parent_hash_1,
        client=client,
        proof_thumbprint=_proof_thumbprint(context, proof, refresh_token, refresh_hash_1, now),
        proof_presented=proof is not None,
    )
    key = yield from context.keys.signing_key(now)
    decided_in_one = False
    if token.created_at_ms is not None and token.payload_json is not None:
        # The common case, decided and recorded by one statement (tokens of older versions
        # carry no payload, and take the path below).
        decided_in_one = yield from context.queries.refresh_by_parent(
            handle=token.handle,
            hash_2=presented.hash_2,
            user_id=token.user_id,
            now=now,
            grace_cutoff=now - config.refresh_grace_window * 1000 - 1,
            payload_version=token.payload_version,
            pop_thumbprint=presented.proof_thumbprint,
            client=client,
        )
    access_not_after = None
    if decided_in_one:
        anchor, carried, repeated, outcome = now, token, False, ROTATED
    else:
        decision = yield from _decide(context, emissions, token, refresh_hash_1, presented, now)
        assert decision.row is not None and decision.child_anchor is not None
        anchor = decision.child_anchor
        carried = _carried(token, decision.row, anchor)
        repeated = decision.change.new_hash_2 is None
        outcome = _outcome(decision.outcome, repeated)
        if decision.row.payload_version not in (None, carried.payload_version):
            # A duplicate inside the grace window is served the first refresh's child, with
            # the payload it had before a change made since: its access token expires when
            # the first one's did, so that a removed claim outlives its removal by no more
            # than one access-token validity (plus leeway).
            access_not_after = anchor + config.access_token_validity_ms
    child = minting.child_refresh_token(context, carried, refresh_hash_1, anchor)
    emissions.append(
        Emission(
            context.hooks.on_session_refreshed,
            SessionRefreshed(
                token.handle, token.user_id, client, repeated, token.tenant_id, token.actor
            ),
        )
    )
    span.set(telemetry.OUTCOME, outcome)
    telemetry.refreshed(outcome)
    expires = minting.session_expiry(context, now, carried)
    return minting.token_set(
        context,
        key,
        refresh_token=child,
        claims=carried,
        parent_hash_1=refresh_hash_1,
        session_expires=expires,
        now=now,
        access_not_after=access_not_after,
    )


# A successful refresh's outcome, as counted (``sessionward.refreshes``): a new child issued; the
# same child again for a parent whose child is in use (another tab, within the grace window);
# the same child again for the current parent, its child never used (an answer that was lost).
ROTATED = "rotated"
GRACE_DUPLICATE = "grace_duplicate"
LOST_ANSWER_RETRY = "lost_answer_retry"


def _outcome(outcome: RefreshOutcome, repeated: bool) -> str:
    """Which of the three a decided refresh was (never theft or unauthorised: they raise)."""
    if not repeated:
        return ROTATED
    return GRACE_DUPLICATE if outcome is RefreshOutcome.RECENT_PARENT else LOST_ANSWER_RETRY


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
    return replace(
        token,
        created_at_ms=created,
        payload_json=payload_json,
        payload_version=version,
        authenticated_at_ms=authenticated,
    )


def _decide(
    context: Context,
    emissions: Emissions,
    token: RefreshClaims,
    refresh_hash_1: str,
    presented: Presentation,
    now: int,
) -> StoreFlow[RefreshDecision]:
    """The uncommon cases: read the row, decide (docs/protocol.md#when-a-refresh-is-theft),
    write by compare-and-set; theft and unauthorised end here, reported."""
    timing = minting.timing(context, now, token.persistent, token.ttl_ms)
    config = context.config
    for _ in range(MAX_DECISION_ATTEMPTS):
        row = yield from context.queries.read_session(token.handle)

        def child_hash_2(anchor: int, row: SessionRow | None = row) -> str:
            assert row is not None  # asked only about a live row
            carried = _carried(token, row, anchor)
            child = minting.child_refresh_token(context, carried, refresh_hash_1, anchor)
            return sha256_hex(sha256_hex(child))

        decision = decide_refresh(
            row,
            presented,
            child_hash_2=child_hash_2,
            timing=timing,
            binding=config.refresh_grace_binding,
            revoke_on_theft=config.revoke_session_on_theft,
        )
        if row is not None and not (yield from _decision_holds(context, row, decision.change)):
            continue  # the row moved on meanwhile: read it again, decide again
        if decision.outcome is RefreshOutcome.UNAUTHORISED:
            raise UnauthorisedError("the session was revoked or has expired")
        if decision.outcome is RefreshOutcome.THEFT:
            if decision.change.delete:
                yield from revocation.record_revocation(
                    context, emissions, now, handle=token.handle
                )
            raise _theft(context, emissions, decision, token, presented, now)
        return decision
    raise contention()


def _decision_holds(context: Context, row: SessionRow, change: RowUpdate) -> StoreFlow[bool]:
    """Whether a decision taken on ``row`` still holds: it changes nothing, or its
    compare-and-set write applied. False: the row moved on since it was read."""
    if change.new_hash_2 is None and not change.delete:
        return True
    return (yield from context.queries.apply_change(row, change))


def _theft(
    context: Context,
    emissions: Emissions,
    decision: RefreshDecision,
    token: RefreshClaims,
    presented: Presentation,
    now: int,
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
        tenant_id=token.tenant_id,
        actor=token.actor,
    )
    emissions.append(Emission(context.hooks.on_token_theft, event))
    security_log.theft(event)
    if revoked:
        revoked_event = SessionRevoked(
            token.handle, token.user_id, RevokeReason.THEFT, token.tenant_id, token.actor
        )
        emissions.append(Emission(context.hooks.on_session_revoked, revoked_event))
    return TokenTheftDetectedError(token.handle, token.user_id, reason)


def _proof_thumbprint(
    context: Context,
    proof: ProofOfPossession | None,
    refresh_token: str,
    refresh_hash_1: str,
    now: int,
) -> str | None:
    """The thumbprint of a valid, first-seen proof for this refresh token, else None."""
    if proof is None:
        return None
    tokens = (refresh_token, minting.id_refresh_token(context, refresh_hash_1))
    try:
        verified = verify_proof(proof, now_s=now / 1000, tokens=tokens)
    except InvalidProof:
        return None
    if not context.seen_proofs.first_use(f"{verified.thumbprint}:{verified.jti}", now / 1000):
        return None
    return verified.thumbprint


__all__ = ["refresh_session"]
