"""Revocation flows (docs/protocol.md#revocation): logout, revoke-all (of a user in its tenant,
or of a whole tenant), sign-out of the other devices, eviction beyond ``max_sessions_per_user``;
and the reading of other processes' revocations. The flow side of
:mod:`sessionward._revocations` (``RevocationCache``: what this process knows).

A revocation row is written before the session is deleted, and known here at once; other
processes read it within their ``revocation_refresh_interval``.
"""

from __future__ import annotations

import logging

from sessionward import _security_log as security_log
from sessionward import _telemetry as telemetry
from sessionward._errors import GeneralError, InvalidArgumentError
from sessionward._events import Emission, RevocationRecorded, RevokeReason, SessionRevoked
from sessionward._models import DEFAULT_TENANT, SessionSummary
from sessionward._operations import listing
from sessionward._operations.context import Context, Emissions
from sessionward._revocations import Revocation
from sessionward._storage.execution import StoreFlow
from sessionward._storage.queries import Owner
from sessionward._tokens.feed import Cursor, security_event, sign_feed, sign_security_event
from sessionward._tokens.keys import SigningKey
from sessionward._validation import check_identifier, check_tenant_id, check_user_id

logger = logging.getLogger("sessionward")

REVOCATION_PURGE_INTERVAL_MS = 300_000


def record_revocation(
    context: Context,
    emissions: Emissions,
    now: int,
    *,
    handle: str | None = None,
    user_id: str | None = None,
    not_before: int | None = None,
    tenant_id: str | None = None,
) -> StoreFlow[None]:
    """For the cached check: write a revocation (other processes read it within their
    interval) and know it here at once. Written before the session is deleted, so that a
    failure between the two can only leave a revoked session's tokens refused, never the
    other way round. Reported to ``on_revocation_recorded`` whatever the check."""
    hook = context.hooks.on_revocation_recorded
    if hook is not None:
        made = RevocationRecorded(handle, user_id, tenant_id or DEFAULT_TENANT, not_before, now)
        emissions.append(Emission(hook, made))
    if context.revocation_mode != "cached":
        return
    drop_after = now + context.revocation_life_ms
    revocation = Revocation(handle, user_id, not_before, now, drop_after, tenant_id)
    yield from context.queries.insert_revocation(revocation)
    context.revocations.learn([revocation], now)
    # Rows are useful for an access token's life only: keep the table that small, without
    # waiting for the weekly purge (one indexed DELETE per process every few minutes).
    if now - context.revocations_purged_ms >= REVOCATION_PURGE_INTERVAL_MS:
        context.revocations_purged_ms = now
        yield from context.queries.purge_revocations(now)


def retire_signing_key(context: Context, emissions: Emissions, kid: str) -> StoreFlow[str]:
    """A leaked signing key stops verifying everywhere within the revocation bound: its row is
    deleted (a new key signs first if it signed now), and a revocation row names it, so that
    every process drops it from its ring at its next read. Returns the kid that signs now."""
    kid = check_identifier(kid, "kid")
    with telemetry.operation("retire_signing_key"):
        yield from context.ready()
        signing = yield from context.keys.retire(kid)
        if context.revocation_mode == "cached":
            now = context.now_ms()
            retirement = Revocation(
                None, None, None, now, now + context.revocation_life_ms, retired_kid=kid
            )
            yield from context.queries.insert_revocation(retirement)
    security_log.key_retired(kid, signing)
    return signing


# The feed reads the table when its last read is older than this, not only once per interval:
# what a verifier learns through it is then at most this old when it reads (plus its own
# interval), not two intervals old. One indexed query per half second per issuer process.
FEED_READ_MS = 500


def read_revocations(context: Context, now: int, within_ms: int | None = None) -> StoreFlow[None]:
    """Read the revocations written since the last read, if the interval is over (or the last
    read is older than ``within_ms``) and no other request is reading already. A failed read
    is logged and retried after an interval: meanwhile verify goes on with what is known."""
    cache = context.revocations
    if not cache.due(now, within_ms) or not cache.begin_read():
        return
    try:
        try:
            found = yield from context.queries.revocations_since(cache.read_since(), now)
        except GeneralError as exc:
            logger.warning(
                "sessionward: revocations could not be read (%s); verify goes on with what "
                "this process knows and reads again after revocation_refresh_interval (%s s)",
                exc,
                context.config.revocation_refresh_interval,
            )
            cache.read_failed(now)
            return
        learned_ms = context.now_ms()
        retired = [revocation.retired_kid for revocation in found if revocation.retired_kid]
        if retired:
            context.keys.drop_retired(retired)
        new = cache.learn(found, learned_ms)
        if new:
            telemetry.revocations_learned(learned_ms - revoked_at for revoked_at in new)
        cache.read_done(now, context.now_ms())
    finally:
        cache.end_read()


def revocation_feed(
    context: Context, emissions: Emissions, since: Cursor | None, issuer: str
) -> StoreFlow[str]:
    """The signed revocation feed (docs/microservices.md#revocations): what this process knows
    after reading the table if its interval is over, all of it or only what is new since
    ``since``. A cursor of this process's log gives exactly the entries learnt after it; one of
    another process's (behind a load balancer, or from before a restart) gives those revoked
    from the time that process had read the table from, which may repeat a few entries a
    verifier already has, never miss one."""
    yield from context.ready()
    now = context.now_ms()
    yield from read_revocations(context, now, FEED_READ_MS)
    key = yield from context.keys.signing_key(now)
    if key.public is None:  # switching from HS256: the published asymmetric key signs feeds
        key = _asymmetric_key(context, key)
    cache = context.revocations
    if since is None:
        part = cache.log_since(None, None)
    elif since.instance == cache.instance:
        if since.position > cache.log_end():
            raise InvalidArgumentError("since is ahead of this feed: not one of its cursors")
        part = cache.log_since(since.position, None)
    else:
        part = cache.log_since(None, since.read_since_ms)
    next_cursor = Cursor(cache.instance, part.end, part.read_since_ms)
    return sign_feed(
        key,
        part.entries,
        issuer=issuer,
        now_ms=context.now_ms(),
        since=None if since is None else str(since),
        next_cursor=str(next_cursor),
        hashed=context.config.revocation_feed_hash_user_ids,
    )


def security_event_token(
    context: Context, emissions: Emissions, made: RevocationRecorded, issuer: str
) -> StoreFlow[str]:
    """The revocation ``made`` as a signed RFC 8417 Security Event Token (a CAEP
    ``session-revoked`` event, the feed's mapping), for an RFC 8935 push sender to POST; signed
    with the deployment's asymmetric key, which receivers check with the JWKS."""
    yield from context.ready()
    key = yield from context.keys.signing_key(context.now_ms())
    if key.public is None:
        key = _asymmetric_key(context, key)
    stored: str | None = made.tenant_id
    if made.user_id is not None and stored == DEFAULT_TENANT:
        stored = None  # as the revocation table names the default tenant's users
    revocation = Revocation(
        made.session_handle,
        made.user_id,
        made.sessions_created_until,
        made.revoked_at,
        made.revoked_at + context.revocation_life_ms,
        None if made.user_id is None and made.sessions_created_until is None else stored,
    )
    hashed = context.config.revocation_feed_hash_user_ids
    return sign_security_event(key, security_event(revocation, issuer, hashed=hashed))


def _asymmetric_key(context: Context, signing: SigningKey) -> SigningKey:
    """The key to sign the feed with while access tokens are still signed with HS256 (the
    first 11 minutes after a switch to an asymmetric algorithm): the newest asymmetric key of
    the ring, which the JWK Set already publishes."""
    for key in reversed(context.keys.ring.keys):
        if key.public is not None and key.sign is not None:
            return key
    raise GeneralError(
        f"the revocation feed has no asymmetric key to be signed with (the key {signing.kid!r} "
        "is HS256)"
    )


def _revoke_one(
    context: Context,
    emissions: Emissions,
    handle: str,
    reason: RevokeReason,
    owner: Owner | None = None,
) -> StoreFlow[bool]:
    """Record the revocation, delete the row, report it; True if the session existed. Whose it
    was (``owner``) is read first when a hook wants it and the caller does not know it."""
    hook = context.hooks.on_session_revoked
    if hook is not None and owner is None:
        owner = yield from context.queries.read_owner(handle)
    yield from record_revocation(context, emissions, context.now_ms(), handle=handle)
    deleted = yield from context.queries.delete_session(handle)
    if deleted:
        telemetry.revoked(reason.value)
        event = SessionRevoked(
            handle,
            None if owner is None else owner.user_id,
            reason,
            None if owner is None else owner.tenant_id,
            None if owner is None else owner.actor_id,
        )
        emissions.append(Emission(hook, event))
    return deleted


def revoke_session(
    context: Context, emissions: Emissions, session_handle: str, reason: RevokeReason
) -> StoreFlow[bool]:
    handle = check_identifier(session_handle, "session_handle")
    with telemetry.operation("revoke_session", handle=handle, reason=reason.value) as span:
        yield from context.ready()
        deleted = yield from _revoke_one(context, emissions, handle, reason)
        span.set("sessionward.revoked_sessions", int(deleted))
    return deleted


def revoke_all_sessions_for_user(
    context: Context, emissions: Emissions, user_id: str, tenant_id: str = DEFAULT_TENANT
) -> StoreFlow[int]:
    """Revoke every session of ``user_id`` in ``tenant_id`` (never another tenant's user of the
    same id): one revocation row, one delete."""
    user_id = check_user_id(user_id)
    tenant_id = check_tenant_id(tenant_id)
    with telemetry.operation("revoke_user", tenant=tenant_id, reason="admin") as span:
        span.set_user(user_id, context.config.telemetry_user_ids)
        count = yield from _revoke_user(context, emissions, user_id, tenant_id)
        span.set("sessionward.revoked_sessions", count)
    telemetry.revoked(RevokeReason.ADMIN.value, count)
    return count


def _revoke_user(
    context: Context, emissions: Emissions, user_id: str, tenant_id: str
) -> StoreFlow[int]:
    yield from context.ready()
    hook = context.hooks.on_session_revoked
    sessions: list[SessionSummary] = []
    if hook is not None:  # only then is it worth a read
        sessions = yield from context.queries.list_user_sessions(
            tenant_id, user_id, context.now_ms()
        )
    now = context.now_ms()
    yield from record_revocation(
        context,
        emissions,
        now,
        user_id=user_id,
        not_before=now,
        tenant_id=_stored_tenant(tenant_id),
    )
    count = yield from context.queries.delete_user_sessions(tenant_id, user_id)
    for session in sessions:
        event = SessionRevoked(
            session.handle, user_id, RevokeReason.ADMIN, tenant_id, session.impersonated_by
        )
        emissions.append(Emission(hook, event))
    return count


def revoke_all_sessions_for_tenant(
    context: Context, emissions: Emissions, tenant_id: str
) -> StoreFlow[int]:
    """Revoke every session of ``tenant_id`` (offboarding a customer): one revocation row that
    every process reads within its interval, then one delete; returns how many there were."""
    tenant_id = check_tenant_id(tenant_id)
    with telemetry.operation("revoke_tenant", tenant=tenant_id, reason="admin") as span:
        count = yield from _revoke_tenant(context, emissions, tenant_id)
        span.set("sessionward.revoked_sessions", count)
    telemetry.revoked(RevokeReason.ADMIN.value, count)
    return count


def _revoke_tenant(context: Context, emissions: Emissions, tenant_id: str) -> StoreFlow[int]:
    yield from context.ready()
    hook = context.hooks.on_session_revoked
    sessions: list[tuple[str, str, str | None]] = []
    if hook is not None:
        sessions = yield from context.queries.list_tenant_sessions(tenant_id)
    now = context.now_ms()
    yield from record_revocation(context, emissions, now, not_before=now, tenant_id=tenant_id)
    count = yield from context.queries.delete_tenant_sessions(tenant_id)
    for handle, user_id, actor in sessions:
        event = SessionRevoked(handle, user_id, RevokeReason.ADMIN, tenant_id, actor)
        emissions.append(Emission(hook, event))
    return count


def _stored_tenant(tenant_id: str) -> str | None:
    """The tenant as a revocation row names it: NULL for the default one, so that processes of
    the previous version, which read no tenant, still refuse the default tenant's users."""
    return None if tenant_id == DEFAULT_TENANT else tenant_id


def revoke_other_sessions(
    context: Context,
    emissions: Emissions,
    user_id: str,
    keep_session_handle: str,
    reason: RevokeReason,
    tenant_id: str = DEFAULT_TENANT,
) -> StoreFlow[int]:
    """Revoke every session of ``user_id`` in ``tenant_id`` but ``keep_session_handle`` ("sign
    out all other devices", impersonations included); returns how many there were."""
    user_id = check_user_id(user_id)
    keep = check_identifier(keep_session_handle, "keep_session_handle")
    tenant_id = check_tenant_id(tenant_id)
    with telemetry.operation(
        "revoke_other_sessions", tenant=tenant_id, reason=reason.value
    ) as span:
        span.set_user(user_id, context.config.telemetry_user_ids)
        yield from context.ready()
        handles = yield from context.queries.list_other_sessions(tenant_id, user_id, keep)
        revoked = 0
        for handle in handles:
            revoked += yield from _revoke_one(context, emissions, handle, reason)
        span.set("sessionward.revoked_sessions", revoked)
    return revoked


def _recency(session: SessionSummary) -> tuple[int, int, str]:
    """How recently a session was active, as a total order (the handle breaks ties)."""
    return (session.last_refreshed_at or 0, session.created_at or 0, session.handle)


def evict_beyond_cap(
    context: Context, emissions: Emissions, user_id: str, tenant_id: str
) -> StoreFlow[None]:
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
    cap = context.config.max_sessions_per_user
    if cap is None:
        return
    sessions = yield from listing.list_sessions_for_user(context, emissions, user_id, tenant_id)
    own = [session for session in sessions if session.impersonated_by is None]
    ranked = sorted(own, key=_recency, reverse=True)
    for session in ranked[cap:]:
        owner = Owner(user_id, tenant_id, None)
        reason = RevokeReason.EVICTED
        if (yield from _revoke_one(context, emissions, session.handle, reason, owner)):
            security_log.revoked(session.handle, reason, tenant_id)


__all__ = [
    "evict_beyond_cap",
    "read_revocations",
    "record_revocation",
    "revocation_feed",
    "revoke_all_sessions_for_tenant",
    "revoke_all_sessions_for_user",
    "revoke_other_sessions",
    "revoke_session",
    "security_event_token",
]
