"""The decisions of PROTOCOL §4 as pure functions: no I/O, no clock, no framework.

Both managers (sync and async) read the row, call one of these functions, and apply the answer.
Keeping the rules here means the theft-detection logic exists exactly once.

Notation: ``H`` is SHA-256 in hex. For a refresh token ``RT``, ``H1 = H(RT)`` and
``H2 = H(H1)``. A session row stores only ``H2`` of the session's current parent refresh token.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass
from hmac import compare_digest

from sessionward.models import SessionRow


def sha256_hex(text: str) -> str:
    """``H``: SHA-256 of the UTF-8 text, as lowercase hex."""
    return hashlib.sha256(text.encode()).hexdigest()


class RefreshOutcome(enum.Enum):
    """What a refresh token turned out to be, relative to the stored row."""

    PARENT = "parent"  # the current parent: issue a child, leave the row alone
    CHILD = "child"  # the unconfirmed child: promote it, then issue its own child
    THEFT = "theft"  # neither: an old, already rotated token
    UNAUTHORISED = "unauthorised"  # no live row, or it belongs to someone else


@dataclass(frozen=True, slots=True)
class RefreshDecision:
    outcome: RefreshOutcome
    row: SessionRow | None = None  # the row as read under lock
    new_hash_2: str | None = None  # set when the row must be promoted
    new_expires_at: int | None = None


def decide_refresh(
    row: SessionRow | None,
    *,
    token_user_id: str,
    token_hash_2: str,
    token_parent_hash_1: str | None,
    now_ms: int,
    refresh_validity_ms: int,
) -> RefreshDecision:
    """Steps 2 to 5 of ``refresh_session``: classify the presented refresh token against the row."""
    if row is None or row.expires_at <= now_ms or row.user_id != token_user_id:
        return RefreshDecision(RefreshOutcome.UNAUTHORISED)
    if compare_digest(row.refresh_token_hash_2, token_hash_2):
        return RefreshDecision(RefreshOutcome.PARENT, row)
    if token_parent_hash_1 is not None and compare_digest(
        row.refresh_token_hash_2, sha256_hex(token_parent_hash_1)
    ):
        return RefreshDecision(
            RefreshOutcome.CHILD,
            row,
            new_hash_2=token_hash_2,
            new_expires_at=now_ms + refresh_validity_ms,
        )
    return RefreshDecision(RefreshOutcome.THEFT, row)


class PromotionOutcome(enum.Enum):
    """What an access token carrying ``prt`` means for its session row."""

    PROMOTE = "promote"  # the row still holds the parent: make the child the parent
    ALREADY_CURRENT = "already_current"  # another request promoted it already
    UNAUTHORISED = "unauthorised"  # the row is gone, expired, or has moved on past this token


@dataclass(frozen=True, slots=True)
class PromotionDecision:
    outcome: PromotionOutcome
    new_hash_2: str | None = None
    new_expires_at: int | None = None


def decide_promotion(
    row: SessionRow | None,
    *,
    token_user_id: str,
    refresh_hash_1: str,
    parent_refresh_hash_1: str,
    now_ms: int,
    refresh_validity_ms: int,
) -> PromotionDecision:
    """Step 5 of ``get_session``: an access token issued with an unconfirmed refresh token."""
    if row is None or row.expires_at <= now_ms or row.user_id != token_user_id:
        return PromotionDecision(PromotionOutcome.UNAUTHORISED)
    child_hash_2 = sha256_hex(refresh_hash_1)
    if compare_digest(row.refresh_token_hash_2, sha256_hex(parent_refresh_hash_1)):
        return PromotionDecision(
            PromotionOutcome.PROMOTE,
            new_hash_2=child_hash_2,
            new_expires_at=now_ms + refresh_validity_ms,
        )
    if compare_digest(row.refresh_token_hash_2, child_hash_2):
        return PromotionDecision(PromotionOutcome.ALREADY_CURRENT)
    return PromotionDecision(PromotionOutcome.UNAUTHORISED)


def csrf_matches(expected: str | None, presented: str | None) -> bool:
    """Step 2 of ``get_session``: no token presented means the caller chose not to check."""
    if presented is None:
        return True
    if expected is None or type(presented) is not str:
        return False
    return compare_digest(expected.encode(), presented.encode("utf-8", "surrogatepass"))


def purge_due(now_ms: int, last_purge_ms: int | None, interval_ms: int) -> bool:
    """Whether a write path should purge expired rows now (at most once per interval)."""
    return last_purge_ms is None or now_ms - last_purge_ms >= interval_ms
