"""Claim checks on protected routes: ``verify_session(claims=[has_role("admin")])``.

A check looks at a verified session (its jwt payload, when the user last logged in or
re-authenticated) and either passes or raises :class:`~sessionward._errors.ClaimValidationError`
naming itself, which the integrations answer 403. It never answers the session-expired status:
a refresh would carry the same claims, and a frontend would refresh in a loop.

Checks read only what the access token says, so they cost no database call. A payload changed
with ``merge_into_jwt_payload`` reaches the caller's own token at once, other sessions of the
user at their next refresh (at most one access-token validity later).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sessionward._errors import ClaimValidationError, InvalidArgumentError
from sessionward._models import JSON, Session
from sessionward._validation import check_tenant_id

_ANY = object()


@dataclass(frozen=True, slots=True)
class Claim:
    """A named check on a session; ``test(session, now_ms)`` is True when it passes."""

    name: str
    test: Callable[[Session, int], bool]
    failure: str  # what the 403 answer says, e.g. "the role 'admin' is required"

    def validate(self, session: Session, now_ms: int) -> None:
        """Raise :class:`ClaimValidationError` unless the session passes."""
        if not self.test(session, now_ms):
            raise ClaimValidationError(self.name, self.failure)


def validate_claims(session: Session, claims: Iterable[Claim], now_ms: int) -> None:
    """Check ``claims`` in order; the first that fails raises."""
    for claim in claims:
        claim.validate(session, now_ms)


def _payload_value(session: Session, key: str) -> object:
    payload = session.jwt_payload
    return payload.get(key, _ANY) if isinstance(payload, dict) else _ANY


def has_role(role: str, *, key: str = "role") -> Claim:
    """The payload's ``key`` is ``role``, or a list that contains it (``{"roles": [...]}`` with
    ``key="roles"``)."""
    if type(role) is not str or type(key) is not str:
        raise InvalidArgumentError("has_role takes a role name and a payload key, as strings")

    def test(session: Session, now_ms: int) -> bool:
        value = _payload_value(session, key)
        return value == role or (isinstance(value, list) and role in value)

    return Claim("has_role", test, f"the role {role!r} is required")


def payload_has(key: str, value: JSON | object = _ANY) -> Claim:
    """The payload has ``key`` (equal to ``value``, if given): e.g.
    ``payload_has("email_verified", True)``."""
    if type(key) is not str:
        raise InvalidArgumentError("payload_has takes a payload key as a string")

    def test(session: Session, now_ms: int) -> bool:
        found = _payload_value(session, key)
        return found is not _ANY and (value is _ANY or found == value)

    wanted = f"{key!r}" if value is _ANY else f"{key!r} = {value!r}"
    return Claim("payload_has", test, f"the session's payload must have {wanted}")


def fresh_login(max_age: int) -> Claim:
    """The user logged in, or re-authenticated (``mark_fresh``), at most ``max_age`` seconds ago:
    step-up authentication before a sensitive action."""
    if type(max_age) is not int or max_age <= 0:
        raise InvalidArgumentError("fresh_login takes max_age as a positive number of seconds")

    def test(session: Session, now_ms: int) -> bool:
        since = session.authenticated_at
        return since is not None and now_ms - since <= max_age * 1000

    return Claim("fresh_login", test, f"a login within the last {max_age} s is required")


def in_tenant(tenant_id: str) -> Claim:
    """The session belongs to ``tenant_id``: a token of another tenant answers 403 (on a route
    of tenant B, a session of tenant A is valid, just not here). The integrations build it from
    the route too: ``verify_session(tenant_param="tenant")`` on ``/t/{tenant}/...``."""
    tenant_id = check_tenant_id(tenant_id)

    def test(session: Session, now_ms: int) -> bool:
        return session.tenant_id == tenant_id

    return Claim("in_tenant", test, f"a session of the tenant {tenant_id!r} is required")


def not_impersonated() -> Claim:
    """The user acts in person: an impersonation session (support staff acting as the user,
    ``Session.actor`` set) answers 403. For routes such as changing the password."""

    def test(session: Session, now_ms: int) -> bool:
        return session.actor is None

    return Claim("not_impersonated", test, "this action is not allowed while impersonating")


__all__ = [
    "Claim",
    "fresh_login",
    "has_role",
    "in_tenant",
    "not_impersonated",
    "payload_has",
    "validate_claims",
]
