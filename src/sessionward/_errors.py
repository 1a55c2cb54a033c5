"""The exception family (docs/protocol.md#operations-and-errors): each class tells the caller
what to do next.

- ``GeneralError``: something is broken (database down, invalid config, a bug). Answer 500.
  ``ConfigError`` is one: a setting is invalid, so the library cannot work.
- ``InvalidArgumentError``: the caller's input is wrong (a user id, a body, a proof). Answer 400
  (413 for ``DataTooLargeError``) saying what; never a ``GeneralError``, so that
  ``except GeneralError`` catches only what is broken.
- ``UnauthorisedError``: the session is over. Clear the cookies; the user must log in again.
- ``TryRefreshTokenError``: the access token cannot be used. Keep the cookies and answer the
  session-expired status so that the frontend calls the refresh endpoint.
- ``TokenTheftDetectedError``: an already rotated refresh token came back. A kind of
  ``UnauthorisedError`` that names the session and user so the application can revoke them.
- ``ClaimValidationError``: the session is valid but a route's check on it failed (a role, a
  recent login). Answer 403 naming the check; refreshing would not help.

Every ``reason`` is a member of a ``str`` enum (:class:`AntiCsrfReason`, :class:`TheftReason`,
``sessionward._events.RevokeReason``): it equals, prints and serialises as its value
(``TheftReason.OLD_TOKEN == "old_token"``), so comparing with the strings keeps working.

Errors of the library's own machinery (a token that does not parse, a proof that fails, a key
row that cannot be used) derive from :class:`_InternalError`: they are caught inside the library
and turned into one of the family above, and are not a :class:`SessionError`.
"""

from __future__ import annotations

import enum


class SessionError(Exception):
    """Base class of every error sessionward raises on purpose."""


class GeneralError(SessionError):
    """The library cannot do its work: database unreachable, invalid config, a bug."""


class ConfigError(GeneralError, ValueError):
    """A setting has a value outside its allowed range; the message names the setting."""


class InvalidArgumentError(SessionError, ValueError):
    """A caller passed a value of the wrong type, shape or size (a non-string user id, a body
    that is not JSON, an invalid proof, a handle of another user's session).

    Web integrations answer it 400 with the message: it is the client's input that is wrong, and
    nothing is broken, so it is not a :class:`GeneralError`. A ``ValueError`` (as
    :class:`ConfigError` is): most of these inputs have the right type and a wrong value.
    """


class DataTooLargeError(InvalidArgumentError):
    """A value is over its documented size limit (session data, jwt payload). Answered 413."""


class UnauthorisedError(SessionError):
    """The session is certainly over (revoked, expired, invalid refresh token, missing cookies)."""


class _Reason(str, enum.Enum):
    """The base of every ``reason`` enum: a ``str`` (Python 3.10 has no ``enum.StrEnum``) whose
    members compare equal to, print as and serialise to their values, as strings did before."""

    def __str__(self) -> str:
        return str.__str__(self)

    def __format__(self, format_spec: str) -> str:
        return str.__format__(str.__str__(self), format_spec)


class AntiCsrfReason(_Reason):
    """Why the anti-CSRF check failed; the ``reason`` of a :class:`TryRefreshTokenError`."""

    MISSING = "anti_csrf_missing"  # the anti-csrf header was not sent
    MISMATCH = "anti_csrf_mismatch"  # it was sent with another value than the session's


ANTI_CSRF_MISSING = AntiCsrfReason.MISSING
ANTI_CSRF_MISMATCH = AntiCsrfReason.MISMATCH


class TheftReason(_Reason):
    """Why a refresh was judged theft; carried by the theft event and error."""

    REPLAYED_PARENT = "replayed_parent"  # the previous refresh token, after its successor's use
    OLD_TOKEN = "old_token"  # an older refresh token (or one whose generation is unknowable)
    OTHER_CLIENT = "other_client"  # a duplicate inside the grace window from another client
    PROOF_MISSING = "proof_missing"  # a session bound to a key, refreshed without a proof
    PROOF_INVALID = "proof_invalid"  # ... with a proof that is not valid for that key


class TryRefreshTokenError(SessionError):
    """The access token is expired or invalid, or the anti-CSRF check failed: refresh, retry.

    ``reason`` says which anti-CSRF failure it was (an :class:`AntiCsrfReason`), so that the
    web answer can tell a client whose real problem is the header; None for an expired, invalid
    or missing access token.
    """

    def __init__(self, message: str, *, reason: AntiCsrfReason | str | None = None) -> None:
        super().__init__(message)
        self.reason: AntiCsrfReason | None = None if reason is None else AntiCsrfReason(reason)


class TokenTheftDetectedError(UnauthorisedError):
    """A refresh token that was already rotated was presented again: somebody copied it."""

    def __init__(
        self,
        session_handle: str,
        user_id: str,
        reason: TheftReason | str = TheftReason.OLD_TOKEN,
    ) -> None:
        why = TheftReason(reason)
        super().__init__(f"refresh token theft detected for session {session_handle!r} ({why})")
        self.session_handle = session_handle
        self.user_id = user_id
        self.reason = why


class ClaimValidationError(SessionError):
    """A valid session failed a route's claim check (``claims=[has_role("admin")]``).

    Answered 403 with the check's name, never the session-expired status: a refresh would give
    the same claims, so a frontend must not retry but act (show "not allowed", ask to log in
    again for ``fresh_login``).
    """

    def __init__(self, claim: str, message: str) -> None:
        super().__init__(message)
        self.claim = claim


class _InternalError(Exception):
    """The base of the library's internal errors (an unparsable token, a failed proof, an
    unusable key row): raised and caught inside sessionward, which answers them with one of the
    public family. Not a :class:`SessionError`, and not part of the public API."""
