"""The decisions of docs/protocol.md#refresh-and-rotation as pure functions: no I/O, no clock,
no framework.

Both managers (sync and async) read the row, call one of these functions, and the store applies
the answer only if the row is still as read (compare-and-set; otherwise it reads and asks again).
Keeping the rules here means theft detection exists exactly once.

Notation: ``H`` is SHA-256 in hex. For a refresh token ``RT``, ``H1 = H(RT)`` and
``H2 = H(H1)``. A session row stores only ``H2`` of the session's current parent refresh token.

Beyond the original (docs/protocol.md#the-grace-window), a grace window for clients that do not
serialise their refreshes. A child token is derived from its parent and an *anchor* time (the
moment the parent's first child was issued, ``row.child_issued_at``), so every refresh of the
same parent within the window receives the very same child, and a parent presented again within
the window after its child was promoted receives that child again (the child is re-derived from
``row.parent_issued_at``) instead of a theft report. Outside the window, or for any older token,
the strict rule applies (docs/protocol.md#when-a-refresh-is-theft).

The window serves a child again only to the client that obtained it first (``same_client`` under
``refresh_grace_binding``): the row records that client with the anchor. Otherwise a thief
holding a copy would ride along with an active victim, joined again by the window at every
rotation. A session bound to a key (proof of possession) refuses every refresh without a valid
proof by that key, so a copied refresh token alone is worthless.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from hmac import compare_digest

from sessionward._clients import GraceBinding, same_client
from sessionward._errors import TheftReason
from sessionward._models import ClientContext
from sessionward._rows import SessionRow


def sha256_hex(text: str) -> str:
    """``H``: SHA-256 of the UTF-8 text, as lowercase hex."""
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Timing:
    """The clock and the durations a decision depends on, all in milliseconds."""

    now_ms: int
    refresh_validity_ms: int
    grace_window_ms: int
    absolute_lifetime_ms: int | None


class RefreshOutcome(enum.Enum):
    """What a presented refresh token turned out to be, relative to the stored row."""

    PARENT = "parent"  # the current parent: issue its child (the same one within the window)
    CHILD = "child"  # the unconfirmed child: promote it, then issue its own child
    RECENT_PARENT = "recent_parent"  # the parent just replaced, within the grace window
    THEFT = "theft"  # none of these, another client inside the window, or a missing proof
    UNAUTHORISED = "unauthorised"  # no live row, or it belongs to someone else


@dataclass(frozen=True, slots=True)
class RowUpdate:
    """What to write to the row as read: new values for its changing columns, or its deletion.

    A write replaces every changing column, so a field left None is written as NULL; the
    helpers below copy what must be kept from the row.
    """

    new_hash_2: str | None = None  # None: nothing to write
    new_expires_at: int | None = None
    new_parent_issued_at: int | None = None
    new_child_issued_at: int | None = None
    new_refreshed_at: int | None = None
    new_refreshed_client: ClientContext | None = None
    delete: bool = False


NO_CHANGE = RowUpdate()


@dataclass(frozen=True, slots=True)
class RefreshDecision:
    outcome: RefreshOutcome
    row: SessionRow | None = None  # the row as read
    change: RowUpdate = NO_CHANGE
    # The token to issue is the child of the presented token for this anchor (see module doc);
    # for RECENT_PARENT that child is the current parent.
    child_anchor: int | None = None
    theft_reason: TheftReason | None = None
    # When the replayed token was rotated (its child first issued), if that is known.
    rotated_at: int | None = None


@dataclass(frozen=True, slots=True)
class Presentation:
    """One presentation of a refresh token: what it claims, and who presented it how."""

    user_id: str
    hash_2: str
    parent_hash_1: str | None
    client: ClientContext | None
    # Thumbprint of the key whose proof of possession came with it and verified for this very
    # token; None when no proof came or it did not verify (``proof_presented`` tells which).
    proof_thumbprint: str | None = None
    proof_presented: bool = False


def session_usable(row: SessionRow | None, user_id: str, timing: Timing) -> bool:
    """The row exists, belongs to ``user_id``, and neither its idle nor absolute life is over."""
    if row is None or row.expires_at <= timing.now_ms or row.user_id != user_id:
        return False
    limit = timing.absolute_lifetime_ms
    return limit is None or row.created_at is None or row.created_at + limit > timing.now_ms


def _within_grace(issued_at: int | None, timing: Timing) -> bool:
    return (
        timing.grace_window_ms > 0
        and issued_at is not None
        and timing.now_ms - issued_at <= timing.grace_window_ms
    )


def _stored_client(row: SessionRow) -> ClientContext:
    return ClientContext(row.refreshed_ip, row.refreshed_user_agent)


def renewed_expiry(row: SessionRow, timing: Timing) -> int:
    """A promoted session lives ``refresh_validity`` from now, within its absolute lifetime."""
    expires = timing.now_ms + timing.refresh_validity_ms
    if timing.absolute_lifetime_ms is not None and row.created_at is not None:
        expires = min(expires, row.created_at + timing.absolute_lifetime_ms)
    return expires


def _first_refresh(row: SessionRow, client: ClientContext | None, timing: Timing) -> RowUpdate:
    """The current parent is presented for the first time (or again after the window): record
    the anchor of its child and the client that will hold that child."""
    return RowUpdate(
        new_hash_2=row.refresh_token_hash_2,
        new_expires_at=row.expires_at,
        new_parent_issued_at=row.parent_issued_at,
        new_child_issued_at=timing.now_ms,
        new_refreshed_at=timing.now_ms,
        new_refreshed_client=client,
    )


def _promotion(row: SessionRow, new_hash_2: str, timing: Timing) -> RowUpdate:
    """Make the child the parent (promotion by its access token): its hash, a renewed expiry,
    the grace-window anchor moved along; who refreshed last stays recorded."""
    return RowUpdate(
        new_hash_2=new_hash_2,
        new_expires_at=renewed_expiry(row, timing),
        new_parent_issued_at=row.child_issued_at,
        new_child_issued_at=None,
        new_refreshed_at=row.refreshed_at,
        new_refreshed_client=_stored_client(row),
    )


def _promotion_and_refresh(
    row: SessionRow, new_hash_2: str, client: ClientContext | None, timing: Timing
) -> RowUpdate:
    """Make the child the parent because it is being refreshed: as :func:`_promotion`, and its
    own child is issued now, to ``client``."""
    return RowUpdate(
        new_hash_2=new_hash_2,
        new_expires_at=renewed_expiry(row, timing),
        new_parent_issued_at=row.child_issued_at,
        new_child_issued_at=timing.now_ms,
        new_refreshed_at=timing.now_ms,
        new_refreshed_client=client,
    )


def decide_refresh(
    row: SessionRow | None,
    token: Presentation,
    *,
    child_hash_2: Callable[[int], str],
    timing: Timing,
    binding: GraceBinding,
    revoke_on_theft: bool,
) -> RefreshDecision:
    """Steps 2 to 5 of ``refresh_session`` (and §4a): classify the presented refresh token.

    ``child_hash_2(anchor)`` is H2 of the child the presented token gets for ``anchor``; it is
    called only to recognise a parent replaced earlier (within the window, or for the report).
    """
    if not session_usable(row, token.user_id, timing):
        return RefreshDecision(RefreshOutcome.UNAUTHORISED, row)
    assert row is not None
    now = timing.now_ms

    def theft(reason: TheftReason, rotated_at: int | None = None) -> RefreshDecision:
        change = RowUpdate(delete=True) if revoke_on_theft else NO_CHANGE
        return RefreshDecision(
            RefreshOutcome.THEFT, row, change, theft_reason=reason, rotated_at=rotated_at
        )

    if row.pop_thumbprint is not None and (
        token.proof_thumbprint is None
        or not compare_digest(row.pop_thumbprint, token.proof_thumbprint)
    ):
        # A bound session's client signs every refresh: a token without a valid proof is a copy.
        reason = TheftReason.PROOF_INVALID if token.proof_presented else TheftReason.PROOF_MISSING
        return theft(reason)
    same_client_as_holder = same_client(_stored_client(row), token.client, binding)
    if compare_digest(row.refresh_token_hash_2, token.hash_2):
        if _within_grace(row.child_issued_at, timing):
            if not same_client_as_holder:
                return theft(TheftReason.OTHER_CLIENT, row.child_issued_at)
            return RefreshDecision(RefreshOutcome.PARENT, row, child_anchor=row.child_issued_at)
        return RefreshDecision(
            RefreshOutcome.PARENT, row, _first_refresh(row, token.client, timing), child_anchor=now
        )
    if token.parent_hash_1 is not None and compare_digest(
        row.refresh_token_hash_2, sha256_hex(token.parent_hash_1)
    ):
        change = _promotion_and_refresh(row, token.hash_2, token.client, timing)
        return RefreshDecision(RefreshOutcome.CHILD, row, change, child_anchor=now)
    previous = row.parent_issued_at
    if (
        previous is not None
        and timing.grace_window_ms > 0
        and compare_digest(row.refresh_token_hash_2, child_hash_2(previous))
    ):
        # The token is the parent that was replaced at ``previous``.
        if _within_grace(previous, timing) and same_client_as_holder:
            return RefreshDecision(RefreshOutcome.RECENT_PARENT, row, child_anchor=previous)
        reason = (
            TheftReason.OTHER_CLIENT
            if _within_grace(previous, timing)
            else TheftReason.REPLAYED_PARENT
        )
        return theft(reason, previous)
    return theft(TheftReason.OLD_TOKEN)


class PromotionOutcome(enum.Enum):
    """What an access token carrying ``prt`` means for its session row."""

    PROMOTE = "promote"  # the row still holds the parent: make the child the parent
    ALREADY_CURRENT = "already_current"  # another request promoted it already
    UNAUTHORISED = "unauthorised"  # the row is gone, expired, or has moved on past this token


@dataclass(frozen=True, slots=True)
class PromotionDecision:
    outcome: PromotionOutcome
    change: RowUpdate = NO_CHANGE


def decide_promotion(
    row: SessionRow | None,
    *,
    token_user_id: str,
    refresh_hash_1: str,
    parent_refresh_hash_1: str,
    timing: Timing,
) -> PromotionDecision:
    """Step 5 of ``get_session``: an access token issued with a not yet confirmed refresh token."""
    if not session_usable(row, token_user_id, timing):
        return PromotionDecision(PromotionOutcome.UNAUTHORISED)
    assert row is not None
    child_hash_2 = sha256_hex(refresh_hash_1)
    if compare_digest(row.refresh_token_hash_2, sha256_hex(parent_refresh_hash_1)):
        return PromotionDecision(PromotionOutcome.PROMOTE, _promotion(row, child_hash_2, timing))
    if compare_digest(row.refresh_token_hash_2, child_hash_2):
        return PromotionDecision(PromotionOutcome.ALREADY_CURRENT)
    return PromotionDecision(PromotionOutcome.UNAUTHORISED)


# --- jwt payload changed mid-session -----------------------------------------------------------
#
# A refresh token carries the payload it was issued with and that payload's version, so the common
# refresh needs no read. ``update_jwt_payload`` writes a new payload and version to the row; the
# next refresh reads the row (the versions differ) and the child carries the row's payload.
#
# A duplicate refresh within the grace window must receive the very child the first one got, so
# which payload a child carries must follow from what is stored. Versions are therefore times
# (milliseconds, strictly increasing per session): a child for ``anchor`` carries the row's
# payload if the row's version is no later than the anchor (the change came before the child),
# else the presented token's own (the change came after; the next refresh picks it up). The
# version is part of the child's derivation seed, so two different payloads never share a nonce.
# Two payload changes inside one grace window around a duplicate refresh can make the duplicate
# unrecognisable (then the strict rule answers it as theft); docs/security.md names that edge.


def next_payload_version(current: int | None, now_ms: int) -> int:
    """The version a payload change writes: now, but always later than the current one."""
    return now_ms if current is None or current < now_ms else current + 1


def child_takes_row_payload(
    token_version: int | None, token_has_payload: bool, row_version: int | None, anchor: int
) -> bool:
    """Whether the child for ``anchor`` carries the row's payload (else the presented token's)."""
    if not token_has_payload:
        return True  # a token of an older version carries none
    if row_version is None or row_version == token_version:
        return False  # the same payload either way: keep the token's exact text
    return row_version <= anchor


def csrf_matches(expected: str | None, presented: str | None) -> bool:
    """Step 2 of ``get_session``: no token presented means the caller chose not to check."""
    if presented is None:
        return True
    if expected is None or type(presented) is not str or not presented.isascii():
        return False
    return compare_digest(expected, presented)


def purge_due(now_ms: int, last_purge_ms: int | None, interval_ms: int) -> bool:
    """Whether a write path should purge expired rows now (at most once per interval)."""
    return last_purge_ms is None or now_ms - last_purge_ms >= interval_ms
