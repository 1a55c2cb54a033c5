"""The security log: what an operator must see happen, in the ``sessionward`` logger, by default.

Written whether or not hooks are configured: a deployment that set none must still see an
attack, an eviction or a key change in its logs. Each record carries structured ``extra``
fields, so that a JSON formatter (docs/operations.md) emits them as fields rather than as text
to parse:

===========================  =====================================================================
``sessionward_event``        what happened: ``token_theft``, ``session_revoked``,
                             ``signing_key_created``, ``signing_keys_purged``,
                             ``signing_key_retired``, ``keys_resealed``, ``keys_in_the_clear``,
                             ``operation_failed``
``sessionward_handle``       the session's handle (not a secret: it names, it does not open)
``sessionward_reason``       the theft's or the revocation's reason
``sessionward_tenant``       the session's tenant
``sessionward_networks``     for a theft: the /24 (IPv4) or /64 (IPv6) of the first and of the
                             replaying client, the networks the grace window compares
``sessionward_kid``,         for a key change
``sessionward_algorithm``
===========================  =====================================================================

Never a token, a hash of one, a key or a user id: the handle is enough to find the session in
the table and in the hooks' audit records.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from sessionward import _telemetry as telemetry
from sessionward._clients import network_of
from sessionward._events import RevokeReason, TokenTheft
from sessionward._tokens.refresh_keys import ROTATION_DELAY_MS

logger = logging.getLogger("sessionward")

# The extra field that marks an error as logged here, so that the transport's 500 answer does
# not log it a second time.
LOGGED = "_sessionward_logged"


def _extra(event: str, **fields: Any) -> dict[str, Any]:
    return {"sessionward_event": event, **{f"sessionward_{k}": v for k, v in fields.items()}}


def theft(event: TokenTheft) -> None:
    """A spent refresh token came back (WARNING), and its session revoked if it was; both
    counted (``sessionward.thefts``, ``sessionward.revocations``)."""
    first = network_of(event.first_client.ip if event.first_client else None) or "unknown"
    replay = network_of(event.replay_client.ip if event.replay_client else None) or "unknown"
    reason = event.reason.value
    logger.warning(
        "sessionward: token theft detected on session %s (%s): first client's network %s, "
        "replaying client's network %s",
        event.session_handle,
        reason,
        first,
        replay,
        extra=_extra(
            "token_theft",
            handle=event.session_handle,
            reason=reason,
            tenant=event.tenant_id,
            networks=[first, replay],
        ),
    )
    telemetry.theft(reason)
    if event.session_revoked:
        telemetry.revoked(RevokeReason.THEFT.value)
        revoked(event.session_handle, RevokeReason.THEFT, event.tenant_id)


def revoked(handle: str, reason: RevokeReason, tenant_id: str | None) -> None:
    """A session ended by the library's own decision: theft (WARNING) or eviction by
    ``max_sessions_per_user`` (INFO). Logouts and the application's revocations are the
    application's own acts, reported through the hooks only."""
    level = logging.WARNING if reason is RevokeReason.THEFT else logging.INFO
    why = {RevokeReason.THEFT: "token theft", RevokeReason.EVICTED: "max_sessions_per_user"}
    logger.log(
        level,
        "sessionward: session %s revoked because of %s",
        handle,
        why.get(reason, reason.value),
        extra=_extra("session_revoked", handle=handle, reason=reason.value, tenant=tenant_id),
    )


def key_created(kid: str, algorithm: str, *, rotated: bool) -> None:
    """A signing key was created (INFO): by the schedule (it signs from the start of its
    interval, or from its end when published ahead), or by ``rotate_signing_key`` (it signs
    now). The kid of a dynamic key is the second it starts signing."""
    how = "by rotate_signing_key: it signs now" if rotated else "by the rotation schedule"
    logger.info(
        "sessionward: signing key %s (%s) created %s",
        kid,
        algorithm,
        how,
        extra=_extra("signing_key_created", kid=kid, algorithm=algorithm, rotated=rotated),
    )


def keys_purged(kids: Iterable[str]) -> None:
    """Signing keys that can no longer sign or verify were deleted (INFO)."""
    names = sorted(kids)
    if names:
        logger.info(
            "sessionward: signing keys deleted, past their verify window: %s",
            ", ".join(names),
            extra=_extra("signing_keys_purged", kid=names),
        )


def key_retired(kid: str, signing: str) -> None:
    """A signing key retired after a leak (WARNING): the tokens it signed are refused."""
    logger.warning(
        "sessionward: signing key %s retired: the tokens it signed are refused in every process "
        "within revocation_refresh_interval; key %s signs now",
        kid,
        signing,
        extra=_extra("signing_key_retired", kid=kid, signing_kid=signing),
    )


def refresh_key_rotated(name: str, *, retire_now: bool) -> None:
    """A new refresh-token key (WARNING with ``retire_now``: every session must log in again)."""
    if retire_now:
        logger.warning(
            "sessionward: every refresh-token key retired and replaced: no refresh token issued "
            "before opens, so every session must log in again",
            extra=_extra("refresh_key_rotated", retire_now=True),
        )
    else:
        logger.info(
            "sessionward: a new refresh-token key (%s) seals new refresh tokens from %s s from "
            "now; the older keys open the tokens they sealed until those rotate or expire",
            name,
            ROTATION_DELAY_MS // 1000,
            extra=_extra("refresh_key_rotated", retire_now=False),
        )


def keys_in_the_clear(dialect: str) -> None:
    """A manager on a database server without a key-encryption key (WARNING, once per
    manager): its backups, and any SQL injection in the application, hold keys that mint
    sessions."""
    logger.warning(
        "sessionward: no key_encryption_key is set, so the signing keys and the refresh-token "
        "key are stored in the clear in the %s database (development only; see "
        "docs/operations.md#signing-keys-at-rest)",
        dialect,
        extra=_extra("keys_in_the_clear", dialect=dialect),
    )


def keys_resealed(count: int, key_id: str) -> None:
    """Key rows sealed with the key-encryption key ``key_id`` (INFO): its public id only."""
    if count:
        logger.info(
            "sessionward: %d key row(s) sealed with key-encryption key %s",
            count,
            key_id,
            extra=_extra("keys_resealed", count=count, kek_id=key_id),
        )


def failed(operation: str, error: BaseException) -> None:
    """``operation`` failed on the server's side (ERROR, with the traceback): the database did
    not answer or refused (the error names the driver's exception class, never a value), or no
    signing key could be had. The error is marked, so that the transport's 500 answer does not
    log it again."""
    logger.error(
        "sessionward: %s failed: %s",
        operation,
        error,
        exc_info=error,
        extra=_extra("operation_failed", operation=operation),
    )
    setattr(error, LOGGED, True)


__all__ = ["LOGGED", "failed", "key_created", "keys_purged", "revoked", "theft"]
