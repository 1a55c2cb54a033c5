"""The decisions of PROTOCOL §4 as pure functions: no I/O, no clock, no framework.

Both managers (sync and async) read the row, call one of these functions, and the store applies
the answer only if the row is still as read (compare-and-set; otherwise it reads and asks again).
Keeping the rules here means theft detection exists exactly once.

Notation: ``H`` is SHA-256 in hex. For a refresh token ``RT``, ``H1 = H(RT)`` and
``H2 = H(H1)``. A session row stores only ``H2`` of the session's current parent refresh token.

Beyond the original, a grace window for clients that do not serialise their refreshes. A child
token is derived from its parent and an *anchor* time (the moment the parent's first child was
issued, ``row.child_issued_at``), so every refresh of the same parent within the window receives
the very same child, and a parent presented again within the window after its child was promoted
receives that child again (the child is re-derived from ``row.parent_issued_at``) instead of a
theft report. Outside the window, or for any older token, the strict rule of §4 step 5 applies.
Within the window a thief presenting the same parent is indistinguishable from a second tab: that
is the trade-off every grace window makes, and ``refresh_grace_window=0`` restores the original.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from hmac import compare_digest

from sessionward.models import SessionRow


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

    PARENT = "parent"  # the current parent: issue its child, leave the row alone
    CHILD = "child"  # the unconfirmed child: promote it, then issue its own child
    RECENT_PARENT = "recent_parent"  # the parent just replaced, within the grace window
    THEFT = "theft"  # none of these: an old, already rotated token
    UNAUTHORISED = "unauthorised"  # no live row, or it belongs to someone else


@dataclass(frozen=True, slots=True)
class RowUpdate:
    """What to write to the row as read: new values for its changing columns, or its deletion."""

    new_hash_2: str | None = None  # None: nothing to write
    new_expires_at: int | None = None
    new_parent_issued_at: int | None = None
    new_child_issued_at: int | None = None
    delete: bool = False


NO_CHANGE = RowUpdate()


@dataclass(frozen=True, slots=True)
class RefreshDecision:
    outcome: RefreshOutcome
    row: SessionRow | None = None  # the row as read under lock
    change: RowUpdate = NO_CHANGE
    # The token to issue is the child of the presented token for this anchor (see module doc);
    # for RECENT_PARENT that child is the current parent.
    child_anchor: int | None = None


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


def _promotion(
    row: SessionRow, new_hash_2: str, child_issued_at: int | None, timing: Timing
) -> RowUpdate:
    """Make the child the parent: its hash, a renewed expiry, and the grace-window anchors."""
    expires = timing.now_ms + timing.refresh_validity_ms
    if timing.absolute_lifetime_ms is not None and row.created_at is not None:
        expires = min(expires, row.created_at + timing.absolute_lifetime_ms)
    return RowUpdate(
        new_hash_2=new_hash_2,
        new_expires_at=expires,
        new_parent_issued_at=row.child_issued_at,
        new_child_issued_at=child_issued_at,
    )


def decide_refresh(
    row: SessionRow | None,
    *,
    token_user_id: str,
    token_hash_2: str,
    token_parent_hash_1: str | None,
    child_hash_2: Callable[[int], str],
    timing: Timing,
    revoke_on_theft: bool,
) -> RefreshDecision:
    """Steps 2 to 5 of ``refresh_session``: classify the presented refresh token against the row.

    ``child_hash_2(anchor)`` is H2 of the child the presented token gets for ``anchor``; it is
    called only to recognise a parent replaced within the grace window.
    """
    if not session_usable(row, token_user_id, timing):
        return RefreshDecision(RefreshOutcome.UNAUTHORISED, row)
    assert row is not None
    now = timing.now_ms
    if compare_digest(row.refresh_token_hash_2, token_hash_2):
        if _within_grace(row.child_issued_at, timing):
            assert row.child_issued_at is not None
            return RefreshDecision(RefreshOutcome.PARENT, row, child_anchor=row.child_issued_at)
        change = NO_CHANGE
        if timing.grace_window_ms > 0:  # remember the anchor so that duplicates get this child
            change = RowUpdate(row.refresh_token_hash_2, row.expires_at, row.parent_issued_at, now)
        return RefreshDecision(RefreshOutcome.PARENT, row, change, child_anchor=now)
    if token_parent_hash_1 is not None and compare_digest(
        row.refresh_token_hash_2, sha256_hex(token_parent_hash_1)
    ):
        change = _promotion(row, token_hash_2, now, timing)
        return RefreshDecision(RefreshOutcome.CHILD, row, change, child_anchor=now)
    if _within_grace(row.parent_issued_at, timing):
        assert row.parent_issued_at is not None
        if compare_digest(row.refresh_token_hash_2, child_hash_2(row.parent_issued_at)):
            return RefreshDecision(
                RefreshOutcome.RECENT_PARENT, row, child_anchor=row.parent_issued_at
            )
    change = RowUpdate(delete=True) if revoke_on_theft else NO_CHANGE
    return RefreshDecision(RefreshOutcome.THEFT, row, change)


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
        return PromotionDecision(
            PromotionOutcome.PROMOTE, _promotion(row, child_hash_2, None, timing)
        )
    if compare_digest(row.refresh_token_hash_2, child_hash_2):
        return PromotionDecision(PromotionOutcome.ALREADY_CURRENT)
    return PromotionDecision(PromotionOutcome.UNAUTHORISED)


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
