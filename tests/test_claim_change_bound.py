"""A claim removed mid-session (``merge_into_jwt_payload_for_user``) is gone from every access
token within one access-token validity plus leeway of the change (docs/security.md, claims
changed mid-session), on every backend, whatever path re-signs a token meanwhile: the
confirmation of a child's access token (``prt``), and a duplicate refresh inside the grace
window that is served the child the first refresh got."""

from __future__ import annotations

from typing import Any

import jwt
import pytest

from sessionward import TryRefreshTokenError, UnauthorisedError
from tests.conftest import FakeClock

VALIDITY_S = 10
LEEWAY_S = 5


def claims_of(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


def admin_until(manager: Any, token: str, csrf: str | None, clock: FakeClock) -> float:
    """The last clock time (1 s steps) at which ``token`` (and each replacement the manager
    hands back for it) still says ``role: admin`` to ``get_session``."""
    last = clock.now
    for _ in range(10 * VALIDITY_S):
        try:
            verified = manager.get_session(token, csrf)
        except (TryRefreshTokenError, UnauthorisedError):
            return last
        if verified.session.jwt_payload.get("role") != "admin":
            return last
        last = clock.now
        if verified.new_access_token is not None:
            token = verified.new_access_token.value
        clock.advance(1)
    raise AssertionError("the token never expired")


def test_a_confirmed_child_token_keeps_a_removed_role_no_longer_than_one_validity(
    make_manager: Any, clock: FakeClock
) -> None:
    """The issue's steps: admin granted, one refresh, the child's access token kept unused, the
    role removed from every session, the kept token presented just before it expires. Its
    confirmation used to re-sign the old payload with a fresh validity (admin for 2 V after
    the change); the replacement now keeps the presented token's expiry."""
    manager = make_manager(
        access_token_validity=VALIDITY_S,
        access_token_leeway=LEEWAY_S,
        allow_short_access_tokens=True,
    )
    tokens = manager.create_new_session("alice", {"role": "user"})
    manager.merge_into_jwt_payload_for_user("alice", {"role": "admin"})
    clock.advance(1)
    child = manager.refresh_session(tokens.refresh_token.value)
    kept = child.access_token.value
    assert "prt" in claims_of(kept) and claims_of(kept)["pld"] == {"role": "admin"}

    clock.advance(1)
    removed_at = clock.now
    assert manager.merge_into_jwt_payload_for_user("alice", {"role": None}) == 1

    # Just before the kept token's acceptance ends (its expiry plus the leeway).
    clock.now = claims_of(kept)["exp"] + LEEWAY_S - 0.5
    confirmed = manager.get_session(kept, child.anti_csrf_token)
    assert confirmed.new_access_token is not None  # confirmed: a replacement without prt
    replacement = confirmed.new_access_token.value
    assert "prt" not in claims_of(replacement)
    assert claims_of(replacement)["exp"] <= claims_of(kept)["exp"]
    last_admin = admin_until(manager, replacement, child.anti_csrf_token, clock)
    assert last_admin <= removed_at + VALIDITY_S + LEEWAY_S, (
        f"admin {last_admin - removed_at:.1f} s after its removal (bound {VALIDITY_S + LEEWAY_S} s)"
    )

    # The confirmed refresh token goes on, and its refresh carries the removal.
    refreshed = manager.refresh_session(child.refresh_token.value)
    assert refreshed.session.jwt_payload == {}


def test_a_duplicate_refresh_after_a_removal_keeps_its_claim_no_longer_than_one_validity(
    make_manager: Any, clock: FakeClock
) -> None:
    """A duplicate refresh inside the grace window is served the child the first refresh got,
    old payload included (so that both tabs hold one token). Its access token must then expire
    when the first one's did, not one validity after the duplicate."""
    manager = make_manager(
        access_token_validity=VALIDITY_S,
        access_token_leeway=LEEWAY_S,
        allow_short_access_tokens=True,
        refresh_grace_window=30,
    )
    tokens = manager.create_new_session("alice", {"role": "admin"})
    clock.advance(1)
    first = manager.refresh_session(tokens.refresh_token.value)
    clock.advance(1)
    removed_at = clock.now
    manager.merge_into_jwt_payload_for_user("alice", {"role": None})
    clock.advance(VALIDITY_S - 3)
    duplicate = manager.refresh_session(tokens.refresh_token.value)  # a racing tab
    assert duplicate.refresh_token.value == first.refresh_token.value
    assert duplicate.session.jwt_payload == {"role": "admin"}  # the first one's child
    assert duplicate.access_token.expires <= first.access_token.expires
    last_admin = admin_until(
        manager, duplicate.access_token.value, duplicate.anti_csrf_token, clock
    )
    assert last_admin <= removed_at + VALIDITY_S + LEEWAY_S

    # The child's own refresh carries the removal.
    assert manager.refresh_session(first.refresh_token.value).session.jwt_payload == {}


@pytest.mark.parametrize("late_s", [0, 6])
def test_the_confirmation_keeps_the_expiry_without_any_change_too(
    make_manager: Any, clock: FakeClock, late_s: int
) -> None:
    """Confirmed at once (the common case) the replacement lives as long as before; confirmed
    late it lives only as long as the token it replaces, and the client refreshes sooner."""
    manager = make_manager(access_token_validity=VALIDITY_S, allow_short_access_tokens=True)
    tokens = manager.create_new_session("alice", {"role": "user"})
    clock.advance(1)
    child = manager.refresh_session(tokens.refresh_token.value)
    clock.advance(late_s)
    confirmed = manager.get_session(child.access_token.value, child.anti_csrf_token)
    assert confirmed.new_access_token is not None
    assert confirmed.new_access_token.expires == child.access_token.expires
