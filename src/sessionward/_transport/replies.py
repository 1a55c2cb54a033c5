"""The answer to an error of the family: its status and a small JSON body (cookie writes are
the caller's, :meth:`~sessionward._transport.writing.ResponseWriter.error_reply`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from http import HTTPStatus

from sessionward._errors import (
    ClaimValidationError,
    DataTooLargeError,
    GeneralError,
    InvalidArgumentError,
    TokenTheftDetectedError,
    TryRefreshTokenError,
    UnauthorisedError,
)
from sessionward._proof import TooManyProofsError
from sessionward._security_log import LOGGED

logger = logging.getLogger("sessionward")

SESSION_EXPIRED_PHRASE = "Session Expired"


@dataclass(frozen=True, slots=True)
class ErrorReply:
    """What to answer for an error: status and a small JSON body (never a token, never a trace).

    ``phrase`` is the status line's reason phrase when the status has no standard one (the
    default 440): servers that know no phrase write "Unknown Status Code" or "UNKNOWN" instead,
    which is what Django logs for every such answer.
    """

    status: int
    body: dict[str, str]
    phrase: str | None = None


def expired_phrase(session_expired_status: int) -> str | None:
    """The reason phrase for the session-expired status, if it has no standard one."""
    try:
        HTTPStatus(session_expired_status)
    except ValueError:
        return SESSION_EXPIRED_PHRASE
    return None


def reply_for(
    error: BaseException, session_expired_status: int, phrase: str | None = None
) -> ErrorReply:
    """The status and body for one of the error family (cookie writes are the caller's);
    ``phrase``: the reason phrase of the session-expired status, if it has no standard one."""
    expired = session_expired_status
    if isinstance(error, TokenTheftDetectedError):
        return ErrorReply(expired, {"message": "token theft detected"}, phrase)
    if isinstance(error, UnauthorisedError):
        return ErrorReply(expired, {"message": "unauthorised"}, phrase)
    if isinstance(error, TryRefreshTokenError):
        body = {"message": "try refresh token"}
        if error.reason is not None:
            # The status must stay the protocol's, but a client whose real problem is the
            # anti-CSRF header should not keep refreshing without knowing it.
            body["reason"] = error.reason
        return ErrorReply(expired, body, phrase)
    if isinstance(error, ClaimValidationError):
        # The session is fine, its claims are not: refreshing would not help.
        return ErrorReply(403, {"message": str(error), "claim": error.claim})
    if isinstance(error, InvalidArgumentError):
        # The client's input is wrong (a user id, a body, a proof): say what, keep the session.
        status = 413 if isinstance(error, DataTooLargeError) else 400
        return ErrorReply(status, {"message": str(error)})
    if isinstance(error, TooManyProofsError):
        # Nothing is wrong with the session or the server: this process is flooded with proofs
        # and refuses one more rather than forget an id (docs/security.md). Retry shortly.
        logger.warning("sessionward: %s", error)
        return ErrorReply(503, {"message": str(error)})
    if not getattr(error, LOGGED, False):  # the security log has it already (a refresh)
        kind = type(error).__name__ if isinstance(error, GeneralError) else "unexpected"
        logger.error("sessionward %s: %s", kind, error, exc_info=error)
    return ErrorReply(500, {"message": "internal server error"})


__all__ = ["SESSION_EXPIRED_PHRASE", "ErrorReply", "expired_phrase", "reply_for"]
