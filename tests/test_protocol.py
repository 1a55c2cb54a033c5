"""The state machine of docs/protocol.md (rotation, theft, grace window, keys) at a glance: the
pure decisions, table-driven, with no database. Each row: the stored state, what is presented,
what must be decided."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from sessionward._models import ClientContext
from sessionward._protocol import (
    Presentation,
    PromotionOutcome,
    RefreshOutcome,
    TheftReason,
    Timing,
    decide_promotion,
    decide_refresh,
    sha256_hex,
)
from sessionward._rows import KeyRow, SessionRow
from sessionward._tokens.keys import dynamic_key_name, key_to_create, next_key_check_ms

NOW = 1_800_000_000_000
WINDOW = 30_000
H = sha256_hex
PARENT, CHILD, OLD, RECENT = "parent-token", "child-token", "old-token", "recent-token"
HOME = ClientContext("203.0.113.10", "Firefox")
HOME_OTHER_HOST = ClientContext("203.0.113.99", "Firefox")
ELSEWHERE = ClientContext("198.51.100.5", "Firefox")
TIMING = Timing(NOW, 100 * 86_400_000, WINDOW, None)

# The row holds H2 of PARENT. RECENT was PARENT's parent (PARENT is its child for the anchor
# ``parent_issued_at``); CHILD is PARENT's child (its prt is H1(PARENT)); OLD is anything older.
ROW = SessionRow(
    handle="s1",
    user_id="alice",
    refresh_token_hash_2=H(H(PARENT)),
    expires_at=NOW + 1_000_000,
    jwt_payload_json="{}",
    created_at=NOW - 5_000_000,
    parent_issued_at=NOW - 10_000,
    child_issued_at=None,
    refreshed_ip=HOME.ip,
    refreshed_user_agent=HOME.user_agent,
)


def children_of(token: Presentation, row: SessionRow | None) -> Any:
    """``child_hash_2`` for a presented token: RECENT's child for the anchor the row recorded
    is PARENT; any other token or anchor has some other child."""

    def child_hash_2(anchor: int) -> str:
        is_recent = token.hash_2 == H(H(RECENT))
        if is_recent and row is not None and anchor == row.parent_issued_at:
            return H(H(PARENT))
        return H(H(f"child-of-{token.hash_2}-{anchor}"))

    return child_hash_2


def presented(token: str, client: ClientContext | None = HOME, **kw: Any) -> Presentation:
    parent = {CHILD: H(PARENT), PARENT: H(RECENT)}.get(token)
    return Presentation(
        user_id=kw.pop("user_id", "alice"),
        hash_2=H(H(token)),
        parent_hash_1=parent,
        client=client,
        **kw,
    )


REFRESH_CASES = [
    # (name, row changes, presentation, timing changes, outcome, theft reason, writes)
    ("no row", None, presented(PARENT), {}, RefreshOutcome.UNAUTHORISED, None, False),
    ("expired", {"expires_at": NOW}, presented(PARENT), {}, RefreshOutcome.UNAUTHORISED, None,
     False),
    ("another user", {}, presented(PARENT, user_id="bob"), {}, RefreshOutcome.UNAUTHORISED, None,
     False),
    ("absolute lifetime over", {}, presented(PARENT), {"absolute_lifetime_ms": 5_000_000},
     RefreshOutcome.UNAUTHORISED, None, False),
    ("parent, first time", {}, presented(PARENT), {}, RefreshOutcome.PARENT, None, True),
    ("parent again in window, same client", {"child_issued_at": NOW - 5_000},
     presented(PARENT), {}, RefreshOutcome.PARENT, None, False),
    ("parent again in window, same network", {"child_issued_at": NOW - 5_000},
     presented(PARENT, HOME_OTHER_HOST), {}, RefreshOutcome.PARENT, None, False),
    ("parent again in window, elsewhere", {"child_issued_at": NOW - 5_000},
     presented(PARENT, ELSEWHERE), {}, RefreshOutcome.THEFT, TheftReason.OTHER_CLIENT, True),
    ("parent again after window", {"child_issued_at": NOW - WINDOW - 1},
     presented(PARENT, ELSEWHERE), {}, RefreshOutcome.PARENT, None, True),
    ("parent, no window", {"child_issued_at": NOW - 5_000}, presented(PARENT, ELSEWHERE),
     {"grace_window_ms": 0}, RefreshOutcome.PARENT, None, True),
    ("child: promote and refresh", {"child_issued_at": NOW - 5_000}, presented(CHILD), {},
     RefreshOutcome.CHILD, None, True),
    ("recent parent in window, same client", {}, presented(RECENT), {},
     RefreshOutcome.RECENT_PARENT, None, False),
    ("recent parent in window, elsewhere", {}, presented(RECENT, ELSEWHERE), {},
     RefreshOutcome.THEFT, TheftReason.OTHER_CLIENT, True),
    ("recent parent after window", {"parent_issued_at": NOW - WINDOW - 1}, presented(RECENT), {},
     RefreshOutcome.THEFT, TheftReason.REPLAYED_PARENT, True),
    ("older token", {}, presented(OLD), {}, RefreshOutcome.THEFT, TheftReason.OLD_TOKEN, True),
    ("bound, no proof", {"pop_thumbprint": "k1"}, presented(PARENT), {}, RefreshOutcome.THEFT,
     TheftReason.PROOF_MISSING, True),
    ("bound, bad proof", {"pop_thumbprint": "k1"}, presented(PARENT, proof_presented=True), {},
     RefreshOutcome.THEFT, TheftReason.PROOF_INVALID, True),
    ("bound, other key", {"pop_thumbprint": "k1"},
     presented(PARENT, proof_thumbprint="k2", proof_presented=True), {}, RefreshOutcome.THEFT,
     TheftReason.PROOF_INVALID, True),
    ("bound, right key", {"pop_thumbprint": "k1"},
     presented(PARENT, proof_thumbprint="k1", proof_presented=True), {}, RefreshOutcome.PARENT,
     None, True),
]  # fmt: skip


@pytest.mark.parametrize(
    ("row_changes", "token", "timing_changes", "outcome", "reason", "writes"),
    [case[1:] for case in REFRESH_CASES],
    ids=[case[0] for case in REFRESH_CASES],
)
def test_decide_refresh(row_changes, token, timing_changes, outcome, reason, writes):
    row = None if row_changes is None else replace(ROW, **row_changes)
    timing = replace(TIMING, **timing_changes)
    decision = decide_refresh(
        row,
        token,
        child_hash_2=children_of(token, row),
        timing=timing,
        binding="network_and_user_agent",
        revoke_on_theft=True,
    )
    assert decision.outcome is outcome
    assert decision.theft_reason is reason
    change = decision.change
    assert (change.new_hash_2 is not None or change.delete) is writes
    if outcome is RefreshOutcome.THEFT:
        assert change.delete  # revoke_session_on_theft
    if outcome is RefreshOutcome.PARENT and writes:  # a new anchor, and who holds its child
        assert decision.child_anchor == NOW == change.new_child_issued_at
        assert change.new_refreshed_client == token.client
        assert change.new_hash_2 == ROW.refresh_token_hash_2  # the parent stays the parent
    if outcome is RefreshOutcome.PARENT and not writes:  # the very same child again
        assert decision.child_anchor == row.child_issued_at
    if outcome is RefreshOutcome.CHILD:
        assert change.new_hash_2 == token.hash_2
        assert change.new_parent_issued_at == row.child_issued_at
        assert change.new_expires_at == NOW + TIMING.refresh_validity_ms
    if outcome is RefreshOutcome.RECENT_PARENT:
        assert decision.child_anchor == ROW.parent_issued_at


@pytest.mark.parametrize(
    ("binding", "client", "outcome"),
    [
        ("network_and_user_agent", ClientContext("203.0.113.10", "Chrome"), RefreshOutcome.THEFT),
        ("user_agent", ELSEWHERE, RefreshOutcome.PARENT),
        ("user_agent", ClientContext("203.0.113.10", "Chrome"), RefreshOutcome.THEFT),
        ("none", ClientContext("198.51.100.1", "curl"), RefreshOutcome.PARENT),
        ("network_and_user_agent", None, RefreshOutcome.THEFT),
    ],
)
def test_grace_binding_decides_who_is_the_same_client(binding, client, outcome):
    row = replace(ROW, child_issued_at=NOW - 5_000)
    token = presented(PARENT, client)
    decision = decide_refresh(
        row,
        token,
        child_hash_2=children_of(token, row),
        timing=TIMING,
        binding=binding,
        revoke_on_theft=True,
    )
    assert decision.outcome is outcome


def test_theft_without_revocation_changes_nothing():
    decision = decide_refresh(
        ROW,
        presented(OLD),
        child_hash_2=children_of(presented(OLD), ROW),
        timing=TIMING,
        binding="network_and_user_agent",
        revoke_on_theft=False,
    )
    assert decision.outcome is RefreshOutcome.THEFT
    assert not decision.change.delete and decision.change.new_hash_2 is None


PROMOTION_CASES = [
    ("no row", None, PromotionOutcome.UNAUTHORISED),
    ("row holds the parent", {}, PromotionOutcome.PROMOTE),
    ("row holds the child already", {"refresh_token_hash_2": H(H(CHILD))},
     PromotionOutcome.ALREADY_CURRENT),
    ("row moved on past it", {"refresh_token_hash_2": H(H("newer"))},
     PromotionOutcome.UNAUTHORISED),
    ("expired", {"expires_at": NOW - 1}, PromotionOutcome.UNAUTHORISED),
    ("another user's", {"user_id": "bob"}, PromotionOutcome.UNAUTHORISED),
]  # fmt: skip


@pytest.mark.parametrize(
    ("row_changes", "outcome"),
    [case[1:] for case in PROMOTION_CASES],
    ids=[case[0] for case in PROMOTION_CASES],
)
def test_decide_promotion(row_changes, outcome):
    row = None if row_changes is None else replace(ROW, child_issued_at=NOW - 1_000, **row_changes)
    decision = decide_promotion(
        row,
        token_user_id="alice",
        refresh_hash_1=H(CHILD),
        parent_refresh_hash_1=H(PARENT),
        timing=TIMING,
    )
    assert decision.outcome is outcome
    if outcome is PromotionOutcome.PROMOTE:
        assert decision.change.new_hash_2 == H(H(CHILD))
        assert decision.change.new_parent_issued_at == NOW - 1_000  # the child's anchor
        assert decision.change.new_child_issued_at is None


HOUR = 3_600_000
DAY = 24 * HOUR
START = NOW - NOW % DAY  # keys start at interval boundaries


def keys(*starts: int) -> list[KeyRow]:
    return [KeyRow(dynamic_key_name(start), "secret") for start in starts]


KEY_CASES = [
    # (name, key rows, now, key to create, next check)
    ("first start", [], START + HOUR, dynamic_key_name(START), START + HOUR),
    ("mid-interval", keys(START), START + HOUR, None, START + DAY - DAY // 10),
    ("last tenth: publish the successor", keys(START), START + DAY - HOUR,
     dynamic_key_name(START + DAY), START + DAY),
    ("successor published", keys(START, START + DAY), START + DAY - HOUR, None, START + DAY),
    ("interval over, nobody rotated", keys(START), START + DAY + HOUR,
     dynamic_key_name(START + DAY), START + DAY),
    ("a rotation by hand mid-interval", keys(START, START + 5 * HOUR), START + 6 * HOUR, None,
     START + 5 * HOUR + DAY - DAY // 10),
]  # fmt: skip


@pytest.mark.parametrize(
    ("rows", "now", "to_create", "next_check"),
    [case[1:] for case in KEY_CASES],
    ids=[case[0] for case in KEY_CASES],
)
def test_key_schedule(rows, now, to_create, next_check):
    assert key_to_create(rows, now_ms=now, interval_ms=DAY) == to_create
    assert next_key_check_ms(rows, now_ms=now, interval_ms=DAY) == next_check
