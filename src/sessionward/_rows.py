"""The stored rows as the layers pass them around: internal, never handed to an application
(the public value types are in :mod:`sessionward._models`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from sessionward._models import DEFAULT_TENANT

__all__ = ["KeyRow", "SessionRow"]


@dataclass(frozen=True, slots=True)
class SessionRow:
    """The stored state of one session, as read for a refresh or a promotion decision."""

    handle: str
    user_id: str
    refresh_token_hash_2: str
    expires_at: int
    jwt_payload_json: str | None
    created_at: int | None = None
    parent_issued_at: int | None = None  # the anchor the current parent was derived with
    child_issued_at: int | None = None  # when the current parent's child was first issued
    # The client that presented the current parent first (and so holds its newest child), and
    # when: the grace window serves that child again only to the same client.
    refreshed_at: int | None = None
    refreshed_ip: str | None = None
    refreshed_user_agent: str | None = None
    # RFC 7638 thumbprint of the key the session is bound to (proof of possession), or None.
    pop_thumbprint: str | None = None
    payload_version: int | None = None  # which version of the jwt payload the row holds
    authenticated_at: int | None = None  # the latest mark_fresh (None: the login itself)
    tenant_id: str = DEFAULT_TENANT
    actor_id: str | None = None  # who acts as the user (impersonation)


class KeyRow(NamedTuple):
    """One row of the key table: a signing key, or the refresh-token key."""

    name: str
    value: str  # an HMAC secret, the refresh-token key, or an asymmetric key's algorithm
    material: str | None = None  # the PEM private key of an asymmetric key
    created_at_ms: int = 0
    # How long after it stops signing the key must still verify (the longest access-token
    # validity plus leeway of the processes that sign with it); None: written by an older version.
    verify_window_ms: int | None = None
